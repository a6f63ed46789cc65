"""Metrics of an autoencoding generator (StyleALAE): FID of reconstructions (official ALAE
metrics/fid_rec.py: the first N real images encoded and decoded, against the same reals) and the
mean squared error and LPIPS distance between real images and their reconstructions.

`opts.reconstruct(images)`: real images float32 [N, H, W, C] in [-1, 1] -> reconstructions in the
same range (e.g. model.decode(model.encode(x))).
"""

import numpy as np

from fileio.images import to_uint8
from metrics import extraction, feature_stats, fid, replicas
from metrics.progress import Progress


def _pairs(opts, num, desc):
    """(reals uint8, reconstructions uint8) batches over the first `num` reals (wrapping)."""
    progress = Progress(desc, num, opts.verbose)
    for images in opts.data.batches(opts.batch_size, max_items=num, wrap=True):
        rec = opts.reconstruct(images.astype(np.float32) / 127.5 - 1.0)
        yield images, np.asarray(to_uint8(np.asarray(rec, np.float32)))
        progress.update(images.shape[0])
    progress.close()


def compute_fid_rec(opts, num):
    """FID between the first `num` reals (wrapping, cached statistics) and their reconstructions."""
    real = extraction.compute_feature_stats_for_dataset(
        opts.detector, opts.data, max_items=num, wrap=True, batch_size=opts.batch_size,
        cache_dir=opts.cache_dir, strategy=opts.strategy, verbose=opts.verbose,
    )  # fmt: skip
    rec = feature_stats.FeatureStats(capture_mean_cov=True, max_items=num)
    for _, recs in _pairs(opts, num, "reconstructions"):
        rec.append(np.asarray(replicas.run_split(opts.detector, [recs], opts.strategy)))
    return fid.fid_from_stats(rec, real)


def compute_rec(opts, num):
    """(mean squared error in [-1, 1], mean LPIPS VGG16 distance) over the first `num` reals."""
    from metrics.lpips import LPIPS

    lpips = opts.lpips or LPIPS(weights_dir=opts.weights_dir)
    se, dist, n = 0.0, 0.0, 0
    for reals, recs in _pairs(opts, num, "reconstructions"):
        a, b = reals.astype(np.float64) / 127.5 - 1, recs.astype(np.float64) / 127.5 - 1
        se += float(np.mean(np.square(a - b), axis=(1, 2, 3)).sum())
        dist += float(np.sum(lpips(reals, recs)))  # uint8: [0, 255]; greyscale tiled to RGB
        n += reals.shape[0]
    return se / n, dist / n
