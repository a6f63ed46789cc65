"""Speed of the metric networks: FID Inception img/s at 299x299 and LPIPS pairs/s,
eager vs tf.function vs tf.function(jit_compile=True).

    python benchmarks/bench_metrics.py [--batch 25] [--repeats 3] [--lpips-size 64] [--weights-dir DIR]

Reference: NVIDIA's Inception as TorchScript runs ~13 img/s with 2 threads on this machine
(shared/fixtures/inception_fid/README.md §4). The machine is shared: the load average is printed
before and after, compare numbers taken at the same moment.
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
    flags.DEFINE_string("weights-dir", None, "Folder with the metric weight files "
                        "(default: --weights-dir lookup; ../shared/weights when present).")


def _time(fn, x, repeats):
    fn(*x)  # warm-up / trace / compile
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn(*x)
        _ = out.numpy() if hasattr(out, "numpy") else out
        times.append(time.perf_counter() - t)
    return min(times), sorted(times)[len(times) // 2]


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

    print(f"load average before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}  "
          f"cores: {os.cpu_count()}  TF {tf.__version__}  intra-op threads: "
          f"{tf.config.threading.get_intra_op_parallelism_threads() or 'default'}")
    rows = []
    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, size=(FLAGS.batch, 299, 299, 3)).astype(np.uint8)
    variants = [(True, "")] + ([(False, " (BN unfolded)")] if FLAGS.unfolded else [])
    for fold, label in variants:
        inception.FOLD_BN = fold
        for mode in FLAGS.modes:
            det = inception.FIDInception(weights_dir=_weights_dir(), jit_compile=(mode == "jit"))
            x = tf.constant(images, tf.float32)
            if mode == "eager":
                fn = lambda v: det.model(inception.fid_preprocess(v), training=False)  # noqa: E731
            else:
                fn = det._forward
            best, med = _time(fn, [x], FLAGS.repeats)
            rows.append((f"Inception 299x299, batch {FLAGS.batch}{label}", mode,
                         FLAGS.batch / best, FLAGS.batch / med, "img/s"))
            print(f"{rows[-1][0]:<40s} {mode:<9s} {rows[-1][2]:7.1f} {rows[-1][4]} "
                  f"(median {rows[-1][3]:.1f})", flush=True)
    inception.FOLD_BN = True
    s, n = FLAGS["lpips-size"].value, FLAGS["lpips-batch"].value
    a = tf.constant(rng.uniform(-1, 1, size=(n, s, s, 3)).astype(np.float32))
    b = tf.constant(rng.uniform(-1, 1, size=(n, s, s, 3)).astype(np.float32))
    for mode in FLAGS.modes:
        lp = LPIPS(weights_dir=_weights_dir(), jit_compile=(mode == "jit"))
        fn = (lambda u, v: tf.reduce_sum(lp.per_layer(u, v, (-1, 1)), 1)) if mode == "eager" else lp
        best, med = _time(fn, [a, b], FLAGS.repeats)
        rows.append((f"LPIPS VGG16 {s}x{s}, batch {n}", mode, n / best, n / med, "pairs/s"))
        print(f"{rows[-1][0]:<40s} {mode:<9s} {rows[-1][2]:7.1f} {rows[-1][4]} "
              f"(median {rows[-1][3]:.1f})", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
    print("\n| network | mode | best | median | unit |\n|---|---|--:|--:|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]:.1f} | {r[3]:.1f} | {r[4]} |")


def run():
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
