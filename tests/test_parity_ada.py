"""Parity with the official stylegan2-ada-pytorch networks on fixture_S (see its README).

Networks are built from the fixture's own constructor kwargs through the same path the pickle
importer uses (ada_kwargs_to_ours + apply_ada_state): nothing here is specific to the fixture.
"""

import json

import numpy as np
import pytest

from tf_stylegan2.legacy.ada_state import ada_kwargs_to_ours, apply_ada_state
from tf_stylegan2.networks import Discriminator, Generator

from conftest import shared_path


@pytest.fixture(scope="module")
def fx():
    f = np.load(shared_path("fixtures", "ada_config_S", "fixture_S.npz"))
    data = {k: f[k] for k in f.files}
    meta = json.loads(str(data["meta/json"]))

    def state(prefix):
        return {k[len(prefix) + 1 :]: v for k, v in data.items() if k.startswith(prefix + "/")}

    nets = {}
    for name in ("G", "G_ema"):
        nets[name] = apply_ada_state(Generator(**ada_kwargs_to_ours(meta["G_kwargs"])), state(name))
    nets["D"] = apply_ada_state(Discriminator(**ada_kwargs_to_ours(meta["D_kwargs"])), state("D"))
    return data, meta, nets


def nhwc(a):
    return np.transpose(np.asarray(a), (0, 2, 3, 1))


def assert_close(ours, ref, what):
    ours = np.asarray(ours)
    assert ours.shape == ref.shape, (what, ours.shape, ref.shape)
    tol = 1e-4 * max(1.0, float(np.abs(ref).max()))
    err = float(np.abs(ours - ref).max())
    assert err <= tol, f"{what}: max abs err {err:.3g} > {tol:.3g}"


def test_mapping(fx):
    data, _, nets = fx
    z, cutoff = data["in/z"], int(data["meta/truncation_cutoff"])
    G_ema = nets["G_ema"]
    assert_close(G_ema.mapping(z, None), data["out/G_ema/ws"], "ws")
    assert_close(G_ema.mapping(z, None, truncation_psi=0.7), data["out/G_ema/ws_psi0.7"], "ws psi")
    assert_close(
        G_ema.mapping(z, None, truncation_psi=0.7, truncation_cutoff=cutoff),
        data["out/G_ema/ws_psi0.7_cutoff"],
        "ws psi cutoff",
    )
    assert_close(nets["G"].mapping(z, None), data["out/G/ws"], "G ws")


@pytest.mark.parametrize("fused", [True, False])
def test_images(fx, fused):
    data, meta, nets = fx
    G_ema = nets["G_ema"]
    ws = data["out/G_ema/ws"]
    assert [f"synthesis.{n}" for n in G_ema.synthesis.layer_names()] == meta[
        "synthesis_layer_order"
    ]
    kw = dict(fused_modconv=fused)
    const = data["out/G_ema/img_const" if fused else "out/G_ema/img_const_unfused"]
    assert_close(G_ema.synthesis(ws, noise_mode="const", **kw), nhwc(const), "img const")
    assert_close(
        G_ema.synthesis(ws, noise_mode="none", **kw), nhwc(data["out/G_ema/img_none"]), "img none"
    )
    noise = {k[len("in/noise/") :]: nhwc(v) for k, v in data.items() if k.startswith("in/noise/")}
    assert_close(
        G_ema.synthesis(ws, noise_mode="random", noise_inputs=noise, **kw),
        nhwc(data["out/G_ema/img_noise"]),
        "img noise",
    )
    assert_close(
        G_ema(data["in/z"], None, truncation_psi=0.7, **kw),
        nhwc(data["out/G_ema/img_psi0.7_const"]),
        "img psi 0.7",
    )
    assert_close(
        nets["G"].synthesis(data["out/G/ws"], **kw), nhwc(data["out/G/img_const"]), "G img"
    )


def test_w_avg_update(fx):
    data, meta, _ = fx
    G = Generator(**ada_kwargs_to_ours(meta["G_kwargs"]))
    apply_ada_state(G, {k[2:]: v for k, v in data.items() if k.startswith("G/")})
    G.mapping(data["in/z"], None, update_w_avg=True)
    assert_close(G.mapping.w_avg.numpy(), data["out/G/w_avg_after_update"], "w_avg")


def test_discriminator_logits(fx):
    data, _, nets = fx
    for key, img in (
        ("logits_real", data["in/real_img"]),
        ("logits_gen", data["out/G_ema/img_const"]),
    ):
        ref = data[f"out/D/{key}"]
        ours = nets["D"](nhwc(img), None).numpy()
        rel = float(np.abs(ours - ref).max() / np.abs(ref).max())
        assert rel <= 1e-4, f"{key}: relative error {rel:.3g}"


def test_state_loading_fails_loudly(fx):
    data, meta, _ = fx
    state = {k[2:]: v for k, v in data.items() if k.startswith("G/")}
    G = Generator(**ada_kwargs_to_ours(meta["G_kwargs"]))
    missing = dict(state)
    del missing["synthesis.b8.conv0.noise_const"]
    with pytest.raises(
        ValueError, match=r"variables not in the state: synthesis\.b8\.conv0\.noise_const"
    ):
        apply_ada_state(G, missing)
    extra = dict(state, **{"synthesis.b8.conv9.weight": np.zeros(3)})
    with pytest.raises(ValueError, match=r"no matching variable: synthesis\.b8\.conv9\.weight"):
        apply_ada_state(G, extra)
    wrong = dict(state, **{"mapping.fc0.weight": np.zeros([3, 3], np.float32)})
    with pytest.raises(ValueError, match=r"mapping\.fc0\.weight: shape"):
        apply_ada_state(G, wrong)
    with pytest.raises(ValueError, match="unsupported ADA-PT Generator kwargs"):
        ada_kwargs_to_ours(dict(meta["G_kwargs"], bogus=1))


_INVERSE = {
    "chw_to_hwc": lambda a: np.transpose(a, (2, 0, 1)),
    "oihw_to_hwio": lambda a: np.transpose(a, (3, 2, 0, 1)),
    "transpose": np.transpose,
    "copy": lambda a: a,
}


def _to_ada_state(net):
    """Our weights -> an ADA-PT-style state dict (the inverse of the import table)."""
    from tf_stylegan2 import ops
    from tf_stylegan2.legacy import ada_state

    state = {}
    for v in net.weights:
        name = ada_state.ada_name(v)
        state[name] = _INVERSE[ada_state._rule(name)](v.numpy())
    state[
        "b4.conv.resample_filter" if "b4.conv.weight" in state else "synthesis.b4.resample_filter"
    ] = ops.setup_filter([1, 3, 3, 1])
    return state


@pytest.mark.parametrize(
    "g_arch,d_arch", [("orig", "skip"), ("resnet", "orig"), ("skip", "resnet")]
)
def test_ada_state_table_covers_every_architecture(g_arch, d_arch):
    # Conditional networks with every architecture: our weights exported under ADA-PT names and
    # imported into fresh networks give identical outputs (every variable matched by the table).
    from tf_stylegan2.networks import presets

    G_kwargs, D_kwargs = presets.network_kwargs("tiny", 16, 3, 4)
    G_kwargs["synthesis_kwargs"]["architecture"] = g_arch
    D_kwargs["architecture"] = d_arch
    z = np.random.default_rng(0).standard_normal([4, 32]).astype(np.float32)
    c = np.eye(4, dtype=np.float32)
    for cls, kwargs, args in (
        (Generator, G_kwargs, (z, c)),
        (
            Discriminator,
            D_kwargs,
            (np.tanh(z[:, :1, None, None] * np.ones([4, 16, 16, 3], np.float32)), c),
        ),
    ):
        src, dst = cls(**kwargs), cls(**kwargs)
        state = _to_ada_state(src)
        assert any(k.startswith("mapping.embed") for k in state)
        apply_ada_state(dst, state)
        np.testing.assert_array_equal(dst(*args).numpy(), src(*args).numpy())
