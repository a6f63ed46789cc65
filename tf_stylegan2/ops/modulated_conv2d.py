"""Modulated (style) convolution, fused and non-fused forms (spec 2.7). NHWC."""

import tensorflow as tf

from tf_stylegan2.ops.conv2d_resample import conv2d_resample


def modulated_conv2d(x, weight, styles, noise=None, up=1, down=1, padding=0, resample_filter=None,
                     demodulate=True, fused_modconv=True):
    """ADA-PT `modulated_conv2d` in NHWC (float32 only).

    Args:
        x: [N, H, W, I] input.
        weight: [kh, kw, I, O] shared weight (raw; demodulation cancels its scale).
        styles: [N, I] per-sample modulation.
        noise: None or a tensor broadcastable to the output [N, H', W', O] (already x strength).
        up, down, padding, resample_filter: as `conv2d_resample`.
        demodulate: divide each output channel by the norm of its modulated weight.
        fused_modconv: True = one grouped conv with per-sample weights (one group per sample);
            False = scale inputs, shared-weight conv, scale outputs. Equal up to rounding.
    Returns:
        [N, H', W', O].
    """
    x = tf.convert_to_tensor(x)
    kh, kw, cin, cout = (int(d) for d in weight.shape)
    weight = tf.cast(weight, x.dtype)
    styles = tf.cast(styles, x.dtype)

    dcoefs = None
    if demodulate or fused_modconv:
        w = weight[None] * styles[:, None, None, :, None]                  # [N, kh, kw, I, O]
    if demodulate:
        dcoefs = tf.math.rsqrt(tf.reduce_sum(tf.square(w), axis=[1, 2, 3]) + 1e-8)  # [N, O]

    if fused_modconv and x.shape[0] is None and up > 1:
        fused_modconv = False  # the grouped transposed conv needs a static batch; same math
    if not fused_modconv:
        x = x * styles[:, None, None, :]
        x = conv2d_resample(x, weight, f=resample_filter, up=up, down=down, padding=padding)
        if dcoefs is not None:
            x = x * dcoefs[:, None, None, :]
        if noise is not None:
            x = x + tf.cast(noise, x.dtype)
        return x

    if dcoefs is not None:
        w = w * dcoefs[:, None, None, None, :]
    h, wd = int(x.shape[1]), int(x.shape[2])
    # Batch as groups: [N, H, W, I] -> [1, H, W, N*I]; weights [kh, kw, I, N*O].
    xg = tf.reshape(tf.transpose(x, [1, 2, 0, 3]), [1, h, wd, -1])
    xg = tf.ensure_shape(xg, [1, h, wd, None])
    wg = tf.reshape(tf.transpose(w, [1, 2, 3, 0, 4]), [kh, kw, cin, -1])  # [kh, kw, I, N*O]
    groups = 1  # tf.nn.conv2d infers the groups from the channel counts; only up needs it
    static_n = x.shape[0]
    if static_n is not None:
        xg = tf.reshape(xg, [1, h, wd, static_n * cin])
        wg = tf.reshape(wg, [kh, kw, cin, static_n * cout])
        groups = int(static_n)
    y = conv2d_resample(xg, wg, f=resample_filter, up=up, down=down, padding=padding, groups=groups)
    ho, wo = int(y.shape[1]), int(y.shape[2])
    y = tf.transpose(tf.reshape(y, [ho, wo, -1, cout]), [2, 0, 1, 3])   # [N, H', W', O]
    if noise is not None:
        y = y + tf.cast(noise, y.dtype)
    return y

