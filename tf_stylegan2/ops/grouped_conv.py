"""Grouped 2-D convolution (stride 1, VALID) that works on every TensorFlow CPU kernel set.

The fused modulated convolution runs one group per sample. TensorFlow's CPU kernels without
oneDNN (`TF_ENABLE_ONEDNN_OPTS=0`, or CPUs where oneDNN is not used) compute a grouped *forward*
conv but not its gradients ("Gradients for grouped convolutions are not supported on CPU"), and
not a grouped transposed conv at all. So here the gradients are written with forward grouped
convs and an einsum, differentiable again (second order for R1 / path length), and the transposed
conv is a zero-insertion upsampling followed by a forward conv with the flipped kernel.
"""

import tensorflow as tf


def _flip_transpose(w, groups):
    """[kh, kw, I, G*O] -> [kh, kw, O, G*I]: the kernel of the adjoint conv (flipped, per group
    input and output channels swapped)."""
    kh, kw, cin, gout = (int(d) for d in w.shape)
    cout = gout // groups
    wt = tf.reshape(w[::-1, ::-1], [kh, kw, cin, groups, cout])
    return tf.reshape(tf.transpose(wt, [0, 1, 4, 3, 2]), [kh, kw, cout, groups * cin])


def _filter_grad(x, dy, kh, kw, groups):
    """d sum(dy * conv(x, w)) / dw for a grouped VALID stride-1 conv: [kh, kw, I, G*O]."""
    ho, wo = int(dy.shape[1]), int(dy.shape[2])
    cin = int(x.shape[3]) // groups
    cout = int(dy.shape[3]) // groups
    taps = [x[:, a : a + ho, b : b + wo, :] for a in range(kh) for b in range(kw)]
    taps = tf.reshape(tf.stack(taps, axis=1), [-1, kh * kw, ho * wo, groups, cin])  # [N,K,P,G,I]
    dyg = tf.reshape(dy, [-1, ho * wo, groups, cout])  # [N, P, G, O]
    dw = tf.einsum("nkpgi,npgo->kigo", taps, dyg)  # [K, I, G, O]
    return tf.reshape(dw, [kh, kw, cin, groups * cout])


@tf.custom_gradient
def _grouped_valid(x, w):
    groups = int(x.shape[3]) // int(w.shape[2])
    y = tf.nn.conv2d(x, w, 1, "VALID")  # the forward grouped conv exists on every CPU kernel set

    def grad(dy):
        kh, kw = int(w.shape[0]), int(w.shape[1])
        dx = grouped_conv2d(
            tf.pad(dy, [[0, 0], [kh - 1, kh - 1], [kw - 1, kw - 1], [0, 0]]),
            _flip_transpose(w, groups),
        )
        return dx, _filter_grad(x, dy, kh, kw, groups)

    return y, grad


def grouped_conv2d(x, w):
    """Correlation of x [N, H, W, G*I] with w [kh, kw, I, G*O], stride 1, VALID."""
    if int(x.shape[3]) == int(w.shape[2]):
        return tf.nn.conv2d(x, w, 1, "VALID")
    return _grouped_valid(x, w)


def grouped_conv2d_transpose(x, w, stride):
    """The adjoint of a stride-`stride` grouped correlation, as tf.nn.conv2d_transpose computes it
    (VALID, the weight not flipped): x [N, H, W, G*I], w [kh, kw, I, G*O] ->
    [N, (H-1)*stride + kh, (W-1)*stride + kw, G*O]. Written as zero insertion, padding by k-1 and a
    correlation with the spatially flipped kernel (a true convolution)."""
    kh, kw = int(w.shape[0]), int(w.shape[1])
    h, wd, c = int(x.shape[1]), int(x.shape[2]), int(x.shape[3])
    xu = tf.reshape(x, [-1, h, 1, wd, 1, c])
    xu = tf.pad(xu, [[0, 0], [0, 0], [0, stride - 1], [0, 0], [0, stride - 1], [0, 0]])
    xu = tf.reshape(xu, [-1, h * stride, wd * stride, c])
    xu = xu[:, : (h - 1) * stride + 1, : (wd - 1) * stride + 1]
    xu = tf.pad(xu, [[0, 0], [kh - 1, kh - 1], [kw - 1, kw - 1], [0, 0]])
    return grouped_conv2d(xu, w[::-1, ::-1])
