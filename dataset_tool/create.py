"""The create_* commands: read a source, order its items, and hand them to build.py (parallel
preparation, validation in order, streamed writing)."""

import os
import sys

import numpy as np

from dataset_tool import attributes as attribute_lib
from dataset_tool import records, sources, writers
from dataset_tool.build import build, is_pow2
from dataset_tool.records import DatasetError

FASHION_MNIST_NAMES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
CIFAR10_NAMES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]
TRANSFORMS = ("center-crop", "center-crop-wide", "resize")
RESIZE_FILTERS = ("box", "lanczos")


# ----------------------------------------------------------------------------
# Options shared by every create_* command.


def parse_resolution(value, transform):
    """--resolution R or WxH -> (width, height) or None."""
    if value in (None, "", 0):
        if transform:
            raise DatasetError(f"--transform {transform} needs --resolution")
        return None
    text = str(value).lower()
    try:
        width, height = (int(v) for v in text.split("x")) if "x" in text else (int(text), int(text))
    except ValueError:
        raise DatasetError(f"--resolution {value!r}: expected R or WxH") from None
    if not is_pow2(width):
        raise DatasetError(f"--resolution {value}: width {width} is not a power of two >= 4")
    if transform == "center-crop-wide":
        if height > width:
            raise DatasetError(f"--resolution {value}: center-crop-wide needs height <= width")
    elif height != width:
        raise DatasetError(f"--resolution {value}: only center-crop-wide takes WxH with W != H")
    return width, height


def _spec(resolution=None, transform=None, resize_filter="box", channels=None, pad_to=None):
    if transform is not None and transform not in TRANSFORMS:
        raise DatasetError(f"--transform {transform!r}: choose one of {', '.join(TRANSFORMS)}")
    if resize_filter not in RESIZE_FILTERS:
        raise DatasetError(f"--resize-filter {resize_filter!r}: choose box or lanczos")
    if channels not in (None, 1, 3):
        raise DatasetError(f"--channels {channels}: choose 1 or 3")
    return {
        "resolution": parse_resolution(resolution, transform),
        "transform": transform,
        "resize_filter": resize_filter,
        "channels": channels,
        "pad_to": pad_to or None,
    }


def shard_count(gpus=None, shards=None):
    gpus, shards = gpus or None, shards or None
    if gpus is not None and gpus < 1 or shards is not None and shards < 1:
        raise DatasetError("--gpus and --shards must be >= 1")
    if shards is None:
        return gpus or 1
    if gpus and shards % gpus:
        raise DatasetError(f"--shards {shards} is not a multiple of --gpus {gpus}")
    return shards


def _order(count, shuffle, seed, max_images):
    order = np.arange(count)
    if shuffle:
        np.random.RandomState(seed).shuffle(order)  # NVIDIA's choose_shuffled_order with seed 123
    if max_images:
        order = order[:max_images]
    return order


def _common(data_dir, kwargs, source=None):
    """Splits writer options out of a command's keyword arguments; checks DATA_DIR (against the
    source too) before any reading."""
    keys = ("shards", "encoding", "overwrite", "workers", "ignore_errors", "log")
    common = {k: kwargs.pop(k) for k in keys if k in kwargs}
    common["shards"] = shard_count(kwargs.pop("gpus", None), common.get("shards"))
    if kwargs:
        raise TypeError(f"unexpected options {sorted(kwargs)}")
    if common.get("encoding", "raw") not in records.ENCODINGS:
        raise DatasetError(f"--encoding {common['encoding']!r}: choose raw or png")
    writers.check_target(
        data_dir, common.get("overwrite", False), source, common.get("log", log_stderr)
    )
    return common


# ----------------------------------------------------------------------------
# Commands.


def create_from_images(
    data_dir,
    image_dir,
    *,
    resolution=None,
    transform=None,
    resize_filter="box",
    channels=None,
    labels=None,
    labels_from_dirs=False,
    attributes=None,
    attribute_names=None,
    shuffle=True,
    seed=records.OFFICIAL_SHUFFLE_SEED,
    max_images=None,
    **kwargs,
):
    common = _common(data_dir, kwargs, image_dir)
    spec = _spec(resolution, transform, resize_filter, channels)
    given = [
        f
        for f, v in (
            ("--labels", labels),
            ("--labels-from-dirs", labels_from_dirs),
            ("--attributes", attributes),
        )
        if v
    ]
    if len(given) > 1:
        raise DatasetError(f"give one of {' / '.join(given)}, not several")
    if attribute_names and not attributes:
        raise DatasetError("--attribute-names needs --attributes FILE")
    files, _ = sources.list_images(image_dir)
    classes, names, c_dim, multi_hot = None, None, 0, None
    if attributes:
        table, names = attribute_lib.read_attributes(
            attributes, attribute_lib.parse_names(attribute_names)
        )
        classes = np.stack(sources.labels_for_files(files, table, attributes, image_dir))
        c_dim, multi_hot = len(names), True
    elif labels:
        values = sources.labels_for_files(
            files, sources.read_labels_file(labels), labels, image_dir
        )
        classes, names = sources.classes_of(values, labels)
    elif labels_from_dirs:
        classes, names = sources.classes_of(sources.labels_from_dirs(files, image_dir), image_dir)
    if classes is not None and not c_dim:
        c_dim = len(names) if names else max(classes) + 1
    order = _order(len(files), shuffle, seed, max_images)
    items = [os.path.join(image_dir, files[i]) for i in order]
    return build(
        data_dir,
        items,
        lambda i: items[i],
        spec=spec,
        labels=None if classes is None else np.asarray(classes)[order],
        c_dim=c_dim,
        label_names=names,
        multi_hot=multi_hot,
        shuffle_seed=seed if shuffle else None,
        source=str(image_dir),
        command="create_from_images",
        **common,
    )


def _create_from_arrays(
    data_dir,
    images,
    classes,
    names,
    source,
    command,
    *,
    spec,
    shuffle,
    seed,
    max_images,
    c_dim=None,
    **common,
):
    order = _order(len(images), shuffle, seed, max_images)
    labels = None
    if classes is not None:
        classes = np.asarray(classes)
        if classes.ndim == 1:
            c_dim = c_dim or (len(names) if names else int(classes.max()) + 1)
        else:
            c_dim = classes.shape[1]
        labels = classes[order]
    chunk = max(1, min(256, 2**20 // max(1, int(np.prod(images.shape[1:])))))
    return build(
        data_dir,
        _Gather(images, order),
        lambda i: f"{source}[{order[i]}]",
        spec=spec,
        labels=labels,
        c_dim=c_dim or 0,
        label_names=names,
        shuffle_seed=seed if shuffle else None,
        source=str(source),
        command=command,
        chunk=chunk,
        **common,
    )


class _Gather:
    """images[order[...]] without copying the whole array; slices give contiguous arrays (picklable
    chunks)."""

    def __init__(self, images, order):
        self.images, self.order = images, order

    def __len__(self):
        return len(self.order)

    def __getitem__(self, s):
        return self.images[self.order[s]]


def create_mnist(
    data_dir,
    mnist_dir,
    *,
    pad_to=32,
    resolution=None,
    transform=None,
    resize_filter="box",
    split="train",
    shuffle=True,
    seed=records.OFFICIAL_SHUFFLE_SEED,
    max_images=None,
    **kwargs,
):
    """MNIST IDX .gz -> 32x32 greyscale (zero padding 28 -> 32 as NVIDIA's create_mnist) with
    one-hot labels."""
    common = _common(data_dir, kwargs, mnist_dir)
    spec = _spec(resolution, transform, resize_filter, None, pad_to)
    images, classes = sources.read_mnist_dir(mnist_dir, split)
    return _create_from_arrays(
        data_dir,
        images,
        classes,
        None,
        mnist_dir,
        "create_mnist",
        spec=spec,
        shuffle=shuffle,
        seed=seed,
        max_images=max_images,
        c_dim=int(classes.max()) + 1,
        **common,
    )


def create_fashion_mnist(
    data_dir,
    source=None,
    *,
    download=False,
    pad_to=32,
    resolution=None,
    transform=None,
    resize_filter="box",
    split="train",
    shuffle=True,
    seed=records.OFFICIAL_SHUFFLE_SEED,
    max_images=None,
    **kwargs,
):
    """Fashion-MNIST IDX .gz (SOURCE_DIR, /usr/share/datasets/fashion-mnist or
    ~/.keras/datasets/fashion-mnist)."""
    common = _common(data_dir, kwargs, source)
    spec = _spec(resolution, transform, resize_filter, None, pad_to)
    root = sources.find_fashion_mnist(source, download, split)
    images, classes = sources.read_mnist_dir(root, split)
    return _create_from_arrays(
        data_dir,
        images,
        classes,
        FASHION_MNIST_NAMES,
        root,
        "create_fashion_mnist",
        spec=spec,
        shuffle=shuffle,
        seed=seed,
        max_images=max_images,
        c_dim=10,
        **common,
    )


def create_cifar10(
    data_dir,
    cifar10_dir,
    *,
    split="train",
    shuffle=True,
    seed=records.OFFICIAL_SHUFFLE_SEED,
    max_images=None,
    ignore_labels=False,
    resolution=None,
    transform=None,
    resize_filter="box",
    **kwargs,
):
    common = _common(data_dir, kwargs, cifar10_dir)
    spec = _spec(resolution, transform, resize_filter, None)
    images, classes = sources.read_cifar10(cifar10_dir, split)
    return _create_from_arrays(
        data_dir,
        images,
        None if ignore_labels else classes,
        CIFAR10_NAMES,
        cifar10_dir,
        "create_cifar10",
        spec=spec,
        shuffle=shuffle,
        seed=seed,
        max_images=max_images,
        c_dim=10,
        **common,
    )


def create_from_npz(
    data_dir,
    npz_file,
    *,
    ignore_labels=False,
    channels=None,
    resolution=None,
    transform=None,
    resize_filter="box",
    pad_to=None,
    shuffle=True,
    seed=records.OFFICIAL_SHUFFLE_SEED,
    max_images=None,
    **kwargs,
):
    """Arrays `images` (uint8 NHWC or NHW; RGBA composited on white) and optional `labels` ([N] or
    [N,c])."""
    common = _common(data_dir, kwargs, npz_file)
    spec = _spec(resolution, transform, resize_filter, channels, pad_to)
    images, classes, names = sources.read_npz(npz_file, ignore_labels)
    if classes is not None and classes.ndim == 1 and names and int(classes.max()) >= len(names):
        names = None
    return _create_from_arrays(
        data_dir,
        images,
        classes,
        names,
        npz_file,
        "create_from_npz",
        spec=spec,
        shuffle=shuffle,
        seed=seed,
        max_images=max_images,
        **common,
    )


def log_stderr(msg):
    print(msg, file=sys.stderr)
