"""Every command and flag shown in README.md and docs/ exists: code-block commands checked against
the command's own --helpfull; README links into docs/ resolve."""

import functools
import re
import shlex
import subprocess
import sys

import pytest

from conftest import REPO

SCRIPTS = {  # as the docs write them -> the file that runs
    "dataset_tool.py": "dataset_tool.py",
    "training/run.py": "training/run.py",
    "metrics/run.py": "metrics/run.py",
    "generate.py": "generate.py",
    "style_mixing.py": "style_mixing.py",
    "projector.py": "projector.py",
    "export.py": "export.py",
    "convert.py": "convert.py",
    "demo.py": "demo.py",
}
DATASET_COMMANDS = {
    "create_from_images",
    "create_mnist",
    "create_fashion_mnist",
    "create_cifar10",
    "create_from_npz",
    "info",
    "display",
    "extract",
    "compare",
}
DOCS = [REPO / "README.md"] + sorted((REPO / "docs").glob("*.md"))


@functools.lru_cache(maxsize=None)
def _flags(script):
    """(flag names, boolean flag names) that `script --helpfull` lists (booleans with --no
    forms)."""
    proc = subprocess.run(
        [sys.executable, script, "--helpfull"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-1000:]
    names, booleans = {"help", "helpfull", "helpshort"}, {"help", "helpfull", "helpshort"}
    for m in re.finditer(r"^\s+--(\[no\])?([\w-]+):", proc.stdout, re.M):
        names.add(m.group(2))
        if m.group(1):
            names.add("no" + m.group(2))
            booleans.update([m.group(2), "no" + m.group(2)])
    assert len(names) > 10, f"{script} --helpfull lists too few flags"
    return frozenset(names), frozenset(booleans)


def _commands(text):
    """(line, script, args) for every `python <script> ...` line of a fenced code block,
    continuation lines (trailing backslash) joined."""
    for block in re.findall(r"```(?:bash|sh|console)?\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            m = re.search(r"(?:^|\s)(?:\S*/)?python3?\s+(\S+\.py)\b(.*)", line)
            if m and m.group(1) in SCRIPTS:
                yield line, m.group(1), shlex.split(m.group(2).replace("|", " "))


def _all_commands():
    found = []
    for path in DOCS:
        for line, script, args in _commands(path.read_text(encoding="utf-8")):
            found.append(pytest.param(path.name, line, script, args, id=f"{path.name}:{line[:50]}"))
    return found


def test_the_docs_show_commands():
    names = {p.values[2] for p in _all_commands()}
    assert set(SCRIPTS) - {"demo.py"} <= names, sorted(set(SCRIPTS) - names)


@pytest.mark.parametrize("doc,line,script,args", _all_commands())
def test_command_flags_exist(doc, line, script, args):
    known, booleans = _flags(SCRIPTS[script])
    positional, args = [], list(args)
    while args:
        arg = args.pop(0)
        if not arg.startswith("--") or len(arg) == 2:
            positional.append(arg)
            continue
        name = arg[2:].split("=")[0]
        assert name in known, f"{doc}: `{line}`: {script} has no flag --{name}"
        if "=" not in arg and name not in booleans and args:
            args.pop(0)  # the flag's value
    if script == "dataset_tool.py":
        assert positional and positional[0] in DATASET_COMMANDS, f"{doc}: `{line}`: unknown command"
    elif script == "metrics/run.py":
        assert (
            not positional
            or positional == ["train-classifier"]
            or (positional[0] in ("fid", "kid") and len(positional) == 3)
        ), line
    else:
        assert not positional, (
            f"{doc}: `{line}`: {script} takes no positional arguments {positional}"
        )


def _links(path):
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)  # not in code
    return re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)


def test_readme_links_resolve():
    links = _links(REPO / "README.md")
    local = [link for link in links if not re.match(r"https?:", link)]
    assert local, "README links into docs/"
    for link in local:
        assert (REPO / link).exists(), f"README.md links to missing {link}"
    for path in sorted((REPO / "docs").glob("*.md")):
        for link in _links(path):
            if not re.match(r"https?:", link):
                assert (path.parent / link).exists(), f"{path.name} links to missing {link}"
