"""Limited data: noaug vs --aug ada on 1,000 Fashion-MNIST images, the same CPU budget for both.

    python benchmarks/ada_limited_data.py --workdir /tmp/ada --minutes 30 [--images 1000]
    python benchmarks/ada_limited_data.py --workdir /tmp/ada --more-minutes 60 --every 2

(The second form continues both runs of the first, exactly, for 60 more minutes and evaluates
every other snapshot; fid2k values already in a run's fid_full/metric-fid2k.jsonl are reused.)

1. dataset_tool: the full Fashion-MNIST training set (60,000, 32x32) and a random subset of
   --images of it (dataset_tool --max-images, shuffled with seed 123);
2. training/run.py --config demo on the subset, --aug noaug and --aug ada, both at once (each
   gets about one of the two cores) for --minutes, a snapshot every --snap ticks;
3. metrics/run.py fid2k of every snapshot against the *full* set;
4. prints a Markdown table (kimg, FID of each run, ADA's p and r_t, the r_t of noaug) and writes
   ada_limited_data.png (FID and p / r_t against kimg) into --workdir.
"""

import glob
import json
import os
import pathlib
import re
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", "/tmp/ada_limited", "Where datasets, runs and the plot go.")
flags.DEFINE_float("minutes", 30.0, "Training minutes of each run (both run at once).")
flags.DEFINE_integer("images", 1000, "Size of the training subset.")
flags.DEFINE_integer("snap", 16, "Ticks (of 0.5 kimg) between snapshots.")
flags.DEFINE_string("source", str(REPO.parent / "shared" / "data" / "fashion-mnist"), "IDX files.")
flags.DEFINE_string("weights", str(REPO.parent / "shared" / "weights"), "Metric weights folder.")
flags.DEFINE_boolean("skip-train", False, "Only evaluate existing runs.")
flags.DEFINE_float("more-minutes", 0.0, "Continue both existing runs (--resume) this long.")
flags.DEFINE_integer("every", 1, "Evaluate every this many snapshots (and always the last).")


def _run(cmd, **kw):
    print("+", " ".join(map(str, cmd)), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, cwd=REPO, **kw)


def _datasets(work):
    full, subset = work / "fashion_full", work / f"fashion_{FLAGS.images}"
    tool = [sys.executable, "dataset_tool.py", "create_fashion_mnist"]
    if not full.exists():
        _run(tool + [full, "--source", FLAGS.source])
    if not subset.exists():
        _run(tool + [subset, "--source", FLAGS.source, "--max-images", FLAGS.images])
    return full, subset


def _train(work, subset):
    procs = {}
    for aug in ("noaug", "ada"):
        if FLAGS["more-minutes"].value:
            (run_dir,) = glob.glob(str(work / f"runs_{aug}" / "0*"))
            cmd = [sys.executable, "training/run.py", "--resume", run_dir,
                   "--max-minutes", FLAGS["more-minutes"].value]  # fmt: skip
        else:
            cmd = [sys.executable, "training/run.py", "--data", subset, "--config", "demo",
                   "--outdir", work / f"runs_{aug}", "--aug", aug, "--max-minutes", FLAGS.minutes,
                   "--snap", FLAGS.snap, "--total-kimg", 100000]  # fmt: skip
        print("+", " ".join(map(str, cmd)), flush=True)
        log = open(work / f"train_{aug}.out", "a")
        procs[aug] = subprocess.Popen([str(c) for c in cmd], cwd=REPO, stdout=log, stderr=log)
    for aug, proc in procs.items():
        if proc.wait() != 0:
            raise SystemExit(f"training with --aug {aug} failed: see {work}/train_{aug}.out")


def _measured(run_dir):
    """{snapshot file name: fid2k} already in the run's fid_full/metric-fid2k.jsonl."""
    path = os.path.join(run_dir, "fid_full", "metric-fid2k.jsonl")
    if not os.path.exists(path):
        return {}
    rows = [json.loads(line) for line in open(path) if line.strip()]
    return {os.path.basename(r["snapshot_pkl"]): r["results"]["fid2k"] for r in rows}


def _fid(snapshot, full, env):
    out = subprocess.run(
        [sys.executable, "metrics/run.py", "--network", snapshot, "--data", full, "--metrics",
         "fid2k", "--weights-dir", FLAGS.weights, "--noverbose", "--seed", "0",
         "--run-dir", os.path.dirname(snapshot) + "/fid_full"],  # fmt: skip
        cwd=REPO, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(re.search(r"fid2k\s+([0-9.]+)", out.stdout).group(1))


def _ticks(run_dir):
    """[(kimg, augment p or None, rt)] from log.txt; noaug's r_t from the TensorBoard events."""
    rows = []
    for line in open(os.path.join(run_dir, "log.txt")):
        m = re.match(r"tick\s+\d+\s+kimg\s+([0-9.]+)", line)
        if m:
            p = re.search(r" augment ([0-9.]+)", line)
            rt = re.search(r" rt (-?[0-9.]+)", line)
            rows.append([float(m.group(1)), p and float(p.group(1)), rt and float(rt.group(1))])
    if rows and rows[0][2] is None:  # noaug prints no rt: read Loss/signs/real from the events
        import tensorflow as tf

        signs = {}
        for events in glob.glob(os.path.join(run_dir, "events.out.tfevents.*")):
            for record in tf.data.TFRecordDataset(events):
                event = tf.compat.v1.Event.FromString(record.numpy())
                for v in event.summary.value:
                    if v.tag == "Loss/signs/real":
                        signs[event.step / 1000] = float(tf.make_ndarray(v.tensor))
        for row in rows:
            row[2] = signs.get(row[0])
    return rows


def _plot(path, series):
    """Two panels drawn with Pillow: FID vs kimg; p (ADA) and r_t (both) vs kimg."""
    from PIL import Image, ImageDraw

    w, h, pad = 900, 360, 50
    img = Image.new("RGB", (w, 2 * h), "white")
    draw = ImageDraw.Draw(img)
    colours = {"noaug": (200, 40, 40), "ada": (30, 90, 200)}
    max_kimg = max(k for s in series.values() for k, *_ in s["ticks"]) or 1

    def panel(top, title, curves, y_min, y_max):
        draw.rectangle([pad, top + pad, w - pad, top + h - pad], outline="black")
        draw.text((pad, top + 10), title, fill="black")
        for label, colour, points in curves:
            xy = [(pad + (w - 2 * pad) * k / max_kimg,
                   top + h - pad - (h - 2 * pad) * (v - y_min) / max(y_max - y_min, 1e-9))
                  for k, v in points if v is not None]  # fmt: skip
            if len(xy) > 1:
                draw.line(xy, fill=colour, width=2)
            if xy:
                draw.text((xy[-1][0] - 60, xy[-1][1] - 14), label, fill=colour)
        draw.text((pad, top + h - pad + 5), "0 kimg", fill="black")
        draw.text((w - pad - 60, top + h - pad + 5), f"{max_kimg:.0f} kimg", fill="black")
        draw.text((5, top + pad), f"{y_max:.3g}", fill="black")
        draw.text((5, top + h - pad - 10), f"{y_min:.3g}", fill="black")

    fids = [v for s in series.values() for _, v in s["fid"]]
    fid_curves = [(aug, colours[aug], s["fid"]) for aug, s in series.items()]
    panel(0, "fid2k against the full 60k set", fid_curves, 0, max(fids) * 1.05)
    curves = [(f"rt {aug}", colours[aug], [(k, rt) for k, _, rt in s["ticks"]])
              for aug, s in series.items()]  # fmt: skip
    curves.append(("p (ada)", (0, 150, 0), [(k, p) for k, p, _ in series["ada"]["ticks"]]))
    panel(h, "r_t = E[sign D(real)] per tick, and ADA's p", curves, -1, 1)
    img.save(path)


def main(_):
    work = pathlib.Path(FLAGS.workdir)
    work.mkdir(parents=True, exist_ok=True)
    full, subset = _datasets(work)
    if not FLAGS["skip-train"].value:
        _train(work, subset)
    env = dict(os.environ, TF_STYLEGAN2_CACHE=str(work / "cache"))
    series = {}
    for aug in ("noaug", "ada"):
        (run_dir,) = glob.glob(str(work / f"runs_{aug}" / "0*"))
        snaps = sorted(glob.glob(os.path.join(run_dir, "network-snapshot-*.keras")))
        snaps = snaps[:: FLAGS.every] + ([snaps[-1]] if (len(snaps) - 1) % FLAGS.every else [])
        known = _measured(run_dir)
        fid = [(int(s[-12:-6]), known.get(os.path.basename(s)) or _fid(s, full, env))
               for s in snaps]  # fmt: skip
        series[aug] = dict(fid=fid, ticks=_ticks(run_dir))
        print(aug, json.dumps(series[aug]["fid"]), flush=True)
    print("\n| kimg | fid2k noaug | fid2k ada | p (ada) | r_t (ada) | r_t (noaug) |")
    print("| --: | --: | --: | --: | --: | --: |")
    by_kimg = {aug: dict(s["fid"]) for aug, s in series.items()}
    ticks = {aug: {round(k): (p, rt) for k, p, rt in s["ticks"]} for aug, s in series.items()}
    for kimg in sorted(set(by_kimg["noaug"]) | set(by_kimg["ada"])):
        cells = [by_kimg[a].get(kimg) for a in ("noaug", "ada")]
        p, rt_ada = ticks["ada"].get(kimg, (None, None))
        rt_noaug = ticks["noaug"].get(kimg, (None, None))[1]
        fmt = [f"{v:.1f}" if v is not None else "" for v in cells]
        extra = [f"{v:.3f}" if v is not None else "" for v in (p, rt_ada, rt_noaug)]
        print(f"| {kimg} | " + " | ".join(fmt + extra) + " |")
    _plot(work / "ada_limited_data.png", series)
    print(f"\nplot: {work / 'ada_limited_data.png'}")


if __name__ == "__main__":
    app.run(main)
