"""Progressive growing in training (configs A-D, training/growing.py): the per-level settings and
their checks, the phase tables of A-D, the Trainer's level switch (lr, Adam reset, lod, mixing
layers), and a config-D run through a fade-in that is interrupted mid-transition and resumed
exactly."""

import os

import numpy as np
import pytest
import tensorflow as tf

from training import config as config_lib
from training import growing, loop, phases

from harness import checkpoint_state


def make(preset, resolution=16, **kw):
    args = dict(data="d/x", outdir="runs", resolution=resolution, channels=3)
    args.update(kw)
    return config_lib.make_config(preset, **args)


def test_official_settings_of_configs_a_to_d():
    cfg = make("config-a", resolution=1024)
    assert cfg.growing and (cfg.lod_training_kimg, cfg.lod_transition_kimg) == (600, 600)
    assert cfg.level_batch[:4] == ((8, 256, 32), (16, 128, 16), (32, 64, 8), (64, 32, 4))
    assert cfg.level_batch[-1] == (1024, 32, 4) and cfg.opt.lr == 0.001
    assert dict(cfg.level_lr) == {128: 0.0015, 256: 0.002, 512: 0.003, 1024: 0.003}
    assert cfg.kimg_per_tick == 0 and cfg.loss.r1_gamma == 10 and cfg.loss.pl_weight == 0
    assert cfg.G_kwargs["synthesis_kwargs"]["architecture"] == "adain"
    assert cfg.D_kwargs["architecture"] == "basic"
    s = growing.state_at(cfg, 1_900_000)  # 32x32 fading in (1800-2400 kimg)
    assert (s.resolution, s.minibatch, s.minibatch_gpu, s.tick_kimg) == (32, 64, 8, 20)
    assert s.lod == pytest.approx(6 - 1 / 6)
    assert growing.state_at(cfg, 4_300_000).lrate == 0.0015
    names = {p: [ph.name for ph in phases.make_phases(make(p))] for p in PRESETS}
    assert names == {
        "config-a": ["Gmain", "Dboth"],  # R1 in every D step, no lazy regularization
        "config-b": ["Gmain", "Dboth"],
        "config-c": ["Gmain", "Dmain", "Dreg"],
        "config-d": ["Gmain", "Greg", "Dmain", "Dreg"],
    }
    b, c = make("config-b"), make("config-c")
    assert phases.optimizer_settings(b, "G")[0] == 0.001  # Adam as is without lazy regularization
    assert phases.optimizer_settings(c, "G")[0] == pytest.approx(0.0008)  # TF1 mb_ratio 4/5
    assert phases.optimizer_settings(c, "D")[1:] == (0.0, pytest.approx(0.99 ** (16 / 17)))
    assert make("config-b").G_kwargs["synthesis_kwargs"]["architecture"] == "progressive"
    assert make("config-b", batch=16, lod_kimg=2).level_batch == ((8, 16, 4), (16, 16, 4))


PRESETS = ("config-a", "config-b", "config-c", "config-d")


@pytest.mark.parametrize(
    "kw, message",
    [
        (
            dict(gpus=3),
            "--gpus 3: the 8x8 level's minibatch 256 is not a multiple of its "
            "batch-gpu 32 x 3 replica(s)",
        ),
        (
            dict(resolution=4),
            "--config config-a: progressive growing starts at 8x8; the dataset is 4x4",
        ),
        (dict(lod_kimg=0), "--lod-kimg 0 must be > 0"),
        (
            dict(c_dim=4, cond=True),
            "--cond: --config config-a (StyleGAN's G_style) is unconditional",
        ),
        (dict(cbase=0), "--cbase 0 must be > 0"),
    ],
)
def test_bad_growing_settings(kw, message):
    with pytest.raises(ValueError) as e:
        make("config-a", **kw)
    assert str(e.value) == message
    with pytest.raises(ValueError, match="--lod-kimg: --config config-f does not grow"):
        make("config-f", lod_kimg=10)


def _tiny(preset, data, **kw):
    args = dict(batch=8, lod_kimg=0.064, cbase=64, cmax=8, total_kimg=0.192)
    args.update(kw)
    return make(preset, data=data, kimg_per_tick=0.024, snap=100, seed=1, **args)


def test_level_switch_sets_lr_lod_and_resets_adam(data16):
    cfg = _tiny("config-c", data16)
    t = loop.Trainer(cfg, tf.distribute.get_strategy(), log=lambda *a: None)
    before = growing.state_at(cfg, 0)
    t.set_level(before)
    assert before.lod == 1 and t.real_resolution == 8 and int(t.mixing_layers()) == 6 - 2
    assert float(t.opt["G"].learning_rate.numpy()) == pytest.approx(0.0008)
    for v in t.opt["G"]._momentums:
        v.assign(tf.ones_like(v))
    t.opt["G"].iterations.assign(7)
    after = growing.state_at(cfg, 96)  # fading in 16x16: lod 0.5
    assert growing.resets_optimizer(before, after)
    t.set_level(after, reset=True)
    assert after.lod == 0.5 and t.real_resolution == 16 and int(t.mixing_layers()) == 6
    assert int(t.opt["G"].iterations.numpy()) == 0
    assert all(float(tf.reduce_max(tf.abs(v))) == 0 for v in t.opt["G"]._momentums)
    for net in (t.G.synthesis, t.D, t.G_ema.synthesis):
        assert float(net.lod.numpy()) == 0.5


@pytest.mark.slow
def test_config_d_grows_and_resumes_mid_transition_exactly(data16, tmp_path):
    """8x8 alone for 64 images, 16x16 fading in over 64 to 128, then 16x16: ticks end at 8, 32,
    56, 80, 104, ... images; the interrupted run stops at 112 (lod 0.5) and resumes from the
    checkpoint of 104."""
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    cfg = _tiny("config-d", data16)
    strategy = tf.distribute.get_strategy()
    logs = []
    a = loop.train(cfg, str(tmp_path / "a"), strategy, log=logs.append, progress=False)
    text = "\n".join(logs)
    assert "Level 8x8: lod 1.000, minibatch 8" in text and "Level 16x16: lod 0.500" in text
    assert "lod 1.00" in text and "lod 0.50" in text and "lod 0.00" in text
    assert float(a.G_ema.synthesis.lod.numpy()) == 0.0
    # Adam restarted when the fade-in ended (ceil(lod) 1 -> 0 at 128 images): since then 8 Gmain
    # and 2 Greg steps (TF1's G_reg_opt shares G_opt's state)
    assert int(a.opt["G"].iterations.numpy()) == 10
    loop.train(
        cfg, str(tmp_path / "b"), strategy, log=lambda *a: None, stop_after_nimg=112, progress=False
    )
    resumed = []
    b = loop.train(
        cfg, str(tmp_path / "b"), strategy, log=resumed.append, resume_from_run=True, progress=False
    )
    assert any(line.startswith("Resumed from") and "kimg 0.104" in line for line in resumed)
    assert "Level 16x16: lod 0.500" in resumed[1 if resumed[0].startswith("Res") else 0]
    assert b.counter("cur_nimg") == 192
    state_a, state_b = (checkpoint_state(str(tmp_path / d)) for d in "ab")
    assert sorted(state_a) == sorted(state_b)
    diff = max(float(np.max(np.abs(state_a[k] - state_b[k]))) for k in state_a)
    assert diff == 0.0


def test_cli_flags_of_growing_runs(data16, tmp_path, capsys):
    import json

    from test_training import _flags

    from training import run as run_lib

    common = ("--data", data16, "--outdir", str(tmp_path))
    _flags(*common, "--config", "config-a", "--lod-kimg", "2", "--cbase", "64", "--cmax", "8",
           "--dry-run")  # fmt: skip
    assert run_lib.main(["run.py"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["growing"] and cfg["level_batch"] == [[8, 256, 32], [16, 128, 16]]
    assert (cfg["lod_training_kimg"], cfg["lod_transition_kimg"], cfg["kimg_per_tick"]) == (2, 2, 0)
    assert (
        cfg["G_kwargs"]["synthesis_kwargs"]["channel_base"] == 64 == cfg["D_kwargs"]["channel_base"]
    )
    for argv, message in [
        (("--config", "config-b", "--gpus", "3"), "--gpus 3: the 8x8 level's minibatch 256"),
        (("--config", "config-f", "--lod-kimg", "2"), "--lod-kimg: --config config-f does not"),
    ]:
        _flags(*common, *argv)
        with pytest.raises(run_lib.UserError, match=message):
            run_lib.main(["run.py"])
    assert not os.listdir(tmp_path)
    with pytest.raises(ValueError, match="--gpus 3: the 8x8 level's minibatch 32 is not"):
        growing.check_replicas(make("config-b", batch=32, batch_gpu=4), 3)


def test_dboth_is_dmain_plus_r1_with_one_pass_over_the_reals(data16):
    """Configs A and B: D's step is the logistic loss plus R1 (TF1 D_logistic_r1); D(real) is
    computed once, inside R1's tape, and gives the same value as the two phases apart."""
    cfg = _tiny("config-b", data16)
    t = loop.Trainer(cfg, tf.distribute.get_strategy(), log=lambda *a: None)
    t.set_level(growing.state_at(cfg, 0))
    real = tf.random.stateless_uniform([4, 16, 16, 3], [1, 2], -1, 1)
    inputs = phases.RoundInputs(tf.constant([3, 4]), tf.constant(0), real, None, t.pl_mean)
    both, stats, _, _ = phases.dboth_loss(t, inputs)
    main, _, _, _ = phases.dmain_loss(t, inputs)
    r1, _, _, _ = phases.dreg_loss(t, inputs)
    np.testing.assert_allclose(float(both), float(main) + float(r1), rtol=1e-6)
    assert float(r1) > 0 and {"Loss/D/loss", "Loss/r1_penalty"} <= set(stats)
