"""Export a generator to LiteRT (TFLite), ONNX or OpenVINO, through Keras' own exporters.

Each format gets three files in the destination folder, run by its own runtime without TensorFlow:

  generator.EXT   z [N,z_dim] f32 (, c [N,c_dim] f32)  -> images [N,H,W,C] uint8 (or f32, --output)
  mapping.EXT     z (, c)                               -> ws [N,num_ws,w_dim] f32, truncated
  synthesis.EXT   ws [N,num_ws,w_dim] f32               -> images [N,H,W,C] f32, nominal [-1,1]

with truncation psi and noise mode (const: the stored noise maps, or none) fixed at export, and
stylegan2.json describing them. EXT is .tflite, .onnx or .xml (+ .bin). The runtimes are extras:
`pip install .[export]` (ai-edge-litert, onnxruntime, openvino; tf2onnx converts to ONNX).
"""

import json
import pathlib

from apps.cli import UserError
from fileio import atomic
from fileio.images import to_uint8

FORMATS = {"litert": ".tflite", "onnx": ".onnx", "openvino": ".xml"}
CONVERTERS = {"litert": None, "onnx": "tf2onnx", "openvino": "openvino"}
RUNTIMES = {"litert": "ai_edge_litert", "onnx": "onnxruntime", "openvino": "openvino"}
QUANTIZE = ("none", "float16", "dynamic")
NOISE_MODES = ("const", "none")  # the stored noise maps, or no noise (both deterministic)
# The non-fused modulated conv (ADA-PT's modulated_conv2d with fused_modconv=False: plain
# convolutions, a built-in kernel of every runtime). The fused form's per-sample weights cost
# LiteRT 10.9 GB at batch 8 at 256x256 (3.5 GB non-fused).
FUSED_MODCONV = False


def require_extra(fmt):
    """One line naming the missing package when the format's extra is not installed."""
    import importlib.util

    for module in filter(None, (CONVERTERS[fmt], RUNTIMES[fmt])):
        if importlib.util.find_spec(module) is None:
            package = {"ai_edge_litert": "ai-edge-litert"}.get(module, module)
            raise UserError(
                f"--format {fmt} needs the package {package}: pip install '.[export]' "
                f"(or pip install {package})"
            )


def check_options(fmt, quantize):
    """Before loading anything: the format (savedmodel included), its quantisation and its
    installed extra."""
    if fmt not in ("savedmodel", *FORMATS):
        raise UserError(f"--format {fmt}: unknown; choose savedmodel, {', '.join(FORMATS)}")
    if quantize not in QUANTIZE:
        raise UserError(f"--quantize {quantize}: unknown; choose {', '.join(QUANTIZE)}")
    if quantize != "none" and fmt != "litert":
        raise UserError(f"--quantize {quantize} applies to --format litert only")
    if fmt != "savedmodel":
        require_extra(fmt)


def _litert_kwargs(quantize):
    """TFLiteConverter settings for --quantize (Keras passes them on to the converter)."""
    import tensorflow as tf

    # Built-in ops only: the LiteRT interpreter of ai-edge-litert has no TF (Flex) kernels.
    kwargs = {"target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}}
    if quantize == "float16":  # weights stored as float16, computed in float32
        kwargs["optimizations"] = [tf.lite.Optimize.DEFAULT]
        kwargs["target_spec"]["supported_types"] = [tf.float16]
    elif quantize == "dynamic":  # int8 weights, activations quantised on the fly
        kwargs["optimizations"] = [tf.lite.Optimize.DEFAULT]
    return kwargs


def endpoint(net, fn, name):
    """A Keras model whose call(*inputs) is fn(*inputs) and which tracks `net`, so that net's
    variables export with it (Keras' exporters take models)."""
    import keras

    class _Endpoint(keras.Model):
        def __init__(self):
            super().__init__(name=name)
            self.net, self.fn = net, fn
            self.built = True  # net is built; nothing of its own to build

        def call(self, *inputs):
            return self.fn(*inputs)

    return _Endpoint()


def _models(G, truncation_psi, output, noise_mode):
    """Three Keras models around G: (name, model, input specs)."""
    import tensorflow as tf

    psi = float(truncation_psi)

    def truncated_ws(z, c=None):
        return G.mapping(z, c, truncation_psi=psi)  # [N, num_ws, w_dim]

    def synthesis(ws):
        return G.synthesis(ws, noise_mode=noise_mode, fused_modconv=FUSED_MODCONV)  # [N, H, W, C]

    def images(z, c=None):
        x = synthesis(truncated_ws(z, c))  # [N, H, W, C]
        return to_uint8(x) if output == "uint8" else x

    z_spec = tf.TensorSpec([None, G.z_dim], tf.float32, name="z")
    c_spec = tf.TensorSpec([None, G.c_dim], tf.float32, name="c")
    zc = [z_spec, c_spec] if G.c_dim > 0 else [z_spec]
    ws_spec = tf.TensorSpec([None, G.num_ws, G.w_dim], tf.float32, name="ws")
    return [
        ("generator", endpoint(G, images, "generator"), zc),
        ("mapping", endpoint(G, truncated_ws, "mapping"), zc),
        ("synthesis", endpoint(G, synthesis, "synthesis"), [ws_spec]),
    ]


def export_format(
    G,
    dest,
    fmt,
    truncation_psi=1.0,
    output="uint8",
    quantize="none",
    noise_mode="const",
    source=None,
):
    """Write generator / mapping / synthesis in `fmt` into the new folder `dest`, atomically."""
    if fmt not in FORMATS:  # (the SavedModel is apps.export.export_generator)
        raise UserError(f"--format {fmt}: unknown; choose {', '.join(FORMATS)}")
    check_options(fmt, quantize)
    if output not in ("uint8", "float"):
        raise UserError(f"--output {output}: unknown; choose uint8 or float")
    if noise_mode not in NOISE_MODES:
        raise UserError(f"--noise-mode {noise_mode}: unknown; choose {', '.join(NOISE_MODES)}")
    meta = dict(
        format=fmt,
        inputs={"z": [None, G.z_dim], **({"c": [None, G.c_dim]} if G.c_dim else {})},
        output=output,
        quantize=quantize,
        truncation_psi=float(truncation_psi),
        noise_mode=noise_mode,
        precision=G.dtype_policy.name,
        z_dim=G.z_dim,
        c_dim=G.c_dim,
        w_dim=G.w_dim,
        num_ws=G.num_ws,
        img_resolution=G.img_resolution,
        img_channels=G.img_channels,
        source=str(source) if source else None,
    )
    return write_models(dest, fmt, _models(G, truncation_psi, output, noise_mode), quantize, meta)


def write_models(dest, fmt, models, quantize, meta):
    """[(name, Keras model, input specs)] -> `dest`/<name>.EXT each and stylegan2.json (meta plus
    the file names), in a new folder written atomically."""
    import logging
    import os

    from tf_stylegan2.ops import four_d_ops

    dest = pathlib.Path(dest)
    ext = FORMATS[fmt]
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with atomic.replacing(dest, directory=True) as tmp:
        tmp.mkdir(parents=True, exist_ok=True)
        files = {}
        for name, model, specs in models:
            path = tmp / f"{name}{ext}"
            kwargs = _litert_kwargs(quantize) if fmt == "litert" else {}
            with four_d_ops():  # LiteRT has no 6-D pad
                model.export(str(path), format=fmt, input_signature=specs, verbose=False, **kwargs)
            files[name] = path.name
        meta = dict(meta, files=files)
        (tmp / "stylegan2.json").write_text(json.dumps(meta, indent=2) + "\n")
    return dest
