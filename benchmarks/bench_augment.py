"""Cost of ADA's augmentation pipeline alone, per image, forward and forward + backward.

    python benchmarks/bench_augment.py [--pipes bgc,bgcf] [--sizes 32,256] [--batch 8]

Each setting: AugmentPipe(**AUGPIPE_SPECS[pipe]) with p = 0.5 inside one tf.function, random
mode (a fresh seed per call), float32 RGB images; the gradient with respect to the images is what
G's loss and R1 need. One warm-up call traces; the best of --repeats blocks of --calls calls.
"""

import os
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("pipes", "bgc", "Comma-separated AUGPIPE_SPECS names.")
flags.DEFINE_string("sizes", "32,256", "Comma-separated image sizes.")
flags.DEFINE_integer("batch", 8, "Images per call.")
flags.DEFINE_integer("calls", 10, "Calls per measured block.")
flags.DEFINE_integer("repeats", 3, "Measured blocks (best is reported).")


def measure(pipe_name, size):
    import tensorflow as tf

    from training.augment import AUGPIPE_SPECS, AugmentPipe

    pipe = AugmentPipe(**AUGPIPE_SPECS[pipe_name])
    pipe.p.assign(0.5)
    x = tf.constant(
        np.random.RandomState(0).uniform(-1, 1, [FLAGS.batch, size, size, 3]), tf.float32
    )

    @tf.function
    def forward(images, seed):
        return pipe(images, seed=seed)

    @tf.function
    def backward(images, seed):
        with tf.GradientTape() as tape:
            tape.watch(images)
            y = tf.reduce_sum(pipe(images, seed=seed))
        return tape.gradient(y, images)

    out = {}
    for name, fn in (("forward", forward), ("forward+backward", backward)):
        fn(x, tf.constant([0, 0]))  # trace
        best = None
        for r in range(FLAGS.repeats):
            t0 = time.time()
            for i in range(FLAGS.calls):
                fn(x, tf.constant([r, i])).numpy()
            dt = time.time() - t0
            best = dt if best is None else min(best, dt)
        out[name] = best / (FLAGS.calls * FLAGS.batch) * 1000  # ms per image
    return out


def main(argv):
    del argv
    print(f"batch {FLAGS.batch}, p = 0.5, float32, load avg {os.getloadavg()[0]:.1f}")
    print("| pipe | size | forward ms/img | forward+backward ms/img |")
    print("| --- | --: | --: | --: |")
    for pipe in FLAGS.pipes.split(","):
        for size in (int(s) for s in FLAGS.sizes.split(",")):
            r = measure(pipe, size)
            print(f"| {pipe} | {size} | {r['forward']:.2f} | {r['forward+backward']:.2f} |",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    app.run(main)
