"""Images per second of G forward (fused / non-fused / the default form; eager, tf.function,
XLA) and of one D forward+backward, at res 32, channel_base 16384, channel_max 512, batch 8, per
precision (num_fp16_res 4, conv_clamp 256 as the ADA presets; fp32 ignores num_fp16_res).

    python benchmarks/bench_networks.py [--repeats 5] [--batch 8] [--resolution 32]
        [--precision fp32,bf16] [--only "tf.function"] [--preset demo]

The "default" G form is what generate.py runs: fused modconv in float32 blocks, non-fused in
half-precision blocks (ADA-PT's rule).
"""

import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_integer("repeats", 5, "timed calls per case (after 2 warm-up calls)")
    flags.DEFINE_integer("batch", 8, "batch size")
    flags.DEFINE_integer("resolution", 32, "image resolution")
    flags.DEFINE_integer("channel_base", 16384, "channel_base")
    flags.DEFINE_integer("channel_max", 512, "channel_max")
    flags.DEFINE_string("only", "", "comma-separated case names to run (default all)")
    flags.DEFINE_string("precision", "fp32,bf16", "comma-separated precisions to compare")
    flags.DEFINE_enum(
        "preset", "config-f", ["config-f", "demo"],
        "config-f networks with the channel flags, or the demo preset's (1 channel, 10 classes)",
    )  # fmt: skip


def _time(fn, repeats):
    """(wall seconds, process CPU seconds) per call, after 2 warm-up calls."""
    for _ in range(2):
        fn()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats, (time.process_time() - c0) / repeats


def main(_):
    import os

    import tensorflow as tf

    from tf_stylegan2.networks import Discriminator, Generator
    from tf_stylegan2.networks.precision import resolve_precision

    n, res = FLAGS.batch, FLAGS.resolution
    cases = []
    for precision in FLAGS.precision.split(","):
        cases += _cases(precision, resolve_precision(precision), n, res, Generator, Discriminator)
    only = [s.strip() for s in FLAGS.only.split(",") if s.strip()]

    load = os.getloadavg()[0]
    print(
        f"# res {res}, "
        + (
            "demo preset (1 channel, 10 classes, num_fp16_res 4, no clamp), "
            if FLAGS.preset == "demo"
            else f"channel_base {FLAGS.channel_base}, channel_max {FLAGS.channel_max}, "
            "num_fp16_res 4, conv_clamp 256, "
        )
        + f"batch {n}, "
        f"TF {tf.__version__}, {os.cpu_count()} CPUs, load average at start {load:.2f}"
    )
    # The machine is shared: this process's CPU time spread over all cores ~ the quiet-machine rate.
    cores = os.cpu_count() or 1
    print(f"| case | s/batch | img/s | CPU s/batch | img/s if {cores} cores were ours |")
    print("| --- | --- | --- | --- | --- |")
    for name, fn, arg in cases:
        if only and not any(o in name for o in only):
            continue
        sec, cpu = _time(lambda: fn(arg), FLAGS.repeats)
        quiet = n / max(cpu / cores, sec / 1e6)
        print(f"| {name} | {sec:.3f} | {n / sec:.1f} | {cpu:.3f} | {quiet:.1f} |", flush=True)
    print(f"# load average at end {os.getloadavg()[0]:.2f}")


def _cases(precision, policy, n, res, Generator, Discriminator):
    """[(name, fn, takes the images)] for one precision."""
    import tensorflow as tf

    from tf_stylegan2.networks import presets

    if FLAGS.preset == "demo":  # 1 channel, 10 classes, as make demo trains it
        G_kwargs, D_kwargs = presets.network_kwargs("demo", res, 1, c_dim=10)
    else:
        chans = dict(channel_base=FLAGS.channel_base, channel_max=FLAGS.channel_max)
        half = dict(num_fp16_res=4, conv_clamp=256)
        G_kwargs = dict(
            z_dim=512, c_dim=0, w_dim=512, img_resolution=res, img_channels=3,
            synthesis_kwargs=dict(**chans, **half),
        )  # fmt: skip
        D_kwargs = dict(c_dim=0, img_resolution=res, img_channels=3, **chans, **half)
    G, D = Generator(**G_kwargs, dtype=policy), Discriminator(**D_kwargs, dtype=policy)
    rnd = np.random.RandomState(0)
    c = np.eye(G.c_dim, dtype=np.float32)[rnd.randint(0, G.c_dim, n)] if G.c_dim else None
    z = tf.constant(rnd.randn(n, G.z_dim).astype(np.float32))
    img = tf.constant(rnd.uniform(-1, 1, [n, res, res, G.img_channels]).astype(np.float32))

    def g_fwd(fused):
        return lambda z: G(z, c, noise_mode="random", fused_modconv=fused)

    def d_fwd_bwd(img):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.nn.softplus(D(img, c)))
        return tape.gradient(loss, D.trainable_variables)

    cases = []
    for fused, form in ((True, "fused"), (False, "non-fused"), (None, "default")):
        cases.append((f"{precision} G forward {form}, eager", g_fwd(fused), z))
        cases.append((f"{precision} G forward {form}, tf.function", tf.function(g_fwd(fused)), z))
        cases.append(
            (
                f"{precision} G forward {form}, jit_compile",
                tf.function(g_fwd(fused), jit_compile=True),
                z,
            )
        )
    cases.append((f"{precision} D forward+backward, eager", d_fwd_bwd, img))
    cases.append((f"{precision} D forward+backward, tf.function", tf.function(d_fwd_bwd), img))
    cases.append(
        (
            f"{precision} D forward+backward, jit_compile",
            tf.function(d_fwd_bwd, jit_compile=True),
            img,
        )
    )
    return cases


def run():
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
