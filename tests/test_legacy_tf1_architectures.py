"""TF1 pickles of the other architectures (orig, resnet; configs E, F shapes) load completely."""

import numpy as np
import pytest

from tf_stylegan2 import legacy

from harness import networks_or_skip, tf1_state

# ----------------------------------------------------------------------------
# Other TF1 architectures: variable lists built from TF1 networks_stylegan2.py's shape rules.


def _tf1_g_variables(rng, res, fmap_base, fmap_max, arch, z_dim, w_dim, layers):
    def nf(stage):
        return int(np.clip(int(fmap_base / 2.0**stage), 1, fmap_max))

    log2 = int(np.log2(res))
    num_ws = 2 * log2 - 2
    rnd = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    mapping = []
    for i in range(layers):
        mapping += [
            (f"Dense{i}/weight", rnd(z_dim if i == 0 else w_dim, w_dim) * 100),
            (f"Dense{i}/bias", rnd(w_dim)),
        ]
    syn = [
        (f"noise{i}", rnd(1, 1, 2 ** ((i + 5) // 2), 2 ** ((i + 5) // 2)))
        for i in range(num_ws - 1)
    ]
    syn.append(("4x4/Const/const", rnd(1, nf(1), 4, 4)))

    def layer(scope, cin, cout, k=3, noise=True):
        out = [
            (f"{scope}/weight", rnd(k, k, cin, cout)),
            (f"{scope}/mod_weight", rnd(w_dim, cin)),
            (f"{scope}/mod_bias", rnd(cin) * 0.5),
        ]
        if noise:
            out.append((f"{scope}/noise_strength", np.float32(rng.standard_normal() * 0.5)))
        return out + [(f"{scope}/bias", rnd(cout) * 0.2)]

    syn += layer("4x4/Conv", nf(1), nf(1))
    if arch == "skip":
        syn += layer("4x4/ToRGB", nf(1), 3, k=1, noise=False)
    for r in range(3, log2 + 1):
        R = f"{2**r}x{2**r}"
        syn += layer(f"{R}/Conv0_up", nf(r - 2), nf(r - 1)) + layer(
            f"{R}/Conv1", nf(r - 1), nf(r - 1)
        )
        if arch == "resnet":
            syn.append((f"{R}/Skip/weight", rnd(1, 1, nf(r - 2), nf(r - 1))))
        if arch == "skip" or r == log2:
            syn += layer(f"{R}/ToRGB", nf(r - 1), 3, k=1, noise=False)
    own = [("lod", np.float32(0)), ("dlatent_avg", rnd(w_dim))]
    static = dict(
        num_channels=3,
        resolution=res,
        label_size=0,
        fmap_base=fmap_base,
        fmap_max=fmap_max,
        latent_size=z_dim,
        dlatent_size=w_dim,
        mapping_layers=layers,
        mapping_fmaps=w_dim,
        architecture=arch,
    )
    comps = {
        "synthesis": tf1_state("G_synthesis", "G_synthesis_stylegan2", static, syn),
        "mapping": tf1_state(
            "G_mapping", "G_mapping", dict(static, dlatent_broadcast=num_ws), mapping
        ),
    }
    return tf1_state("Gs", "G_main", static, own, comps)


def _tf1_d_variables(rng, res, fmap_base, fmap_max, arch):
    def nf(stage):
        return int(np.clip(int(fmap_base / 2.0**stage), 1, fmap_max))

    log2 = int(np.log2(res))
    rnd = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    out = []
    for r in range(log2, 2, -1):
        R = f"{2**r}x{2**r}"
        if arch == "skip" or r == log2:
            out += [
                (f"{R}/FromRGB/weight", rnd(1, 1, 3, nf(r - 1))),
                (f"{R}/FromRGB/bias", rnd(nf(r - 1))),
            ]
        out += [
            (f"{R}/Conv0/weight", rnd(3, 3, nf(r - 1), nf(r - 1))),
            (f"{R}/Conv0/bias", rnd(nf(r - 1))),
            (f"{R}/Conv1_down/weight", rnd(3, 3, nf(r - 1), nf(r - 2))),
            (f"{R}/Conv1_down/bias", rnd(nf(r - 2))),
        ]
        if arch == "resnet":
            out.append((f"{R}/Skip/weight", rnd(1, 1, nf(r - 1), nf(r - 2))))
    if arch == "skip":
        out += [("4x4/FromRGB/weight", rnd(1, 1, 3, nf(1))), ("4x4/FromRGB/bias", rnd(nf(1)))]
    out += [
        ("4x4/Conv/weight", rnd(3, 3, nf(1) + 1, nf(1))),
        ("4x4/Conv/bias", rnd(nf(1))),
        ("4x4/Dense0/weight", rnd(16 * nf(1), nf(0))),
        ("4x4/Dense0/bias", rnd(nf(0))),
        ("Output/weight", rnd(nf(0), 1)),
        ("Output/bias", rnd(1)),
    ]
    static = dict(
        num_channels=3,
        resolution=res,
        label_size=0,
        fmap_base=fmap_base,
        fmap_max=fmap_max,
        architecture=arch,
    )
    return tf1_state("D", "D_stylegan2", static, out)


@pytest.mark.parametrize("g_arch,d_arch", [("orig", "skip"), ("resnet", "orig")])
def test_tf1_other_architectures_load_completely(g_arch, d_arch):
    networks_or_skip()
    from tf_stylegan2.legacy import tf1_pickle

    rng = np.random.default_rng(7)
    Gs = _tf1_g_variables(rng, 16, 64, 32, g_arch, 32, 32, 2)
    D = _tf1_d_variables(rng, 16, 64, 32, d_arch)
    specs = tf1_pickle.read_tf1_pickle((Gs, D, Gs), "synthetic.pkl")
    assert specs["G"].init_kwargs["synthesis_kwargs"]["architecture"] == g_arch
    assert specs["D"].init_kwargs["architecture"] == d_arch
    # apply_ada_state matches every variable both ways and checks every shape.
    G = legacy.build_network(specs["G_ema"])
    Dn = legacy.build_network(specs["D"])
    z = np.random.RandomState(0).randn(4, 32).astype(np.float32)
    img = np.asarray(G(z, None, noise_mode="const"))
    assert img.shape == (4, 16, 16, 3) and np.all(np.isfinite(img))
    logits = np.asarray(Dn(img, None))
    assert logits.shape == (4, 1) and np.all(np.isfinite(logits))
    np.testing.assert_array_equal(
        np.asarray(G.mapping.w_avg), dict(Gs.state["variables"])["dlatent_avg"]
    )
