"""create_from_images speed (ours, --workers 1 and N) against a single-process loop doing what
NVIDIA's tool does,
in the same run on the same PNG folder; optional peak-RSS run (--rss-images 20000).

    python benchmarks/bench_dataset_tool.py --num-images 4000 --resolution 64 --workers 2
    [--rss-images 20000]

Images: twemoji from ../shared/data composited on white (RGB), cycled with flips and 90-degree turns
so they are all different, resized to --resolution. The official-style loop runs in this process
with TensorFlow already imported (so its time excludes the import); ours runs as `python
dataset_tool.py ...` subprocesses, timed end to end (start-up, imports, worker spawn included). Both
outputs are compared byte for byte.
"""

import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def define_flags():
    flags.DEFINE_integer("num-images", 4000, "Images in the speed test.")
    flags.DEFINE_integer("resolution", 64, "Image size.")
    flags.DEFINE_integer("workers", os.cpu_count() or 2, "Workers for the parallel run.")
    flags.DEFINE_integer("repeats", 2, "Timed repeats per variant (best is reported).")
    flags.DEFINE_integer(
        "rss-images", 0, "If > 0, also measure peak RSS on this many images (e.g. 20000)."
    )
    flags.DEFINE_string(
        "tmp", None, "Scratch folder (default: a temporary folder, removed at the end)."
    )


def write_images(folder, count, resolution):
    """count distinct RGB PNGs from twemoji (flips/rotations of 3786 emoji, then a brightness
    step)."""
    import PIL.Image

    z = np.load(SHARED / "twemoji_64_rgba.npz")
    rgba = z["images"]
    alpha = rgba[..., 3:].astype(np.float32) / 255
    rgb = np.rint(rgba[..., :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        img = rgb[i % len(rgb)]
        variant = i // len(rgb)
        img = np.rot90(img, variant % 4)
        if variant // 4 % 2:
            img = img[:, ::-1]
        img = np.clip(img.astype(np.int16) - variant // 8, 0, 255).astype(np.uint8)
        pil = PIL.Image.fromarray(np.ascontiguousarray(img))
        if resolution != 64:
            pil = pil.resize((resolution, resolution), PIL.Image.BOX)
        pil.save(folder / f"img{i:06d}.png", compress_level=1)


def official_style(tfr_dir, image_dir):
    """NVIDIA's create_from_images + TFRecordExporter.add_image, single process (TensorFlow already
    imported)."""
    import glob

    import PIL.Image
    import tensorflow as tf

    files = sorted(glob.glob(os.path.join(image_dir, "*")))
    order = np.arange(len(files))
    np.random.RandomState(123).shuffle(order)
    tfr_dir.mkdir(parents=True)
    prefix = str(tfr_dir / tfr_dir.name)
    start, cpu = time.time(), time.process_time()
    writers = None
    for idx in order:
        img = np.asarray(PIL.Image.open(files[idx]))
        img = img[np.newaxis] if img.ndim == 2 else img.transpose([2, 0, 1])
        if writers is None:
            res_log2 = int(np.log2(img.shape[1]))
            writers = [
                tf.io.TFRecordWriter(f"{prefix}-r{res_log2 - lod:02d}.tfrecords")
                for lod in range(res_log2 - 1)
            ]
        for lod, w in enumerate(writers):
            if lod:
                img = img.astype(np.float32)
                img = (
                    img[:, 0::2, 0::2]
                    + img[:, 0::2, 1::2]
                    + img[:, 1::2, 0::2]
                    + img[:, 1::2, 1::2]
                ) * 0.25
            quant = np.rint(img).clip(0, 255).astype(np.uint8)
            ex = tf.train.Example(
                features=tf.train.Features(
                    feature={
                        "shape": tf.train.Feature(int64_list=tf.train.Int64List(value=quant.shape)),
                        "data": tf.train.Feature(
                            bytes_list=tf.train.BytesList(value=[quant.tobytes()])
                        ),
                    }
                )
            )
            w.write(ex.SerializeToString())
    for w in writers:
        w.close()
    return time.time() - start, time.process_time() - cpu


def _children_cpu():
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def ours(tfr_dir, image_dir, workers, *extra):
    """(wall seconds, CPU seconds of the tool and its workers, (peak RSS MB main, largest
    worker))."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    start, cpu = time.time(), _children_cpu()
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "dataset_tool.py"),
            "create_from_images",
            str(tfr_dir),
            str(image_dir),
            "--workers",
            str(workers),
            *extra,
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    seconds, cpu = time.time() - start, _children_cpu() - cpu
    if proc.returncode:
        raise SystemExit(proc.stderr)
    m = re.search(r"peak RSS (\d+) MB main, (\d+) MB largest worker", proc.stdout)
    return seconds, cpu, (int(m.group(1)), int(m.group(2))) if m else None


def same_records(a, b):
    """Same records, file by file (compared as parsed Examples: NVIDIA's plain SerializeToString()
    picks the
    feature-map order per process, see dataset_tool/records.py), same number of records."""
    from dataset_tool import records

    names = sorted(p.name for p in a.glob("*.tfrecords"))
    for n in names:
        ra = list(records.iter_records(a / n))
        rb = list(records.iter_records(b / n.replace(a.name, b.name, 1)))
        if len(ra) != len(rb) or any(
            records.parse_example(x) != records.parse_example(y) for x, y in zip(ra, rb)
        ):
            return False
    return bool(names)


def main(argv):
    del argv
    n, res, workers = FLAGS["num-images"].value, FLAGS.resolution, FLAGS.workers
    with tempfile.TemporaryDirectory(dir=FLAGS.tmp) as tmp:
        tmp = pathlib.Path(tmp)
        if n:
            speed(tmp, n, res, workers)
        if FLAGS["rss-images"].value:
            rss(tmp, FLAGS["rss-images"].value, res, workers)


def speed(tmp, n, res, workers):
    write_images(tmp / "images", n, res)
    print(
        f"{n} PNG images {res}x{res} RGB; {os.cpu_count()} cores; load average before "
        f"{'/'.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    import tensorflow  # noqa: F401 - imported before timing the official-style loop

    official = "official-style loop (1 process, TF import excluded)"
    best = {}
    for r in range(FLAGS.repeats):
        best[official] = min(
            best.get(official, (1e9, 0)), official_style(tmp / f"off{r}", tmp / "images")
        )
        for w in sorted({1, workers}):
            t, cpu, _ = ours(tmp / f"ours{w}_{r}", tmp / "images", w)
            key = f"dataset_tool.py --workers {w} (end to end)"
            best[key] = min(best.get(key, (1e9, 0)), (t, cpu))
    identical = all(same_records(tmp / f"ours{w}_0", tmp / "off0") for w in {1, workers})
    load = "/".join(f"{x:.1f}" for x in os.getloadavg())
    base = best[official][0]
    print(
        "\n| variant | wall s | images/s | speed-up vs official-style | CPU s (all processes) |\n"
        "| --- | --: | --: | --: | --: |"
    )
    for key, (t, cpu) in best.items():
        print(f"| {key} | {t:.2f} | {n / t:.0f} | {base / t:.2f}x | {cpu:.2f} |")
    print(f"\nSame records as the official-style loop: {identical}. Load average after: {load}")


def rss(tmp, m, res, workers):
    """Peak RSS of the tool (main: VmHWM; workers: ru_maxrss) for 2000 and m images: it must not
    grow."""
    import shutil

    print(f"\nPeak RSS (create_from_images, {res}x{res} RGB, --workers {workers}):")
    print(
        "| images | seconds | peak RSS main | peak RSS largest worker |\n| --: | --: | --: | --: |"
    )
    for count in sorted({min(2000, m), m}):
        folder = tmp / f"rss{count}"
        write_images(folder, count, res)
        t, _, rss_mb = ours(tmp / f"rss_out{count}", folder, workers)
        print(f"| {count} | {t:.1f} | {rss_mb[0]} MB | {rss_mb[1]} MB |")
        shutil.rmtree(folder)
        shutil.rmtree(tmp / f"rss_out{count}")


def run():
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
