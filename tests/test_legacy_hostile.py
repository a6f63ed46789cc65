"""Hostile pickles and torch files: refused with a clear message, and nothing they ask for runs."""

import os
import pickle
import subprocess

import numpy as np
import pytest

from fileio import restricted_pickle, torch_files
from tf_stylegan2 import legacy
from tf_stylegan2.legacy import safe_pickle

from harness import Reduce, tf1_fixture, touch_cmd

# ----------------------------------------------------------------------------
# Hostile pickles: refused, and nothing they ask for runs.


def _hostile_pickles(marker):
    """(name, bytes, global the error must name)."""
    cmd = touch_cmd(marker)
    out = [
        ("os.system", pickle.dumps(Reduce(os.system, (cmd,))), f"{os.system.__module__}.system"),
        (
            "eval",
            pickle.dumps(Reduce(eval, (f"__import__('os').system({cmd!r})",))),
            "builtins.eval",
        ),
        (
            "exec",
            pickle.dumps({"G": Reduce(exec, (f"import os; os.system({cmd!r})",))}),
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
            pickle.dumps(Reduce(subprocess.call, (["touch", str(marker)],))),
            "subprocess.call",
        ),
        # a torch storage whose embedded bytes are themselves a hostile pickle
        (
            "storage",
            b"\x80\x04ctorch.storage\n_load_from_bytes\nC"
            + bytes([len(p := pickle.dumps(Reduce(os.system, (cmd,)), protocol=2))])
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
    src = f"import os\nos.system({touch_cmd(marker)!r})\nclass Generator: pass\n"
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
    evil = f"import os\nos.system({touch_cmd(marker)!r})\n"
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
