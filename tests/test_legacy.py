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
from conftest import REPO, shared_path

from tf_stylegan2 import legacy
from fileio import restricted_pickle, torch_files
from tf_stylegan2.legacy import safe_pickle


def ada_fixture():
    folder = shared_path("fixtures", "ada_config_S")
    return folder / "config_S.pkl", np.load(folder / "fixture_S.npz")


def tf1_fixture():
    folder = shared_path("fixtures", "tf1_small")
    return folder / "tf1_small.pkl", np.load(folder / "tf1_small_expected.npz")


def networks_or_skip():
    try:
        from tf_stylegan2.legacy import ada_state  # noqa: F401
        from tf_stylegan2.networks import Generator  # noqa: F401
    except ImportError as e:
        pytest.skip(f"networks not importable yet: {e}")


def nchw(x):
    return np.transpose(np.asarray(x), (0, 3, 1, 2))


def nhwc(x):
    return np.transpose(np.asarray(x), (0, 2, 3, 1))


def assert_close(got, ref, what, rel=1e-4):
    """max |got - ref| <= rel * max(1, max |ref|) (issue 2's tolerance)."""
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    assert got.shape == ref.shape, what
    err = np.max(np.abs(got - ref))
    assert err <= rel * max(1.0, np.max(np.abs(ref))), f"{what}: max abs err {err:.3g}"


def assert_rel(got, ref, what, rel=1e-4):
    """Relative error on logits: max |got - ref| <= rel * max |ref|."""
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    assert got.shape == ref.shape, what
    err = np.max(np.abs(got - ref))
    assert err <= rel * np.max(np.abs(ref)), f"{what}: max abs err {err:.3g}"


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


def _tf1_state(name, func, static, variables, components=None):
    net = safe_pickle.TFNetworkState()
    net.__setstate__(
        dict(
            version=4,
            name=name,
            static_kwargs=static,
            components=components or {},
            build_module_src="# placeholder",
            build_func_name=func,
            variables=variables,
        )
    )
    return net


def test_tf1_unsupported_variants_are_refused_clearly():
    pkl, _ = tf1_fixture()
    G, D, Gs = safe_pickle.load_any(pkl.read_bytes(), str(pkl))
    from tf_stylegan2.legacy import tf1_pickle

    # A TF1 D whose Dense0 (nf(0) = min(fmap_base, fmap_max)) is wider than channels(4).
    wide = _tf1_state(
        "D", "D_stylegan2", dict(D.state["static_kwargs"], fmap_max=512), D.state["variables"]
    )
    with pytest.raises(legacy.UnsupportedTF1Pickle, match="Dense0"):
        tf1_pickle.read_tf1_pickle((G, wide, Gs), "x.pkl")
    # Unknown build argument, unknown variable, configs A-D.
    odd = _tf1_state(
        "D", "D_stylegan2", dict(D.state["static_kwargs"], foo=1), D.state["variables"]
    )
    with pytest.raises(legacy.UnsupportedTF1Pickle, match="foo=1"):
        tf1_pickle.read_tf1_pickle((G, odd, Gs), "x.pkl")
    extra = _tf1_state(
        "D",
        "D_stylegan2",
        D.state["static_kwargs"],
        D.state["variables"] + [("LabelConcat/weight", np.zeros([2, 2], np.float32))],
    )
    with pytest.raises(legacy.UnsupportedTF1Pickle, match="LabelConcat"):
        tf1_pickle.read_tf1_pickle((G, extra, Gs), "x.pkl")
    sg1 = _tf1_state("D", "D_stylegan", D.state["static_kwargs"], D.state["variables"])
    with pytest.raises(legacy.UnsupportedTF1Pickle, match="configs A-D"):
        tf1_pickle.read_tf1_pickle((G, sg1, Gs), "x.pkl")
    cond = _tf1_state(
        "D", "D_stylegan2", dict(D.state["static_kwargs"], label_size=10), D.state["variables"]
    )
    with pytest.raises(legacy.UnsupportedTF1Pickle, match="conditional"):
        tf1_pickle.read_tf1_pickle((G, cond, Gs), "x.pkl")
    # mbstd_group_size present in static_kwargs is honoured.
    g8 = _tf1_state(
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
# Hostile pickles: refused, and nothing they ask for runs.


class _Reduce:
    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _touch_cmd(marker):
    return f"touch {marker}"


def _hostile_pickles(marker):
    """(name, bytes, global the error must name)."""
    cmd = _touch_cmd(marker)
    out = [
        ("os.system", pickle.dumps(_Reduce(os.system, (cmd,))), f"{os.system.__module__}.system"),
        (
            "eval",
            pickle.dumps(_Reduce(eval, (f"__import__('os').system({cmd!r})",))),
            "builtins.eval",
        ),
        (
            "exec",
            pickle.dumps({"G": _Reduce(exec, (f"import os; os.system({cmd!r})",))}),
            "builtins.exec",
        ),
        # getattr(__import__('os'), 'system')('touch ...') by hand, protocol 0.
        (
            "getattr",
            b"cbuiltins\ngetattr\n(cbuiltins\n__import__\n(Vos\ntRVsystem\ntR(V"
            + cmd.encode()
            + b"\ntR.",
            "builtins.getattr",
        ),
        (
            "subprocess",
            pickle.dumps(_Reduce(subprocess.call, (["touch", str(marker)],))),
            "subprocess.call",
        ),
        # a torch storage whose embedded bytes are themselves a hostile pickle
        (
            "storage",
            b"\x80\x04ctorch.storage\n_load_from_bytes\nC"
            + bytes([len(p := pickle.dumps(_Reduce(os.system, (cmd,)), protocol=2))])
            + p
            + b"\x85R.",
            "system",
        ),
    ]
    return out


@pytest.mark.parametrize("case", range(6))
def test_hostile_pickle_is_refused_and_not_run(tmp_path, case):
    marker = tmp_path / "pwned"
    name, data, named = _hostile_pickles(marker)[case]
    path = tmp_path / f"{name}.pkl"
    path.write_bytes(data)
    with pytest.raises(legacy.PickleRefusedError) as err:
        legacy.read_network_pickle(path)
    assert "refused global" in str(err.value) and named in str(err.value), str(err.value)
    assert str(path) in str(err.value)
    assert not marker.exists()


def _persistent_pickle(class_name, src, state):
    meta = dict(type="class", version=6, module_src=src, class_name=class_name, state=state)
    body = pickle.dumps(meta, protocol=4)
    # dict(G=torch_utils.persistence._reconstruct_persistent_obj(meta))
    return (
        b"\x80\x04}\x8c\x01G\x8c\x17torch_utils.persistence\x8c\x1b_reconstruct_persistent_obj\x93"
        + body[2:-1]
        + b"\x85Rs."
    )


def test_persistence_source_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    src = f"import os\nos.system({_touch_cmd(marker)!r})\nclass Generator: pass\n"
    path = tmp_path / "persist.pkl"
    path.write_bytes(
        _persistent_pickle("Generator", src, {"_parameters": {}, "_buffers": {}, "_modules": {}})
    )
    with pytest.raises(legacy.LegacyFormatError, match="not a StyleGAN2 network"):
        legacy.read_network_pickle(path)
    path.write_bytes(_persistent_pickle("Evil", src, {}))
    with pytest.raises(legacy.LegacyFormatError, match="'G' is a Evil"):
        legacy.read_network_pickle(path)
    assert not marker.exists()


def test_tf1_build_module_src_is_never_executed(tmp_path):
    pkl, _ = tf1_fixture()
    marker = tmp_path / "pwned"
    data = pkl.read_bytes()
    placeholder = safe_pickle.load_any(data, "x")[0].state["build_module_src"]
    evil = f"import os\nos.system({_touch_cmd(marker)!r})\n"
    evil = evil.ljust(len(placeholder), "#")[: len(placeholder)]
    assert len(evil) == len(placeholder) and data.count(placeholder.encode()) >= 1
    path = tmp_path / "tf1.pkl"
    path.write_bytes(data.replace(placeholder.encode(), evil.encode()))
    specs = legacy.read_network_pickle(path)
    assert set(specs) == {"G", "D", "G_ema"} and not marker.exists()


def test_hostile_arrays_are_refused(tmp_path):
    # numpy object array (its items would be unpickled objects)
    obj_array = pickle.dumps(np.array([1, "x"], dtype=object))
    with pytest.raises(legacy.PickleRefusedError, match="not numeric"):
        safe_pickle.load_any(obj_array, "obj.pkl")
    # a torch tensor view past the end of its storage must not read foreign memory
    storage = np.zeros(4, np.float32)
    with pytest.raises(legacy.PickleRefusedError, match="overruns"):
        torch_files.rebuild_tensor(storage, 2, (2, 2), (2, 1), False, None)
    with pytest.raises(legacy.PickleRefusedError, match="numpy array data"):
        arr = restricted_pickle._np_reconstruct(restricted_pickle._NDARRAY, (0,), b"b")
        arr.__setstate__((1, (100,), restricted_pickle._DtypeSpec("f4"), False, b"1234"))


def test_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        legacy.read_network_pickle(tmp_path / "missing.pkl")
    text = tmp_path / "text.pkl"
    text.write_text("hello")
    with pytest.raises(legacy.LegacyFormatError, match="not a pickle"):
        legacy.read_network_pickle(text)
    trunc = tmp_path / "trunc.pkl"
    trunc.write_bytes(pickle.dumps({"G": list(range(100))})[:30])
    with pytest.raises(legacy.LegacyFormatError, match="not a readable pickle"):
        legacy.read_network_pickle(trunc)
    other = tmp_path / "other.pkl"
    other.write_bytes(pickle.dumps({"a": [1, 2]}))
    with pytest.raises(legacy.LegacyFormatError, match="unknown pickle content"):
        legacy.read_network_pickle(other)


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
    from apps import common, convert

    marker = tmp_path / "pwned"
    hostile = tmp_path / "hostile.pkl"
    hostile.write_bytes(pickle.dumps(_Reduce(os.system, (_touch_cmd(marker),))))
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
        with pytest.raises(common.UserError, match=message) as err:
            convert.convert(source, dest)
        assert str(err.value).startswith(f"{source}: ")
    with pytest.raises(common.UserError, match="must end in .keras"):
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


# ----------------------------------------------------------------------------
# Other TF1 architectures: variable lists built from spec §4's shape rules.


def _tf1_g_variables(rng, res, fmap_base, fmap_max, arch, z_dim, w_dim, layers):
    def nf(stage):
        return int(np.clip(int(fmap_base / 2.0**stage), 1, fmap_max))

    log2 = int(np.log2(res))
    num_ws = 2 * log2 - 2
    rnd = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    mapping = []
    for i in range(layers):
        mapping += [
            (f"Dense{i}/weight", rnd(z_dim if i == 0 else w_dim, w_dim) * 100),
            (f"Dense{i}/bias", rnd(w_dim)),
        ]
    syn = [
        (f"noise{i}", rnd(1, 1, 2 ** ((i + 5) // 2), 2 ** ((i + 5) // 2)))
        for i in range(num_ws - 1)
    ]
    syn.append(("4x4/Const/const", rnd(1, nf(1), 4, 4)))

    def layer(scope, cin, cout, k=3, noise=True):
        out = [
            (f"{scope}/weight", rnd(k, k, cin, cout)),
            (f"{scope}/mod_weight", rnd(w_dim, cin)),
            (f"{scope}/mod_bias", rnd(cin) * 0.5),
        ]
        if noise:
            out.append((f"{scope}/noise_strength", np.float32(rng.standard_normal() * 0.5)))
        return out + [(f"{scope}/bias", rnd(cout) * 0.2)]

    syn += layer("4x4/Conv", nf(1), nf(1))
    if arch == "skip":
        syn += layer("4x4/ToRGB", nf(1), 3, k=1, noise=False)
    for r in range(3, log2 + 1):
        R = f"{2**r}x{2**r}"
        syn += layer(f"{R}/Conv0_up", nf(r - 2), nf(r - 1)) + layer(
            f"{R}/Conv1", nf(r - 1), nf(r - 1)
        )
        if arch == "resnet":
            syn.append((f"{R}/Skip/weight", rnd(1, 1, nf(r - 2), nf(r - 1))))
        if arch == "skip" or r == log2:
            syn += layer(f"{R}/ToRGB", nf(r - 1), 3, k=1, noise=False)
    own = [("lod", np.float32(0)), ("dlatent_avg", rnd(w_dim))]
    static = dict(
        num_channels=3,
        resolution=res,
        label_size=0,
        fmap_base=fmap_base,
        fmap_max=fmap_max,
        latent_size=z_dim,
        dlatent_size=w_dim,
        mapping_layers=layers,
        mapping_fmaps=w_dim,
        architecture=arch,
    )
    comps = {
        "synthesis": _tf1_state("G_synthesis", "G_synthesis_stylegan2", static, syn),
        "mapping": _tf1_state(
            "G_mapping", "G_mapping", dict(static, dlatent_broadcast=num_ws), mapping
        ),
    }
    return _tf1_state("Gs", "G_main", static, own, comps)


def _tf1_d_variables(rng, res, fmap_base, fmap_max, arch):
    def nf(stage):
        return int(np.clip(int(fmap_base / 2.0**stage), 1, fmap_max))

    log2 = int(np.log2(res))
    rnd = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    out = []
    for r in range(log2, 2, -1):
        R = f"{2**r}x{2**r}"
        if arch == "skip" or r == log2:
            out += [
                (f"{R}/FromRGB/weight", rnd(1, 1, 3, nf(r - 1))),
                (f"{R}/FromRGB/bias", rnd(nf(r - 1))),
            ]
        out += [
            (f"{R}/Conv0/weight", rnd(3, 3, nf(r - 1), nf(r - 1))),
            (f"{R}/Conv0/bias", rnd(nf(r - 1))),
            (f"{R}/Conv1_down/weight", rnd(3, 3, nf(r - 1), nf(r - 2))),
            (f"{R}/Conv1_down/bias", rnd(nf(r - 2))),
        ]
        if arch == "resnet":
            out.append((f"{R}/Skip/weight", rnd(1, 1, nf(r - 1), nf(r - 2))))
    if arch == "skip":
        out += [("4x4/FromRGB/weight", rnd(1, 1, 3, nf(1))), ("4x4/FromRGB/bias", rnd(nf(1)))]
    out += [
        ("4x4/Conv/weight", rnd(3, 3, nf(1) + 1, nf(1))),
        ("4x4/Conv/bias", rnd(nf(1))),
        ("4x4/Dense0/weight", rnd(16 * nf(1), nf(0))),
        ("4x4/Dense0/bias", rnd(nf(0))),
        ("Output/weight", rnd(nf(0), 1)),
        ("Output/bias", rnd(1)),
    ]
    static = dict(
        num_channels=3,
        resolution=res,
        label_size=0,
        fmap_base=fmap_base,
        fmap_max=fmap_max,
        architecture=arch,
    )
    return _tf1_state("D", "D_stylegan2", static, out)


@pytest.mark.parametrize("g_arch,d_arch", [("orig", "skip"), ("resnet", "orig")])
def test_tf1_other_architectures_load_completely(g_arch, d_arch):
    networks_or_skip()
    from tf_stylegan2.legacy import tf1_pickle

    rng = np.random.default_rng(7)
    Gs = _tf1_g_variables(rng, 16, 64, 32, g_arch, 32, 32, 2)
    D = _tf1_d_variables(rng, 16, 64, 32, d_arch)
    specs = tf1_pickle.read_tf1_pickle((Gs, D, Gs), "synthetic.pkl")
    assert specs["G"].init_kwargs["synthesis_kwargs"]["architecture"] == g_arch
    assert specs["D"].init_kwargs["architecture"] == d_arch
    # apply_ada_state matches every variable both ways and checks every shape.
    G = legacy.build_network(specs["G_ema"])
    Dn = legacy.build_network(specs["D"])
    z = np.random.RandomState(0).randn(4, 32).astype(np.float32)
    img = np.asarray(G(z, None, noise_mode="const"))
    assert img.shape == (4, 16, 16, 3) and np.all(np.isfinite(img))
    logits = np.asarray(Dn(img, None))
    assert logits.shape == (4, 1) and np.all(np.isfinite(logits))
    np.testing.assert_array_equal(
        np.asarray(G.mapping.w_avg), dict(Gs.state["variables"])["dlatent_avg"]
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
