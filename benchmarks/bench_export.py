"""Exported SavedModel vs the Keras generator: latency at batch 1, throughput at batch 16.

    python benchmarks/bench_export.py [--preset demo] [--resolution 32] [--c-dim 0] [--repeats 20]

Builds a generator from a preset (random weights: speed does not depend on them), exports it with
apps.export, reloads it with tf.saved_model.load, and times the same job three ways: the Keras model
called eagerly, the Keras model under tf.function, and the SavedModel's serving_default signature
(z -> uint8 images, const noise, psi 0.7; the uint8 conversion is timed in all three).
Latency: median of --repeats calls at batch 1. Throughput: images/s over --repeats // 4 (>= 3) calls
at batch 16. The three take turns call by call (fair on a shared machine). Prints a Markdown table.
"""

import os
import pathlib
import platform
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_string("preset", "demo", "Network preset (tf_stylegan2.networks.presets).")
    flags.DEFINE_integer("resolution", 32, "Image resolution.")
    flags.DEFINE_integer("c-dim", 0, "Number of classes (0 = unconditional).")
    flags.DEFINE_integer(
        "repeats", 20, "Timed calls at batch 1 (batch 16 uses repeats // 4, at least 3)."
    )
    flags.DEFINE_integer("threads", 0, "TF intra/inter-op threads (0 = TF default).")


def _time_interleaved(fns, repeats, warmup=2):
    """Seconds per call [len(fns), repeats]; the functions take turns, so a load change on a shared
    machine hits all of them alike."""
    for fn in fns:
        for _ in range(warmup):
            fn()
    times = np.zeros([len(fns), repeats])
    for r in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            times[i, r] = time.perf_counter() - t0
    return times


def main(argv):
    del argv
    import tensorflow as tf

    if FLAGS.threads:
        tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
        tf.config.threading.set_inter_op_parallelism_threads(FLAGS.threads)
    from apps import export
    from tf_stylegan2.networks import Generator, presets

    c_dim = FLAGS["c-dim"].value
    G = Generator(**presets.network_kwargs(FLAGS.preset, FLAGS.resolution, 3, c_dim)[0])
    psi = 0.7

    def keras_eager(z, c):
        return export._to_uint8(G(z, c, truncation_psi=psi, noise_mode="const"))

    keras_graph = tf.function(keras_eager)

    with tempfile.TemporaryDirectory() as tmp:
        export.export_generator(G, pathlib.Path(tmp) / "1")
        model = tf.saved_model.load(str(pathlib.Path(tmp) / "1"))
        serve = model.signatures["serving_default"]

        def exported(z, c):
            kw = dict(z=z, truncation_psi=tf.constant(psi))
            if c is not None:
                kw["c"] = c
            return serve(**kw)["images"]

        names = ("Keras eager", "Keras tf.function", "SavedModel serving_default")
        fns = (keras_eager, keras_graph, exported)
        res = {}
        for batch, repeats in ((1, FLAGS.repeats), (16, max(3, FLAGS.repeats // 4))):
            z = tf.constant(np.random.RandomState(batch).randn(batch, G.z_dim), tf.float32)
            c = tf.one_hot(np.arange(batch) % c_dim, c_dim) if c_dim else None
            calls = [lambda fn=fn: fn(z, c).numpy() for fn in fns]
            res[batch] = _time_interleaved(calls, repeats)  # [3, repeats] seconds
        latency_ms = np.median(res[1], axis=1) * 1000
        throughput = 16 * res[16].shape[1] / res[16].sum(axis=1)
        rows = list(zip(names, latency_ms, throughput))

    n_params = sum(int(np.prod(v.shape)) for v in G.trainable_weights)
    print(
        f"\nConfig: preset {FLAGS.preset}, {FLAGS.resolution}x{FLAGS.resolution}x3, c_dim {c_dim}, "
        f"z_dim {G.z_dim}, {n_params / 1e6:.2f} M G parameters, const noise, psi {psi}, float32; "
        f"TF {tf.__version__}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPU threads.\n"
    )
    print("| model | latency, batch 1 (ms, median) | throughput, batch 16 (images/s) |")
    print("| --- | ---: | ---: |")
    for name, lat, thr in rows:
        print(f"| {name} | {lat:.1f} | {thr:.1f} |")


if __name__ == "__main__":
    define_flags()
    app.run(main)
