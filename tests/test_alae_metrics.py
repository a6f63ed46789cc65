"""The autoencoder metrics (metrics/reconstruction.py) through calc_metric: fidrecN (with a cheap
detector) and recN (LPIPS VGG16) on a reconstruction that is the identity (FID 0, MSE 0, LPIPS 0)
and on one that is not, and their names and errors."""

import numpy as np
import pytest
import tensorflow as tf

from metrics import metric_main

from conftest import shared_path


@pytest.fixture(scope="module")
def reals():
    rnd = np.random.RandomState(0)
    base = rnd.randint(0, 256, [64, 4, 4, 3]).repeat(8, 1).repeat(8, 2)  # blocky 32x32
    return np.clip(base + rnd.randint(-20, 20, [64, 32, 32, 3]), 0, 255).astype(np.uint8)


def _calc(name, reals, reconstruct, cache_dir=None):
    return metric_main.calc_metric(
        name, generator=lambda z, c: z, z_dim=4, data=reals, reconstruct=reconstruct,
        weights_dir=str(shared_path("weights")), cache_dir=cache_dir, verbose=False, batch_size=16,
    )["results"]  # fmt: skip


def test_rec_is_zero_for_the_identity_and_measures_a_blur(reals):
    got = _calc("rec40", reals, lambda x: x)
    assert got == {"rec40_mse": 0.0, "rec40_lpips": pytest.approx(0.0, abs=1e-6)}
    blur = _calc("rec40", reals, lambda x: np.zeros_like(x))  # mid-grey
    x = reals[:40].astype(np.float64) / 127.5 - 1
    mse = np.mean(np.square(x - (128 / 127.5 - 1)))  # to_uint8(0) = 128
    assert blur["rec40_mse"] == pytest.approx(mse, rel=1e-9)
    assert 0.1 < blur["rec40_lpips"] < 2


class _PoolDetector:
    """A cheap detector (the Inception is checked elsewhere): 2x2 average-pooled pixels, 12
    features."""

    name = "pool2x2"

    def __call__(self, images):
        x = tf.nn.avg_pool2d(tf.cast(images, tf.float32), 16, 16, "VALID")
        return tf.reshape(x, [tf.shape(x)[0], -1])


def test_fidrec_is_zero_for_the_identity():
    rnd = np.random.RandomState(1)
    reals = rnd.randint(0, 256, [64, 32, 32, 3]).astype(np.uint8)

    def fidrec(reconstruct):
        return metric_main.calc_metric(
            "fidrec64", generator=lambda z, c: z, z_dim=4, data=reals, reconstruct=reconstruct,
            detector=_PoolDetector(), cache_dir=None, verbose=False, batch_size=16,
        )["results"]["fidrec64"]  # fmt: skip

    assert fidrec(lambda x: x) == pytest.approx(0.0, abs=1e-6)
    assert fidrec(lambda x: x * 0.2) > 100


def test_names_and_errors():
    assert metric_main.parse_metric("fidrec50k") == ("fidrec", {"num": 50000})
    assert metric_main.parse_metric("rec2k") == ("rec", {"num": 2000})
    with pytest.raises(ValueError, match="rec2k: needs an encoder"):
        metric_main.calc_metric("rec2k", generator=lambda z, c: z, z_dim=4, data=np.zeros(
            [2, 16, 16, 3], np.uint8))  # fmt: skip
