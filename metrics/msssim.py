"""MS-SSIM (Wang, Simoncelli & Bovik 2003) and the AC-GAN paper's diversity score: the mean
MS-SSIM of random pairs of images of the same class (Odena et al. 2017, section 4.2); lower is
more diverse.

Same definition as tf.image.ssim_multiscale (11x11 Gaussian window, sigma 1.5, k1 0.01, k2 0.03,
the five scale weights of the paper, 2x2 average pooling between scales, negative contrast-structure
terms clipped at 0), with one difference for small images: only as many scales as fit the image
(the coarsest scale at least as large as the window), the weights renormalized to their original
sum. At 176x176 and above that is exactly TensorFlow's value (tests/test_class_metrics.py).
"""

import numpy as np
import tensorflow as tf

POWER_FACTORS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
FILTER_SIZE, FILTER_SIGMA, K1, K2 = 11, 1.5, 0.01, 0.03


def num_scales(size, filter_size=FILTER_SIZE):
    """Scales whose image is at least filter_size wide (TF asserts this for all five)."""
    s = 1
    while s < len(POWER_FACTORS) and -(-size // 2**s) >= filter_size:
        s += 1
    return s


def _window(size, sigma, channels, dtype):
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    g = np.exp(-(x**2) / (2 * sigma**2))
    g = np.outer(g, g) / np.sum(np.outer(g, g))  # [f, f]
    w = np.tile(g[:, :, None, None], [1, 1, channels, 1])  # depthwise [f, f, C, 1]
    return tf.constant(w, dtype)


def _ssim_terms(a, b, max_val, window):
    """(ssim [N, C], contrast-structure [N, C]): per channel, averaged over the valid window
    positions."""
    c1, c2 = (K1 * max_val) ** 2, (K2 * max_val) ** 2

    def blur(x):
        return tf.nn.depthwise_conv2d(x, window, [1, 1, 1, 1], "VALID")

    mu_a, mu_b = blur(a), blur(b)
    mu_ab, mu_aa_bb = mu_a * mu_b, mu_a**2 + mu_b**2
    luminance = (2 * mu_ab + c1) / (mu_aa_bb + c1)
    cov = blur(a * b) - mu_ab
    var_sum = blur(a**2 + b**2) - mu_aa_bb
    cs = (2 * cov + c2) / (var_sum + c2)
    return tf.reduce_mean(luminance * cs, [1, 2]), tf.reduce_mean(cs, [1, 2])


def ms_ssim(a, b, max_val=255.0, scales=None):
    """MS-SSIM [N] of image batches a, b [N, H, W, C] (values in [0, max_val])."""
    a = tf.convert_to_tensor(a, tf.float32)
    b = tf.convert_to_tensor(b, tf.float32)
    size = int(min(a.shape[1], a.shape[2]))
    scales = scales or num_scales(size)
    weights = np.asarray(POWER_FACTORS[:scales])
    weights = weights * (sum(POWER_FACTORS) / weights.sum())
    window = _window(min(FILTER_SIZE, size), FILTER_SIGMA, int(a.shape[3]), tf.float32)
    values = []
    for s in range(scales):
        ssim, cs = _ssim_terms(a, b, max_val, window)
        values.append(tf.nn.relu(cs) if s < scales - 1 else tf.nn.relu(ssim))
        if s < scales - 1:
            a, b = (_halve(x) for x in (a, b))
    stacked = tf.stack(values, axis=-1)  # [N, C, scales]
    per_channel = tf.reduce_prod(stacked ** tf.constant(weights, tf.float32), axis=-1)
    return tf.reduce_mean(per_channel, axis=-1)  # [N]: the mean over channels, as TF


def _halve(x):
    """2x2 average pooling; odd sizes are padded at the end by replication, as TF does."""
    h, w = int(x.shape[1]), int(x.shape[2])
    x = tf.pad(x, [[0, 0], [0, h % 2], [0, w % 2], [0, 0]], mode="SYMMETRIC")
    return tf.nn.avg_pool2d(x, 2, 2, "VALID")


def same_label_pairs(labels, num_pairs, rng):
    """{label row (tuple): (index array A, index array B)} of num_pairs random pairs of distinct
    images sharing that label row; labels with fewer than 2 images are left out."""
    labels = np.asarray(labels)
    groups = {}
    for i, row in enumerate(map(tuple, labels)):
        groups.setdefault(row, []).append(i)
    out = {}
    for row, members in sorted(groups.items(), reverse=True):
        if len(members) < 2:
            continue
        members = np.asarray(members)
        first = rng.randint(0, len(members), num_pairs)
        second = (first + rng.randint(1, len(members), num_pairs)) % len(members)
        out[row] = (members[first], members[second])
    return out
