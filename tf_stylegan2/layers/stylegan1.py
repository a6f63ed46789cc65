"""StyleGAN (v1) layers of config A (TF1 networks_stylegan.py): the equalized-LR conv with its gain
in the weights (plus the optional 2x up / down of G_synthesis and D_basic), and the AdaIN layer
(conv, per-channel noise, bias, lrelu, instance norm, style modulation: layer_epilogue)."""

import keras
import numpy as np
import tensorflow as tf

from tf_stylegan2 import ops
from tf_stylegan2.layers.base import PACKAGE, FullyConnectedLayer, no_autocast, normal_init
from tf_stylegan2.layers.synthesis import NOISE_MODES, _layer_noise
from tf_stylegan2.ops import stylegan1 as sg1

SQRT2 = float(np.sqrt(2.0))


def fused_at(resolution):
    """TF1 fused_scale='auto': the fused resampling conv when the larger side is >= 128 px."""
    return int(resolution) >= 128


@keras.saving.register_keras_serializable(package=PACKAGE)
class WScaleConv2d(keras.layers.Layer):
    """SAME conv with weight x gain / sqrt(fan_in) (TF1 conv2d, use_wscale), optional 2x change of
    resolution, bias and lrelu(0.2) without gain.

    Args:
        in_channels, out_channels, kernel_size: sizes.
        gain: sqrt 2 for convs followed by lrelu, 1 for ToRGB.
        resample: None, 'up' (TF1 upscale2d_conv2d, then the [1, 2, 1] blur: G's Conv0_up) or
            'down' (the blur, then TF1 conv2d_downscale2d: D's Conv1_down).
        resolution: output size for 'up', input size for 'down' (>= 128: the fused form).
        bias, activation: 'linear' or 'lrelu'.
    Call: x [N, H, W, I] -> [N, H', W', O].
    """

    def __init__(
        self,
        in_channels,
        out_channels,
        kernel_size,
        gain=SQRT2,
        resample=None,
        resolution=None,
        bias=True,
        activation="linear",
        **kwargs,
    ):
        super().__init__(**no_autocast(kwargs))
        if resample not in (None, "up", "down"):
            raise ValueError(f"resample must be None, 'up' or 'down', got {resample!r}")
        if activation not in ("linear", "lrelu"):
            raise ValueError(f"activation must be 'linear' or 'lrelu', got {activation!r}")
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = int(kernel_size)
        self.gain = float(gain)
        self.resample = resample
        self.resolution = None if resolution is None else int(resolution)
        self.use_bias = bool(bias)
        self.activation = activation
        self.weight_gain = self.gain / np.sqrt(self.in_channels * self.kernel_size**2)

    def build(self, input_shape=None):
        if self.built:
            return
        k = self.kernel_size
        self.weight = self.add_weight(
            name="weight",
            shape=[k, k, self.in_channels, self.out_channels],
            initializer=normal_init(),
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(name="bias", shape=[self.out_channels], initializer="zeros")
        self.built = True

    def call(self, x):
        x = tf.cast(x, self.compute_dtype)
        w = tf.cast(tf.convert_to_tensor(self.weight) * self.weight_gain, x.dtype)
        if self.resample == "up":
            x = sg1.blur2d(sg1.upscale_conv2d(x, w, fused_at(self.resolution)))
        elif self.resample == "down":
            x = sg1.conv2d_downscale2d(sg1.blur2d(x), w, fused_at(self.resolution))
        else:
            x = tf.nn.conv2d(x, w, strides=1, padding="SAME")
        if self.bias is not None:
            x = x + tf.cast(self.bias, x.dtype)
        if self.activation == "lrelu":
            x = ops.lrelu(x)
        return x

    def get_config(self):
        config = super().get_config()
        config.update(
            in_channels=self.in_channels,
            out_channels=self.out_channels,
            kernel_size=self.kernel_size,
            gain=self.gain,
            resample=self.resample,
            resolution=self.resolution,
            bias=self.use_bias,
            activation=self.activation,
        )
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class AdaINLayer(keras.layers.Layer):
    """One layer of G_synthesis: [const | conv | up-conv + blur], then layer_epilogue: x + noise x
    strength[C], + bias, lrelu(0.2), instance norm, x * (s + 1) + b with [s, b] = StyleMod(w).

    Args:
        in_channels: 0 for the 4x4 constant (ones) input.
        out_channels, w_dim, resolution (of the output).
        up: Conv0_up (2x nearest or fused up, then the blur).
        layer_index: position in the synthesis layer order (the w index and the noise seed).
    Call: `layer(x, w, noise_mode='random', noise_seed=None, noise=None)`; x [N, H, W, I] (or
        the batch size's tensor for the constant), w [N, w_dim] -> [N, R, R, out_channels].
    Reference: TF1 networks_stylegan.py G_synthesis (layer_epilogue, apply_noise, style_mod).
    """

    noise_modes = NOISE_MODES

    def __init__(
        self, in_channels, out_channels, w_dim, resolution, up=False, layer_index=0, **kwargs
    ):
        super().__init__(**no_autocast(kwargs))
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.w_dim = int(w_dim)
        self.resolution = int(resolution)
        self.up = bool(up)
        self.layer_index = int(layer_index)
        self.conv = None
        if self.in_channels:
            self.conv = WScaleConv2d(
                self.in_channels,
                self.out_channels,
                3,
                resample="up" if self.up else None,
                resolution=self.resolution,
                bias=False,
                name="conv",
                dtype=self.dtype_policy,
            )
        self.style = FullyConnectedLayer(
            self.w_dim, 2 * self.out_channels, name="style", dtype=self.dtype_policy
        )

    def build(self, input_shape=None):
        if self.built:
            return
        r, c = self.resolution, self.out_channels
        if self.conv is None:
            self.const = self.add_weight(name="const", shape=[r, r, c], initializer="ones")
        else:
            self.conv.build(None)
        self.style.build([None, self.w_dim])
        self.noise_strength = self.add_weight(name="noise_strength", shape=[c], initializer="zeros")
        self.bias = self.add_weight(name="bias", shape=[c], initializer="zeros")
        self.noise_const = self.add_weight(
            name="noise_const", shape=[r, r], initializer=normal_init(), trainable=False
        )
        self.built = True

    def call(self, x, w, noise_mode="random", noise_seed=None, noise=None):
        if noise_mode not in self.noise_modes:
            raise ValueError(f"noise_mode must be one of {self.noise_modes}, got {noise_mode!r}")
        dtype = self.compute_dtype
        w = tf.cast(w, dtype)
        n = tf.shape(w)[0]
        if self.conv is None:  # 4x4 const, tiled over the batch
            x = tf.tile(tf.cast(self.const, dtype)[None], tf.stack([n, 1, 1, 1]))
        else:
            x = self.conv(x)
        x = self.add_noise(x, n, noise_mode, noise_seed, noise)
        x = ops.lrelu(x + tf.cast(self.bias, dtype))
        x = sg1.instance_norm(x)
        style = self.style(w)  # [N, 2C]: scale first, then shift (TF1 reshape [-1, 2, C])
        scale, shift = style[:, : self.out_channels], style[:, self.out_channels :]
        return x * (scale[:, None, None, :] + 1) + shift[:, None, None, :]

    def add_noise(self, x, n, noise_mode, noise_seed, noise):
        """x + noise [N or 1, R, R, 1] x strength [C]: the given maps, else per-sample random,
        the stored map ('const'), or none."""
        r, dtype = self.resolution, x.dtype
        strength = tf.cast(self.noise_strength, dtype)  # [C]
        if noise is None and noise_mode == "random":
            noise = _layer_noise(tf.stack([n, r, r, 1]), noise_seed, self.layer_index)
        elif noise is None and noise_mode == "const":
            noise = tf.convert_to_tensor(self.noise_const)[None, :, :, None]
        return x if noise is None else x + tf.cast(noise, dtype) * strength

    def compute_output_shape(self, x_shape=None, *args, **kwargs):
        r = self.resolution
        return (None, r, r, self.out_channels)

    def get_config(self):
        config = super().get_config()
        config.update(
            in_channels=self.in_channels,
            out_channels=self.out_channels,
            w_dim=self.w_dim,
            resolution=self.resolution,
            up=self.up,
            layer_index=self.layer_index,
        )
        return config
