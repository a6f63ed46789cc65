"""Kernel Inception Distance (ada-pytorch metrics/kernel_inception_distance.py, compute_kid).

Polynomial kernel k(a,b) = (a.b/n + 1)^3, 100 subsets of m = min(#real, #fake, 1000) drawn
without replacement, unbiased MMD^2 estimate averaged: KID = t / (num_subsets * m).
"""

import numpy as np

from metrics import extraction


def kernel_inception_distance(
    real_features, gen_features, num_subsets=100, max_subset_size=1000, seed=None
):
    rng = np.random.RandomState(seed)
    real = np.asarray(real_features, np.float64)
    gen = np.asarray(gen_features, np.float64)
    n = real.shape[1]
    m = min(min(real.shape[0], gen.shape[0]), max_subset_size)
    t = 0.0
    for _ in range(num_subsets):
        x = gen[rng.choice(gen.shape[0], m, replace=False)]
        y = real[rng.choice(real.shape[0], m, replace=False)]
        a = (x @ x.T / n + 1) ** 3 + (y @ y.T / n + 1) ** 3
        b = (x @ y.T / n + 1) ** 3
        t += (a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m
    return float(t / num_subsets / m)


def compute_kid(opts, max_real, num_gen, num_subsets=100, max_subset_size=1000):
    real, fake = extraction.real_and_fake_stats(opts, max_real, num_gen, capture_all=True)
    return kernel_inception_distance(
        real.get_all(), fake.get_all(), num_subsets, max_subset_size, seed=opts.seed
    )


def kid_between(
    source_a,
    source_b,
    detector,
    batch_size=32,
    max_items=None,
    cache_dir=None,
    strategy=None,
    verbose=True,
    num_subsets=100,
    max_subset_size=1000,
    seed=None,
):
    feats = [
        stats.get_all()
        for stats in extraction.two_set_stats(
            detector,
            source_a,
            source_b,
            capture_all=True,
            max_items=max_items,
            batch_size=batch_size,
            cache_dir=cache_dir,
            strategy=strategy,
            verbose=verbose,
        )
    ]
    return kernel_inception_distance(feats[0], feats[1], num_subsets, max_subset_size, seed=seed)
