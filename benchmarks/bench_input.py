"""Input pipeline throughput (training/dataset.py) at 32x32 and 64x64, raw and PNG, 1 and 4 shards.

    python benchmarks/bench_input.py [--batch 32] [--seconds 3] [--train-img-s 5]

Data: Fashion-MNIST padded to 32x32 (greyscale, 10,000 images) and twemoji composited on white at
64x64 (RGB, 3,786 images), both from ../shared/data, written with dataset_tool into a temporary
folder. Each variant is timed as a training loop would consume it (shuffle, mirror, repeat; uint8
batches pulled to numpy) after a warm-up that fills the shuffle buffer. --train-img-s is what
training consumes (CPU demo: a few img/s).
"""

import os
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"


def define_flags():
    flags.DEFINE_integer("batch", 32, "Batch size per step.")
    flags.DEFINE_float("seconds", 3.0, "Timed seconds per variant.")
    flags.DEFINE_float(
        "train-img-s", 5.0, "Images/s a training step consumes on this machine (for the ratio)."
    )
    flags.DEFINE_integer("fashion-images", 10000, "Fashion-MNIST images to use.")


def build(tmp):
    from dataset_tool import create

    quiet = {"log": lambda *a: None}
    z = np.load(SHARED / "twemoji_64_rgba.npz")
    np.savez(tmp / "emoji.npz", images=z["images"])
    sets = {}
    for enc, shards in (("raw", 1), ("png", 4)):
        name = f"fashion32_{enc}_{shards}"
        create.create_fashion_mnist(
            tmp / name,
            SHARED / "fashion-mnist",
            max_images=FLAGS["fashion-images"].value,
            encoding=enc,
            shards=shards,
            **quiet,
        )
        sets[name] = (32, 1, enc, shards)
        name = f"emoji64_{enc}_{shards}"
        create.create_from_npz(tmp / name, tmp / "emoji.npz", encoding=enc, shards=shards, **quiet)
        sets[name] = (64, 3, enc, shards)
    return sets


def measure(data_dir, batch, seconds):
    from training.dataset import make_dataset

    ds = make_dataset(data_dir, batch, shuffle=True, mirror=True, seed=0)
    it = iter(ds)
    start = time.time()
    next(it)
    first = time.time() - start
    for _ in range(20):
        next(it)
    n, start = 0, time.time()
    while time.time() - start < seconds:
        images, labels = next(it)
        images.numpy()
        n += batch
    return n / (time.time() - start), first


def main(argv):
    del argv
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        sets = build(tmp)
        import tensorflow as tf  # noqa: F401

        load = "/".join(f"{x:.1f}" for x in os.getloadavg())
        print(
            f"{os.cpu_count()} cores, load average {load}; batch {FLAGS.batch}; training consumes "
            f"~{FLAGS['train-img-s'].value:g} img/s\n"
        )
        print(
            "| data | encoding | shards | images/s | first batch s | x training |\n"
            "| --- | --- | --: | --: | --: | --: |"
        )
        for name, (res, ch, enc, shards) in sets.items():
            rate, first = measure(tmp / name, FLAGS.batch, FLAGS.seconds)
            print(
                f"| {res}x{res}x{ch} | {enc} | {shards} | {rate:.0f} | {first:.2f} | "
                f"{rate / FLAGS['train-img-s'].value:.0f}x |"
            )
        print(f"\nload average after: {'/'.join(f'{x:.1f}' for x in os.getloadavg())}")


def run():
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
