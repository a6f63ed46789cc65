"""Peak memory of training vs batch_gpu: one full iteration (Gmain, Greg, Dmain, Dreg, G_ema).

    python benchmarks/bench_memory.py [--resolution 64 --batch 32 --batch-gpu 4,32]

Each setting runs in its own process (peak RSS is per process): config-f networks at the given
resolution with channel_base 8192 / channel_max 512 (128 channels at 64x64), float32, one replica,
a fixed uint8 batch. Prints the rounds, the wall time of the iteration (traced and run) and the
peak resident memory. batch_gpu sets what one device computes at once, so it sets the memory.
"""

import os
import pathlib
import resource
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("resolution", 64, "Image resolution.")
flags.DEFINE_integer("batch", 32, "Global minibatch.")
flags.DEFINE_string("batch-gpu", "4,32", "Comma-separated batch_gpu values to compare.")
flags.DEFINE_integer("child", 0, "Internal: measure this batch_gpu in this process.")


def measure(batch_gpu):
    import numpy as np
    import tensorflow as tf

    from tf_stylegan2.networks import presets
    from training import config as config_lib
    from training import distribute
    from training.trainer import Trainer

    def network_kwargs(name, img_resolution, img_channels, c_dim):
        G_kwargs, D_kwargs = presets.network_kwargs("config-f", img_resolution, img_channels, c_dim)
        G_kwargs["synthesis_kwargs"].update(channel_base=8192, channel_max=512)
        D_kwargs.update(channel_base=8192, channel_max=512)
        return G_kwargs, D_kwargs

    res = FLAGS.resolution
    cfg = config_lib.make_config(
        "config-f",
        data="",
        outdir="",
        resolution=res,
        channels=3,
        batch=FLAGS.batch,
        batch_gpu=batch_gpu,
        network_kwargs=network_kwargs,
    )
    trainer = Trainer(cfg, distribute.make_strategy(1), log=lambda m: None)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    reals = tf.constant(
        np.random.RandomState(0).randint(0, 256, [FLAGS.batch, res, res, 3]), tf.uint8
    )
    labels = tf.zeros([FLAGS.batch, 0])
    t0 = time.time()
    trainer.iteration(reals, labels)  # batch_idx 0: all four phases
    seconds = time.time() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10
    print(
        f"| {FLAGS.batch} | {batch_gpu} | {trainer.rounds} | {seconds:.1f} | {base:.0f} | "
        f"{peak:.0f} |"
    )


def main(argv):
    if FLAGS.child:
        measure(FLAGS.child)
        return
    print(
        f"config-f networks (channel_base 8192) at {FLAGS.resolution}x{FLAGS.resolution}, "
        f"one replica, float32"
    )
    print(
        "| batch | batch_gpu | rounds | first iteration (s) | RSS after build (MB) | "
        "peak RSS (MB) |"
    )
    print("| --: | --: | --: | --: | --: | --: |")
    for bg in FLAGS["batch-gpu"].value.split(","):
        cmd = [
            sys.executable,
            __file__,
            "--child",
            bg,
            "--resolution",
            str(FLAGS.resolution),
            "--batch",
            str(FLAGS.batch),
        ]
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    app.run(main)
