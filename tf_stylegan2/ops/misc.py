"""Minibatch standard deviation (ADA-PT training/networks.py MinibatchStdLayer) and second-moment
normalization (ADA-PT training/networks.py normalize_2nd_moment)."""

import tensorflow as tf


def normalize_2nd_moment(x, eps=1e-8):
    """x * rsqrt(mean(x^2 over the last axis) + eps). x: [N, F]."""
    x = tf.convert_to_tensor(x)
    return x * tf.math.rsqrt(tf.reduce_mean(tf.square(x), axis=-1, keepdims=True) + eps)


def minibatch_std(x, group_size=4, num_channels=1):
    """Append `num_channels` stddev channels. x: [N, H, W, C] -> [N, H, W, C + F].

    Groups are strided as in the official code: sample i is in group i mod (N / G).
    group_size None means G = N. Statistics in float32 for half-precision inputs, else in x's dtype.
    """
    x = tf.convert_to_tensor(x)
    _, h, w, c = x.shape
    f = int(num_channels)
    n = tf.shape(x)[0]
    if group_size is None:
        g = n
    else:
        g = tf.minimum(tf.constant(int(group_size), tf.int32), n)
    stat_dtype = tf.float32 if x.dtype in (tf.float16, tf.bfloat16) else x.dtype
    y = tf.cast(x, stat_dtype)
    y = tf.reshape(y, [g, -1, h, w, f, c // f])  # [G, M, H, W, F, c]
    y = y - tf.reduce_mean(y, axis=0)  # deviation within group
    y = tf.reduce_mean(tf.square(y), axis=0)  # [M, H, W, F, c] variance
    y = tf.sqrt(y + 1e-8)
    y = tf.reduce_mean(y, axis=[1, 2, 4])  # [M, F]
    y = tf.reshape(y, [-1, 1, 1, f])  # [M, 1, 1, F]
    y = tf.tile(y, tf.stack([g, h, w, 1]))  # [N, H, W, F]; sample i -> y[i mod M]
    return tf.concat([x, tf.cast(y, x.dtype)], axis=-1)
