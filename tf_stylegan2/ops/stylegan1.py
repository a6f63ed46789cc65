"""The ops of StyleGAN (v1) that StyleGAN2 dropped, for config A (TF1 networks_stylegan.py): the
[1, 2, 1] blur, instance normalization, and the 'fused' resampling convolutions of outputs / inputs
of 128 px and more. NHWC; weights HWIO as stored in TF1."""

import numpy as np
import tensorflow as tf

from tf_stylegan2.ops.naive_resample import nearest_upsample


def blur2d(x, f=(1, 2, 1)):
    """Depthwise SAME convolution with the normalized outer product of `f` (TF1 _blur2d, no flip:
    the filter is symmetric). x: [N, H, W, C] -> same shape."""
    f = np.asarray(f, np.float64)
    k = np.outer(f, f)
    k = (k / k.sum()).astype(np.float32)
    channels = int(x.shape[-1])
    kernel = tf.constant(np.tile(k[:, :, None, None], [1, 1, channels, 1]), dtype=x.dtype)
    return tf.nn.depthwise_conv2d(x, kernel, strides=[1, 1, 1, 1], padding="SAME")


def instance_norm(x, eps=1e-8):
    """(x - mean) * rsqrt(mean((x - mean)^2) + eps) over H and W per sample and channel, in
    float32 (TF1 instance_norm). x: [N, H, W, C]."""
    dtype = x.dtype
    x = tf.cast(x, tf.float32)
    x = x - tf.reduce_mean(x, axis=[1, 2], keepdims=True)
    x = x * tf.math.rsqrt(tf.reduce_mean(tf.square(x), axis=[1, 2], keepdims=True) + eps)
    return tf.cast(x, dtype)


def _sum_shifts(w):
    """The 3x3 kernel padded to 5x5 and summed over its four 1-px shifts: 4x4 (TF1 fused_scale)."""
    w = tf.pad(w, [[1, 1], [1, 1], [0, 0], [0, 0]])
    return w[1:, 1:] + w[:-1, 1:] + w[1:, :-1] + w[:-1, :-1]


def upscale_conv2d(x, w, fused):
    """Nearest 2x upsampling then a SAME conv with w [k, k, I, O] (TF1 upscale2d_conv2d), or, when
    `fused`, TF1's stride-2 transposed conv with the shift-summed kernel (which equals the
    unfused form with w flipped in space: NETWORKS_TRAINING.md 5.7). x: [N, H, W, I] ->
    [N, 2H, 2W, O]."""
    if not fused:
        x = nearest_upsample(x, 2)  # static shapes (tf.repeat loses them; LiteRT needs them)
        return tf.nn.conv2d(x, w, strides=1, padding="SAME")
    k = _sum_shifts(tf.transpose(w, [0, 1, 3, 2]))  # [4, 4, O, I]
    n = tf.shape(x)[0]
    out_shape = tf.stack([n, int(x.shape[1]) * 2, int(x.shape[2]) * 2, int(w.shape[-1])])
    return tf.nn.conv2d_transpose(x, k, out_shape, strides=2, padding="SAME")


def conv2d_downscale2d(x, w, fused):
    """A SAME conv with w [k, k, I, O] then the 2x2 mean (TF1 conv2d_downscale2d), or, when
    `fused`, one stride-2 SAME conv with the shift-summed kernel x 0.25. [N, H, W, I] ->
    [N, H/2, W/2, O]."""
    if not fused:
        x = tf.nn.conv2d(x, w, strides=1, padding="SAME")
        return tf.nn.avg_pool2d(x, 2, 2, padding="VALID")
    return tf.nn.conv2d(x, _sum_shifts(w) * 0.25, strides=2, padding="SAME")
