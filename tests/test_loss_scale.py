"""float16 training's dynamic loss scaling (Keras LossScaleOptimizer's schedule in our loop): the
scale starts at 2**15, a finite step applies the unscaled gradients and counts toward doubling
after 2000, a non-finite step is skipped (weights untouched) and halves the scale; the scale is
checkpointed. Other precisions have no loss scale; a mixed-precision trainer hands snapshots float32
copies of its networks."""

import numpy as np
import tensorflow as tf

from training import config as config_lib


def _trainer(dtype):
    from training.trainer import Trainer

    def tiny(name, res, channels, c_dim):
        kw = dict(channel_base=64, channel_max=8, num_fp16_res=4, conv_clamp=256)
        G = dict(
            z_dim=8,
            c_dim=c_dim,
            w_dim=8,
            img_resolution=res,
            img_channels=channels,
            mapping_kwargs=dict(num_layers=2),
            synthesis_kwargs=kw,
        )
        return G, dict(c_dim=c_dim, img_resolution=res, img_channels=channels, **kw)

    cfg = config_lib.make_config(
        "config-f",
        data="",
        outdir="",
        resolution=16,
        channels=3,
        network_kwargs=tiny,
        batch=8,
        batch_gpu=4,
        dtype=dtype,
    )
    return Trainer(cfg, tf.distribute.get_strategy(), log=lambda m: None)


def test_float16_loss_scale_schedule_and_skip(tmp_path):
    t = _trainer("mixed_float16")
    assert [b.compute_dtype for b in t.G.synthesis.blocks] == ["float32", "float16", "float16"]
    scale, good = t.loss_scale["G"]
    assert float(scale.numpy()) == 2.0**15 and int(good.numpy()) == 0
    reals = tf.constant(np.random.RandomState(0).randint(0, 256, [8, 16, 16, 3]), tf.uint8)
    labels = tf.zeros([8, 0])
    before = [v.numpy() for v in t.G.trainable_variables]
    applied, stats = t.run_phase("Gmain", reals, labels)
    assert applied and np.isfinite(stats["Loss/G/loss"])
    assert float(scale.numpy()) == 2.0**15 and int(good.numpy()) == 1
    assert any(np.any(b != v.numpy()) for b, v in zip(before, t.G.trainable_variables))

    scale.assign(3e38)  # loss x scale overflows float32: the step must be skipped
    before = [v.numpy() for v in t.G.trainable_variables]
    applied, _ = t.run_phase("Gmain", reals, labels)
    assert not applied
    assert float(scale.numpy()) == np.float32(3e38) / 2 and int(good.numpy()) == 0
    for b, v in zip(before, t.G.trainable_variables):
        np.testing.assert_array_equal(b, v.numpy())

    scale.assign(2.0**10)
    good.assign(1999)  # the 2000th finite step in a row doubles the scale
    assert t.run_phase("Gmain", reals, labels)[0]
    assert float(scale.numpy()) == 2.0**11 and int(good.numpy()) == 0
    names = {name for name, _ in tf.train.list_variables(t.checkpoint().save(str(tmp_path / "ck")))}
    assert any(n.startswith("loss_scale_G/") for n in names), sorted(names)[:20]


def test_no_loss_scale_outside_float16_and_float32_copies_for_snapshots():
    t = _trainer("float32")
    assert t.loss_scale is None and t.inference_nets()["G"] is t.G  # no copies needed
    t = _trainer("mixed_bfloat16")
    assert t.loss_scale is None
    first = t.inference_nets()
    assert first["G_ema"].dtype_policy.name == "float32" and first["G_ema"] is not t.G_ema
    weight = t.G_ema.synthesis.b16.conv1.weight
    weight.assign(weight + 1.0)  # training moves on: the next snapshot sees it
    again = t.inference_nets()
    assert again["G_ema"] is first["G_ema"]  # built once, refreshed
    for a, b in zip(t.G_ema.weights + t.D.weights, again["G_ema"].weights + again["D"].weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
