"""StyleALAE's own layers (official ALAE net.py): the decoder layer with ALAE's extra noise modes,
and the encoder block that maps its instance-norm statistics to w. The rest is shared with
StyleGAN's config A (tf_stylegan2.layers.stylegan1)."""

import math

import keras
import tensorflow as tf

from tf_stylegan2 import ops
from tf_stylegan2.layers.base import PACKAGE, FullyConnectedLayer, no_autocast
from tf_stylegan2.layers.stylegan1 import SQRT2, AdaINLayer, WScaleConv2d
from tf_stylegan2.layers.synthesis import _layer_noise

NOISE_MODES = ("random", "batch_constant", "deterministic", "none", "const")


@keras.saving.register_keras_serializable(package=PACKAGE)
class AlaeDecodeLayer(AdaINLayer):
    """AdaINLayer (noise, bias, lrelu, instance norm 1e-8, style) with ALAE's noise modes:
    'batch_constant' (one random map for the batch) and 'deterministic' (net.py DecodeBlock with
    noise=False: x + s exp(-x^2 / 2s^2) / sqrt(2 pi) * 0.8, s = sqrt(block + 1), no randomness).

    Args: AdaINLayer's, plus block (the decoder block index, 0 = 4x4).
    """

    noise_modes = NOISE_MODES

    def __init__(self, *args, block=0, **kwargs):
        super().__init__(*args, **kwargs)
        self.block = int(block)

    def add_noise(self, x, n, noise_mode, noise_seed, noise):
        if noise is None and noise_mode == "deterministic":
            s = math.sqrt(self.block + 1)
            return x + s * tf.exp(-x * x / (2.0 * s * s)) / math.sqrt(2 * math.pi) * 0.8
        if noise is None and noise_mode == "batch_constant":
            r = self.resolution
            noise = _layer_noise(tf.constant([1, r, r, 1]), noise_seed, self.layer_index)
        return super().add_noise(x, n, noise_mode, noise_seed, noise)

    def get_config(self):
        return dict(super().get_config(), block=self.block)


def _stats(x):
    """[N, 2C]: the mean over H, W, then the biased standard deviation (no epsilon)."""
    mean = tf.reduce_mean(x, axis=[1, 2])
    std = tf.sqrt(tf.reduce_mean(tf.square(x - mean[:, None, None, :]), axis=[1, 2]))
    return tf.concat([mean, std], axis=1)


def _instance_norm(x, eps):
    x = x - tf.reduce_mean(x, axis=[1, 2], keepdims=True)
    return x * tf.math.rsqrt(tf.reduce_mean(tf.square(x), axis=[1, 2], keepdims=True) + eps)


@keras.saving.register_keras_serializable(package=PACKAGE)
class AlaeEncodeBlock(keras.layers.Layer):
    """One encoder block (net.py EncodeBlock): conv_1 3x3 + bias_1, lrelu, statistics s1,
    instance norm (eps 1e-5), blur, conv_2 3x3 with 2x down (avg pool, or fused at >= 128 px),
    + bias_2, lrelu, statistics s2, instance norm; style_1(s1) and style_2(s2) are its terms of w.

    Args: in_channels, out_channels, latent_size, resolution (of the input).
    Call: x [N, R, R, in] -> (x [N, R/2, R/2, out], w1 [N, latent], w2 [N, latent]).
    """

    def __init__(self, in_channels, out_channels, latent_size, resolution, **kwargs):
        super().__init__(**no_autocast(kwargs))
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.latent_size, self.resolution = int(latent_size), int(resolution)
        policy = dict(dtype=self.dtype_policy)
        self.conv_1 = WScaleConv2d(
            self.in_channels, self.in_channels, 3, bias=False, name="conv_1", **policy
        )
        self.conv_2 = WScaleConv2d(
            self.in_channels,
            self.out_channels,
            3,
            resample="down",
            resolution=self.resolution,
            bias=False,
            name="conv_2",
            **policy,
        )
        self.style_1 = FullyConnectedLayer(
            2 * self.in_channels, self.latent_size, gain=SQRT2, name="style_1", **policy
        )
        self.style_2 = FullyConnectedLayer(
            2 * self.out_channels, self.latent_size, gain=SQRT2, name="style_2", **policy
        )

    def build(self, input_shape=None):
        if self.built:
            return
        self.conv_1.build(None)
        self.conv_2.build(None)
        self.style_1.build([None, 2 * self.in_channels])
        self.style_2.build([None, 2 * self.out_channels])
        self.bias_1 = self.add_weight(name="bias_1", shape=[self.in_channels], initializer="zeros")
        self.bias_2 = self.add_weight(name="bias_2", shape=[self.out_channels], initializer="zeros")
        self.built = True

    def call(self, x):
        x = ops.lrelu(self.conv_1(x) + tf.cast(self.bias_1, x.dtype))
        w1 = self.style_1(_stats(x))
        x = _instance_norm(x, 1e-5)
        x = ops.lrelu(self.conv_2(x) + tf.cast(self.bias_2, x.dtype))
        w2 = self.style_2(_stats(x))
        return _instance_norm(x, 1e-5), w1, w2

    def get_config(self):
        return dict(
            super().get_config(),
            in_channels=self.in_channels,
            out_channels=self.out_channels,
            latent_size=self.latent_size,
            resolution=self.resolution,
        )
