"""Fréchet Inception Distance (NVlabs/stylegan2 metrics/frechet_inception_distance.py,
FID.evaluate).

FID = ||mu_f - mu_r||^2 + Tr(S_f + S_r - 2 sqrtm(S_f S_r)), scipy's Schur sqrtm of the product,
real part, no eps; statistics in float64, unbiased covariance.
"""

import warnings

import numpy as np
import scipy.linalg

from metrics import extraction


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), as NVIDIA computes it."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    m = np.square(mu1 - mu2).sum()
    with (
        warnings.catch_warnings()
    ):  # singular products (N < D) are expected; NVIDIA passes disp=False
        warnings.simplefilter("ignore")
        s = scipy.linalg.sqrtm(sigma1 @ sigma2)  # (the disp argument is deprecated in SciPy 1.17)
    if isinstance(s, tuple):
        s = s[0]
    return float(np.real(m + np.trace(sigma1 + sigma2 - s * 2)))


def fid_from_stats(stats_a, stats_b):
    mu_a, sigma_a = stats_a.get_mean_cov()
    mu_b, sigma_b = stats_b.get_mean_cov()
    return frechet_distance(mu_a, sigma_a, mu_b, sigma_b)


def compute_fid(opts, max_real, num_gen):
    """FID of opts.generator against opts.data: max_real None = all reals (the *_full protocol)."""
    real, fake = extraction.real_and_fake_stats(opts, max_real, num_gen)
    return fid_from_stats(fake, real)


def fid_between(
    source_a,
    source_b,
    detector,
    batch_size=32,
    max_items=None,
    cache_dir=None,
    strategy=None,
    verbose=True,
):
    """FID between two sets of real images (folders, datasets, npz or arrays), as pytorch-fid."""
    stats = extraction.two_set_stats(
        detector,
        source_a,
        source_b,
        max_items=max_items,
        batch_size=batch_size,
        cache_dir=cache_dir,
        strategy=strategy,
        verbose=verbose,
    )
    return fid_from_stats(stats[0], stats[1])
