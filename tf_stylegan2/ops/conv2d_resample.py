"""2-D convolution with optional 2x up/down FIR resampling, NHWC (ADA-PT
torch_utils/ops/conv2d_resample.py).

Reference: stylegan2-ada-pytorch torch_utils/ops/conv2d_resample.py. The weight is HWIO
`[kh, kw, I/groups, O]` (= the official OIHW weight transposed (2, 3, 1, 0)). Orientation follows
ADA-PT: plain and down convs are correlations (`flip_weight=True`), up convs are the
transposed conv of the unflipped weight (`flip_weight=False`), followed by the FIR.
"""

import tensorflow as tf

from tf_stylegan2.ops.grouped_conv import grouped_conv2d, grouped_conv2d_transpose
from tf_stylegan2.ops.upfirdn2d import upfirdn2d


def _conv(x, w, stride=1, padding=0):
    """Correlation; grouped when x has a multiple of w's input channels. padding: int."""
    if x.shape[3] is not None and int(x.shape[3]) != int(w.shape[2]):  # grouped (grouped_conv.py)
        if stride != 1:
            raise ValueError("conv2d_resample: a grouped conv supports stride 1 only")
        if padding:
            x = tf.pad(x, [[0, 0], [padding, padding], [padding, padding], [0, 0]])
        return grouped_conv2d(x, w)
    if padding:
        kh, kw = int(w.shape[0]), int(w.shape[1])
        if stride == 1 and kh == kw == 2 * padding + 1:
            return tf.nn.conv2d(x, w, 1, "SAME")
        x = tf.pad(x, [[0, 0], [padding, padding], [padding, padding], [0, 0]])
    return tf.nn.conv2d(x, w, stride, "VALID")


def _conv_transpose(x, w, stride, groups):
    """Transposed conv (the adjoint of a stride-`stride` correlation), VALID, no flip.

    w: [kh, kw, I, groups*O] as for the forward conv of the same layer.
    """
    if groups > 1:
        return grouped_conv2d_transpose(x, w, stride)
    kh, kw, cin, gout = (int(d) for d in w.shape)
    cout = gout // groups
    # conv2d_transpose wants [kh, kw, out, in]; per group: in=I, out=O.
    wt = tf.reshape(w, [kh, kw, cin, groups, cout])
    wt = tf.transpose(wt, [0, 1, 4, 3, 2])  # [kh, kw, O, G, I]
    wt = tf.reshape(wt, [kh, kw, cout, groups * cin])
    n = tf.shape(x)[0]
    h, wd = int(x.shape[1]), int(x.shape[2])
    out_shape = tf.stack([n, (h - 1) * stride + kh, (wd - 1) * stride + kw, groups * cout])
    y = tf.nn.conv2d_transpose(x, wt, out_shape, stride, "VALID")
    return tf.ensure_shape(y, [None, (h - 1) * stride + kh, (wd - 1) * stride + kw, groups * cout])


def up_fir_padding(kw, f, up, padding):
    """FIR padding (x0, x1, y0, y1) after the VALID transposed conv of a k x k up-conv (ADA-PT)."""
    fw = f.shape[1] if f is not None else 1
    p0 = int(padding) + (fw + up - 1) // 2 - (kw - 1)
    p1 = int(padding) + (fw - up) // 2 - (kw - up)
    return [p0, p1, p0, p1]


def conv2d_resample(x, w, f=None, up=1, down=1, padding=0, groups=1):
    """Conv with optional FIR up/down (factor 2 typical), exactly as ADA-PT `conv2d_resample`.

    Args:
        x: [N, H, W, groups*I].
        w: [kh, kw, I, groups*O] weight (already scaled).
        f: 2-D numpy FIR from `setup_filter` (needed when up or down > 1).
        up, down: integer factors (not both > 1 with kernel != 1 unless supported below).
        padding: int padding w.r.t. the upsampled image (ADA-PT uses kernel_size // 2).
        groups: number of groups (the fused modulated conv uses one group per sample).
    Returns:
        [N, H*up/down, W*up/down, groups*O] for the standard `padding = k // 2`.
    """
    x = tf.convert_to_tensor(x)
    w = tf.convert_to_tensor(w, x.dtype)
    kh, kw = int(w.shape[0]), int(w.shape[1])
    fh, fw = f.shape if f is not None else (1, 1)
    px0 = px1 = py0 = py1 = int(padding)
    if up > 1:
        px0 += (fw + up - 1) // 2
        px1 += (fw - up) // 2
        py0 += (fh + up - 1) // 2
        py1 += (fh - up) // 2
    if down > 1:
        px0 += (fw - down + 1) // 2
        px1 += (fw - down) // 2
        py0 += (fh - down + 1) // 2
        py1 += (fh - down) // 2

    # 1x1 down: FIR-downsample, then the conv.
    if kw == 1 and kh == 1 and down > 1 and up == 1:
        x = upfirdn2d(x, f, down=down, padding=[px0, px1, py0, py1])
        return _conv(x, w)
    # 1x1 up: the conv, then FIR-upsample.
    if kw == 1 and kh == 1 and up > 1 and down == 1:
        x = _conv(x, w)
        return upfirdn2d(x, f, up=up, padding=[px0, px1, py0, py1], gain=up * up)
    # Down only: FIR with padding, then strided conv.
    if down > 1 and up == 1:
        x = upfirdn2d(x, f, padding=[px0, px1, py0, py1])
        return _conv(x, w, stride=down)
    # Up (optionally followed by down): transposed conv, then FIR.
    if up > 1:
        px0 -= kw - 1
        px1 -= kw - up
        py0 -= kh - 1
        py1 -= kh - up
        if min(-px0, -px1) > 0 or min(-py0, -py1) > 0:
            raise ValueError(
                f"conv2d_resample: padding={padding} too large for up={up}, kernel {kh}x{kw}"
            )
        x = _conv_transpose(x, w, up, groups)
        x = upfirdn2d(x, f, padding=[px0, px1, py0, py1], gain=up * up)
        if down > 1:
            x = upfirdn2d(x, f, down=down)
        return x
    # No resampling.
    if px0 == px1 == py0 == py1 and px0 >= 0:
        return _conv(x, w, padding=px0)
    x = upfirdn2d(x, None, padding=[px0, px1, py0, py1])
    return _conv(x, w)
