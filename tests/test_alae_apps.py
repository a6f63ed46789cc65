"""The StyleALAE tools on the official alae_small checkpoint (../shared/fixtures/alae_small) and on
a snapshot of it: encode.py (encoding, reconstructions, style mixing of real images,
interpolation), the style ranges, and export.py's SavedModel (encode / decode / reconstruct /
serving_default / mapping) and ONNX / LiteRT files against the Keras model."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import tf_stylegan2
from apps import cli, encode, export_alae, media

from conftest import REPO, shared_path


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    """(ALAE_ema model, .pth path, .keras snapshot path, folder of 5 images 40x40)."""
    pth = shared_path("fixtures", "alae_small", "model_small.pth")
    nets = tf_stylegan2.load_network(pth)
    root = tmp_path_factory.mktemp("alae_apps")
    snap = str(root / "network-snapshot-000000.keras")
    tf_stylegan2.save_snapshot(snap, ALAE=nets["ALAE"], ALAE_ema=nets["ALAE_ema"])
    folder = root / "imgs"
    folder.mkdir()
    fx = np.load(shared_path("fixtures", "alae_small", "alae_small.npz"))
    x = np.transpose(fx["in/x_lod3"], (0, 2, 3, 1))  # [4, 32, 32, 3] smooth patterns
    for i, img in enumerate(np.concatenate([x, x[:1] * -1])):
        media.save_image(folder / f"p{i}.png", media.to_uint8(img))
    return nets["ALAE_ema"], pth, snap, str(folder)


def _run(*argv):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO)
    return subprocess.run(
        [sys.executable, "encode.py", *argv], cwd=REPO, env=env, capture_output=True, text=True
    )


def test_encode_py_reconstructs_mixes_and_fails_in_one_line(official, tmp_path):
    model, pth, snap, folder = official
    proc = _run("--network", pth, "--images", folder, "--outdir", str(tmp_path / "enc"),
                "--noise-mode", "deterministic", "--batch", "2")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Encoded 5 images" in proc.stdout
    out = np.load(tmp_path / "enc" / "w.npz")
    assert out["w"].shape == (5, 32) and list(out["names"]) == [f"p{i}" for i in range(5)]
    images = np.stack([media.load_target_image(f"{folder}/p{i}.png", 32, 3) for i in range(5)])
    want = model.encode(tf.cast(images, tf.float32) / 127.5 - 1.0).numpy()
    np.testing.assert_allclose(out["w"], want, atol=2e-5)  # the .pth's ALAE_ema, batched by 2
    pair = media.load_target_image(str(tmp_path / "enc" / "p0.png"), 64, 3)  # [32, 64] side by side
    assert pair.shape == (64, 64, 3)
    rec = media.to_uint8(model.decode(want[:1], noise_mode="deterministic").numpy())[0]
    from PIL import Image

    side = np.asarray(Image.open(tmp_path / "enc" / "p0.png"))
    assert side.shape == (32, 64, 3) and np.array_equal(side[:, :32], images[0])
    assert np.abs(side[:, 32:].astype(int) - rec.astype(int)).max() <= 1
    assert os.path.isfile(tmp_path / "enc" / "reconstructions.png")

    proc = _run("--network", snap, "--mix-rows", folder, "--mix-cols", f"{folder}/p1.png",
                "--styles", "fine", "--outdir", str(tmp_path / "mix"))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Mixed 5 x 1 images (layers [4, 5, 6, 7])" in proc.stdout
    grid = np.asarray(Image.open(tmp_path / "mix" / "mix.png"))
    assert grid.shape == (6 * 32, 2 * 32, 3)

    for argv, message in [
        (("--network", folder, "--images", folder), "run folder holds no network-snapshot"),
        (("--network", pth, "--mix-rows", folder, "--mix-cols", folder, "--styles", "3-9"),
         "--styles: layer 8 outside 0..7"),
    ]:  # fmt: skip
        proc = _run(*argv, "--outdir", str(tmp_path / "bad"))
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
        assert message in proc.stderr.strip().splitlines()[-1], proc.stderr
    assert not os.path.exists(tmp_path / "bad")


def test_style_ranges_scale_the_official_split():
    assert encode.style_ranges(9) == {
        "coarse": [0, 1, 2, 3], "middle": [4, 5, 6, 7], "fine": list(range(8, 18)),
    }  # fmt: skip
    assert encode.style_ranges(5) == {
        "coarse": [0, 1], "middle": [2, 3], "fine": [4, 5, 6, 7, 8, 9],
    }  # fmt: skip
    assert encode.style_ranges(7)["coarse"] == [0, 1, 2, 3]  # round(14 / 9) = 2 blocks
    with pytest.raises(cli.UserError, match="at least 3 blocks"):
        encode.style_ranges(2)


def test_interpolation_ends_at_the_reconstructions(official):
    model = official[0]
    codec = encode.Codec(model, "deterministic")
    x = np.stack([media.load_target_image(f"{official[3]}/p{i}.png", 32, 3) for i in (0, 1)])
    w = codec.encode(x)
    frames = encode.interpolation(codec, w[0], w[1], 5)
    assert frames.shape == (5, 32, 32, 3)
    np.testing.assert_array_equal(frames[[0, -1]], codec.decode(w))


def test_savedmodel_signatures_equal_the_keras_model(official, tmp_path):
    model = official[0]
    dest = export_alae.export_alae(model, tmp_path / "sm" / "1", truncation_psi=0.7)
    loaded = tf.saved_model.load(str(dest))
    assert sorted(loaded.signatures) == [
        "decode", "encode", "mapping", "reconstruct", "serving_default",
    ]  # fmt: skip
    sig = loaded.signatures
    x = np.random.RandomState(0).randint(0, 256, [3, 32, 32, 3]).astype(np.uint8)
    w = sig["encode"](images=tf.constant(x))["w"].numpy()
    want = model.encode(tf.cast(x, tf.float32) / 127.5 - 1.0).numpy()
    assert np.abs(w - want).max() <= 1e-5
    rec = sig["reconstruct"](images=tf.constant(x))["images"].numpy()
    np.testing.assert_array_equal(rec, sig["decode"](w=tf.constant(w))["images"].numpy())
    dec = media.to_uint8(model.decode(want, noise_mode="deterministic").numpy())
    assert rec.dtype == np.uint8 and np.abs(rec.astype(int) - dec.astype(int)).max() <= 1
    z = np.random.RandomState(1).randn(2, 32).astype(np.float32)
    img = sig["serving_default"](z=tf.constant(z))["images"].numpy()
    keras_img = model.generate(z, truncation_psi=0.7, noise_mode="deterministic").numpy()
    assert np.abs(img.astype(int) - media.to_uint8(keras_img).astype(int)).max() <= 1
    w_map = sig["mapping"](z=tf.constant(z))["w"].numpy()
    np.testing.assert_allclose(w_map, model.mapping(z)[:, 0].numpy(), atol=1e-5)
    meta = json.loads((dest / "assets.extra" / "stylegan2.json").read_text())
    assert meta["kind"] == "alae" and meta["truncation_cutoff"] == 8  # defaults.py


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx", "litert"])
def test_formats_run_in_their_runtimes(official, tmp_path, fmt):
    pytest.importorskip({"onnx": "onnxruntime", "litert": "ai_edge_litert"}[fmt],
                        reason="the export extra is missing: pip install '.[export]'")  # fmt: skip
    model = official[0]
    dest = export_alae.export_alae_format(model, tmp_path / fmt, fmt, truncation_psi=0.7)
    meta = json.loads((dest / "stylegan2.json").read_text())
    assert sorted(meta["files"]) == ["decoder", "encoder", "generator"]
    x = np.random.RandomState(0).randint(0, 256, [2, 32, 32, 3]).astype(np.uint8)
    want_w = model.encode(tf.cast(x, tf.float32) / 127.5 - 1.0).numpy()
    if fmt == "onnx":
        import onnxruntime

        sess = onnxruntime.InferenceSession(str(dest / meta["files"]["encoder"]))
        w = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    else:
        from ai_edge_litert.interpreter import Interpreter

        interp = Interpreter(model_path=str(dest / meta["files"]["encoder"]))
        inp = interp.get_input_details()[0]
        interp.resize_tensor_input(inp["index"], x.shape)
        interp.allocate_tensors()
        interp.set_tensor(inp["index"], x)
        interp.invoke()
        w = interp.get_tensor(interp.get_output_details()[0]["index"])
    assert np.abs(w - want_w).max() <= 1e-4
    with pytest.raises(cli.UserError, match="StyleALAE exports deterministic, random, none"):
        export_alae.export_alae_format(model, tmp_path / "x", fmt, noise_mode="const")
