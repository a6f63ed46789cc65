"""Speed of the metric networks: FID Inception img/s at 299x299 and LPIPS pairs/s,
eager vs tf.function vs tf.function(jit_compile=True).

    python benchmarks/bench_metrics.py [--batch 25] [--repeats 3] [--lpips-size 64]
        [--unfolded] [--weights-dir DIR]

Reference: NVIDIA's Inception as TorchScript runs ~13 img/s with 2 threads on this machine
(shared/fixtures/inception_fid/README.md, section 4). The machine is shared: the load average is
printed before and after, compare numbers taken at the same moment.
"""

import os
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_STYLEGAN2_NO_DOWNLOAD", "1")

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_integer("batch", 25, "Inception images per batch (the reference used 25).")
    flags.DEFINE_integer("repeats", 3, "Timed batches per mode (after one warm-up).")
    flags.DEFINE_integer("lpips-size", 64, "LPIPS image size (PPL uses <= 256).")
    flags.DEFINE_integer("lpips-batch", 8, "LPIPS pairs per batch.")
    flags.DEFINE_list("modes", ["eager", "function", "jit"], "Modes to time.")
    flags.DEFINE_boolean("unfolded", False, "Also time the Inception without BN folding.")
    flags.DEFINE_string(
        "weights-dir",
        None,
        "Folder with the metric weight files "
        "(default: --weights-dir lookup; ../shared/weights when present).",
    )


def _time_interleaved(cases, repeats):
    """cases: list of (label, fn, args). Warm up each, then time them round-robin so that the
    shared machine's changing load hits every mode alike.
    Returns {label: (best wall s, median wall s, least CPU s)}: CPU seconds (all threads) depend
    less on the other users of the machine than wall time does."""
    for _, fn, args in cases:
        fn(*args)  # warm-up / trace / compile
    times = {label: [] for label, _, _ in cases}
    cpu = {label: [] for label, _, _ in cases}
    for _ in range(repeats):
        for label, fn, args in cases:
            t, c = time.perf_counter(), time.process_time()
            out = fn(*args)
            _ = out.numpy() if hasattr(out, "numpy") else out
            times[label].append(time.perf_counter() - t)
            cpu[label].append(time.process_time() - c)
    return {k: (min(v), sorted(v)[len(v) // 2], min(cpu[k])) for k, v in times.items()}


def _weights_dir():
    if FLAGS["weights-dir"].value:
        return FLAGS["weights-dir"].value
    shared = pathlib.Path(__file__).resolve().parents[2] / "shared" / "weights"
    return str(shared) if shared.is_dir() else None


def main(argv):
    del argv
    import numpy as np
    import tensorflow as tf

    from metrics import inception
    from metrics.lpips import LPIPS

    print(
        f"load average before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}  "
        f"cores: {os.cpu_count()}  TF {tf.__version__}  intra-op threads: "
        f"{tf.config.threading.get_intra_op_parallelism_threads() or 'default'}"
    )
    rows = []
    rng = np.random.RandomState(0)
    images = tf.constant(rng.randint(0, 256, size=(FLAGS.batch, 299, 299, 3)), tf.float32)
    cases = []
    for fold, label in [(True, "")] + ([(False, " (BN unfolded)")] if FLAGS.unfolded else []):
        inception.FOLD_BN = fold  # read when the graph is traced: trace now, inside the loop
        for mode in FLAGS.modes:
            det = inception.FIDInception(weights_dir=_weights_dir(), jit_compile=(mode == "jit"))
            if mode == "eager":

                def fn(v, d=det, f=fold):  # eager reads FOLD_BN at every call
                    inception.FOLD_BN = f
                    return d.model(inception.fid_preprocess(v), training=False)
            else:
                fn = det._forward
            fn(images)
            cases.append(
                (
                    (f"Inception 299x299, batch {FLAGS.batch}{label}", mode, "img/s", FLAGS.batch),
                    fn,
                    [images],
                )
            )
    inception.FOLD_BN = True
    s, n = FLAGS["lpips-size"].value, FLAGS["lpips-batch"].value
    a = tf.constant(rng.uniform(-1, 1, size=(n, s, s, 3)).astype(np.float32))
    b = tf.constant(rng.uniform(-1, 1, size=(n, s, s, 3)).astype(np.float32))
    for mode in FLAGS.modes:
        lp = LPIPS(weights_dir=_weights_dir(), jit_compile=(mode == "jit"))
        if mode == "eager":
            fn = (lambda m: lambda u, v: tf.reduce_sum(m.per_layer(u, v, (-1, 1)), 1))(lp)
        else:
            fn = lp
        cases.append(((f"LPIPS VGG16 {s}x{s}, batch {n}", mode, "pairs/s", n), fn, [a, b]))
    timed = _time_interleaved(cases, FLAGS.repeats)
    for key, _, _ in cases:
        best, med, cpu = timed[key]
        name, mode, unit, count = key
        rows.append((name, mode, count / best, count / med, unit, cpu / count))
        print(
            f"{name:<42s} {mode:<9s} {count / best:7.1f} {unit} (median {count / med:.1f}, "
            f"{cpu / count:.3f} CPU s each)"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    print("\n| network | mode | best | median | unit | CPU s per item |\n|---|---|--:|--:|---|--:|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]:.1f} | {r[3]:.1f} | {r[4]} | {r[5]:.3f} |")


def run():
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
