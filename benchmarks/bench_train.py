"""Training speed: img/s of whole training iterations, phases in their official proportions.

    python benchmarks/bench_train.py [--preset config-f|demo] [--channels 3]
                                     [--resolution 32 --channel-base 16384 --channel-max 512
                                      --batch 8 --batch-gpu 4] [--aug noaug|bgc|both]
                                     [--iterations 16] [--jit both|on|off] [--fused]
                                     [--precision fp32,bf16]

One measured block is `--iterations` minibatches starting at a multiple of 16, so with the default
16 it runs 16 Gmain, 4 Greg (path length, every 4), 16 Dmain and 1 Dreg (R1, every 16) steps plus 16
G_ema updates: exactly NVIDIA's lazy-regularization proportions. Networks: config-f (skip G, resnet
D, 8 mapping layers, z/w 512, num_fp16_res 4) at the given size, or the demo preset (num_fp16_res 4
too), in each --precision (bf16/fp16: the top 4 resolutions in half precision), non-fused modulated
conv (as in ADA-PT training); reals are a fixed uint8 batch (the input pipeline is measured by
bench_input.py). One warm-up minibatch (which runs all four phases) traces and compiles every step
first. Prints one table row per jit setting.
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


def define_flags():
    flags.DEFINE_enum(
        "preset", "config-f", ["config-f", "demo"],
        "Networks and training preset: config-f with the channel flags below, or make demo's "
        "preset as it is (the channel flags are then ignored).",
    )  # fmt: skip
    flags.DEFINE_integer("channels", 3, "Image channels (1 = greyscale as Fashion-MNIST).")
    flags.DEFINE_integer("resolution", 32, "Image resolution.")
    flags.DEFINE_integer("channel-base", 16384, "channel_base of G and D.")
    flags.DEFINE_integer("channel-max", 512, "channel_max of G and D.")
    flags.DEFINE_integer("batch", 8, "Minibatch.")
    flags.DEFINE_integer("batch-gpu", None, "Samples per round (default: the preset's 4).")
    flags.DEFINE_integer(
        "iterations", 16, "Measured minibatches (16 = one full lazy-regularization cycle)."
    )
    flags.DEFINE_integer("repeats", 1, "Measured blocks per setting (best is reported).")
    flags.DEFINE_enum(
        "jit", "both", ["both", "on", "off"], "XLA jit_compile of the phase computations."
    )
    flags.DEFINE_boolean(
        "fused", False, "Fused (grouped-conv) modulated conv instead of non-fused."
    )
    flags.DEFINE_string(
        "precision", "fp32", "Comma-separated precisions to compare (fp32, bf16, fp16, fp64)."
    )
    flags.DEFINE_enum(
        "aug", "noaug", ["noaug", "bgc", "both"],
        "Augmentation in front of D: none, the bgc pipeline at fixed p = 0.5 (the work ADA does at "
        "that strength), or both one after the other.",
    )  # fmt: skip


def measure(jit, aug="noaug", precision="fp32"):
    import tensorflow as tf

    from tf_stylegan2.networks import presets
    from tf_stylegan2.networks.precision import resolve_precision
    from training import config as config_lib
    from training import loop

    res, base, cmax = FLAGS.resolution, FLAGS["channel-base"].value, FLAGS["channel-max"].value

    def network_kwargs(name, img_resolution, img_channels, c_dim):
        G_kwargs, D_kwargs = presets.network_kwargs("config-f", img_resolution, img_channels, c_dim)
        G_kwargs["synthesis_kwargs"].update(channel_base=base, channel_max=cmax, num_fp16_res=4)
        D_kwargs.update(channel_base=base, channel_max=cmax, num_fp16_res=4)
        return G_kwargs, D_kwargs

    preset, channels = FLAGS.preset, FLAGS.channels
    cfg = config_lib.make_config(
        preset,
        data="",
        outdir="",
        resolution=res,
        channels=channels,
        batch=FLAGS.batch,
        jit=jit,
        dtype=resolve_precision(precision),
        **(dict(network_kwargs=network_kwargs) if preset == "config-f" else {}),
        batch_gpu=FLAGS["batch-gpu"].value,
        fused_modconv=FLAGS.fused,
        **(dict(aug="fixed", p=0.5, augpipe="bgc") if aug == "bgc" else {}),
    )
    strategy = loop.make_strategy(1)
    trainer = loop.Trainer(cfg, strategy)
    rnd = np.random.RandomState(0)
    reals = tf.constant(rnd.randint(0, 256, [FLAGS.batch, res, res, channels]).astype(np.uint8))
    labels = tf.zeros([FLAGS.batch, 0])
    t0 = time.time()
    trainer.iteration(reals, labels)  # batch 0: all four phases -> traces/compiles everything
    warmup = time.time() - t0
    # continue at the next multiple of 16 so one block is one whole lazy-regularization cycle
    trainer.counters["batch_idx"].assign(16)
    best = cpu_best = None
    for _ in range(FLAGS.repeats):
        c0, t0 = _cpu_seconds(), time.time()
        for _ in range(FLAGS.iterations):
            trainer.iteration(reals, labels)
        dt, cpu = time.time() - t0, _cpu_seconds() - c0
        best = dt if best is None else min(best, dt)
        cpu_best = cpu if cpu_best is None else min(cpu_best, cpu)
    imgs = FLAGS.iterations * FLAGS.batch
    return dict(warmup=warmup, sec=best, img_s=imgs / best, cpu_per_img=cpu_best / imgs)


def _cpu_seconds():
    t = os.times()
    return t.user + t.system


def main(argv):
    del argv
    settings = {"both": [False, True], "on": [True], "off": [False]}[FLAGS.jit]
    augs = ["noaug", "bgc"] if FLAGS.aug == "both" else [FLAGS.aug]
    precisions = FLAGS.precision.split(",")
    nets = (
        f"channel_base {FLAGS['channel-base'].value}, channel_max {FLAGS['channel-max'].value}"
        if FLAGS.preset == "config-f"
        else "networks of the preset"
    )
    print(
        f"{FLAGS.preset}, res {FLAGS.resolution}, {FLAGS.channels} channels, {nets}, "
        f"batch {FLAGS.batch}, num_fp16_res 4, "
        f"{'fused' if FLAGS.fused else 'non-fused'} modconv, {FLAGS.iterations} iterations "
        f"(16 Gmain : 4 Greg : 16 Dmain : 1 Dreg per 16), load avg {os.getloadavg()[0]:.1f}"
    )
    # On a shared machine wall-clock img/s depends on the others' load; CPU-seconds per image do not
    # (much): 2 / (CPU-s per img) is the img/s this process would reach alone on the 2 cores.
    print(
        "| precision | jit_compile | augment | img/s (wall) | CPU-s per img | 2 / CPU-s per img "
        "| s per 16 it. | warm-up s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for prec, jit, aug in [(p, j, a) for p in precisions for j in settings for a in augs]:
        r = measure(jit, aug, prec)
        print(
            f"| {prec} | {jit} | {aug} | {r['img_s']:.2f} | {r['cpu_per_img']:.2f} | "
            f"{2 / r['cpu_per_img']:.2f} | "
            f"{r['sec'] * 16 / FLAGS.iterations:.1f} | {r['warmup']:.0f} |",
            flush=True,
        )


def run():
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
