"""ADA's augmentation pipeline (Karras et al. 2020), as stylegan2-ada-pytorch training/augment.py
AugmentPipe computes it, on NHWC images in [-1, 1].

Every transform is applied to a sample with probability (its multiplier) * p, where `p` is the
pipeline's strength (a non-trainable variable that ADA adjusts during training). Order and
formulas as the official forward(): pixel blitting and general geometric transforms compose one
inverse 2-D matrix executed once (reflect padding, 2x upsampling with sym6, bilinear sampling,
2x downsampling); colour transforms compose one 4x4 matrix; then image-space filtering with the
sym2 band bank, additive noise and cutout. debug_percentile=q gives NVIDIA's deterministic mode:
every enabled transform applied, every random parameter at its q-th percentile.
"""

import keras
import numpy as np
import tensorflow as tf

from training import augment_ops as A
from training.augpipe_specs import AUGPIPE_SPECS  # noqa: F401  (public here too)

_LUMA_AXIS = np.asarray([1, 1, 1, 0], np.float64) / np.sqrt(3)
_EXPECTED_POWER = np.asarray([10, 1, 1, 1], np.float32) / 13  # 1/f power spectrum per band


def _exp2(x):
    return tf.pow(2.0, x)


@keras.saving.register_keras_serializable(package="tf_stylegan2")
class AugmentPipe(keras.layers.Layer):
    """call(images [N, H, W, C] in [-1, 1] (C = 1 or 3), debug_percentile=None, seed=None,
    pixel_noise=None) -> augmented images, same shape.

    seed: optional stateless seed (int32 [2]) for every draw; without it one is drawn from
        tf.random (training passes per-sample seeds, so replicas and resumes agree).
    pixel_noise: optional [N, H, W, C] standard normals for the noise transform (else drawn).
    """

    def __init__(
        self,
        xflip=0, rotate90=0, xint=0, xint_max=0.125,
        scale=0, rotate=0, aniso=0, xfrac=0, scale_std=0.2, rotate_max=1, aniso_std=0.2,
        xfrac_std=0.125,
        brightness=0, contrast=0, lumaflip=0, hue=0, saturation=0, brightness_std=0.2,
        contrast_std=0.5, hue_max=1, saturation_std=1,
        imgfilter=0, imgfilter_bands=(1, 1, 1, 1), imgfilter_std=1,
        noise=0, cutout=0, noise_std=0.1, cutout_size=0.5,
        static_margin=False,
        **kwargs,
    ):  # fmt: skip
        super().__init__(**kwargs)
        # static_margin: reflect-pad the geometric path by its largest margin (size - 1 per side)
        # instead of the per-batch one, so every shape is known when tracing (XLA, --jit). The
        # inner pixels are the same; see _geometric.
        self.static_margin = bool(static_margin)
        self.settings = dict(
            xflip=xflip, rotate90=rotate90, xint=xint, xint_max=xint_max, scale=scale,
            rotate=rotate, aniso=aniso, xfrac=xfrac, scale_std=scale_std, rotate_max=rotate_max,
            aniso_std=aniso_std, xfrac_std=xfrac_std, brightness=brightness, contrast=contrast,
            lumaflip=lumaflip, hue=hue, saturation=saturation, brightness_std=brightness_std,
            contrast_std=contrast_std, hue_max=hue_max, saturation_std=saturation_std,
            imgfilter=imgfilter, imgfilter_std=imgfilter_std, noise=noise, cutout=cutout,
            noise_std=noise_std, cutout_size=cutout_size,
        )  # fmt: skip
        self.settings = {k: float(v) for k, v in self.settings.items()}
        self.imgfilter_bands = [float(b) for b in imgfilter_bands]
        for name, value in self.settings.items():
            setattr(self, name, value)
        self.Hz_geom = A.geom_filter()  # [12]
        self.Hz_fbank = A.filter_bank()  # [4, taps]
        if len(self.imgfilter_bands) != self.Hz_fbank.shape[0]:
            raise ValueError(f"imgfilter_bands: expected {self.Hz_fbank.shape[0]} values")
        self.p = self.add_weight(name="p", shape=[], initializer="zeros", trainable=False)

    def get_config(self):
        config = super().get_config()
        config.update(self.settings, imgfilter_bands=list(self.imgfilter_bands))
        config["static_margin"] = self.static_margin
        return config

    def compute_output_shape(self, input_shape):
        return input_shape

    # ------------------------------------------------------------------
    # Random draws: uniform [0, 1) and standard normal, from one seed or tf.random.

    def _draws(self, seed):
        """uniform(shape) in [0, 1) and normal(shape), all derived statelessly from `seed`."""
        counter = [0]

        def next_seed():
            counter[0] += 1
            return tf.random.experimental.stateless_fold_in(seed, counter[0])

        def uniform(shape):
            return tf.random.stateless_uniform(shape, next_seed())

        def normal(shape):
            return tf.random.stateless_normal(shape, next_seed())

        return uniform, normal

    @staticmethod
    def _fresh_seed():
        """A seed from tf.random (with op determinism on, TF wants an op seed: then a fixed one,
        and the stateful op still gives a new value on every call)."""
        try:
            return tf.random.uniform([2], 0, 2**31 - 1, tf.int32)
        except RuntimeError:
            return tf.random.uniform([2], 0, 2**31 - 1, tf.int32, seed=20201006)

    def call(self, images, debug_percentile=None, seed=None, pixel_noise=None):
        images = tf.convert_to_tensor(images)
        dtype = images.dtype
        images = tf.cast(images, tf.float32)
        channels = images.shape[-1]
        if channels not in (1, 3):
            raise ValueError(
                f"AugmentPipe: images must be RGB or L (1 or 3 channels), got {channels}"
            )
        shape = tf.shape(images)
        n, height, width = shape[0], shape[1], shape[2]
        p = tf.convert_to_tensor(self.p)
        if seed is None:  # debug mode draws nothing that matters (pixel noise aside)
            seed = tf.constant([0, 0]) if debug_percentile is not None else self._fresh_seed()
        seed = tf.cast(seed, tf.int32)
        uniform, normal = self._draws(seed)
        q = None if debug_percentile is None else tf.constant(float(debug_percentile), tf.float32)

        def gated(value, neutral, prob, shape_=None):
            """value where U < prob * p, else neutral (per sample)."""
            u = uniform(shape_ if shape_ is not None else [n])
            return tf.where(u < prob * p, value, neutral)

        def full(value):
            return tf.fill([n], value)

        def erfinv_pct():
            return tf.math.erfinv(q * 2 - 1)

        # ---- pixel blitting and general geometric transforms: one inverse matrix -------------
        G_inv = None

        def compose(m):
            nonlocal G_inv
            G_inv = m if G_inv is None else G_inv @ m

        if self.xflip > 0:
            i = gated(tf.floor(uniform([n]) * 2), tf.zeros([n]), self.xflip)
            if q is not None:
                i = full(tf.floor(q * 2))
            compose(A.scale2d(1 / (1 - 2 * i), 1, n))
        if self.rotate90 > 0:
            i = gated(tf.floor(uniform([n]) * 4), tf.zeros([n]), self.rotate90)
            if q is not None:
                i = full(tf.floor(q * 4))
            compose(A.rotate2d(np.pi / 2 * i, n))  # rotate2d_inv(-pi/2 i)
        if self.xint > 0:
            t = (uniform([n, 2]) * 2 - 1) * self.xint_max
            t = tf.where(uniform([n, 1]) < self.xint * p, t, tf.zeros_like(t))
            if q is not None:
                t = tf.fill([n, 2], (q * 2 - 1) * self.xint_max)
            tx = tf.round(t[:, 0] * tf.cast(width, tf.float32))
            ty = tf.round(t[:, 1] * tf.cast(height, tf.float32))
            compose(A.translate2d(-tx, -ty, n))
        if self.scale > 0:
            s = gated(_exp2(normal([n]) * self.scale_std), tf.ones([n]), self.scale)
            if q is not None:
                s = full(_exp2(erfinv_pct() * self.scale_std))
            compose(A.scale2d(1 / s, 1 / s, n))
        p_rot = 1 - tf.sqrt(tf.clip_by_value(1 - self.rotate * p, 0, 1))  # P(pre or post) = p
        if self.rotate > 0:
            theta = (uniform([n]) * 2 - 1) * np.pi * self.rotate_max
            theta = tf.where(uniform([n]) < p_rot, theta, tf.zeros_like(theta))
            if q is not None:
                theta = full((q * 2 - 1) * np.pi * self.rotate_max)
            compose(A.rotate2d(theta, n))  # rotate2d_inv(-theta), before anisotropic scaling
        if self.aniso > 0:
            s = gated(_exp2(normal([n]) * self.aniso_std), tf.ones([n]), self.aniso)
            if q is not None:
                s = full(_exp2(erfinv_pct() * self.aniso_std))
            compose(A.scale2d(1 / s, s, n))
        if self.rotate > 0:
            theta = (uniform([n]) * 2 - 1) * np.pi * self.rotate_max
            theta = tf.where(uniform([n]) < p_rot, theta, tf.zeros_like(theta))
            if q is not None:
                theta = tf.zeros([n])
            compose(A.rotate2d(theta, n))  # after anisotropic scaling
        if self.xfrac > 0:
            t = normal([n, 2]) * self.xfrac_std
            t = tf.where(uniform([n, 1]) < self.xfrac * p, t, tf.zeros_like(t))
            if q is not None:
                t = tf.fill([n, 2], erfinv_pct() * self.xfrac_std)
            tx = t[:, 0] * tf.cast(width, tf.float32)
            ty = t[:, 1] * tf.cast(height, tf.float32)
            compose(A.translate2d(-tx, -ty, n))
        if G_inv is not None:
            images = self._geometric(images, G_inv, n, height, width)

        # ---- colour: one 4x4 matrix --------------------------------------------------------
        C = None

        def compose_c(m):
            nonlocal C
            C = m if C is None else m @ C

        if self.brightness > 0:
            b = gated(normal([n]) * self.brightness_std, tf.zeros([n]), self.brightness)
            if q is not None:
                b = full(erfinv_pct() * self.brightness_std)
            compose_c(A.translate3d(b, b, b, n))
        if self.contrast > 0:
            c = gated(_exp2(normal([n]) * self.contrast_std), tf.ones([n]), self.contrast)
            if q is not None:
                c = full(_exp2(erfinv_pct() * self.contrast_std))
            compose_c(A.scale3d(c, c, c, n))
        vv = tf.constant(np.outer(_LUMA_AXIS, _LUMA_AXIS), tf.float32)  # v v^T
        eye4 = tf.eye(4)
        if self.lumaflip > 0:
            i = gated(tf.floor(uniform([n]) * 2), tf.zeros([n]), self.lumaflip)
            if q is not None:
                i = full(tf.floor(q * 2))
            compose_c(eye4 - 2 * vv * i[:, None, None])  # Householder reflection
        if self.hue > 0 and channels > 1:
            theta = (uniform([n]) * 2 - 1) * np.pi * self.hue_max
            theta = tf.where(uniform([n]) < self.hue * p, theta, tf.zeros_like(theta))
            if q is not None:
                theta = full((q * 2 - 1) * np.pi * self.hue_max)
            compose_c(A.rotate3d(_LUMA_AXIS, theta, n))  # rotate around the luma axis
        if self.saturation > 0 and channels > 1:
            s = gated(_exp2(normal([n]) * self.saturation_std), tf.ones([n]), self.saturation)
            if q is not None:
                s = full(_exp2(erfinv_pct() * self.saturation_std))
            compose_c(vv + (eye4 - vv) * s[:, None, None])
        if C is not None:
            images = self._colour(images, C, channels)

        # ---- image-space filtering ---------------------------------------------------------
        if self.imgfilter > 0:
            pad = self.Hz_fbank.shape[1] // 2
            if images.shape[1] is not None and min(images.shape[1], images.shape[2]) <= pad:
                raise ValueError(
                    f"AugmentPipe: imgfilter reflects {pad} pixels and needs images "
                    f"larger than {pad}x{pad}, got {images.shape[1]}x{images.shape[2]}"
                )
            images = self._imgfilter(images, n, p, q, uniform, normal)

        # ---- image-space corruptions -------------------------------------------------------
        if self.noise > 0:
            sigma = tf.abs(normal([n])) * self.noise_std
            sigma = tf.where(uniform([n]) < self.noise * p, sigma, tf.zeros_like(sigma))
            if q is not None:
                sigma = full(tf.math.erfinv(q) * self.noise_std)
            if pixel_noise is None:
                pixel_noise = normal(tf.shape(images))
            images = images + tf.cast(pixel_noise, tf.float32) * sigma[:, None, None, None]
        if self.cutout > 0:
            size = tf.where(uniform([n]) < self.cutout * p, self.cutout_size, 0.0)  # [N]
            center = uniform([n, 2])
            if q is not None:
                size = full(tf.constant(self.cutout_size, tf.float32))
                center = tf.fill([n, 2], q)
            coord_x = (tf.cast(tf.range(width), tf.float32) + 0.5) / tf.cast(width, tf.float32)
            coord_y = (tf.cast(tf.range(height), tf.float32) + 0.5) / tf.cast(height, tf.float32)
            mask_x = tf.abs(coord_x[None, :] - center[:, :1]) >= size[:, None] / 2  # [N, W]
            mask_y = tf.abs(coord_y[None, :] - center[:, 1:]) >= size[:, None] / 2  # [N, H]
            mask = tf.logical_or(mask_x[:, None, :], mask_y[:, :, None])  # [N, H, W]
            images = images * tf.cast(mask, tf.float32)[..., None]
        return tf.cast(images, dtype)

    # ------------------------------------------------------------------

    def _geometric(self, images, G_inv, n, height, width):
        """Execute the inverse transform G_inv [N, 3, 3] (pixel coordinates about the centre)."""
        hz_pad = len(self.Hz_geom) // 4
        w_f, h_f = tf.cast(width, tf.float32), tf.cast(height, tf.float32)
        cx, cy = (w_f - 1) / 2, (h_f - 1) / 2
        if self.static_margin:  # the clamp's upper bound below, known when tracing
            mx0 = mx1 = images.shape[2] - 1
            my0 = my1 = images.shape[1] - 1
        else:  # the inverse-transformed corners plus the filter's reach, clamped
            corners = tf.stack(
                [tf.stack([-cx, -cy, 1.0]), tf.stack([cx, -cy, 1.0]), tf.stack([cx, cy, 1.0]),
                 tf.stack([-cx, cy, 1.0])], axis=1
            )  # [xyz, idx]  # fmt: skip
            cp = tf.einsum("nij,jk->nik", G_inv, corners)  # [N, xyz, idx]
            xy = tf.reshape(tf.transpose(cp[:, :2, :], [1, 0, 2]), [2, -1])  # [xy, N * idx]
            margin = tf.reduce_max(tf.concat([-xy, xy], axis=0), axis=1)  # [x0, y0, x1, y1]
            margin = margin + tf.stack([hz_pad * 2 - cx, hz_pad * 2 - cy] * 2)
            margin = tf.maximum(margin, 0.0)
            margin = tf.minimum(margin, tf.stack([w_f - 1, h_f - 1] * 2))
            mx0, my0, mx1, my1 = tf.unstack(tf.cast(tf.math.ceil(margin), tf.int32))

        images = A.reflect_pad(images, mx0, mx1, my0, my1)
        G_inv = (
            A.translate2d(tf.cast(mx0 - mx1, tf.float32) / 2, tf.cast(my0 - my1, tf.float32) / 2, n)
            @ G_inv
        )
        images = A.upsample2x(images, self.Hz_geom)
        G_inv = A.scale2d(2, 2, n) @ G_inv @ A.scale2d(0.5, 0.5, n)
        G_inv = A.translate2d(-0.5, -0.5, n) @ G_inv @ A.translate2d(0.5, 0.5, n)

        out_h, out_w = (height + hz_pad * 2) * 2, (width + hz_pad * 2) * 2
        up_h, up_w = tf.shape(images)[1], tf.shape(images)[2]
        to_norm = A.scale2d(2 / tf.cast(up_w, tf.float32), 2 / tf.cast(up_h, tf.float32), n)
        from_norm = A.scale2d(tf.cast(out_w, tf.float32) / 2, tf.cast(out_h, tf.float32) / 2, n)
        G_inv = to_norm @ G_inv @ from_norm
        grid = A.affine_grid(G_inv[:, :2, :], out_h, out_w)
        images = A.grid_sample(images, grid)
        return A.downsample2x(images, self.Hz_geom, padding=-hz_pad * 2)

    def _colour(self, images, C, channels):
        if channels == 3:
            # C[:, :3, :3] @ rgb + C[:, :3, 3], per pixel
            return tf.einsum("nhwj,nij->nhwi", images, C[:, :3, :3]) + C[:, None, None, :3, 3]
        C = tf.reduce_mean(C[:, :3, :], axis=1)  # [N, 4]
        gain = tf.reduce_sum(C[:, :3], axis=1)
        return images * gain[:, None, None, None] + C[:, None, None, 3:]

    def _imgfilter(self, images, n, p, q, uniform, normal):
        num_bands = self.Hz_fbank.shape[0]
        expected_power = tf.constant(_EXPECTED_POWER)
        g = tf.ones([n, num_bands])  # global gain vector (identity)
        for i, band_strength in enumerate(self.imgfilter_bands):
            t_i = _exp2(normal([n]) * self.imgfilter_std)
            t_i = tf.where(
                uniform([n]) < self.imgfilter * p * band_strength, t_i, tf.ones_like(t_i)
            )
            if q is not None:
                value = _exp2(tf.math.erfinv(q * 2 - 1) * self.imgfilter_std)
                t_i = tf.fill([n], value if band_strength > 0 else tf.constant(1.0))
            t = tf.where(tf.range(num_bands)[None, :] == i, t_i[:, None], 1.0)  # [N, bands]
            t = t / tf.sqrt(tf.reduce_sum(expected_power * tf.square(t), axis=-1, keepdims=True))
            g = g * t
        taps = g @ tf.constant(self.Hz_fbank)  # [N, taps]
        return A.fir_per_image(images, taps)
