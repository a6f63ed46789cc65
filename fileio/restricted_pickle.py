"""A restricted unpickler: pickles from the user's disk become plain data, nothing runs.

`pickle.load` imports and calls whatever a pickle names. `RestrictedUnpickler` resolves globals
only through a fixed table of stand-ins (BASE_GLOBALS: containers, bytes and numeric numpy arrays,
dtypes and scalars, plus what a caller adds, e.g. torch tensors in fileio/torch_files.py or NVIDIA's
network classes in tf_stylegan2/legacy/safe_pickle.py) and refuses every other global with
`PickleRefusedError` naming it. No stand-in executes, imports or evaluates anything from the pickle.
"""

import collections
import io
import pickle

import numpy as np


class PickleRefusedError(pickle.UnpicklingError):
    """The pickle names a global (or uses a feature) this reader does not allow."""


class FormatError(ValueError):
    """The file is not in the format the caller expects."""


class Marker:
    """A named token standing for a class that is only referenced, not built."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"<{self.name}>"


# ----------------------------------------------------------------------------
# numpy: dtypes, arrays, scalars.

NUMERIC_KINDS = "biufc"


class _DtypeSpec:
    """Stand-in for `numpy.dtype(code, align, copy)` + its BUILD state."""

    def __init__(self, code, align=False, copy=True):
        if not isinstance(code, str):
            raise PickleRefusedError(f"numpy dtype spec {code!r} is not a string")
        try:
            dtype = np.dtype(code)
        except TypeError as e:
            raise PickleRefusedError(f"numpy dtype {code!r}: {e}") from None
        if dtype.kind not in NUMERIC_KINDS or dtype.fields is not None:
            raise PickleRefusedError(f"numpy dtype {code!r} is not numeric")
        self.dtype = dtype

    def __setstate__(self, state):
        # (version, byteorder, subdescr, names, fields, elsize, alignment, flags)
        if not isinstance(state, tuple) or len(state) < 2:
            raise PickleRefusedError(f"bad numpy dtype state {state!r}")
        if any(item is not None for item in state[2:5]):
            raise PickleRefusedError("structured numpy dtypes are refused")
        order = state[1]
        if order not in ("<", ">", "|", "="):
            raise PickleRefusedError(f"bad numpy byte order {order!r}")
        if order in ("<", ">"):
            self.dtype = self.dtype.newbyteorder(order)


def as_dtype(spec):
    if isinstance(spec, _DtypeSpec):
        return spec.dtype
    raise PickleRefusedError(f"expected a numpy dtype, got {type(spec).__name__}")


_NDARRAY = Marker("numpy.ndarray")


class _SafeArray(np.ndarray):
    """What `numpy.core.multiarray._reconstruct` yields; BUILD fills it."""

    def __setstate__(self, state):
        # (version, shape, dtype, is_fortran, rawdata)
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise PickleRefusedError("bad numpy array state")
        version, shape, dtype, fortran, raw = state if len(state) == 5 else (1,) + state
        dtype = as_dtype(dtype)
        if isinstance(raw, str):  # Python 2 era pickles, read with latin1
            raw = raw.encode("latin1")
        if not isinstance(raw, (bytes, bytearray)):
            raise PickleRefusedError("numpy array data is not raw bytes")
        shape = tuple(int(s) for s in shape)
        count = int(np.prod(shape, dtype=np.int64))
        if len(raw) != count * dtype.itemsize:
            raise PickleRefusedError(
                f"numpy array data has {len(raw)} bytes, shape {shape} "
                f"needs {count * dtype.itemsize}"
            )
        np.ndarray.__setstate__(self, (version, shape, dtype, bool(fortran), raw))


def _np_reconstruct(subtype, shape, typecode):
    if subtype is not _NDARRAY:
        raise PickleRefusedError("numpy _reconstruct of something other than numpy.ndarray")
    return np.ndarray.__new__(_SafeArray, (0,), np.uint8)


def _np_scalar(dtype, raw=None):
    dtype = as_dtype(dtype)
    if isinstance(raw, str):  # Python 2 era pickles, read with latin1
        raw = raw.encode("latin1")
    if not isinstance(raw, bytes) or len(raw) != dtype.itemsize:
        raise PickleRefusedError("bad numpy scalar data")
    return np.frombuffer(raw, dtype)[0]


def _np_frombuffer(buf, dtype, shape, order):
    dtype = as_dtype(dtype) if isinstance(dtype, _DtypeSpec) else np.dtype(dtype)
    if dtype.kind not in NUMERIC_KINDS:
        raise PickleRefusedError(f"numpy dtype {dtype} is not numeric")
    array = np.frombuffer(bytes(buf), dtype)
    return array.reshape(shape, order=order).copy()


def _bytes(data=b""):
    # Protocols 0-1 pickle bytes as bytes([ints]); refuse bytes(n) (an allocation).
    if not isinstance(data, (list, tuple, bytes)):
        raise PickleRefusedError("bytes() of something other than a list of ints")
    return bytes(data)


def _codecs_encode(text, encoding="utf-8"):
    # Protocol-2 pickles of bytes written by Python 3 use _codecs.encode(s, 'latin1').
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise PickleRefusedError("_codecs.encode other than str -> latin1")
    return text.encode("latin1")


BASE_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "bytes"): _bytes,
    ("__builtin__", "set"): set,
    ("__builtin__", "frozenset"): frozenset,
    ("__builtin__", "bytes"): _bytes,
    ("_codecs", "encode"): _codecs_encode,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _DtypeSpec,
}
for _package in ("numpy.core", "numpy._core"):
    BASE_GLOBALS[(f"{_package}.multiarray", "_reconstruct")] = _np_reconstruct
    BASE_GLOBALS[(f"{_package}.multiarray", "scalar")] = _np_scalar
    BASE_GLOBALS[(f"{_package}.numeric", "_frombuffer")] = _np_frombuffer


class RestrictedUnpickler(pickle.Unpickler):
    """pickle.Unpickler that resolves globals only through `allowed` (default BASE_GLOBALS).

    persistent_load: None (refuse every persistent id) or a callable.
    """

    def __init__(self, file, source="pickle", persistent_load=None, allowed=None):
        super().__init__(file, encoding="latin1")
        self._source = source
        self._persistent = persistent_load
        self._allowed = BASE_GLOBALS if allowed is None else allowed

    def find_class(self, module, name):
        try:
            return self._allowed[(module, name)]
        except (KeyError, TypeError):
            raise PickleRefusedError(
                f"{self._source}: refused global '{module}.{name}': not one of the "
                "types this file may hold (nothing from a pickle is ever run)"
            ) from None

    def persistent_load(self, pid):
        if self._persistent is None:
            raise PickleRefusedError(f"{self._source}: unexpected persistent id {pid!r}")
        return self._persistent(pid)


def restricted_loads(data, source="pickle", persistent_load=None, allowed=None):
    """Bytes of one pickle -> plain data (see RestrictedUnpickler)."""
    return RestrictedUnpickler(io.BytesIO(data), source, persistent_load, allowed).load()
