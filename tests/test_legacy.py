"""Official pickles (TF1, ADA-PyTorch) in, official numbers out; hostile pickles refused."""

import io
import json
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from fileio import torch_files
from tf_stylegan2 import legacy
from tf_stylegan2.legacy import safe_pickle

from conftest import REPO
from harness import (
    Reduce,
    ada_fixture,
    assert_close,
    assert_rel,
    nchw,
    networks_or_skip,
    nhwc,
    tf1_fixture,
    tf1_state,
    touch_cmd,
)

# ----------------------------------------------------------------------------
# stylegan2-ada-pytorch pickle: the state dict, bit for bit.


def test_ada_pickle_state_equals_fixture_bit_for_bit():
    pkl, ref = ada_fixture()
    specs = legacy.read_network_pickle(pkl)
    assert sorted(specs) == ["D", "G", "G_ema"]
    for key, spec in specs.items():
        expected = {n[len(key) + 1 :]: ref[n] for n in ref.files if n.startswith(key + "/")}
        assert list(spec.state) and set(spec.state) == set(expected), key
        for name, value in spec.state.items():
            want = expected[name]
            assert value.dtype == want.dtype and value.shape == want.shape, f"{key}/{name}"
            assert value.tobytes() == want.tobytes(), f"{key}/{name} differs"
        assert spec.origin == "ada"
    meta = json.loads(str(ref["meta/json"]))
    assert specs["G"].init_kwargs["synthesis_kwargs"]["channel_base"] == 2048
    assert specs["G"].init_kwargs["mapping_kwargs"] == {"num_layers": 2}
    assert specs["D"].init_kwargs["epilogue_kwargs"] == {"mbstd_group_size": 4}
    assert specs["G"].class_name == "Generator" and specs["D"].class_name == "Discriminator"
    assert meta["G_kwargs"]["z_dim"] == specs["G"].init_kwargs["z_dim"] == 64


def test_torch_zip_storage_and_bfloat16_are_decoded():
    # A zip-format torch storage (torch.save default since 1.6) holding 3 floats.
    data = np.array([1.5, -2.0, 3.25], "<f4")
    inner = _torch_zip_storage("FloatStorage", data.tobytes(), 3)
    value = torch_files.load_from_bytes(inner)
    assert value.dtype == np.float32 and value.tolist() == [1.5, -2.0, 3.25]
    bf16 = (data.view("<u4") >> 16).astype("<u2")
    value = torch_files.load_from_bytes(_torch_zip_storage("BFloat16Storage", bf16.tobytes(), 3))
    assert value.dtype == np.float32 and value.tolist() == [1.5, -2.0, 3.25]


def _torch_zip_storage(kind, raw, numel):
    # data.pkl: persistent id ('storage', torch.<kind>, '0', 'cpu', numel) -> BINPERSID.
    body = (
        b"\x80\x02(X\x07\x00\x00\x00storagec" + b"torch\n" + kind.encode() + b"\n"
        b"X\x01\x00\x00\x000X\x03\x00\x00\x00cpuM" + numel.to_bytes(2, "little") + b"tQ."
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", body)
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/data/0", raw)
    return buf.getvalue()


# ----------------------------------------------------------------------------
# TF1 pickle: kwargs and the legacy.py rules.


def test_tf1_pickle_kwargs_match_nvidia_converter_except_mbstd_group():
    pkl, ref = tf1_fixture()
    specs = legacy.read_network_pickle(pkl)
    meta = json.loads(str(ref["meta/json"]))
    assert specs["G"].init_kwargs == meta["G_init_kwargs"]
    assert specs["G_ema"].init_kwargs == meta["G_init_kwargs"]
    d_kwargs = json.loads(json.dumps(meta["D_init_kwargs"]))
    assert d_kwargs["epilogue_kwargs"]["mbstd_group_size"] is None  # legacy.py's deviation
    d_kwargs["epilogue_kwargs"]["mbstd_group_size"] = 4  # TF1's default group
    assert specs["D"].init_kwargs == d_kwargs
    assert all(spec.origin == "tf1" for spec in specs.values())


def test_tf1_pickle_variables_follow_legacy_rules():
    pkl, _ = tf1_fixture()
    raw = safe_pickle.load_any(pkl.read_bytes(), str(pkl))
    G, D, Gs = (net.state for net in raw)
    syn = dict(Gs["components"]["synthesis"].state["variables"])
    mapping = dict(Gs["components"]["mapping"].state["variables"])
    specs = legacy.read_network_pickle(pkl)
    st = specs["G_ema"].state
    assert len(st) == 64 and len(specs["G"].state) == 64 and len(specs["D"].state) == 23
    # Conv0_up: spatial flip, then [kh,kw,in,out] -> [out,in,kh,kw].
    w = syn["16x16/Conv0_up/weight"]
    np.testing.assert_array_equal(
        st["synthesis.b16.conv0.weight"], w[::-1, ::-1].transpose(3, 2, 0, 1)
    )
    np.testing.assert_array_equal(
        st["synthesis.b16.conv1.weight"], syn["16x16/Conv1/weight"].transpose(3, 2, 0, 1)
    )
    np.testing.assert_array_equal(
        st["synthesis.b8.conv1.affine.bias"], syn["8x8/Conv1/mod_bias"] + 1
    )
    np.testing.assert_array_equal(
        st["synthesis.b8.conv1.affine.weight"], syn["8x8/Conv1/mod_weight"].T
    )
    np.testing.assert_array_equal(
        st["synthesis.b32.torgb.weight"], syn["32x32/ToRGB/weight"].transpose(3, 2, 0, 1)
    )
    np.testing.assert_array_equal(st["synthesis.b4.const"], syn["4x4/Const/const"][0])
    np.testing.assert_array_equal(st["synthesis.b4.conv1.noise_const"], syn["noise0"][0, 0])
    np.testing.assert_array_equal(st["synthesis.b16.conv0.noise_const"], syn["noise3"][0, 0])
    np.testing.assert_array_equal(st["synthesis.b16.conv1.noise_const"], syn["noise4"][0, 0])
    np.testing.assert_array_equal(st["mapping.fc1.weight"], mapping["Dense1/weight"].T)
    np.testing.assert_array_equal(st["mapping.w_avg"], dict(Gs["variables"])["dlatent_avg"])
    assert st["synthesis.b8.conv0.noise_strength"].shape == ()
    d = specs["D"].state
    dv = dict(D["variables"])
    np.testing.assert_array_equal(
        d["b32.conv1.weight"], dv["32x32/Conv1_down/weight"].transpose(3, 2, 0, 1)
    )
    np.testing.assert_array_equal(
        d["b32.skip.weight"], dv["32x32/Skip/weight"].transpose(3, 2, 0, 1)
    )
    np.testing.assert_array_equal(d["b4.fc.weight"], dv["4x4/Dense0/weight"].T)
    np.testing.assert_array_equal(d["b4.out.bias"], dv["Output/bias"])
    assert all(v.dtype == np.float32 and v.flags.c_contiguous for v in st.values())


def test_tf1_unsupported_variants_are_refused_clearly():
    pkl, _ = tf1_fixture()
    G, D, Gs = safe_pickle.load_any(pkl.read_bytes(), str(pkl))
    from tf_stylegan2.legacy import tf1_pickle

    # A TF1 D whose Dense0 (nf(0) = min(fmap_base, fmap_max)) is wider than channels(4).
    wide = tf1_state(
        "D", "D_stylegan2", dict(D.state["static_kwargs"], fmap_max=512), D.state["variables"]
    )
    with pytest.raises(legacy.UnsupportedTF1Pickle, match="Dense0"):
        tf1_pickle.read_tf1_pickle((G, wide, Gs), "x.pkl")
    # Unknown build argument, unknown variable, configs A-D.
    odd = tf1_state("D", "D_stylegan2", dict(D.state["static_kwargs"], foo=1), D.state["variables"])
    with pytest.raises(legacy.UnsupportedTF1Pickle, match="foo=1"):
        tf1_pickle.read_tf1_pickle((G, odd, Gs), "x.pkl")
    extra = tf1_state(
        "D",
        "D_stylegan2",
        D.state["static_kwargs"],
        D.state["variables"] + [("LabelConcat/weight", np.zeros([2, 2], np.float32))],
    )
    with pytest.raises(legacy.UnsupportedTF1Pickle, match="LabelConcat"):
        tf1_pickle.read_tf1_pickle((G, extra, Gs), "x.pkl")
    sg1 = tf1_state("D", "D_basic", D.state["static_kwargs"], D.state["variables"])
    with pytest.raises(legacy.UnsupportedTF1Pickle, match="D_basic"):
        tf1_pickle.read_tf1_pickle((G, sg1, Gs), "x.pkl")
    mixed = tf1_state("D", "D_stylegan", D.state["static_kwargs"], D.state["variables"])
    with pytest.raises(legacy.UnsupportedTF1Pickle, match="32x32/FromRGB/weight"):
        tf1_pickle.read_tf1_pickle((G, mixed, Gs), "x.pkl")  # D_stylegan has FromRGB_lod{n}
    cond = tf1_state(
        "D", "D_stylegan2", dict(D.state["static_kwargs"], label_size=10), D.state["variables"]
    )
    with pytest.raises(legacy.UnsupportedTF1Pickle, match="conditional"):
        tf1_pickle.read_tf1_pickle((G, cond, Gs), "x.pkl")
    # mbstd_group_size present in static_kwargs is honoured.
    g8 = tf1_state(
        "D", "D_stylegan2", dict(D.state["static_kwargs"], mbstd_group_size=8), D.state["variables"]
    )
    spec = tf1_pickle.read_tf1_pickle((G, g8, Gs), "x.pkl")["D"]
    assert spec.init_kwargs["epilogue_kwargs"]["mbstd_group_size"] == 8


# ----------------------------------------------------------------------------
# Networks built from the pickles reproduce the official outputs.


@pytest.fixture(scope="module")
def tf1_nets():
    networks_or_skip()
    import tf_stylegan2

    pkl, _ = tf1_fixture()
    nets = tf_stylegan2.load_network(str(pkl))  # the public entry: .pkl -> legacy.load_pickle
    assert sorted(nets) == ["D", "G", "G_ema"]
    return nets


@pytest.mark.parametrize("key", ["G_ema", "G"])
def test_tf1_pickle_generator_outputs(tf1_nets, key):
    _, ref = tf1_fixture()
    G = tf1_nets[key]
    z = ref["z"]
    psis = [(100, 1.0), (70, 0.7)] if key == "G_ema" else [(100, 1.0)]
    for tag, psi in psis:
        ws = np.asarray(G.mapping(z, None, truncation_psi=psi))
        assert_close(ws, ref[f"{key}/ws_psi{tag:03d}"], f"{key} ws psi {psi}")
        img = G.synthesis(ref[f"{key}/ws_psi{tag:03d}"], noise_mode="const")
        assert_close(nchw(img), ref[f"{key}/img_psi{tag:03d}"], f"{key} img psi {psi}")
    if key == "G_ema":  # against the float64 TF1 re-implementation too
        assert_close(ws, ref["tf1ref64/G_ema/ws_psi070"], "ws vs tf1ref64")
        assert_close(nchw(img), ref["tf1ref64/G_ema/img_psi070"], "img vs tf1ref64")


def test_tf1_pickle_discriminator_uses_tf1_group_of_4(tf1_nets):
    _, ref = tf1_fixture()
    D = tf1_nets["D"]
    assert_rel(D(nhwc(ref["D/images"]), None), ref["D/logits"], "D logits batch 4")
    assert_rel(D(nhwc(ref["D/images8"]), None), ref["D/logits8_group4"], "D logits batch 8")
    assert_rel(D(nhwc(ref["D/images8"]), None), ref["tf1ref64/D/logits8_group4"], "vs tf1ref64")
    # legacy.py's whole-batch group gives other numbers; ours must not match them.
    err = np.max(
        np.abs(np.asarray(D(nhwc(ref["D/images8"]), None)) - ref["D/logits8_legacy_groupN"])
    )
    assert err > 5e-5


def test_ada_pickle_networks_reproduce_fixture_outputs():
    networks_or_skip()
    pkl, ref = ada_fixture()
    nets = legacy.load_pickle(pkl)
    G, D = nets["G_ema"], nets["D"]
    z = ref["in/z"]
    ws = np.asarray(G.mapping(z, None))
    assert_close(ws, ref["out/G_ema/ws"], "ws")
    assert_close(
        np.asarray(G.mapping(z, None, truncation_psi=0.7)), ref["out/G_ema/ws_psi0.7"], "ws psi 0.7"
    )
    assert_close(
        nchw(G.synthesis(ref["out/G_ema/ws"], noise_mode="const")),
        ref["out/G_ema/img_const"],
        "img",
    )
    assert_rel(D(nhwc(ref["in/real_img"]), None), ref["out/D/logits_real"], "D logits")
    ws_g = np.asarray(nets["G"].mapping(z, None))
    assert_close(ws_g, ref["out/G/ws"], "G ws")


# ----------------------------------------------------------------------------
# convert.py end to end.


def _convert(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, str(REPO / "convert.py"), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_convert_errors(tmp_path):
    from apps import cli, convert

    marker = tmp_path / "pwned"
    hostile = tmp_path / "hostile.pkl"
    hostile.write_bytes(pickle.dumps(Reduce(os.system, (touch_cmd(marker),))))
    text = tmp_path / "notes.pkl"
    text.write_text("not a pickle")
    other = tmp_path / "other.pkl"
    other.write_bytes(pickle.dumps([1, 2, 3]))
    dest = tmp_path / "out.keras"
    # In process: the library path of each user error.
    for source, message in [
        (text, "not a pickle"),
        (other, "unknown pickle content"),
        (hostile, "refused global"),
        (tmp_path / "missing.pkl", "no such file"),
    ]:
        with pytest.raises(cli.UserError, match=message) as err:
            convert.convert(source, dest)
        assert str(err.value).startswith(f"{source}: ")
    with pytest.raises(cli.UserError, match="must end in .keras"):
        convert.convert(other, tmp_path / "out.h5")
    # As a command: one line on stderr, exit status 2, nothing written, nothing run.
    for source, message in [
        (tmp_path / "missing.pkl", "no such file"),
        (hostile, f"refused global '{os.system.__module__}.system'"),
    ]:
        proc = _convert("--source", str(source), "--dest", str(dest))
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2, (source, proc.stderr)
        assert lines and lines[-1].startswith(f"error: {source}: ") and message in lines[-1], (
            proc.stderr
        )
    proc = _convert("--dest", str(dest))
    assert proc.returncode == 2 and "--source is required" in proc.stderr
    assert not dest.exists() and not marker.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hostile.pkl", "notes.pkl", "other.pkl"]


def test_convert_tf1_pickle_end_to_end(tmp_path):
    networks_or_skip()
    import tf_stylegan2

    pkl, ref = tf1_fixture()
    dest = tmp_path / "tf1.keras"
    proc = _convert("--source", str(pkl), "--dest", str(dest))
    assert proc.returncode == 0, proc.stderr
    assert dest.is_file() and "Wrote" in proc.stdout and "mbstd group 4" in proc.stdout
    assert [p.name for p in tmp_path.iterdir()] == ["tf1.keras"]
    nets = tf_stylegan2.load_network(str(dest))
    assert sorted(nets) == ["D", "G", "G_ema"]
    G = nets["G_ema"]
    img = G.synthesis(G.mapping(ref["z"], None, truncation_psi=0.7), noise_mode="const")
    assert_close(nchw(img), ref["G_ema/img_psi070"], "converted .keras img")
    assert_rel(
        nets["D"](nhwc(ref["D/images8"]), None), ref["D/logits8_group4"], "converted .keras D"
    )


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_numpy_values_read_at_every_protocol(protocol):
    values = {
        "a": np.arange(6, dtype=np.float32).reshape(2, 3),
        "f": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        "e": np.zeros((0, 4), np.int64),
        "s": np.float32(2.5),
        "set": {1, 2},
        "bytes": b"xy",
    }
    got = safe_pickle.load_any(pickle.dumps(values, protocol=protocol), "p.pkl")
    for key in ("a", "f", "e", "s"):
        assert np.asarray(got[key]).dtype == np.asarray(values[key]).dtype
        np.testing.assert_array_equal(got[key], values[key])
    assert got["set"] == {1, 2} and got["bytes"] == b"xy"


def test_torch_tensor_layouts():
    storage = np.arange(8, dtype=np.float32)
    t = torch_files.rebuild_tensor(storage, 1, (3, 2), (1, 3), False, None)  # a transposed view
    np.testing.assert_array_equal(t, np.arange(1, 7, dtype=np.float32).reshape(2, 3).T)
    assert t.flags.c_contiguous and t.flags.writeable
    scalar = torch_files.rebuild_tensor(storage, 7, (), (), False, None)
    assert scalar.shape == () and scalar == 7
    empty = torch_files.rebuild_tensor(storage, 0, (0, 5), (5, 1), False, None)
    assert empty.shape == (0, 5) and empty.dtype == np.float32
