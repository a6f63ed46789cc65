"""StyleGAN's (v1) synthesis network, config A (TF1 networks_stylegan.py G_synthesis, structure
'linear'): a constant 4x4 input, two AdaIN layers per resolution (one style each: num_ws = 2 log2 R
- 2), a ToRGB per resolution, the image of the current level faded in over the nearest-upsampled
image of the level below by the non-trainable `lod` (0 = the full resolution)."""

import keras
import numpy as np
import tensorflow as tf

from tf_stylegan2 import ops
from tf_stylegan2.layers import NOISE_MODES
from tf_stylegan2.layers.base import no_autocast
from tf_stylegan2.layers.stylegan1 import AdaINLayer, WScaleConv2d
from tf_stylegan2.networks.synthesis import _split_noise, channels_at

PACKAGE = "tf_stylegan2"


@keras.saving.register_keras_serializable(package=PACKAGE)
class StyleSynthesisNetwork(keras.layers.Layer):
    """ws [N, num_ws, w_dim] -> NHWC float32 images, with SynthesisNetwork's call and helpers.

    Args:
        w_dim, img_resolution (power of 2 >= 4), img_channels.
        architecture: 'adain' (the only one; kept so Generator can tell the networks apart).
        channel_base, channel_max: channels(R) = min(channel_base // R, channel_max); TF1's
            nf(log2 R - 1) = min(fmap_base / 2**(log2 R - 1), fmap_max) is channel_base =
            2 * fmap_base (16384 for SG1's 8192).
    Layers (TF1 scope -> ours): 4x4/Const -> b4_const, 4x4/Conv -> b4_conv, {R}x{R}/Conv0_up ->
    b{R}_conv0, {R}x{R}/Conv1 -> b{R}_conv1 (w index 2 log2 R - 4 and - 3), ToRGB_lod{n} ->
    torgb{R}. Noise names as the tools use them: 'b4.const', 'b4.conv', 'b8.conv0', ...
    """

    def __init__(
        self,
        w_dim,
        img_resolution,
        img_channels,
        architecture="adain",
        channel_base=16384,
        channel_max=512,
        **kwargs,
    ):
        for unused in ("num_fp16_res", "conv_clamp", "fused_modconv", "resample_filter"):
            kwargs.pop(unused, None)  # StyleGAN2 options that have no meaning here
        super().__init__(**no_autocast(kwargs))
        if architecture != "adain":
            raise ValueError(f"StyleSynthesisNetwork is architecture 'adain', got {architecture!r}")
        r = int(np.log2(max(int(img_resolution), 1)))
        if img_resolution != 2**r or img_resolution < 4:
            raise ValueError(f"img_resolution must be a power of 2 >= 4, got {img_resolution!r}")
        self.w_dim = int(w_dim)
        self.img_resolution = int(img_resolution)
        self.img_resolution_log2 = r
        self.img_channels = int(img_channels)
        self.architecture = architecture
        self.channel_base = int(channel_base)
        self.channel_max = int(channel_max)
        self.block_resolutions = [2**i for i in range(2, r + 1)]
        self.num_ws = 2 * r - 2
        self.noise_names = []  # tool names of the AdaIN layers in forward (= w and noise) order
        for res in self.block_resolutions:
            ch = channels_at(res, channel_base, channel_max)
            if res == 4:
                kinds = [("const", 0, False), ("conv", ch, False)]
            else:
                kinds = [("conv0", channels_at(res // 2, channel_base, channel_max), True)]
                kinds.append(("conv1", ch, False))
            for kind, in_ch, up in kinds:
                layer = AdaINLayer(
                    in_ch,
                    ch,
                    self.w_dim,
                    res,
                    up=up,
                    layer_index=len(self.noise_names),
                    name=f"b{res}_{kind}",
                    dtype=self.dtype_policy,
                )
                setattr(self, f"b{res}_{kind}", layer)
                self.noise_names.append(f"b{res}.{kind}")
            torgb = WScaleConv2d(
                ch, self.img_channels, 1, gain=1.0, name=f"torgb{res}", dtype=self.dtype_policy
            )
            setattr(self, f"torgb{res}", torgb)

    def noise_layers(self):
        """[(name, AdaINLayer)] in forward order: every layer takes noise (TF1 noise0 ...)."""
        return [(name, getattr(self, name.replace(".", "_"))) for name in self.noise_names]

    def layer_names(self):
        return list(self.noise_names)

    def noise_const_variables(self):
        self.build(None)
        return [(name, layer.noise_const) for name, layer in self.noise_layers()]

    def build(self, input_shape=None):
        if self.built:
            return
        for _, layer in self.noise_layers():
            layer.build(None)
        for res in self.block_resolutions:
            getattr(self, f"torgb{res}").build(None)
        self.lod = self.add_weight(name="lod", shape=[], initializer="zeros", trainable=False)
        self.built = True

    def call(self, ws, noise_mode="const", noise_seed=None, fused_modconv=None, noise_inputs=None):
        del fused_modconv  # no modulated convs here
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        ws = tf.cast(ws, self.compute_dtype)
        per_block = _split_noise(noise_inputs, self.compute_dtype)
        lod = tf.cast(self.lod, self.compute_dtype)
        x = img = None
        for i, (name, layer) in enumerate(self.noise_layers()):
            block, _, kind = name.partition(".")
            noise = per_block.get(block, {}).get(kind)
            x = layer(x, ws[:, i], noise_mode=noise_mode, noise_seed=noise_seed, noise=noise)
            if kind in ("conv", "conv1"):  # the block is complete: its image
                res = layer.resolution
                y = getattr(self, f"torgb{res}")(x)
                if img is None:
                    img = y
                else:  # TF1 lerp_clip(ToRGB(x), upscale2d(img), lod - level of this block)
                    level = self.img_resolution_log2 - int(np.log2(res))
                    t = tf.clip_by_value(lod - level, 0.0, 1.0)
                    img = y + (ops.nearest_upsample(img, 2) - y) * t
        return tf.cast(img, self.variable_dtype)

    def compute_output_shape(self, input_shape=None, *args, **kwargs):
        r = self.img_resolution
        return (input_shape[0] if input_shape else None, r, r, self.img_channels)

    def get_config(self):
        config = super().get_config()
        config.update(
            w_dim=self.w_dim,
            img_resolution=self.img_resolution,
            img_channels=self.img_channels,
            architecture=self.architecture,
            channel_base=self.channel_base,
            channel_max=self.channel_max,
        )
        return config
