"""The tools on config-A and config-B generators caught mid-fade (lod 0.5): generate.py's images
(stored and TF1-drawn noise), the SavedModel export (it serves the lod of export time), style
mixing, and convert.py of a StyleGAN-format pickle."""

import numpy as np
import pytest
import tensorflow as tf

from apps import export, generate, media, style_mixing
from tf_stylegan2.networks import Generator, presets


def _G(preset):
    G_kwargs = presets.network_kwargs(preset, 16, 3, 0)[0]
    G_kwargs["synthesis_kwargs"].update(channel_base=64, channel_max=8)
    tf.keras.utils.set_random_seed(3)
    G = Generator(**G_kwargs)
    for v in G.synthesis.weights:
        if "noise_strength" in v.path:
            v.assign(0.5 * tf.ones_like(v))
    G.synthesis.lod.assign(0.5)
    return G


@pytest.mark.parametrize("preset", ["config-a", "config-b"])
def test_tools_at_a_fractional_lod(preset, tmp_path):
    G = _G(preset)
    z = tf.constant(np.random.RandomState(7).randn(1, G.z_dim), tf.float32)
    want = media.to_uint8(G(z, truncation_psi=0.7, noise_mode="const").numpy())
    got = generate.generate_images(G, [7], 0.7)
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
    tf1 = generate.generate_images(G, [7], 0.7, noise_mode="tf1")  # every noise map redrawn
    assert np.abs(tf1.astype(int) - got.astype(int)).max() > 2
    dest = export.export_generator(G, tmp_path / "sm" / "1")
    served = tf.saved_model.load(str(dest)).signatures["generate"](z=z)["images"].numpy()
    full = media.to_uint8(G(z, noise_mode="const").numpy())
    assert np.abs(served.astype(int) - full.astype(int)).max() <= 1
    G.synthesis.lod.assign(0.0)  # the SavedModel keeps the lod it was exported with
    assert np.abs(media.to_uint8(G(z, noise_mode="const").numpy()) - served).max() > 2
    images, grid = style_mixing.style_mixing(G, [1, 2], [3], list(range(G.num_ws // 2)))
    assert grid.shape == (3 * 16, 2 * 16, 3) and (1, 3) in images  # 2 rows, 1 column + seeds


def test_convert_a_stylegan_pickle(tmp_path, capsys):
    import test_stylegan1

    import tf_stylegan2
    from apps import convert

    G, D, _ = test_stylegan1._states(np.random.default_rng(2))
    src = tmp_path / "karras2019stylegan-tiny.pkl"
    test_stylegan1._write_pickle(src, (G, D, G))
    convert.convert(src, tmp_path / "sg1.keras")
    assert (
        "(StyleGAN (config A) TF1 pickle): G 16x16x3 c_dim 0; D 16x16x3" in capsys.readouterr().out
    )
    ours, official = (tf_stylegan2.load_network(str(p)) for p in (tmp_path / "sg1.keras", src))
    z = tf.constant(np.random.RandomState(0).randn(2, 12), tf.float32)
    np.testing.assert_array_equal(
        ours["G_ema"](z, truncation_psi=0.7).numpy(), official["G_ema"](z, truncation_psi=0.7)
    )
