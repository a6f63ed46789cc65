"""Synthesis network ws -> image (ADA-PT training/networks.py SynthesisNetwork), architectures orig
/ skip / resnet, and 'progressive': TF1 networks_stylegan2.py G_synthesis_stylegan_revised of
configs B-D (a ToRGB per resolution, blended by the level of detail `lod`)."""

import keras
import numpy as np
import tensorflow as tf

from tf_stylegan2 import ops
from tf_stylegan2.layers import NOISE_MODES, SynthesisBlock
from tf_stylegan2.layers.base import full_precision, is_reduced, no_autocast

PACKAGE = "tf_stylegan2"


def channels_at(res, channel_base, channel_max):
    """ADA-PT channel formula: min(channel_base // res, channel_max)."""
    return min(int(channel_base) // int(res), int(channel_max))


@keras.saving.register_keras_serializable(package=PACKAGE)
class SynthesisNetwork(keras.layers.Layer):
    """Blocks b4 ... b{img_resolution}; output NHWC float32 images.

    Args:
        w_dim, img_resolution (power of 2 >= 4), img_channels.
        architecture: 'orig' | 'skip' | 'resnet' | 'progressive' (configs B-D: 'orig' blocks, each
            with a ToRGB; the image is the ToRGB of the current level, faded in over the
            nearest-upsampled image of the level below by the non-trainable `lod`: TF1
            G_synthesis_stylegan_revised, structure 'linear').
        channel_base, channel_max: channels(R) = min(channel_base // R, channel_max).
        num_fp16_res: with a mixed dtype policy ('mixed_bfloat16', 'mixed_float16'), the blocks
            of the top num_fp16_res resolutions (at least 8x8) compute in the policy's half
            dtype, the rest in float32 (ADA-PT's use_fp16 rule); no effect with 'float32' or
            'float64'.
        conv_clamp: None or clamp of every conv output (ADA-PT uses 256 with fp16).
        fused_modconv: default form of the modulated conv (True = batched matmul / grouped
            conv) for the full-precision blocks; half-precision blocks default to the non-fused
            form, as ADA-PT does (and as is faster there).
        resample_filter: FIR taps.
    Call: `synthesis(ws, noise_mode='const', noise_seed=None, fused_modconv=None,
        noise_inputs=None)`,
        ws [N, num_ws, w_dim] -> [N, R, R, img_channels]. noise_inputs: optional dict
        {'b8.conv0': [N, R, R, 1] (or [N, R, R]), ...} of explicit per-layer noise (keys: the
        ADA-PT module names, with or without 'synthesis.'); overrides noise_mode for those layers.
    Reference: ADA-PT training/networks.py SynthesisNetwork.
    """

    def __init__(
        self,
        w_dim,
        img_resolution,
        img_channels,
        architecture="skip",
        channel_base=32768,
        channel_max=512,
        num_fp16_res=0,
        conv_clamp=None,
        fused_modconv=True,
        resample_filter=(1, 3, 3, 1),
        **kwargs,
    ):
        super().__init__(**no_autocast(kwargs))
        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
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
        self.num_fp16_res = int(num_fp16_res)
        self.conv_clamp = None if conv_clamp is None else float(conv_clamp)
        self.fused_modconv = bool(fused_modconv)
        self.resample_filter = [float(v) for v in resample_filter]
        self.block_resolutions = [2**i for i in range(2, r + 1)]
        self.progressive = architecture == "progressive"
        # ADA-PT SynthesisNetwork: fp16_resolution = max(2 ** (log2 + 1 - num_fp16_res), 8)
        self.fp16_resolution = max(2 ** (r + 1 - self.num_fp16_res), 8)
        self.num_ws = 0
        layer_index = 0
        for res in self.block_resolutions:
            in_channels = channels_at(res // 2, channel_base, channel_max) if res > 4 else 0
            out_channels = channels_at(res, channel_base, channel_max)
            block = SynthesisBlock(
                in_channels,
                out_channels,
                self.w_dim,
                res,
                self.img_channels,
                is_last=(res == self.img_resolution) or self.progressive,
                architecture="orig" if self.progressive else architecture,
                resample_filter=self.resample_filter,
                conv_clamp=self.conv_clamp,
                first_layer_index=layer_index,
                name=f"b{res}",
                dtype=self._block_policy(res),
            )
            layer_index += block.num_conv
            self.num_ws += block.num_conv
            if res == self.img_resolution:
                self.num_ws += block.num_torgb
            setattr(self, f"b{res}", block)

    def _block_policy(self, res):
        """The network's policy for the reduced-precision blocks, its full-precision one else."""
        if is_reduced(self.dtype_policy) and res >= self.fp16_resolution:
            return self.dtype_policy
        return full_precision(self.dtype_policy)

    @property
    def blocks(self):
        return [getattr(self, f"b{res}") for res in self.block_resolutions]

    def noise_layers(self):
        """[(ADA-PT name, SynthesisLayer)] of the layers that take noise, in forward order:
        b4.conv1, b8.conv0, b8.conv1, ... (TF1's noise0, noise1, ... follow the same order)."""
        layers = []
        for block in self.blocks:
            if block.in_channels != 0:
                layers.append((f"{block.name}.conv0", block.conv0))
            layers.append((f"{block.name}.conv1", block.conv1))
        return layers

    def layer_names(self):
        """ADA-PT names of the noise-carrying layers in forward order ('b4.conv1', ...)."""
        return [name for name, _ in self.noise_layers()]

    def noise_const_variables(self):
        """[(name, variable [R, R])]: the stored noise maps (noise_mode='const') in forward
        order."""
        self.build(None)
        return [(name, layer.noise_const) for name, layer in self.noise_layers() if layer.use_noise]

    def build(self, input_shape=None):
        if self.built:
            return
        for block in self.blocks:
            block.build(None)
        if self.progressive:  # 0 = the full resolution; set by training, read by every use
            self.lod = self.add_weight(name="lod", shape=[], initializer="zeros", trainable=False)
        self.built = True

    def call(self, ws, noise_mode="const", noise_seed=None, fused_modconv=None, noise_inputs=None):
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        ws = tf.cast(ws, self.variable_dtype)  # w and the styles stay in float32 (ADA-PT)
        per_block = _split_noise(noise_inputs, self.variable_dtype)
        x = img = None
        w_idx = 0
        lod = tf.cast(self.lod, self.variable_dtype) if self.progressive else None
        for block in self.blocks:
            n = block.num_conv + block.num_torgb
            block_ws = ws[:, w_idx : w_idx + n]
            x, y = block(
                x,
                None if self.progressive else img,
                block_ws,
                noise_mode=noise_mode,
                fused_modconv=(
                    fused_modconv
                    if fused_modconv is not None
                    else self.fused_modconv and not is_reduced(block.dtype_policy)
                ),
                noise_seed=noise_seed,
                noise_inputs=per_block.get(block.name),
            )
            w_idx += block.num_conv
            if not self.progressive or img is None:
                img = y
            else:  # TF1 lerp_clip(ToRGB(x), upsample(img), lod - level of this block)
                level = self.img_resolution_log2 - int(np.log2(block.resolution))
                t = tf.clip_by_value(lod - level, 0.0, 1.0)
                img = y + (ops.nearest_upsample(img, 2) - y) * t
        return img

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
            num_fp16_res=self.num_fp16_res,
            conv_clamp=self.conv_clamp,
            fused_modconv=self.fused_modconv,
            resample_filter=self.resample_filter,
        )
        return config


ARCHITECTURES = ("orig", "skip", "resnet", "progressive")


def _split_noise(noise_inputs, dtype):
    """{'synthesis.b8.conv0': t, ...} -> {'b8': {'conv0': t [N, R, R, 1]}}."""
    out = {}
    for key, value in (noise_inputs or {}).items():
        key = key[len("synthesis.") :] if key.startswith("synthesis.") else key
        block, _, layer = key.partition(".")
        value = tf.cast(value, dtype)
        if value.shape.rank == 3:
            value = value[..., None]
        out.setdefault(block, {})[layer] = value
    return out
