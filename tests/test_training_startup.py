"""A new user's first runs: a 20-image folder trains (the grid repeats images, as ADA-PT), and a
run that fails at start-up prints one line, exits 2 and leaves no run directory."""

import glob
import os
import subprocess
import sys

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "TF_STYLEGAN2_NO_GRAPPLER": "1"}


def _dataset(root, count):
    from dataset_tool import create

    rnd = np.random.RandomState(0)
    np.savez(root / "src.npz", images=rnd.randint(0, 256, [count, 16, 16, 3]).astype(np.uint8))
    create.create_from_npz(str(root / "data"), str(root / "src.npz"), log=lambda *a: None,
                           workers=1)
    return str(root / "data")


def _train(data, outdir, *extra):
    env = dict(os.environ, **ENV)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, "training/run.py", "--data", data, "--config", "tiny", "--outdir",
           str(outdir), "--total-kimg", "0.016", "--kimg-per-tick", "0.008", *extra]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_twenty_images_train(tmp_path):
    data = _dataset(tmp_path, 20)
    proc = _train(data, tmp_path / "runs", "--batch", "32", "--batch-gpu", "4")
    assert proc.returncode == 0, proc.stderr[-2000:]
    run_dir, = glob.glob(str(tmp_path / "runs" / "*"))
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
