"""Which network a command samples from: a .keras snapshot, a run folder (its latest snapshot) or
an official pickle, and the labels a conditional network needs."""

import json
import pathlib
import re

import numpy as np

from apps.cli import UserError

NETWORK_SNAPSHOT_RE = re.compile(r"^network-snapshot-(\d+)\.(keras|pkl)$")


def resolve_network(path):
    """The network file that `path` names; raises UserError with the reason otherwise."""
    p = pathlib.Path(str(path)).expanduser()
    if not p.exists():
        raise UserError(
            f"{path}: network not found (expected a .keras snapshot, a run folder, a .pkl or "
            f"an ALAE .pth)"
        )
    if p.is_dir():
        # Ours (.keras) or an official run folder (.pkl); the highest kimg wins, .keras on a tie.
        snaps = sorted(
            (int(m.group(1)), m.group(2) == "keras", f)
            for f in p.iterdir()
            if (m := NETWORK_SNAPSHOT_RE.match(f.name)) and f.is_file()
        )
        if not snaps:
            raise UserError(f"{path}: run folder holds no network-snapshot-NNNNNN.keras (or .pkl)")
        return snaps[-1][2]
    if p.suffix not in (".keras", ".pkl", ".pth"):
        raise UserError(
            f"{path}: unknown network format (expected .keras, .pkl, an ALAE .pth or a run folder)"
        )
    return p


def _load(file):
    import tf_stylegan2

    try:
        return tf_stylegan2.load_network(str(file))
    except Exception as e:  # noqa: BLE001 -- any reader failure is the user's file
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{file}: cannot load network ({type(e).__name__}: {first})") from e


def holds_alae(file):
    """Whether a resolved network file is a StyleALAE one (an official .pth, or a snapshot whose
    config names ALAE), without loading its weights."""
    import zipfile

    file = pathlib.Path(file)
    if file.suffix == ".pth":
        return True
    if file.suffix != ".keras":
        return False
    try:
        with zipfile.ZipFile(file) as archive:
            config = json.loads(archive.read("config.json"))
        return config.get("config", {}).get("ALAE") is not None
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, AttributeError):
        return False


def load_alae(path, which="ema"):
    """(model, file): the StyleALAE model of a snapshot, run folder or official .pth: the
    averaged one (ALAE_ema, what the official demos use) or the training one ('train')."""
    file = resolve_network(path)
    nets = _load(file)
    if not isinstance(nets, dict) or "ALAE" not in nets:
        raise UserError(f"{file}: not a StyleALAE network (it holds {', '.join(nets)})")
    if which == "ema" and nets.get("ALAE_ema") is not None:
        return nets["ALAE_ema"], file
    return nets["ALAE"], file


def load_generator(path, precision="fp32"):
    """(G, file): the generator to sample from: G_ema (Gs) when the file has one, else G, in
    `precision` (fp32 | bf16 | fp16 | fp64 | auto; see tf_stylegan2/networks/precision.py)."""
    file = resolve_network(path)
    nets = _load(file)
    G = nets.get("G_ema") if isinstance(nets, dict) else None
    if G is None and isinstance(nets, dict):
        G = nets.get("G")
    if G is None:
        hint = "; use encode.py for StyleALAE networks" if "ALAE" in nets else ""
        raise UserError(f"{file}: the file holds no generator (G_ema or G){hint}")
    return with_precision(G, precision), file


def with_precision(net, precision):
    """`net` in the dtype policy that `precision` names (a copy with the same weights)."""
    from tf_stylegan2.networks.precision import resolve_precision, with_policy

    try:
        return with_policy(net, resolve_precision(precision))
    except ValueError as e:
        raise UserError(f"--precision: {e}") from None


def class_labels(G, class_idx, batch=1):
    """Labels [batch, c_dim] with a 1 at class_idx (an int: one-hot; a tuple: a multi-hot mix,
    () for none), or None for an unconditional network."""
    if G.c_dim == 0:
        if class_idx is not None:
            raise UserError(f"--class {class_idx}: the network is unconditional (c_dim = 0)")
        return None
    if class_idx is None:
        raise UserError(
            f"--class is required: the network is conditional (c_dim = {G.c_dim}); --attrs "
            f"names attributes"
        )
    indices = class_idx if isinstance(class_idx, tuple) else (class_idx,)
    for k in indices:
        if not 0 <= k < G.c_dim:
            raise UserError(f"--class {k}: outside the network's classes 0..{G.c_dim - 1}")
    c = np.zeros([batch, G.c_dim], np.float32)
    c[:, list(indices)] = 1
    return c
