"""Metric weights: lookup order, clear errors, and the restricted .pth reader behind the
converters."""

import os

import numpy as np
import pytest

from fileio import torch_files

from conftest import shared_path

os.environ["TF_STYLEGAN2_NO_DOWNLOAD"] = "1"  # nothing downloads in tests

from metrics import (  # noqa: E402
    weight_conversion,
    weights,
)

# ----------------------------------------------------------------------------
# Weights lookup and the torch-free .pth reader.


def test_missing_weights_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TF_STYLEGAN2_WEIGHTS", str(tmp_path / "env"))
    monkeypatch.setenv("TF_STYLEGAN2_CACHE", str(tmp_path / "cache"))
    with pytest.raises(weights.MissingWeightsError) as info:
        weights.find_weights("inception_fid", weights_dir=tmp_path / "flag")
    msg = str(info.value)
    assert "missing weights file inception-2015-12-05_fid_pool3.npz" in msg
    assert "--weights-dir" in msg and "$TF_STYLEGAN2_WEIGHTS" in msg
    for folder in ("flag", "env", "cache"):
        assert str(tmp_path / folder) in msg
    assert "downloads disabled" in msg
    with pytest.raises(weights.MissingWeightsError, match="vgg16_lpips_v0.1_keras_layout.npz"):
        from metrics.lpips import LPIPS

        LPIPS(weights_dir=tmp_path)


def test_weights_lookup_order(tmp_path, monkeypatch):
    for d in ("flag", "env", "cache/weights"):  # the cache root's weights/ folder
        (tmp_path / d).mkdir(parents=True)
        (tmp_path / d / "lpips_v0.1_vgg.pth").write_bytes(b"x")
    monkeypatch.setenv("TF_STYLEGAN2_WEIGHTS", str(tmp_path / "env"))
    monkeypatch.setenv("TF_STYLEGAN2_CACHE", str(tmp_path / "cache"))
    assert (
        weights.find_weights("lpips_lin_vgg", tmp_path / "flag")
        == tmp_path / "flag" / "lpips_v0.1_vgg.pth"
    )
    assert weights.find_weights("lpips_lin_vgg") == tmp_path / "env" / "lpips_v0.1_vgg.pth"
    monkeypatch.delenv("TF_STYLEGAN2_WEIGHTS")
    assert weights.find_weights("lpips_lin_vgg") == tmp_path / "cache/weights/lpips_v0.1_vgg.pth"


def test_read_pth_lpips_files():
    state = torch_files.read_pth(shared_path("weights", "lpips_v0.1_vgg.pth"))
    npz = np.load(shared_path("weights", "vgg16_lpips_v0.1_keras_layout.npz"))
    assert sorted(state) == [f"lin{k}.model.1.weight" for k in range(5)]
    for k in range(5):
        np.testing.assert_array_equal(
            state[f"lin{k}.model.1.weight"].transpose(2, 3, 1, 0), npz[f"lin{k}/kernel"]
        )
    alex = torch_files.read_pth(shared_path("weights", "lpips_v0.1_alex.pth"))
    assert [alex[f"lin{k}.model.1.weight"].shape[1] for k in range(5)] == [64, 192, 384, 256, 256]


def test_read_pth_zip_format(tmp_path):
    """The torch>=1.6 zip layout, written here without torch (archive/data.pkl + archive/data/N)."""
    import pickle
    import zipfile

    class Writer(pickle.Pickler):
        def persistent_id(self, obj):
            return obj[1] if isinstance(obj, tuple) and obj and obj[0] == "__storage__" else None

    w = np.arange(12, dtype=np.float32).reshape(3, 4)
    b = np.array([1.5, -2.0], np.float32)

    # Build data.pkl with pickle opcodes equivalent to torch's output, via a small shim module.
    import sys
    import types

    torch_mod = types.ModuleType("torch")
    utils_mod = types.ModuleType("torch._utils")

    class FloatStorage:
        pass

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called while writing")

    FloatStorage.__module__, FloatStorage.__qualname__ = "torch", "FloatStorage"
    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = (
        "torch._utils",
        "_rebuild_tensor_v2",
    )
    torch_mod.FloatStorage, torch_mod._utils = FloatStorage, utils_mod
    utils_mod._rebuild_tensor_v2 = _rebuild_tensor_v2

    class Tensor:
        def __init__(self, key, shape, stride, offset=0):
            self.args = (
                ("__storage__", ("storage", FloatStorage, key, "cpu", 0)),
                offset,
                shape,
                stride,
                False,
                {},
            )

        def __reduce__(self):
            return (_rebuild_tensor_v2, self.args)

    sys.modules.setdefault("torch", torch_mod)
    sys.modules.setdefault("torch._utils", utils_mod)
    try:
        import collections
        import io

        state = collections.OrderedDict(
            [
                ("fc.weight", Tensor("0", (4, 3), (1, 4))),  # a transposed view of storage 0
                ("fc.bias", Tensor("1", (2,), (1,))),
            ]
        )
        buf = io.BytesIO()
        Writer(buf, protocol=2).dump(state)
    finally:
        if sys.modules.get("torch") is torch_mod:
            del sys.modules["torch"], sys.modules["torch._utils"]
    path = tmp_path / "x.pth"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", buf.getvalue())
        zf.writestr("archive/byteorder", "little")
        zf.writestr("archive/data/0", w.tobytes())
        zf.writestr("archive/data/1", b.tobytes())
    out = torch_files.read_pth(path)
    np.testing.assert_array_equal(out["fc.weight"], w.T)
    np.testing.assert_array_equal(out["fc.bias"], b)


def test_read_pth_refuses_code(tmp_path):
    """A zip .pth whose data.pkl runs `touch` when unpickled, given to the metrics weight converter
    (pytorch-fid .pth -> our Inception arrays): refused, nothing runs."""
    import pickle
    import zipfile

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pth"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps({"w": Evil()}, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="refused global 'posix.system'"):
        weight_conversion.load_inception_arrays(path)
    assert not marker.exists()


def test_pytorch_fid_name_mapping_covers_all_blocks():
    """pytorch-fid's .pth (torchvision names) -> our npz names: all 94 conv blocks, no leftovers."""
    npz = np.load(shared_path("weights", "inception-2015-12-05_fid_pool3.npz"))
    inverse = {}
    for torch_block, tf_block in weight_conversion._FID_BLOCKS.items():
        if torch_block.startswith("Conv2d"):
            inverse[tf_block] = torch_block
            continue
        for torch_branch, tf_branch in weight_conversion._FID_BRANCHES[
            weight_conversion._block_type(torch_block)
        ].items():
            inverse[f"{tf_block}.{tf_branch}"] = f"{torch_block}.{torch_branch}"
    prefixes = sorted({k.rsplit(".", 1)[0] for k in npz.files})
    assert len(prefixes) == 94 and set(prefixes) == set(inverse)
    state = {"fc.weight": np.zeros([1008, 2048], np.float32), "fc.bias": np.zeros(1008, np.float32)}
    for prefix in prefixes:
        t = inverse[prefix]
        state[f"{t}.conv.weight"] = npz[f"{prefix}.weight"]
        state[f"{t}.bn.weight"] = np.ones_like(npz[f"{prefix}.beta"])
        state[f"{t}.bn.bias"] = npz[f"{prefix}.beta"]
        state[f"{t}.bn.running_mean"] = npz[f"{prefix}.mean"]
        state[f"{t}.bn.running_var"] = npz[f"{prefix}.var"]
    out = weight_conversion.pytorch_fid_to_npz(state)
    assert sorted(out) == sorted(npz.files + ["fc.weight", "fc.bias"])
    for key in npz.files:
        np.testing.assert_array_equal(out[key], npz[key])


def test_malicious_legacy_pth_header_runs_nothing(tmp_path):
    """A legacy .pth whose header pickles carry os.system: the metrics weight reader refuses it."""
    import os
    import pickle

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    for position in range(3):  # magic, protocol version, sys info
        header = [torch_files.LEGACY_MAGIC, 1001, {"little_endian": True}]
        header[position] = Evil()
        path = tmp_path / f"evil{position}.pth"
        with open(path, "wb") as f:
            for item in header:
                pickle.dump(item, f)
        with pytest.raises(pickle.UnpicklingError, match="refused global 'posix.system'"):
            torch_files.read_pth(path)
        assert not marker.exists()
