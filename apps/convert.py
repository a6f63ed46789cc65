"""Convert an official StyleGAN2 network pickle into our .keras snapshot.

    python convert.py --source stylegan2-ffhq-config-f.pkl --dest ffhq.keras

Reads NVIDIA's TF1 pickles (tuple G, D, Gs) and stylegan2-ada-pytorch pickles
(dict with G, D, G_ema) without TensorFlow 1 or PyTorch and without running
anything stored in the pickle (tf_stylegan2.legacy). Writes G, D and G_ema with
tf_stylegan2.save_snapshot; the file appears only when complete.
"""

import pathlib
import sys

from absl import flags

from apps import cli
from apps.quiet_start import quiet_tensorflow

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_string(
        "source", None, "Official network pickle (.pkl): TF1 or stylegan2-ada-pytorch."
    )
    flags.DEFINE_string("dest", None, "Output snapshot (.keras); replaced if it exists.")


def _describe(specs):
    parts = []
    for key, spec in specs.items():
        kw = spec.init_kwargs
        res = kw.get("img_resolution")
        extra = ""
        if spec.class_name in ("Discriminator", "BasicDiscriminator"):
            epilogue = kw.get("epilogue_kwargs") or kw  # BasicDiscriminator: at the top level
            group = epilogue.get("mbstd_group_size", 4)
            extra = f", mbstd group {group if group is not None else 'batch'}"
        parts.append(f"{key} {res}x{res}x{kw.get('img_channels')} c_dim {kw.get('c_dim')}{extra}")
    return "; ".join(parts)


def convert(source, dest):
    """source .pkl -> dest .keras. Raises cli.UserError for any problem with the input."""
    source, dest = pathlib.Path(source), pathlib.Path(dest)
    if dest.suffix != ".keras":
        raise cli.UserError(f"--dest {dest}: must end in .keras")
    if not dest.parent.is_dir():
        raise cli.UserError(f"--dest {dest}: folder {dest.parent} does not exist")
    if not source.is_file():
        raise cli.UserError(
            f"{source}: no such file" if not source.exists() else f"{source}: not a file"
        )
    if source.suffix == ".keras":
        raise cli.UserError(
            f"--source {source}: already a .keras snapshot of ours (convert.py "
            f"reads NVIDIA's .pkl files); use it directly with any command"
        )
    from tf_stylegan2 import legacy  # after the cheap checks: it loads TensorFlow

    try:
        specs = legacy.read_network_pickle(source)
    except (legacy.PickleRefusedError, legacy.LegacyFormatError, FileNotFoundError) as e:
        raise cli.UserError(_one_line(e)) from None
    origins = {"tf1": "TF1", "ada": "stylegan2-ada-pytorch", "sg1": "StyleGAN (config A) TF1"}
    origin = origins[next(iter(specs.values())).origin]
    print(f"Read {source} ({origin} pickle): {_describe(specs)}")
    try:
        nets = {key: legacy.build_network(spec) for key, spec in specs.items()}
    except (ValueError, KeyError) as e:
        raise cli.UserError(f"{source}: cannot build the networks ({_one_line(e)})") from None

    import tf_stylegan2

    tf_stylegan2.save_snapshot(str(dest), **nets)  # atomic
    print(f"Wrote {dest}")
    return dest


def _one_line(e):
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def main(argv):
    if len(argv) > 1:
        cli.fail(f"unexpected arguments: {' '.join(argv[1:])}")
    with cli.user_errors():
        for name in ("source", "dest"):
            if not FLAGS[name].value:
                raise cli.UserError(f"--{name} is required")
        convert(FLAGS.source, FLAGS.dest)


def run():
    quiet_tensorflow("2")
    define_flags()
    cli.run_script(main, sys.modules[__name__])
