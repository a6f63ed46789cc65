"""StyleGAN's (v1) discriminator, config A (TF1 networks_stylegan.py D_basic, structure 'linear'):
a FromRGB per resolution blended by the non-trainable `lod` over the box-downsampled image's path,
blocks of a 3x3 conv and a blurred 3x3 down-conv, then minibatch stddev, a 3x3 conv and two dense
layers; with labels, the output unit of the sample's class (LabelSwitch)."""

import copy

import keras
import numpy as np
import tensorflow as tf

from tf_stylegan2 import ops
from tf_stylegan2.layers import FullyConnectedLayer, MinibatchStdLayer
from tf_stylegan2.layers.base import no_autocast
from tf_stylegan2.layers.stylegan1 import WScaleConv2d
from tf_stylegan2.networks.synthesis import channels_at

PACKAGE = "tf_stylegan2"


@keras.saving.register_keras_serializable(package=PACKAGE)
class BasicDiscriminator(keras.Model):
    """D(img, c) -> logits [N, 1] with Discriminator's call.

    Args:
        c_dim: labels (0 = unconditional); with labels the logit is sum(Dense1(x) * c).
        img_resolution, img_channels.
        architecture: 'basic' (the only one; networks.make_discriminator dispatches on it).
        channel_base, channel_max: channels(R) = min(channel_base // R, channel_max) (TF1
            nf(log2 R - 1) with channel_base = 2 * fmap_base); Dense0 has nf(0) =
            min(channel_base // 2, channel_max) units.
        mbstd_group_size, mbstd_num_channels: 4 and 1.
    Layers (TF1 scope -> ours): FromRGB_lod{n} -> fromrgb{R}, {R}x{R}/Conv0 -> b{R}_conv0,
    {R}x{R}/Conv1_down -> b{R}_conv1, 4x4/Conv -> b4_conv, 4x4/Dense0 -> b4_fc,
    4x4/Dense1 -> b4_out.
    """

    def __init__(
        self,
        c_dim,
        img_resolution,
        img_channels,
        architecture="basic",
        channel_base=16384,
        channel_max=512,
        mbstd_group_size=4,
        mbstd_num_channels=1,
        **kwargs,
    ):
        for unused in ("conv_clamp", "num_fp16_res", "mapping_kwargs", "cond_mode"):
            kwargs.pop(unused, None)  # StyleGAN2 options that have no meaning here
        super().__init__(**no_autocast(kwargs))
        if architecture != "basic":
            raise ValueError(f"BasicDiscriminator is architecture 'basic', got {architecture!r}")
        r = int(np.log2(max(int(img_resolution), 1)))
        if img_resolution != 2**r or img_resolution < 4:
            raise ValueError(f"img_resolution must be a power of 2 >= 4, got {img_resolution!r}")
        self.c_dim = int(c_dim)
        self.img_resolution = int(img_resolution)
        self.img_resolution_log2 = r
        self.img_channels = int(img_channels)
        self.architecture = architecture
        self.channel_base = int(channel_base)
        self.channel_max = int(channel_max)
        self.mbstd_group_size = None if mbstd_group_size is None else int(mbstd_group_size)
        self.mbstd_num_channels = int(mbstd_num_channels)
        self.cond_mode = "projection"  # what the loss code asks of a conditional D
        self.block_resolutions = [2**i for i in range(r, 2, -1)]
        ch = lambda res: channels_at(res, channel_base, channel_max)  # noqa: E731
        policy = dict(dtype=self.dtype_policy)
        for res in self.block_resolutions + [4]:
            layer = WScaleConv2d(
                img_channels, ch(res), 1, activation="lrelu", name=f"fromrgb{res}", **policy
            )
            setattr(self, f"fromrgb{res}", layer)
        for res in self.block_resolutions:
            conv0 = WScaleConv2d(
                ch(res), ch(res), 3, activation="lrelu", name=f"b{res}_conv0", **policy
            )
            conv1 = WScaleConv2d(
                ch(res),
                ch(res // 2),
                3,
                resample="down",
                resolution=res,
                activation="lrelu",
                name=f"b{res}_conv1",
                **policy,
            )
            setattr(self, f"b{res}_conv0", conv0)
            setattr(self, f"b{res}_conv1", conv1)
        self.mbstd = MinibatchStdLayer(mbstd_group_size, mbstd_num_channels, name="mbstd", **policy)
        c4 = ch(4)
        self.b4_conv = WScaleConv2d(
            c4 + self.mbstd_num_channels, c4, 3, activation="lrelu", name="b4_conv", **policy
        )
        self.fc_features = min(self.channel_base // 2, self.channel_max)  # TF1 nf(0)
        self.b4_fc = FullyConnectedLayer(
            c4 * 16,
            self.fc_features,
            activation="lrelu",
            gain_in_weights=True,
            name="b4_fc",
            **policy,
        )
        self.b4_out = FullyConnectedLayer(
            self.fc_features, max(self.c_dim, 1), name="b4_out", **policy
        )
        self.build(None)

    def build(self, input_shape=None):
        if self.built:
            return
        for layer in self._sublayers():
            layer.build(None)
        self.b4_fc.build([None, self.b4_fc.in_features])
        self.b4_out.build([None, self.fc_features])
        self.lod = self.add_weight(name="lod", shape=[], initializer="zeros", trainable=False)
        self.built = True

    def _sublayers(self):
        names = [f"fromrgb{res}" for res in self.block_resolutions + [4]]
        for res in self.block_resolutions:
            names += [f"b{res}_conv0", f"b{res}_conv1"]
        return [getattr(self, n) for n in names + ["b4_conv"]]

    def call(self, img, c=None, return_class_logits=False):
        if return_class_logits:
            raise ValueError("a config-A discriminator (D_basic) has no class logits (AC-GAN)")
        img = tf.cast(img, self.compute_dtype)
        lod = tf.cast(self.lod, self.compute_dtype)
        x = getattr(self, f"fromrgb{self.img_resolution}")(img)
        for level, res in enumerate(self.block_resolutions):
            x = getattr(self, f"b{res}_conv1")(getattr(self, f"b{res}_conv0")(x))
            img = ops.box_downsample(img, 2)
            y = getattr(self, f"fromrgb{res // 2}")(img)
            x = x + (y - x) * tf.clip_by_value(lod - level, 0.0, 1.0)  # TF1 lerp_clip
        x = self.b4_conv(self.mbstd(x))
        x = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [-1, self.b4_fc.in_features])  # NCHW order
        x = self.b4_out(self.b4_fc(x))  # [N, max(c_dim, 1)]
        if self.c_dim:
            if c is None:
                raise ValueError(f"this discriminator is conditional (c_dim={self.c_dim})")
            x = tf.reduce_sum(x * tf.cast(c, x.dtype), axis=1, keepdims=True)
        return tf.cast(x, self.variable_dtype)

    def compute_output_shape(self, input_shape=None, *args, **kwargs):
        return (input_shape[0] if input_shape else None, 1)

    def get_config(self):
        config = super().get_config()
        config.update(
            c_dim=self.c_dim,
            img_resolution=self.img_resolution,
            img_channels=self.img_channels,
            architecture=self.architecture,
            channel_base=self.channel_base,
            channel_max=self.channel_max,
            mbstd_group_size=self.mbstd_group_size,
            mbstd_num_channels=self.mbstd_num_channels,
        )
        return copy.deepcopy(config)

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    @property
    def _default_save_signature(self):
        return None  # exporters define their own signatures (see Discriminator)
