"""Network snapshots: one Keras archive (.keras) holding G, D and G_ema (StyleALAE runs: ALAE and
ALAE_ema), written atomically."""

import pathlib
import zipfile

import keras

from fileio import atomic
from tf_stylegan2.networks import (  # noqa: F401  (registers the classes)
    Discriminator,
    Generator,
    alae,  # noqa: F401  (registers ALAE)
)

PACKAGE = "tf_stylegan2"
NET_NAMES = ("G", "D", "G_ema", "ALAE", "ALAE_ema")


@keras.saving.register_keras_serializable(package=PACKAGE)
class NetworkSnapshot(keras.Model):
    """Container model holding a snapshot's networks as attributes `G`, `D`, `G_ema`, `ALAE`,
    `ALAE_ema` (or None).

    It only exists to be saved and loaded; calling it is not supported.
    """

    def __init__(self, G=None, D=None, G_ema=None, ALAE=None, ALAE_ema=None, **kwargs):
        super().__init__(**kwargs)
        self.G = _deserialize(G)
        self.D = _deserialize(D)
        self.G_ema = _deserialize(G_ema)
        self.ALAE = _deserialize(ALAE)
        self.ALAE_ema = _deserialize(ALAE_ema)
        self.built = True

    def call(self, *args, **kwargs):
        raise NotImplementedError("NetworkSnapshot is a container; call .G, .D or .G_ema")

    def nets(self):
        return {name: getattr(self, name) for name in NET_NAMES if getattr(self, name) is not None}

    def get_config(self):
        config = super().get_config()  # name, trainable, dtype
        for name in NET_NAMES:
            net = getattr(self, name)
            config[name] = None if net is None else keras.saving.serialize_keras_object(net)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _deserialize(obj):
    if obj is None or isinstance(obj, keras.layers.Layer):
        return obj
    return keras.saving.deserialize_keras_object(obj)


def save_snapshot(path, G=None, D=None, G_ema=None, ALAE=None, ALAE_ema=None):
    """Write the networks given (any may be None, not all) to `path` (.keras): temporary name +
    rename."""
    path = pathlib.Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"{path}: snapshot files must end in .keras")
    nets = [n for n in (G, D, G_ema, ALAE, ALAE_ema) if n is not None]
    if not nets:
        raise ValueError("save_snapshot needs at least one of G, D, G_ema, ALAE, ALAE_ema")
    if len({id(n) for n in nets}) != len(nets):
        raise ValueError(
            "save_snapshot: G, D and G_ema must be different objects (Keras saves a shared "
            "layer once); pass a copy, e.g. G_ema = Generator.from_config(G.get_config())"
        )
    snap = NetworkSnapshot(
        G=G, D=D, G_ema=G_ema, ALAE=ALAE, ALAE_ema=ALAE_ema, name="network_snapshot"
    )
    with atomic.replacing(path) as tmp:  # keeps the .keras suffix Keras asks for
        snap.save(str(tmp))
    return str(path)


def _check_archive(path):
    """A .keras file is a zip archive: say 'truncated or corrupt' plainly (Keras reports a damaged
    archive as 'File not found')."""
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise ValueError(
            f"{path}: truncated or corrupt .keras snapshot (not a readable zip archive: {e})"
        ) from None
    if damaged is not None:
        raise ValueError(f"{path}: corrupt .keras snapshot (damaged member {damaged})")
    if "config.json" not in names:
        raise ValueError(f"{path}: not a Keras archive (no config.json inside)")


def load_snapshot(path):
    """Our .keras snapshot -> dict with the saved keys among G, D, G_ema, ALAE, ALAE_ema."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such snapshot file")
    _check_archive(path)
    try:
        snap = keras.saving.load_model(str(path), compile=False)
    except Exception as e:  # keras raises many types for a bad archive
        raise ValueError(
            f"{path}: not a readable tf_stylegan2 snapshot ({type(e).__name__}: {e})"
        ) from None
    if not isinstance(snap, NetworkSnapshot):
        raise ValueError(
            f"{path}: a Keras archive but not a tf_stylegan2 network snapshot "
            f"(holds {type(snap).__name__})"
        )
    return snap.nets()


def load_network(path):
    """dict(G=, D=, G_ema=) from our `.keras` snapshot or an official `.pkl` (TF1 or ADA-PT);
    dict(ALAE=, ALAE_ema=) from an official ALAE `.pth` checkpoint."""
    path = pathlib.Path(path)
    if path.suffix == ".pkl":
        from tf_stylegan2 import legacy  # lazy: legacy imports networks

        return legacy.load_pickle(str(path))
    if path.suffix == ".keras":
        return load_snapshot(path)
    if path.suffix == ".pth":  # an official ALAE checkpoint: {'ALAE': ..., 'ALAE_ema': ...}
        from tf_stylegan2.legacy import alae_checkpoint

        return alae_checkpoint.load_checkpoint(path)
    raise ValueError(f"{path}: unknown network file type (expected .keras, .pkl or .pth)")
