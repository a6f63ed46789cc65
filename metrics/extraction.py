"""Feature statistics of real images (cached on disk) and of generated images."""

import pathlib

import numpy as np

from fileio import cache
from fileio.images import to_uint8
from metrics import feature_stats, generator_adapter, image_sources, replicas
from metrics.progress import Progress


def stats_cache_path(
    cache_dir, source, detector_name, num_items, mirror, wrap, extra="", stored="mean_cov"
):
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
    return (
        pathlib.Path(cache_dir)
        / f"{image_sources.digest(key)}-{safe}-{source.name}-{num_items}-{stored}.npz"
    )


def default_cache_dir():
    return cache.cache_root() / "metrics"


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
    """feature_stats.FeatureStats of the detector over the first max_items real images (cached when
    possible)."""
    source = image_sources.open_images(source)
    num = source.num_items(max_items, wrap)
    name = getattr(detector, "name", type(detector).__name__)
    stored = "+".join(n for n, on in (("all", capture_all), ("mean_cov", capture_mean_cov)) if on)
    path = stats_cache_path(cache_dir, source, name, num, mirror, wrap, cache_extra, stored)
    if path is not None and path.is_file():
        return feature_stats.FeatureStats.load(path)
    stats = feature_stats.FeatureStats(
        capture_all=capture_all, capture_mean_cov=capture_mean_cov, max_items=num
    )
    progress = Progress(desc, num, verbose)
    for images in source.batches(batch_size, max_items=num, wrap=wrap, mirror=mirror):
        feats = replicas.run_split(detector, [images], strategy)
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
    """feature_stats.FeatureStats of `num_items` generated images (z ~ N(0,I), random dataset
    labels)."""
    rng = np.random.RandomState(seed)
    stats = feature_stats.FeatureStats(
        capture_all=capture_all, capture_mean_cov=capture_mean_cov, max_items=num_items
    )
    progress = Progress(desc, num_items, verbose)

    def fn(z, c, seeds):  # seeds [n,2]: one row per image; a replica uses its slice's first row
        return detector(to_uint8(gen.generate(z, c, noise_seed=seeds[0])))

    while not stats.is_full():
        n = min(batch_size, num_items - stats.num_items)
        z = rng.standard_normal([n, gen.z_dim]).astype(np.float32)
        c = generator_adapter.sample_labels(labels, n, rng)
        seeds = rng.randint(0, 2**31 - 1, size=[n, 2]).astype(np.int32)
        stats.append(np.asarray(replicas.run_split(fn, [z, c, seeds], strategy)))
        progress.update(n)
    progress.close()
    return stats


def fake_stats(opts, num_gen, detector=None, capture_all=False):
    """feature_stats.FeatureStats of `num_gen` images of opts.gen (opts:
    metric_main.MetricOptions)."""
    return compute_feature_stats_for_generator(
        detector or opts.detector,
        opts.gen,
        num_gen,
        batch_size=opts.batch_size,
        labels=opts.labels,
        seed=opts.seed,
        strategy=opts.strategy,
        capture_all=capture_all,
        capture_mean_cov=not capture_all,
        verbose=opts.verbose,
    )


def real_and_fake_stats(opts, max_real, num_gen, detector=None, capture_all=False):
    """feature_stats.FeatureStats of the reals (max_real None = all, the *_full protocols; cached)
    and of
    `num_gen` fakes. capture_all=False keeps running mean/cov only (FID); True keeps every feature
    vector (KID, P&R)."""
    real = compute_feature_stats_for_dataset(
        detector or opts.detector,
        opts.data,
        max_items=max_real,
        wrap=opts.wrap_reals,
        mirror=opts.mirror,
        batch_size=opts.batch_size,
        cache_dir=opts.cache_dir,
        strategy=opts.strategy,
        capture_all=capture_all,
        capture_mean_cov=not capture_all,
        verbose=opts.verbose,
    )
    return real, fake_stats(opts, num_gen, detector, capture_all)


def two_set_stats(detector, source_a, source_b, capture_all=False, **kwargs):
    """feature_stats.FeatureStats of two sets of real images (set A, set B): the fid / kid CLI
    between sets."""
    return [
        compute_feature_stats_for_dataset(
            detector,
            src,
            capture_all=capture_all,
            capture_mean_cov=not capture_all,
            desc=f"set {k}",
            **kwargs,
        )
        for k, src in zip("AB", (source_a, source_b))
    ]
