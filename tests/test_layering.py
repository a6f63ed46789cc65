"""The layering rule of DESIGN.md, checked by parsing every import in the repo."""

import ast
import pathlib

REPO = pathlib.Path(__file__).resolve().parents[1]

# package -> repo packages it may import (besides itself).
ALLOWED = {
    "fileio": set(),  # restricted pickles, torch files, images: the readers of user files
    "tf_stylegan2": {
        "tf_stylegan2.networks",
        "tf_stylegan2.legacy",
        "fileio",
    },  # __init__, snapshot
    "tf_stylegan2.ops": set(),
    "tf_stylegan2.layers": {"tf_stylegan2.ops"},
    "tf_stylegan2.networks": {"tf_stylegan2.ops", "tf_stylegan2.layers"},
    "tf_stylegan2.legacy": {
        "tf_stylegan2.ops",
        "tf_stylegan2.layers",
        "tf_stylegan2.networks",
        "fileio",
    },
    "dataset_tool.records": set(),
    "dataset_tool": {"dataset_tool.records", "fileio"},
    "metrics": {"dataset_tool.records", "fileio"},
    "training": {"tf_stylegan2", "dataset_tool", "metrics", "fileio"},
}
TOP = ("fileio", "tf_stylegan2", "dataset_tool", "training", "metrics", "apps")


SCRIPTS = ("training.run", "metrics.run", "dataset_tool.__main__")  # scripts in packages: anything


def _owner(module):
    """The most specific key of ALLOWED that `module` belongs to (None for scripts)."""
    if module in SCRIPTS:
        return None
    best = None
    for key in ALLOWED:
        if module == key or module.startswith(key + "."):
            if best is None or len(key) > len(best):
                best = key
    return best


def _imports(path, module):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module
            for alias in node.names:  # `from pkg import mod` is judged by pkg.mod
                yield f"{name}.{alias.name}"


def _repo_modules():
    for top in TOP:
        for path in sorted((REPO / top).rglob("*.py")):
            rel = path.relative_to(REPO).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield path, ".".join(parts)


def _allowed(owner, target):
    if target == owner or target.startswith(owner + "."):
        return True
    if owner.startswith("tf_stylegan2") and target == "tf_stylegan2":
        return False
    for ok in ALLOWED[owner]:
        if target == ok or target.startswith(ok + "."):
            return True
    return False


def test_layering_rule():
    bad = []
    for path, module in _repo_modules():
        owner = _owner(module)
        if owner is None:  # apps/ and scripts may import anything
            continue
        for target in _imports(path, module):
            if target.split(".")[0] not in TOP:
                continue
            if target.split(".")[0] == "apps" or not _allowed(owner, target):
                bad.append(f"{path.relative_to(REPO)} imports {target}")
    assert not bad, "layering rule of DESIGN.md broken:\n" + "\n".join(bad)


def test_every_library_module_has_an_owner():
    """No library module escapes the rule (tf_stylegan2/__init__.py and snapshot.py included)."""
    orphans = [
        str(p.relative_to(REPO))
        for p, m in _repo_modules()
        if _owner(m) is None and m not in SCRIPTS and not m.startswith("apps")
    ]
    assert orphans == []
    assert _owner("tf_stylegan2") == "tf_stylegan2" == _owner("tf_stylegan2.snapshot")


def test_flags_only_in_scripts():
    """absl.flags in scripts and apps/ only, in every library package."""
    bad = []
    for path, module in _repo_modules():
        if _owner(module) is None:  # a script
            continue
        for target in _imports(path, module):
            if target == "absl.flags" or target.startswith("absl.flags."):
                bad.append(str(path.relative_to(REPO)))
    assert not bad, f"absl.flags used in the library: {bad}"


def test_checker_catches_a_violation(tmp_path):
    src = tmp_path / "x.py"
    src.write_text("from training import loop\nimport metrics.fid\n")
    found = list(_imports(src, "tf_stylegan2.ops.x"))
    assert "training.loop" in found and "metrics.fid" in found
    assert not _allowed("tf_stylegan2.ops", "training.loop")
    assert not _allowed("tf_stylegan2.networks", "metrics.fid")
    assert _allowed("tf_stylegan2.networks", "tf_stylegan2.layers.conv")


def test_no_python_file_over_500_lines():
    """STYLE: one concept per file, none over 500 lines (library, scripts, tests, benchmarks)."""
    long = []
    for path in sorted(REPO.glob("*.py")) + sorted(
        p for top in TOP + ("tests", "benchmarks") for p in (REPO / top).rglob("*.py")
    ):
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > 500:
            long.append(f"{path.relative_to(REPO)} ({n})")
    assert not long, f"over 500 lines: {', '.join(long)}"


PRIVATE = ("tensorflow.python", "keras.src", "_pywrap_")


def _private_uses(path, module):
    """Imports of TensorFlow's or Keras's private modules, and strings naming them (a module
    loaded by path)."""
    found = [t for t in _imports(path, module) if t.startswith(PRIVATE[:2])]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if any(p in node.value or p.replace(".", "/") in node.value for p in PRIVATE):
                found.append(repr(node.value))
    return found


def test_no_private_tensorflow_or_keras_modules():
    """The Keras contract: public tf.* and keras.* APIs only, in every module and script."""
    bad = []
    for path in sorted(REPO.glob("*.py")) + [p for p, _ in _repo_modules()]:
        module = ".".join(path.relative_to(REPO).with_suffix("").parts)
        bad += [f"{path.relative_to(REPO)}: {u}" for u in _private_uses(path, module)]
    assert not bad, "private TensorFlow/Keras modules used:\n" + "\n".join(bad)


def test_private_checker_catches_both_forms(tmp_path):
    src = tmp_path / "x.py"
    src.write_text(
        "from tensorflow.python.ops import gen_nn_ops\n"
        "p = 'tensorflow/python/lib/io/_pywrap_record_io.so'\n"
    )
    found = _private_uses(src, "x")
    assert len(found) == 2 and "tensorflow.python.ops.gen_nn_ops" in found[0]
