"""training/config.py and training/run.py: presets, lazy-regularization rescaling, --dry-run, bad
flags."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from training import config as config_lib
from training import run as run_lib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tiny_kwargs(name, res, channels, c_dim):
    return dict(z_dim=8, c_dim=c_dim, img_resolution=res), dict(c_dim=c_dim, mbstd_group_size=4)


def make(preset="config-f", **kw):
    args = dict(
        data="d/ffhq", outdir="runs", resolution=256, channels=3, network_kwargs=_tiny_kwargs
    )
    args.update(kw)
    return config_lib.make_config(preset, **args)


def test_official_hyperparameters():
    cfg = make("config-f")
    assert (cfg.batch, cfg.batch_gpu, cfg.opt.lr, cfg.loss.r1_gamma) == (32, 4, 0.002, 10.0)
    assert make("config-e").loss.r1_gamma == 100.0
    assert cfg.kimg_per_tick == 8  # TF1 tick length at 256^2
    assert (cfg.loss.pl_weight, cfg.loss.pl_decay, cfg.loss.pl_batch_shrink) == (2.0, 0.01, 2)
    assert cfg.loss.style_mixing_prob == 0.9 and cfg.ema_kimg == 10 and cfg.ema_rampup is None
    lr, b1, b2 = cfg.opt.lazy(cfg.opt.G_reg_interval)
    assert lr == pytest.approx(0.0016) and b1 == 0.0 and b2 == pytest.approx(0.99**0.8)
    lr, b1, b2 = cfg.opt.lazy(cfg.opt.D_reg_interval)
    assert lr == pytest.approx(0.002 * 16 / 17) and b2 == pytest.approx(0.990585, abs=1e-6)
    assert config_lib.ema_beta(cfg, 10**6) == pytest.approx(0.5 ** (32 / 10000))
    cifar = make("cifar", resolution=32)
    assert (cifar.loss.pl_weight, cifar.loss.style_mixing_prob, cifar.batch_gpu) == (0.0, 0.0, 32)
    assert config_lib.ema_beta(cifar, 1000) == pytest.approx(0.5 ** (64 / 50))  # ramp-up 0.05
    assert make("paper256").batch == 64 and make("tiny").total_kimg < 1


def test_overrides_and_json_round_trip():
    cfg = make(
        "config-f",
        batch=16,
        gamma=1.5,
        mirror=True,
        total_kimg=10,
        seed=3,
        kimg_per_tick=2,
        snap=5,
        gpus=2,
        metrics=("fid50k",),
        cond=True,
        c_dim=4,
    )
    assert (cfg.batch, cfg.loss.r1_gamma, cfg.mirror, cfg.total_kimg, cfg.seed) == (
        16,
        1.5,
        True,
        10,
        3,
    )
    assert (cfg.kimg_per_tick, cfg.snap, cfg.gpus, cfg.metrics, cfg.c_dim) == (
        2,
        5,
        2,
        ("fid50k",),
        4,
    )
    assert config_lib.TrainConfig.from_json(cfg.to_json()) == cfg
    assert config_lib.describe(cfg) == "ffhq-config-f-2gpu-cond"
    assert config_lib.grid_size(cfg) == (30, 16)


@pytest.mark.parametrize(
    "kw, message",
    [
        (
            dict(batch=12, gpus=8),
            "--batch 12 must be a positive multiple of the number of replicas (8",
        ),
        (dict(batch=9, gpus=3), "--batch-gpu 3 must divide by 2 (path-length"),
        (
            dict(preset="demo", batch=6),
            "--batch 6 must be a multiple of --batch-gpu 4 x 1 replica(s)",
        ),
        (
            dict(batch=32, batch_gpu=4, gpus=3),
            "--batch 32 must be a positive multiple of the number",
        ),
        (dict(batch=48, batch_gpu=8, gpus=4), "--batch 48 must be a multiple of --batch-gpu 8 x 4"),
        (
            dict(batch=36, batch_gpu=6),
            "--batch-gpu 6 must be a multiple of the minibatch-stddev group",
        ),
        (dict(batch_gpu=0), "--batch-gpu 0 must be > 0"),
        (dict(gamma=-1), "--gamma -1 must be >= 0"),
        (dict(snap=0), "--snap 0 must be >= 1"),
        (dict(total_kimg=0), "--total-kimg 0 must be > 0"),
    ],
)
def test_bad_values(kw, message):
    with pytest.raises(ValueError) as e:
        make(**kw)
    assert message in str(e.value)


def test_batch_gpu_default_and_rounds():
    assert make(batch=32).batch_gpu == 4  # the preset's
    assert make(batch=32, batch_gpu=8).batch_gpu == 8  # --batch-gpu
    assert make("tiny", batch=8, gpus=4).batch_gpu == 2  # at most batch / replicas
    assert make(batch=32, batch_gpu=32).batch_gpu == 32


def test_optimizer_rescaled_even_when_a_regularizer_is_off():
    """ADA-PT rescales lr and betas by the lazy interval whether or not the weight is 0."""
    from training import phases

    for cfg in (make("cifar", resolution=32), make(gamma=0)):
        assert phases.optimizer_settings(cfg, "G") == pytest.approx(
            (cfg.opt.lr * 0.8, 0.0, 0.99**0.8)
        )
        assert phases.optimizer_settings(cfg, "D") == pytest.approx(
            (cfg.opt.lr * 16 / 17, 0.0, 0.99 ** (16 / 17))
        )
    names = [p.name for p in phases.make_phases(make("cifar", resolution=32))]
    assert names == ["Gmain", "Dmain", "Dreg"]
    assert [p.name for p in phases.make_phases(make(gamma=0))] == ["Gmain", "Greg", "Dmain"]


def test_unknown_preset():
    with pytest.raises(
        ValueError, match="--config config-x: unknown preset; choose one of: config-e.*, alae-small"
    ):
        make("config-x")


# ----------------------------------------------------------------- run.py, in process (fast)


def _flags(*argv):
    run_lib.define_flags()
    run_lib.FLAGS.unparse_flags()
    run_lib.FLAGS(["run.py", *argv])


def test_dry_run_prints_resolved_config(data16, tmp_path, capsys):
    _flags(
        "--data",
        data16,
        "--config",
        "tiny",
        "--outdir",
        str(tmp_path),
        "--batch",
        "16",
        "--gamma",
        "0.5",
        "--mirror",
        "--seed",
        "7",
        "--cond",
        "--cond-mode",
        "both",
        "--acgan-weight",
        "0.5",
        "--dry-run",
    )
    assert run_lib.main(["run.py"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    assert (cfg["cond_mode"], cfg["acgan_weight"], cfg["multi_hot"]) == ("both", 0.5, False)
    assert cfg["D_kwargs"]["cond_mode"] == "both"
    assert (cfg["batch"], cfg["loss"]["r1_gamma"], cfg["mirror"], cfg["seed"]) == (16, 0.5, True, 7)
    assert (cfg["c_dim"], cfg["resolution"], cfg["channels"]) == (4, 16, 3)
    assert cfg["G_kwargs"]["synthesis_kwargs"]["channel_max"] == 32  # the 'tiny' network preset
    assert not os.listdir(tmp_path)  # nothing written


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--config", "nope"], "--config nope: unknown preset"),
        (
            ["--batch", "6", "--gpus", "4"],
            "--batch 6 must be a positive multiple of the number of replicas (4",
        ),
        (["--metrics", "fid50k,bogus"], "--metrics: unknown metric(s) bogus"),
        (
            ["--resume", "no/such.keras"],
            "--resume no/such.keras: no such run directory or snapshot file",
        ),
        (
            ["--resume", "no/such/run"],
            "--resume no/such/run: no such run directory or snapshot file",
        ),
        (
            ["--batch", "6", "--dry-run"],
            "--batch 6 must be a multiple of --batch-gpu 4 x 1 replica(s)",
        ),
        (["--gpus", "0"], "--gpus 0 must be >= 1"),
        (["--max-minutes", "-1"], "--max-minutes -1.0 must be >= 0"),
        (["--cond-mode", "acgan"], "--cond-mode acgan needs conditional training (--cond"),
        (["--cond", "--acgan-weight", "2"], "--acgan-weight needs --cond-mode acgan or both"),
        (["--cond", "--cond-mode", "both", "--acgan-weight", "-1"], "--acgan-weight -1.0 must"),
    ],
)
def test_bad_flags(data16, tmp_path, argv, message):
    _flags("--data", data16, "--config", "tiny", "--outdir", str(tmp_path), *argv)
    with pytest.raises(run_lib.UserError) as e:
        run_lib.main(["run.py"])
    assert message in str(e.value)


def test_bad_data_and_cond(data16, tmp_path):
    _flags("--data", str(tmp_path / "missing"), "--config", "tiny")
    with pytest.raises(run_lib.UserError, match="--data .*missing: no such directory"):
        run_lib.main(["run.py"])
    _flags("--config", "tiny")
    with pytest.raises(run_lib.UserError, match="--data is required"):
        run_lib.main(["run.py"])
    unlabeled = tmp_path / "u"
    from dataset_tool import create

    np.savez(tmp_path / "u.npz", images=np.zeros([8, 16, 16, 3], np.uint8))
    create.create_from_npz(str(unlabeled), str(tmp_path / "u.npz"), log=lambda *a: None, workers=1)
    _flags("--data", str(unlabeled), "--config", "tiny", "--cond")
    with pytest.raises(run_lib.UserError, match="--cond: dataset .* has no labels"):
        run_lib.main(["run.py"])
    _flags("--resume", "latest", "--outdir", str(tmp_path / "none"))
    with pytest.raises(run_lib.UserError, match="--resume latest: no run with a checkpoint"):
        run_lib.main(["run.py"])


def test_cli_exit_code_and_one_line_error(data16, tmp_path):
    """As a script: exit status 2 and one clear line on stderr."""
    proc = subprocess.run(
        [
            sys.executable,
            "training/run.py",
            "--data",
            data16,
            "--config",
            "tiny",
            "--batch",
            "7",
            "--gpus",
            "2",
            "--outdir",
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("training/run.py: error")]
    assert lines == [
        "training/run.py: error: --batch 7 must be a positive multiple of the number "
        "of replicas (2 = 1 worker(s) x 2 device(s))"
    ]
    proc = subprocess.run(
        [sys.executable, "training/run.py", "--gpus", "x"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "training/run.py: error: flag --gpus=x" in proc.stderr


def test_resume_run_dir_flags(data16, tmp_path):
    """--resume RUN_DIR keeps the run's configuration: flags it cannot honour are refused in one
    line; --total-kimg, --gpus and --metrics (none turns them off) are taken."""
    cfg = make("tiny", data=data16, resolution=16, metrics=("fid50k",))
    run_dir = tmp_path / "00000-run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "config.json").write_text(cfg.to_json())
    for flag, value in (
        ("--batch", "16"),
        ("--gamma", "1"),
        ("--seed", "3"),
        ("--batch-gpu", "2"),
        ("--data", data16),
        ("--mirror", None),
    ):
        _flags("--resume", str(run_dir), flag, *([value] if value else []))
        with pytest.raises(run_lib.UserError) as e:
            run_lib.main(["run.py"])
        assert str(e.value) == (
            f"--resume {run_dir} continues that run's own configuration "
            f"(config.json); it cannot take {flag}: start a new run instead"
        )
    _flags("--resume", str(run_dir), "--total-kimg", "2", "--metrics", "none", "--gpus", "2")
    resumed = run_lib.resolve(str(run_dir))
    assert (resumed.total_kimg, resumed.metrics, resumed.gpus) == (2.0, (), 2)
    _flags("--resume", str(run_dir))
    assert run_lib.resolve(str(run_dir)).metrics == ("fid50k",)
    _flags("--resume", str(run_dir), "--gpus", "3")
    with pytest.raises(run_lib.UserError, match="--gpus 3: the run's --batch 8 is not a multiple"):
        run_lib.resolve(str(run_dir))
