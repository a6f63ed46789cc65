"""The 'progressive' architecture of configs B-D (TF1 G_synthesis_stylegan_revised / D_stylegan,
structure 'linear'): a ToRGB / FromRGB per level, the image faded between levels by `lod`."""

import numpy as np
import pytest
import tensorflow as tf

import tf_stylegan2
from tf_stylegan2.networks import Discriminator, Generator
from tf_stylegan2.networks.precision import with_policy

KW = dict(channel_base=256, channel_max=16)


@pytest.fixture(scope="module")
def nets():
    tf.keras.utils.set_random_seed(7)
    G = Generator(16, 0, 16, 32, 3, synthesis_kwargs=dict(KW, architecture="progressive"))
    D = Discriminator(0, 32, 3, architecture="progressive", **KW)
    return G, D


def _G(G, z, lod):
    G.synthesis.lod.assign(lod)
    return G(z, noise_mode="const").numpy()


def test_generator_levels_and_fade(nets):
    G, _ = nets
    assert G.num_ws == 8 and [b.num_torgb for b in G.synthesis.blocks] == [1, 1, 1, 1]
    z = tf.random.stateless_normal([2, 16], [1, 2])
    full, half, level1, level3 = (_G(G, z, lod) for lod in (0.0, 0.25, 1.0, 3.0))
    # lod k: the image of the 2**(5-k) level, nearest-upsampled (constant 2**k x 2**k blocks, up
    # to the rounding of TF1's lerp y + (up - y) * 1)
    blocks = level3.reshape(2, 4, 8, 4, 8, 3)
    corner = np.broadcast_to(blocks[:, :, :1, :, :1], blocks.shape)
    np.testing.assert_allclose(blocks, corner, atol=1e-6)
    assert np.abs(np.diff(full, axis=1)).max() > 0.01  # lod 0: no such blocks
    # between two levels the image is their linear blend
    np.testing.assert_allclose(half, 0.75 * full + 0.25 * level1, atol=1e-5)
    # at lod 1 the 32x32 block's layers do not matter
    b32 = G.synthesis.b32.conv1.weight
    saved = b32.numpy()
    b32.assign(saved + np.random.RandomState(1).randn(*saved.shape))  # (demodulation ignores x3)
    np.testing.assert_allclose(_G(G, z, 1.0), level1, atol=1e-6)
    assert np.abs(_G(G, z, 0.0) - full).max() > 1e-3
    b32.assign(saved)
    G.synthesis.lod.assign(0.0)


def test_discriminator_levels_and_fade(nets):
    _, D = nets
    assert [f"fromrgb{r}" for r in D.fromrgb_resolutions] == [
        "fromrgb32",
        "fromrgb16",
        "fromrgb8",
        "fromrgb4",
    ]
    rnd = np.random.RandomState(0)
    a = rnd.uniform(-1, 1, [4, 32, 32, 3]).astype(np.float32)
    # b: the same 4x4 box means as a, different pixels
    noise = rnd.uniform(-0.5, 0.5, a.shape).astype(np.float32)
    noise -= noise.reshape(4, 4, 8, 4, 8, 3).mean(axis=(2, 4)).repeat(8, 1).repeat(8, 2)
    b = a + noise

    def logits(img, lod):
        D.lod.assign(lod)
        return D(img).numpy()

    np.testing.assert_allclose(logits(a, 3.0), logits(b, 3.0), atol=1e-5)  # only 4x4 is seen
    assert np.abs(logits(a, 0.0) - logits(b, 0.0)).max() > 1e-4
    blend = logits(a, 0.5)
    assert blend.shape == (4, 1) and np.isfinite(blend).all()
    D.lod.assign(0.0)


def test_lod_is_saved_and_mixed_precision_works(nets, tmp_path):
    G, D = nets
    G.synthesis.lod.assign(1.5)
    D.lod.assign(1.5)
    tf_stylegan2.save_snapshot(tmp_path / "p.keras", G_ema=G, D=D)
    loaded = tf_stylegan2.load_network(tmp_path / "p.keras")
    assert float(loaded["G_ema"].synthesis.lod.numpy()) == 1.5
    assert float(loaded["D"].lod.numpy()) == 1.5
    z = tf.random.stateless_normal([2, 16], [3, 4])
    np.testing.assert_array_equal(loaded["G_ema"](z).numpy(), G(z).numpy())
    half = with_policy(G, "mixed_bfloat16")
    assert np.abs(half(z).numpy() - G(z).numpy()).max() < 0.1
    G.synthesis.lod.assign(0.0)
    D.lod.assign(0.0)
    with pytest.raises(ValueError, match="architecture must be one of"):
        Generator(16, 0, 16, 32, 3, synthesis_kwargs=dict(KW, architecture="grow"))
