"""Generator / Discriminator: contract, API semantics, parameter counts, presets, snapshots."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf_stylegan2
from tf_stylegan2.networks import (
    Discriminator,
    Generator,
    MappingNetwork,
    SynthesisNetwork,
    presets,
)

from harness import assert_layer_contract

tf.random.set_seed(2)  # conftest enables deterministic ops, which need a seed for random noise
RNG = np.random.default_rng(2)


def randn(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def tiny(c_dim=0, res=16, **synthesis):
    G_kwargs, D_kwargs = presets.network_kwargs("tiny", res, 3, c_dim)
    G_kwargs["synthesis_kwargs"].update(synthesis)
    return G_kwargs, D_kwargs


@pytest.mark.parametrize("architecture", ["orig", "skip", "resnet"])
def test_generator_contract(architecture, tmp_path):
    G_kwargs, _ = tiny(c_dim=3, architecture=architecture)
    z, c = randn(4, 32), np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]
    G = assert_layer_contract(
        Generator,
        G_kwargs,
        [z, c],
        dict(truncation_psi=0.5),
        expected_output_shape=(4, 16, 16, 3),
        tmp_path=tmp_path,
    )
    assert (G.z_dim, G.c_dim, G.w_dim, G.num_ws, G.img_resolution, G.img_channels) == (
        32,
        3,
        32,
        6,
        16,
        3,
    )
    assert G.mapping(z, c).shape == (4, 6, 32)


@pytest.mark.parametrize("architecture", ["orig", "skip", "resnet"])
def test_discriminator_contract(architecture, tmp_path):
    _, D_kwargs = tiny(c_dim=3)
    D_kwargs["architecture"] = architecture
    img, c = randn(4, 16, 16, 3), np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]
    assert_layer_contract(
        Discriminator, D_kwargs, [img, c], expected_output_shape=(4, 1), tmp_path=tmp_path
    )


def test_mapping_and_synthesis_contract(tmp_path):
    assert_layer_contract(
        MappingNetwork,
        dict(z_dim=8, c_dim=2, w_dim=6, num_ws=3, num_layers=2),
        [randn(2, 8), randn(2, 2)],
        expected_output_shape=(2, 3, 6),
        num_non_trainable=1,
        tmp_path=tmp_path,
    )
    assert_layer_contract(
        SynthesisNetwork,
        dict(w_dim=6, img_resolution=8, img_channels=3, channel_base=64, channel_max=8),
        [randn(2, 4, 6)],
        expected_output_shape=(2, 8, 8, 3),
        tmp_path=tmp_path,
    )


def test_truncation_and_w_avg():
    G = Generator(**tiny()[0])
    z = randn(8, 32)
    w_avg = randn(32)
    G.mapping.w_avg.assign(w_avg)
    ws = G.mapping(z).numpy()
    assert np.all(ws == ws[:, :1])  # broadcast copies
    t = G.mapping(z, truncation_psi=0.7).numpy()
    np.testing.assert_allclose(t, w_avg + 0.7 * (ws - w_avg), atol=1e-5)
    cut = G.mapping(z, truncation_psi=0.7, truncation_cutoff=2).numpy()
    np.testing.assert_allclose(cut[:, :2], t[:, :2], atol=1e-6)
    np.testing.assert_array_equal(cut[:, 2:], ws[:, 2:])
    G.mapping(z, update_w_avg=True)
    np.testing.assert_allclose(
        G.mapping.w_avg.numpy(), ws[:, 0].mean(0) + 0.995 * (w_avg - ws[:, 0].mean(0)), atol=1e-5
    )


def test_noise_modes_and_seed():
    G = Generator(**tiny()[0])
    for v in G.weights:
        if v.path.endswith("noise_strength"):
            v.assign(0.3)
    z = randn(2, 32)
    const = [G(z, None).numpy() for _ in range(2)]
    np.testing.assert_array_equal(const[0], const[1])
    none = G(z, None, noise_mode="none").numpy()
    rand = G(z, None, noise_mode="random").numpy()
    seeded = [
        G(z, None, noise_mode="random", noise_seed=tf.constant([1, 2])).numpy() for _ in range(2)
    ]
    np.testing.assert_array_equal(seeded[0], seeded[1])
    assert np.abs(const[0] - none).max() > 1e-3 and np.abs(rand - const[0]).max() > 1e-3
    assert (
        np.abs(
            G(z, None, noise_mode="random", noise_seed=tf.constant([1, 3])).numpy() - seeded[0]
        ).max()
        > 1e-3
    )
    names = G.synthesis.layer_names()
    assert names == ["b4.conv1", "b8.conv0", "b8.conv1", "b16.conv0", "b16.conv1"]
    zero = {n: np.zeros([2] + [int(n.split(".")[0][1:])] * 2 + [1], np.float32) for n in names}
    np.testing.assert_allclose(
        G.synthesis(G.mapping(z), noise_mode="random", noise_inputs=zero).numpy(), none, atol=1e-6
    )


def test_per_layer_ws_and_fused_equals_unfused():
    G = Generator(**tiny(res=32)[0])
    ws = randn(3, G.num_ws, G.w_dim)  # a different w per layer (style mixing input)
    fused = G.synthesis(ws, fused_modconv=True).numpy()
    unfused = G.synthesis(ws, fused_modconv=False).numpy()
    np.testing.assert_allclose(fused, unfused, atol=1e-5 * max(1, np.abs(fused).max()))
    mixed = ws.copy()
    mixed[:, 3:] = ws[0, 3:]
    assert np.abs(G.synthesis(mixed).numpy() - fused).max() > 1e-4


def test_conditional_needs_c():
    G_kwargs, D_kwargs = tiny(c_dim=4)
    G, D = Generator(**G_kwargs), Discriminator(**D_kwargs)
    with pytest.raises(ValueError, match="c_dim=4"):
        G(randn(2, 32), None)
    with pytest.raises(ValueError, match="c_dim=4"):
        D(randn(2, 16, 16, 3), None)
    c1, c2 = np.eye(4, dtype=np.float32)[[0, 1]], np.eye(4, dtype=np.float32)[[2, 3]]
    z, img = randn(2, 32), randn(2, 16, 16, 3)
    assert np.abs(G(z, c1).numpy() - G(z, c2).numpy()).max() > 1e-4
    assert np.abs(D(img, c1).numpy() - D(img, c2).numpy()).max() > 1e-6
    assert D.cmap_dim == 32 and len(D.mapping.fcs) == 2


def _count(net):
    return int(sum(np.prod(v.shape) for v in net.trainable_weights))


def test_parameter_counts_match_spec():
    # NVlabs/stylegan2 run_training.py configs (TF1 networks_stylegan2.py shapes): config-f at
    # 256^2; config-e G orig, D skip at 1024^2.
    G_kwargs, D_kwargs = presets.network_kwargs("config-f", 256, 3, 0)
    G = Generator(**G_kwargs)
    assert _count(G.mapping) == 2_101_248
    assert _count(G) == 30_034_338
    assert _count(Discriminator(**D_kwargs)) == 28_864_129
    G_kwargs, D_kwargs = presets.network_kwargs("config-e", 1024, 3, 0)
    G_kwargs["synthesis_kwargs"]["architecture"] = "orig"
    assert _count(Generator(**G_kwargs)) == 23_596_292
    D_kwargs["architecture"] = "skip"
    assert _count(Discriminator(**D_kwargs)) == 23_087_249


def test_variable_names_are_ada_module_names():
    G_kwargs, D_kwargs = tiny()
    G, D = Generator(**G_kwargs), Discriminator(**D_kwargs)
    g = {"/".join(v.path.split("/")[1:]) for v in G.weights}
    assert {
        "mapping/fc0/weight",
        "mapping/w_avg",
        "synthesis/b4/const",
        "synthesis/b8/conv0/affine/bias",
        "synthesis/b16/conv1/noise_const",
        "synthesis/b16/torgb/weight",
    } <= g
    d = {"/".join(v.path.split("/")[1:]) for v in D.weights}
    assert {
        "b16/fromrgb/weight",
        "b16/skip/weight",
        "b8/conv1/bias",
        "b4/conv/weight",
        "b4/fc/weight",
        "b4/out/bias",
    } <= d


def test_presets():
    for name in presets.NAMES:
        G_kwargs, D_kwargs = presets.network_kwargs(name, 64, 3, 0)
        assert G_kwargs["img_resolution"] == 64 and D_kwargs["img_channels"] == 3
    G_kwargs, _ = presets.network_kwargs("config-f", 1024, 3, 0)
    assert (
        G_kwargs["synthesis_kwargs"]["channel_base"] == 32768
        and G_kwargs["mapping_kwargs"]["num_layers"] == 8
    )
    assert presets.network_kwargs("cifar", 32, 3, 10)[1]["architecture"] == "orig"
    G_kwargs, D_kwargs = presets.network_kwargs("demo", 32, 3, 10)
    assert Generator(**G_kwargs)(randn(2, 128), np.eye(10, dtype=np.float32)[:2]).shape == (
        2,
        32,
        32,
        3,
    )
    with pytest.raises(ValueError, match="unknown network preset 'nope'"):
        presets.network_kwargs("nope", 32)


def test_snapshot_round_trip(tmp_path):
    G_kwargs, D_kwargs = tiny(c_dim=2)
    G, D, G_ema = Generator(**G_kwargs), Discriminator(**D_kwargs), Generator(**G_kwargs)
    G_ema.mapping.w_avg.assign(randn(32))
    path = tmp_path / "sub" / "network-snapshot-000000.keras"
    assert tf_stylegan2.save_snapshot(path, G=G, D=D, G_ema=G_ema) == str(path)
    assert os.listdir(path.parent) == [path.name]  # no temporary left behind
    nets = tf_stylegan2.load_network(path)
    assert set(nets) == {"G", "D", "G_ema"}
    z, c = randn(2, 32), np.eye(2, dtype=np.float32)
    for name, net in (("G", G), ("G_ema", G_ema)):
        np.testing.assert_array_equal(
            nets[name](z, c, truncation_psi=0.5).numpy(), net(z, c, truncation_psi=0.5)
        )
    img = randn(2, 16, 16, 3)
    np.testing.assert_array_equal(nets["D"](img, c).numpy(), D(img, c).numpy())
    only = tf_stylegan2.load_network(tf_stylegan2.save_snapshot(tmp_path / "g.keras", G_ema=G_ema))
    assert set(only) == {"G_ema"}
    assert oct(os.stat(path).st_mode & 0o777) != oct(0o600)  # an ordinary file, not mkstemp's 0600
    with pytest.raises(ValueError, match="must be different objects"):
        tf_stylegan2.save_snapshot(tmp_path / "same.keras", G=G, G_ema=G)
    assert not (tmp_path / "same.keras").exists()


def test_load_network_errors_and_pickle_dispatch(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="no such snapshot"):
        tf_stylegan2.load_network(tmp_path / "missing.keras")
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.keras: truncated or corrupt .keras snapshot"):
        tf_stylegan2.load_network(bad)
    good = tmp_path / "good.keras"  # a real snapshot cut in half, as a failed copy leaves it
    tf_stylegan2.save_snapshot(good, G=Generator(**tiny()[0]))
    data = good.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="bad.keras: truncated or corrupt .keras snapshot"):
        tf_stylegan2.load_network(bad)
    with pytest.raises(ValueError, match="unknown network file type"):
        tf_stylegan2.load_network(tmp_path / "x.h5")
    with pytest.raises(ValueError, match="must end in .keras"):
        tf_stylegan2.save_snapshot(tmp_path / "x.h5", G=Generator(**tiny()[0]))
    import tf_stylegan2.legacy as legacy

    monkeypatch.setattr(legacy, "load_pickle", lambda path: {"called": path})
    assert tf_stylegan2.load_network(tmp_path / "a.pkl") == {"called": str(tmp_path / "a.pkl")}


def test_second_order_through_networks_in_function():
    G_kwargs, D_kwargs = tiny()
    G, D = Generator(**G_kwargs), Discriminator(**D_kwargs)

    @tf.function
    def r1_and_pl(img, z):
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                inner.watch(img)
                logits = tf.reduce_sum(D(img))
            r1 = tf.reduce_sum(tf.square(inner.gradient(logits, img)))
        d_grads = outer.gradient(r1, D.trainable_variables)
        with tf.GradientTape() as outer:
            ws = G.mapping(z)
            with tf.GradientTape() as inner:
                inner.watch(ws)
                out = G.synthesis(ws, noise_mode="none", fused_modconv=False)
                s = tf.reduce_sum(out * tf.random.stateless_normal(tf.shape(out), [1, 1]))
            pl = tf.reduce_sum(tf.square(inner.gradient(s, ws)))
        g_grads = outer.gradient(pl, G.trainable_variables)
        return d_grads, g_grads

    d_grads, g_grads = r1_and_pl(randn(4, 16, 16, 3), randn(4, 32))
    d_none = [v.path for v, g in zip(D.trainable_variables, d_grads) if g is None]
    g_none = [v.path for v, g in zip(G.trainable_variables, g_grads) if g is None]
    # Outside the R1 graph: the biases after minibatch-std reach D's input gradient only through
    # the leaky-ReLU masks, whose gradient is read from the output (as NVIDIA's bias_act), so no
    # second-order path exists (their gradient is zero either way).
    after_mbstd = [D.b4.conv.bias.path, D.b4.fc.bias.path, D.b4.out.bias.path]
    assert sorted(d_none) == sorted(after_mbstd), d_none
    assert all(
        g is not None
        for v, g in zip(D.trainable_variables, d_grads)
        if "kernel" in v.path or "weight" in v.path
    )
    assert all(p.endswith("torgb/bias") or p.endswith("noise_strength") for p in g_none), g_none


def test_bad_arguments_are_reported():
    G_kwargs, D_kwargs = tiny(architecture="bogus")
    message = (
        r"architecture must be one of \('orig', 'skip', 'resnet', 'progressive'\), got 'bogus'"
    )
    with pytest.raises(ValueError, match=message):
        Generator(**G_kwargs)
    with pytest.raises(ValueError, match=message):
        Discriminator(**dict(D_kwargs, architecture="bogus"))
    with pytest.raises(ValueError, match="power of 2 >= 4, got 24"):
        Discriminator(**dict(D_kwargs, img_resolution=24))
    with pytest.raises(ValueError, match="noise_mode must be one of"):
        Generator(**tiny()[0])(randn(1, 32), None, noise_mode="fixed")


def test_dynamic_batch_and_saved_model_export(tmp_path):
    G_kwargs, D_kwargs = tiny(c_dim=3)
    G, D = Generator(**G_kwargs), Discriminator(**D_kwargs)
    z, c = randn(4, 32), np.eye(3, dtype=np.float32)[[0, 1, 2, 0]]
    for fused in (True, False):
        fn = tf.function(
            lambda z, c: G(z, c, fused_modconv=fused),
            input_signature=[tf.TensorSpec([None, 32]), tf.TensorSpec([None, 3])],
        )
        np.testing.assert_allclose(
            fn(z, c).numpy(), G(z, c, fused_modconv=fused).numpy(), atol=1e-5
        )

    class Export(tf.Module):
        def __init__(self):
            super().__init__()
            self.G, self.D = G, D

        @tf.function(input_signature=[tf.TensorSpec([None, 32]), tf.TensorSpec([None, 3])])
        def generate(self, z, c):
            img = self.G(z, c, truncation_psi=0.5)
            return {"img": img, "logits": self.D(img, c)}

    tf.saved_model.save(Export(), str(tmp_path / "sm"))
    loaded = tf.saved_model.load(str(tmp_path / "sm"))  # keep a reference: it owns the variables
    out = loaded.generate(z, c)
    ref = G(z, c, truncation_psi=0.5)
    np.testing.assert_allclose(out["img"].numpy(), ref.numpy(), atol=1e-5)
    np.testing.assert_allclose(out["logits"].numpy(), D(ref, c).numpy(), rtol=1e-4, atol=1e-5)


def test_summary_and_symbolic_call():
    G_kwargs, D_kwargs = tiny()
    G, D = Generator(**G_kwargs), Discriminator(**D_kwargs)
    lines = []
    G.summary(print_fn=lambda line, **_: lines.append(line))
    D.summary(print_fn=lambda line, **_: lines.append(line))
    text = "\n".join(lines)
    assert "synthesis (SynthesisNetwork)" in text and "b4 (DiscriminatorEpilogue)" in text
    z = keras.Input((32,))
    assert tuple(G(z).shape) == (None, 16, 16, 3) and tuple(G.mapping(z).shape) == (None, 6, 32)


def _np_fc(layer, x, act):
    y = x @ (layer.weight.numpy() * layer.weight_gain) + layer.bias.numpy() * layer.bias_gain
    return np.where(y > 0, y, 0.2 * y) * np.sqrt(2) if act else y


def _np_norm(x):
    return x / np.sqrt(np.mean(x**2, axis=1, keepdims=True) + 1e-8)


def test_conditional_mapping_and_projection_match_numpy():
    # ADA-PT conditioning: z and embed(c) normalized separately, then concatenated; D's score is
    # sum(out * cmap) / sqrt(cmap_dim) with cmap from D's own mapping (no w_avg, no broadcast).
    G_kwargs, D_kwargs = tiny(c_dim=4)
    G, D = Generator(**G_kwargs), Discriminator(**D_kwargs)
    for net in (G, D):
        for v in net.trainable_weights:
            if v.path.endswith("bias"):
                v.assign(randn(*v.shape) * 0.1)
    z, c = randn(3, 32), np.eye(4, dtype=np.float32)[[0, 2, 3]]
    m = G.mapping
    x = np.concatenate([_np_norm(z), _np_norm(_np_fc(m.embed, c, False))], axis=1)
    for fc in m.fcs:
        x = _np_fc(fc, x, True)
    np.testing.assert_allclose(
        m(z, c).numpy(), np.repeat(x[:, None], G.num_ws, 1), rtol=1e-4, atol=1e-5
    )
    cmap = _np_norm(_np_fc(D.mapping.embed, c, False))
    for fc in D.mapping.fcs:
        cmap = _np_fc(fc, cmap, True)
    img = randn(3, 16, 16, 3)
    x = None
    for block in D.blocks:
        x, _ = block(x, img)
    out = D.b4.out(
        D.b4.fc(tf.reshape(tf.transpose(D.b4.conv(D.b4.mbstd(x)), [0, 3, 1, 2]), [3, -1]))
    )
    expected = np.sum(out.numpy() * cmap, axis=1, keepdims=True) / np.sqrt(D.cmap_dim)
    np.testing.assert_allclose(D(img, c).numpy(), expected, rtol=1e-4, atol=1e-5)


def test_blocks_compute_output_shape_as_called():
    """The Keras contract: compute_output_shape of every block equals what `call` returns."""
    G_kwargs, D_kwargs = tiny()
    G, D = Generator(**G_kwargs), Discriminator(**D_kwargs)
    z = randn(2, G.z_dim)
    ws = G.mapping(z)
    x = img = None
    for res in G.synthesis.block_resolutions:
        block = getattr(G.synthesis, f"b{res}")
        n_ws = block.num_conv + block.num_torgb
        block_ws = ws[:, :n_ws]
        expected = block.compute_output_shape(
            None if x is None else x.shape, None if img is None else img.shape, block_ws.shape
        )
        x, img = block(x, img, block_ws, noise_mode="const")
        assert expected == (tuple(x.shape), tuple(img.shape))
    x, img = None, randn(2, 16, 16, 3)
    for res in D.block_resolutions:
        block = getattr(D, f"b{res}")
        expected = block.compute_output_shape(None if x is None else x.shape, img.shape)
        x, img_next = block(x, img)
        assert expected == (tuple(x.shape), None if img_next is None else tuple(img_next.shape))
        img = img if img_next is None else img_next
    logits = D.b4(x, img, None)
    assert D.b4.compute_output_shape(x.shape, img.shape) == tuple(logits.shape) == (2, 1)
