"""Files written by `torch.save` (state dicts, ADA-PyTorch tensors), read with numpy only.

Both containers of torch.save are read: the zip archive of torch >= 1.6 (`*/data.pkl`,
`*/data/<key>` raw storages, `*/byteorder`) and the legacy stream (magic number, protocol version,
system info, the object pickle, the storage keys, then each storage's element count and bytes), as
torch/serialization.py writes them. The pickles go through fileio.restricted_pickle with the
tensor stand-ins below added to its table: tensors and parameters become numpy arrays (numeric
dtypes only), and nothing from the file is ever run.
"""

import io
import pathlib
import zipfile

import numpy as np

from fileio.restricted_pickle import (
    BASE_GLOBALS,
    FormatError,
    Marker,
    PickleRefusedError,
    RestrictedUnpickler,
    restricted_loads,
)

_STORAGE_DTYPES = {
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
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch/serialization.py MAGIC_NUMBER


class TorchStorageType(Marker):
    def __init__(self, name):
        super().__init__(f"torch.{name}")
        kind = _STORAGE_DTYPES[name]
        self.bfloat16 = kind == "bfloat16"
        self.dtype = np.dtype(np.uint16 if self.bfloat16 else kind)

    def decode(self, raw, numel):
        """Bytes (little endian) -> 1-D numpy array of `numel` elements."""
        if numel < 0 or len(raw) < numel * self.dtype.itemsize:
            raise PickleRefusedError(
                f"{self.name} data has {len(raw)} bytes, needs {numel} x {self.dtype.itemsize}"
            )
        array = np.frombuffer(raw, self.dtype.newbyteorder("<"), count=numel)
        if self.bfloat16:  # bfloat16 = the top half of a float32
            return (array.astype(np.uint32) << 16).view(np.float32)
        return array.astype(self.dtype.newbyteorder("="))


class _LazyStorage:
    """A storage of the legacy stream: its bytes follow the object pickle."""

    def __init__(self, kind, key, numel, view):
        self.kind, self.key, self.numel, self.view = kind, key, numel, view


class _PendingTensor:
    """A tensor on a _LazyStorage, built once the storage bytes are read."""

    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride)


def _tensor(storage, storage_offset, size, stride):
    if not isinstance(storage, np.ndarray) or storage.ndim != 1:
        raise PickleRefusedError("torch tensor without a decoded storage")
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


def rebuild_tensor(storage, storage_offset, size, stride, *unused):
    """torch._utils._rebuild_tensor(_v2)."""
    if isinstance(storage, _LazyStorage):
        return _PendingTensor(storage, storage_offset, size, stride)
    return _tensor(storage, storage_offset, size, stride)


def rebuild_parameter(data, requires_grad=False, backward_hooks=None, *state):
    """torch._utils._rebuild_parameter: the tensor's data."""
    if not isinstance(data, (np.ndarray, _PendingTensor)):
        raise PickleRefusedError("torch parameter without tensor data")
    return data


_TENSOR_TYPES = (Marker("torch.Tensor"), Marker("torch.nn.Parameter"))


def _rebuild_from_type_v2(func, new_type, args, state):
    if func not in (rebuild_tensor, rebuild_parameter):
        raise PickleRefusedError("torch _rebuild_from_type_v2 of an unknown function")
    if new_type not in _TENSOR_TYPES:
        raise PickleRefusedError("torch tensor subclass is refused")
    return func(*args)


def _torch_size(dims=()):
    return tuple(int(d) for d in dims)


def load_from_bytes(raw):
    """torch.storage._load_from_bytes: an embedded torch.save() of one storage."""
    if not isinstance(raw, bytes):
        raise PickleRefusedError("torch storage bytes expected")
    if raw[:4] == b"PK\x03\x04":
        return load_torch_zip(io.BytesIO(raw), "embedded torch storage")
    return load_torch_legacy(io.BytesIO(raw), "embedded torch storage")


TORCH_GLOBALS = dict(BASE_GLOBALS)
TORCH_GLOBALS.update(
    {
        ("torch._utils", "_rebuild_tensor"): rebuild_tensor,
        ("torch._utils", "_rebuild_tensor_v2"): rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): rebuild_parameter,
        ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
        ("torch", "Tensor"): _TENSOR_TYPES[0],
        ("torch._tensor", "Tensor"): _TENSOR_TYPES[0],
        ("torch.nn.parameter", "Parameter"): _TENSOR_TYPES[1],
        ("torch", "Size"): _torch_size,
        ("torch.storage", "_load_from_bytes"): load_from_bytes,
    }
)
TORCH_GLOBALS.update({("torch", name): TorchStorageType(name) for name in _STORAGE_DTYPES})


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


def _resolve(obj, data, source):
    """Replaces legacy-stream storages and pending tensors, in containers too, by arrays."""
    if isinstance(obj, _LazyStorage):
        array = data.get(obj.key)
        if array is None:
            raise FormatError(f"{source}: missing torch storage {obj.key}")
        if obj.view is not None:  # (view_key, offset, size): old storage views
            _, offset, size = obj.view
            array = array[int(offset) : int(offset) + int(size)]
        return array
    if isinstance(obj, _PendingTensor):
        storage, offset, size, stride = obj.args
        return _tensor(_resolve(storage, data, source), offset, size, stride)
    if isinstance(obj, dict):
        return type(obj)((k, _resolve(v, data, source)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_resolve(v, data, source) for v in obj)
    return obj


def load_torch_legacy(f, source, skip_magic=False, allowed=TORCH_GLOBALS):
    """Reads a legacy (non-zip) torch.save stream from file object `f`; returns its object."""

    def header():
        return RestrictedUnpickler(f, source, allowed=BASE_GLOBALS).load()

    if not skip_magic and header() != LEGACY_MAGIC:
        raise FormatError(f"{source}: not a torch.save file (bad magic number)")
    version = header()
    if version != 1001:
        raise FormatError(f"{source}: torch protocol version {version!r}")
    sys_info = header()
    if not isinstance(sys_info, dict) or not sys_info.get("little_endian", True):
        raise FormatError(f"{source}: big-endian torch data is not supported")
    storages = {}

    def persistent_load(pid):
        kind, key, numel, view = _storage_pid(pid, source)
        return storages.setdefault(key, _LazyStorage(kind, key, numel, view))

    obj = RestrictedUnpickler(f, source, persistent_load, allowed).load()
    data = {}
    for key in header():
        count = int.from_bytes(f.read(8), "little", signed=True)
        lazy = storages.get(str(key))
        if lazy is None or count < 0:
            raise FormatError(f"{source}: bad torch storage table")
        raw = f.read(count * lazy.kind.dtype.itemsize)
        data[str(key)] = lazy.kind.decode(raw, count)
    return _resolve(obj, data, source)


def load_torch_zip(f, source, allowed=TORCH_GLOBALS):
    """Reads a zip-format torch.save archive; returns its object with numpy data."""
    with zipfile.ZipFile(f) as archive:
        names = archive.namelist()
        pkl = [n for n in names if n.endswith("data.pkl") and n.count("/") == 1]
        if len(pkl) != 1:
            raise FormatError(f"{source}: not a torch.save zip (no single */data.pkl)")
        prefix = pkl[0][: -len("data.pkl")]
        byteorder = prefix + "byteorder"
        if byteorder in names and archive.read(byteorder).strip() != b"little":
            raise FormatError(f"{source}: big-endian torch data is not supported")
        cache = {}

        def persistent_load(pid):
            kind, key, _, _ = _storage_pid(pid, source)
            if key not in cache:
                try:
                    raw = archive.read(f"{prefix}data/{key}")
                except KeyError:
                    raise FormatError(f"{source}: missing torch storage {key}") from None
                cache[key] = kind.decode(raw, len(raw) // kind.dtype.itemsize)
            return cache[key]

        return restricted_loads(archive.read(pkl[0]), source, persistent_load, allowed)


def read_pth(path):
    """A `.pth` file (zip or legacy torch.save) -> its object, tensors as numpy arrays."""
    path = pathlib.Path(path)
    with open(path, "rb") as f:
        if zipfile.is_zipfile(f):
            f.seek(0)
            return load_torch_zip(f, str(path))
        f.seek(0)
        return load_torch_legacy(f, str(path))
