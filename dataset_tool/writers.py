"""Turning one image into its per-level records, and writing a dataset directory atomically.

`encode_levels` runs in worker processes (numpy + PIL only). `DatasetWriter` runs in the main
process and writes the record files (dataset_tool/record_file.py).
"""

import io
import os
import pathlib
import shutil

import numpy as np

from dataset_tool import record_file, records

# ----------------------------------------------------------------------------
# Per-image work (worker side).


def pyramid(img_chw):
    """uint8 CHW arrays for every level, full resolution first, with NVIDIA's add_image arithmetic.

    Each lower level is the 2x2 mean of the *unrounded* float32 level above, summed in the official
    order ((a + b) + c) + d then * 0.25, and stored as uint8(clip(rint(x), 0, 255)) (rint = round
    half to even). The in-place float32 operations below are the same operations in the same order;
    clip is omitted because a mean of values in [0, 255] stays in [0, 255], and the uint8 input is
    level 0 unchanged.
    """
    img = np.ascontiguousarray(img_chw, dtype=np.uint8)
    out = [img]
    x = img.astype(np.float32)
    while x.shape[1] > 4:
        s = x[:, 0::2, 0::2] + x[:, 0::2, 1::2]
        s += x[:, 1::2, 0::2]
        s += x[:, 1::2, 1::2]
        s *= np.float32(0.25)
        x = s
        out.append(np.rint(x).astype(np.uint8))
    return out


def _png_bytes(level_chw):
    import PIL.Image

    c = level_chw.shape[0]
    hwc = level_chw.transpose(1, 2, 0)
    img = PIL.Image.fromarray(hwc[:, :, 0] if c == 1 else hwc, "L" if c == 1 else "RGB")
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def encode_levels(img_chw, encoding="raw"):
    """Serialized tf.train.Example bytes for every level of one uint8 CHW image (full resolution
    first)."""
    out = []
    for level in pyramid(img_chw):
        data = level.tobytes() if encoding == "raw" else _png_bytes(level)
        out.append(records.serialize_example(level.shape, data))
    return out


# ----------------------------------------------------------------------------
# TFRecord writing (main process).

# ----------------------------------------------------------------------------
# Directory handling (main process).


def _overlap(a, b):
    """True when folder a is, contains or lies inside path b (both resolved)."""
    return a == b or a in b.parents or b in a.parents


def check_target(data_dir, overwrite, source=None, log=None):
    """DATA_DIR as a Path, after checking it is missing, empty, or a dataset that may be
    overwritten.

    source: the input path (folder or file); DATA_DIR may not be, contain or lie inside it, so no
    build or --overwrite can touch the user's images. --overwrite replaces only a folder that holds
    a dataset (manifest or records), never an unrelated folder, and `log` says what it replaces.
    """
    data_dir = pathlib.Path(os.path.normpath(os.fspath(data_dir)))
    if source is not None:
        src = pathlib.Path(os.fspath(source)).resolve()
        if _overlap(data_dir.resolve(), src):
            raise records.DatasetError(
                f"{data_dir}: the output folder is, contains or lies inside the source {source}; "
                f"choose an output folder outside it"
            )
    if data_dir.exists():
        if not data_dir.is_dir():
            raise records.DatasetError(f"{data_dir}: exists and is not a directory")
        entries = sorted(p.name for p in data_dir.iterdir())
        if entries and not overwrite:
            raise records.DatasetError(
                f"{data_dir}: directory is not empty (pass --overwrite to replace it)"
            )
        if entries and not records.is_dataset_dir(data_dir):
            raise records.DatasetError(
                f"{data_dir}: not a dataset folder (no {records.MANIFEST} or *-rXX.tfrecords); "
                f"--overwrite replaces only a dataset, choose an empty or new folder"
            )
        if entries and log is not None:
            shown = ", ".join(entries[:4]) + (
                f" and {len(entries) - 4} more" if len(entries) > 4 else ""
            )
            log(
                f"--overwrite: the dataset in {data_dir} ({len(entries)} files: {shown}) will be "
                f"replaced when the new one is complete"
            )
    return data_dir


def prepare_target(data_dir, overwrite):
    """Checks DATA_DIR may be written; returns it and the temporary build folder beside it
    (created)."""
    data_dir = check_target(data_dir, overwrite)  # the source was checked by the command
    created = []  # parent folders made here, removed again if the build fails
    parent = data_dir.parent
    while not parent.exists():
        created.append(parent)
        parent = parent.parent
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = data_dir.parent / f".{data_dir.name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    return data_dir, tmp, created


def commit_target(tmp, data_dir):
    """Replaces DATA_DIR by the finished temporary folder (rename; the old content goes only at the
    end)."""
    old = None
    if data_dir.exists():
        old = data_dir.parent / f".{data_dir.name}.old-{os.getpid()}"
        os.rename(data_dir, old)
    os.rename(tmp, data_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


class DatasetWriter:
    """Writes records for every level and part into a temporary folder; `close` renames it to
    DATA_DIR.

    Used as a context manager: on any exception the temporary folder is removed and DATA_DIR is
    untouched.
    """

    def __init__(self, data_dir, shards=1, encoding="raw", overwrite=False):
        if encoding not in records.ENCODINGS:
            raise records.DatasetError(f"unknown encoding {encoding!r} (choose raw or png)")
        self.data_dir, self.tmp, self._created = prepare_target(data_dir, overwrite)
        self.name = records.dataset_name(self.data_dir)
        self.shards = shards
        self.encoding = encoding
        self.shape = None  # [C, H, W] of the full level
        self.count = 0
        self.labels = []
        self._writers = None  # [level index][part] -> record_file writer

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.abort()
        return False

    def _open(self, shape):
        record_writer = record_file.writer_factory()
        self.shape = list(shape)
        self.levels = records.levels_for(shape[1])
        self._writers = [
            [
                record_writer(
                    str(self.tmp / records.record_filename(self.name, lv, p, self.shards))
                )
                for p in range(self.shards)
            ]
            for lv in self.levels
        ]

    def add(self, shape, level_records, label=None):
        """Adds one image given its serialized records for every level (from `encode_levels`).

        label: None, a class index (stored as a one-hot row) or a float32 row.
        """
        if self._writers is None:
            self._open(shape)
        part, _ = records.part_of(self.count, self.shards)
        for writers, data in zip(self._writers, level_records):
            writers[part].write(data)
        if label is not None:
            self.labels.append(label)
        self.count += 1

    def close(self, c_dim=0, label_names=None, **manifest_kwargs):
        """Flushes, writes labels and manifest, renames the folder to DATA_DIR; returns the
        manifest."""
        if self._writers is None:
            raise records.DatasetError("no images were added")
        for writers in self._writers:
            for w in writers:
                w.close()
        self._writers = None
        if c_dim:
            labels = np.zeros([self.count, c_dim], np.float32)
            for i, label in enumerate(self.labels):
                if isinstance(label, int):
                    labels[i, label] = 1.0  # class index -> one-hot row
                else:
                    labels[i] = label
            with open(self.tmp / records.labels_filename(self.name), "wb") as f:
                np.save(f, labels)
        manifest = records.make_manifest(
            self.name,
            self.shape[1],
            self.shape[0],
            self.count,
            self.shards,
            self.encoding,
            c_dim,
            label_names,
            **manifest_kwargs,
        )
        records.write_manifest(self.tmp, manifest)
        commit_target(self.tmp, self.data_dir)
        return manifest

    def abort(self):
        if self._writers is not None:
            for writers in self._writers:
                for w in writers:
                    try:
                        w.close()
                    except Exception:  # noqa: BLE001 - best effort on the way out
                        pass
            self._writers = None
        shutil.rmtree(self.tmp, ignore_errors=True)
        for folder in self._created:  # innermost first
            try:
                folder.rmdir()
            except OSError:
                break
