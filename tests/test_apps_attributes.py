"""Attribute control in the apps: generate.py --attrs on a multi-hot network (names kept in the
snapshot), projector.py over a folder of photos (one projected_w.npz), style_mixing.py
--rows-w / --cols-w mixing the styles of projected photos."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import tf_stylegan2
from apps import generate

from conftest import REPO, shared_path
from harness import tiny_generator

NAMES = ["smiling", "eyeglasses", "hat"]


def _run(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(
        [sys.executable, *map(str, args)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def multi_hot(tmp_path_factory):
    root = tmp_path_factory.mktemp("attrs")
    G = tiny_generator(3, seed=5)
    G.label_names = list(NAMES)
    tf_stylegan2.save_snapshot(root / "attrs.keras", G_ema=G)
    return root / "attrs.keras", G


def test_generate_attrs_by_name(multi_hot, tmp_path):
    path, G = multi_hot
    assert tf_stylegan2.load_network(path)["G_ema"].label_names == NAMES
    out = tmp_path / "out"
    proc = _run(
        "generate.py", "--network", path, "--seeds", "1", "--attrs", "hat,smiling", "--outdir", out
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    want = generate.generate_images(G, [1], class_idx=(2, 0))[0]
    np.testing.assert_array_equal(np.asarray(Image.open(out / "seed0001.png")), want)
    other = generate.generate_images(G, [1], class_idx=(1,))[0]
    assert np.any(other != want)  # the attributes make a difference
    for extra, message in [
        (["--attrs", "beard"], "error: --attrs: unknown attribute 'beard' (the network's"),
        (["--attrs", "hat", "--class", "1"], "error: give either --class or --attrs, not both"),
    ]:
        proc = _run(
            "generate.py", "--network", path, "--seeds", "1", "--outdir", tmp_path / "x", *extra
        )
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and lines[-1].startswith(message), proc.stderr[-1000:]
        assert not (tmp_path / "x").exists()


def test_project_folder_then_mix_projected_photos(multi_hot, tmp_path):
    path, G = multi_hot
    photos = tmp_path / "photos"
    photos.mkdir()
    for seed in (3, 4):
        img = generate.generate_images(G, [seed], class_idx=(0,))[0]
        Image.fromarray(img).save(photos / f"p{seed}.png")
    (photos / "notes.txt").write_text("not an image")
    lpips = shared_path("weights", "vgg16_lpips_v0.1_keras_layout.npz")
    proc = _run(
        "projector.py",
        "--network",
        path,
        "--target",
        photos,
        "--outdir",
        tmp_path / "proj",
        "--steps",
        "3",
        "--lpips-weights",
        lpips,
        "--attrs",
        "smiling",  # = --class 0
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    files = {p.name for p in (tmp_path / "proj").iterdir()}
    assert files == {
        "target-p3.png",
        "proj-p3.png",
        "target-p4.png",
        "proj-p4.png",
        "projected_w.npz",
    }
    npz = tmp_path / "proj" / "projected_w.npz"
    with np.load(npz) as data:
        assert data["w"].shape == (2, G.num_ws, G.w_dim) and list(data["names"]) == ["p3", "p4"]

    proc = _run(
        "style_mixing.py",
        "--network",
        path,
        "--rows-w",
        npz,
        "--cols",
        "7",
        "--styles",
        "0-2",
        "--attrs",
        "eyeglasses",  # = --class 1
        "--outdir",
        tmp_path / "mix",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = {p.name for p in (tmp_path / "mix").iterdir()}
    assert names == {"grid.png", "p3-p3.png", "p4-p4.png", "7-7.png", "p3-7.png", "p4-7.png"}
    # the unmixed row image is the projected photo rendered by generate.py --projected-w
    ws, _ = generate.load_projected_w(npz)
    np.testing.assert_array_equal(
        np.asarray(Image.open(tmp_path / "mix" / "p4-p4.png")), generate.images_from_ws(G, ws)[1]
    )
    for extra, message in [
        (["--rows", "1", "--rows-w", npz, "--cols", "2"], "give one of --rows SEEDS or --rows-w"),
        (["--rows-w", tmp_path / "none.npz", "--cols", "2"], "none.npz: file not found"),
    ]:
        proc = _run("style_mixing.py", "--network", path, "--outdir", tmp_path / "m2", *extra)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and message in lines[-1], proc.stderr[-1000:]
    proc = _run(
        "projector.py",
        "--network",
        path,
        "--target",
        photos,
        "--outdir",
        tmp_path / "p2",
        "--lpips-weights",
        lpips,
        "--attrs",
        "beard",
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and lines[-1].startswith(
        "error: --attrs: unknown attribute 'beard'"
    )
    assert not (tmp_path / "p2").exists()
