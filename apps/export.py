"""Export a generator as a SavedModel for TF Serving and saved_model_cli (default), or as LiteRT,
ONNX or OpenVINO files run by their own runtimes (apps/export_formats.py, apps/exported.py).

Loading the SavedModel needs TensorFlow only, none of this repo's code.

    python export.py --network N --dest models/stylegan2/1 [--trunc 0.7]
    python export.py --network N --dest models/g-litert --format litert [--quantize float16]

Signatures (batch size variable; noise per --noise-mode: const = the stored noise maps (default) or
none, so outputs are deterministic):

  serving_default  z [N,z_dim] f32, c [N,c_dim] f32 (conditional networks only),
                   truncation_psi [] f32                   -> images [N,H,W,C] uint8
  generate         z (, c); psi fixed to --trunc at export  -> images [N,H,W,C] uint8
  png              as serving_default                       -> images_bytes [N] string (PNG files;
                                                               TF Serving's REST returns base64)
  mapping          z (, c), truncation_psi                  -> ws [N,num_ws,w_dim] f32
  synthesis        ws [N,num_ws,w_dim] f32                  -> images [N,H,W,C] f32, nominal [-1,1]

Truncation is w_avg + psi*(w - w_avg) on every layer; uint8 is clamp(x*127.5 + 128, 0, 255)
truncated, NVIDIA's conversion.
"""

import json
import pathlib
import sys

from absl import flags

from apps import cli, export_alae, export_formats, loading
from apps.quiet_start import quiet_tensorflow
from fileio import atomic
from fileio.images import to_uint8

FLAGS = flags.FLAGS


def export_generator(G, dest, truncation_psi=1.0, source=None, noise_mode="const"):
    """Write the SavedModel to `dest` (atomically: built beside it, renamed at the end)."""
    import keras
    import tensorflow as tf

    dest = pathlib.Path(dest)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise cli.UserError(
            f"{dest}: already exists; export into a new version folder (e.g. MODEL/2)"
        )
    conditional = G.c_dim > 0
    z_spec = tf.TensorSpec([None, G.z_dim], tf.float32, name="z")
    c_spec = tf.TensorSpec([None, G.c_dim], tf.float32, name="c")
    psi_spec = tf.TensorSpec([], tf.float32, name="truncation_psi")
    ws_spec = tf.TensorSpec([None, G.num_ws, G.w_dim], tf.float32, name="ws")
    fixed_psi = float(truncation_psi)

    # float32 in and out in every precision (a float64 G computes inside in float64)
    def ws_of(z, c, psi):
        ws = G.mapping(z, c, truncation_psi=1.0)  # [N, num_ws, w_dim]
        w_avg = tf.convert_to_tensor(G.mapping.w_avg)  # [w_dim]
        return tf.cast(w_avg + tf.cast(psi, ws.dtype) * (ws - w_avg), tf.float32)

    def synthesize(ws):
        return tf.cast(G.synthesis(ws, noise_mode=noise_mode), tf.float32)  # [N, H, W, C]

    def images_of(z, c, psi):
        return synthesize(ws_of(z, c, psi))

    def png_of(images):
        return tf.map_fn(tf.io.encode_png, to_uint8(images), fn_output_signature=tf.string)

    # Every endpoint takes (z, c, psi); unconditional signatures simply have no c input.
    def with_inputs(fn, specs):
        if conditional:
            return fn, specs
        return (lambda *args: fn(args[0], None, *args[1:])), [s for s in specs if s is not c_spec]

    def serving_default(z, c, truncation_psi):
        return {"images": to_uint8(images_of(z, c, truncation_psi))}

    def generate(z, c):
        return {"images": to_uint8(images_of(z, c, fixed_psi))}

    def png(z, c, truncation_psi):
        return {"images_bytes": png_of(images_of(z, c, truncation_psi))}

    def mapping(z, c, truncation_psi):
        return {"ws": ws_of(z, c, truncation_psi)}

    def synthesis(ws):
        return {"images": synthesize(ws)}

    endpoints = {
        "serving_default": with_inputs(serving_default, [z_spec, c_spec, psi_spec]),
        "generate": with_inputs(generate, [z_spec, c_spec]),
        "png": with_inputs(png, [z_spec, c_spec, psi_spec]),
        "mapping": with_inputs(mapping, [z_spec, c_spec, psi_spec]),
        "synthesis": (synthesis, [ws_spec]),
    }

    archive = keras.export.ExportArchive()  # endpoints track the variables they use
    for name, (fn, signature) in endpoints.items():
        fn = tf.function(fn, input_signature=signature, autograph=False)
        archive.add_endpoint(name, fn, input_signature=signature)
    with atomic.replacing(dest, directory=True) as tmp:  # an empty `dest` folder is replaced
        archive.write_out(str(tmp), verbose=False)
        meta = dict(
            z_dim=G.z_dim,
            c_dim=G.c_dim,
            w_dim=G.w_dim,
            num_ws=G.num_ws,
            img_resolution=G.img_resolution,
            img_channels=G.img_channels,
            generate_truncation_psi=fixed_psi,
            noise_mode=noise_mode,
            precision=G.dtype_policy.name,
            source=str(source) if source else None,
            signatures=list(endpoints),
        )
        (tmp / "assets.extra").mkdir(exist_ok=True)
        (tmp / "assets.extra" / "stylegan2.json").write_text(json.dumps(meta, indent=2) + "\n")
    return dest


def define_flags():
    flags.DEFINE_string("network", None, "Network: .keras snapshot, run folder or official .pkl.")
    flags.DEFINE_enum(
        "precision",
        "fp32",
        cli.PRECISIONS,
        cli.PRECISION_HELP + " The signature stays float32 in and out.",
    )
    flags.DEFINE_string(
        "dest",
        None,
        "SavedModel folder to create, e.g. models/stylegan2/1 (TF Serving "
        "expects MODEL_BASE/MODEL_NAME/VERSION).",
    )
    flags.DEFINE_float(
        "trunc",
        1.0,
        "Truncation psi baked into the 'generate' signature "
        "(serving_default takes truncation_psi as an input); for litert/onnx/openvino, "
        "the psi of generator and mapping.",
    )
    flags.DEFINE_enum(
        "format",
        "savedmodel",
        ["savedmodel", *export_formats.FORMATS],
        "savedmodel (TF Serving), litert (.tflite), onnx (.onnx) or openvino (.xml + .bin); "
        "the last three need pip install '.[export]'.",
    )
    flags.DEFINE_enum(
        "quantize",
        "none",
        list(export_formats.QUANTIZE),
        "litert only: float16 weights, or dynamic-range int8 weights.",
    )
    flags.DEFINE_enum(
        "noise-mode",
        None,
        [*export_formats.NOISE_MODES, *export_alae.NOISE_MODES],
        "Noise baked into every model: StyleGAN const (the stored noise maps, default) or none; "
        "StyleALAE deterministic (default), random (fixed seed) or none.",
    )
    flags.DEFINE_enum(
        "output",
        "uint8",
        ["uint8", "float"],
        "litert/onnx/openvino: the generator's images as uint8 or float32 in nominal [-1, 1].",
    )


def main(argv):
    if len(argv) > 1:
        cli.fail(f"unexpected arguments: {' '.join(argv[1:])}")
    with cli.user_errors():
        for name in ("network", "dest"):
            if not FLAGS[name].value:
                raise cli.UserError(f"--{name} is required")
        loading.resolve_network(FLAGS.network)
        dest = pathlib.Path(FLAGS.dest)
        if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
            raise cli.UserError(
                f"{dest}: already exists; export into a new version folder (e.g. MODEL/2)"
            )
        fmt = FLAGS.format
        if fmt == "savedmodel" and FLAGS.output != "uint8":
            raise cli.UserError("--output applies to --format litert, onnx or openvino")
        export_formats.check_options(fmt, FLAGS.quantize)
        if fmt != "savedmodel" and FLAGS.precision != "fp32":
            raise cli.UserError(
                f"--precision {FLAGS.precision}: only --format savedmodel exports another "
                f"precision ({fmt} takes the float32 network; LiteRT has --quantize float16)"
            )
        file = loading.resolve_network(FLAGS.network)
        if loading.holds_alae(file):
            return _export_alae(file, dest, fmt)
        noise_mode = FLAGS["noise-mode"].value or "const"
        if noise_mode not in export_formats.NOISE_MODES:
            raise cli.UserError(
                f"--noise-mode {noise_mode}: a StyleGAN network exports const or none"
            )
        G, file = loading.load_generator(FLAGS.network, FLAGS.precision)
        if fmt == "savedmodel":
            export_generator(G, dest, FLAGS.trunc, source=file, noise_mode=noise_mode)
            print(
                f"Exported {file} to {dest} "
                "(signatures serving_default, generate, png, mapping, synthesis)"
            )
            return
        export_formats.export_format(
            G, dest, fmt, FLAGS.trunc, FLAGS.output, FLAGS.quantize, noise_mode, file
        )
        files = ", ".join(sorted(p.name for p in dest.iterdir()))
        print(f"Exported {file} to {dest} as {fmt} ({files})")


def _export_alae(file, dest, fmt):
    """A StyleALAE network: encoder and generator (apps/export_alae.py)."""
    if FLAGS.precision != "fp32":
        raise cli.UserError(f"--precision {FLAGS.precision}: StyleALAE exports in float32")
    if FLAGS.output != "uint8":
        raise cli.UserError("--output: StyleALAE exports uint8 images")
    model, file = loading.load_alae(file)
    psi = FLAGS.trunc if FLAGS["trunc"].present else (model.truncation_psi or 1.0)
    noise_mode = FLAGS["noise-mode"].value or "deterministic"
    if fmt == "savedmodel":
        export_alae.export_alae(model, dest, psi, source=file, noise_mode=noise_mode)
        names = "serving_default, encode, decode, reconstruct, mapping"
    else:
        export_alae.export_alae_format(model, dest, fmt, psi, FLAGS.quantize, noise_mode, file)
        names = ", ".join(sorted(p.name for p in dest.iterdir()))
    print(f"Exported the StyleALAE {file} to {dest} as {fmt} ({names})")


def run():
    quiet_tensorflow("2")
    define_flags()
    cli.run_script(main, sys.modules[__name__])


if __name__ == "__main__":
    run()
