"""Shared machinery of the metrics: image sources, the generator adapter, feature statistics,
batched/distributed feature extraction with a progress bar, and the real-statistics cache."""

import hashlib
import json
import os
import pathlib
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf

import dataset_tool.records as records
from fileio import images as image_files


# ----------------------------------------------------------------------------
# Progress.


class Progress:
    """A one-line progress bar on stderr: `desc  done/total  rate img/s  eta`."""

    def __init__(self, desc, total, verbose=True, unit="img"):
        self.desc, self.total, self.verbose, self.unit = desc, total, verbose, unit
        self.done, self.start, self._last = 0, time.time(), 0.0

    def update(self, n):
        self.done += n
        now = time.time()
        if self.verbose and (now - self._last > 1.0 or self.done >= (self.total or 0)):
            self._last = now
            rate = self.done / max(now - self.start, 1e-9)
            eta = (self.total - self.done) / rate if self.total and rate > 0 else 0
            total = f"/{self.total}" if self.total else ""
            print(
                f"\r{self.desc}  {self.done}{total}  {rate:.1f} {self.unit}/s  eta {eta:.0f}s ",
                end="",
                file=sys.stderr,
                flush=True,
            )

    def close(self):
        if self.verbose:
            print(file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------
# Image sources: a folder of images, one of our datasets (dataset_tool.records), an npz, an array.


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
            raise ValueError(f"{folder}: no image files "
                             f"({', '.join(image_files.IMAGE_EXTENSIONS)})")
        self.count = len(self.files)
        self.labels = np.zeros([self.count, 0], np.float32)
        self.name = folder.name
        self.resolution = image_files.read_image(self.files[0]).shape[0]
        stamp = [
            (str(p.relative_to(folder)), p.stat().st_size, int(p.stat().st_mtime))
            for p in self.files
        ]
        self.cache_key = dict(kind="folder", path=str(folder.resolve()), files=_digest(stamp))

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
            kind="dataset", path=str(self.data_dir.resolve()), files=_digest(stamp)
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


def _digest(obj):
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
    has_records = any(records._RECORD_RE.match(p.name) for p in path.iterdir())
    if has_records:
        return DatasetSource(path)
    return FolderSource(path)


# ----------------------------------------------------------------------------
# The generator adapter.


class GeneratorAdapter:
    """What the metrics need from a generator.

    Accepted forms:
      * our Generator (or anything with z_dim, c_dim, mapping and synthesis as in CONTRACT.md):
        images = G(z, c, noise_mode='random'); PPL uses G.mapping(z, c) and
        G.synthesis(ws, noise_mode='random', noise_seed=seed) (seeds shared by both ends of a pair);
      * a callable `generator(z, c) -> images NHWC float32 in [-1,1]` with z_dim= (and c_dim=);
        PPL then needs mapping=(z, c) -> ws and synthesis=(ws, noise_seed) -> images.
    """

    def __init__(
        self,
        generator=None,
        z_dim=None,
        c_dim=None,
        mapping=None,
        synthesis=None,
        noise_mode="random",
    ):
        self.G = generator
        self.z_dim = z_dim if z_dim is not None else getattr(generator, "z_dim", None)
        self.c_dim = c_dim if c_dim is not None else getattr(generator, "c_dim", 0)
        self.noise_mode = noise_mode
        self._mapping = mapping
        self._synthesis = synthesis
        self._is_network = hasattr(generator, "mapping") and hasattr(generator, "synthesis")
        if generator is not None and self.z_dim is None:
            raise ValueError("the generator has no z_dim attribute: pass z_dim=")

    def generate(self, z, c, noise_seed=None):
        """[N,H,W,C] float32 in [-1,1]; metrics never truncate; random noise as the official code
        (drawn from noise_seed, int32 [2], so runs are repeatable and work under op determinism)."""
        c = c if self.c_dim else None
        if self._is_network:
            return self.G(
                z, c, truncation_psi=1.0, noise_mode=self.noise_mode, noise_seed=noise_seed
            )
        return self.G(z, c)

    @property
    def has_mapping(self):
        return self._mapping is not None or self._is_network

    def mapping(self, z, c):
        c = c if self.c_dim else None
        if self._mapping is not None:
            return self._mapping(z, c)
        return self.G.mapping(z, c, truncation_psi=1.0)

    def synthesis(self, ws, noise_seed):
        if self._synthesis is not None:
            return self._synthesis(ws, noise_seed)
        return self.G.synthesis(ws, noise_mode="random", noise_seed=noise_seed)


def to_uint8(images):
    """[-1,1] float -> uint8 as NVIDIA's convert_images_to_uint8: saturate(x*127.5 + 128) floor."""
    x = tf.convert_to_tensor(images, tf.float32) * 127.5 + 128.0
    return tf.cast(tf.clip_by_value(tf.floor(x), 0.0, 255.0), tf.uint8)


def sample_labels(labels, num, rng):
    """Random dataset labels [num, c_dim] (none when c_dim == 0), as the official fakes use."""
    if labels is None or labels.shape[1] == 0:
        return np.zeros([num, 0], np.float32)
    return labels[rng.randint(len(labels), size=num)]


# ----------------------------------------------------------------------------
# Feature statistics.


class FeatureStats:
    """Streaming mean/covariance in float64 (memory: D^2 doubles), optionally all features.

    The covariance is the unbiased estimate (divides by N-1) as np.cov, accumulated around a shift
    (the first batch's mean) to avoid cancellation.
    """

    def __init__(self, capture_all=False, capture_mean_cov=True, max_items=None):
        self.capture_all, self.capture_mean_cov, self.max_items = (
            capture_all,
            capture_mean_cov,
            max_items,
        )
        self.num_items, self.num_features = 0, None
        self.all_features, self.shift, self.raw_sum, self.raw_outer = [], None, None, None

    def is_full(self):
        return self.max_items is not None and self.num_items >= self.max_items

    def append(self, x):
        x = np.asarray(x, np.float32)
        if self.max_items is not None:
            x = x[: max(self.max_items - self.num_items, 0)]
        if x.shape[0] == 0:
            return
        if self.num_features is None:
            self.num_features = x.shape[1]
            self.shift = x.astype(np.float64).mean(axis=0)
            self.raw_sum = np.zeros(self.num_features, np.float64)
            self.raw_outer = np.zeros([self.num_features] * 2, np.float64)
        self.num_items += x.shape[0]
        if self.capture_all:
            self.all_features.append(x)
        if self.capture_mean_cov:
            d = x.astype(np.float64) - self.shift
            self.raw_sum += d.sum(axis=0)
            self.raw_outer += d.T @ d

    def get_all(self):
        return np.concatenate(self.all_features) if self.all_features else np.zeros([0, 0])

    def get_mean_cov(self):
        n = self.num_items
        mean_d = self.raw_sum / n
        cov = (self.raw_outer - n * np.outer(mean_d, mean_d)) / max(n - 1, 1)
        return mean_d + self.shift, cov

    # Cache format: npz with mu, sigma, num_items[, features].
    def save(self, path, extra=None):
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = dict(num_items=np.int64(self.num_items))
        if self.capture_mean_cov:
            arrays["mu"], arrays["sigma"] = self.get_mean_cov()
        if self.capture_all:
            arrays["features"] = self.get_all()
        arrays["meta"] = np.array(json.dumps(extra or {}))
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp.npz")
        os.close(fd)
        try:
            np.savez(tmp, **arrays)
            os.chmod(tmp, 0o644)  # mkstemp makes 0600; a cache is shareable
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

    @classmethod
    def load(cls, path):
        with np.load(path) as data:
            stats = cls(capture_all="features" in data.files, capture_mean_cov="mu" in data.files)
            stats.num_items = int(data["num_items"])
            if "mu" in data.files:
                mu, sigma = data["mu"], data["sigma"]
                stats.num_features = mu.shape[0]
                stats.shift = mu
                stats.raw_sum = np.zeros_like(mu)
                stats.raw_outer = sigma * max(stats.num_items - 1, 1)
            if "features" in data.files:
                stats.all_features = [data["features"]]
                stats.num_features = data["features"].shape[1]
        return stats


# ----------------------------------------------------------------------------
# Running a detector on batches, split across the replicas of a tf.distribute strategy.


def get_strategy(strategy):
    if strategy is not None:
        return strategy
    return tf.distribute.get_strategy() if tf.distribute.has_strategy() else None


def run_split(fn, inputs, strategy=None):
    """fn(*inputs) -> [N,...]; under a multi-replica strategy each replica gets a slice of N.

    Pads N to a multiple of the replica count and drops the padding from the gathered result.
    """
    strategy = get_strategy(strategy)
    if strategy is None or strategy.num_replicas_in_sync == 1:
        return fn(*[tf.convert_to_tensor(x) for x in inputs])
    r = strategy.num_replicas_in_sync
    n = int(inputs[0].shape[0])
    per = -(-n // r)
    padded = [
        np.concatenate([x, np.repeat(x[-1:], per * r - n, axis=0)]) if per * r > n else x
        for x in (np.asarray(v) for v in inputs)
    ]

    def value_fn(ctx):
        i = ctx.replica_id_in_sync_group
        return tuple(tf.convert_to_tensor(x[i * per : (i + 1) * per]) for x in padded)

    dist = strategy.experimental_distribute_values_from_function(value_fn)
    out = strategy.run(lambda args: fn(*args), args=(dist,))
    return strategy.gather(out, axis=0)[:n]


def stats_cache_path(cache_dir, source, detector_name, num_items, mirror, wrap, extra="",
                     stored="mean_cov"):
    """<cache_dir>/<md5>-<detector>-<dataset>-<count>-<stored>.npz (None without a source key);
    `stored` ('mean_cov', 'all', 'all+mean_cov') keeps FID's and KID's caches apart."""
    if cache_dir is None or source.cache_key is None:
        return None
    key = dict(
        stored=stored,
        source=source.cache_key,
        detector=detector_name,
        num_items=num_items,
        mirror=bool(mirror),
        wrap=bool(wrap),
        extra=extra,
    )
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in detector_name)
    return pathlib.Path(cache_dir) / f"{_digest(key)}-{safe}-{source.name}-{num_items}-{stored}.npz"


def default_cache_dir():
    base = os.environ.get("TF_STYLEGAN2_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "tf_stylegan2",
    )
    return pathlib.Path(base) / "metrics"


def compute_feature_stats_for_dataset(
    detector,
    source,
    max_items=None,
    batch_size=32,
    capture_all=False,
    capture_mean_cov=True,
    mirror=False,
    wrap=False,
    cache_dir=None,
    strategy=None,
    verbose=True,
    desc="reals",
    cache_extra="",
):
    """FeatureStats of the detector over the first max_items real images (cached when possible)."""
    source = open_images(source)
    num = source.num_items(max_items, wrap)
    name = getattr(detector, "name", type(detector).__name__)
    stored = "+".join(n for n, on in (("all", capture_all), ("mean_cov", capture_mean_cov)) if on)
    path = stats_cache_path(cache_dir, source, name, num, mirror, wrap, cache_extra, stored)
    if path is not None and path.is_file():
        return FeatureStats.load(path)
    stats = FeatureStats(capture_all=capture_all, capture_mean_cov=capture_mean_cov, max_items=num)
    progress = Progress(desc, num, verbose)
    for images in source.batches(batch_size, max_items=num, wrap=wrap, mirror=mirror):
        feats = run_split(detector, [images], strategy)
        stats.append(np.asarray(feats))
        progress.update(images.shape[0])
    progress.close()
    if path is not None:
        stats.save(path, extra=dict(detector=name, num_items=num, source=source.cache_key))
    return stats


def compute_feature_stats_for_generator(
    detector,
    gen,
    num_items,
    batch_size=32,
    labels=None,
    capture_all=False,
    capture_mean_cov=True,
    seed=None,
    strategy=None,
    verbose=True,
    desc="fakes",
):
    """FeatureStats of `num_items` generated images (z ~ N(0,I), random dataset labels)."""
    rng = np.random.RandomState(seed)
    stats = FeatureStats(
        capture_all=capture_all, capture_mean_cov=capture_mean_cov, max_items=num_items
    )
    progress = Progress(desc, num_items, verbose)

    def fn(z, c, seeds):  # seeds [n,2]: one row per image; a replica uses its slice's first row
        return detector(to_uint8(gen.generate(z, c, noise_seed=seeds[0])))

    while not stats.is_full():
        n = min(batch_size, num_items - stats.num_items)
        z = rng.standard_normal([n, gen.z_dim]).astype(np.float32)
        c = sample_labels(labels, n, rng)
        seeds = rng.randint(0, 2**31 - 1, size=[n, 2]).astype(np.int32)
        stats.append(np.asarray(run_split(fn, [z, c, seeds], strategy)))
        progress.update(n)
    progress.close()
    return stats


def fake_stats(opts, num_gen, detector=None, capture_all=False):
    """FeatureStats of `num_gen` images of opts.gen (opts: metric_main.MetricOptions)."""
    return compute_feature_stats_for_generator(
        detector or opts.detector, opts.gen, num_gen, batch_size=opts.batch_size,
        labels=opts.labels, seed=opts.seed, strategy=opts.strategy, capture_all=capture_all,
        capture_mean_cov=not capture_all, verbose=opts.verbose)


def real_and_fake_stats(opts, max_real, num_gen, detector=None, capture_all=False):
    """FeatureStats of the reals (max_real None = all, the *_full protocols; cached) and of
    `num_gen` fakes. capture_all=False keeps running mean/cov only (FID); True keeps every feature
    vector (KID, P&R)."""
    real = compute_feature_stats_for_dataset(
        detector or opts.detector, opts.data, max_items=max_real, wrap=opts.wrap_reals,
        mirror=opts.mirror, batch_size=opts.batch_size, cache_dir=opts.cache_dir,
        strategy=opts.strategy, capture_all=capture_all, capture_mean_cov=not capture_all,
        verbose=opts.verbose)
    return real, fake_stats(opts, num_gen, detector, capture_all)


def two_set_stats(detector, source_a, source_b, capture_all=False, **kwargs):
    """FeatureStats of two sets of real images (set A, set B): the fid / kid CLI between sets."""
    return [
        compute_feature_stats_for_dataset(
            detector, src, capture_all=capture_all, capture_mean_cov=not capture_all,
            desc=f"set {k}", **kwargs)
        for k, src in zip("AB", (source_a, source_b))
    ]
