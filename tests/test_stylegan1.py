"""Config A: StyleGAN's (v1) G_style / G_synthesis (AdaIN) and D_basic, loaded from a
StyleGAN-format pickle (Network version 3, TF1 variable names) and checked against a NumPy
reference written here from ../shared/spec/NETWORKS_TRAINING.md 5.6 (NCHW, TF1's formulas term by
term), at several lod values; the fused resampling convolutions against the facts of section 5.7;
the Keras contract."""

import pickle
import sys
import types

import numpy as np
import pytest
import tensorflow as tf

import tf_stylegan2
from tf_stylegan2.layers.stylegan1 import AdaINLayer, WScaleConv2d
from tf_stylegan2.ops import stylegan1 as sg1

from harness import assert_layer_contract, tf1_state

R, LOG2, Z, W, FBASE, FMAX, MAP = 16, 4, 12, 10, 32, 16, 2
SQRT2 = np.sqrt(2.0)


def nf(stage):
    return min(int(FBASE / 2.0**stage), FMAX)


# -- a StyleGAN-format pickle -----------------------------------------------------------------
def _variables(rng):
    n = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    mapping = []
    for i in range(MAP):
        cin, cout = (Z if i == 0 else 16), (W if i == MAP - 1 else 16)
        mapping += [(f"Dense{i}/weight", n(cin, cout)), (f"Dense{i}/bias", n(cout))]
    syn = [("lod", np.float32(0))]
    for i in range(2 * LOG2 - 2):
        res = 2 ** (i // 2 + 2)
        syn.append((f"noise{i}", n(1, 1, res, res)))

    def epilogue(scope, c):
        return [
            (f"{scope}/Noise/weight", n(c)),
            (f"{scope}/bias", n(c)),
            (f"{scope}/StyleMod/weight", n(W, 2 * c)),
            (f"{scope}/StyleMod/bias", n(2 * c)),
        ]

    syn += [("4x4/Const/const", 1 + 0.3 * n(1, nf(1), 4, 4))] + epilogue("4x4/Const", nf(1))
    syn += [("4x4/Conv/weight", n(3, 3, nf(1), nf(1)))] + epilogue("4x4/Conv", nf(1))
    for res in range(3, LOG2 + 1):
        s = f"{2**res}x{2**res}"
        syn += [(f"{s}/Conv0_up/weight", n(3, 3, nf(res - 2), nf(res - 1)))]
        syn += epilogue(f"{s}/Conv0_up", nf(res - 1))
        syn += [(f"{s}/Conv1/weight", n(3, 3, nf(res - 1), nf(res - 1)))]
        syn += epilogue(f"{s}/Conv1", nf(res - 1))
    for res in range(2, LOG2 + 1):
        syn += [(f"ToRGB_lod{LOG2 - res}/weight", n(1, 1, nf(res - 1), 3))]
        syn += [(f"ToRGB_lod{LOG2 - res}/bias", n(3))]
    d = [("lod", np.float32(0))]
    for res in range(LOG2, 1, -1):
        d += [(f"FromRGB_lod{LOG2 - res}/weight", n(1, 1, 3, nf(res - 1)))]
        d += [(f"FromRGB_lod{LOG2 - res}/bias", n(nf(res - 1)))]
    for res in range(LOG2, 2, -1):
        s = f"{2**res}x{2**res}"
        d += [
            (f"{s}/Conv0/weight", n(3, 3, nf(res - 1), nf(res - 1))),
            (f"{s}/Conv0/bias", n(nf(res - 1))),
        ]
        d += [(f"{s}/Conv1_down/weight", n(3, 3, nf(res - 1), nf(res - 2)))]
        d += [(f"{s}/Conv1_down/bias", n(nf(res - 2)))]
    d += [("4x4/Conv/weight", n(3, 3, nf(1) + 1, nf(1))), ("4x4/Conv/bias", n(nf(1)))]
    d += [("4x4/Dense0/weight", n(nf(1) * 16, nf(0))), ("4x4/Dense0/bias", n(nf(0)))]
    d += [("4x4/Dense1/weight", n(nf(0), 1)), ("4x4/Dense1/bias", n(1))]
    dlatent_avg = [("dlatent_avg", 0.5 * n(W))]
    return mapping, syn, d, dlatent_avg


def _states(rng, version=3):
    mapping, syn, d, avg = _variables(rng)
    common = dict(resolution=R, num_channels=3, fmap_base=FBASE, fmap_max=FMAX)
    g_static = dict(
        common,
        latent_size=Z,
        dlatent_size=W,
        mapping_layers=MAP,
        mapping_fmaps=16,
        truncation_cutoff=4,
        structure="auto",
    )
    comps = dict(
        mapping=tf1_state("G_mapping", "G_mapping", g_static, mapping, version=version),
        synthesis=tf1_state("G_synthesis", "G_synthesis", g_static, syn, version=version),
    )
    G = tf1_state("G", "G_style", g_static, avg, comps, version=version)
    D = tf1_state("D", "D_basic", dict(common, structure="auto"), d, version=version)
    return G, D, dict(mapping=dict(mapping), syn=dict(syn), d=dict(d), avg=avg[0][1])


def _write_pickle(path, nets):
    """Pickle the states as dnnlib.tflib.network.Network objects (what StyleGAN wrote)."""
    mod = types.ModuleType("dnnlib.tflib.network")

    class Network:
        def __init__(self, state):
            self.state = state

        def __getstate__(self):  # pickled as NEWOBJ + BUILD(state), as dnnlib's Network
            return self.state

    Network.__module__, Network.__qualname__ = mod.__name__, "Network"
    mod.Network = Network
    saved = {k: sys.modules.get(k) for k in ("dnnlib", "dnnlib.tflib", mod.__name__)}
    sys.modules.update(
        {"dnnlib": types.ModuleType("dnnlib"), "dnnlib.tflib": types.ModuleType("t")}
    )
    sys.modules[mod.__name__] = mod
    try:

        def as_network(net):
            comps = {k: as_network(c) for k, c in (net.state.get("components") or {}).items()}
            return Network(dict(net.state, components=comps))

        path.write_bytes(pickle.dumps(tuple(as_network(n) for n in nets), protocol=2))
    finally:
        for k, v in saved.items():
            sys.modules.pop(k) if v is None else sys.modules.__setitem__(k, v)


# -- the NumPy reference (NCHW) ----------------------------------------------------------------
def lrelu(x):
    return np.where(x >= 0, x, 0.2 * x)


def conv(x, w, gain=SQRT2):  # TF1 conv2d SAME with use_wscale: w [k, k, I, O]
    k, cin = w.shape[0], w.shape[2]
    w = w * gain / np.sqrt(k * k * cin)
    p = k // 2
    xp = np.pad(x, [(0, 0), (0, 0), (p, p), (p, p)])
    h, ww = x.shape[2:]
    return sum(
        np.einsum("nchw,co->nohw", xp[:, :, i : i + h, j : j + ww], w[i, j])
        for i in range(k)
        for j in range(k)
    )


def blur(x):
    f = np.outer([1, 2, 1], [1, 2, 1]) / 16.0
    xp = np.pad(x, [(0, 0), (0, 0), (1, 1), (1, 1)])
    h, w = x.shape[2:]
    return sum(f[i, j] * xp[:, :, i : i + h, j : j + w] for i in range(3) for j in range(3))


def up(x):
    return x.repeat(2, axis=2).repeat(3 - 1, axis=3)


def down(x):
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))


def lerp_clip(a, b, t):
    return a + (b - a) * np.clip(t, 0.0, 1.0)


def ref_mapping(m, z, avg, psi, cutoff):
    x = z / np.sqrt(np.mean(z**2, axis=1, keepdims=True) + 1e-8)
    for i in range(MAP):
        wgt = m[f"Dense{i}/weight"]
        x = lrelu(x @ (wgt * SQRT2 / np.sqrt(wgt.shape[0]) * 0.01) + m[f"Dense{i}/bias"] * 0.01)
    ws = np.repeat(x[:, None], 2 * LOG2 - 2, axis=1)
    layer = np.arange(2 * LOG2 - 2)[None, :, None]
    return np.where(layer < cutoff, avg + psi * (ws - avg), ws)


def ref_synthesis(s, ws, lod):
    def epilogue(x, scope, i):
        c = x.shape[1]
        x = x + s[f"noise{i}"] * s[f"{scope}/Noise/weight"].reshape(1, c, 1, 1)
        x = lrelu(x + s[f"{scope}/bias"].reshape(1, c, 1, 1))
        x = x - x.mean(axis=(2, 3), keepdims=True)
        x = x / np.sqrt(np.mean(x**2, axis=(2, 3), keepdims=True) + 1e-8)
        style = (
            ws[:, i] @ (s[f"{scope}/StyleMod/weight"] / np.sqrt(W)) + s[f"{scope}/StyleMod/bias"]
        )
        return x * (style[:, :c, None, None] + 1) + style[:, c:, None, None]

    def torgb(x, res):
        w = s[f"ToRGB_lod{LOG2 - res}/weight"]
        return conv(x, w, gain=1.0) + s[f"ToRGB_lod{LOG2 - res}/bias"].reshape(1, 3, 1, 1)

    x = np.tile(s["4x4/Const/const"], [len(ws), 1, 1, 1])
    x = epilogue(x, "4x4/Const", 0)
    x = epilogue(conv(x, s["4x4/Conv/weight"]), "4x4/Conv", 1)
    img = torgb(x, 2)
    for res in range(3, LOG2 + 1):
        sc = f"{2**res}x{2**res}"
        x = epilogue(blur(conv(up(x), s[f"{sc}/Conv0_up/weight"])), f"{sc}/Conv0_up", 2 * res - 4)
        x = epilogue(conv(x, s[f"{sc}/Conv1/weight"]), f"{sc}/Conv1", 2 * res - 3)
        img = lerp_clip(torgb(x, res), up(img), lod - (LOG2 - res))
    return img


def ref_d(d, img, lod):
    def fromrgb(x, res):
        sc = f"FromRGB_lod{LOG2 - res}"
        return lrelu(conv(x, d[f"{sc}/weight"]) + d[f"{sc}/bias"].reshape(1, -1, 1, 1))

    x = fromrgb(img, LOG2)
    for res in range(LOG2, 2, -1):
        sc = f"{2**res}x{2**res}"
        x = lrelu(conv(x, d[f"{sc}/Conv0/weight"]) + d[f"{sc}/Conv0/bias"].reshape(1, -1, 1, 1))
        x = down(conv(blur(x), d[f"{sc}/Conv1_down/weight"]))
        x = lrelu(x + d[f"{sc}/Conv1_down/bias"].reshape(1, -1, 1, 1))
        img = down(img)
        x = lerp_clip(x, fromrgb(img, res - 1), lod - (LOG2 - res))
    n, c, h, w = x.shape
    g = min(4, n)
    y = x.reshape(g, -1, 1, c, h, w)
    y = np.sqrt(((y - y.mean(0)) ** 2).mean(0) + 1e-8).mean(axis=(2, 3, 4))  # [M, 1]
    y = np.tile(y[:, :, None, None], [g, 1, h, w])
    x = np.concatenate([x, y], axis=1)
    x = lrelu(conv(x, d["4x4/Conv/weight"]) + d["4x4/Conv/bias"].reshape(1, -1, 1, 1))
    x = x.reshape(n, -1)
    w0 = d["4x4/Dense0/weight"]
    x = lrelu(x @ (w0 * SQRT2 / np.sqrt(w0.shape[0])) + d["4x4/Dense0/bias"])
    w1 = d["4x4/Dense1/weight"]
    return x @ (w1 / np.sqrt(w1.shape[0])) + d["4x4/Dense1/bias"]


def test_stylegan1_pickle_equals_the_reference(tmp_path):
    rng = np.random.default_rng(5)
    G, D, v = _states(rng)
    path = tmp_path / "karras2019stylegan-tiny.pkl"
    _write_pickle(path, (G, D, G))
    nets = tf_stylegan2.load_network(str(path))
    Gs, Dk = nets["G_ema"], nets["D"]
    assert type(Gs.synthesis).__name__ == "StyleSynthesisNetwork" and Gs.num_ws == 6
    assert type(Dk).__name__ == "BasicDiscriminator"
    z = np.random.RandomState(0).randn(4, Z).astype(np.float32)
    for psi in (1.0, 0.7):
        ws = ref_mapping(v["mapping"], z.astype(np.float64), v["avg"], psi, 4)
        np.testing.assert_allclose(Gs.mapping(z, truncation_psi=psi).numpy(), ws, atol=1e-6)
    for lod in (0.0, 0.5, 1.25, 2.0):
        Gs.synthesis.lod.assign(lod)
        Dk.lod.assign(lod)
        want = ref_synthesis(v["syn"], ws, lod).transpose(0, 2, 3, 1)
        got = Gs(z, truncation_psi=0.7, noise_mode="const").numpy()
        assert np.abs(got - want).max() <= 2e-5, lod  # measured 4e-6 (oneDNN on and off)
        logits = ref_d(v["d"], want.transpose(0, 3, 1, 2), lod)
        got_logits = Dk(want.astype(np.float32)).numpy()
        np.testing.assert_allclose(got_logits, logits, rtol=0, atol=5e-6)  # measured 1.2e-6
    # noise: 'random' differs from 'const'; 'none' ignores the stored maps
    Gs.synthesis.lod.assign(0.0)
    const = Gs(z, noise_mode="const").numpy()
    assert np.abs(Gs(z, noise_mode="random").numpy() - const).max() > 1e-3
    assert np.abs(Gs(z, noise_mode="none").numpy() - const).max() > 1e-3


def test_stylegan1_pickle_errors(tmp_path):
    from tf_stylegan2.legacy import tf1_pickle

    rng = np.random.default_rng(1)
    G, D, _ = _states(rng)
    bad = tf1_state(
        "G",
        "G_style",
        dict(G.state["static_kwargs"], use_pixel_norm=True),
        G.state["variables"],
        G.state["components"],
        version=3,
    )
    with pytest.raises(tf_stylegan2.legacy.UnsupportedTF1Pickle, match="use_pixel_norm=True"):
        tf1_pickle.read_tf1_pickle((bad, D, G), "x.pkl")
    extra = tf1_state(
        "D",
        "D_basic",
        D.state["static_kwargs"],
        D.state["variables"] + [("LabelSwitch/w", np.zeros(2, np.float32))],
        version=3,
    )
    with pytest.raises(tf_stylegan2.legacy.UnsupportedTF1Pickle, match="LabelSwitch/w"):
        tf1_pickle.read_tf1_pickle((G, extra, G), "x.pkl")
    old = tf1_state("D", "D_basic", D.state["static_kwargs"], D.state["variables"], version=1)
    with pytest.raises(tf_stylegan2.legacy.UnsupportedTF1Pickle, match="version 1"):
        tf1_pickle.read_tf1_pickle((G, old, G), "x.pkl")


def test_fused_resampling_convs():
    """5.7: the fused up-conv (outputs >= 128 px) is nearest-up + conv with the flipped weight;
    the fused down-conv equals the non-fused one with the weight as stored."""
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal([2, 8, 8, 3]), tf.float32)
    w = tf.constant(rng.standard_normal([3, 3, 3, 5]), tf.float32)
    fused = sg1.upscale_conv2d(x, w, fused=True)
    flipped = sg1.upscale_conv2d(x, w[::-1, ::-1], fused=False)
    np.testing.assert_allclose(fused.numpy(), flipped.numpy(), atol=1e-5)
    assert np.abs(fused - sg1.upscale_conv2d(x, w, fused=False)).max() > 0.1
    np.testing.assert_allclose(
        sg1.conv2d_downscale2d(x, w, True).numpy(),
        sg1.conv2d_downscale2d(x, w, False).numpy(),
        atol=1e-5,
    )


def test_layer_contract_and_snapshot_at_a_fractional_lod(tmp_path):
    assert_layer_contract(
        AdaINLayer,
        dict(in_channels=4, out_channels=6, w_dim=5, resolution=8, up=True),
        [tf.random.normal([2, 4, 4, 4], seed=1), tf.random.normal([2, 5], seed=2)],
        dict(noise_mode="const"),
        expected_output_shape=(2, 8, 8, 6),
        num_trainable=5,
        num_non_trainable=1,
        tmp_path=tmp_path,
        atol=1e-6,
    )
    assert_layer_contract(
        WScaleConv2d,
        dict(
            in_channels=4,
            out_channels=6,
            kernel_size=3,
            resample="down",
            resolution=8,
            activation="lrelu",
        ),
        [tf.random.normal([2, 8, 8, 4], seed=3)],
        expected_output_shape=(2, 4, 4, 6),
        num_trainable=2,
    )
    from tf_stylegan2.networks import Generator, make_discriminator, presets

    G_kwargs, D_kwargs = presets.network_kwargs("config-a", 16, 3)
    G_kwargs["synthesis_kwargs"].update(channel_base=64, channel_max=8)
    G = Generator(**G_kwargs)
    D = make_discriminator(**dict(D_kwargs, channel_base=64, channel_max=8))
    G.synthesis.lod.assign(1.5)
    D.lod.assign(1.5)
    z = tf.random.normal([2, 512], seed=4)
    img = G(z, noise_mode="const").numpy()
    path = tmp_path / "snap.keras"
    tf_stylegan2.save_snapshot(path, D=D, G_ema=G)
    nets = tf_stylegan2.load_network(str(path))
    assert float(nets["G_ema"].synthesis.lod.numpy()) == 1.5 and float(nets["D"].lod.numpy()) == 1.5
    np.testing.assert_array_equal(nets["G_ema"](z, noise_mode="const").numpy(), img)
    np.testing.assert_array_equal(nets["D"](img).numpy(), D(img).numpy())
    # at lod 1.5 the 16x16 image is the 8x8 level's, half faded into the 4x4 level's: 2x2 blocks
    assert np.abs(img[:, ::2, ::2] - img[:, 1::2, 1::2]).max() < 1e-5  # a + (b - a) * 1 rounds
