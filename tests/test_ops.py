"""tf_stylegan2.ops against naive NumPy references, hand cases and second-order gradients."""

import numpy as np
import pytest
import tensorflow as tf

from tf_stylegan2 import ops

F4 = ops.setup_filter([1, 3, 3, 1])
RNG = np.random.default_rng(0)


def randn(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


# ---------------------------------------------------------------- NumPy references (NHWC)
def np_correlate(x, w, stride=1):
    """VALID cross-correlation. x [N,H,W,I], w [kh,kw,I,O]."""
    kh, kw = w.shape[:2]
    ho = (x.shape[1] - kh) // stride + 1
    wo = (x.shape[2] - kw) // stride + 1
    y = np.zeros([x.shape[0], ho, wo, w.shape[3]], np.float64)
    for a in range(kh):
        for b in range(kw):
            patch = x[
                :, a : a + stride * (ho - 1) + 1 : stride, b : b + stride * (wo - 1) + 1 : stride, :
            ]
            y += np.einsum("nhwi,io->nhwo", patch, w[a, b])
    return y


def np_upfirdn2d(x, f, up=1, down=1, pad=(0, 0), gain=1.0):
    """upfirdn2d by its definition (ADA-PT upfirdn2d.py _upfirdn2d_ref): zero insertion, pad/crop,
    true convolution, keep every down-th."""
    n, h, w, c = x.shape
    u = np.zeros([n, h * up, w * up, c], np.float64)
    u[:, ::up, ::up, :] = x
    p0, p1 = pad
    u = np.pad(u, [(0, 0), (max(p0, 0), max(p1, 0)), (max(p0, 0), max(p1, 0)), (0, 0)])
    u = u[:, max(-p0, 0) : u.shape[1] - max(-p1, 0), max(-p0, 0) : u.shape[2] - max(-p1, 0), :]
    k = np.asarray(f, np.float64)[::-1, ::-1] * gain  # true convolution = correlation with the flip
    kern = np.zeros(k.shape + (c, c))
    for i in range(c):
        kern[:, :, i, i] = k
    return np_correlate(u, kern)[:, ::down, ::down, :]


def zero_insert(x, up=2):
    n, h, w, c = x.shape
    u = np.zeros([n, h * up, w * up, c], np.float64)
    u[:, ::up, ::up, :] = x
    return u


# ---------------------------------------------------------------- upfirdn2d
def test_setup_filter_is_normalized_outer_product():
    np.testing.assert_allclose(F4, np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0)
    assert F4[1, 1] == 0.140625 and F4[0, 0] == 1 / 64


def test_impulse_through_filter_gives_normalized_outer_product():
    x = np.zeros([1, 7, 7, 1], np.float32)
    x[0, 3, 3, 0] = 1
    y = ops.upfirdn2d(x, F4, padding=[2, 1, 2, 1]).numpy()[0, :, :, 0]
    assert y.shape == (7, 7)
    np.testing.assert_allclose(y[2:6, 2:6], F4[::-1, ::-1], atol=1e-7)
    assert abs(y.sum() - 1) < 1e-6


@pytest.mark.parametrize(
    "up,down,pad",
    [
        (1, 1, (2, 1)),
        (2, 1, (2, 1)),
        (1, 2, (1, 1)),
        (2, 2, (1, 2)),
        (1, 1, (-1, 2)),
        (3, 1, (0, 0)),
        (1, 1, (0, 0)),
    ],
)
def test_upfirdn2d_matches_numpy(up, down, pad):
    x = randn(2, 8, 8, 3)
    f = np.outer([1, 2, 3, 4], [1, 3, 3, 1]).astype(np.float32)  # asymmetric: orientation matters
    f /= f.sum()
    ref = np_upfirdn2d(x, f, up=up, down=down, pad=pad, gain=1.5)
    out = ops.upfirdn2d(
        x, f, up=up, down=down, padding=[pad[0], pad[1], pad[0], pad[1]], gain=1.5
    ).numpy()
    assert out.shape == ref.shape
    assert out.shape[1] == (8 * up + pad[0] + pad[1] - 4) // down + 1
    np.testing.assert_allclose(out, ref, atol=1e-5)


def test_upsample_downsample_shapes_and_constant():
    x = np.full([1, 8, 8, 2], 3.0, np.float32)
    up = ops.upsample2d(x, F4).numpy()
    assert up.shape == (1, 16, 16, 2)
    np.testing.assert_allclose(up[:, 2:-2, 2:-2], 3.0, atol=1e-5)  # gain 4 keeps constants
    np.testing.assert_allclose(up, np_upfirdn2d(x, F4, up=2, pad=(2, 1), gain=4), atol=1e-5)
    down = ops.downsample2d(x, F4).numpy()
    assert down.shape == (1, 4, 4, 2)
    np.testing.assert_allclose(down[:, 1:-1, 1:-1], 3.0, atol=1e-5)
    np.testing.assert_allclose(down, np_upfirdn2d(x, F4, down=2, pad=(1, 1)), atol=1e-5)
    np.testing.assert_allclose(
        ops.filter2d(x, F4).numpy(), np_upfirdn2d(x, F4, pad=(2, 1)), atol=1e-5
    )


# ---------------------------------------------------------------- resampling convs (ADA-PT
# torch_utils/ops/conv2d_resample.py)
def test_up_conv_is_the_fused_definition_not_upsample_then_same():
    x, w = randn(2, 5, 5, 3), randn(3, 3, 3, 4)
    out = ops.conv2d_resample(x, w, f=F4, up=2, padding=1).numpy()
    # ADA-PT up layers are true convolutions: correlate with the flipped weight.
    ref = np_correlate(np_upfirdn2d(x, F4, up=2, pad=(3, 2), gain=4), w[::-1, ::-1])
    assert out.shape == (2, 10, 10, 4)
    np.testing.assert_allclose(out, ref, atol=1e-4)
    naive = np_correlate(
        np.pad(np_upfirdn2d(x, F4, up=2, pad=(2, 1), gain=4), [(0, 0), (1, 1), (1, 1), (0, 0)]),
        w[::-1, ::-1],
    )
    np.testing.assert_allclose(
        out[:, 2:-2, 2:-2], naive[:, 2:-2, 2:-2], atol=1e-4
    )  # interior agrees
    assert np.abs(out[:, 0] - naive[:, 0]).max() > 1e-3  # borders differ


def test_down_conv_is_the_fused_definition():
    x, w = randn(2, 8, 8, 3), randn(3, 3, 3, 4)
    out = ops.conv2d_resample(x, w, f=F4, down=2, padding=1).numpy()
    ref = np_correlate(np_upfirdn2d(x, F4, pad=(2, 2)), w, stride=2)
    assert out.shape == (2, 4, 4, 4)
    np.testing.assert_allclose(out, ref, atol=1e-4)


def test_1x1_resampling_convs():
    x, w = randn(2, 8, 8, 3), randn(1, 1, 3, 4)
    down = ops.conv2d_resample(x, w, f=F4, down=2).numpy()
    np.testing.assert_allclose(
        down, np_correlate(np_upfirdn2d(x, F4, down=2, pad=(1, 1)), w), atol=1e-4
    )
    up = ops.conv2d_resample(x, w, f=F4, up=2).numpy()
    np.testing.assert_allclose(
        up, np_upfirdn2d(np_correlate(x, w), F4, up=2, pad=(2, 1), gain=4), atol=1e-4
    )


def test_plain_conv_same_padding():
    x, w = randn(2, 6, 6, 3), randn(3, 3, 3, 2)
    out = ops.conv2d_resample(x, w, padding=1).numpy()
    np.testing.assert_allclose(
        out, np_correlate(np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)]), w), atol=1e-4
    )


# ---------------------------------------------------------------- bias_act, mbstd, normalization
def test_bias_act():
    x, b = randn(4, 5), randn(5)
    y = ops.bias_act(x, b, act="lrelu").numpy()
    t = x + b
    np.testing.assert_allclose(y, np.where(t > 0, t, 0.2 * t) * np.sqrt(2), rtol=1e-6)
    np.testing.assert_allclose(ops.bias_act(x, b).numpy(), t, rtol=1e-6)
    y = ops.bias_act(x * 100, b, act="lrelu", gain=2.0, clamp=3.0).numpy()
    assert y.max() == pytest.approx(3.0) and y.min() == pytest.approx(-3.0)


def test_minibatch_std_uses_strided_groups():
    x = randn(8, 4, 4, 6)
    y = ops.minibatch_std(x, group_size=4, num_channels=2).numpy()
    assert y.shape == (8, 4, 4, 8)
    np.testing.assert_array_equal(y[..., :6], x)
    for m in range(2):  # group m = samples {m, m+2, m+4, m+6}
        g = x[m::2].astype(np.float64)
        for f in range(2):
            part = g[..., f * 3 : (f + 1) * 3]
            std = np.sqrt(part.var(axis=0) + 1e-8).mean()
            np.testing.assert_allclose(y[m::2, :, :, 6 + f], std, rtol=1e-5)
    whole = ops.minibatch_std(x, group_size=None).numpy()[..., 6]
    np.testing.assert_allclose(
        whole, np.sqrt(x.astype(np.float64).var(axis=0) + 1e-8).mean(), rtol=1e-5
    )


def test_normalize_2nd_moment():
    x = randn(3, 7)
    y = ops.normalize_2nd_moment(x).numpy()
    np.testing.assert_allclose(np.mean(y**2, axis=1), 1.0, rtol=1e-5)


# ---------------------------------------------------------------- modulated conv
def np_modconv_ref(x, w, s, demodulate, up):
    wm = w[None] * s[:, None, None, :, None]
    if demodulate:
        wm = wm / np.sqrt((wm**2).sum(axis=(1, 2, 3), keepdims=True) + 1e-8)
    outs = []
    for n in range(x.shape[0]):
        if up == 1:
            p = w.shape[0] // 2
            outs.append(np_correlate(np.pad(x[n : n + 1], [(0, 0), (p, p), (p, p), (0, 0)]), wm[n]))
        else:
            outs.append(
                np_correlate(
                    np_upfirdn2d(x[n : n + 1], F4, up=2, pad=(3, 2), gain=4), wm[n][::-1, ::-1]
                )
            )
    return np.concatenate(outs)


@pytest.mark.parametrize("up", [1, 2])
@pytest.mark.parametrize("demodulate", [True, False])
def test_modulated_conv_fused_equals_nonfused_and_reference(up, demodulate):
    x, w, s = randn(3, 6, 6, 4), randn(3, 3, 4, 5), randn(3, 4)
    noise = randn(3, 6 * up, 6 * up, 1)
    kw = dict(up=up, padding=1, resample_filter=F4, demodulate=demodulate)
    fused = ops.modulated_conv2d(x, w, s, noise=noise, fused_modconv=True, **kw).numpy()
    unfused = ops.modulated_conv2d(x, w, s, noise=noise, fused_modconv=False, **kw).numpy()
    np.testing.assert_allclose(fused, unfused, atol=1e-5)
    np.testing.assert_allclose(fused, np_modconv_ref(x, w, s, demodulate, up) + noise, atol=1e-4)


@pytest.mark.parametrize("up", [1, 2])
def test_modulated_conv_grouped_form_equals_batched_matmul_form(up, monkeypatch):
    import importlib

    mc = importlib.import_module("tf_stylegan2.ops.modulated_conv2d")

    x, w, s = randn(3, 6, 6, 4), randn(3, 3, 4, 5), randn(3, 4)
    kw = dict(up=up, padding=1, resample_filter=F4)
    bmm = ops.modulated_conv2d(x, w, s, **kw).numpy()
    monkeypatch.setattr(mc, "_BMM_MAX_ELEMENTS", 0)  # large inputs use the grouped conv
    grouped = ops.modulated_conv2d(x, w, s, **kw).numpy()
    np.testing.assert_allclose(grouped, bmm, atol=1e-5)
    np.testing.assert_allclose(grouped, np_modconv_ref(x, w, s, True, up), atol=1e-4)


def test_modulated_conv_dynamic_batch_in_tf_function():
    x, w, s = randn(2, 4, 4, 3), randn(3, 3, 3, 2), randn(2, 3)
    spec = [tf.TensorSpec([None, 4, 4, 3]), tf.TensorSpec([None, 3])]
    for up in (1, 2):
        fn = tf.function(
            lambda x, s: ops.modulated_conv2d(x, w, s, up=up, padding=1, resample_filter=F4),
            input_signature=spec,
        )
        np.testing.assert_allclose(
            fn(x, s).numpy(),
            ops.modulated_conv2d(x, w, s, up=up, padding=1, resample_filter=F4).numpy(),
            atol=1e-5,
        )


# ---------------------------------------------------------------- second-order gradients
def _second_order(fn, x, params):
    """d/d(params, x) of |d sum(fn)^2 / dx|^2, as R1 needs."""
    with tf.GradientTape() as outer:
        outer.watch([x] + params)
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = fn(x, *params)
            r = tf.random.stateless_normal(tf.shape(y), seed=[1, 2])
            loss = tf.reduce_sum(tf.square(y)) + tf.reduce_sum(tf.square(y * r))
        g = inner.gradient(loss, x)
        pen = tf.reduce_sum(tf.square(g))
    return outer.gradient(pen, [x] + params)


OPS_2ND = {
    "upfirdn2d_up": (lambda x: ops.upfirdn2d(x, F4, up=2, padding=[2, 1, 2, 1], gain=4), []),
    "upfirdn2d_down": (lambda x: ops.downsample2d(x, F4), []),
    "conv_up": (lambda x, w: ops.conv2d_resample(x, w, f=F4, up=2, padding=1), [randn(3, 3, 3, 4)]),
    "conv_down": (
        lambda x, w: ops.conv2d_resample(x, w, f=F4, down=2, padding=1),
        [randn(3, 3, 3, 4)],
    ),
    "conv_1x1_down": (lambda x, w: ops.conv2d_resample(x, w, f=F4, down=2), [randn(1, 1, 3, 4)]),
    "conv_1x1_up": (lambda x, w: ops.conv2d_resample(x, w, f=F4, up=2), [randn(1, 1, 3, 4)]),
    "bias_act": (lambda x, b: ops.bias_act(x, b, act="lrelu", clamp=2.0), [randn(3)]),
    "mbstd": (lambda x: ops.minibatch_std(x, 2), []),
    "normalize": (lambda x: ops.normalize_2nd_moment(tf.reshape(x, [4, -1])), []),
    "modconv_fused": (
        lambda x, w, s: ops.modulated_conv2d(x, w, s, padding=1),
        [randn(3, 3, 3, 4), randn(4, 3)],
    ),
    "modconv_unfused": (
        lambda x, w, s: ops.modulated_conv2d(x, w, s, padding=1, fused_modconv=False),
        [randn(3, 3, 3, 4), randn(4, 3)],
    ),
    "modconv_up_fused": (
        lambda x, w, s: ops.modulated_conv2d(x, w, s, up=2, padding=1, resample_filter=F4),
        [randn(3, 3, 3, 4), randn(4, 3)],
    ),
    "modconv_up_unfused": (
        lambda x, w, s: ops.modulated_conv2d(
            x, w, s, up=2, padding=1, resample_filter=F4, fused_modconv=False
        ),
        [randn(3, 3, 3, 4), randn(4, 3)],
    ),
}


@pytest.mark.parametrize("name", sorted(OPS_2ND))
def test_second_order_gradients_eager_and_function(name):
    fn, params = OPS_2ND[name]
    x = tf.constant(randn(4, 8, 8, 3))
    params = [tf.constant(p) for p in params]
    eager = _second_order(fn, x, params)
    graph = tf.function(_second_order, reduce_retracing=True)(fn, x, params)
    for a, b in zip(eager, graph):
        assert a is not None and b is not None
        a, b = a.numpy(), b.numpy()
        assert np.all(np.isfinite(a)) and np.abs(a).max() > 0
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3 * np.abs(a).max())


@pytest.mark.parametrize("up", [1, 2])
def test_second_order_gradients_grouped_fused_form(up, monkeypatch):
    import importlib

    monkeypatch.setattr(
        importlib.import_module("tf_stylegan2.ops.modulated_conv2d"), "_BMM_MAX_ELEMENTS", 0
    )

    def fn(x, w, s):
        return ops.modulated_conv2d(x, w, s, up=up, padding=1, resample_filter=F4)

    x, params = (
        tf.constant(randn(4, 8, 8, 3)),
        [tf.constant(randn(3, 3, 3, 4)), tf.constant(randn(4, 3))],
    )
    eager = _second_order(fn, x, params)
    graph = tf.function(_second_order)(fn, x, params)
    for a, b in zip(eager, graph):
        assert np.all(np.isfinite(a.numpy())) and np.abs(a.numpy()).max() > 0
        np.testing.assert_allclose(
            a.numpy(), b.numpy(), rtol=1e-3, atol=1e-3 * np.abs(a.numpy()).max()
        )


def test_four_d_zero_insertion_equals_the_default():
    """ops.four_d_ops() (used while exporting to LiteRT, which has no 6-D pad) traces upsampling
    as concat + depth_to_space: the same values and gradients as the default 6-D pad."""
    from tf_stylegan2.ops import four_d_ops, setup_filter, upfirdn2d

    x = tf.random.stateless_normal([2, 5, 5, 3], [3, 4])
    f = setup_filter([1, 3, 3, 1])

    def run():
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = upfirdn2d(x, f, up=2, padding=[2, 1, 2, 1], gain=4)
            loss = tf.reduce_sum(y * y)
        return y.numpy(), tape.gradient(loss, x).numpy()

    y0, g0 = run()
    with four_d_ops():
        y1, g1 = run()
    np.testing.assert_allclose(y1, y0, rtol=0, atol=1e-6)
    np.testing.assert_allclose(g1, g0, rtol=1e-6, atol=1e-5)
    ops_of = lambda: {  # noqa: E731
        op.type
        for op in tf.function(lambda t: upfirdn2d(t, f, up=2))
        .get_concrete_function(tf.TensorSpec([1, 4, 4, 3]))
        .graph.get_operations()
    }
    assert "DepthToSpace" not in ops_of()
    with four_d_ops():
        assert "DepthToSpace" in ops_of()
