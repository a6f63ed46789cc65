"""Naive resampling of progressive growing (TF1 networks_stylegan.py upscale2d / downscale2d and
training_loop.py process_reals): nearest-neighbour upsampling, box downsampling, and the level-
of-detail fade of real images. NHWC."""

import tensorflow as tf


def nearest_upsample(x, factor=2):
    """Every pixel repeated factor x factor times. x: [N, H, W, C] -> [N, H*f, W*f, C]."""
    factor = int(factor)
    if factor == 1:
        return x
    x = tf.convert_to_tensor(x)
    _, h, w, c = x.shape
    x = tf.reshape(x, [-1, h, 1, w, 1, c])
    x = tf.tile(x, [1, 1, factor, 1, factor, 1])
    return tf.reshape(x, [-1, h * factor, w * factor, c])


def box_downsample(x, factor=2):
    """Mean of each factor x factor block. x: [N, H, W, C] -> [N, H/f, W/f, C]."""
    factor = int(factor)
    if factor == 1:
        return x
    x = tf.convert_to_tensor(x)
    _, h, w, c = x.shape
    x = tf.reshape(x, [-1, h // factor, factor, w // factor, factor, c])
    return tf.reduce_mean(x, axis=[2, 4])


def fade_lod(x, lod, out_resolution):
    """Reals read at the current level, as the networks see them at `lod` (TF1 process_reals).

    x: [N, R, R, C] images in [-1, 1] at R = out_resolution / 2**floor(lod); lod: float (python
    or scalar tensor) >= 0. Blends x toward its own 2x-coarser version by lod - floor(lod)
    (the fade-in of the level above), then nearest-upsamples by 2**floor(lod) to out_resolution.
    """
    x = tf.convert_to_tensor(x)
    lod = tf.cast(lod, x.dtype)
    alpha = lod - tf.floor(lod)
    coarse = nearest_upsample(box_downsample(x, 2), 2)
    x = x + (coarse - x) * alpha
    factor = int(out_resolution) // int(x.shape[1])
    return nearest_upsample(x, factor)
