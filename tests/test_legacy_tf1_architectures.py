"""TF1 pickles of the other architectures (orig, resnet; configs E, F shapes) load completely."""

import numpy as np
import pytest

from tf_stylegan2 import legacy

from harness import networks_or_skip, tf1_d_variables, tf1_g_variables


@pytest.mark.parametrize("g_arch,d_arch", [("orig", "skip"), ("resnet", "orig")])
def test_tf1_other_architectures_load_completely(g_arch, d_arch):
    networks_or_skip()
    from tf_stylegan2.legacy import tf1_pickle

    rng = np.random.default_rng(7)
    Gs = tf1_g_variables(rng, 16, 64, 32, g_arch, 32, 32, 2)
    D = tf1_d_variables(rng, 16, 64, 32, d_arch)
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
