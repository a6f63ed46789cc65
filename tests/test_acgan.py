"""AC-GAN: D's auxiliary classifier head (--cond-mode acgan|both), the class terms of the losses
(softmax for one-hot, per-attribute sigmoid for multi-hot) and the settings' checks.

Distribution (1/2/4 replicas) and exact resume of the 'both' mode: tests/test_training_dist.py.
"""

import numpy as np
import pytest
import tensorflow as tf

from dataset_tool import records
from metrics.classifier import sample_accuracy
from tf_stylegan2.layers import DiscriminatorEpilogue
from tf_stylegan2.networks import Discriminator, presets
from training import conditioning
from training import loss as loss_lib

from harness import assert_layer_contract, tiny_generator


def _D(cond_mode, c_dim=4, seed=0):
    tf.keras.utils.set_random_seed(seed)
    _, D_kwargs = presets.network_kwargs("tiny", 16, 3, c_dim)
    return Discriminator(**D_kwargs, cond_mode=cond_mode)


def _inputs(n=4, c_dim=4):
    rnd = np.random.RandomState(1)
    img = tf.constant(rnd.uniform(-1, 1, [n, 16, 16, 3]).astype(np.float32))
    c = tf.one_hot(np.arange(n) % c_dim, c_dim)
    return img, c


def test_epilogue_class_head_contract(tmp_path):
    x = np.random.RandomState(0).randn(4, 4, 4, 8).astype(np.float32)
    assert_layer_contract(
        DiscriminatorEpilogue,
        dict(in_channels=8, cmap_dim=0, resolution=4, img_channels=3, num_classes=5),
        [x, None],
        dict(return_class_logits=True),
        tmp_path=tmp_path,
    )


@pytest.mark.parametrize("mode", ["acgan", "both"])
def test_class_head_shapes_variables_and_round_trip(mode):
    D = _D(mode)
    img, c = _inputs()
    logits, class_logits = D(img, c, return_class_logits=True)
    assert logits.shape == (4, 1) and class_logits.shape == (4, 4)
    np.testing.assert_array_equal(D(img, c).numpy(), logits.numpy())  # same logit either way
    paths = [v.path for v in D.trainable_weights]
    assert any(p.endswith("/b4/cls/weight") for p in paths)
    assert any("/mapping/" in p for p in paths) == (mode == "both")
    D2 = Discriminator.from_config(D.get_config())
    assert D2.cond_mode == mode
    D2.set_weights(D.get_weights())
    np.testing.assert_array_equal(D2(img, c, return_class_logits=True)[1], class_logits)


def test_acgan_logit_ignores_c_and_projection_has_no_head():
    D = _D("acgan")
    img, c = _inputs()
    np.testing.assert_array_equal(D(img, c).numpy(), D(img, tf.reverse(c, [0])).numpy())
    np.testing.assert_array_equal(D(img).numpy(), D(img, c).numpy())  # c is optional here
    P = _D("projection")
    assert not any("cls" in v.path for v in P.weights)
    with pytest.raises(ValueError, match="no auxiliary classifier"):
        P(img, c, return_class_logits=True)
    with pytest.raises(ValueError, match="cond_mode 'aux'"):
        _D("aux")


def test_class_loss_softmax_and_sigmoid_by_hand():
    logits = np.array([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]], np.float32)
    onehot = np.array([[0, 0, 1], [0, 1, 0]], np.float32)
    x = logits.astype(np.float64)
    log_softmax = x - np.log(np.exp(x).sum(1, keepdims=True))
    want = -(log_softmax * onehot).sum(1)  # float32 vs this float64: 1.3e-6 relative measured
    np.testing.assert_allclose(loss_lib.class_loss(logits, onehot), want, rtol=1e-5)
    multi = np.array([[1, 0, 1], [0, 0, 0]], np.float32)
    p = 1 / (1 + np.exp(-x))
    want = -(multi * np.log(p) + (1 - multi) * np.log(1 - p)).sum(1)
    np.testing.assert_allclose(loss_lib.class_loss(logits, multi, True), want, rtol=1e-5)
    np.testing.assert_array_equal(sample_accuracy(logits, onehot), [0, 1])
    np.testing.assert_allclose(sample_accuracy(logits, multi, True), [1, 2 / 3], rtol=1e-6)


@pytest.mark.parametrize("multi_hot", [False, True])
def test_losses_add_the_weighted_class_terms(multi_hot):
    G, D = tiny_generator(4, seed=3), _D("both")
    img, c = _inputs()
    z = tf.constant(np.random.RandomState(2).randn(4, G.z_dim).astype(np.float32))
    lam, denom = 0.7, 8.0
    base, _, _ = loss_lib.G_main_loss(G, D, z, c, denom)
    with_cls, stats, _ = loss_lib.G_main_loss(
        G, D, z, c, denom, acgan_weight=lam, multi_hot=multi_hot
    )
    fake = G.synthesis(G.mapping(z, c))
    ce_fake = loss_lib.class_loss(D(fake, c, return_class_logits=True)[1], c, multi_hot)
    np.testing.assert_allclose(stats["Loss/G/acgan"], ce_fake, rtol=1e-5)
    np.testing.assert_allclose(with_cls, base + lam * np.sum(ce_fake) / denom, rtol=1e-5)

    base_D, _ = loss_lib.D_main_loss(D, fake, c, img, c, denom)
    with_D, stats_D = loss_lib.D_main_loss(
        D, fake, c, img, c, denom, acgan_weight=lam, multi_hot=multi_hot
    )
    ce_real = loss_lib.class_loss(D(img, c, return_class_logits=True)[1], c, multi_hot)
    np.testing.assert_allclose(stats_D["Loss/D/acgan"], ce_real + ce_fake, rtol=1e-5)
    want = base_D + lam * (np.sum(ce_real) + np.sum(ce_fake)) / denom
    np.testing.assert_allclose(with_D, want, rtol=1e-5)
    assert stats_D["Loss/acgan/real_acc"].shape == (4,)


def test_class_head_learns_from_d_loss_only_through_the_class_terms():
    D = _D("acgan")
    img, c = _inputs()
    cls_vars = [v for v in D.trainable_variables if "/cls/" in v.path]
    for lam, nonzero in ((0.0, False), (1.0, True)):
        with tf.GradientTape() as tape:
            loss, _ = loss_lib.D_main_loss(D, img[::-1], c, img, c, 4.0, acgan_weight=lam)
        grads = tape.gradient(loss, cls_vars)
        assert all((g is not None and np.any(g.numpy() != 0)) == nonzero for g in grads), lam


def test_cond_settings():
    s = conditioning.cond_settings(True, 4, "acgan")
    assert s == dict(cond_mode="acgan", acgan_weight=1.0, multi_hot=False)
    s = conditioning.cond_settings(True, 4, "both", 0.5, multi_hot=True)
    assert s == dict(cond_mode="both", acgan_weight=0.5, multi_hot=True)
    assert conditioning.cond_settings(True, 4)["acgan_weight"] == 0.0
    assert conditioning.cond_settings(False, 0)["cond_mode"] == "projection"
    for args, message in [
        ((False, 0, "acgan"), "--cond-mode acgan needs conditional training"),
        ((True, 4, None, 1.0), "--acgan-weight needs --cond-mode acgan or both"),
        ((False, 0, None, 1.0), "--acgan-weight needs conditional training"),
        ((True, 4, "both", 0.0), "--acgan-weight 0.0 must be > 0"),
        ((True, 4, "aux"), "--cond-mode aux: choose one of projection, acgan, both"),
    ]:
        with pytest.raises(ValueError, match=message):
            conditioning.cond_settings(*args)


def test_is_multi_hot():
    assert not records.is_multi_hot(np.eye(3)[[0, 2, 1]])
    assert records.is_multi_hot(np.array([[1, 1, 0], [0, 0, 0]]))
    assert records.is_multi_hot(np.array([[0.5, 0.5]]))
    assert records.is_multi_hot(np.eye(3), manifest_multi_hot=True)  # the manifest wins


def test_class_head_and_its_adam_state_are_in_the_training_checkpoint(tmp_path):
    """Exact resume needs the head in the checkpoint: it is, with D's optimizer (the distributed
    iteration with the head is in tests/test_training_dist.py)."""
    from training import config as C
    from training import loop

    cfg = C.make_config(
        "tiny",
        data="",
        outdir="",
        resolution=16,
        channels=3,
        batch=8,
        c_dim=4,
        cond=True,
        cond_mode="acgan",
    )
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    first = loop.Trainer(cfg, strategy, log=lambda *a: None)
    first.D.b4.cls.weight.assign(tf.fill(first.D.b4.cls.weight.shape, 0.25))
    path = first.checkpoint().write(str(tmp_path / "ckpt"))
    again = loop.Trainer(cfg, strategy, log=lambda *a: None)
    assert np.all(again.D.b4.cls.weight.numpy() != 0.25)
    again.checkpoint().read(path).assert_existing_objects_matched()
    np.testing.assert_array_equal(again.D.b4.cls.weight.numpy(), 0.25)
