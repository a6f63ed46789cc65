"""Exported generators, per format and runtime, vs the Keras generator: latency at batch 1,
throughput at batch 16, file size and error.

    python benchmarks/bench_export.py [--preset demo] [--resolution 32] [--channels 3] [--c-dim 0]
                                      [--repeats 20] [--formats savedmodel,litert,...]

Builds a generator from a preset (random weights: speed does not depend on them), exports it with
export.py's code in every format (SavedModel; LiteRT with --quantize none, float16 and dynamic;
ONNX; OpenVINO), loads each with its own runtime (tf.saved_model.load; ai-edge-litert's
interpreter, onnxruntime and OpenVINO through apps/exported.py) and times the same job: z -> uint8
images NHWC, const noise, psi 0.7. Baseline: the Keras model under tf.function. Latency: median of
--repeats calls at batch 1; throughput: images/s over --repeats // 4 (>= 3) calls at batch 16. One
format at a time (then released), taking turns call by call with Keras (fair on a shared machine);
the Keras row is from the first format's turns. Error, on 16 z: max and mean abs error
of the float images (the exported mapping then synthesis) against Keras', and the share of uint8
values that differ from Keras' uint8 images. Prints a Markdown table.
"""

import gc
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
VARIANTS = {  # row name -> (format, quantize)
    "savedmodel": ("savedmodel", "none"),
    "litert": ("litert", "none"),
    "litert-float16": ("litert", "float16"),
    "litert-dynamic": ("litert", "dynamic"),
    "onnx": ("onnx", "none"),
    "openvino": ("openvino", "none"),
}
RUNTIME = {
    "savedmodel": "TF Serving signature (tf.saved_model.load)",
    "litert": "ai-edge-litert Interpreter",
    "onnx": "onnxruntime (CPU)",
    "openvino": "OpenVINO (CPU, f32)",
}


def define_flags():
    flags.DEFINE_string("preset", "demo", "Network preset (tf_stylegan2.networks.presets).")
    flags.DEFINE_integer("resolution", 32, "Image resolution.")
    flags.DEFINE_integer("channels", 3, "Image channels.")
    flags.DEFINE_integer("c-dim", 0, "Number of classes (0 = unconditional).")
    flags.DEFINE_integer(
        "repeats", 20, "Timed calls at batch 1 (batch 16 uses repeats // 4, at least 3)."
    )
    flags.DEFINE_list("formats", list(VARIANTS), f"Rows to measure, of {', '.join(VARIANTS)}.")


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


def _size(folder, name=""):
    """Bytes of the files under `folder` whose path contains `name`."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and name in str(p))


def _savedmodel(G, folder, psi):
    """(generate(z, c) -> uint8, images_float(z, c), generator file size) of a SavedModel."""
    import tensorflow as tf

    from apps import export

    export.export_generator(G, folder, psi)
    model = tf.saved_model.load(str(folder))
    serve, mapping, synthesis = (model.signatures[k] for k in ("generate", "mapping", "synthesis"))

    def inputs(z, c):
        return dict(z=tf.constant(z), **({"c": tf.constant(c)} if c is not None else {}))

    def generate(z, c):
        return serve(**inputs(z, c))["images"].numpy()

    def images_float(z, c):
        ws = mapping(**inputs(z, c), truncation_psi=tf.constant(psi))["ws"]
        return synthesis(ws=ws)["images"].numpy()

    return generate, images_float, _size(folder)


def _other(G, folder, fmt, quantize, psi):
    from apps import export_formats
    from apps.exported import load

    export_formats.export_format(G, folder, fmt, psi, "uint8", quantize)
    gen = load(folder)
    size = _size(folder, "generator")
    return gen, (lambda z, c: gen.synthesis(gen.mapping(z, c))), size


def main(argv):
    del argv
    from absl import logging

    logging.set_verbosity(logging.WARNING)  # TF's exporters log every signature at INFO
    import tensorflow as tf

    from fileio.images import to_uint8
    from tf_stylegan2.networks import Generator, presets

    c_dim = FLAGS["c-dim"].value
    G = Generator(
        **presets.network_kwargs(FLAGS.preset, FLAGS.resolution, FLAGS.channels, c_dim)[0]
    )
    psi = 0.7

    @tf.function
    def keras_float(z, c):
        return G(z, c, truncation_psi=psi, noise_mode="const")

    def keras_uint8(z, c):
        c = None if c is None else tf.constant(c)
        return to_uint8(keras_float(tf.constant(z), c)).numpy()

    rng = np.random.RandomState(0)
    z16 = rng.randn(16, G.z_dim).astype(np.float32)
    c16 = np.eye(c_dim, dtype=np.float32)[np.arange(16) % c_dim] if c_dim else None
    ref_float = keras_float(tf.constant(z16), None if c16 is None else tf.constant(c16)).numpy()
    ref_uint8 = keras_uint8(z16, c16)

    def timings(fn):
        """(latency ms at batch 1, images/s at batch 16) of fn and of Keras, taking turns."""
        lat, thr = [], []
        for batch, repeats in ((1, FLAGS.repeats), (16, max(3, FLAGS.repeats // 4))):
            z, c = z16[:batch], None if c16 is None else c16[:batch]
            t = _time_interleaved([lambda f=f: f(z, c) for f in (fn, keras_uint8)], repeats)
            if batch == 1:
                lat = np.median(t, axis=1) * 1000
            else:
                thr = 16 * t.shape[1] / t.sum(axis=1)
        return lat, thr

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        # One format at a time, each timed against Keras, then released: three LiteRT
        # interpreters at batch 16 at 256x256 do not fit in 24 GB together.
        for name in FLAGS.formats:
            fmt, quantize = VARIANTS[name]
            folder = pathlib.Path(tmp) / name
            t0 = time.perf_counter()
            if fmt == "savedmodel":
                generate, images_float, size = _savedmodel(G, folder, psi)
            else:
                generate, images_float, size = _other(G, folder, fmt, quantize, psi)
            print(f"exported {name} in {time.perf_counter() - t0:.0f} s", flush=True)
            err = np.abs(images_float(z16, c16) - ref_float)
            differ = float(np.mean(generate(z16, c16) != ref_uint8))
            lat, thr = timings(generate)
            if not rows:
                keras_row = ("Keras `tf.function`", "TensorFlow", None, 0.0, 0.0, 0.0)
                rows.append(keras_row + (lat[1], thr[1]))
            row = (name, RUNTIME[fmt], size, float(err.max()), float(err.mean()), differ)
            rows.append(row + (lat[0], thr[0]))
            del generate, images_float
            gc.collect()

    n_params = sum(int(np.prod(v.shape)) for v in G.trainable_weights)
    print(
        f"\nConfig: preset {FLAGS.preset}, {FLAGS.resolution}x{FLAGS.resolution}x{FLAGS.channels}, "
        f"c_dim {c_dim}, z_dim {G.z_dim}, {n_params / 1e6:.2f} M G parameters, const noise, "
        f"psi {psi}; TF {tf.__version__}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPU threads.\n"
    )
    print(
        "| format | runtime | generator file (MB) | max abs error (float) | mean abs error "
        "| uint8 values differing | latency, batch 1 (ms) | throughput, batch 16 (img/s) |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, runtime, size, emax, emean, differ, lat, thr in rows:
        mb = "" if size is None else f"{size / 1e6:.2f}"
        print(
            f"| {name} | {runtime} | {mb} | {emax:.1e} | {emean:.1e} | {100 * differ:.2f}% "
            f"| {lat:.1f} | {thr:.1f} |"
        )


if __name__ == "__main__":
    define_flags()
    app.run(main)
