"""Modulated (style) convolution, fused and non-fused forms (ADA-PT training/networks.py
modulated_conv2d). NHWC."""

import tensorflow as tf

from tf_stylegan2.ops.conv2d_resample import conv2d_resample, up_fir_padding
from tf_stylegan2.ops.upfirdn2d import upfirdn2d


def modulated_conv2d(
    x,
    weight,
    styles,
    noise=None,
    up=1,
    down=1,
    padding=0,
    resample_filter=None,
    demodulate=True,
    fused_modconv=True,
):
    """ADA-PT `modulated_conv2d` in NHWC.

    Args:
        x: [N, H, W, I] input.
        weight: [kh, kw, I, O] shared weight (raw; demodulation cancels its scale).
        styles: [N, I] per-sample modulation.
        noise: None or a tensor broadcastable to the output [N, H', W', O] (already x strength).
        up, down, padding, resample_filter: as `conv2d_resample`.
        demodulate: divide each output channel by the norm of its modulated weight.
        fused_modconv: True = the conv with per-sample modulated weights (a batched matmul, or a
            grouped conv with one group per sample for large inputs); False = scale inputs,
            shared-weight conv, scale outputs. Equal up to rounding.
    Precision: for half-precision x the weights, styles and demodulation coefficients are
    computed in float32 and cast to x's dtype where they meet x, as ADA-PT does for float16 x;
    with demodulation the weight is first divided by its per-output-channel max-abs and the
    styles by their per-sample max-abs (ADA-PT's overflow guard; demodulation cancels both).
    Returns:
        [N, H', W', O] in x's dtype.
    """
    x = tf.convert_to_tensor(x)
    kh, kw, cin, cout = (int(d) for d in weight.shape)
    half = x.dtype in (tf.float16, tf.bfloat16)
    calc = tf.float32 if half else x.dtype  # dtype of the weight / style / demodulation math
    weight = tf.cast(weight, calc)
    styles = tf.cast(styles, calc)
    if demodulate and half:
        weight = weight * (
            1.0
            / float((cin * kh * kw) ** 0.5)
            / tf.reduce_max(tf.abs(weight), axis=[0, 1, 2], keepdims=True)
        )  # [kh, kw, I, O] / max over (kh, kw, I)
        styles = styles / tf.reduce_max(tf.abs(styles), axis=1, keepdims=True)  # [N, I]

    # Demodulation coefficients: sum_{kh,kw,i} (w * s_i)^2 = (s^2) @ sum_{kh,kw} w^2, a matmul
    # instead of materializing the per-sample weights (same value up to float rounding).
    dcoefs = None
    if demodulate:
        wsq = tf.reduce_sum(tf.square(weight), axis=[0, 1])  # [I, O]
        dcoefs = tf.math.rsqrt(tf.matmul(tf.square(styles), wsq) + 1e-8)  # [N, O]

    n, h, wd = x.shape[0], int(x.shape[1]), int(x.shape[2])
    use_bmm = (
        down == 1
        and kh == kw
        and (up == 1 or (up == 2 and kh == 3))
        and (n or 1) * h * wd * kh * kw * cin <= _BMM_MAX_ELEMENTS
    )
    if fused_modconv and not use_bmm and n is None and up > 1:
        fused_modconv = False  # the grouped transposed conv needs a static batch; same math
    if not fused_modconv:
        x = x * tf.cast(styles, x.dtype)[:, None, None, :]
        x = conv2d_resample(
            x, tf.cast(weight, x.dtype), f=resample_filter, up=up, down=down, padding=padding
        )
        if dcoefs is not None:
            x = x * tf.cast(dcoefs, x.dtype)[:, None, None, :]
        if noise is not None:
            x = x + tf.cast(noise, x.dtype)
        return x

    scale = styles[:, :, None]  # [N, I, 1]
    if dcoefs is not None:
        scale = scale * dcoefs[:, None, :]  # [N, I, O]
    # Half-precision x: the factors are cast and multiplied in x's dtype (one rounding more than
    # ADA-PT's `w.to(x.dtype)`; reduced-precision blocks use the non-fused form by default).
    weight, scale = tf.cast(weight, x.dtype), tf.cast(scale, x.dtype)
    if use_bmm:
        y = _fused_bmm(x, weight, scale, up, padding, resample_filter)
    else:
        y = _fused_grouped(x, weight, scale, up, down, padding, resample_filter)
    if noise is not None:
        y = y + tf.cast(noise, y.dtype)
    return y


# Above this many im2col elements the fused form uses the grouped conv instead (memory).
_BMM_MAX_ELEMENTS = 64 * 1024 * 1024


def _fused_bmm(x, weight, scale, up, padding, f):
    """Fused form as one batched matmul with per-sample weights (fast on CPU).

    up == 1: im2col patches [N, H*W, k*k*I] @ per-sample weights [N, k*k*I, O].
    up == 2: the transposed conv as [N, H*W, I] @ [N, I, k*k*O] + col2im, then the FIR (as ADA-PT).
    """
    kh, kw, cin, cout = (int(d) for d in weight.shape)
    h, wd = int(x.shape[1]), int(x.shape[2])
    if up == 1:
        p = int(padding)
        xp = tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]]) if p else x
        ho, wo = h + 2 * p - kh + 1, wd + 2 * p - kw + 1
        cols = [xp[:, a : a + ho, b : b + wo, :] for a in range(kh) for b in range(kw)]
        patches = tf.concat(cols, axis=-1) if len(cols) > 1 else cols[0]  # [N, Ho, Wo, k*k*I]
        w = tf.reshape(weight, [1, kh * kw, cin, cout]) * scale[:, None]  # [N, kh*kw, I, O]
        y = tf.matmul(
            tf.reshape(patches, [-1, ho * wo, kh * kw * cin]),
            tf.reshape(w, [-1, kh * kw * cin, cout]),
        )
        return tf.reshape(y, [-1, ho, wo, cout])
    wt = tf.reshape(tf.transpose(weight, [2, 0, 1, 3]), [1, cin, kh * kw, cout])  # [1, I, kh*kw, O]
    w = wt * scale[:, :, None, :]  # [N, I, kh*kw, O]
    cols = tf.matmul(tf.reshape(x, [-1, h * wd, cin]), tf.reshape(w, [-1, cin, kh * kw * cout]))
    y = _col2im_stride2_k3(tf.reshape(cols, [-1, h, wd, kh, kw, cout]))  # [N, 2H+1, 2W+1, O]
    return upfirdn2d(y, f, padding=up_fir_padding(kw, f, up, padding), gain=up * up)


def _interleave(even, odd, axis):
    """even (length L+1) and odd (length L) along `axis` -> even[0], odd[0], even[1], ... (2L+1)."""
    rank = len(even.shape)
    odd = tf.pad(odd, [[0, 1] if d == axis else [0, 0] for d in range(rank)])
    y = tf.stack([even, odd], axis=axis + 1)
    shape = [-1 if v is None else int(v) for v in even.shape]
    shape[axis] = 2 * shape[axis]
    y = tf.reshape(y, shape)
    size = [-1] * rank
    size[axis] = shape[axis] - 1
    return tf.slice(y, [0] * rank, size)


def _col2im_stride2_k3(cols):
    """Overlap-add of per-pixel 3x3 output patches at stride 2.

    cols [N, H, W, 3, 3, O] -> [N, 2H+1, 2W+1, O].

    Output row 2m gets tap 0 of input row m and tap 2 of row m-1; row 2m+1 gets tap 1 of row m.
    """
    pad_after = [[0, 0], [0, 1], [0, 0], [0, 0], [0, 0]]
    pad_before = [[0, 0], [1, 0], [0, 0], [0, 0], [0, 0]]
    even = tf.pad(cols[:, :, :, 0], pad_after) + tf.pad(cols[:, :, :, 2], pad_before)
    y = _interleave(even, cols[:, :, :, 1], axis=1)  # [N, 2H+1, W, 3, O]
    even = tf.pad(y[:, :, :, 0], [[0, 0], [0, 0], [0, 1], [0, 0]]) + tf.pad(
        y[:, :, :, 2], [[0, 0], [0, 0], [1, 0], [0, 0]]
    )
    return _interleave(even, y[:, :, :, 1], axis=2)


def _fused_grouped(x, weight, scale, up, down, padding, f):
    """Fused form as a grouped conv: [1, H, W, N*I] with kernel [kh, kw, I, N*O]."""
    kh, kw, cin, cout = (int(d) for d in weight.shape)
    n, h, wd = x.shape[0], int(x.shape[1]), int(x.shape[2])
    w = weight[:, :, :, None, :] * tf.transpose(scale, [1, 0, 2])[None, None]  # [kh, kw, I, N, O]
    xg = tf.reshape(tf.transpose(x, [1, 2, 0, 3]), [1, h, wd, -1])  # [1, H, W, N*I]
    wg = tf.reshape(w, [kh, kw, cin, -1])  # [kh, kw, I, N*O]
    groups = 1  # tf.nn.conv2d infers the groups from the channel counts; only up needs it
    if n is not None:
        xg = tf.reshape(xg, [1, h, wd, n * cin])
        wg = tf.reshape(wg, [kh, kw, cin, n * cout])
        groups = int(n)
    y = conv2d_resample(xg, wg, f=f, up=up, down=down, padding=padding, groups=groups)
    ho, wo = int(y.shape[1]), int(y.shape[2])
    return tf.transpose(tf.reshape(y, [ho, wo, -1, cout]), [2, 0, 1, 3])  # [N, H', W', O]
