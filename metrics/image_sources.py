"""Real images for the metrics: a folder of image files, one of our datasets (or NVIDIA's
TFRecords), an .npz or an array, each with a cache key that identifies its content."""

import hashlib
import json
import pathlib

import numpy as np

import dataset_tool.records as records
from fileio import images as image_files


class ImageSource:
    """Uniform access to real images: `len(src)`, `src.resolution`, `src.c_dim`, `src.labels`,
    `src.batches(batch_size, max_items, ...)` yielding (uint8 [N,H,W,C], float32 labels [N,c_dim]),
    and `src.cache_key` (identifies the content for the statistics cache)."""

    kind = "array"

    def __init__(self, images, labels=None, name="array"):
        self.images = images
        self.count = len(images)
        self.labels = (
            np.zeros([self.count, 0], np.float32)
            if labels is None
            else np.asarray(labels, np.float32)
        )
        self.name = name
        self.resolution = images.shape[1] if hasattr(images, "shape") and images.ndim >= 3 else None
        self.cache_key = None  # arrays are not cached

    def __len__(self):
        return self.count

    @property
    def c_dim(self):
        return self.labels.shape[1]

    def get(self, index):
        return image_files.decode_array(self.images[index])

    def iter_images(self, start=0):
        for i in range(start, self.count):
            yield self.get(i)

    def batches(
        self, batch_size, max_items=None, wrap=False, mirror=False, seed=0, with_labels=False
    ):
        """Images in order (the first max_items; wrapping around if wrap and the set is smaller)."""
        total = (
            self.count if max_items is None else (max_items if wrap else min(max_items, self.count))
        )
        rng = np.random.RandomState(seed)
        buf, lab, done = [], [], 0
        while done < total:
            for i, img in enumerate(self.iter_images()):
                if done >= total:
                    break
                if mirror and rng.rand() < 0.5:
                    img = img[:, ::-1]
                if buf and img.shape != buf[0].shape:  # a folder of mixed sizes: flush
                    yield self._emit(buf, lab, with_labels)
                    buf, lab = [], []
                buf.append(img)
                lab.append(self.labels[i])
                done += 1
                if len(buf) == batch_size:
                    yield self._emit(buf, lab, with_labels)
                    buf, lab = [], []
            if not wrap or self.count == 0:
                break
        if buf:
            yield self._emit(buf, lab, with_labels)

    @staticmethod
    def _emit(buf, lab, with_labels):
        images = np.stack(buf)
        return (images, np.stack(lab)) if with_labels else images

    def num_items(self, max_items=None, wrap=False):
        if max_items is None:
            return self.count
        return max_items if wrap else min(max_items, self.count)


class FolderSource(ImageSource):
    """Every image file under a folder (recursive), sorted by relative path; RGBA on white."""

    kind = "folder"

    def __init__(self, folder):
        folder = pathlib.Path(folder)
        self.files = sorted(
            p for p in folder.rglob("*") if image_files.is_image_name(p) and p.is_file()
        )
        if not self.files:
            raise ValueError(
                f"{folder}: no image files ({', '.join(image_files.IMAGE_EXTENSIONS)})"
            )
        self.count = len(self.files)
        self.labels = np.zeros([self.count, 0], np.float32)
        self.name = folder.name
        self.resolution = image_files.read_image(self.files[0]).shape[0]
        stamp = [
            (str(p.relative_to(folder)), p.stat().st_size, int(p.stat().st_mtime))
            for p in self.files
        ]
        self.cache_key = dict(kind="folder", path=str(folder.resolve()), files=digest(stamp))

    def get(self, index):
        return image_files.read_image(self.files[index])


class DatasetSource(ImageSource):
    """One of our TFRecord datasets (or NVIDIA's official layout), full resolution, record order."""

    kind = "dataset"

    def __init__(self, data_dir):
        self.info = records.describe(data_dir)
        self.data_dir = pathlib.Path(data_dir)
        self.count = self.info["count"]
        self.labels = records.load_labels(self.info)
        self.name = self.info.get("name") or records.dataset_name(data_dir)
        self.resolution = self.info["resolution"]
        top = max(self.info["files"])
        self.parts = self.info["files"][top]
        stamp = [(p.name, p.stat().st_size, int(p.stat().st_mtime)) for p in self.parts]
        self.cache_key = dict(
            kind="dataset", path=str(self.data_dir.resolve()), files=digest(stamp)
        )

    def iter_images(self, start=0):
        # Global order is the round-robin interleave of the parts (records.part_of).
        iters = [records.iter_records(p) for p in self.parts]
        encoding = self.info.get("encoding", "raw")
        for i in range(self.count):
            data = next(iters[i % len(iters)])
            if i >= start:
                yield image_files.decode_array(records.decode_example(data, encoding))

    def get(self, index):
        return next(self.iter_images(start=index))


def digest(obj):
    return hashlib.md5(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def open_images(source):
    """ImageSource from a folder of images, one of our dataset dirs, an .npz (`images`[, `labels`])
    or an array [N,H,W(,C)] uint8."""
    if isinstance(source, ImageSource):
        return source
    if isinstance(source, np.ndarray):
        return ImageSource(source)
    path = pathlib.Path(source)
    if path.is_file() and path.suffix == ".npz":
        with np.load(path) as data:
            src = ImageSource(
                data["images"],
                data["labels"] if "labels" in data.files and data["labels"].ndim == 2 else None,
                name=path.stem,
            )
        src.cache_key = dict(
            kind="npz",
            path=str(path.resolve()),
            size=path.stat().st_size,
            mtime=int(path.stat().st_mtime),
        )
        return src
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such folder of images, dataset or .npz")
    if records.is_dataset_dir(path):
        return DatasetSource(path)
    return FolderSource(path)
