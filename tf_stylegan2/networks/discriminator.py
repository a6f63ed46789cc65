"""Discriminator (ADA-PT training/networks.py Discriminator), architectures orig / skip / resnet
and 'progressive' (TF1 networks_stylegan2.py D_stylegan of configs B-D: a FromRGB per resolution,
blended by the level of detail `lod`), ADA-PT projection conditioning and/or an AC-GAN auxiliary
classifier."""

import copy

import keras
import numpy as np
import tensorflow as tf

from tf_stylegan2 import ops
from tf_stylegan2.layers import Conv2dLayer, DiscriminatorBlock, DiscriminatorEpilogue
from tf_stylegan2.layers.base import full_precision, is_reduced, no_autocast
from tf_stylegan2.networks.mapping import MappingNetwork
from tf_stylegan2.networks.synthesis import ARCHITECTURES, channels_at

PACKAGE = "tf_stylegan2"
COND_MODES = ("projection", "acgan", "both")


@keras.saving.register_keras_serializable(package=PACKAGE)
class Discriminator(keras.Model):
    """StyleGAN2 discriminator (ADA-PT `Discriminator`): blocks b{R} ... b8, epilogue b4.

    Args:
        c_dim, img_resolution, img_channels.
        architecture: 'resnet' (default) | 'skip' | 'orig' | 'progressive' ('orig' blocks; the
            image enters through the FromRGB `fromrgb{R}` of the current level, faded in by the
            non-trainable `lod` over the box-downsampled image's path: TF1 D_stylegan, 'linear').
        channel_base, channel_max: channels(R) = min(channel_base // R, channel_max).
        mbstd_group_size (4; None = whole batch), mbstd_num_channels (1; 0 = off).
        conv_clamp: None or clamp value.
        mapping_kwargs: kwargs of the label mapping (c_dim > 0): num_layers=8, lr_multiplier=0.01.
        cmap_dim: None = channels(4).
        num_fp16_res: with a mixed dtype policy, the blocks of the top num_fp16_res resolutions
            (at least 8x8) compute in the policy's half dtype; the label mapping and the 4x4
            epilogue always in float32 (ADA-PT). No effect with 'float32' or 'float64'.
        freeze_layers: the first N layers (from the highest resolution: fromrgb, conv0, conv1,
            skip, ...) are not trainable (Freeze-D; ADA-PT block_kwargs.freeze_layers).
        cond_mode (c_dim > 0): 'projection' (ADA-PT: the logit is projected onto the mapped
            label), 'acgan' (no projection; an auxiliary classifier head gives c_dim class
            logits, Odena et al. 2017) or 'both'.
    Call: `D(img, c=None)` with img [N, R, R, C] float32 -> logits [N, 1];
        `D(img, c, return_class_logits=True)` -> (logits, class logits [N, c_dim]) for 'acgan'
        and 'both' (c is not used by 'acgan').
    Reference: ADA-PT training/networks.py Discriminator.
    """

    def __init__(
        self,
        c_dim,
        img_resolution,
        img_channels,
        architecture="resnet",
        channel_base=32768,
        channel_max=512,
        mbstd_group_size=4,
        mbstd_num_channels=1,
        conv_clamp=None,
        mapping_kwargs=None,
        cmap_dim=None,
        num_fp16_res=0,
        resample_filter=(1, 3, 3, 1),
        freeze_layers=0,
        cond_mode="projection",
        **kwargs,
    ):
        super().__init__(**no_autocast(kwargs))
        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
        if cond_mode not in COND_MODES:
            raise ValueError(f"cond_mode {cond_mode!r}: choose one of {', '.join(COND_MODES)}")
        r = int(np.log2(max(int(img_resolution), 1)))
        if img_resolution != 2**r or img_resolution < 4:
            raise ValueError(f"img_resolution must be a power of 2 >= 4, got {img_resolution!r}")
        self.c_dim = int(c_dim)
        self.img_resolution = int(img_resolution)
        self.img_channels = int(img_channels)
        self.architecture = architecture
        self.channel_base = int(channel_base)
        self.channel_max = int(channel_max)
        self.mbstd_group_size = None if mbstd_group_size is None else int(mbstd_group_size)
        self.mbstd_num_channels = int(mbstd_num_channels)
        self.conv_clamp = None if conv_clamp is None else float(conv_clamp)
        self.mapping_kwargs = copy.deepcopy(dict(mapping_kwargs or {}))
        self.cmap_dim_arg = None if cmap_dim is None else int(cmap_dim)
        self.num_fp16_res = int(num_fp16_res)
        self.resample_filter = [float(v) for v in resample_filter]
        self.freeze_layers = int(freeze_layers)
        self.cond_mode = cond_mode
        projection = self.c_dim > 0 and cond_mode != "acgan"
        self.num_classes = self.c_dim if cond_mode != "projection" else 0
        self.block_resolutions = [2**i for i in range(r, 2, -1)]
        self.fp16_resolution = max(2 ** (r + 1 - self.num_fp16_res), 8)  # ADA-PT Discriminator
        full = full_precision(self.dtype_policy)
        half = self.dtype_policy if is_reduced(self.dtype_policy) else full
        ch = lambda res: channels_at(res, channel_base, channel_max)  # noqa: E731
        cmap = ch(4) if cmap_dim is None else int(cmap_dim)
        self.cmap_dim = cmap if projection else 0
        progressive = architecture == "progressive"
        common = dict(
            img_channels=self.img_channels,
            architecture="orig" if progressive else architecture,
            conv_clamp=self.conv_clamp,
        )
        layer_idx = 0
        for res in self.block_resolutions:
            in_channels = ch(res) if res < self.img_resolution or progressive else 0
            block = DiscriminatorBlock(
                in_channels,
                ch(res),
                ch(res // 2),
                res,
                resample_filter=self.resample_filter,
                first_layer_idx=layer_idx,
                freeze_layers=self.freeze_layers,
                name=f"b{res}",
                dtype=half if res >= self.fp16_resolution else full,
                **common,
            )
            layer_idx += block.num_layers
            setattr(self, f"b{res}", block)
        self.mapping = None
        if projection:
            self.mapping = MappingNetwork(
                z_dim=0,
                c_dim=self.c_dim,
                w_dim=self.cmap_dim,
                num_ws=None,
                w_avg_beta=None,
                name="mapping",
                dtype=full,
                **self.mapping_kwargs,
            )
        self.fromrgb_resolutions = self.block_resolutions + [4] if progressive else []
        for res in self.fromrgb_resolutions:  # TF1 FromRGB_lod{log2(img_resolution/res)}
            layer = Conv2dLayer(
                self.img_channels,
                ch(res),
                1,
                activation="lrelu",
                conv_clamp=self.conv_clamp,
                name=f"fromrgb{res}",
                dtype=half if res >= self.fp16_resolution else full,
            )
            setattr(self, f"fromrgb{res}", layer)
        self.b4 = DiscriminatorEpilogue(
            ch(4),
            self.cmap_dim,
            4,
            mbstd_group_size=self.mbstd_group_size,
            mbstd_num_channels=self.mbstd_num_channels,
            num_classes=self.num_classes,
            name="b4",
            dtype=full,
            **common,
        )
        self.build(None)

    @property
    def blocks(self):
        return [getattr(self, f"b{res}") for res in self.block_resolutions]

    def build(self, input_shape=None):
        if self.built:
            return
        for block in self.blocks:
            block.build(None)
        if self.mapping is not None:
            self.mapping.build(None)
        self.b4.build(None)
        for res in self.fromrgb_resolutions:
            getattr(self, f"fromrgb{res}").build([None, res, res, self.img_channels])
        if self.fromrgb_resolutions:  # 0 = the full resolution; set by training
            self.lod = self.add_weight(name="lod", shape=[], initializer="zeros", trainable=False)
        self.built = True

    def call(self, img, c=None, return_class_logits=False):
        img = tf.cast(img, self.variable_dtype)  # each block casts to its own dtype
        x = None
        if self.fromrgb_resolutions:
            x = self._progressive(img)
            img = None
        else:
            for block in self.blocks:
                x, img = block(x, img)
        cmap = None
        if self.mapping is not None:
            if c is None:
                raise ValueError(
                    f"this discriminator is conditional (c_dim={self.c_dim}): c is required"
                )
            cmap = self.mapping(None, c)
        return self.b4(x, img, cmap, return_class_logits=return_class_logits)

    def _progressive(self, img):
        """TF1 D_stylegan 'linear': x = FromRGB(img); per block (top down) x = block(x), then
        x = lerp_clip(x, FromRGB(box-downsampled img), lod - level of the block)."""
        lod = tf.cast(self.lod, self.variable_dtype)
        x = getattr(self, f"fromrgb{self.img_resolution}")(img)
        for level, block in enumerate(self.blocks):
            x, _ = block(x, None)
            img = ops.box_downsample(img, 2)
            y = tf.cast(getattr(self, f"fromrgb{block.resolution // 2}")(img), x.dtype)
            t = tf.cast(tf.clip_by_value(lod - level, 0.0, 1.0), x.dtype)
            x = x + (y - x) * t
        return x

    def compute_output_shape(self, input_shape=None, *args, **kwargs):
        return (input_shape[0] if input_shape else None, 1)

    def get_config(self):
        config = super().get_config()  # name, trainable, dtype
        config.update(
            c_dim=self.c_dim,
            img_resolution=self.img_resolution,
            img_channels=self.img_channels,
            architecture=self.architecture,
            channel_base=self.channel_base,
            channel_max=self.channel_max,
            mbstd_group_size=self.mbstd_group_size,
            mbstd_num_channels=self.mbstd_num_channels,
            conv_clamp=self.conv_clamp,
            mapping_kwargs=copy.deepcopy(self.mapping_kwargs),
            cmap_dim=self.cmap_dim_arg,
            num_fp16_res=self.num_fp16_res,
            resample_filter=self.resample_filter,
            freeze_layers=self.freeze_layers,
            cond_mode=self.cond_mode,
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @property
    def _default_save_signature(self):
        # Keras would trace `self(inputs)` with one input for a SavedModel export, which cannot
        # express this call signature; exporters define their own tf.function signatures.
        return None
