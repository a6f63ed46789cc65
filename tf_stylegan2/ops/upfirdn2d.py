"""FIR resampling: upfirdn2d and the plain 2x up/down/filter helpers (NHWC).

Reference: stylegan2-ada-pytorch torch_utils/ops/upfirdn2d.py (upfirdn2d, upsample2d, downsample2d).
Pure TF (zero insertion by pad+reshape, FIR as a depthwise conv), so it runs on any device,
compiles with XLA and is differentiable to any order.
"""

import contextlib

import numpy as np
import tensorflow as tf

_FOUR_D_ONLY = [False]


@contextlib.contextmanager
def four_d_ops():
    """Within this block, graphs traced use 4-D ops only for the zero insertion (concat +
    depth_to_space instead of a 6-D pad): LiteRT has no built-in kernel for a 6-D pad. The values
    are the same; the default is faster in TensorFlow (0.7 vs 2.8 ms forward at 8x32x32x128)."""
    _FOUR_D_ONLY[0] = True
    try:
        yield
    finally:
        _FOUR_D_ONLY[0] = False


def setup_filter(f=(1, 3, 3, 1), normalize=True, flip_filter=False, gain=1):
    """1-D taps or a 2-D array -> normalized 2-D float32 numpy filter [fh, fw] (or None).

    1-D taps become their outer product, as ADA-PT `setup_filter` does for short filters.
    """
    if f is None:
        return None
    f = np.asarray(f, dtype=np.float32)
    if f.ndim == 0:
        f = f[None]
    if f.ndim == 1:
        f = np.outer(f, f)
    if f.ndim != 2:
        raise ValueError(f"setup_filter: expected 1-D taps or a 2-D filter, got shape {f.shape}")
    if normalize:
        f = f / f.sum()
    if flip_filter:
        f = f[::-1, ::-1]
    return (f * gain).astype(np.float32)


def _pair(v):
    if isinstance(v, (list, tuple)):
        if len(v) != 2:
            raise ValueError(f"expected an int or a pair, got {v!r}")
        return int(v[0]), int(v[1])
    return int(v), int(v)


def _padding4(padding):
    """int | [x, y] | [x0, x1, y0, y1] -> (px0, px1, py0, py1)."""
    if isinstance(padding, int):
        padding = [padding, padding]
    if len(padding) == 2:
        px, py = padding
        padding = [px, px, py, py]
    return tuple(int(p) for p in padding)


def _static_hwc(x):
    shape = x.shape
    if shape.rank != 4:
        raise ValueError(f"expected an NHWC tensor, got shape {shape}")
    h, w, c = shape[1], shape[2], shape[3]
    if h is None or w is None or c is None:
        raise ValueError(f"H, W and C must be static, got shape {shape}")
    return int(h), int(w), int(c)


def upfirdn2d(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1):
    """Upsample (zero insertion), pad/crop, FIR filter (true convolution), downsample.

    Args:
        x: [N, H, W, C] float tensor.
        f: 2-D numpy filter [fh, fw] from `setup_filter`, or None (identity).
        up, down: int or (x, y) factors.
        padding: int, (px, py) or (px0, px1, py0, py1); negative values crop.
        flip_filter: False = true convolution (ADA-PT default); True = correlation.
        gain: overall gain; the 2-D filter is scaled by it.
    Returns:
        [N, (H*up + py0 + py1 - fh) // down + 1, (likewise for W), C].
    """
    upx, upy = _pair(up)
    downx, downy = _pair(down)
    px0, px1, py0, py1 = _padding4(padding)
    x = tf.convert_to_tensor(x)
    if f is None:
        f = np.ones([1, 1], np.float32)
    f = np.asarray(f, np.float32)
    h, w, c = _static_hwc(x)

    # Upsample by inserting zeros after every sample.
    if upx == upy > 1 and _FOUR_D_ONLY[0]:  # x, then up*up-1 zero channel blocks, moved to space
        x = tf.concat([x] + [tf.zeros_like(x)] * (upx * upy - 1), axis=-1)  # [N, H, W, up*up*C]
        x = tf.nn.depth_to_space(x, upx)  # [N, H*up, W*up, C], x at offset (0, 0) of each block
        h, w = h * upy, w * upx
    elif upx > 1 or upy > 1:
        x = tf.reshape(x, [-1, h, 1, w, 1, c])
        x = tf.pad(x, [[0, 0], [0, 0], [0, upy - 1], [0, 0], [0, upx - 1], [0, 0]])
        h, w = h * upy, w * upx
        x = tf.reshape(x, [-1, h, w, c])

    # Pad, then crop.
    if max(px0, px1, py0, py1) > 0:
        x = tf.pad(x, [[0, 0], [max(py0, 0), max(py1, 0)], [max(px0, 0), max(px1, 0)], [0, 0]])
        h, w = h + max(py0, 0) + max(py1, 0), w + max(px0, 0) + max(px1, 0)
    if min(px0, px1, py0, py1) < 0:
        x = x[:, max(-py0, 0) : h - max(-py1, 0), max(-px0, 0) : w - max(-px1, 0), :]

    # FIR (true convolution = correlation with the flipped filter) and stride-downsample.
    f = f * np.float32(gain)
    if not flip_filter:
        f = f[::-1, ::-1]
    fh, fw = f.shape
    if fh == 1 and fw == 1 and f[0, 0] == 1:
        return x[:, ::downy, ::downx, :] if (downx > 1 or downy > 1) else x
    kernel = tf.constant(np.tile(f[:, :, None, None], [1, 1, c, 1]), dtype=x.dtype)  # [fh,fw,C,1]
    if downx == downy:
        return tf.nn.depthwise_conv2d(x, kernel, [1, downy, downx, 1], "VALID")
    x = tf.nn.depthwise_conv2d(x, kernel, [1, 1, 1, 1], "VALID")
    return x[:, ::downy, ::downx, :]


def filter2d(x, f, padding=0, flip_filter=False, gain=1):
    """FIR filter keeping the size (padding added as ADA-PT `filter2d`)."""
    fh, fw = np.asarray(f).shape
    px0, px1, py0, py1 = _padding4(padding)
    p = [px0 + fw // 2, px1 + (fw - 1) // 2, py0 + fh // 2, py1 + (fh - 1) // 2]
    return upfirdn2d(x, f, padding=p, flip_filter=flip_filter, gain=gain)


def upsample2d(x, f, up=2, padding=0, flip_filter=False, gain=1):
    """2x FIR upsampling with gain up**2 (ADA-PT torch_utils/ops/upfirdn2d.py upsample2d: pad (2, 1)
    for 4 taps)."""
    upx, upy = _pair(up)
    px0, px1, py0, py1 = _padding4(padding)
    fh, fw = np.asarray(f).shape
    p = [
        px0 + (fw + upx - 1) // 2,
        px1 + (fw - upx) // 2,
        py0 + (fh + upy - 1) // 2,
        py1 + (fh - upy) // 2,
    ]
    return upfirdn2d(x, f, up=up, padding=p, flip_filter=flip_filter, gain=gain * upx * upy)


def downsample2d(x, f, down=2, padding=0, flip_filter=False, gain=1):
    """2x FIR downsampling (ADA-PT upfirdn2d.py downsample2d: pad (1, 1), keep even samples)."""
    downx, downy = _pair(down)
    px0, px1, py0, py1 = _padding4(padding)
    fh, fw = np.asarray(f).shape
    p = [
        px0 + (fw - downx + 1) // 2,
        px1 + (fw - downx) // 2,
        py0 + (fh - downy + 1) // 2,
        py1 + (fh - downy) // 2,
    ]
    return upfirdn2d(x, f, down=down, padding=p, flip_filter=flip_filter, gain=gain)
