"""The loop's pieces against the official formulas: the phase schedule and gains, the per-chunk
random draws and style-mixing cutoffs, the EMA beta, and one Gmain update by hand (Adam)."""

import numpy as np
import pytest
import tensorflow as tf

from training import config as config_lib
from training import loss as loss_lib
from training import phases, sampling


def _cfg(preset="config-f", **kw):
    def tiny(name, res, channels, c_dim):
        return (
            dict(
                z_dim=8,
                c_dim=c_dim,
                w_dim=8,
                img_resolution=res,
                img_channels=channels,
                mapping_kwargs=dict(num_layers=2),
                synthesis_kwargs=dict(channel_base=64, channel_max=8),
            ),
            dict(
                c_dim=c_dim,
                img_resolution=res,
                img_channels=channels,
                channel_base=64,
                channel_max=8,
            ),
        )

    return config_lib.make_config(
        preset, data="", outdir="", resolution=8, channels=3, network_kwargs=tiny, **kw
    )


def test_phase_schedule_over_one_lazy_cycle():
    """16 minibatches of config-f: Gmain and Dmain every time, Greg every 4th with gain 4,
    Dreg every 16th with gain 16 (ADA-PT training_loop.py)."""
    table = phases.make_phases(_cfg())
    runs = {p.name: [] for p in table}
    for batch_idx in range(16):
        for p in phases.due(table, batch_idx):
            runs[p.name].append(batch_idx)
    assert runs == {
        "Gmain": list(range(16)),
        "Greg": [0, 4, 8, 12],
        "Dmain": list(range(16)),
        "Dreg": [0],
    }
    assert {p.name: (p.net, p.gain, p.samples) for p in table} == {
        "Gmain": ("G", 1.0, 32),
        "Greg": ("G", 4.0, 16),
        "Dmain": ("D", 1.0, 32),
        "Dreg": ("D", 16.0, 32),
    }


def test_chunk_draws_depend_on_the_chunk_only():
    key = tf.constant([3, 4], tf.int32)
    names = ["b4.conv1", "b8.conv0"]
    a = sampling.chunk_draws(key, 3, 4, 8, names, 6, 0.9)
    np.testing.assert_array_equal(a["index"].numpy(), [12, 13, 14, 15])
    whole = sampling.per_sample_normal(sampling.fold(key, 0), tf.range(16), [8]).numpy()
    np.testing.assert_array_equal(a["z"].numpy(), whole[12:16])  # same rows whatever the split
    assert a["noise"]["b8.conv0"].shape == (4, 8, 8, 1)
    assert len(set(a["cutoff"].numpy().tolist())) == 1  # one cutoff per chunk
    assert sampling.chunk_draws(key, 3, 4, 8, names, 6, 0.0)["cutoff"] is None


def test_mixing_cutoff_distribution():
    """With probability prob a cutoff uniform in [1, num_ws), else num_ws (no mixing)."""
    key = tf.constant([1, 2], tf.int32)
    cuts = np.array([int(sampling.mixing_cutoff(key, k, 6, 0.9)) for k in range(2000)])
    assert set(cuts) == {1, 2, 3, 4, 5, 6}
    assert abs(np.mean(cuts == 6) - 0.1) < 0.03
    counts = np.bincount(cuts[cuts < 6], minlength=6)[1:]
    assert counts.min() > 0.8 * counts.mean() and counts.max() < 1.2 * counts.mean()
    ws, ws2 = tf.zeros([1, 6, 1]), tf.ones([1, 6, 1])
    mixed = loss_lib.mix_styles(ws, ws2, tf.constant([2])).numpy()[0, :, 0]
    np.testing.assert_array_equal(mixed, [0, 0, 1, 1, 1, 1])


def test_ema_beta_with_and_without_rampup():
    cfg = _cfg("config-f")  # no ramp-up: half-life ema_kimg = 10 kimg
    assert config_lib.ema_beta(cfg, 0) == pytest.approx(0.5 ** (32 / 10000))
    demo = _cfg("demo")  # ema_kimg 2, ramp-up 0.05, batch 16
    assert config_lib.ema_beta(demo, 0) == 0.0
    assert config_lib.ema_beta(demo, 1000) == pytest.approx(0.5 ** (16 / 50))
    assert config_lib.ema_beta(demo, 10**6) == pytest.approx(0.5 ** (16 / 2000))
    assert config_lib.ema_beta(demo, 1000, rampup=0.0) == pytest.approx(0.5 ** (16 / 2000))


def test_one_gmain_update_by_hand():
    """float64, 1 replica, batch 8 = 2 rounds of 4: the applied update equals Adam (TF1/Keras
    form, lr and betas rescaled by 4/5) on the sum of the two rounds' gradients of
    softplus(-D(G(z))) / 8, and w_avg takes one lerp per round."""
    from training.trainer import Trainer

    cfg = _cfg("config-f", batch=8, batch_gpu=4, dtype="float64")
    t = Trainer(cfg, tf.distribute.get_strategy(), log=lambda m: None)
    assert t.rounds == 2
    G, D = t.G, t.D
    key = tf.random.Generator.from_state(t.rng.state.numpy(), t.rng.algorithm).uniform_full_int(
        [2], dtype=tf.int32
    )
    before = [v.numpy() for v in G.trainable_variables]
    w_avg = G.mapping.w_avg.numpy()
    grads = 0
    for chunk in (0, 1):
        d = sampling.chunk_draws(
            key, chunk, 4, G.z_dim, t.layer_names, G.num_ws, cfg.loss.style_mixing_prob, tf.float64
        )
        with tf.GradientTape() as tape:
            value, _, w = loss_lib.G_main_loss(
                G, D, d["z"], None, 8, d["z_mix"], d["cutoff"], t.synthesis_kwargs(d["noise"])
            )
        grads = grads + np.concatenate(
            [g.numpy().ravel() for g in tape.gradient(value, G.trainable_variables)]
        )
        w_avg = loss_lib.update_w_avg(w_avg, np.mean(w.numpy(), 0), 0.995)
    reals = tf.zeros([8, 8, 8, 3], tf.uint8)
    applied, _ = t.run_phase("Gmain", reals, tf.zeros([8, 0]))
    assert applied
    lr, beta1, beta2 = cfg.opt.lr * 0.8, 0.0, 0.99**0.8
    m, v = (1 - beta1) * grads, (1 - beta2) * grads**2
    alpha = lr * np.sqrt(1 - beta2) / (1 - beta1)
    expected = np.concatenate([b.ravel() for b in before]) - alpha * m / (np.sqrt(v) + 1e-8)
    after = np.concatenate([v.numpy().ravel() for v in G.trainable_variables])
    # Keras keeps Adam's hyper-parameters in float32: (1 - beta2) is off by ~4e-6 relative, and
    # the 1.6e-3 steps by 2.9e-9 (measured).
    assert np.max(np.abs(after - expected)) <= 1e-8
    assert np.max(np.abs(G.mapping.w_avg.numpy() - w_avg)) <= 1e-12
