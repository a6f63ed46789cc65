"""A new user's first runs: a 20-image folder trains (the grid repeats images, as ADA-PT), and a
run that fails at start-up prints one line, exits 2 and leaves no run directory."""

import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {"TF_CPP_MIN_LOG_LEVEL": "2"}


def _dataset(root, count):
    from dataset_tool import create

    rnd = np.random.RandomState(0)
    np.savez(root / "src.npz", images=rnd.randint(0, 256, [count, 16, 16, 3]).astype(np.uint8))
    create.create_from_npz(
        str(root / "data"), str(root / "src.npz"), log=lambda *a: None, workers=1
    )
    return str(root / "data")


def _train(data, outdir, *extra, env=None):
    env = dict(os.environ, **ENV) if env is None else env
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [
        sys.executable,
        "training/run.py",
        "--data",
        data,
        "--config",
        "tiny",
        "--outdir",
        str(outdir),
        "--total-kimg",
        "0.016",
        "--kimg-per-tick",
        "0.008",
        "--nograppler",
        *extra,
    ]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_twenty_images_train(tmp_path):
    """Also the user's terminal: with grappler on and TensorFlow's log level as run.py sets it,
    no E0000 line (grappler's "remapper failed", oneDNN's uint8 notice) appears."""
    data = _dataset(tmp_path, 20)
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    proc = _train(
        data, tmp_path / "runs", "--batch", "32", "--batch-gpu", "4", "--grappler", env=env
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith(("E0000", "W0000", "F0000"))]
    assert errors == [], errors
    (run_dir,) = glob.glob(str(tmp_path / "runs" / "*"))
    assert os.path.isfile(os.path.join(run_dir, "reals.png"))  # 32-image grid from 20 images
    assert glob.glob(os.path.join(run_dir, "network-snapshot-*.keras"))
    log = open(os.path.join(run_dir, "log.txt")).read()
    assert "global batch 32 = 8 round(s) x 1 replica(s) x batch_gpu 4" in log


def test_start_up_failure_leaves_no_run_directory(tmp_path):
    data = _dataset(tmp_path, 20)
    for path in glob.glob(os.path.join(data, "*-r04.tfrecords*")):
        with open(path, "r+b") as f:  # corrupt the full-resolution records
            f.truncate(30)
    proc = _train(data, tmp_path / "runs")
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("training/run.py: error:")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert os.listdir(tmp_path / "runs") == []


def _env(**extra):
    env = dict(os.environ, **ENV, **extra)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_metrics_without_weights_fail_before_training(tmp_path):
    data = _dataset(tmp_path, 20)
    env = _env(
        TF_STYLEGAN2_WEIGHTS=str(tmp_path / "none"),
        TF_STYLEGAN2_NO_DOWNLOAD="1",
        TF_STYLEGAN2_CACHE=str(tmp_path / "cache"),
        XDG_CACHE_HOME=str(tmp_path / "xdg"),
    )
    cmd = [
        sys.executable,
        "training/run.py",
        "--data",
        data,
        "--config",
        "tiny",
        "--outdir",
        str(tmp_path / "runs"),
        "--metrics",
        "fid50k",
    ]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("training/run.py: error:")]
    assert len(lines) == 1 and lines[0].startswith(
        "training/run.py: error: --metrics fid50k: missing weights file"
    ), proc.stderr[-2000:]
    assert not (tmp_path / "runs").exists() or os.listdir(tmp_path / "runs") == []


@pytest.mark.slow
def _resume(run_dir, *extra):
    cmd = [sys.executable, "training/run.py", "--resume", run_dir, "--nograppler", *extra]
    return subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)


def test_resume_finished_corrupt_checkpoints_and_ctrl_c(tmp_path):
    import signal
    import time

    data = _dataset(tmp_path, 20)
    runs = tmp_path / "runs"
    # in bf16: the run computes in mixed_bfloat16, takes no non-finite step, saves float32 nets
    assert _train(data, runs, "--precision", "bf16").returncode == 0
    (run_dir,) = glob.glob(str(runs / "*"))
    assert json.load(open(f"{run_dir}/config.json"))["dtype"] == "mixed_bfloat16"
    assert "non-finite" not in open(f"{run_dir}/log.txt").read()
    import tf_stylegan2

    nets = tf_stylegan2.load_network(f"{run_dir}/network-snapshot-000000.keras")
    assert {k: n.dtype_policy.name for k, n in nets.items()} == dict.fromkeys(
        ("G", "D", "G_ema"), "float32"
    )

    def resume(*extra):
        return _resume(run_dir, *extra)

    # A finished run: nothing more is trained.
    proc = resume()
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"{run_dir} is complete: kimg 0.016 of --total-kimg 0.016" in proc.stdout
    # fp32 and bf16 share a checkpoint; fp64 does not
    proc = resume("--precision", "fp64", "--total-kimg", "0.024")
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and lines[-1] == (
        "training/run.py: error: --precision fp64: the run trains in bf16; its checkpoint "
        "cannot continue in fp64 (fp32 and bf16 can take each other's; fp16 and fp64 only their "
        "own)"
    ), proc.stderr[-1000:]

    # The newest checkpoint truncated: the previous one is used, and the log says so.
    ckpt_dir = os.path.join(run_dir, "checkpoints", "worker0")
    newest = sorted(
        glob.glob(os.path.join(ckpt_dir, "ckpt-*.index")),
        key=lambda p: int(p.split("-")[-1].split(".")[0]),
    )[-1]
    for f in glob.glob(newest.replace(".index", ".data-*")):
        with open(f, "r+b") as fh:
            fh.truncate(10)
    proc = resume("--total-kimg", "0.024", "--precision", "fp32")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.load(open(f"{run_dir}/config.json"))["dtype"] == "float32"  # continues so
    log = open(os.path.join(run_dir, "log.txt")).read()
    assert f"WARNING: checkpoint {newest[: -len('.index')]} is unreadable" in log
    assert "Resuming from the newest intact checkpoint" in log

    # Every checkpoint broken: one line naming the file, also in log.txt; the run stays.
    for f in glob.glob(os.path.join(ckpt_dir, "ckpt-*.data-*")):
        with open(f, "r+b") as fh:
            fh.truncate(10)
    proc = resume("--total-kimg", "0.032")
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("training/run.py: error:")]
    assert len(lines) == 1 and f"no intact checkpoint in {ckpt_dir}" in lines[0], proc.stderr
    assert (
        "Traceback" not in proc.stderr and lines[0] in open(os.path.join(run_dir, "log.txt")).read()
    )

    # Ctrl-C during training: exit 130 and the resume command, no traceback.
    cmd = [
        sys.executable,
        "training/run.py",
        "--data",
        data,
        "--config",
        "tiny",
        "--outdir",
        str(tmp_path / "runs2"),
        "--total-kimg",
        "100",
        "--kimg-per-tick",
        "0.008",
        "--nograppler",
    ]
    p = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.time() + 300
        while time.time() < deadline and not glob.glob(str(tmp_path / "runs2" / "*" / "*.keras")):
            time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=300)
    finally:
        p.kill()
    (run2,) = glob.glob(str(tmp_path / "runs2" / "*"))
    fatal = err.find("Fatal Python error")  # faulthandler (absl enables it): the crash's stacks
    assert p.returncode == 130, err[fatal : fatal + 4000] if fatal >= 0 else err[-2000:]
    assert "Traceback" not in err
    assert f"resume with: python training/run.py --resume {run2}" in err
