"""NVIDIA's per-seed random draws (NumPy legacy RandomState, MT19937 + polar Gaussians) and the
generator's stored noise maps in TF1 order."""

import contextlib

import numpy as np


def seed_z(seed, z_dim):
    """z for one seed, [1, z_dim] float32: np.random.RandomState(seed).randn(1, z_dim), as both
    TF1 run_generator.py and ADA-PT generate.py draw it."""
    return np.random.RandomState(seed).randn(1, z_dim).astype(np.float32)


def noise_variables(G):
    """The synthesis network's stored noise maps in TF1 order noise0, noise1, ...: b4.conv1,
    b8.conv0, b8.conv1, b16.conv0, ... ([(name, variable)])."""
    return G.synthesis.noise_const_variables()


def seed_z_and_noise(seed, z_dim, noise_shapes):
    """TF1 run_generator.py generate-images: z = rnd.randn(1, z_dim) first, then from the same rnd
    every noise map in order, each rnd.randn(1, 1, R, R).
    noise_shapes: [R, ...] -> (z, [[R, R]])."""
    rnd = np.random.RandomState(seed)
    z = rnd.randn(1, z_dim).astype(np.float32)
    noises = [rnd.randn(1, 1, r, r)[0, 0].astype(np.float32) for r in noise_shapes]
    return z, noises


@contextlib.contextmanager
def noise_maps_set(G, values):
    """Temporarily overwrite the stored noise maps (TF1 order) with `values` ([R, R] arrays)."""
    variables = [v for _, v in noise_variables(G)]
    if len(values) != len(variables):
        raise ValueError(f"{len(values)} noise maps given, the network has {len(variables)}")
    saved = [np.array(v.numpy()) for v in variables]
    try:
        for v, x in zip(variables, values):
            v.assign(np.reshape(x, v.shape).astype(np.float32))
        yield
    finally:
        for v, x in zip(variables, saved):
            v.assign(x)


def noise_resolutions(G):
    out = []
    for _, v in noise_variables(G):
        size = int(np.prod(v.shape))
        out.append(int(round(size**0.5)))
    return out
