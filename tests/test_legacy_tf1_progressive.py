"""TF1 pickles of configs B-D (G_synthesis_stylegan_revised / D_stylegan) load into the
'progressive' architecture. Checked against the StyleGAN2 'orig' loader (itself checked against
NVIDIA's outputs): the same weights under configs B-D's names give, at lod 0, the same images and
logits as the 'orig' networks, which have only the top-level ToRGB / FromRGB."""

import numpy as np

from tf_stylegan2 import legacy
from tf_stylegan2.legacy import tf1_pickle

from harness import networks_or_skip, tf1_d_variables, tf1_g_variables, tf1_state

RES, BASE, FMAX = 16, 64, 32


def _nf(stage):
    return int(np.clip(int(BASE / 2.0**stage), 1, FMAX))


def _revised(Gs, rng):
    """The orig Gs with its top ToRGB renamed ToRGB_lod0, ToRGBs for the other levels, lod."""
    syn = Gs.state["components"]["synthesis"].state
    top = f"{RES}x{RES}/ToRGB/"
    variables = [(n.replace(top, "ToRGB_lod0/"), v) for n, v in syn["variables"]]
    w_dim = syn["static_kwargs"]["dlatent_size"]
    for lod in range(1, int(np.log2(RES)) - 1):
        cin = _nf(int(np.log2(RES)) - lod - 1)
        variables += [
            (f"ToRGB_lod{lod}/weight", rng.standard_normal([1, 1, cin, 3]).astype(np.float32)),
            (f"ToRGB_lod{lod}/mod_weight", rng.standard_normal([w_dim, cin]).astype(np.float32)),
            (f"ToRGB_lod{lod}/mod_bias", rng.standard_normal([cin]).astype(np.float32)),
            (f"ToRGB_lod{lod}/bias", rng.standard_normal([3]).astype(np.float32)),
        ]
    variables.append(("lod", np.float32(0)))
    static = dict(syn["static_kwargs"])
    static.pop("architecture")
    comps = dict(Gs.state["components"])
    comps["synthesis"] = tf1_state("G_synthesis", "G_synthesis_stylegan_revised", static, variables)
    return tf1_state("Gs", "G_main", Gs.state["static_kwargs"], Gs.state["variables"], comps)


def _d_stylegan(D, rng):
    top = f"{RES}x{RES}/FromRGB/"
    variables = [(n.replace(top, "FromRGB_lod0/"), v) for n, v in D.state["variables"]]
    for lod in range(1, int(np.log2(RES)) - 1):
        cout = _nf(int(np.log2(RES)) - lod - 1)
        variables += [
            (f"FromRGB_lod{lod}/weight", rng.standard_normal([1, 1, 3, cout]).astype(np.float32)),
            (f"FromRGB_lod{lod}/bias", rng.standard_normal([cout]).astype(np.float32)),
        ]
    variables.append(("lod", np.float32(0)))
    static = dict(D.state["static_kwargs"])
    static.pop("architecture")
    return tf1_state("D", "D_stylegan", static, variables)


def test_configs_b_to_d_pickles_equal_orig_at_lod_0():
    networks_or_skip()
    rng = np.random.default_rng(11)
    Gs = tf1_g_variables(rng, RES, BASE, FMAX, "orig", 32, 32, 2)
    D = tf1_d_variables(rng, RES, BASE, FMAX, "orig")
    orig = tf1_pickle.read_tf1_pickle((Gs, D, Gs), "orig.pkl")
    prog = tf1_pickle.read_tf1_pickle((_revised(Gs, rng), _d_stylegan(D, rng), Gs), "bd.pkl")
    assert prog["G"].init_kwargs["synthesis_kwargs"]["architecture"] == "progressive"
    assert prog["D"].init_kwargs["architecture"] == "progressive"
    G_o, G_p = legacy.build_network(orig["G"]), legacy.build_network(prog["G"])
    D_o, D_p = legacy.build_network(orig["D"]), legacy.build_network(prog["D"])
    paths = [v.path.split("/", 1)[1] for v in D_p.weights if "fromrgb" in v.path]
    assert paths[:2] == ["fromrgb16/weight", "fromrgb16/bias"]
    z = np.random.RandomState(0).randn(4, 32).astype(np.float32)
    img = G_o(z, None, noise_mode="const").numpy()
    np.testing.assert_allclose(G_p(z, None, noise_mode="const").numpy(), img, atol=1e-5)
    np.testing.assert_allclose(D_p(img, None).numpy(), D_o(img, None).numpy(), rtol=1e-5)
    # other levels: the per-level layers were loaded and take part
    G_p.synthesis.lod.assign(1.0)
    D_p.lod.assign(1.0)
    assert np.abs(G_p(z, None, noise_mode="const").numpy() - img).max() > 1e-3
    assert np.abs(D_p(img, None).numpy() - D_o(img, None).numpy()).max() > 1e-4
