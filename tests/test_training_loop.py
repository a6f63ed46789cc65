"""The loop in process (one replica): non-finite gradients are skipped, counted and finally stop
training."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from training import config as config_lib
from training import loop


def test_non_finite_gradients_skip_count_and_stop():
    cfg = config_lib.make_config("tiny", data="", outdir="", resolution=16, channels=3, batch=8)
    cfg = dataclasses.replace(
        cfg, max_bad_steps=3, loss=dataclasses.replace(cfg.loss, pl_weight=0.0)
    )
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    trainer = loop.Trainer(cfg, strategy, log=lambda *a: None)
    assert [p.name for p in trainer.phases] == [
        "Gmain",
        "Dmain",
        "Dreg",
    ]  # no PL phase when pl_weight 0
    reals = tf.constant(np.random.RandomState(0).randint(0, 256, [8, 16, 16, 3]).astype(np.uint8))
    labels = tf.zeros([8, 0])
    applied, stats = trainer.run_phase("Dmain", reals, labels)
    assert applied and np.isfinite(stats["Loss/D/loss"])
    assert int(trainer.opt["D"].iterations.numpy()) == 1

    # A NaN in D's output layer: every D and G gradient becomes NaN -> steps skipped.
    out_bias = [v for v in trainer.D.trainable_variables if v.path.endswith("b4/out/bias")][0]
    out_bias.assign(tf.fill(out_bias.shape, np.nan))
    before = [v.numpy().copy() for v in trainer.D.trainable_variables]
    w_avg = trainer.G.mapping.w_avg.numpy().copy()
    applied, _ = trainer.run_phase("Dmain", reals, labels)
    assert not applied
    assert int(trainer.opt["D"].iterations.numpy()) == 1
    for b, v in zip(before, trainer.D.trainable_variables):
        np.testing.assert_array_equal(b, v.numpy())
    assert np.all(np.isfinite(trainer.G.mapping.w_avg.numpy())) and not np.array_equal(
        w_avg, trainer.G.mapping.w_avg.numpy()
    )  # w_avg still tracked (finite w)

    messages = []
    trainer.log = messages.append
    with pytest.raises(
        loop.NonFiniteError, match="3 G optimizer steps in a row had non-finite gradients"
    ):
        for _ in range(3):
            trainer.iteration(reals, labels)
    assert trainer.counter("bad_steps_G") >= 1 and trainer.counter("bad_steps_D") >= 1
    assert any("non-finite gradients in Gmain" in m and "step skipped" in m for m in messages)


def test_non_finite_counter_is_per_network(tmp_path):
    """A D stuck at NaN stops the run even though G's steps in between are finite."""
    import dataclasses

    from training import config as config_lib

    cfg = config_lib.make_config(
        "tiny", data="", outdir="", resolution=16, channels=3, max_bad_steps=3
    )
    cfg = dataclasses.replace(cfg, loss=dataclasses.replace(cfg.loss, pl_weight=0.0, r1_gamma=0.0))
    trainer = loop.Trainer(cfg, tf.distribute.get_strategy(), log=lambda m: None)
    trainer.run_phase = lambda name, reals, labels: (name.startswith("G"), {})
    for _ in range(2):
        trainer.iteration(None, None)
    assert trainer.counter("bad_in_a_row_D") == 2 and trainer.counter("bad_in_a_row_G") == 0
    with pytest.raises(loop.NonFiniteError, match="3 D optimizer steps in a row"):
        trainer.iteration(None, None)
