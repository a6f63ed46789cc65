"""A SavedModel exported in another precision keeps float32 inputs and float32 / uint8 outputs
(kept out of tests/test_precision.py, which make test runs twice with oneDNN switched)."""

import json

import numpy as np
import pytest
import tensorflow as tf

from tf_stylegan2.networks import Generator
from tf_stylegan2.networks.precision import with_policy

# G max abs error vs float32 allowed (tests/test_precision.py TOLERANCE_S, fixture_S-sized nets)
G_MAX = {"mixed_bfloat16": 0.14, "float64": 1e-5}


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "float64"])
def test_savedmodel_in_another_precision_keeps_a_float32_signature(tmp_path, policy):
    from apps import export

    kw = dict(channel_base=256, channel_max=16, num_fp16_res=4)
    G = Generator(16, 0, 16, 16, 3, synthesis_kwargs=kw)
    dest = export.export_generator(with_policy(G, policy), tmp_path / "m" / "1")
    assert json.loads((dest / "assets.extra" / "stylegan2.json").read_text())["precision"] == (
        policy
    )
    sig = tf.saved_model.load(str(dest)).signatures
    z = tf.constant(np.random.RandomState(1).randn(4, 16).astype(np.float32))
    inputs = sig["serving_default"].structured_input_signature[1]
    assert {k: v.dtype for k, v in inputs.items()} == {
        "z": tf.float32,
        "truncation_psi": tf.float32,
    }
    ws = sig["mapping"](z=z, truncation_psi=tf.constant(1.0))["ws"]
    np.testing.assert_allclose(ws.numpy(), G.mapping(z).numpy(), atol=1e-5)  # mapping: float32
    img = sig["synthesis"](ws=ws)["images"]
    assert img.dtype == tf.float32
    err = np.abs(img.numpy() - G.synthesis(ws, noise_mode="const").numpy()).max()
    assert err <= G_MAX[policy], err
    if policy == "mixed_bfloat16":
        assert err > 1e-4  # bfloat16 inside, float32 out
    images = sig["serving_default"](z=z, truncation_psi=tf.constant(1.0))["images"]
    assert images.dtype == tf.uint8 and images.shape == (4, 16, 16, 3)
