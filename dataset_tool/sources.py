"""Where images come from: image folders, label files, IDX (MNIST / Fashion-MNIST), CIFAR-10
batches, .npz.

Everything here is numpy + PIL (worker processes import it). Functions raise records.DatasetError
with one line that names the file and the problem.
"""

import csv
import gzip
import io
import json
import os
import pathlib
import tarfile

import numpy as np

from dataset_tool.records import DatasetError
from fileio import images as image_files
from fileio import restricted_pickle

IMAGE_EXTENSIONS = image_files.IMAGE_EXTENSIONS
FASHION_MNIST_DIRS = ("/usr/share/datasets/fashion-mnist", "~/.keras/datasets/fashion-mnist")


# ----------------------------------------------------------------------------
# Image folders.


def list_images(image_dir):
    """(sorted relative posix paths of the images under IMAGE_DIR, recursive; number of other
    files)."""
    root = pathlib.Path(image_dir)
    if not root.exists():
        raise DatasetError(f"{root}: no such directory")
    if not root.is_dir():
        raise DatasetError(f"{root}: not a directory")
    found, others = [], 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for fn in filenames:
            if fn.startswith("."):
                continue
            rel = pathlib.Path(dirpath, fn).relative_to(root).as_posix()
            if image_files.is_image_name(fn):
                found.append(rel)
            else:
                others += 1
    if not found:
        raise DatasetError(
            f"{root}: no images found (looked for {', '.join(IMAGE_EXTENSIONS)}, recursively)"
        )
    return sorted(found), others


def _resize(arr, width, height, resize_filter):
    import PIL.Image

    if arr.shape[1] == width and arr.shape[0] == height:
        return arr
    resample = {"box": PIL.Image.BOX, "lanczos": PIL.Image.LANCZOS}[resize_filter]
    img = PIL.Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)
    out = np.asarray(img.resize((width, height), resample), dtype=np.uint8)
    return out[:, :, np.newaxis] if out.ndim == 2 else out


def transform(arr, spec):
    """Applies --resolution/--transform to an HWC array; None when the image is dropped
    (center-crop-wide)."""
    if spec.get("pad_to"):
        size = spec["pad_to"]
        h, w = arr.shape[:2]
        if h > size or w > size:
            raise DatasetError(f"image of {w}x{h} is larger than --pad-to {size}")
        top, left = (size - h) // 2, (size - w) // 2
        arr = np.pad(arr, [(top, size - h - top), (left, size - w - left), (0, 0)])
    resolution, kind = spec.get("resolution"), spec.get("transform")
    if resolution is None:
        return arr
    width, height = resolution
    flt = spec.get("resize_filter", "box")
    h, w = arr.shape[:2]
    if kind == "center-crop":
        s = min(h, w)
        arr = arr[(h - s) // 2 : (h + s) // 2, (w - s) // 2 : (w + s) // 2]
        return _resize(arr, width, width, flt)
    if kind == "center-crop-wide":
        ch = int(np.round(width * h / w))
        if w < width or ch < height:
            return None
        arr = arr[(h - ch) // 2 : (h + ch) // 2]
        arr = _resize(arr, width, height, flt)
        canvas = np.zeros([width, width, arr.shape[2]], np.uint8)
        canvas[(width - height) // 2 : (width + height) // 2] = arr
        return canvas
    if kind == "resize" or h == w:
        return _resize(arr, width, width, flt)
    return arr  # non-square without a transform: reported by the caller


def load_image(path, spec):
    """uint8 HWC array of one image file after mode conversion and transform (None = dropped)."""
    import PIL.Image

    try:
        arr = image_files.read_image(path, spec.get("channels"))
    except (OSError, ValueError, SyntaxError, PIL.Image.DecompressionBombError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DatasetError(f"{path}: unreadable or corrupt image ({reason})") from None
    return transform(arr, spec)


def array_image(arr, spec):
    """uint8 HWC array from an in-memory image (HW, HWC with 1-4 channels) after the transform."""
    return transform(image_files.decode_array(arr, spec.get("channels")), spec)


# ----------------------------------------------------------------------------
# Labels for image folders.


def read_labels_file(path):
    """dict relative path -> class (int or str) from JSON or CSV.

    JSON: {"labels": [["dir/img.png", 3], ...]} (stylegan2-ada-pytorch's dataset.json), or
    {"img.png": 3, ...}. CSV: rows `file,class` (a header row whose second cell is not a class is
    skipped if it reads file,label/class).
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such labels file")
    text = path.read_text(encoding="utf-8-sig")
    mapping = {}
    if path.suffix.lower() == ".json" or text.lstrip().startswith(("{", "[")):
        try:
            obj = json.loads(text)
        except ValueError as e:
            raise DatasetError(f"{path}: not valid JSON ({e})") from None
        if isinstance(obj, dict) and "labels" in obj and isinstance(obj["labels"], list):
            pairs = obj["labels"]
        elif isinstance(obj, dict):
            pairs = list(obj.items())
        elif isinstance(obj, list):
            pairs = obj
        else:
            raise DatasetError(
                f'{path}: expected a JSON object or a {{"labels": [[file, class], ...]}} list'
            )
        for pair in pairs:
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise DatasetError(f"{path}: entry {pair!r} is not a [file, class] pair")
            mapping[str(pair[0]).replace("\\", "/")] = pair[1]
    else:
        rows = [r for r in csv.reader(io.StringIO(text)) if r and any(c.strip() for c in r)]
        if rows and rows[0][0].strip().lower() in ("file", "filename", "name", "path", "image"):
            rows = rows[1:]
        for i, row in enumerate(rows):
            while len(row) > 2 and not row[-1].strip():  # trailing commas
                row = row[:-1]
            if len(row) > 2:  # was silently read as its first label column
                raise DatasetError(
                    f"{path}: row {i + 1} has {len(row)} columns; a labels CSV has two "
                    "(`file,class`); give a table of several attributes with --attributes FILE"
                )
            if len(row) < 2:
                raise DatasetError(f"{path}: row {i + 1} {row!r} is not `file,class`")
            value = row[1].strip()
            mapping[row[0].strip().replace("\\", "/")] = (
                int(value) if value.lstrip("-").isdigit() else value
            )
    if not mapping:
        raise DatasetError(f"{path}: no labels in file")
    return mapping


def classes_of(values, where):
    """(class index per value, class names or None): ints are used as they are, strings are
    sorted."""
    values = list(values)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        bad = [v for v in values if v < 0]
        if bad:
            raise DatasetError(f"{where}: unknown label {bad[0]} (classes are integers >= 0)")
        return values, None
    if all(isinstance(v, str) and v for v in values):
        names = sorted(set(values))
        index = {n: i for i, n in enumerate(names)}
        return [index[v] for v in values], names
    bad = next(v for v in values if not (isinstance(v, str) and v) or isinstance(v, (bool, float)))
    raise DatasetError(
        f"{where}: unknown label {bad!r} (use class indices >= 0 or class names, not a mix)"
    )


def labels_for_files(files, mapping, labels_path, image_dir):
    """Class per file (same order), matching by relative path, then by unique base name."""
    by_rel = dict(mapping)
    by_base = {}
    for key in mapping:
        by_base.setdefault(os.path.basename(key), []).append(key)
    used, out = set(), []
    for rel in files:
        key = rel if rel in by_rel else None
        if key is None:
            cands = by_base.get(os.path.basename(rel), [])
            key = cands[0] if len(cands) == 1 else None
        if key is None:
            raise DatasetError(f"{labels_path}: no label for image {pathlib.Path(image_dir, rel)}")
        used.add(key)
        out.append(by_rel[key])
    return out


def labels_from_dirs(files, image_dir):
    names = []
    for rel in files:
        parts = rel.split("/")
        if len(parts) < 2:
            raise DatasetError(
                f"{pathlib.Path(image_dir, rel)}: not inside a class sub-folder "
                "(--labels-from-dirs)"
            )
        names.append(parts[0])
    return names


# ----------------------------------------------------------------------------
# Array sources.


def read_idx(path, magic):
    """uint8 array of an IDX file (.gz or raw); magic 2051 = images [N,rows,cols], 2049 = labels
    [N]."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise DatasetError(f"{path}: unreadable ({e})") from None
    dims = magic & 0xFF
    header = 4 + 4 * dims
    if len(data) < header or int.from_bytes(data[:4], "big") != magic:
        kind = "image" if magic == 2051 else "label"
        raise DatasetError(
            f"{path}: not an IDX {kind} file (magic {int.from_bytes(data[:4], 'big')}, "
            f"expected {magic})"
        )
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    if len(data) - header != int(np.prod(shape)):
        raise DatasetError(
            f"{path}: truncated IDX file ({len(data) - header} bytes for shape {shape})"
        )
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def read_mnist_dir(mnist_dir, split="train"):
    """(images uint8 [N,28,28], labels int [N]) from the IDX .gz files of a folder."""
    prefix = "train" if split == "train" else "t10k"
    root = pathlib.Path(mnist_dir)
    if not root.is_dir():
        raise DatasetError(f"{root}: no such directory")

    def find(stem):
        for name in (stem + ".gz", stem):
            if (root / name).is_file():
                return root / name
        raise DatasetError(f"{root / (stem + '.gz')}: no such file")

    images = read_idx(find(f"{prefix}-images-idx3-ubyte"), 2051)
    labels = read_idx(find(f"{prefix}-labels-idx1-ubyte"), 2049)
    if len(labels) != len(images):
        raise DatasetError(f"{root}: {len(images)} images but {len(labels)} labels")
    return images, labels.astype(np.int64)


def find_fashion_mnist(source=None, download=False, split="train"):
    """Folder holding Fashion-MNIST: --source, then /usr/share/datasets/..., then
    ~/.keras/datasets/...;
    with download=True keras fetches it into ~/.keras/datasets/fashion-mnist."""
    prefix = "train" if split == "train" else "t10k"
    wanted = f"{prefix}-images-idx3-ubyte.gz"
    if source:
        root = pathlib.Path(source).expanduser()
        if not root.is_dir():
            raise DatasetError(f"{root}: no such directory")
        return root
    tried = []
    for cand in FASHION_MNIST_DIRS:
        root = pathlib.Path(cand).expanduser()
        tried.append(str(root))
        if (root / wanted).is_file():
            return root
    if download:
        import keras  # the user asked for a download: keras fetches the official IDX .gz files

        keras.datasets.fashion_mnist.load_data()
        root = pathlib.Path(FASHION_MNIST_DIRS[1]).expanduser()
        if (root / wanted).is_file():
            return root
    raise DatasetError(
        f"{wanted}: not found in {' or '.join(tried)} (give the folder as SOURCE_DIR or "
        f"--source, or pass --download to fetch it with keras)"
    )


def read_cifar10(source, split="train"):
    """(images uint8 [N,32,32,3], labels int [N]) from the python-version batches folder or its
    .tar.gz."""
    source = pathlib.Path(source)
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    blobs = {}
    if source.is_file() and source.name.endswith((".tar.gz", ".tgz", ".tar")):
        try:
            with tarfile.open(source) as tar:
                for member in tar.getmembers():
                    base = os.path.basename(member.name)
                    if base in names:
                        blobs[base] = tar.extractfile(member).read()
        except (OSError, tarfile.TarError) as e:
            raise DatasetError(f"{source}: unreadable archive ({e})") from None
    elif source.is_dir():
        for name in names:
            if (source / name).is_file():
                blobs[name] = (source / name).read_bytes()
    else:
        raise DatasetError(f"{source}: no such directory")
    images, labels = [], []
    for name in names:
        if name not in blobs:
            raise DatasetError(f"{source / name}: no such file (expected CIFAR-10 python batches)")
        try:
            # A pickle from the user's disk: arrays, dicts and strings only, nothing runs.
            batch = restricted_pickle.restricted_loads(blobs[name], str(source / name))
            data = np.asarray(batch["data"], np.uint8).reshape(-1, 3, 32, 32)
            lab = np.asarray(batch["labels"], np.int64)
        except Exception as e:  # noqa: BLE001 - any unpickling problem is a corrupt input
            raise DatasetError(
                f"{source / name}: not a CIFAR-10 batch ({type(e).__name__}: {e})"
            ) from None
        images.append(data.transpose(0, 2, 3, 1))
        labels.append(lab)
    return np.concatenate(images), np.concatenate(labels)


def read_npz(path, ignore_labels=False):
    """(images uint8 [N,H,W,C] or [N,H,W], labels int [N] / float [N,c] / None, label names or
    None)."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as z:
            if "images" not in z:
                raise DatasetError(
                    f"{path}: no 'images' array (found {', '.join(z.files) or 'nothing'})"
                )
            images = z["images"]
            labels = None if ignore_labels or "labels" not in z else z["labels"]
            names = (
                [str(n) for n in z["label_names"]]
                if "label_names" in z and labels is not None
                else None
            )
    except DatasetError:
        raise
    except Exception as e:  # noqa: BLE001 - zip/npy errors of every kind mean a corrupt file
        raise DatasetError(f"{path}: unreadable .npz ({type(e).__name__}: {e})") from None
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise DatasetError(
            f"{path}: 'images' must be uint8 [N,H,W] or [N,H,W,C], got {images.dtype} "
            f"{list(images.shape)}"
        )
    if labels is not None:
        if len(labels) != len(images):
            raise DatasetError(f"{path}: {len(images)} images but {len(labels)} labels")
        if labels.ndim == 1:
            if not np.issubdtype(labels.dtype, np.integer):
                raise DatasetError(f"{path}: 1-D 'labels' must be integer class indices")
            if (labels < 0).any():
                i = int(np.argmax(labels < 0))
                raise DatasetError(
                    f"{path}: unknown label {int(labels[i])} at image {i} "
                    f"(pass --ignore-labels to drop the labels)"
                )
        elif labels.ndim != 2:
            raise DatasetError(f"{path}: 'labels' must be [N] class indices or [N,c] vectors")
    return images, labels, names
