"""Equalized-learning-rate dense and conv layers (ADA-PT training/networks.py FullyConnectedLayer,
Conv2dLayer).

Weights are stored raw as in ADA-PT (dense [in, out] = torch weight.T; conv HWIO = torch OIHW
transposed (2, 3, 1, 0)) and scaled at run time, so importing official weights is a transpose.
"""

import keras
import numpy as np
import tensorflow as tf

from tf_stylegan2 import ops

PACKAGE = "tf_stylegan2"


def normal_init(scale=1.0):
    return keras.initializers.RandomNormal(mean=0.0, stddev=float(scale))


def full_precision(policy):
    """The policy that computes in `policy`'s variable dtype: float32 for 'mixed_bfloat16' and
    'mixed_float16' (ADA-PT runs its mapping, affines, epilogue and the image path in float32),
    unchanged for 'float32' and 'float64'."""
    policy = keras.dtype_policies.get(policy)
    return keras.DTypePolicy(policy.variable_dtype)


def is_reduced(policy):
    """True when `policy` computes in a narrower float than it stores (a mixed policy)."""
    policy = keras.dtype_policies.get(policy)
    return policy.compute_dtype != policy.variable_dtype


def no_autocast(kwargs):
    """Layer kwargs with Keras' autocasting off: every layer of this package casts its inputs and
    weights itself, where ADA-PT does (training/networks.py `.to(dtype)` calls), so a mixed policy
    cannot silently put w, the styles or the logits in half precision."""
    kwargs.setdefault("autocast", False)
    return kwargs


@keras.saving.register_keras_serializable(package=PACKAGE)
class FullyConnectedLayer(keras.layers.Layer):
    """Dense layer with equalized LR: `act(x @ (W * lr/sqrt(in)) + b * lr)`.

    Args:
        in_features, out_features: sizes.
        bias: whether to add a bias.
        activation: 'linear', 'lrelu', ... (ops.ACTIVATIONS); lrelu applies gain sqrt(2).
        lr_multiplier: learning-rate multiplier (0.01 for mapping layers).
        bias_init: initial (stored) bias value (1 for style affines).
        gain_in_weights: StyleGAN (v1) convention (TF1 networks_stylegan.py dense): the
            activation's gain multiplies the weight and the activation has none, i.e.
            `act(x @ (W * gain * lr/sqrt(in)) + b * lr)` with act gain 1 (config A).
        gain: like gain_in_weights with this gain instead of the activation's (ALAE's linear
            layers of gain sqrt 2); None = not used.
    Example:
        >>> fc = FullyConnectedLayer(512, 512, activation='lrelu', lr_multiplier=0.01)
    Reference: ADA-PT training/networks.py FullyConnectedLayer.
    """

    def __init__(
        self,
        in_features,
        out_features,
        bias=True,
        activation="linear",
        lr_multiplier=1.0,
        bias_init=0.0,
        gain_in_weights=False,
        gain=None,
        **kwargs,
    ):
        super().__init__(**no_autocast(kwargs))
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        self.use_bias = bool(bias)
        self.activation = activation
        self.lr_multiplier = float(lr_multiplier)
        self.bias_init = float(bias_init)
        self.gain_in_weights = bool(gain_in_weights)
        self.gain = None if gain is None else float(gain)
        self.weight_gain = self.lr_multiplier / np.sqrt(self.in_features)
        self.act_gain = None  # the activation's own (sqrt 2 for lrelu)
        if self.gain_in_weights or self.gain is not None:
            self.weight_gain *= ops.def_gain(activation) if self.gain is None else self.gain
            self.act_gain = 1.0
        self.bias_gain = self.lr_multiplier

    def build(self, input_shape=None):
        if self.built:
            return
        self.weight = self.add_weight(
            name="weight",
            shape=[self.in_features, self.out_features],
            initializer=normal_init(1.0 / self.lr_multiplier),
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=[self.out_features],
                initializer=keras.initializers.Constant(self.bias_init),
            )
        self.built = True

    def call(self, x):
        x = tf.cast(x, self.compute_dtype)
        w = tf.cast(tf.convert_to_tensor(self.weight) * self.weight_gain, x.dtype)
        x = tf.matmul(x, w)  # [N, out]
        b = None if self.bias is None else tf.convert_to_tensor(self.bias) * self.bias_gain
        return ops.bias_act(x, b, act=self.activation, gain=self.act_gain)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.out_features,)

    def get_config(self):
        config = super().get_config()
        config.update(
            in_features=self.in_features,
            out_features=self.out_features,
            bias=self.use_bias,
            activation=self.activation,
            lr_multiplier=self.lr_multiplier,
            bias_init=self.bias_init,
            gain_in_weights=self.gain_in_weights,
        )
        if self.gain is not None:
            config["gain"] = self.gain
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class Conv2dLayer(keras.layers.Layer):
    """Conv with equalized LR, optional FIR 2x up/down (conv2d_resample.py), bias, activation,
    clamp.

    Args:
        in_channels, out_channels, kernel_size: sizes.
        bias: add a bias.
        activation: 'linear' or 'lrelu' (gain sqrt 2).
        up, down: 1 or 2.
        resample_filter: 1-D taps of the FIR (default [1, 3, 3, 1]).
        conv_clamp: None or clamp of the output (x gain).
    Call: `layer(x, gain=1)`, x [N, H, W, I] -> [N, H*up/down, W*up/down, O].
    Reference: ADA-PT training/networks.py Conv2dLayer.
    """

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        bias=True,
        activation="linear",
        up=1,
        down=1,
        resample_filter=(1, 3, 3, 1),
        conv_clamp=None,
        **kwargs,
    ):
        super().__init__(**no_autocast(kwargs))
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = int(kernel_size)
        self.use_bias = bool(bias)
        self.activation = activation
        self.up = int(up)
        self.down = int(down)
        self.resample_filter = (
            None if resample_filter is None else [float(v) for v in resample_filter]
        )
        self.conv_clamp = None if conv_clamp is None else float(conv_clamp)
        self.padding = self.kernel_size // 2
        self.weight_gain = 1.0 / np.sqrt(self.in_channels * self.kernel_size**2)
        self.act_gain = ops.def_gain(activation)
        self._filter = ops.setup_filter(self.resample_filter)

    def build(self, input_shape=None):
        if self.built:
            return
        k = self.kernel_size
        self.weight = self.add_weight(
            name="weight",
            shape=[k, k, self.in_channels, self.out_channels],
            initializer=normal_init(1.0),
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=[self.out_channels], initializer="zeros")
        self.built = True

    def call(self, x, gain=1.0):
        x = tf.cast(x, self.compute_dtype)
        w = tf.cast(tf.convert_to_tensor(self.weight) * self.weight_gain, x.dtype)
        x = ops.conv2d_resample(
            x, w, f=self._filter, up=self.up, down=self.down, padding=self.padding
        )
        act_gain = self.act_gain * gain
        act_clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        b = None if self.bias is None else tf.convert_to_tensor(self.bias)
        return ops.bias_act(x, b, act=self.activation, gain=act_gain, clamp=act_clamp)

    def compute_output_shape(self, input_shape):
        h, w = input_shape[1], input_shape[2]
        scale = lambda v: None if v is None else v * self.up // self.down  # noqa: E731
        return (input_shape[0], scale(h), scale(w), self.out_channels)

    def get_config(self):
        config = super().get_config()
        config.update(
            in_channels=self.in_channels,
            out_channels=self.out_channels,
            kernel_size=self.kernel_size,
            bias=self.use_bias,
            activation=self.activation,
            up=self.up,
            down=self.down,
            resample_filter=self.resample_filter,
            conv_clamp=self.conv_clamp,
        )
        return config
