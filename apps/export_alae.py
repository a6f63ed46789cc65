"""Export a StyleALAE model (encoder and generator) as a SavedModel or in the other formats
(export.py picks this for ALAE networks).

SavedModel signatures (batch size variable; images uint8 NHWC at the model's resolution):

  serving_default  z [N,latent] f32                    -> images [N,R,R,C] uint8 (generate:
                                                          mapping, truncation --trunc, decode)
  encode           images [N,R,R,C] uint8              -> w [N,latent] f32 (one forward pass)
  decode           w [N,latent] f32                    -> images [N,R,R,C] uint8
  reconstruct      images uint8                        -> images uint8 (decode(encode(x)))
  mapping          z [N,latent] f32                    -> w [N,latent] f32 (F, no truncation)

LiteRT / ONNX / OpenVINO: generator, encoder, decoder files with the same inputs and outputs.
Truncation moves the style layers below the model's cutoff toward its per-layer dlatent_avg by psi.
Noise is fixed at export: 'deterministic' (ALAE's noise=False branch, default), 'random' drawn
once from a fixed seed (the same maps for every call of a given batch size) or 'none'.
"""

import json
import pathlib

from apps import export_formats
from apps.cli import UserError
from fileio import atomic
from fileio.images import to_uint8

NOISE_MODES = ("deterministic", "random", "none")


def _functions(model, truncation_psi, noise_mode):
    import tensorflow as tf

    seed = tf.constant([0, 0], tf.int32)

    def decode(ws):
        return model.decode(ws, noise_mode=noise_mode, noise_seed=seed)  # [N, R, R, C] f32

    def generate(z):
        return to_uint8(decode(model.truncate(model.mapping(z), truncation_psi)))

    def encode(images):
        return model.encode(tf.cast(images, tf.float32) / 127.5 - 1.0)  # [N, latent]

    return dict(
        generate=generate,
        encode=encode,
        decode=lambda w: to_uint8(decode(w)),
        reconstruct=lambda images: to_uint8(decode(encode(images))),
        mapping=lambda z: model.mapping(z)[:, 0],
    )


def _specs(model):
    import tensorflow as tf

    r, c, lat = model.img_resolution, model.channels, model.latent_size
    return dict(
        z=tf.TensorSpec([None, lat], tf.float32, name="z"),
        w=tf.TensorSpec([None, lat], tf.float32, name="w"),
        images=tf.TensorSpec([None, r, r, c], tf.uint8, name="images"),
    )


def _meta(model, truncation_psi, noise_mode, source, **extra):
    return dict(
        kind="alae",
        latent_size=model.latent_size,
        num_ws=model.num_ws,
        img_resolution=model.img_resolution,
        img_channels=model.channels,
        truncation_psi=float(truncation_psi),
        truncation_cutoff=model.truncation_cutoff,
        noise_mode=noise_mode,
        source=str(source) if source else None,
        **extra,
    )


def export_alae(model, dest, truncation_psi=0.7, source=None, noise_mode="deterministic"):
    """The SavedModel of `model` in the new folder `dest` (atomically)."""
    import keras
    import tensorflow as tf

    if noise_mode not in NOISE_MODES:
        raise UserError(f"--noise-mode {noise_mode}: StyleALAE exports {', '.join(NOISE_MODES)}")
    fns, specs = _functions(model, truncation_psi, noise_mode), _specs(model)
    endpoints = {
        "serving_default": (lambda z: {"images": fns["generate"](z)}, [specs["z"]]),
        "encode": (lambda images: {"w": fns["encode"](images)}, [specs["images"]]),
        "decode": (lambda w: {"images": fns["decode"](w)}, [specs["w"]]),
        "reconstruct": (lambda images: {"images": fns["reconstruct"](images)}, [specs["images"]]),
        "mapping": (lambda z: {"w": fns["mapping"](z)}, [specs["z"]]),
    }
    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, (fn, signature) in endpoints.items():
        fn = tf.function(fn, input_signature=signature, autograph=False)
        archive.add_endpoint(name, fn, input_signature=signature)
    dest = pathlib.Path(dest)
    with atomic.replacing(dest, directory=True) as tmp:
        archive.write_out(str(tmp), verbose=False)
        meta = _meta(model, truncation_psi, noise_mode, source, signatures=list(endpoints))
        (tmp / "assets.extra").mkdir(exist_ok=True)
        (tmp / "assets.extra" / "stylegan2.json").write_text(json.dumps(meta, indent=2) + "\n")
    return dest


def export_alae_format(
    model, dest, fmt, truncation_psi=0.7, quantize="none", noise_mode="deterministic", source=None
):
    """generator / encoder / decoder in `fmt` (litert, onnx, openvino) in the new folder `dest`."""
    export_formats.check_options(fmt, quantize)
    if noise_mode not in NOISE_MODES:
        raise UserError(f"--noise-mode {noise_mode}: StyleALAE exports {', '.join(NOISE_MODES)}")
    fns, specs = _functions(model, truncation_psi, noise_mode), _specs(model)

    models = [
        ("generator", export_formats.endpoint(model, fns["generate"], "generator"), [specs["z"]]),
        ("encoder", export_formats.endpoint(model, fns["encode"], "encoder"), [specs["images"]]),
        ("decoder", export_formats.endpoint(model, fns["decode"], "decoder"), [specs["w"]]),
    ]
    meta = _meta(model, truncation_psi, noise_mode, source, format=fmt, quantize=quantize)
    return export_formats.write_models(dest, fmt, models, quantize, meta)
