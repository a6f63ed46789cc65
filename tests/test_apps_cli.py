"""The app scripts as users run them (subprocesses from the repo root), and the exported SavedModel
loaded by a fresh Python that imports only TensorFlow."""

import io
import json
import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import tf_stylegan2
from apps import cli, export, generate, loading, media

from conftest import shared_path
from harness import tiny_generator

REPO = pathlib.Path(__file__).resolve().parents[1]
SAVED_MODEL_CLI = pathlib.Path(sys.executable).with_name("saved_model_cli")


def assert_u8_close(a, b):
    """uint8 images from two code paths (eager / graph / another process): float rounding may flip a
    value across a rounding boundary: allow 0.1 % of the values (at least one) off by 1."""
    a, b = np.asarray(a).astype(int), np.asarray(b).astype(int)
    assert a.shape == b.shape, (a.shape, b.shape)
    off = int(np.sum(a != b))
    assert off <= max(1, 1e-3 * a.size) and np.abs(a - b).max(initial=0) <= 1, off


def _run(*args, cwd=REPO):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(
        [sys.executable, *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _error_line(proc):
    lines = [line for line in proc.stderr.strip().splitlines() if line.startswith("error: ")]
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert len(lines) == 1, proc.stderr[-2000:]
    return lines[0]


def _tiny_G(c_dim):
    return tiny_generator(c_dim, 2000 + c_dim)


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    """Tiny unconditional and conditional generators, saved as a snapshot and in a run folder."""
    root = tmp_path_factory.mktemp("apps_cli")
    G0, G3 = _tiny_G(0), _tiny_G(3)
    tf_stylegan2.save_snapshot(root / "tiny.keras", G_ema=G0)
    run_dir = root / "00001-run"
    run_dir.mkdir()
    tf_stylegan2.save_snapshot(run_dir / "network-snapshot-000000.keras", G_ema=G3)
    tf_stylegan2.save_snapshot(run_dir / "network-snapshot-000040.keras", G_ema=G3)
    (run_dir / "network-snapshot-000008.keras").write_bytes(b"older, never chosen")
    (run_dir / "network-snapshot-000040.pkl").write_bytes(b"same kimg: .keras wins")
    return dict(root=root, G0=G0, G3=G3, uncond=root / "tiny.keras", run_dir=run_dir)


def test_resolve_network(nets, tmp_path):
    assert loading.resolve_network(nets["run_dir"]).name == "network-snapshot-000040.keras"
    for name in ("network-snapshot-000004.pkl", "network-snapshot-000012.pkl", "fakes000012.png"):
        (tmp_path / name).write_bytes(b"")
    assert (
        loading.resolve_network(tmp_path).name == "network-snapshot-000012.pkl"
    )  # official run folder
    with pytest.raises(cli.UserError, match="no network-snapshot"):
        loading.resolve_network(nets["root"])
    with pytest.raises(cli.UserError, match="unknown network format"):
        loading.resolve_network(__file__)


def test_generate_cli_files_and_grid(nets, tmp_path):
    out = tmp_path / "out"
    proc = _run(
        "generate.py",
        "--network",
        nets["uncond"],
        "--seeds",
        "0-2,10",
        "--trunc",
        "0.7",
        "--outdir",
        out,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(p.name for p in out.iterdir()) == [
        "seed0000.png",
        "seed0001.png",
        "seed0002.png",
        "seed0010.png",
    ]
    png = np.asarray(Image.open(out / "seed0010.png"))
    assert_u8_close(png, generate.generate_images(nets["G0"], [10], 0.7)[0])

    # Conditional network from a run folder: --class all --grid = one row per class.
    proc = _run(
        "generate.py",
        "--network",
        nets["run_dir"],
        "--seeds",
        "1-5",
        "--class",
        "all",
        "--grid",
        "--outdir",
        tmp_path / "grid",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "network-snapshot-000040.keras" in proc.stdout
    grid = np.asarray(Image.open(tmp_path / "grid" / "grid.png"))
    assert grid.shape == (3 * 16, 5 * 16, 3)
    assert_u8_close(grid[16:32, 32:48], generate.generate_images(nets["G3"], [3], class_idx=1)[0])


def test_bad_input_errors(nets, tmp_path):
    # Checked before TensorFlow loads: exactly one stderr line, exit status 2, nothing written.
    msg = _error_line(
        _run(
            "generate.py",
            "--network",
            tmp_path / "nope.keras",
            "--seeds",
            "1",
            "--outdir",
            tmp_path / "o1",
        )
    )
    assert "nope.keras: network not found" in msg
    proc = _run(
        "generate.py", "--network", nets["uncond"], "--seeds", "1-x", "--outdir", tmp_path / "o2"
    )
    assert (
        _error_line(proc) == "error: --seeds: cannot parse '1-x' in '1-x' (expected e.g. 0-31,40)"
    )
    assert len(proc.stderr.strip().splitlines()) == 1
    bad_img = tmp_path / "photo.png"
    bad_img.write_text("not an image")
    proc = _run(
        "projector.py",
        "--network",
        nets["uncond"],
        "--target",
        bad_img,
        "--outdir",
        tmp_path / "o3",
    )
    assert "photo.png: cannot read the image" in _error_line(proc)
    assert len(proc.stderr.strip().splitlines()) == 1
    msg = _error_line(
        _run(
            "style_mixing.py",
            "--network",
            nets["uncond"],
            "--rows",
            "1",
            "--cols",
            "2",
            "--styles",
            "0-x",
            "--outdir",
            tmp_path / "o4",
        )
    )
    assert "--styles: cannot parse '0-x'" in msg
    # After loading: a class outside c_dim.
    msg = _error_line(
        _run(
            "generate.py",
            "--network",
            nets["run_dir"],
            "--seeds",
            "1",
            "--class",
            "3",
            "--outdir",
            tmp_path / "o5",
        )
    )
    assert msg == "error: --class 3: outside the network's classes 0..2"
    assert not any((tmp_path / d).exists() for d in ("o1", "o2", "o3", "o4", "o5"))  # no output


def test_style_mixing_and_projector_cli(nets, tmp_path):
    proc = _run(
        "style_mixing.py",
        "--network",
        nets["uncond"],
        "--rows",
        "85,100",
        "--cols",
        "55,821,1789",
        "--styles",
        "0-2",
        "--outdir",
        tmp_path / "mix",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = {p.name for p in (tmp_path / "mix").iterdir()}
    assert names == {
        "grid.png",
        "85-85.png",
        "100-100.png",
        "55-55.png",
        "821-821.png",
        "1789-1789.png",
    } | {f"{r}-{c}.png" for r in (85, 100) for c in (55, 821, 1789)}
    assert Image.open(tmp_path / "mix" / "grid.png").size == (4 * 16, 3 * 16)

    target = tmp_path / "target_src.png"
    Image.fromarray(
        np.kron(generate.generate_images(nets["G0"], [7])[0], np.ones((3, 2, 1), np.uint8))
    ).save(target)
    lpips = shared_path("weights", "vgg16_lpips_v0.1_keras_layout.npz")
    proc = _run(
        "projector.py",
        "--network",
        nets["uncond"],
        "--target",
        target,
        "--outdir",
        tmp_path / "proj",
        "--steps",
        "8",
        "--lpips-weights",
        lpips,
        "--save-video",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "dist" in proc.stderr  # the progress bar
    files = {p.name for p in (tmp_path / "proj").iterdir()}
    assert {"target.png", "proj.png", "projected_w.npz"} <= files
    assert "proj.mp4" in files or "proj.gif" in files
    assert np.asarray(Image.open(tmp_path / "proj" / "target.png")).shape == (
        16,
        16,
        3,
    )  # cropped, resized
    with np.load(tmp_path / "proj" / "projected_w.npz") as data:
        assert data["w"].shape == (1, nets["G0"].num_ws, nets["G0"].w_dim)
        assert data["noise0"].shape == (4, 4)
    # generate.py --projected-w renders proj.png again (w and the optimised noise maps).
    ws, noises = generate.load_projected_w(tmp_path / "proj" / "projected_w.npz")
    assert_u8_close(
        generate.images_from_ws(nets["G0"], ws, noises=noises)[0],
        np.asarray(Image.open(tmp_path / "proj" / "proj.png")),
    )


# ----------------------------------------------------------------------------
# SavedModel export.

FRESH = textwrap.dedent("""
    import sys, json
    import numpy as np
    import tensorflow as tf
    z = np.load(sys.argv[1])
    info = {}
    for model_dir, kind, out_path in zip(sys.argv[2::3], sys.argv[3::3], sys.argv[4::3]):
        m = tf.saved_model.load(model_dir)
        sig = m.signatures
        out = {}
        kw = dict(z=tf.constant(z))
        if kind == "cond":
            kw["c"] = tf.one_hot(np.arange(len(z)) % 3, 3)
        psi = tf.constant(0.7)
        out["images"] = sig["serving_default"](truncation_psi=psi, **kw)["images"].numpy()
        first = {k: v[:1] for k, v in kw.items()}
        out["images1"] = sig["serving_default"](truncation_psi=psi, **first)["images"].numpy()
        out["generate"] = sig["generate"](**kw)["images"].numpy()
        out["ws"] = sig["mapping"](truncation_psi=psi, **kw)["ws"].numpy()
        out["synth"] = sig["synthesis"](ws=tf.constant(out["ws"]))["images"].numpy()
        png = sig["png"](truncation_psi=psi, **kw)["images_bytes"].numpy()
        out["png0"] = np.frombuffer(png[0], np.uint8)
        np.savez(out_path, **out)
        info[kind] = sorted(sig.keys())
    ours = ("tf_stylegan2", "apps", "metrics", "training", "dataset_tool")
    info["ours"] = [m for m in sys.modules if m.split(".")[0] in ours]
    print(json.dumps(info))
""")


def test_export_matches_keras_in_fresh_process(nets, tmp_path):
    z = np.random.RandomState(5).randn(3, nets["G0"].z_dim).astype(np.float32)
    np.save(tmp_path / "z.npy", z)
    args = []
    for kind, G in (("uncond", nets["G0"]), ("cond", nets["G3"])):
        dest = export.export_generator(G, tmp_path / kind / "1", truncation_psi=0.5)
        meta = json.loads((dest / "assets.extra" / "stylegan2.json").read_text())
        assert (
            meta["z_dim"] == G.z_dim
            and meta["c_dim"] == G.c_dim
            and meta["generate_truncation_psi"] == 0.5
        )
        args += [dest, kind, tmp_path / f"{kind}.npz"]
    with pytest.raises(cli.UserError, match="already exists"):
        export.export_generator(nets["G0"], tmp_path / "uncond" / "1")
    script = tmp_path / "fresh.py"
    script.write_text(FRESH)
    proc = _run(script, tmp_path / "z.npy", *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert info["ours"] == []  # none of our code was imported
    for kind, G in (("uncond", nets["G0"]), ("cond", nets["G3"])):
        assert info[kind] == ["generate", "mapping", "png", "serving_default", "synthesis"]
        out = np.load(tmp_path / f"{kind}.npz")
        c = tf.one_hot(np.arange(3) % 3, 3) if kind == "cond" else None
        ws = G.mapping(tf.constant(z), c, truncation_psi=0.7).numpy()
        keras_img = G.synthesis(tf.constant(ws), noise_mode="const").numpy()
        np.testing.assert_allclose(out["ws"], ws, atol=1e-5)
        np.testing.assert_allclose(out["synth"], keras_img, atol=1e-4)
        keras_u8 = media.to_uint8(keras_img)
        assert out["images"].dtype == np.uint8 and out["images"].shape == (3, 16, 16, 3)
        assert np.mean(out["images"] != keras_u8) < 1e-3
        assert np.abs(out["images"].astype(int) - keras_u8).max() <= 1
        assert_u8_close(out["images1"], out["images"][:1])  # variable batch
        keras_half = media.to_uint8(
            G(tf.constant(z), c, truncation_psi=0.5, noise_mode="const").numpy()
        )
        assert np.mean(out["generate"] != keras_half) < 1e-3
        png = np.asarray(Image.open(io.BytesIO(out["png0"].tobytes())))
        np.testing.assert_array_equal(png, out["images"][0])


def test_export_cli_and_saved_model_cli(nets, tmp_path):
    if not SAVED_MODEL_CLI.exists() and not shutil.which("saved_model_cli"):
        pytest.skip("saved_model_cli is not installed beside this Python")
    cli = str(SAVED_MODEL_CLI if SAVED_MODEL_CLI.exists() else shutil.which("saved_model_cli"))
    dest = tmp_path / "stylegan2" / "1"
    proc = _run("export.py", "--network", nets["run_dir"], "--dest", dest, "--trunc", "0.7")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (dest / "saved_model.pb").is_file() and (
        dest / "variables" / "variables.index"
    ).is_file()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    show = subprocess.run(
        [cli, "show", "--all", "--dir", str(dest)], capture_output=True, text=True, env=env
    )
    assert show.returncode == 0, show.stderr[-2000:]
    for key in ("serving_default", "generate", "png", "mapping", "synthesis"):
        assert f"signature_def['{key}']" in show.stdout
    assert "inputs['truncation_psi']" in show.stdout and "inputs['c']" in show.stdout
    assert "DT_UINT8" in show.stdout
    z = np.random.RandomState(0).randn(2, nets["G3"].z_dim).astype(np.float32)
    c = np.eye(3, dtype=np.float32)[[2, 0]]
    exprs = f"z={z.tolist()};c={c.tolist()};truncation_psi=0.7"
    run = subprocess.run(
        [
            cli,
            "run",
            "--dir",
            str(dest),
            "--tag_set",
            "serve",
            "--signature_def",
            "serving_default",
            "--input_exprs",
            exprs,
            "--outdir",
            str(tmp_path / "cli_out"),
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    images = np.load(tmp_path / "cli_out" / "images.npy")
    assert images.dtype == np.uint8 and images.shape == (2, 16, 16, 3)
    keras_u8 = media.to_uint8(
        nets["G3"](tf.constant(z), tf.constant(c), truncation_psi=0.7, noise_mode="const").numpy()
    )
    assert np.mean(images != keras_u8) < 1e-3


def test_generate_huge_seed_range_streams_and_stops_on_ctrl_c(nets, tmp_path):
    """--seeds 0-99999999: images are written as they are made, and Ctrl-C keeps them."""
    import signal
    import time

    out = tmp_path / "many"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    # SIG_DFL: a test run started in the background inherits an ignored SIGINT otherwise.
    proc = subprocess.Popen(
        [
            sys.executable,
            "generate.py",
            "--network",
            str(nets["uncond"]),
            "--seeds",
            "0-99999999",
            "--outdir",
            str(out),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.time() + 300
        while time.time() < deadline and len(list(out.glob("seed*.png"))) < 5:
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr[-2000:]
    written = sorted(out.glob("seed*.png"))
    assert len(written) >= 5 and written[0].name == "seed0000.png"
    assert f"Interrupted: wrote {len(written)} of 100000000 image(s) to {out}" in stdout
    assert "Traceback" not in stderr and not list(out.glob("*.tmp*"))


@pytest.mark.parametrize(
    "script, flag",
    [
        ("generate.py", "--seeds"),
        ("style_mixing.py", "--styles"),
        ("projector.py", "--target"),
        ("export.py", "--dest"),
        ("convert.py", "--source"),
        ("training/run.py", "--batch-gpu"),
        ("metrics/run.py", "--metrics"),
        ("dataset_tool.py", "--overwrite"),
        ("demo.py", "--minutes"),
    ],
)
def test_help_exits_0_with_the_commands_own_flags(script, flag):
    proc = _run(script, "--help")
    assert proc.returncode == 0, proc.stderr[-1000:]
    assert f"  {flag}:" in proc.stdout or f"  --[no]{flag[2:]}:" in proc.stdout, proc.stdout
    assert "Traceback" not in proc.stderr


def test_bad_flag_value_is_one_line(nets, tmp_path):
    for args in (["--precision", "fp8"], ["--noise-mode", "bogus"]):
        proc = _run("generate.py", "--network", nets["uncond"], "--seeds", "0", "--outdir",
                    tmp_path / "x", *args)  # fmt: skip
        line = _error_line(proc)
        assert line.startswith(f"error: flag {args[0]}={args[1]}: value should be one of"), line
        assert not (tmp_path / "x").exists()
