"""StyleALAE (Pidhorskyi et al. 2020; official ALAE model.py Model with GeneratorDefault,
EncoderDefault, MappingF and MappingD) as one Keras model.

Conventions: images NHWC in [-1, 1]; `lod` = index of the last active block counted from 4x4
(ALAE's own, opposite to TF1's, where 0 is the full resolution): lod l works at 2**(l + 2) px;
`blend_factor` 1 = the newest level at full strength, below 1 its fade-in (ALAE decode2 /
encode2).
"""

import keras
import tensorflow as tf

from tf_stylegan2 import ops
from tf_stylegan2.layers.base import PACKAGE, FullyConnectedLayer, no_autocast
from tf_stylegan2.layers.stylegan1 import SQRT2, WScaleConv2d
from tf_stylegan2.networks.alae.layers import NOISE_MODES, AlaeDecodeLayer, AlaeEncodeBlock
from tf_stylegan2.networks.alae.stylegan2_decoder import AlaeStyleGAN2Decoder


def _fades(blend_factor):
    """True for a fade-in (decode2 / encode2): a blend below 1, or a tensor (training's blend)."""
    return tf.is_tensor(blend_factor) or blend_factor != 1


@keras.saving.register_keras_serializable(package=PACKAGE)
class ALAE(keras.Model):
    """F (z -> w), G (decoder), E (encoder), D (MLP on w) and the per-layer average w.

    Args (the official config keys): layer_count (MODEL.LAYER_COUNT), startf, maxf
        (START_CHANNEL_COUNT, MAX_CHANNEL_COUNT), latent_size, mapping_layers, channels,
        truncation_psi, truncation_cutoff (TRUNCATIOM_*), dlatent_avg_beta, style_mixing_prob.
    Methods: mapping(z), decode(ws, lod, blend_factor, noise_mode, noise), generate(z, ...),
        encode(images, lod, blend_factor), discriminate(images, lod, blend_factor).
    """

    def __init__(
        self,
        layer_count=9,
        startf=32,
        maxf=512,
        latent_size=512,
        mapping_layers=8,
        channels=3,
        truncation_psi=None,
        truncation_cutoff=None,
        dlatent_avg_beta=0.995,
        style_mixing_prob=0.9,
        generator="alae",
        **kwargs,
    ):
        super().__init__(**no_autocast(kwargs))
        self.layer_count, self.startf, self.maxf = int(layer_count), int(startf), int(maxf)
        self.latent_size, self.mapping_layers = int(latent_size), int(mapping_layers)
        self.channels = int(channels)
        self.truncation_psi = truncation_psi
        self.truncation_cutoff = truncation_cutoff
        self.dlatent_avg_beta = dlatent_avg_beta
        self.style_mixing_prob = style_mixing_prob
        if generator not in ("alae", "stylegan2"):
            raise ValueError(f"generator must be 'alae' or 'stylegan2', got {generator!r}")
        self.generator = generator
        self.num_ws = 2 * self.layer_count
        self.img_resolution = 2 ** (self.layer_count + 1)
        lat, policy = self.latent_size, dict(dtype=self.dtype_policy)
        for k in range(self.mapping_layers):  # MappingF: lrelu after every layer, lr 0.1
            fc = FullyConnectedLayer(
                lat,
                lat,
                activation="lrelu",
                lr_multiplier=0.1,
                gain_in_weights=True,
                name=f"f_fc{k}",
                **policy,
            )
            setattr(self, f"f_fc{k}", fc)
        for k, out in enumerate((lat, lat, 2 * lat)):  # MappingD: affine, lr 0.1
            fc = FullyConnectedLayer(
                lat, out, lr_multiplier=0.1, gain=SQRT2, name=f"d_fc{k}", **policy
            )
            setattr(self, f"d_fc{k}", fc)
        self.g2 = None
        if generator == "stylegan2":  # ours: StyleGAN2's skip synthesis blocks
            chans = [self.decoder_channels(i) for i in range(self.layer_count)]
            self.g2 = AlaeStyleGAN2Decoder(chans, lat, self.channels, name="g2", **policy)
        for i in range(self.layer_count if self.g2 is None else 0):  # block i: 2**(i + 2) px
            res, ch = 2 ** (i + 2), self.decoder_channels(i)
            cin = 0 if i == 0 else self.decoder_channels(i - 1)
            for part, c_in, up in (("a", cin, i > 0), ("b", ch, False)):
                layer = AlaeDecodeLayer(
                    c_in,
                    ch,
                    lat,
                    res,
                    up=up,
                    layer_index=2 * i + (part == "b"),
                    block=i,
                    name=f"decode_{i}_{part}",
                    **policy,
                )
                setattr(self, f"decode_{i}_{part}", layer)
            setattr(
                self,
                f"to_rgb_{i}",
                WScaleConv2d(ch, self.channels, 1, gain=0.03, name=f"to_rgb_{i}", **policy),
            )
        for i in range(self.layer_count):  # encoder block i: input 2**(layer_count + 1 - i) px
            cin, cout = self.encoder_channels(i), self.encoder_channels(i + 1)
            res = 2 ** (self.layer_count + 1 - i)
            setattr(
                self,
                f"from_rgb_{i}",
                WScaleConv2d(
                    self.channels, cin, 1, activation="lrelu", name=f"from_rgb_{i}", **policy
                ),
            )
            setattr(
                self,
                f"encode_{i}",
                AlaeEncodeBlock(cin, cout, lat, res, name=f"encode_{i}", **policy),
            )
        self.build(None)

    def decoder_channels(self, i):
        return min(self.maxf, self.startf * 2 ** (self.layer_count - 1 - i))

    def encoder_channels(self, i):
        return min(self.maxf, self.startf * 2**i)

    def build(self, input_shape=None):
        if self.built:
            return
        lat = self.latent_size
        for k in range(self.mapping_layers):
            getattr(self, f"f_fc{k}").build([None, lat])
        for k in range(3):
            getattr(self, f"d_fc{k}").build([None, lat])
        for i in range(self.layer_count):
            decoder = ("decode_{i}_a", "decode_{i}_b", "to_rgb_{i}") if self.g2 is None else ()
            for name in (*decoder, "from_rgb_{i}", "encode_{i}"):
                getattr(self, name.format(i=i)).build(None)
        if self.g2 is not None:
            self.g2.build(None)
        self.dlatent_avg = self.add_weight(
            name="dlatent_avg", shape=[self.num_ws, lat], initializer="zeros", trainable=False
        )
        self.built = True

    def part_variables(self, part):
        """Trainable variables of 'F' (mapping), 'G' (decoder), 'E' (encoder) or 'D' (MappingD):
        the official optimizers train E + D and G + F."""
        names = {
            "F": [f"f_fc{k}" for k in range(self.mapping_layers)],
            "D": [f"d_fc{k}" for k in range(3)],
            "G": ["g2"] if self.g2 is not None else
                 [f"{n}_{i}{s}" for i in range(self.layer_count)
                  for n, s in (("decode", "_a"), ("decode", "_b"), ("to_rgb", ""))],
            "E": [f"{n}_{i}" for i in range(self.layer_count) for n in ("from_rgb", "encode")],
        }[part]  # fmt: skip
        return [v for n in names for v in getattr(self, n).trainable_variables]

    # -- F and G -------------------------------------------------------------------------------
    def mapping(self, z):
        """z [N, latent] -> ws [N, num_ws, latent] (pixel norm, MappingF, broadcast)."""
        x = ops.normalize_2nd_moment(tf.cast(z, self.compute_dtype))
        for k in range(self.mapping_layers):
            x = getattr(self, f"f_fc{k}")(x)
        return tf.tile(x[:, None], [1, self.num_ws, 1])

    def decode(
        self, ws, lod=None, blend_factor=1.0, noise_mode="random", noise=None, noise_seed=None
    ):
        """ws [N, latent] or [N, num_ws, latent] -> images [N, 2**(lod+2), same, channels]."""
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        lod = self.layer_count - 1 if lod is None else int(lod)
        ws = tf.cast(ws, self.compute_dtype)
        if ws.shape.rank == 2:
            ws = tf.tile(ws[:, None], [1, self.num_ws, 1])
        if self.g2 is not None:
            if noise is not None:
                raise ValueError("the StyleGAN2 decoder takes no explicit noise maps")
            mode = {"deterministic": "const", "batch_constant": "random"}.get(
                noise_mode, noise_mode
            )
            return self.g2(
                ws,
                lod=lod,
                blend_factor=blend_factor,
                noise_mode=mode,
                noise_seed=noise_seed,
                fade=_fades(blend_factor),
            )
        x, prev = None, None
        for i in range(lod + 1):
            if i == lod and _fades(blend_factor):
                prev = getattr(self, f"to_rgb_{i - 1}")(x)
            for j, part in enumerate("ab"):
                k = 2 * i + j
                x = getattr(self, f"decode_{i}_{part}")(
                    x,
                    ws[:, k],
                    noise_mode=noise_mode,
                    noise_seed=noise_seed,
                    noise=None if noise is None else noise[k],
                )
        img = getattr(self, f"to_rgb_{lod}")(x)
        if prev is not None:  # torch.lerp(upsample(prev), new, blend)
            up = ops.nearest_upsample(prev, 2)
            img = up + (img - up) * tf.cast(blend_factor, img.dtype)
        return img

    def truncate(self, ws, truncation_psi=None, truncation_cutoff=None):
        psi = self.truncation_psi if truncation_psi is None else truncation_psi
        cutoff = self.truncation_cutoff if truncation_cutoff is None else truncation_cutoff
        if psi is None or psi == 1:
            return ws
        layer = tf.range(self.num_ws)[None, :, None]
        avg = tf.cast(self.dlatent_avg, ws.dtype)[None]
        mask = layer < (self.num_ws if cutoff is None else cutoff)
        return tf.where(mask, avg + (ws - avg) * psi, ws)

    def generate(
        self,
        z,
        truncation_psi=None,
        truncation_cutoff=None,
        noise_mode="random",
        noise=None,
        lod=None,
        blend_factor=1.0,
        noise_seed=None,
    ):
        """Model.generate without mixing: mapping, truncation toward dlatent_avg below the cutoff
        (default: the model's, as the official eval model), decode. Changes no state."""
        ws = self.truncate(self.mapping(z), truncation_psi, truncation_cutoff)
        return self.decode(ws, lod, blend_factor, noise_mode, noise, noise_seed)

    # -- E and D -------------------------------------------------------------------------------
    def encode(self, images, lod=None, blend_factor=1.0):
        """images [N, 2**(lod+2), same, channels] -> w [N, latent] (sum of the blocks' terms)."""
        lod = self.layer_count - 1 if lod is None else int(lod)
        first = self.layer_count - 1 - lod
        x = tf.cast(images, self.compute_dtype)
        h = ops.lrelu(getattr(self, f"from_rgb_{first}")(x))
        w = None
        for i in range(first, self.layer_count):
            h, w1, w2 = getattr(self, f"encode_{i}")(h)
            if i == first and _fades(blend_factor):
                b = tf.cast(blend_factor, h.dtype)
                w1, w2 = w1 * b, w2 * b
                prev = getattr(self, f"from_rgb_{i + 1}")(ops.box_downsample(x, 2))
                prev = ops.lrelu(prev)
                h = prev + (h - prev) * b
            w = w1 + w2 if w is None else w + w1 + w2
        return w

    def discriminate(self, images, lod=None, blend_factor=1.0):
        """D(E(images)) [N]: MappingD of w, its output `latent_size` (official D)."""
        x = self.encode(images, lod, blend_factor)
        for k in range(3):
            x = getattr(self, f"d_fc{k}")(x)
        return x[:, self.latent_size]

    def call(self, z):
        return self.generate(z)

    def get_config(self):
        return dict(
            super().get_config(),
            layer_count=self.layer_count,
            startf=self.startf,
            maxf=self.maxf,
            latent_size=self.latent_size,
            mapping_layers=self.mapping_layers,
            channels=self.channels,
            truncation_psi=self.truncation_psi,
            truncation_cutoff=self.truncation_cutoff,
            dlatent_avg_beta=self.dlatent_avg_beta,
            style_mixing_prob=self.style_mixing_prob,
            generator=self.generator,
        )
