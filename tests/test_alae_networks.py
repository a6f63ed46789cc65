"""StyleALAE's networks (tf_stylegan2.networks.alae) against the official ALAE code's outputs
(../shared/fixtures/alae_small: alae_small.npz at 32 px, alae_fused.npz at 128 px with the fused
up/down-sampling layers): F, G at every lod and blend factor stored, the deterministic noise
branch, E and D(E(x)) at every lod and blend, truncation, and reconstruction G(E(x))."""

import numpy as np
import pytest

from tf_stylegan2.networks.alae import ALAE, apply_official_state

from conftest import shared_path

# Measured max abs errors (oneDNN on and off) were below 3e-5 on images and 5e-6 on w and D;
# the fixture's own 1-vs-2-thread spread is 1.2e-5 on reconstructions, 3.2e-6 on w.
IMG_TOL, W_TOL = 1e-4, 2e-5


def nhwc(a):
    return np.transpose(a, (0, 2, 3, 1))


def _model(name, **kw):
    z = np.load(shared_path("fixtures", "alae_small", f"{name}.npz"))
    m = ALAE(**kw)
    state = {k[6:].replace("/", ".", 1): z[k] for k in z.files if k.startswith("param/")}
    apply_official_state(m, state, name)
    blocks = kw["layer_count"]
    noise = [nhwc(z[f"noise/block{i}_{j}"]) for i in range(blocks) for j in (1, 2)]
    return m, z, noise


def _close(got, want, tol, what):
    err = float(np.abs(np.asarray(got) - want).max())
    assert err <= tol, f"{what}: max abs error {err:.3g}"


def test_alae_small_equals_the_official_code():
    m, z, noise = _model(
        "alae_small", layer_count=4, startf=16, maxf=48, latent_size=32, mapping_layers=4,
        truncation_psi=0.7, truncation_cutoff=6,
    )  # fmt: skip
    _close(m.mapping(z["in/z"]), z["out/F/styles"], W_TOL, "F")
    keys = [k for k in z.files if k.startswith(("out/G/", "out/E/"))]
    assert len(keys) == 22
    for key in keys:
        lod, blend = key.split("/")[-1].split("_")
        lod, blend = int(lod[3:]), float(blend[1:])
        if key.startswith("out/G/"):
            got = m.decode(z["in/G_styles"], lod, blend, noise=noise)
            _close(got, nhwc(z[key]), IMG_TOL, key)
        else:
            x = nhwc(z[f"in/x_lod{lod}"])
            _close(m.encode(x, lod, blend), z[key][:, 0], W_TOL, key)
            d_key = key.replace("/E/", "/D/")
            _close(m.discriminate(x, lod, blend), z[d_key], W_TOL, d_key)
    got = m.decode(z["in/G_styles"], 2, noise_mode="deterministic")
    _close(got, nhwc(z["out/G_noise_false/lod2_b1"]), IMG_TOL, "noise=False")
    styles = m.truncate(m.mapping(z["in/z"]))
    _close(styles, z["out/gen_trunc/styles"], W_TOL, "truncation")
    _close(m.decode(styles, noise=noise), nhwc(z["out/gen_trunc/img"]), IMG_TOL, "generate")
    w = m.encode(nhwc(z["in/x_lod3"]))
    _close(w, z["out/recon/w"][:, 0], W_TOL, "recon w")
    _close(m.decode(w, noise=noise), nhwc(z["out/recon/img"]), IMG_TOL, "reconstruction")


def test_alae_fused_equals_the_official_code():
    m, z, noise = _model(
        "alae_fused", layer_count=6, startf=4, maxf=8, latent_size=16, mapping_layers=2,
        truncation_psi=0.7, truncation_cutoff=8,
    )  # fmt: skip
    _close(m.mapping(z["in/z"]), z["out/F/styles"], W_TOL, "F")
    for lod in (5, 4):
        got = m.decode(z["in/G_styles"], lod, noise=noise)
        _close(got, nhwc(z[f"out/G/lod{lod}_b1"]), IMG_TOL, f"G lod {lod}")
    for lod, blend in ((5, 1.0), (4, 1.0), (5, 0.5)):
        key, x = f"lod{lod}_b{blend:g}", nhwc(z[f"in/x_lod{lod}"])
        _close(m.encode(x, lod, blend), z[f"out/E/{key}"][:, 0], W_TOL, f"E {key}")
        _close(m.discriminate(x, lod, blend), z[f"out/D/{key}"], W_TOL, f"D {key}")
    styles = m.truncate(m.mapping(z["in/z"]))
    _close(styles, z["out/gen_trunc/styles"], W_TOL, "truncation")
    crop = m.decode(styles, noise=noise).numpy()[:, 48:80, 48:80]
    _close(crop, nhwc(z["out/gen_trunc/img_crop"]), IMG_TOL, "generate")
    recon = m.decode(m.encode(nhwc(z["in/x_lod5"])), noise=noise)
    _close(recon, nhwc(z["out/recon/img"]), IMG_TOL, "reconstruction")


def test_official_state_errors():
    m, z, _ = _model("alae_small", layer_count=4, startf=16, maxf=48, latent_size=32,
                     mapping_layers=4)  # fmt: skip
    state = {k[6:].replace("/", ".", 1): z[k] for k in z.files if k.startswith("param/")}
    with pytest.raises(ValueError, match="decoder.const: missing from s"):
        apply_official_state(m, {k: v for k, v in state.items() if k != "decoder.const"}, "s")
    wide = ALAE(layer_count=4, startf=16, maxf=64, latent_size=32, mapping_layers=4)
    with pytest.raises(ValueError, match="shape .* does not fit this ALAE"):
        apply_official_state(wide, state, "s")


def test_keras_contract(tmp_path):
    import tensorflow as tf

    import tf_stylegan2  # noqa: F401  (registers the classes)
    from tf_stylegan2.networks.alae.layers import AlaeDecodeLayer, AlaeEncodeBlock

    from harness import assert_layer_contract

    x = tf.random.normal([2, 8, 8, 4], seed=1)
    assert_layer_contract(
        AlaeEncodeBlock, dict(in_channels=4, out_channels=6, latent_size=5, resolution=8), [x],
        expected_output_shape=(2, 4, 4, 6), num_trainable=8, tmp_path=tmp_path, atol=1e-6,
    )  # fmt: skip
    w = tf.random.normal([2, 5], seed=2)
    assert_layer_contract(
        AlaeDecodeLayer, dict(in_channels=4, out_channels=6, w_dim=5, resolution=16, up=True,
                              block=2),
        [x, w], dict(noise_mode="deterministic"), expected_output_shape=(2, 16, 16, 6),
        tmp_path=tmp_path, atol=1e-6,
    )  # fmt: skip
    m = ALAE(layer_count=3, startf=4, maxf=8, latent_size=6, mapping_layers=2)
    clone = ALAE.from_config(m.get_config())
    clone.set_weights(m.get_weights())
    z = tf.random.normal([2, 6], seed=3)
    np.testing.assert_array_equal(
        clone.generate(z, noise_mode="deterministic"), m.generate(z, noise_mode="deterministic")
    )
    assert m.generate(z, noise_mode="none").shape == (2, 16, 16, 3)


def test_official_checkpoint_loads_without_torch(tmp_path):
    import tf_stylegan2
    from fileio import torch_files
    from tf_stylegan2.legacy import alae_checkpoint

    path = shared_path("fixtures", "alae_small", "model_small.pth")
    nets = tf_stylegan2.load_network(str(path))
    assert sorted(nets) == ["ALAE", "ALAE_ema"]
    m = nets["ALAE_ema"]
    assert (m.layer_count, m.startf, m.maxf, m.latent_size, m.mapping_layers, m.channels) == (
        4, 16, 48, 32, 4, 3,
    )  # fmt: skip
    z = np.load(shared_path("fixtures", "alae_small", "alae_small.npz"))
    noise = [nhwc(z[f"noise/block{i}_{j}"]) for i in range(4) for j in (1, 2)]
    recon = m.decode(m.encode(nhwc(z["in/x_lod3"])), noise=noise)
    _close(recon, nhwc(z["out/recon/img"]), IMG_TOL, "reconstruction from model_small.pth")
    data = torch_files.read_pth(path)
    del data["models"]["generator_s"]  # no averaged copies: ALAE only
    assert sorted(alae_checkpoint.models_from_checkpoint(data, "x.pth")) == ["ALAE"]
    data["models"]["generator"]["decode_block.1.style_1.weight"] = np.zeros([96, 31], np.float32)
    with pytest.raises(ValueError, match="decoder.decode_block.1.style_1.weight: shape"):
        alae_checkpoint.models_from_checkpoint(data, "x.pth")
    with pytest.raises(tf_stylegan2.legacy.LegacyFormatError, match="not an ALAE checkpoint"):
        alae_checkpoint.models_from_checkpoint({"models": {}}, "x.pth")


def test_stylegan2_decoder_option():
    """ALAE(generator='stylegan2'): StyleGAN2's skip blocks under ALAE's lod / blend convention;
    blend 0 is the previous level FIR-upsampled, and the model round-trips through its config."""
    import keras
    import tensorflow as tf

    from tf_stylegan2 import ops

    kw = dict(layer_count=3, startf=8, maxf=16, latent_size=16, mapping_layers=2)
    m = ALAE(**kw, generator="stylegan2")
    assert m.num_ws == 6 and len(m.part_variables("G")) == len(m.g2.trainable_variables) > 0
    ws = m.mapping(np.random.RandomState(0).randn(2, 16).astype(np.float32))
    seed = tf.constant([3, 4])
    prev = m.decode(ws, 1, noise_seed=seed)
    faded = m.decode(ws, 2, 0.0, noise_seed=seed)
    np.testing.assert_allclose(
        faded, ops.upsample2d(prev, ops.setup_filter([1, 3, 3, 1])), atol=1e-6
    )
    full = m.decode(ws, 2, 1.0, noise_seed=seed)
    half = m.decode(ws, 2, tf.constant(0.5), noise_seed=seed)
    np.testing.assert_allclose(half, (faded + full) / 2, atol=1e-5)
    clone = ALAE.from_config(m.get_config())
    clone.set_weights(m.get_weights())
    np.testing.assert_array_equal(
        clone.decode(ws, noise_mode="const"), m.decode(ws, noise_mode="const")
    )
    assert (
        keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(m)).generator
        == "stylegan2"
    )
    with pytest.raises(ValueError, match="no StyleGAN2 decoder"):
        apply_official_state(m, {}, "x.pth")
    with pytest.raises(ValueError, match="takes no explicit noise maps"):
        m.decode(ws, noise=[None] * 6)
