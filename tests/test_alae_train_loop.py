"""StyleALAE training runs (training/alae): the LOD driver through a fade-in, the files of a run,
snapshots that load with both models, and an interrupted run that resumes exactly; the command
line's flags and its one-line errors."""

import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from training.alae import config as alae_config
from training.alae import loop

from harness import checkpoint_state


@pytest.fixture(scope="module")
def data8(tmp_path_factory):
    """64 random 8x8 RGB images (2 blocks: lod 0 at 4x4, lod 1 at 8x8), written by dataset_tool."""
    from dataset_tool import create

    root = tmp_path_factory.mktemp("alae")
    rnd = np.random.RandomState(0)
    np.savez(root / "src.npz", images=rnd.randint(0, 256, [64, 8, 8, 3]).astype(np.uint8))
    create.create_from_npz(str(root / "d8"), str(root / "src.npz"), log=lambda *a: None, workers=1)
    return str(root / "d8")


def _cfg(data, **kw):
    """alae-small at 8 px (2 blocks, 64 images, batch 16: 4 steps per epoch): lod 0 for epochs 0
    and 1, lod 1 fading in through epoch 2."""
    args = dict(epochs=3, epochs_per_lod=2, kimg_per_tick=0.04)
    args.update(kw)
    return alae_config.make_config(
        "alae-small", data=data, outdir="unused", resolution=8, channels=3, dataset_size=64,
        **args,
    )  # fmt: skip


@pytest.mark.slow
def test_alae_run_grows_snapshots_and_resumes_exactly(data8, tmp_path):
    import tf_stylegan2

    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    cfg = _cfg(data8)
    strategy = tf.distribute.get_strategy()
    logs = []
    a = loop.train(cfg, str(tmp_path / "a"), strategy, log=logs.append, progress=False)
    ticks = [ln for ln in logs if ln.startswith("tick")]
    # epochs end at 64, 128, ... images (ticks also every 40); epoch 2 fades lod 1 in
    assert [ln.split()[7] for ln in ticks][:3] == ["1.000", "1.000", "1.000"]
    fade = [ln for ln in ticks if " lod 1 " in ln and " epoch 2 " in ln]
    assert fade and 0 < float(fade[0].split()[7]) < 1, ticks
    assert a.counter("epoch") == 3 and a.counter("cur_nimg") == 3 * 64
    # the optimizer state was cleared at the lod change (epoch 2): 4 D and 4 AE steps since
    assert [int(t.numpy()) for t in a.opt_e.steps[:1]] == [8]
    run = str(tmp_path / "a")
    assert os.path.isfile(os.path.join(run, "reals.png"))
    snaps = sorted(glob.glob(os.path.join(run, "network-snapshot-*.keras")))
    assert snaps and glob.glob(os.path.join(run, "fakes*.png"))
    nets = tf_stylegan2.load_network(snaps[-1])
    assert sorted(nets) == ["ALAE", "ALAE_ema"]
    np.testing.assert_array_equal(nets["ALAE_ema"].dlatent_avg, a.model.dlatent_avg)
    assert nets["ALAE_ema"].truncation_psi == 0.7 and nets["ALAE"].truncation_psi is None
    z = np.random.RandomState(1).randn(2, 32).astype(np.float32)
    img = nets["ALAE_ema"].generate(z, noise_mode="deterministic")
    assert img.shape == (2, 8, 8, 3) and np.all(np.isfinite(img))
    ours = a.model_s.generate(z, noise_mode="deterministic")
    np.testing.assert_array_equal(img, ours)

    # Interrupted in the fade-in of lod 1 (after 144 images: epoch 2, step 1 of 4), resumed from
    # the tick at 128: the final state equals the uninterrupted run's bit for bit.
    loop.train(cfg, str(tmp_path / "b"), strategy, log=lambda *a: None, stop_after_nimg=144,
               progress=False)  # fmt: skip
    resumed = []
    b = loop.train(
        cfg, str(tmp_path / "b"), strategy, log=resumed.append, resume_from_run=True, progress=False
    )
    assert any(ln.startswith("Resumed from") and "epoch 2, kimg 0.128" in ln for ln in resumed)
    assert b.counter("cur_nimg") == a.counter("cur_nimg")
    state_a, state_b = (checkpoint_state(str(tmp_path / d)) for d in "ab")
    assert sorted(state_a) == sorted(state_b) and len(state_a) > 200
    diff = max(float(np.max(np.abs(state_a[k] - state_b[k]))) for k in state_a)
    assert diff == 0.0
    with pytest.raises(loop.RunComplete, match="is complete: epoch 3 of --epochs 3"):
        loop.train(cfg, str(tmp_path / "b"), strategy, log=lambda *a: None,
                   resume_from_run=True, progress=False)  # fmt: skip


@pytest.mark.slow
def test_stylegan2_generator_trains_and_snapshots(data8, tmp_path):
    import tf_stylegan2

    cfg = _cfg(data8, epochs=2, epochs_per_lod=1, generator="stylegan2")
    assert cfg.describe() == "d8-alae-small-sg2-1gpu"
    logs = []
    t = loop.train(
        cfg, str(tmp_path), tf.distribute.get_strategy(), log=logs.append, progress=False
    )
    assert t.counter("epoch") == 2 and "Level lod 1 (8x8) from epoch 1" in "\n".join(logs)
    (snap,) = glob.glob(str(tmp_path / "network-snapshot-*.keras"))
    nets = tf_stylegan2.load_network(snap)
    assert nets["ALAE"].generator == nets["ALAE_ema"].generator == "stylegan2"
    z = np.random.RandomState(1).randn(2, 32).astype(np.float32)
    img = nets["ALAE_ema"].generate(z, noise_mode="deterministic")
    np.testing.assert_array_equal(img, t.model_s.generate(z, noise_mode="deterministic"))
    assert img.shape == (2, 8, 8, 3) and np.all(np.isfinite(img))


def test_cli_of_alae_runs(data8, tmp_path, capsys):
    from test_training import _flags

    from training import run as run_lib

    common = ("--data", data8, "--outdir", str(tmp_path / "runs"))
    snap = str(tmp_path / "x.keras")
    open(snap, "wb").close()
    _flags(*common, "--config", "alae-demo", "--epochs", "7", "--epochs-per-lod", "3",
           "--batch", "8", "--gamma", "5", "--seed", "3", "--dry-run")  # fmt: skip
    assert run_lib.main(["run.py"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert cfg["kind"] == "alae" and cfg["model_kwargs"]["layer_count"] == 2
    assert (cfg["train_epochs"], cfg["epochs_per_lod"], cfg["r1_gamma"], cfg["seed"]) == (
        7,
        3,
        5,
        3,
    )
    assert cfg["lod_2_batch"] == {"1": [8, 8]} and cfg["dataset_size"] == 64
    assert cfg["model_kwargs"]["generator"] == "alae"
    for argv, message in [
        (("--config", "alae-demo", "--total-kimg", "1"), "--total-kimg: ALAE trains for --epochs"),
        (("--config", "alae-demo", "--cond"), "--cond: StyleALAE is unconditional"),
        (("--config", "alae-demo", "--precision", "bf16"), "--precision: ALAE trains in float32"),
        (("--config", "alae-small", "--gpus", "3"), "--gpus 3: --config alae-small has batch"),
        (("--config", "alae-demo", "--batch", "128"), "64 images, fewer than the lod 0 batch 128"),
        (("--config", "alae-demo", "--epochs", "0"), "--epochs 0 must be >= 1"),
        (("--config", "config-f", "--epochs", "2"), "--epochs: only the StyleALAE configs"),
        (("--config", "alae-demo", "--resume", snap), "an ALAE run resumes from its run dir"),
    ]:
        _flags(*common, *argv)
        with pytest.raises(run_lib.UserError, match=message):
            run_lib.main(["run.py"])
    assert not os.path.exists(tmp_path / "runs")
