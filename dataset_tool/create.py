"""The create_* commands: order the inputs, prepare images in parallel workers, validate, write.

Work is streamed: inputs are cut into small chunks, at most 2 x workers chunks are in flight, and
every finished image goes straight to the TFRecord writers, so memory does not grow with the number
of images. Workers are spawned processes that import numpy and PIL only; the main process validates
in output order and writes.
"""

import collections
import contextlib
import math
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from dataset_tool import records, sources, writers
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
# Worker side.


def _is_pow2(n):
    return n >= 4 and 2 ** int(round(math.log2(n))) == n


def _work(items, spec, encoding):
    """Per item: (status, shape CHW, serialized records per level). status: ok | error | dropped |
    shape."""
    out = []
    for item in items:
        try:
            arr = (
                sources.load_image(item, spec)
                if isinstance(item, str)
                else sources.array_image(item, spec)
            )
        except DatasetError as e:
            out.append(("error", str(e), None))
            continue
        if arr is None:
            out.append(("dropped", None, None))
            continue
        h, w, c = arr.shape
        if h != w or not _is_pow2(h):
            out.append(("shape", (c, h, w), None))
            continue
        out.append(("ok", (c, h, w), writers.encode_levels(arr.transpose(2, 0, 1), encoding)))
    return out


def _mp_context():
    """fork where it is safe (Linux, TensorFlow not loaded in this process: workers start
    instantly); spawn
    otherwise (a forked child of a TensorFlow process could inherit locks held by its threads)."""
    if (
        sys.platform.startswith("linux")
        and "tensorflow" not in sys.modules
        and not writers.native_loaded()
    ):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _results(items, spec, encoding, workers, chunk):
    """Results of `_work` for every item, in order; parallel with a bounded window of chunks in
    flight."""
    starts = range(0, len(items), chunk)
    if workers <= 1:
        for s in starts:
            yield from _work(items[s : s + chunk], spec, encoding)
        return
    pool = ProcessPoolExecutor(workers, mp_context=_mp_context())
    try:
        pending = collections.deque()
        for s in starts:
            pending.append(pool.submit(_work, items[s : s + chunk], spec, encoding))
            if len(pending) >= 2 * workers:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# ----------------------------------------------------------------------------
# Main side: validate in order and write.


def default_workers():
    """The number of cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def peak_rss_mb(children=False):
    """Peak resident memory in MB of this process (or of its largest finished child process).

    For this process we read VmHWM (the high-water mark of this program's memory, reset by exec);
    ru_maxrss would also count the parent's memory at fork time when the parent is a big process
    (e.g. a benchmark).
    """
    if not children:
        try:
            with open("/proc/self/status", encoding="ascii") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
    try:
        import resource
    except ImportError:  # not on Windows
        return float("nan")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF)
    return usage.ru_maxrss / 1024 if sys.platform != "darwin" else usage.ru_maxrss / 2**20


def build(
    data_dir,
    items,
    item_name,
    *,
    spec,
    labels=None,
    c_dim=0,
    label_names=None,
    shards=1,
    encoding="raw",
    overwrite=False,
    workers=None,
    ignore_errors=False,
    chunk=16,
    shuffle_seed=None,
    source=None,
    command=None,
    log=print,
):
    """Writes DATA_DIR from `items` (file paths or an array [N,...] of images), already in output
    order.

    labels: None, int class indices [N] (one-hot with c_dim columns) or float rows [N, c_dim].
    Returns the manifest dict.
    """
    workers = workers or default_workers()
    total = len(items)
    if total == 0:
        raise DatasetError(f"{source}: no images")
    if total < shards:
        raise DatasetError(f"{source}: {total} images are too few for {shards} shards")
    start = time.time()
    log(
        f'Creating dataset "{data_dir}" from {total} images ({workers} workers, {shards} shard(s), '
        f"{encoding} encoding)"
    )
    first = None
    errors, dropped = [], 0
    last_report = start
    with (
        writers.DatasetWriter(
            data_dir, shards=shards, encoding=encoding, overwrite=overwrite
        ) as out,
        contextlib.closing(_results(items, spec, encoding, workers, chunk)) as results,
    ):
        for index, (status, info, level_records) in enumerate(results):
            if status == "error":
                errors.append(info)
            elif status == "dropped":
                dropped += 1
                continue
            else:
                c, h, w = info
                name = item_name(index)
                if first is None:
                    if w != h:
                        raise DatasetError(
                            f"{name}: image is {w}x{h}, not square (pass --resolution "
                            f"R with --transform center-crop or resize)"
                        )
                    if not _is_pow2(h):
                        raise DatasetError(
                            f"{name}: resolution {w}x{h} is not a power of two (pass "
                            f"--resolution R to resize)"
                        )
                    first = (info, name)
                (c0, h0, w0), name0 = first
                if (h, w) != (h0, w0):
                    fix = (
                        "--transform center-crop or resize"
                        if spec.get("resolution")
                        else "--resolution R to resize every image"
                    )
                    errors.append(
                        f"{name}: size {w}x{h} differs from {w0}x{h0} of {name0} (pass "
                        f"{fix}, or --ignore-errors to skip it)"
                    )
                elif c != c0:
                    errors.append(
                        f"{name}: {c} channel(s) but {name0} has {c0} (pass --channels 1 "
                        f"or 3, or --ignore-errors to skip it)"
                    )
                else:
                    label = None
                    if c_dim:
                        label = labels[index]
                        label = int(label) if np.ndim(label) == 0 else np.asarray(label, np.float32)
                    out.add(info, level_records, label)
            if errors and not ignore_errors and len(errors) >= MAX_REPORTED:
                break
            now = time.time()
            if now - last_report > 5:
                last_report = now
                log(f"{index + 1} / {total}")
        if errors and not ignore_errors:  # every bad file of the run at once (up to a limit)
            for e in errors[1:]:
                log(f"  also: {e}")
            more = len(errors) - 1
            raise DatasetError(
                errors[0]
                + (
                    f" (and {more}{'+' if len(errors) >= MAX_REPORTED else ''}"
                    f" more bad image(s), listed above)"
                    if more
                    else ""
                )
            )
        if out.count < shards:
            raise DatasetError(
                f"{source}: only {out.count} usable images, too few for {shards} shards"
            )
        manifest = out.close(
            c_dim=c_dim,
            label_names=label_names,
            shuffle_seed=shuffle_seed,
            source=source,
            command=command,
            skipped=len(errors) + dropped,
        )
    seconds = time.time() - start
    log(
        f"Added {out.count} images ({out.count / max(seconds, 1e-9):.0f} img/s, {seconds:.1f} s; "
        f"peak RSS {peak_rss_mb():.0f} MB main, "
        f"{peak_rss_mb(children=True):.0f} MB largest worker)."
    )
    if errors:
        log(
            f"Skipped {len(errors)} unreadable, corrupt or mismatched image(s) (--ignore-errors), "
            f"e.g.:"
        )
        for e in errors[:5]:
            log(f"  {e}")
    if dropped:
        log(f"Dropped {dropped} image(s) too small for the transform.")
    return manifest


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
    if not _is_pow2(width):
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


MAX_REPORTED = 50  # bad files listed before a run gives up


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
    shuffle=True,
    seed=records.OFFICIAL_SHUFFLE_SEED,
    max_images=None,
    **kwargs,
):
    common = _common(data_dir, kwargs, image_dir)
    spec = _spec(resolution, transform, resize_filter, channels)
    if labels and labels_from_dirs:
        raise DatasetError("give either --labels FILE or --labels-from-dirs, not both")
    files, _ = sources.list_images(image_dir)
    classes, names, c_dim = None, None, 0
    if labels:
        values = sources.labels_for_files(
            files, sources.read_labels_file(labels), labels, image_dir
        )
        classes, names = sources.classes_of(values, labels)
    elif labels_from_dirs:
        classes, names = sources.classes_of(sources.labels_from_dirs(files, image_dir), image_dir)
    if classes is not None:
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
