"""`make demo`'s pipeline, run end to end with a tiny time budget so it cannot rot."""

import json
import pathlib
import subprocess
import sys

import numpy as np
from PIL import Image

from conftest import REPO, shared_path


def test_demo_pipeline_end_to_end(tmp_path):
    shared_path("data", "fashion-mnist", "train-images-idx3-ubyte.gz")
    shared_path("weights", "inception-2015-12-05_fid_pool3.npz")
    out = tmp_path / "demo"
    proc = subprocess.run(
        [
            sys.executable,
            "demo.py",
            "--outdir",
            str(out),
            "--minutes",
            "0.01",
            "--config",
            "tiny",
            "--max-images",
            "256",
            "--fid",
            "fid100",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "demo finished" in proc.stdout

    summary = json.loads((out / "summary.json").read_text())
    fid = summary["fid"]
    assert fid["start"] is not None and fid["end"] is not None
    assert 0 < fid["start"] < 1000 and 0 < fid["end"] < 1000

    run_dir = pathlib.Path(summary["run_dir"])
    for name in ("config.json", "log.txt", "reals.png", "fakes_init.png"):
        assert (run_dir / name).is_file(), name
    assert list(run_dir.glob("network-snapshot-*.keras"))
    assert list(run_dir.glob("events.out.tfevents.*"))

    # class-by-row grid: 10 Fashion-MNIST classes x 10 seeds of 32x32 greyscale images
    grid = np.asarray(Image.open(out / "samples" / "grid.png"))
    assert grid.shape[:2] == (10 * 32, 10 * 32), grid.shape
    assert (out / "style-mixing" / "grid.png").is_file()
    gif = Image.open(out / "interpolation" / "interpolation.gif")
    assert gif.n_frames > 1
    assert (out / "saved_model" / "1" / "saved_model.pb").is_file()
    served = np.asarray(Image.open(out / "served.png"))
    assert served.shape[:2] == (32, 10 * 32) and served.dtype == np.uint8
