"""Mixed precision (bf16, fp16) and float64 in the networks.

Which blocks compute in which dtype (ADA-PT training/networks.py `use_fp16`: the top num_fp16_res
resolutions, never below 8x8; mapping, affines, image path and D's epilogue in float32); G images
and D logits in each precision vs float32 on the same weights (fixture_S's networks with
num_fp16_res 4, and a demo-preset pair); policy copies and config round trips; precision names.
Tolerances: what was measured on an AVX-512 BF16 CPU (docs/NUMERICS.md) plus a margin.
"""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_stylegan2.legacy.ada_state import ada_kwargs_to_ours, apply_ada_state
from tf_stylegan2.networks import Discriminator, Generator, presets
from tf_stylegan2.networks.precision import (
    CHOICES,
    continue_in,
    cpu_has_bfloat16,
    precision_name,
    resolve_precision,
    with_policy,
)

from conftest import shared_path

# precision -> (G max abs, G mean abs, D max abs) allowed vs float32 on the same weights: about
# twice the larger of what was measured with oneDNN on / off (AVX-512 BF16 CPU):
# fixture_S bf16 0.038 / 0.0064 / 0.0040 on, 0.069 / 0.0088 / 0.0037 off; fp16 0.0057 / 0.00082 /
# 0.00019 on, 0.0083 / 0.0012 / 0.00071 off; fp64 at most 3.9e-6 / 5.8e-7 / 4.0e-7.
# demo bf16 0.046 / 0.0072 / 0.0071 on, 0.084 / 0.015 / 0.0064 off; fp16 0.0064 / 0.0012 / 0.0007
# on, 0.0135 / 0.0020 / 0.0008 off; fp64 at most 6.9e-6 / 1.1e-6 / 1.6e-6.
TOLERANCE_S = {
    "bf16": (0.14, 0.02, 0.01),
    "fp16": (0.017, 0.0025, 0.0015),
    "fp64": (1e-5, 2e-6, 1e-6),
}
TOLERANCE_DEMO = {
    "bf16": (0.17, 0.03, 0.015),
    "fp16": (0.027, 0.004, 0.0017),
    "fp64": (1.5e-5, 2.5e-6, 3.5e-6),
}


@pytest.fixture(scope="module")
def fixture_S():
    f = np.load(shared_path("fixtures", "ada_config_S", "fixture_S.npz"))
    data = {k: f[k] for k in f.files}
    meta = json.loads(str(data["meta/json"]))
    G_kwargs = ada_kwargs_to_ours(meta["G_kwargs"])
    G_kwargs["synthesis_kwargs"]["num_fp16_res"] = 4  # b8, b16 reduced; b4 float32
    D_kwargs = dict(ada_kwargs_to_ours(meta["D_kwargs"]), num_fp16_res=4)

    def state(prefix):
        return {k[len(prefix) + 1 :]: v for k, v in data.items() if k.startswith(prefix + "/")}

    G = apply_ada_state(Generator(**G_kwargs), state("G_ema"))
    D = apply_ada_state(Discriminator(**D_kwargs), state("D"))
    return data, G, D


def _errors(G, D, G2, D2, z, c, img):
    ref, got = G(z, c).numpy(), G2(z, c).numpy()
    assert got.dtype == ref.dtype or G2.variable_dtype == "float64"
    g = np.abs(got.astype(np.float64) - ref)
    d = np.abs(D2(img, c).numpy().astype(np.float64) - D(img, c).numpy())
    return float(g.max()), float(g.mean()), float(d.max())


@pytest.mark.parametrize("precision", ["bf16", "fp16", "fp64"])
def test_fixture_S_outputs_vs_float32(fixture_S, precision):
    data, G, D = fixture_S
    G2, D2 = (with_policy(net, resolve_precision(precision)) for net in (G, D))
    img = np.transpose(data["in/real_img"], (0, 2, 3, 1))
    g_max, g_mean, d_max = _errors(G, D, G2, D2, data["in/z"], None, img)
    tol = TOLERANCE_S[precision]
    print(f"{precision}: G max {g_max:.3g} mean {g_mean:.3g}, D max {d_max:.3g}")
    assert g_max <= tol[0] and g_mean <= tol[1] and d_max <= tol[2], (g_max, g_mean, d_max)
    if precision != "fp64":  # the half dtype is really used: not equal to float32
        assert g_max > 1e-4 and d_max > 1e-6


@pytest.mark.parametrize("precision", ["bf16", "fp16", "fp64"])
def test_demo_preset_outputs_vs_float32(precision):
    G_kwargs, D_kwargs = presets.network_kwargs("demo", 32, 1, c_dim=10)
    keras.utils.set_random_seed(3)
    G, D = Generator(**G_kwargs), Discriminator(**D_kwargs)
    G2, D2 = (with_policy(net, resolve_precision(precision)) for net in (G, D))
    rnd = np.random.RandomState(0)
    z = rnd.randn(8, G.z_dim).astype(np.float32)
    c = np.eye(10, dtype=np.float32)[rnd.randint(0, 10, 8)]
    img = np.clip(G(z, c).numpy(), -1, 1)
    g_max, g_mean, d_max = _errors(G, D, G2, D2, z, c, img)
    tol = TOLERANCE_DEMO[precision]
    print(f"{precision}: G max {g_max:.3g} mean {g_mean:.3g}, D max {d_max:.3g}")
    assert g_max <= tol[0] and g_mean <= tol[1] and d_max <= tol[2], (g_max, g_mean, d_max)


def test_blocks_follow_num_fp16_res():
    kw = dict(channel_base=256, channel_max=16, num_fp16_res=2)
    G = Generator(16, 0, 16, 64, 3, synthesis_kwargs=kw, dtype="mixed_bfloat16")
    D = Discriminator(0, 64, 3, **kw, dtype="mixed_bfloat16")
    # 64x64, num_fp16_res 2: fp16_resolution = max(2 ** (6 + 1 - 2), 8) = 32
    assert {b.name: b.compute_dtype for b in G.synthesis.blocks} == {
        "b4": "float32",
        "b8": "float32",
        "b16": "float32",
        "b32": "bfloat16",
        "b64": "bfloat16",
    }
    assert {b.name: b.compute_dtype for b in D.blocks} == {
        "b64": "bfloat16",
        "b32": "bfloat16",
        "b16": "float32",
        "b8": "float32",
    }
    assert D.b4.compute_dtype == "float32" and G.mapping.compute_dtype == "float32"
    assert G.synthesis.b64.conv1.compute_dtype == "bfloat16"
    assert G.synthesis.b64.conv1.affine.compute_dtype == "float32"  # styles in float32
    assert all(v.dtype == "float32" for v in G.weights + D.weights)
    img = G(tf.random.normal([2, 16]))
    assert img.dtype == tf.float32 and D(img).dtype == tf.float32
    # never below 8x8, even when num_fp16_res asks for every resolution
    G = Generator(
        16, 0, 16, 16, 3, synthesis_kwargs=dict(kw, num_fp16_res=9), dtype="mixed_float16"
    )
    assert [b.compute_dtype for b in G.synthesis.blocks] == ["float32", "float16", "float16"]
    # a float32 / float64 policy ignores num_fp16_res
    G = Generator(16, 0, 16, 16, 3, synthesis_kwargs=kw, dtype="float64")
    assert {b.compute_dtype for b in G.synthesis.blocks} == {"float64"}


def test_policy_copy_and_config_round_trip():
    kw = dict(channel_base=256, channel_max=16, num_fp16_res=4)
    G = Generator(16, 0, 16, 16, 3, synthesis_kwargs=kw)
    z = tf.random.normal([2, 16], seed=1)
    half = with_policy(G, "mixed_bfloat16")
    assert half.dtype_policy.name == "mixed_bfloat16"
    again = Generator.from_config(half.get_config())
    assert again.dtype_policy.name == "mixed_bfloat16"
    assert [b.compute_dtype for b in again.synthesis.blocks] == ["float32", "bfloat16", "bfloat16"]
    back = with_policy(half, "float32")
    np.testing.assert_array_equal(back(z).numpy(), G(z).numpy())  # the same weights, exactly
    assert with_policy(G, "float32") is G
    wide = with_policy(G, "float64")
    assert wide.weights[0].dtype == "float64"
    np.testing.assert_allclose(wide(z).numpy(), G(z).numpy(), atol=1e-5)


def test_half_precision_gradients_are_finite_and_float32():
    kw = dict(channel_base=256, channel_max=16, num_fp16_res=4, conv_clamp=256)
    G = Generator(16, 0, 16, 16, 3, synthesis_kwargs=kw, dtype="mixed_bfloat16")
    D = Discriminator(0, 16, 3, **kw, dtype="mixed_bfloat16")

    @tf.function
    def step(z, reals):
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(reals)
            g_loss = tf.reduce_mean(tf.nn.softplus(-D(G(z))))
            d_real = tf.reduce_sum(D(reals))
        r1 = tape.gradient(d_real, reals)
        return tape.gradient(g_loss, G.trainable_variables), r1

    grads, r1 = step(tf.random.normal([4, 16]), tf.random.uniform([4, 16, 16, 3], -1, 1))
    assert r1.dtype == tf.float32 and np.isfinite(r1.numpy()).all()
    assert all(g.dtype == tf.float32 and np.isfinite(g.numpy()).all() for g in grads)
    assert float(tf.reduce_sum(tf.abs(grads[-1]))) > 0


def test_precision_names(tmp_path):
    from apps import cli

    assert tuple(cli.PRECISIONS) == CHOICES  # the commands' --precision choices
    assert resolve_precision("fp32") == "float32" and resolve_precision("fp64") == "float64"
    assert resolve_precision("bf16") == "mixed_bfloat16"
    assert resolve_precision("fp16") == "mixed_float16"
    assert resolve_precision("auto", gpus=1) == "mixed_float16"
    assert precision_name("mixed_bfloat16") == "bf16" and precision_name("float32") == "fp32"
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        resolve_precision("fp8")
    bf16 = tmp_path / "bf16"
    bf16.write_text("processor : 0\nflags : fpu sse avx512f avx512_bf16 amx_tile\n")
    plain = tmp_path / "plain"
    plain.write_text("processor : 0\nflags : fpu sse avx2\n")
    assert cpu_has_bfloat16(str(bf16)) and not cpu_has_bfloat16(str(plain))
    assert not cpu_has_bfloat16(str(tmp_path / "missing"))
    want = "mixed_bfloat16" if cpu_has_bfloat16() else "float32"
    assert resolve_precision("auto", gpus=0) == want


def test_continue_in():
    assert continue_in("float32", "bf16") == "mixed_bfloat16"
    assert continue_in("mixed_bfloat16", "fp32") == "float32"
    assert continue_in("float64", "fp64") == "float64"
    assert continue_in("mixed_float16", "fp16") == "mixed_float16"
    for run, other in (("float64", "fp32"), ("float32", "fp16"), ("mixed_float16", "bf16")):
        with pytest.raises(ValueError, match="its checkpoint cannot continue in " + other):
            continue_in(run, other)
