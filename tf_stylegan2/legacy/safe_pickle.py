"""Official StyleGAN2 network pickles read without running them.

Official pickles are written by NVIDIA's TF1 code (`dnnlib.tflib.Network` states) and by
stylegan2-ada-pytorch (`torch_utils.persistence` modules with embedded source, tensors pickled by
torch). They go through fileio's restricted unpickler with the stand-ins below added to its table
(fileio/torch_files.py adds torch tensors and storages): every other global is refused with
`PickleRefusedError` naming it, and the embedded source code is kept as an inert string.

The stand-ins produce plain data:
* `PersistentObject` for a persistence-pickled module (class name, source text, state dict with
  `_parameters`, `_buffers`, `_modules`, `_init_kwargs` ...);
* `TFNetworkState` for a TF1 `Network` (the pickled state dict);
* `EasyDict` (a plain dict subclass); numpy arrays for arrays and tensors.
"""

import io

from fileio import torch_files
from fileio.restricted_pickle import FormatError, PickleRefusedError, RestrictedUnpickler

LegacyFormatError = FormatError  # the file is not a network pickle this reader understands


class UnsupportedTF1Pickle(LegacyFormatError):
    """A TF1 pickle (StyleGAN or StyleGAN2) whose layout our networks cannot express."""


__all__ = [
    "ALLOWED_GLOBALS",
    "EasyDict",
    "LegacyFormatError",
    "UnsupportedTF1Pickle",
    "PersistentObject",
    "PickleRefusedError",
    "TFNetworkState",
    "load_any",
]


class EasyDict(dict):
    """Stand-in for dnnlib.util.EasyDict: a dict; attribute access for reading."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class TFNetworkState:
    """Stand-in for dnnlib.tflib.network.Network: keeps the pickled state dict."""

    state = None  # set by BUILD (__setstate__)

    def __setstate__(self, state):
        if not isinstance(state, dict):
            raise PickleRefusedError("dnnlib.tflib.network.Network state is not a dict")
        self.state = dict(state)

    def __repr__(self):
        name = (self.state or {}).get("name")
        return f"TFNetworkState(name={name!r})"


class PersistentObject:
    """A torch_utils.persistence object: its class name, source text and state.

    `module_src` is never executed; it is kept only so callers can report it.
    """

    class_name, module_src, version, state = None, None, None, None

    def __init__(self, meta):
        if not isinstance(meta, dict):
            raise PickleRefusedError("persistence metadata is not a dict")
        if meta.get("type") != "class":
            raise PickleRefusedError(
                f"persistence metadata of type {meta.get('type')!r} (only 'class' is supported)"
            )
        state = meta.get("state")
        if not isinstance(state, dict):
            raise PickleRefusedError("persistence state is not a dict")
        self.class_name = str(meta.get("class_name"))
        self.module_src = meta.get("module_src")
        self.version = meta.get("version")
        self.state = state

    def __setstate__(self, state):
        # `_reconstruct_persistent_obj` results never get a BUILD from
        # persistence.py; refuse one rather than guess what it means.
        raise PickleRefusedError("unexpected state for a persistent object")

    def __repr__(self):
        return f"PersistentObject({self.class_name})"


ALLOWED_GLOBALS = dict(torch_files.TORCH_GLOBALS)
ALLOWED_GLOBALS.update(
    {
        ("dnnlib.util", "EasyDict"): EasyDict,
        ("dnnlib", "EasyDict"): EasyDict,
        ("dnnlib.tflib.network", "Network"): TFNetworkState,
        ("torch_utils.persistence", "_reconstruct_persistent_obj"): PersistentObject,
    }
)


def load_any(data, source):
    """Bytes of a pickle, legacy torch.save stream or torch zip -> object."""
    if data[:4] == b"PK\x03\x04":
        return torch_files.load_torch_zip(io.BytesIO(data), source, ALLOWED_GLOBALS)
    f = io.BytesIO(data)
    try:
        obj = RestrictedUnpickler(f, source, allowed=ALLOWED_GLOBALS).load()
    except PickleRefusedError:
        raise
    except Exception as e:  # noqa: BLE001 -- any parse failure means "not a pickle"
        if data[:1] != b"\x80":  # protocols 0-1 have no header: judge by failure
            raise LegacyFormatError(f"{source}: not a pickle file") from None
        raise LegacyFormatError(
            f"{source}: not a readable pickle ({type(e).__name__}: {e})"
        ) from None
    if isinstance(obj, int) and obj == torch_files.LEGACY_MAGIC:
        raise LegacyFormatError(
            f"{source}: a legacy torch.save file of tensors, not a network pickle"
        )
    return obj
