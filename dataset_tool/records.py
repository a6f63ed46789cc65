"""The one definition of the dataset format: TFRecord schema, file naming, labels file and manifest.

Official-compatibility decision
-------------------------------
A dataset is one directory DATA_DIR whose files are prefixed with its base name <name>:

    <name>-rXX.tfrecords          one file per level, XX = log2(resolution), from the full
    resolution down to r02
    <name>-rXX.tfrecords.PPP      the same, split into K parts (--gpus N / --shards K; ALAE's
    naming, PPP = 000...)
    <name>-rxx.labels             float32 [N, c_dim] one-hot rows as an .npy file (np.save), record
    order
    dataset.json                  our manifest (resolution, channels, count, levels, shards,
    encoding, labels ...)

Every record is a tf.train.Example with exactly the official two features: `shape` (int64 [C,H,W])
and `data` (one bytes value). With the default raw encoding `data` is the uint8 CHW array in C
order. With one shard and raw encoding the .tfrecords and .labels files are those NVIDIA's
dataset_tool.py writes, byte for byte (same image order with seed 123, same add_image arithmetic,
same Example, uncompressed TFRecord framing), and NVIDIA's reader, which globs `*.tfrecords` and
`*.labels`, reads the directory unchanged (it ignores dataset.json). We keep the official schema
even for shards and PNG, rather than adding features: labels stay in the side file (row j belongs to
global record j), and `--encoding png` only changes what `data` holds (lossless PNG bytes of the HWC
image); the manifest says which. Without a manifest a directory is read as an official raw set.

Sharding rule: the j-th written image (0-based, in output order) goes to part j % K, at position j
// K, at every level; parts are therefore balanced (sizes differ by at most one) and the global
order is the round-robin interleave of the parts. With K = 1 this is the official single file.

Protobuf map order: an Example's feature map is serialized with its keys sorted ('data' before
'shape'), which is protobuf's deterministic serialization (`SerializeToString(deterministic=True)`).
NVIDIA's tool calls plain `SerializeToString()`, whose map order is not fixed: with today's upb
protobuf it is chosen per process (we saw both orders from identical code), and older C++ protobuf
seeded its map hashing too. So "byte for byte" means: equal to NVIDIA's writer with deterministic
serialization, and equal record by record (same features, same values, same framing) to any run of
it. Every reader (TF's parse_single_example, NVIDIA's reader) accepts both.

This module imports nothing from the repo and not TensorFlow: worker processes and the inspection
commands use it without paying for a TensorFlow import.
"""

import functools
import json
import math
import os
import pathlib
import re
import struct

import numpy as np

FORMAT = "tf-stylegan2-tfrecords"
FORMAT_VERSION = 1
MANIFEST = "dataset.json"
ENCODINGS = ("raw", "png")
OFFICIAL_SHUFFLE_SEED = (
    123  # np.random.RandomState(123).shuffle(np.arange(N)), as NVIDIA's choose_shuffled_order
)

_RECORD_RE = re.compile(r"^(?P<name>.*)-r(?P<level>\d\d)\.tfrecords(?:\.(?P<part>\d{3}))?$")


class DatasetError(Exception):
    """A user error (bad input or bad dataset); the CLI prints it as one line and exits with status
    2."""


# ----------------------------------------------------------------------------
# Naming.


def dataset_name(data_dir):
    """Base name of DATA_DIR (trailing separators stripped; official prefix rule)."""
    name = os.path.basename(os.path.normpath(os.fspath(data_dir)))
    if not name or name in (".", ".."):
        name = os.path.basename(os.path.abspath(os.fspath(data_dir)))
    return name


def record_filename(name, level, part=0, shards=1):
    """`<name>-rXX.tfrecords` for one shard, `<name>-rXX.tfrecords.PPP` for several."""
    base = f"{name}-r{level:02d}.tfrecords"
    return base if shards == 1 else f"{base}.{part:03d}"


def labels_filename(name):
    return f"{name}-rxx.labels"


def levels_for(resolution):
    """Levels (log2 resolutions) written for a given full resolution, full first, down to 2
    (4x4)."""
    res_log2 = int(round(math.log2(resolution)))
    if resolution < 4 or 2**res_log2 != resolution:
        raise DatasetError(f"resolution {resolution} is not a power of two >= 4")
    return list(range(res_log2, 1, -1))


def part_of(index, shards):
    """Part (shard) index and position inside it of the index-th written image."""
    return index % shards, index // shards


def part_counts(count, shards):
    return [len(range(p, count, shards)) for p in range(shards)]


# ----------------------------------------------------------------------------
# tf.train.Example with the two official features, serialized and parsed without TensorFlow.


def _varint(value):
    out = bytearray()
    value &= (1 << 64) - 1  # int64 two's complement, as protobuf does
    while True:
        bits = value & 0x7F
        value >>= 7
        if value:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _field(number, payload):  # length-delimited field
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def serialize_example(shape, data):
    """Serialized tf.train.Example{shape: Int64List(shape), data: BytesList([data])} (keys
    sorted)."""
    head, tail = _example_frame(tuple(int(v) for v in shape), len(data))
    return b"".join((head, data, tail))


@functools.lru_cache(maxsize=256)
def _example_frame(shape, size):
    """The bytes before and after the data payload of an Example (the same for every image of a
    level)."""
    packed = b"".join(_varint(v) for v in shape)
    shape_feature = _field(3, _field(1, packed))  # Feature.int64_list -> Int64List.value (packed)
    marker = b"\0" * size
    data_feature = _field(1, _field(1, marker))  # Feature.bytes_list -> BytesList.value
    entries = _field(1, _field(1, b"data") + _field(2, data_feature)) + _field(
        1, _field(1, b"shape") + _field(2, shape_feature)
    )
    full = _field(1, entries)  # Example.features -> Features.feature map
    start = len(full) - len(_field(1, _field(1, b"shape") + _field(2, shape_feature))) - size
    return full[:start], full[start + size :]


def _read_varint(buf, pos):
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def _fields(buf):
    """(field number, wire type, value) of a protobuf message; value is int or memoryview."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(buf, pos)
        elif wire == 2:
            size, pos = _read_varint(buf, pos)
            value = buf[pos : pos + size]
            pos += size
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def parse_example(serialized):
    """dict feature name -> list of ints (int64_list), list of bytes (bytes_list) or list of
    floats."""
    features = {}
    buf = memoryview(serialized)
    for number, _, example_field in _fields(buf):
        if number != 1:
            continue
        for entry_number, _, entry in _fields(example_field):
            if entry_number != 1:
                continue
            key, feature = None, None
            for n, _, v in _fields(entry):
                if n == 1:
                    key = bytes(v).decode("utf-8")
                elif n == 2:
                    feature = v
            values = []
            for kind, _, lst in _fields(feature if feature is not None else b""):
                for n, wire, v in _fields(lst):
                    if n != 1:
                        continue
                    if kind == 1:
                        values.append(bytes(v))
                    elif kind == 3 and wire == 2:  # packed int64
                        pos = 0
                        while pos < len(v):
                            x, pos = _read_varint(v, pos)
                            values.append(x - (1 << 64) if x >> 63 else x)
                    elif kind == 3:
                        values.append(v - (1 << 64) if v >> 63 else v)
                    elif kind == 2 and wire == 2:
                        values.extend(np.frombuffer(bytes(v), "<f4").tolist())
                    elif kind == 2:
                        values.append(struct.unpack("<f", bytes(v))[0])
            features[key] = values
    return features


def decode_example(serialized, encoding="raw"):
    """uint8 image HWC from one record (raw CHW bytes or PNG bytes)."""
    features = parse_example(serialized)
    c, h, w = features["shape"]
    data = features["data"][0]
    if encoding == "png":
        import io

        import PIL.Image

        img = np.asarray(PIL.Image.open(io.BytesIO(data)))
        return img.reshape(h, w, c)
    return np.frombuffer(data, np.uint8).reshape(c, h, w).transpose(1, 2, 0)


# ----------------------------------------------------------------------------
# TFRecord framing, reading (writing: dataset_tool/record_file.py).


def iter_records(path):
    """Yields the payload bytes of every record of an uncompressed TFRecord file (CRCs not
    checked)."""
    with open(path, "rb") as f:
        while True:
            header = f.read(12)
            if not header:
                return
            if len(header) < 12:
                raise DatasetError(f"{path}: truncated TFRecord file")
            (length,) = struct.unpack("<Q", header[:8])
            data = f.read(length)
            if len(data) < length or len(f.read(4)) < 4:
                raise DatasetError(f"{path}: truncated TFRecord file")
            yield data


def count_records(path):
    count, size = 0, os.path.getsize(path)
    with open(path, "rb") as f:
        pos = 0
        while pos < size:
            header = f.read(8)
            if len(header) < 8:
                raise DatasetError(f"{path}: truncated TFRecord file")
            (length,) = struct.unpack("<Q", header)
            pos += 16 + length
            if pos > size:
                raise DatasetError(f"{path}: truncated TFRecord file")
            f.seek(pos)
            count += 1
    return count


def first_record(path):
    for data in iter_records(path):
        return data
    raise DatasetError(f"{path}: empty TFRecord file")


# ----------------------------------------------------------------------------
# Manifest and directory description.


def write_manifest(data_dir, manifest):
    path = pathlib.Path(data_dir) / MANIFEST
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def read_manifest(data_dir):
    path = pathlib.Path(data_dir) / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DatasetError(f"{path}: unreadable manifest ({e})") from None
    if manifest.get("format") != FORMAT:
        return None  # e.g. an ada-pytorch dataset.json: not ours
    if manifest.get("format_version", 0) > FORMAT_VERSION:
        raise DatasetError(
            f"{path}: format_version {manifest['format_version']} is newer than this tool "
            f"({FORMAT_VERSION})"
        )
    return manifest


def _labels_entry(name, c_dim, label_names, multi_hot):
    entry = {"file": labels_filename(name), "c_dim": c_dim, "names": label_names}
    if multi_hot is not None:  # attribute tables: one 0/1 column per attribute
        entry["multi_hot"] = bool(multi_hot)
    return entry


def make_manifest(
    name,
    resolution,
    channels,
    count,
    shards,
    encoding,
    c_dim,
    label_names=None,
    shuffle_seed=None,
    source=None,
    command=None,
    skipped=0,
    multi_hot=None,
):
    levels = levels_for(resolution)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": name,
        "resolution": resolution,
        "channels": channels,
        "count": count,
        "levels": levels,
        "shards": shards,
        "part_counts": part_counts(count, shards),
        "encoding": encoding,
        "files": {
            str(lv): [record_filename(name, lv, p, shards) for p in range(shards)] for lv in levels
        },
        "labels": None if not c_dim else _labels_entry(name, c_dim, label_names, multi_hot),
        "shuffle_seed": shuffle_seed,
        "source": source,
        "command": command,
        "skipped": skipped,
    }


def is_dataset_dir(data_dir):
    """True when DATA_DIR holds a dataset of ours or NVIDIA's (a manifest or *-rXX.tfrecords)."""
    data_dir = pathlib.Path(data_dir)
    if not data_dir.is_dir():
        return False
    return (data_dir / MANIFEST).is_file() or any(
        _RECORD_RE.match(p.name) for p in data_dir.iterdir() if p.is_file()
    )


def scan(data_dir):
    """Record files of DATA_DIR: dict level -> sorted list of paths (parts), without a manifest."""
    data_dir = pathlib.Path(data_dir)
    if not data_dir.is_dir():
        raise DatasetError(f"{data_dir}: no such dataset directory")
    files = {}
    for path in sorted(data_dir.iterdir()):
        m = _RECORD_RE.match(path.name)
        if m and path.is_file():
            files.setdefault(int(m.group("level")), []).append(path)
    if not files:
        raise DatasetError(f"{data_dir}: no *-rXX.tfrecords files")
    return files


def describe(data_dir, count_all=False):
    """What a reader needs: resolution, channels, count, levels, files per level, encoding, labels.

    Uses dataset.json when present, otherwise inspects an official directory (first record of the
    top level, record count of the 4x4 level, first *.labels in sorted order, as NVIDIA's reader
    does).
    """
    data_dir = pathlib.Path(data_dir)
    manifest = read_manifest(data_dir)
    if manifest is not None:
        info = dict(manifest)
        info["files"] = {
            int(lv): [data_dir / f for f in fs] for lv, fs in manifest["files"].items()
        }
        for lv, fs in info["files"].items():
            for f in fs:
                if not f.is_file():
                    raise DatasetError(f"{f}: missing (listed in {data_dir / MANIFEST})")
        info["labels_file"] = data_dir / manifest["labels"]["file"] if manifest["labels"] else None
        info["c_dim"] = manifest["labels"]["c_dim"] if manifest["labels"] else 0
        info["official"] = False
    else:
        files = scan(data_dir)
        top = max(files)
        shards = len(files[top])
        c, h, w = parse_example(first_record(files[top][0]))["shape"]
        if h != w or h != 2**top:
            raise DatasetError(
                f"{files[top][0]}: record shape {[c, h, w]} does not match its level r{top:02d}"
            )
        count = sum(count_records(f) for f in files[min(files)])
        labels = sorted(data_dir.glob("*.labels"))
        info = {
            "name": dataset_name(data_dir),
            "resolution": h,
            "channels": c,
            "count": count,
            "levels": sorted(files, reverse=True),
            "shards": shards,
            "part_counts": None,
            "encoding": "raw",
            "files": files,
            "labels_file": labels[0] if labels else None,
            "c_dim": 0,
            "official": True,
        }
        if labels:
            info["c_dim"] = int(np.load(labels[0], mmap_mode="r").shape[1])
    if count_all:
        info["level_counts"] = {
            lv: [count_records(f) for f in fs] for lv, fs in info["files"].items()
        }
    return info


def is_multi_hot(labels, manifest_multi_hot=None):
    """True unless every row of `labels` [N, c_dim] is one-hot (multi-hot attributes); the
    manifest's `multi_hot`, when recorded, wins."""
    if manifest_multi_hot is not None:
        return bool(manifest_multi_hot)
    labels = np.asarray(labels)
    if labels.size == 0:
        return False
    binary = np.all((labels == 0) | (labels == 1))
    return not (binary and np.all(labels.sum(axis=1) == 1))


def load_labels(info):
    """float32 [count, c_dim] label table in global record order ([count, 0] without labels)."""
    if not info.get("labels_file"):
        return np.zeros([info["count"], 0], np.float32)
    labels = np.load(info["labels_file"])
    if labels.ndim != 2 or labels.shape[0] < info["count"]:
        raise DatasetError(
            f"{info['labels_file']}: shape {labels.shape} does not fit {info['count']} images"
        )
    return labels[: info["count"]].astype(np.float32)
