"""Shared by the dataset_tool tests: running the command, emoji compositing, reading a level
back."""

import os
import subprocess
import sys

import numpy as np

from dataset_tool import inspection, records

from conftest import REPO

TOOL = [sys.executable, str(REPO / "dataset_tool.py")]


def run_tool(*args, cwd=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO))
    proc = subprocess.run(
        TOOL + [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    return proc.returncode, proc.stdout, errors


def composite_white(rgba):
    alpha = rgba[..., 3:].astype(np.float64) / 255
    return np.rint(rgba[..., :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)


def read_level(data_dir, level):
    info = records.describe(data_dir)
    return np.stack(list(inspection.iter_images(info, level)))
