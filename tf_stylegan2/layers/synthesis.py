"""Generator layers: the modulated synthesis layer, ToRGB and the synthesis block
(ADA-PT training/networks.py SynthesisLayer, ToRGBLayer, SynthesisBlock)."""

import keras
import numpy as np
import tensorflow as tf

from tf_stylegan2 import ops
from tf_stylegan2.layers.base import (
    PACKAGE,
    Conv2dLayer,
    FullyConnectedLayer,
    full_precision,
    no_autocast,
    normal_init,
)

NOISE_MODES = ("random", "const", "none")


def _layer_noise(shape, noise_seed, layer_index):
    """Per-layer N(0,1) noise [N, R, R, 1]: stateless from noise_seed when given, else tf.random."""
    if noise_seed is None:
        try:
            return tf.random.normal(shape)
        except RuntimeError:
            # Op determinism without a global seed: TF refuses unseeded random ops. An op seed
            # per layer keeps 'random' usable (a stateful op: successive calls still differ).
            return tf.random.normal(shape, seed=1000 + layer_index)
    seed = tf.random.experimental.stateless_fold_in(tf.cast(noise_seed, tf.int32), layer_index)
    return tf.random.stateless_normal(shape, seed=seed)


@keras.saving.register_keras_serializable(package=PACKAGE)
class SynthesisLayer(keras.layers.Layer):
    """Style affine, modulated 3x3 conv (optionally 2x up), noise, bias, lrelu, clamp.

    Args:
        in_channels, out_channels, w_dim, resolution: sizes (resolution of the output).
        kernel_size: conv size (3).
        up: 1 or 2 (conv0 of every block above 4x4).
        use_noise: add per-pixel noise x a learned strength (initialized 0).
        activation: 'lrelu'.
        resample_filter: FIR taps; conv_clamp: None or a clamp value.
        layer_index: position in the synthesis layer order (derives the per-layer noise seed).
    Call: `layer(x, w, noise_mode='random', fused_modconv=True, gain=1, noise_seed=None,
        noise=None)`;
        x [N, H, W, I], w [N, w_dim]; `noise` [N, R, R, 1] overrides the drawn/const noise.
    Reference: ADA-PT training/networks.py SynthesisLayer.
    """

    def __init__(
        self,
        in_channels,
        out_channels,
        w_dim,
        resolution,
        kernel_size=3,
        up=1,
        use_noise=True,
        activation="lrelu",
        resample_filter=(1, 3, 3, 1),
        conv_clamp=None,
        layer_index=0,
        **kwargs,
    ):
        super().__init__(**no_autocast(kwargs))
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.w_dim = int(w_dim)
        self.resolution = int(resolution)
        self.kernel_size = int(kernel_size)
        self.up = int(up)
        self.use_noise = bool(use_noise)
        self.activation = activation
        self.resample_filter = (
            None if resample_filter is None else [float(v) for v in resample_filter]
        )
        self.conv_clamp = None if conv_clamp is None else float(conv_clamp)
        self.layer_index = int(layer_index)
        self.padding = self.kernel_size // 2
        self.act_gain = ops.def_gain(activation)
        self._filter = ops.setup_filter(self.resample_filter)
        self.affine = FullyConnectedLayer(
            self.w_dim,
            self.in_channels,
            bias_init=1.0,
            name="affine",
            dtype=full_precision(self.dtype_policy),  # styles in float32 (ADA-PT)
        )

    def build(self, input_shape=None):
        if self.built:
            return
        self.affine.build([None, self.w_dim])
        k = self.kernel_size
        self.weight = self.add_weight(
            name="weight",
            shape=[k, k, self.in_channels, self.out_channels],
            initializer=normal_init(1.0),
        )
        if self.use_noise:
            r = self.resolution
            self.noise_const = self.add_weight(
                name="noise_const", shape=[r, r], initializer=normal_init(1.0), trainable=False
            )
            self.noise_strength = self.add_weight(
                name="noise_strength", shape=[], initializer="zeros"
            )
        self.bias = self.add_weight(name="bias", shape=[self.out_channels], initializer="zeros")
        self.built = True

    def call(
        self, x, w, noise_mode="random", fused_modconv=True, gain=1.0, noise_seed=None, noise=None
    ):
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        x = tf.cast(x, self.compute_dtype)  # [N, H, W, I]
        styles = self.affine(w)  # [N, I] in the variable dtype
        noise_term = None
        if self.use_noise and (noise is not None or noise_mode != "none"):
            r = self.resolution
            strength = tf.convert_to_tensor(self.noise_strength)
            if noise is not None:
                noise_term = tf.cast(noise, strength.dtype) * strength  # [N, R, R, 1]
            elif noise_mode == "random":
                n = tf.shape(x)[0]
                noise_term = (
                    _layer_noise(tf.stack([n, r, r, 1]), noise_seed, self.layer_index) * strength
                )
            else:
                noise_term = tf.convert_to_tensor(self.noise_const)[None, :, :, None] * strength
        x = ops.modulated_conv2d(
            x,
            self.weight,
            styles,
            noise=noise_term,
            up=self.up,
            padding=self.padding,
            resample_filter=self._filter,
            fused_modconv=fused_modconv,
        )
        act_gain = self.act_gain * gain
        act_clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return ops.bias_act(x, self.bias, act=self.activation, gain=act_gain, clamp=act_clamp)

    def compute_output_shape(self, input_shape=None, *args, **kwargs):
        n = input_shape[0] if input_shape else None
        return (n, self.resolution, self.resolution, self.out_channels)

    def get_config(self):
        config = super().get_config()
        config.update(
            in_channels=self.in_channels,
            out_channels=self.out_channels,
            w_dim=self.w_dim,
            resolution=self.resolution,
            kernel_size=self.kernel_size,
            up=self.up,
            use_noise=self.use_noise,
            activation=self.activation,
            resample_filter=self.resample_filter,
            conv_clamp=self.conv_clamp,
            layer_index=self.layer_index,
        )
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class ToRGBLayer(keras.layers.Layer):
    """Modulated 1x1 conv to image channels, no demodulation, bias, linear, clamp.

    Call: `layer(x, w, fused_modconv=True)`, x [N, H, W, I] -> [N, H, W, img_channels].
    Reference: ADA-PT training/networks.py ToRGBLayer.
    """

    def __init__(self, in_channels, out_channels, w_dim, kernel_size=1, conv_clamp=None, **kwargs):
        super().__init__(**no_autocast(kwargs))
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.w_dim = int(w_dim)
        self.kernel_size = int(kernel_size)
        self.conv_clamp = None if conv_clamp is None else float(conv_clamp)
        self.weight_gain = 1.0 / np.sqrt(self.in_channels * self.kernel_size**2)
        self.affine = FullyConnectedLayer(
            self.w_dim,
            self.in_channels,
            bias_init=1.0,
            name="affine",
            dtype=full_precision(self.dtype_policy),  # styles in float32 (ADA-PT)
        )

    def build(self, input_shape=None):
        if self.built:
            return
        self.affine.build([None, self.w_dim])
        k = self.kernel_size
        self.weight = self.add_weight(
            name="weight",
            shape=[k, k, self.in_channels, self.out_channels],
            initializer=normal_init(1.0),
        )
        self.bias = self.add_weight(name="bias", shape=[self.out_channels], initializer="zeros")
        self.built = True

    def call(self, x, w, fused_modconv=True):
        x = tf.cast(x, self.compute_dtype)  # [N, H, W, I]
        styles = self.affine(w) * self.weight_gain  # [N, I] in the variable dtype
        x = ops.modulated_conv2d(
            x, self.weight, styles, demodulate=False, fused_modconv=fused_modconv
        )
        return ops.bias_act(x, self.bias, clamp=self.conv_clamp)

    def compute_output_shape(self, input_shape=None, *args, **kwargs):
        return tuple(input_shape[:-1]) + (self.out_channels,)

    def get_config(self):
        config = super().get_config()
        config.update(
            in_channels=self.in_channels,
            out_channels=self.out_channels,
            w_dim=self.w_dim,
            kernel_size=self.kernel_size,
            conv_clamp=self.conv_clamp,
        )
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class SynthesisBlock(keras.layers.Layer):
    """One resolution of the synthesis network: [const | conv0 (up)] + conv1 + [torgb] [+ skip].

    Args:
        in_channels: 0 for the first (4x4) block, which starts from a learned constant.
        out_channels, w_dim, resolution, img_channels: sizes.
        is_last: the last block (always has a ToRGB).
        architecture: 'orig' | 'skip' | 'resnet'.
        resample_filter, conv_clamp: as the layers.
        first_layer_index: index of this block's first SynthesisLayer in the network's order.
    Call: `block(x, img, ws, noise_mode, fused_modconv, noise_seed, noise_inputs)`,
        ws [N, num_conv + num_torgb, w_dim]; x, img None for the first block.
        noise_inputs: optional dict {'conv0': [N,R,R,1], 'conv1': ...} of explicit noise.
    Reference: ADA-PT training/networks.py SynthesisBlock.
    """

    def __init__(
        self,
        in_channels,
        out_channels,
        w_dim,
        resolution,
        img_channels,
        is_last,
        architecture="skip",
        resample_filter=(1, 3, 3, 1),
        conv_clamp=None,
        first_layer_index=0,
        **kwargs,
    ):
        super().__init__(**no_autocast(kwargs))
        if architecture not in ("orig", "skip", "resnet"):
            raise ValueError(
                f"architecture must be 'orig', 'skip' or 'resnet', got {architecture!r}"
            )
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.w_dim = int(w_dim)
        self.resolution = int(resolution)
        self.img_channels = int(img_channels)
        self.is_last = bool(is_last)
        self.architecture = architecture
        self.resample_filter = [float(v) for v in resample_filter]
        self.conv_clamp = None if conv_clamp is None else float(conv_clamp)
        self.first_layer_index = int(first_layer_index)
        self._filter = ops.setup_filter(self.resample_filter)
        self.num_conv = 0
        self.num_torgb = 0
        common = dict(resample_filter=self.resample_filter, conv_clamp=self.conv_clamp)
        idx = self.first_layer_index
        if self.in_channels != 0:
            self.conv0 = SynthesisLayer(
                self.in_channels,
                self.out_channels,
                self.w_dim,
                self.resolution,
                up=2,
                layer_index=idx,
                name="conv0",
                dtype=self.dtype_policy,
                **common,
            )
            self.num_conv += 1
            idx += 1
        self.conv1 = SynthesisLayer(
            self.out_channels,
            self.out_channels,
            self.w_dim,
            self.resolution,
            layer_index=idx,
            name="conv1",
            dtype=self.dtype_policy,
            **common,
        )
        self.num_conv += 1
        if self.is_last or self.architecture == "skip":
            self.torgb = ToRGBLayer(
                self.out_channels,
                self.img_channels,
                self.w_dim,
                conv_clamp=self.conv_clamp,
                name="torgb",
                dtype=self.dtype_policy,
            )
            self.num_torgb += 1
        if self.in_channels != 0 and self.architecture == "resnet":
            self.skip = Conv2dLayer(
                self.in_channels,
                self.out_channels,
                kernel_size=1,
                bias=False,
                up=2,
                resample_filter=self.resample_filter,
                name="skip",
                dtype=self.dtype_policy,
            )

    def build(self, input_shape=None):
        if self.built:
            return
        r = self.resolution
        if self.in_channels == 0:
            self.const = self.add_weight(
                name="const", shape=[4, 4, self.out_channels], initializer=normal_init(1.0)
            )
        else:
            self.conv0.build([None, r // 2, r // 2, self.in_channels])
        self.conv1.build([None, r, r, self.out_channels])
        if self.num_torgb:
            self.torgb.build([None, r, r, self.out_channels])
        if self.in_channels != 0 and self.architecture == "resnet":
            self.skip.build([None, r // 2, r // 2, self.in_channels])
        self.built = True

    def call(
        self,
        x,
        img,
        ws,
        noise_mode="random",
        fused_modconv=True,
        noise_seed=None,
        noise_inputs=None,
    ):
        noise_inputs = noise_inputs or {}
        if x is not None:
            x = tf.cast(x, self.compute_dtype)  # ADA-PT SynthesisBlock: x.to(dtype)
        kw = dict(noise_mode=noise_mode, fused_modconv=fused_modconv, noise_seed=noise_seed)
        n = tf.shape(ws)[0]
        i = 0
        if self.in_channels == 0:
            const = tf.cast(self.const, self.compute_dtype)
            x = tf.tile(const[None], tf.stack([n, 1, 1, 1]))  # [N, 4, 4, C]
            x = tf.ensure_shape(x, [ws.shape[0], 4, 4, self.out_channels])
            x = self.conv1(x, ws[:, i], noise=noise_inputs.get("conv1"), **kw)
            i += 1
        elif self.architecture == "resnet":
            y = self.skip(x, gain=float(np.sqrt(0.5)))
            x = self.conv0(x, ws[:, i], noise=noise_inputs.get("conv0"), **kw)
            x = self.conv1(
                x, ws[:, i + 1], gain=float(np.sqrt(0.5)), noise=noise_inputs.get("conv1"), **kw
            )
            x = y + x
            i += 2
        else:
            x = self.conv0(x, ws[:, i], noise=noise_inputs.get("conv0"), **kw)
            x = self.conv1(x, ws[:, i + 1], noise=noise_inputs.get("conv1"), **kw)
            i += 2
        if img is not None:
            img = ops.upsample2d(img, self._filter)
        if self.num_torgb:
            y = self.torgb(x, ws[:, i], fused_modconv=fused_modconv)
            y = tf.cast(y, self.variable_dtype)  # the image path stays in float32 (ADA-PT)
            img = y if img is None else img + y
        return x, img

    def compute_output_shape(self, x_shape=None, img_shape=None, ws_shape=None, *args, **kwargs):
        """((N, R, R, out_channels), (N, R, R, img_channels) or None)."""
        n = next((shape[0] for shape in (ws_shape, x_shape, img_shape) if shape), None)
        r = self.resolution
        has_img = self.num_torgb > 0 or img_shape is not None
        return (n, r, r, self.out_channels), ((n, r, r, self.img_channels) if has_img else None)

    @property
    def output_shape(self):
        """What `summary()` prints: x's shape (Keras cannot print the absent image, None)."""
        return self.compute_output_shape()[0]

    def compute_output_spec(self, *args, **kwargs):
        """Symbolic (KerasTensor) call: the shapes above; None stays None (no image)."""
        shapes = self.compute_output_shape(
            *(None if t is None else tuple(t.shape) for t in args[:3])
        )
        dtypes = (self.compute_dtype, self.variable_dtype)  # x, img (the image path: float32)
        return tuple(
            None if s is None else keras.KerasTensor(s, dtype=d) for s, d in zip(shapes, dtypes)
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            in_channels=self.in_channels,
            out_channels=self.out_channels,
            w_dim=self.w_dim,
            resolution=self.resolution,
            img_channels=self.img_channels,
            is_last=self.is_last,
            architecture=self.architecture,
            resample_filter=self.resample_filter,
            conv_clamp=self.conv_clamp,
            first_layer_index=self.first_layer_index,
        )
        return config
