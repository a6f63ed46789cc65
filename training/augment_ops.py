"""The image operations of ADA's augmentation pipeline, NHWC, shapes known only at run time.

Reference: stylegan2-ada-pytorch training/augment.py (the matrix helpers, the wavelets),
torch_utils/ops/upfirdn2d.py (upsample2d, downsample2d with a separable 1-D filter) and
torch.nn.functional.affine_grid / grid_sample (bilinear, zero padding, align_corners=False).
Everything is plain TF, differentiable with respect to the images to any order.
"""

import numpy as np
import scipy.signal
import tensorflow as tf

# Wavelet lowpass taps (pywt dec_lo), as augment.py's `wavelets` table.
WAVELETS = {
    "haar": [0.7071067811865476, 0.7071067811865476],
    "sym2": [-0.12940952255092145, 0.22414386804185735, 0.836516303737469, 0.48296291314469025],
    "sym6": [
        0.015404109327027373,
        0.0034907120842174702,
        -0.11799011114819057,
        -0.048311742585633,
        0.4910559419267466,
        0.787641141030194,
        0.3379294217276218,
        -0.07263752278646252,
        -0.021060292512300564,
        0.04472490177066578,
        0.0017677118642428036,
        -0.007800708325034148,
    ],
}


# ----------------------------------------------------------------------------
# Homogeneous matrices, batched: every argument a scalar or a [N] tensor -> [N, k, k].


def matrix(rows, batch):
    """rows: k lists of k entries (python numbers or [N] tensors) -> [N, k, k] float32."""
    entries = [
        tf.broadcast_to(tf.cast(e, tf.float32), [batch]) for row in rows for e in row
    ]  # k*k x [N]
    k = len(rows)
    return tf.reshape(tf.stack(entries, axis=-1), [batch, k, k])


def translate2d(tx, ty, batch):
    return matrix([[1, 0, tx], [0, 1, ty], [0, 0, 1]], batch)


def scale2d(sx, sy, batch):
    return matrix([[sx, 0, 0], [0, sy, 0], [0, 0, 1]], batch)


def rotate2d(theta, batch):
    c, s = tf.cos(theta), tf.sin(theta)
    return matrix([[c, -s, 0], [s, c, 0], [0, 0, 1]], batch)


def translate3d(tx, ty, tz, batch):
    return matrix([[1, 0, 0, tx], [0, 1, 0, ty], [0, 0, 1, tz], [0, 0, 0, 1]], batch)


def scale3d(sx, sy, sz, batch):
    return matrix([[sx, 0, 0, 0], [0, sy, 0, 0], [0, 0, sz, 0], [0, 0, 0, 1]], batch)


def rotate3d(v, theta, batch):
    """Rotation by theta [N] around the unit axis v (3 numbers), augment.py rotate3d."""
    vx, vy, vz = (float(a) for a in v[:3])
    s, c = tf.sin(theta), tf.cos(theta)
    cc = 1 - c
    return matrix(
        [
            [vx * vx * cc + c, vx * vy * cc - vz * s, vx * vz * cc + vy * s, 0],
            [vy * vx * cc + vz * s, vy * vy * cc + c, vy * vz * cc - vx * s, 0],
            [vz * vx * cc - vy * s, vz * vy * cc + vx * s, vz * vz * cc + c, 0],
            [0, 0, 0, 1],
        ],
        batch,
    )


# ----------------------------------------------------------------------------
# Filters.


def geom_filter():
    """sym6 normalized to unit sum (upfirdn2d.setup_filter of 12 taps: separable, 1-D)."""
    f = np.asarray(WAVELETS["sym6"], np.float64)
    return (f / f.sum()).astype(np.float32)


def filter_bank():
    """[4, taps] float32: augment.py's bandpass bank from the sym2 wavelet (Hz_fbank)."""
    hz_lo = np.asarray(WAVELETS["sym2"])  # H(z)
    hz_hi = hz_lo * ((-1) ** np.arange(hz_lo.size))  # H(-z)
    hz_lo2 = np.convolve(hz_lo, hz_lo[::-1]) / 2  # H(z) * H(z^-1) / 2
    hz_hi2 = np.convolve(hz_hi, hz_hi[::-1]) / 2  # H(-z) * H(-z^-1) / 2
    bank = np.eye(4, 1)  # Bandpass(H(z), b_i)
    for i in range(1, bank.shape[0]):
        bank = np.dstack([bank, np.zeros_like(bank)]).reshape(bank.shape[0], -1)[:, :-1]
        bank = scipy.signal.convolve(bank, [hz_lo2])
        lo = (bank.shape[1] - hz_hi2.size) // 2
        bank[i, lo : lo + hz_hi2.size] += hz_hi2
    return bank.astype(np.float32)


def _fir_axis(x, f, axis):
    """Correlate every image along `axis` (1 = H, 2 = W) with the 1-D taps f, 'VALID'."""
    c = x.shape[-1]
    shape = [len(f), 1] if axis == 1 else [1, len(f)]
    kernel = tf.constant(np.tile(np.reshape(f, shape)[:, :, None, None], [1, 1, c, 1]), x.dtype)
    return tf.nn.depthwise_conv2d(x, kernel, [1, 1, 1, 1], "VALID")


def upsample2x(x, f):
    """upfirdn2d.upsample2d(x, f, up=2) for a separable 1-D f: zeros inserted after every sample,
    pad ((taps + 1) // 2, (taps - 2) // 2), true convolution, gain 2 per axis. [N,H,W,C] -> 2x."""
    n, h, w, c = tf.unstack(tf.shape(x))
    channels = x.shape[-1]
    x = tf.reshape(x, [n, h, 1, w, 1, channels])
    x = tf.pad(x, [[0, 0], [0, 0], [0, 1], [0, 0], [0, 1], [0, 0]])
    x = tf.reshape(x, [n, h * 2, w * 2, channels])
    taps = len(f)
    p0, p1 = (taps + 1) // 2, (taps - 2) // 2
    x = tf.pad(x, [[0, 0], [p0, p1], [p0, p1], [0, 0]])
    flipped = f[::-1] * 2.0
    return _fir_axis(_fir_axis(x, flipped, 2), flipped, 1)


def downsample2x(x, f, padding):
    """upfirdn2d.downsample2d(x, f, down=2, padding=padding, flip_filter=True) for a separable
    1-D f: pad (padding + (taps - 1) // 2, padding + (taps - 2) // 2) (negative crops),
    correlation with f, every second sample."""
    taps = len(f)
    p0, p1 = padding + (taps - 1) // 2, padding + (taps - 2) // 2
    if p0 < 0 or p1 < 0:
        h, w = tf.shape(x)[1], tf.shape(x)[2]
        x = x[:, max(-p0, 0) : h - max(-p1, 0), max(-p0, 0) : w - max(-p1, 0), :]
    if p0 > 0 or p1 > 0:
        q0, q1 = max(p0, 0), max(p1, 0)
        x = tf.pad(x, [[0, 0], [q0, q1], [q0, q1], [0, 0]])
    x = _fir_axis(_fir_axis(x, f, 2), f, 1)
    return x[:, ::2, ::2, :]


# ----------------------------------------------------------------------------
# Resampling by an inverse affine transform.


def affine_grid(theta, height, width):
    """torch affine_grid(theta [N, 2, 3], size (.., height, width), align_corners=False)
    -> [N, height, width, 2] normalized (x, y) sampling positions."""
    xs = (2.0 * tf.range(width, dtype=tf.float32) + 1.0) / tf.cast(width, tf.float32) - 1.0
    ys = (2.0 * tf.range(height, dtype=tf.float32) + 1.0) / tf.cast(height, tf.float32) - 1.0
    gx, gy = tf.meshgrid(xs, ys)  # [H, W]
    base = tf.stack([gx, gy, tf.ones_like(gx)], axis=-1)  # [H, W, 3]
    return tf.einsum("hwk,njk->nhwj", base, theta)


def grid_sample(images, grid):
    """torch grid_sample(mode='bilinear', padding_mode='zeros', align_corners=False), NHWC.

    images [N, Hi, Wi, C], grid [N, Ho, Wo, 2] -> [N, Ho, Wo, C]."""
    shape = tf.shape(images)
    hi, wi = shape[1], shape[2]
    ix = ((grid[..., 0] + 1.0) * tf.cast(wi, tf.float32) - 1.0) / 2.0
    iy = ((grid[..., 1] + 1.0) * tf.cast(hi, tf.float32) - 1.0) / 2.0
    x0, y0 = tf.floor(ix), tf.floor(iy)
    x1, y1 = x0 + 1.0, y0 + 1.0
    batch = tf.broadcast_to(tf.range(shape[0])[:, None, None], tf.shape(ix))  # [N, Ho, Wo]

    def corner(xc, yc, weight):
        valid = (xc >= 0) & (xc <= tf.cast(wi - 1, tf.float32))
        valid &= (yc >= 0) & (yc <= tf.cast(hi - 1, tf.float32))
        xi = tf.clip_by_value(tf.cast(xc, tf.int32), 0, wi - 1)
        yi = tf.clip_by_value(tf.cast(yc, tf.int32), 0, hi - 1)
        values = tf.gather_nd(images, tf.stack([batch, yi, xi], axis=-1))  # [N, Ho, Wo, C]
        return values * (weight * tf.cast(valid, images.dtype))[..., None]

    # the weights as torch computes them (distances to the opposite corner)
    return (
        corner(x0, y0, (x1 - ix) * (y1 - iy))
        + corner(x1, y0, (ix - x0) * (y1 - iy))
        + corner(x0, y1, (x1 - ix) * (iy - y0))
        + corner(x1, y1, (ix - x0) * (iy - y0))
    )


def reflect_pad(images, mx0, mx1, my0, my1):
    """torch.nn.functional.pad(mode='reflect') by run-time amounts (each < the image size)."""
    return tf.pad(images, [[0, 0], [my0, my1], [mx0, mx1], [0, 0]], mode="REFLECT")


def fir_per_image(images, taps):
    """Separable filtering with one 1-D filter per image: taps [N, T] (T odd), reflect padding
    by T // 2, correlation along W then H (augment.py's grouped conv2d pair). [N,H,W,C]."""
    t = taps.shape[-1]
    p = t // 2
    x = tf.pad(images, [[0, 0], [p, p], [p, p], [0, 0]], mode="REFLECT")
    h, w = tf.shape(images)[1], tf.shape(images)[2]
    weights = taps[:, None, None, None, :]  # [N, 1, 1, 1, T]
    x = sum(x[:, :, k : k + w, :] * weights[..., k] for k in range(t))
    x = sum(x[:, k : k + h, :, :] * weights[..., k] for k in range(t))
    return x
