"""dataset_tool on bad input: one line naming the file or flag, exit status 2, nothing
half-written."""

import json
import os
import pickle
import subprocess

import numpy as np
import PIL.Image
import pytest

from dataset_tool import records

from conftest import REPO
from dataset_helpers import TOOL, read_level, run_tool

# ----------------------------------------------------------------------------
# Bad input: one line naming the file, exit status 2, nothing left in (or beside) DATA_DIR.


def _bad_case(tmp_path, name):
    src = tmp_path / name
    src.mkdir()
    rng = np.random.RandomState(0)

    def img(fn, shape, mode=None):
        PIL.Image.fromarray(rng.randint(0, 255, shape, np.uint8), mode).save(src / fn)

    if name == "empty":
        (src / "notes.txt").write_text("no images here")
    elif name == "corrupt":
        img("a.png", (8, 8, 3))
        (src / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    elif name == "mixed_sizes":
        img("a.png", (8, 8, 3))
        img("b.png", (16, 16, 3))
    elif name == "non_square":
        img("a.png", (8, 16, 3))
    elif name == "non_pow2":
        img("a.png", (12, 12, 3))
    elif name == "mixed_channels":
        img("a.png", (8, 8, 3))
        img("b.png", (8, 8))
    else:
        img("a.png", (8, 8, 3))
        img("b.png", (8, 8, 3))
    return src


BAD = [
    ("missing", [], "{src}: no such directory"),
    ("empty", [], "{src}: no images found"),
    ("corrupt", [], "{src}/b.png: unreadable or corrupt image"),
    ("mixed_sizes", [], "{src}/b.png: size 16x16 differs from 8x8 of {src}/a.png"),
    ("non_square", [], "{src}/a.png: image is 16x8, not square"),
    ("non_pow2", [], "{src}/a.png: resolution 12x12 is not a power of two"),
    ("mixed_channels", [], "{src}/b.png: 1 channel(s) but {src}/a.png has 3"),
    (
        "unknown_label",
        ["--labels", "{tmp}/labels.json"],
        "{tmp}/labels.json: no label for image {src}/b.png",
    ),
    ("bad_label", ["--labels", "{tmp}/labels.csv"], "{tmp}/labels.csv: unknown label -3"),
    (
        "attribute_table",  # three label columns: was read as a 2-class set from the first one
        ["--labels", "{tmp}/attrs.csv"],
        "{tmp}/attrs.csv: row 1 has 4 columns; a labels CSV has two (`file,class`)",
    ),
    ("too_few", ["--shards", 4], "{src}: 2 images are too few for 4 shards"),
    ("not_empty", [], "{data}: directory is not empty (pass --overwrite to replace it)"),
]


@pytest.mark.parametrize("name,extra,message", BAD, ids=[b[0] for b in BAD])
def test_bad_input(tmp_path, name, extra, message):
    src = tmp_path / name if name == "missing" else _bad_case(tmp_path, name)
    data = tmp_path / "out" / "DATA"
    data.mkdir(parents=True)
    (tmp_path / "labels.json").write_text(json.dumps({"a.png": 1}))
    (tmp_path / "labels.csv").write_text("a.png,-3\nb.png,1\n")
    (tmp_path / "attrs.csv").write_text("file,smiling,glasses,hat\na.png,1,0,1\nb.png,0,1,1,\n")
    if name == "not_empty":
        (data / "keep.txt").write_text("user data")
    fmt = {"src": src, "tmp": tmp_path, "data": data}
    rc, _, err = run_tool(
        "create_from_images",
        data,
        src,
        "--no-shuffle",
        "--workers",
        1,
        *[str(a).format(**fmt) for a in extra],
    )
    assert rc == 2
    assert len(err) == 1 and err[0].startswith("Error: " + message.format(**fmt)), err
    left = sorted(p.name for p in data.iterdir())
    assert left == (["keep.txt"] if name == "not_empty" else [])
    assert sorted(p.name for p in data.parent.iterdir()) == [
        "DATA"
    ]  # no temporary folder left beside it


def test_ignore_errors_skips_and_reports(tmp_path):
    src = _bad_case(tmp_path, "corrupt")
    rc, out, err = run_tool(
        "create_from_images", tmp_path / "d", src, "--ignore-errors", "--workers", 1
    )
    assert rc == 0 and not err
    assert "Added 1 images" in out and "Skipped 1 unreadable, corrupt or mismatched" in out
    assert "b.png" in out
    assert json.loads((tmp_path / "d" / "dataset.json").read_text())["skipped"] == 1


def test_every_bad_file_reported_and_mismatches_skippable(tmp_path):
    """Three bad files (a size, a channel count, a corrupt file) in one run: one Error line that
    counts them and lists the others; --ignore-errors skips all three; with --resolution given the
    hint is --transform."""
    src = tmp_path / "src"
    src.mkdir()
    for name, shape in (("a", (8, 8, 3)), ("b", (16, 16, 3)), ("c", (8, 8)), ("e", (8, 8, 3))):
        PIL.Image.fromarray(np.zeros(shape, np.uint8)).save(src / f"{name}.png")
    (src / "d.png").write_bytes(b"not a png")
    rc, out, err = run_tool(
        "create_from_images", tmp_path / "d", src, "--no-shuffle", "--workers", 1
    )
    assert rc == 2 and len(err) == 1, err
    assert err[0].startswith(
        f"Error: {src}/b.png: size 16x16 differs from 8x8 of {src}/a.png "
        f"(pass --resolution R to resize every image, or --ignore-errors"
    )
    assert err[0].endswith("(and 2 more bad image(s), listed above)")
    rc, out, err = run_tool(
        "create_from_images", tmp_path / "d", src, "--no-shuffle", "--workers", 1, "--ignore-errors"
    )
    assert (
        rc == 0 and "Added 2 images" in out and "Skipped 3 unreadable, corrupt or mismatched" in out
    )
    (tmp_path / "w").mkdir()
    for name, size in (("a", (8, 8)), ("b", (8, 16))):
        PIL.Image.fromarray(np.zeros(size + (3,), np.uint8)).save(tmp_path / "w" / f"{name}.png")
    rc, _, err = run_tool(
        "create_from_images",
        tmp_path / "d2",
        tmp_path / "w",
        "--no-shuffle",
        "--workers",
        1,
        "--resolution",
        8,
    )
    assert rc == 2 and "pass --transform center-crop or resize" in err[0], err


def test_overwrite_replaces_and_usage_errors(emoji, tmp_path):
    data = tmp_path / "d"
    data.mkdir()
    (data / "notes.txt").write_text("x")  # not a dataset: --overwrite must not touch it
    args = ("--max-images", 8, "--resolution", 16, "--workers", 1)
    rc, _, err = run_tool("create_from_images", data, emoji["flat"], "--overwrite", *args)
    assert rc == 2 and err == [
        f"Error: {data}: not a dataset folder (no dataset.json or "
        f"*-rXX.tfrecords); --overwrite replaces only a dataset, choose an "
        f"empty or new folder"
    ]
    assert (data / "notes.txt").read_text() == "x"
    (data / "notes.txt").unlink()
    assert run_tool("create_from_images", data, emoji["flat"], *args)[0] == 0
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO))
    proc = subprocess.run(
        TOOL
        + [
            "create_from_images",
            str(data),
            str(emoji["flat"]),
            "--overwrite",
            "--max-images",
            "4",
            "--resolution",
            "8",
            "--workers",
            "1",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"--overwrite: the dataset in {data} (" in proc.stderr  # says what it replaces
    assert records.describe(data)["resolution"] == 8 and records.describe(data)["count"] == 4
    rc, _, err = run_tool(
        "create_from_images", tmp_path / "e", emoji["flat"], "--shards", 3, "--gpus", 2
    )
    assert rc == 2 and err == ["Error: --shards 3 is not a multiple of --gpus 2"]
    rc, _, err = run_tool("nonsense")
    assert rc == 2 and err[0].startswith("Error: unknown command 'nonsense'")
    rc, _, err = run_tool("info", tmp_path / "nowhere")
    assert rc == 2 and err == [f"Error: {tmp_path / 'nowhere'}: no such dataset directory"]


@pytest.mark.parametrize("where", ["same", "parent", "inside"])
def test_output_folder_overlapping_the_source_is_refused(tmp_path, where):
    """DATA equal to IMAGES, containing it, or inside it: refused, even with --overwrite, and the
    images are all still there."""
    images = tmp_path / "photos" / "set"
    images.mkdir(parents=True)
    for i in range(4):
        PIL.Image.fromarray(np.full([8, 8, 3], 40 * i, np.uint8)).save(images / f"{i}.png")
    data = {"same": images, "parent": tmp_path / "photos", "inside": images / "data"}[where]
    rc, _, err = run_tool("create_from_images", data, images, "--overwrite", "--workers", 1)
    assert rc == 2 and err == [
        f"Error: {data}: the output folder is, contains or lies inside the "
        f"source {images}; choose an output folder outside it"
    ]
    assert sorted(p.name for p in images.iterdir()) == ["0.png", "1.png", "2.png", "3.png"]


def test_failed_build_removes_folders_it_made(tmp_path):
    src = _bad_case(tmp_path, "mixed_sizes")
    rc, _, err = run_tool(
        "create_from_images",
        tmp_path / "new" / "deeper" / "DATA",
        src,
        "--no-shuffle",
        "--workers",
        2,
    )
    assert rc == 2 and len(err) == 1 and "differs from 8x8" in err[0]
    assert not (tmp_path / "new").exists()


def test_16_bit_and_float_images_are_scaled(tmp_path):
    """A real 16-bit greyscale gradient PNG (mode I;16) and a float TIFF keep their range (they
    came out 99.6 % white when PIL's convert('L') clipped them)."""
    src = tmp_path / "src"
    src.mkdir()
    grad = (np.arange(16 * 16).reshape(16, 16) * 257).astype(np.uint16)  # 0 .. 65535
    PIL.Image.fromarray(grad).save(src / "a16.png")
    assert PIL.Image.open(src / "a16.png").mode in ("I;16", "I")
    PIL.Image.fromarray((grad / 65535.0).astype(np.float32), "F").save(src / "b.tiff")
    rc, _, err = run_tool("create_from_images", tmp_path / "d", src, "--no-shuffle", "--workers", 1)
    assert rc == 0, err
    images = read_level(tmp_path / "d", 4)  # [N, H, W, C]
    expected = np.rint(grad / 257.0).astype(np.uint8)
    assert images.shape == (2, 16, 16, 1)
    np.testing.assert_array_equal(images[0, ..., 0], expected)
    np.testing.assert_array_equal(images[1, ..., 0], expected)
    assert images.max() == 255 and (images == 255).mean() < 0.01


class _Evil:
    """Unpickling this runs `touch MARKER` (if the reader lets it)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_cifar_batch_runs_nothing(tmp_path):
    cdir = tmp_path / "cifar-10-batches-py"
    cdir.mkdir()
    marker = tmp_path / "pwned"
    for b in range(1, 6):
        batch = {"data": np.zeros([2, 3072], np.uint8), "labels": [0, 1], "x": _Evil(marker)}
        (cdir / f"data_batch_{b}").write_bytes(pickle.dumps(batch))
    rc, _, err = run_tool("create_cifar10", tmp_path / "cf", cdir, "--workers", 1)
    assert rc == 2 and "refused global 'posix.system'" in err[0], err
    assert not marker.exists()
