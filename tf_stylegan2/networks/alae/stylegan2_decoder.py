"""StyleALAE's generator on the StyleGAN2 backbone (ours, `ALAE(generator="stylegan2")`): the
'skip' synthesis blocks of StyleGAN2 (modulated / demodulated convolutions, no instance norm, so no
AdaIN droplets; FIR up-sampling; one ToRGB per block whose outputs are summed) driven by ALAE's
lod / blend_factor convention.

At lod l the blocks 0..l run and the image is the skip sum up to block l; the fade-in of block l
scales its ToRGB term by blend_factor: img = upsample(img_{l-1}) + blend * torgb_l (StyleGAN2's
skip generator already grows this way, so blend 0 is the previous level FIR-upsampled where the
official AdaIN decoder upsamples the previous level's own ToRGB by nearest neighbour). The style
layers are ADA-PT's: block i takes ws[2i - 1 : 2i + 2] (conv0, conv1, torgb; block 0 conv1 and
torgb from ws[0:2]), 2 * layer_count in all, ALAE's num_ws.
"""

import keras
import tensorflow as tf

from tf_stylegan2 import ops
from tf_stylegan2.layers.base import PACKAGE, no_autocast
from tf_stylegan2.layers.synthesis import SynthesisBlock

NOISE_MODES = ("random", "const", "none")


@keras.saving.register_keras_serializable(package=PACKAGE)
class AlaeStyleGAN2Decoder(keras.layers.Layer):
    """Args: channels (per block, 4x4 first), latent_size, img_channels.
    Call: decoder(ws [N, 2 * blocks, latent], lod, blend_factor, noise_mode, noise_seed)."""

    def __init__(self, channels, latent_size, img_channels, **kwargs):
        super().__init__(**no_autocast(kwargs))
        self.channels = [int(c) for c in channels]
        self.latent_size, self.img_channels = int(latent_size), int(img_channels)
        self.blocks = []
        layer_index = 0
        for i, ch in enumerate(self.channels):
            block = SynthesisBlock(
                0 if i == 0 else self.channels[i - 1],
                ch,
                self.latent_size,
                2 ** (i + 2),
                self.img_channels,
                is_last=i == len(self.channels) - 1,
                architecture="skip",
                first_layer_index=layer_index,
                name=f"b{2 ** (i + 2)}",
                dtype=self.dtype_policy,
            )
            layer_index += block.num_conv
            self.blocks.append(block)
        self._filter = ops.setup_filter([1, 3, 3, 1])

    def build(self, input_shape=None):
        if self.built:
            return
        for block in self.blocks:
            block.build(None)
        self.built = True

    def call(self, ws, lod, blend_factor=1.0, noise_mode="random", noise_seed=None, fade=False):
        if noise_mode not in NOISE_MODES:
            raise ValueError(
                f"noise_mode must be one of {NOISE_MODES} for the StyleGAN2 decoder, "
                f"got {noise_mode!r}"
            )
        x, img, w_idx = None, None, 0
        for i in range(lod + 1):
            block = self.blocks[i]
            block_ws = ws[:, w_idx : w_idx + block.num_conv + block.num_torgb]
            w_idx += block.num_conv
            x, y = block(
                x, None, block_ws, noise_mode=noise_mode, fused_modconv=False, noise_seed=noise_seed
            )  # y: this block's ToRGB term
            if i == lod and fade:
                y = y * tf.cast(blend_factor, y.dtype)
            img = y if img is None else ops.upsample2d(img, self._filter) + y
        return img

    def get_config(self):
        return dict(
            super().get_config(),
            channels=self.channels,
            latent_size=self.latent_size,
            img_channels=self.img_channels,
        )
