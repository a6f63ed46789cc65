"""export.py --format litert|onnx|openvino: each format written, then run by its own runtime in a
fresh process that imports no TensorFlow, Keras or networks code, and compared with our Keras G.

Tolerances are what was measured on these tiny 16x16 networks plus a margin (docs/EXPORT.md has
the numbers for larger ones): float32 formats up to 6.2e-6 max abs error on [-1, 1] images and no
differing uint8 value; LiteRT float16 weights 6.0e-3, dynamic-range int8 weights 0.12 (0.22 on the
demo preset, hence 0.25)."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import tf_stylegan2
from apps import cli, export_formats
from fileio.images import to_uint8

from conftest import REPO
from harness import tiny_generator

for _module in ("ai_edge_litert", "onnxruntime", "openvino", "tf2onnx"):
    pytest.importorskip(_module, reason="the export extra is missing: pip install '.[export]'")

PSI = 0.7

# Runs in a fresh interpreter: the exported folder through apps/exported.py, which imports numpy
# and the runtime only; fails if TensorFlow, Keras or tf_stylegan2 got imported.
RUNNER = textwrap.dedent("""
    import sys, numpy as np
    sys.path.insert(0, sys.argv[1])
    from apps.exported import load
    gen = load(sys.argv[2])
    data = np.load(sys.argv[3])
    args = (data["z"], data["c"]) if "c" in data.files else (data["z"],)
    images = gen(*args)
    ws = gen.mapping(*args)
    np.savez(sys.argv[4], images=images, ws=ws, synthesis=gen.synthesis(ws))
    banned = ("tensorflow", "keras", "tf_stylegan2")
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in banned)
    assert not loaded, loaded
""")


def _tiny_G(c_dim):
    return tiny_generator(c_dim, 3000 + c_dim)


@pytest.fixture(scope="module")
def generators():
    return {0: _tiny_G(0), 3: _tiny_G(3)}


def _run_exported(folder, z, c, tmp_path):
    inputs, outputs = tmp_path / "in.npz", tmp_path / "out.npz"
    np.savez(inputs, z=z, **({"c": c} if c is not None else {}))
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, str(REPO), str(folder), str(inputs), str(outputs)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return np.load(outputs)


def _reference(G, z, c, noise_mode="const"):
    c_in = None if c is None else tf.constant(c)
    images = G(tf.constant(z), c_in, truncation_psi=PSI, noise_mode=noise_mode).numpy()
    ws = G.mapping(tf.constant(z), c_in, truncation_psi=PSI).numpy()
    return images, ws


@pytest.mark.parametrize(
    "fmt, c_dim, output, quantize, noise_mode, tol",
    [
        ("litert", 3, "float", "none", "const", 2e-5),
        ("onnx", 0, "uint8", "none", "none", None),
        ("openvino", 3, "float", "none", "const", 2e-5),
        ("litert", 0, "float", "float16", "const", 1e-2),
        ("litert", 0, "float", "dynamic", "const", 0.25),
    ],
)
def test_format_runs_in_its_own_runtime_and_matches_keras(
    generators, tmp_path, fmt, c_dim, output, quantize, noise_mode, tol
):
    G = generators[c_dim]
    dest = tmp_path / fmt
    export_formats.export_format(G, dest, fmt, PSI, output, quantize, noise_mode)
    meta = json.loads((dest / "stylegan2.json").read_text())
    ext = export_formats.FORMATS[fmt]
    assert meta["files"] == {n: n + ext for n in ("generator", "mapping", "synthesis")}
    assert (meta["format"], meta["output"], meta["noise_mode"]) == (fmt, output, noise_mode)
    assert meta["truncation_psi"] == PSI
    assert not list(tmp_path.glob(".*tmp*"))  # written beside, renamed at the end

    rng = np.random.RandomState(1)
    z = rng.randn(5, G.z_dim).astype(np.float32)
    c = np.eye(c_dim, dtype=np.float32)[rng.randint(0, c_dim, 5)] if c_dim else None
    got = _run_exported(dest, z, c, tmp_path)
    ref_images, ref_ws = _reference(G, z, c, noise_mode)
    if noise_mode == "none":  # the noise makes a difference: the export did not keep const
        assert np.abs(_reference(G, z, c)[0] - ref_images).max() > 0.05
    if output == "uint8":
        assert got["images"].dtype == np.uint8 and got["images"].shape == (5, 16, 16, 3)
        ref_u8 = np.asarray(to_uint8(tf.constant(ref_images)))
        differ = int(np.sum(got["images"] != ref_u8))
        assert differ <= 3 and np.abs(got["images"].astype(int) - ref_u8).max() <= 1, differ
    else:
        err = np.abs(got["images"] - ref_images).max()
        assert err <= tol, err
        assert err > 0 or quantize == "none"
    ws_tol = 1e-5 if quantize == "none" else tol
    assert np.abs(got["ws"] - ref_ws).max() <= ws_tol
    assert np.abs(got["synthesis"] - ref_images).max() <= (tol or 2e-5)


def test_quantized_litert_files_are_smaller(generators, tmp_path):
    G = generators[0]
    sizes = {}
    for q in ("none", "float16"):
        export_formats.export_format(G, tmp_path / q, "litert", PSI, "float", q)
        sizes[q] = (tmp_path / q / "synthesis.tflite").stat().st_size
    assert sizes["float16"] < 0.7 * sizes["none"], sizes


def test_option_errors_and_missing_extra(monkeypatch, tmp_path):
    with pytest.raises(cli.UserError, match="--quantize dynamic applies to --format litert only"):
        export_formats.check_options("onnx", "dynamic")
    with pytest.raises(cli.UserError, match="--format tfjs: unknown"):
        export_formats.check_options("tfjs", "none")
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name)
    )
    with pytest.raises(
        cli.UserError, match=r"needs the package onnxruntime: pip install '.\[export\]'"
    ):
        export_formats.check_options("onnx", "none")


def test_cli_export_formats_and_errors(generators, tmp_path):
    network = tmp_path / "g.keras"
    tf_stylegan2.save_snapshot(network, G_ema=generators[0])

    def run(*args):
        return subprocess.run(
            [sys.executable, "export.py", "--network", str(network), *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
        )

    proc = run("--dest", str(tmp_path / "ov"), "--format", "openvino", "--trunc", "0.5")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"to {tmp_path / 'ov'} as openvino (generator.bin, generator.xml, " in proc.stdout
    assert json.loads((tmp_path / "ov" / "stylegan2.json").read_text())["truncation_psi"] == 0.5
    # the SavedModel takes --noise-mode too
    proc = run("--dest", str(tmp_path / "sm" / "1"), "--noise-mode", "none")
    assert proc.returncode == 0, proc.stderr[-2000:]
    synthesis = tf.saved_model.load(str(tmp_path / "sm" / "1")).signatures["synthesis"]
    ws = tf.random.stateless_normal([2, generators[0].num_ws, generators[0].w_dim], [0, 1])
    want = generators[0].synthesis(ws, noise_mode="none")
    assert np.abs(synthesis(ws=ws)["images"].numpy() - want.numpy()).max() <= 1e-5
    for args, message in [
        (
            ["--format", "onnx", "--quantize", "float16"],
            "--quantize float16 applies to --format litert only",
        ),
        (["--output", "float"], "--output applies to --format litert, onnx or openvino"),
        (["--quantize", "dynamic"], "--quantize dynamic applies to --format litert only"),
        (["--format", "onnx"], "already exists"),
        (
            ["--format", "litert", "--precision", "bf16"],
            "--precision bf16: only --format savedmodel exports another precision",
        ),
    ]:
        dest = tmp_path / "ov" if message == "already exists" else tmp_path / "x"
        proc = run("--dest", str(dest), *args)
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert message in proc.stderr and "Traceback" not in proc.stderr
        assert not (tmp_path / "x").exists()
