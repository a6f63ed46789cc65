"""Keras contract and hand-checked numbers of tf_stylegan2.layers."""

import numpy as np
import pytest
import tensorflow as tf

from tf_stylegan2 import layers

from harness import assert_layer_contract

RNG = np.random.default_rng(1)
tf.random.set_seed(1)  # conftest enables deterministic ops, which need a seed for random noise


def randn(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def test_fully_connected_equalized_lr():
    fc = layers.FullyConnectedLayer(4, 3, activation="lrelu", lr_multiplier=0.01)
    x = randn(2, 4)
    fc(x)
    w, b = randn(4, 3), randn(3)
    fc.weight.assign(w)
    fc.bias.assign(b)
    t = x @ (w * 0.01 / 2.0) + b * 0.01
    np.testing.assert_allclose(fc(x).numpy(), np.where(t > 0, t, 0.2 * t) * np.sqrt(2), rtol=1e-5)
    affine = layers.FullyConnectedLayer(4, 3, bias_init=1)
    affine(x)
    np.testing.assert_array_equal(affine.bias.numpy(), 1.0)
    # lr_multiplier 0.01 stores weights with std 100 (raw, un-scaled).
    big = layers.FullyConnectedLayer(256, 256, lr_multiplier=0.01)
    big.build(None)
    assert 80 < np.std(big.weight.numpy()) < 120


def test_conv_layer_gain_and_clamp():
    conv = layers.Conv2dLayer(3, 2, 3, activation="lrelu", conv_clamp=0.5)
    y = conv(randn(2, 8, 8, 3) * 10, gain=2.0).numpy()
    assert np.abs(y).max() == pytest.approx(1.0)  # clamp x gain
    assert conv.weight_gain == pytest.approx(1 / np.sqrt(27))


@pytest.mark.parametrize(
    "kwargs,shape",
    [
        (dict(in_features=5, out_features=3, activation="lrelu", lr_multiplier=0.01), (2, 3)),
    ],
)
def test_fully_connected_contract(kwargs, shape, tmp_path):
    assert_layer_contract(
        layers.FullyConnectedLayer,
        kwargs,
        [randn(2, 5)],
        expected_output_shape=shape,
        num_trainable=2,
        tmp_path=tmp_path,
    )


@pytest.mark.parametrize(
    "kwargs,shape",
    [
        (dict(in_channels=3, out_channels=4, kernel_size=3, activation="lrelu"), (2, 8, 8, 4)),
        (dict(in_channels=3, out_channels=4, kernel_size=3, down=2, conv_clamp=1.0), (2, 4, 4, 4)),
        (dict(in_channels=3, out_channels=4, kernel_size=1, bias=False, up=2), (2, 16, 16, 4)),
    ],
)
def test_conv_contract(kwargs, shape, tmp_path):
    assert_layer_contract(
        layers.Conv2dLayer,
        kwargs,
        [randn(2, 8, 8, 3)],
        expected_output_shape=shape,
        num_trainable=1 + kwargs.get("bias", True),
        tmp_path=tmp_path,
    )


def test_synthesis_layer_contract_and_noise(tmp_path):
    kwargs = dict(in_channels=4, out_channels=5, w_dim=6, resolution=16, up=2)
    x, w = randn(2, 8, 8, 4), randn(2, 6)
    layer = assert_layer_contract(
        layers.SynthesisLayer,
        kwargs,
        [x, w],
        dict(noise_mode="const"),
        expected_output_shape=(2, 16, 16, 5),
        num_trainable=5,
        num_non_trainable=1,
        tmp_path=tmp_path,
    )
    names = sorted(v.path.split("/", 1)[1] for v in layer.weights)
    assert names == [
        "affine/bias",
        "affine/weight",
        "bias",
        "noise_const",
        "noise_strength",
        "weight",
    ], names
    layer.noise_strength.assign(0.5)
    const = layer(x, w, noise_mode="const").numpy()
    none = layer(x, w, noise_mode="none").numpy()
    r1 = layer(x, w, noise_mode="random").numpy()
    r2 = layer(x, w, noise_mode="random").numpy()
    s1 = layer(x, w, noise_mode="random", noise_seed=tf.constant([3, 4])).numpy()
    s2 = layer(x, w, noise_mode="random", noise_seed=tf.constant([3, 4])).numpy()
    assert np.abs(const - none).max() > 1e-3 and np.abs(r1 - r2).max() > 1e-3
    np.testing.assert_array_equal(s1, s2)
    explicit = layer(x, w, noise=np.zeros([2, 16, 16, 1], np.float32)).numpy()
    np.testing.assert_allclose(explicit, none, atol=1e-6)
    with pytest.raises(ValueError, match="noise_mode"):
        layer(x, w, noise_mode="bogus")


def test_torgb_contract(tmp_path):
    assert_layer_contract(
        layers.ToRGBLayer,
        dict(in_channels=4, out_channels=3, w_dim=6, conv_clamp=256),
        [randn(2, 8, 8, 4), randn(2, 6)],
        expected_output_shape=(2, 8, 8, 3),
        num_trainable=4,
        tmp_path=tmp_path,
    )


@pytest.mark.parametrize("architecture", ["orig", "skip", "resnet"])
def test_synthesis_block_contract(architecture, tmp_path):
    kwargs = dict(
        in_channels=4,
        out_channels=5,
        w_dim=6,
        resolution=8,
        img_channels=3,
        is_last=True,
        architecture=architecture,
    )
    x, img, ws = randn(2, 4, 4, 4), randn(2, 4, 4, 3), randn(2, 3, 6)
    if architecture != "skip":
        img = None
    assert_layer_contract(
        layers.SynthesisBlock,
        kwargs,
        [x, img, ws],
        dict(noise_mode="const"),
        expected_output_shape=(2, 8, 8, 5),
        tmp_path=tmp_path,
    )


def test_first_synthesis_block_has_const():
    block = layers.SynthesisBlock(0, 5, 6, 4, 3, is_last=False, architecture="skip")
    x, img = block(None, None, randn(2, 2, 6), noise_mode="const")
    assert x.shape == (2, 4, 4, 5) and img.shape == (2, 4, 4, 3)
    assert block.const.shape == (4, 4, 5) and block.num_conv == 1 and block.num_torgb == 1


def test_minibatch_std_contract(tmp_path):
    assert_layer_contract(
        layers.MinibatchStdLayer,
        dict(group_size=2, num_channels=1),
        [randn(4, 4, 4, 3)],
        expected_output_shape=(4, 4, 4, 4),
        num_trainable=0,
        tmp_path=tmp_path,
    )


@pytest.mark.parametrize("architecture", ["orig", "skip", "resnet"])
def test_discriminator_block_contract(architecture, tmp_path):
    kwargs = dict(
        in_channels=0,
        tmp_channels=4,
        out_channels=5,
        resolution=8,
        img_channels=3,
        architecture=architecture,
    )
    assert_layer_contract(
        layers.DiscriminatorBlock,
        kwargs,
        [None, randn(2, 8, 8, 3)],
        expected_output_shape=(2, 4, 4, 5),
        tmp_path=tmp_path,
    )


@pytest.mark.parametrize("cmap_dim", [0, 6])
def test_discriminator_epilogue_contract(cmap_dim, tmp_path):
    kwargs = dict(
        in_channels=5,
        cmap_dim=cmap_dim,
        resolution=4,
        img_channels=3,
        architecture="resnet",
        mbstd_group_size=2,
    )
    args = [randn(4, 4, 4, 5), None] + ([randn(4, 6)] if cmap_dim else [])
    layer = assert_layer_contract(
        layers.DiscriminatorEpilogue,
        kwargs,
        args,
        expected_output_shape=(4, 1),
        num_trainable=6,
        tmp_path=tmp_path,
    )
    assert layer.conv.weight.shape == (3, 3, 6, 5) and layer.fc.weight.shape == (80, 5)
