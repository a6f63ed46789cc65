"""A restricted unpickler for official StyleGAN2 network pickles.

Official pickles are written by NVIDIA's TF1 code (`dnnlib.tflib.Network` states)
and by stylegan2-ada-pytorch (`torch_utils.persistence` modules with embedded
source, tensors pickled by torch). Loading them with `pickle.load` would import
and run whatever the pickle names. This module never does that: `find_class`
maps a short, fixed list of (module, name) pairs to stand-ins defined here, and
refuses every other global with `PickleRefusedError` naming it. No stand-in
executes, imports or evaluates anything taken from the pickle; the embedded
source code is kept as an inert string.

The stand-ins produce plain data:
* numpy arrays for numpy arrays, torch tensors, parameters and storages
  (numeric dtypes only; object arrays are refused);
* `PersistentObject` for a persistence-pickled module (class name, source text,
  state dict with `_parameters`, `_buffers`, `_modules`, `_init_kwargs` ...);
* `TFNetworkState` for a TF1 `Network` (the pickled state dict);
* `EasyDict` (a plain dict subclass) and `collections.OrderedDict`.
"""

import collections
import io
import pickle
import zipfile

import numpy as np


class PickleRefusedError(pickle.UnpicklingError):
    """The pickle names a global (or uses a feature) this reader does not allow."""


class LegacyFormatError(ValueError):
    """The file is not a network pickle this reader understands."""


# ----------------------------------------------------------------------------
# Plain-data stand-ins.


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


class _Marker:
    """A named token standing for a class that is only referenced, not built."""

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"<{self.name}>"


# ----------------------------------------------------------------------------
# numpy: dtypes, arrays, scalars.

_NUMERIC_KINDS = "biufc"


class _DtypeSpec:
    """Stand-in for `numpy.dtype(code, align, copy)` + its BUILD state."""

    def __init__(self, code, align=False, copy=True):
        if not isinstance(code, str):
            raise PickleRefusedError(f"numpy dtype spec {code!r} is not a string")
        try:
            dtype = np.dtype(code)
        except TypeError as e:
            raise PickleRefusedError(f"numpy dtype {code!r}: {e}") from None
        if dtype.kind not in _NUMERIC_KINDS or dtype.fields is not None:
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


def _as_dtype(spec):
    if isinstance(spec, _DtypeSpec):
        return spec.dtype
    raise PickleRefusedError(f"expected a numpy dtype, got {type(spec).__name__}")


_NDARRAY = _Marker("numpy.ndarray")


class _SafeArray(np.ndarray):
    """What `numpy.core.multiarray._reconstruct` yields; BUILD fills it."""

    def __setstate__(self, state):
        # (version, shape, dtype, is_fortran, rawdata)
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise PickleRefusedError("bad numpy array state")
        version, shape, dtype, fortran, raw = state if len(state) == 5 else (1,) + state
        dtype = _as_dtype(dtype)
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
    dtype = _as_dtype(dtype)
    if isinstance(raw, str):  # Python 2 era pickles, read with latin1
        raw = raw.encode("latin1")
    if not isinstance(raw, bytes) or len(raw) != dtype.itemsize:
        raise PickleRefusedError("bad numpy scalar data")
    return np.frombuffer(raw, dtype)[0]


def _np_frombuffer(buf, dtype, shape, order):
    dtype = _as_dtype(dtype) if isinstance(dtype, _DtypeSpec) else np.dtype(dtype)
    if dtype.kind not in _NUMERIC_KINDS:
        raise PickleRefusedError(f"numpy dtype {dtype} is not numeric")
    array = np.frombuffer(bytes(buf), dtype)
    return array.reshape(shape, order=order).copy()


# ----------------------------------------------------------------------------
# torch: tensors, parameters, storages (decoded without torch).

_TORCH_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "BFloat16Storage": "bfloat16",
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
    "UntypedStorage": np.uint8,
}


class TorchStorageType(_Marker):
    def __init__(self, name):
        super().__init__(f"torch.{name}")
        kind = _TORCH_STORAGE_DTYPES[name]
        self.bfloat16 = kind == "bfloat16"
        self.dtype = np.dtype(np.uint16 if self.bfloat16 else kind)

    def decode(self, raw, numel):
        """Bytes (little endian) -> 1-D numpy array of `numel` elements."""
        if len(raw) < numel * self.dtype.itemsize:
            raise PickleRefusedError(
                f"{self.name} data has {len(raw)} bytes, needs {numel} x {self.dtype.itemsize}"
            )
        array = np.frombuffer(raw, self.dtype.newbyteorder("<"), count=numel)
        if self.bfloat16:  # bfloat16 = the top half of a float32
            return (array.astype(np.uint32) << 16).view(np.float32)
        return array.astype(self.dtype.newbyteorder("="))


def _storage_array(storage):
    if not isinstance(storage, np.ndarray) or storage.ndim != 1:
        raise PickleRefusedError("torch tensor without a decoded storage")
    return storage


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
    storage = _storage_array(storage)
    size = tuple(int(s) for s in size)
    stride = tuple(int(s) for s in stride)
    offset = int(storage_offset)
    if len(size) != len(stride) or offset < 0 or min(stride, default=0) < 0:
        raise PickleRefusedError(f"bad torch tensor layout {size} {stride}")
    if 0 in size:
        return np.zeros(size, storage.dtype)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= storage.shape[0]:  # as_strided must never read past the buffer
        raise PickleRefusedError(f"torch tensor {size} at offset {offset} overruns its storage")
    view = np.lib.stride_tricks.as_strided(
        storage[offset:],
        shape=size,
        strides=[s * storage.itemsize for s in stride],
        writeable=False,
    )
    return np.array(view, order="C")


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, *state):
    if not isinstance(data, np.ndarray):
        raise PickleRefusedError("torch parameter without tensor data")
    return data


_TORCH_TENSOR_TYPES = (_Marker("torch.Tensor"), _Marker("torch.nn.Parameter"))


def _rebuild_from_type_v2(func, new_type, args, state):
    if func not in (_rebuild_tensor, _rebuild_parameter):
        raise PickleRefusedError("torch _rebuild_from_type_v2 of an unknown function")
    if new_type not in _TORCH_TENSOR_TYPES:
        raise PickleRefusedError("torch tensor subclass is refused")
    return func(*args)


def _torch_size(dims=()):
    return tuple(int(d) for d in dims)


def _load_from_bytes(raw):
    """torch.storage._load_from_bytes: an embedded torch.save() of one storage."""
    if not isinstance(raw, bytes):
        raise PickleRefusedError("torch storage bytes expected")
    if raw[:4] == b"PK\x03\x04":
        return load_torch_zip(io.BytesIO(raw), "embedded torch storage")
    return load_torch_legacy(io.BytesIO(raw), "embedded torch storage")


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


# ----------------------------------------------------------------------------
# The table of allowed globals.


def _allowed_globals():
    table = {
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
        ("dnnlib.util", "EasyDict"): EasyDict,
        ("dnnlib", "EasyDict"): EasyDict,
        ("dnnlib.tflib.network", "Network"): TFNetworkState,
        ("torch_utils.persistence", "_reconstruct_persistent_obj"): PersistentObject,
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
        ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
        ("torch", "Tensor"): _TORCH_TENSOR_TYPES[0],
        ("torch._tensor", "Tensor"): _TORCH_TENSOR_TYPES[0],
        ("torch.nn.parameter", "Parameter"): _TORCH_TENSOR_TYPES[1],
        ("torch", "Size"): _torch_size,
        ("torch.storage", "_load_from_bytes"): _load_from_bytes,
    }
    for package in ("numpy.core", "numpy._core"):
        table[(f"{package}.multiarray", "_reconstruct")] = _np_reconstruct
        table[(f"{package}.multiarray", "scalar")] = _np_scalar
        table[(f"{package}.numeric", "_frombuffer")] = _np_frombuffer
    for name in _TORCH_STORAGE_DTYPES:
        table[("torch", name)] = TorchStorageType(name)
    return table


ALLOWED_GLOBALS = _allowed_globals()


class RestrictedUnpickler(pickle.Unpickler):
    """pickle.Unpickler that resolves globals only through ALLOWED_GLOBALS.

    persistent_load: None (refuse every persistent id) or a callable.
    """

    def __init__(self, file, source="pickle", persistent_load=None):
        super().__init__(file, encoding="latin1")
        self._source = source
        self._persistent = persistent_load

    def find_class(self, module, name):
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except (KeyError, TypeError):
            raise PickleRefusedError(
                f"{self._source}: refused global '{module}.{name}': not one of the "
                "known StyleGAN2 pickle types (nothing from a pickle is ever run)"
            ) from None

    def persistent_load(self, pid):
        if self._persistent is None:
            raise PickleRefusedError(f"{self._source}: unexpected persistent id {pid!r}")
        return self._persistent(pid)


def restricted_loads(data, source="pickle", persistent_load=None):
    return RestrictedUnpickler(io.BytesIO(data), source, persistent_load).load()


# ----------------------------------------------------------------------------
# torch.save containers: the legacy stream and the zip archive.

_TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def _storage_pid(pid, source):
    # ('storage', storage_type, key, location, numel[, view_metadata])
    if (
        not isinstance(pid, tuple)
        or len(pid) < 5
        or pid[0] != "storage"
        or not isinstance(pid[1], TorchStorageType)
    ):
        raise PickleRefusedError(f"{source}: unexpected persistent id {pid!r}")
    return pid[1], str(pid[2]), int(pid[4]), (pid[5] if len(pid) > 5 else None)


class _LazyStorage:
    def __init__(self, kind, key, numel, view):
        self.kind, self.key, self.numel, self.view = kind, key, numel, view


def load_torch_legacy(f, source, skip_magic=False):
    """Reads a legacy (non-zip) torch.save stream; returns its object.

    Layout: magic, protocol version, sys info, the object (storages as
    persistent ids), the sorted storage keys, then per key an int64 element
    count followed by the raw little-endian data.
    """
    if not skip_magic:
        magic = RestrictedUnpickler(f, source).load()
        if magic != _TORCH_LEGACY_MAGIC:
            raise LegacyFormatError(f"{source}: not a torch.save stream")
    version = RestrictedUnpickler(f, source).load()
    if version != 1001:
        raise LegacyFormatError(f"{source}: torch protocol version {version!r}")
    sys_info = RestrictedUnpickler(f, source).load()
    if not isinstance(sys_info, dict) or not sys_info.get("little_endian", True):
        raise LegacyFormatError(f"{source}: big-endian torch data is not supported")
    storages = {}

    def persistent_load(pid):
        kind, key, numel, view = _storage_pid(pid, source)
        return storages.setdefault(key, _LazyStorage(kind, key, numel, view))

    obj = RestrictedUnpickler(f, source, persistent_load).load()
    keys = RestrictedUnpickler(f, source).load()
    data = {}
    for key in keys:
        count = int.from_bytes(f.read(8), "little", signed=True)
        lazy = storages.get(str(key))
        if lazy is None or count < 0:
            raise LegacyFormatError(f"{source}: bad torch storage table")
        raw = f.read(count * lazy.kind.dtype.itemsize)
        data[str(key)] = lazy.kind.decode(raw, count)
    return _resolve_storages(obj, storages, data, source)


def _resolve_storages(obj, storages, data, source):
    def resolve(lazy):
        array = data.get(lazy.key)
        if array is None:
            raise LegacyFormatError(f"{source}: missing torch storage {lazy.key}")
        if lazy.view is not None:  # (view_key, offset, size): old storage views
            _, offset, size = lazy.view
            array = array[int(offset) : int(offset) + int(size)]
        return array

    if isinstance(obj, _LazyStorage):
        return resolve(obj)
    raise LegacyFormatError(
        f"{source}: torch stream holds {type(obj).__name__}, expected one storage"
    )


def load_torch_zip(f, source):
    """Reads a zip-format torch.save archive; returns its object with numpy data."""
    with zipfile.ZipFile(f) as archive:
        names = archive.namelist()
        pkl = [n for n in names if n.endswith("data.pkl") and n.count("/") == 1]
        if len(pkl) != 1:
            raise LegacyFormatError(f"{source}: zip file without one */data.pkl")
        prefix = pkl[0][: -len("data.pkl")]
        byteorder = prefix + "byteorder"
        if byteorder in names and archive.read(byteorder).strip() != b"little":
            raise LegacyFormatError(f"{source}: big-endian torch data is not supported")
        cache = {}

        def persistent_load(pid):
            kind, key, numel, _ = _storage_pid(pid, source)
            if key not in cache:
                try:
                    raw = archive.read(f"{prefix}data/{key}")
                except KeyError:
                    raise LegacyFormatError(f"{source}: missing torch storage {key}") from None
                if kind.name == "torch.UntypedStorage":
                    numel = len(raw)
                cache[key] = kind.decode(raw, numel)
            return cache[key]

        data = archive.read(pkl[0])
        return restricted_loads(data, source, persistent_load)


def load_any(data, source):
    """Bytes of a pickle, legacy torch.save stream or torch zip -> object."""
    if data[:4] == b"PK\x03\x04":
        return load_torch_zip(io.BytesIO(data), source)
    f = io.BytesIO(data)
    try:
        obj = RestrictedUnpickler(f, source).load()
    except PickleRefusedError:
        raise
    except Exception as e:  # noqa: BLE001 -- any parse failure means "not a pickle"
        if data[:1] != b"\x80":  # protocols 0-1 have no header: judge by failure
            raise LegacyFormatError(f"{source}: not a pickle file") from None
        raise LegacyFormatError(
            f"{source}: not a readable pickle ({type(e).__name__}: {e})"
        ) from None
    if isinstance(obj, int) and obj == _TORCH_LEGACY_MAGIC:
        raise LegacyFormatError(
            f"{source}: a legacy torch.save file of tensors, not a network pickle"
        )
    return obj
