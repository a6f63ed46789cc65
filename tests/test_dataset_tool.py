"""dataset_tool: official byte-exact layout, pyramid arithmetic, shards, labels, manifest, commands, bad input.

Real data from ../shared/data: Fashion-MNIST IDX and twemoji (written out here as PNG folders).
"""

import gzip
import json
import os
import pathlib
import pickle
import subprocess
import sys

import numpy as np
import PIL.Image
import pytest

from conftest import REPO, shared_path
from dataset_tool import inspection, records, writers

TOOL = [sys.executable, str(REPO / "dataset_tool.py")]


def run_tool(*args, cwd=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO))
    proc = subprocess.run(TOOL + [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    return proc.returncode, proc.stdout, errors


def composite_white(rgba):
    alpha = rgba[..., 3:].astype(np.float64) / 255
    return np.rint(rgba[..., :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)


def official_reference(tfr_dir, images_chw, labels=None):
    """What NVIDIA's TFRecordExporter writes for these images (in this order): written with tf.train.Example."""
    import tensorflow as tf
    tfr_dir = pathlib.Path(tfr_dir)
    tfr_dir.mkdir(parents=True)
    prefix = str(tfr_dir / tfr_dir.name)
    res_log2 = int(np.log2(images_chw[0].shape[1]))
    out = [tf.io.TFRecordWriter(f"{prefix}-r{res_log2 - lod:02d}.tfrecords") for lod in range(res_log2 - 1)]
    for img in images_chw:
        for lod, w in enumerate(out):
            if lod:
                img = img.astype(np.float32)
                img = (img[:, 0::2, 0::2] + img[:, 0::2, 1::2] + img[:, 1::2, 0::2] + img[:, 1::2, 1::2]) * 0.25
            quant = np.rint(img).clip(0, 255).astype(np.uint8)
            ex = tf.train.Example(features=tf.train.Features(feature={
                "shape": tf.train.Feature(int64_list=tf.train.Int64List(value=quant.shape)),
                "data": tf.train.Feature(bytes_list=tf.train.BytesList(value=[quant.tobytes()]))}))
            w.write(ex.SerializeToString(deterministic=True))  # plain SerializeToString: map order per process
    for w in out:
        w.close()
    if labels is not None:
        with open(prefix + "-rxx.labels", "wb") as f:
            np.save(f, labels.astype(np.float32))


def read_level(data_dir, level):
    info = records.describe(data_dir)
    return np.stack(list(inspection.iter_images(info, level)))


def assert_same_files(dir_a, dir_b, pattern):
    a = sorted(p.name for p in pathlib.Path(dir_a).glob(pattern))
    assert a == sorted(p.name for p in pathlib.Path(dir_b).glob(pattern)) and a
    for name in a:
        assert (pathlib.Path(dir_a) / name).read_bytes() == (pathlib.Path(dir_b) / name).read_bytes(), name


# ----------------------------------------------------------------------------
# Shared inputs (written once per module).

@pytest.fixture(scope="module")
def emoji(tmp_path_factory):
    """96 twemoji, composited on white: a flat PNG folder, and the same in class sub-folders."""
    z = np.load(shared_path("data", "twemoji_64_rgba.npz"))
    idx = np.linspace(0, len(z["images"]) - 1, 96).astype(int)
    rgb = composite_white(z["images"][idx])
    classes = z["labels"][idx].astype(int)
    names = [str(n) for n in z["label_names"]]
    root = tmp_path_factory.mktemp("emoji")
    flat, by_class = root / "flat", root / "by_class"
    flat.mkdir()
    for i, img in enumerate(rgb):
        PIL.Image.fromarray(img).save(flat / f"e{i:04d}.png")
        (by_class / names[classes[i]]).mkdir(parents=True, exist_ok=True)
        PIL.Image.fromarray(img).save(by_class / names[classes[i]] / f"e{i:04d}.png")
    return {"root": root, "flat": flat, "by_class": by_class, "rgb": rgb, "classes": classes, "names": names}


@pytest.fixture(scope="module")
def fashion_idx(tmp_path_factory):
    """The first 300 Fashion-MNIST training images and labels, rewritten as IDX .gz files."""
    src = shared_path("data", "fashion-mnist")
    from dataset_tool import sources
    images, labels = sources.read_mnist_dir(src)
    images, labels = images[:300], labels[:300].astype(np.uint8)
    root = tmp_path_factory.mktemp("fmnist")
    with gzip.open(root / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write((2051).to_bytes(4, "big") + b"".join(int(v).to_bytes(4, "big") for v in images.shape)
                + images.tobytes())
    with gzip.open(root / "train-labels-idx1-ubyte.gz", "wb") as f:
        f.write((2049).to_bytes(4, "big") + len(labels).to_bytes(4, "big") + labels.tobytes())
    return {"dir": root, "images": images, "labels": labels.astype(int)}


# ----------------------------------------------------------------------------
# Format.

def test_example_matches_tf_train_example():
    import tensorflow as tf
    img = np.arange(3 * 4 * 4, dtype=np.uint8).reshape(3, 4, 4)
    ex = tf.train.Example(features=tf.train.Features(feature={
        "shape": tf.train.Feature(int64_list=tf.train.Int64List(value=img.shape)),
        "data": tf.train.Feature(bytes_list=tf.train.BytesList(value=[img.tobytes()]))}))
    ours = records.serialize_example(img.shape, img.tobytes())
    assert ours == ex.SerializeToString(deterministic=True)
    # NVIDIA's plain SerializeToString() picks a map order per process; the message is the same either way
    assert tf.train.Example.FromString(ours) == tf.train.Example.FromString(ex.SerializeToString())
    assert records.parse_example(ours) == {"shape": [3, 4, 4], "data": [img.tobytes()]}
    np.testing.assert_array_equal(records.decode_example(ours), img.transpose(1, 2, 0))
    assert records.record_filename("ffhq", 10) == "ffhq-r10.tfrecords"
    assert records.record_filename("ffhq", 3, 7, 16) == "ffhq-r03.tfrecords.007"
    assert records.dataset_name("datasets/ffhq/") == "ffhq"
    assert records.levels_for(64) == [6, 5, 4, 3, 2]


def test_pyramid_is_rounded_box_average():
    rng = np.random.RandomState(0)
    img = rng.randint(0, 256, size=(3, 64, 64)).astype(np.uint8)
    img[:, :2, :2] = [[1, 2], [2, 0]]  # a 2x2 block averaging to 1.25, and ties of .5 elsewhere
    levels = writers.pyramid(img)
    assert [lv.shape[1] for lv in levels] == [64, 32, 16, 8, 4]
    for k, lv in enumerate(levels):
        s = 2 ** k
        ref = img.astype(np.float64).reshape(3, 64 // s, s, 64 // s, s).mean(axis=(2, 4))
        np.testing.assert_array_equal(lv, np.rint(ref).astype(np.uint8))  # half to even, from unrounded levels
    assert np.rint(2.5) == 2 and np.rint(3.5) == 4


def test_create_from_images_is_byte_exact_official(emoji, tmp_path):
    rc, out, err = run_tool("create_from_images", tmp_path / "ours", emoji["flat"], "--workers", 2)
    assert rc == 0 and not err, err
    assert "Added 96 images" in out
    order = np.arange(96)
    np.random.RandomState(123).shuffle(order)
    official_reference(tmp_path / "ours_ref", [emoji["rgb"][i].transpose(2, 0, 1) for i in order])
    ours, ref = tmp_path / "ours", tmp_path / "ours_ref"
    assert sorted(p.name for p in ours.iterdir()) == ["dataset.json"] + [f"ours-r{lv:02d}.tfrecords"
                                                                         for lv in range(2, 7)]
    # byte-compare against the reference written under the same name
    for lv in range(2, 7):
        assert (ours / f"ours-r{lv:02d}.tfrecords").read_bytes() == (ref / f"ours_ref-r{lv:02d}.tfrecords").read_bytes()
    manifest = json.loads((ours / "dataset.json").read_text())
    assert manifest["format"] == records.FORMAT and manifest["format_version"] == records.FORMAT_VERSION
    assert (manifest["resolution"], manifest["channels"], manifest["count"], manifest["levels"], manifest["shards"],
            manifest["encoding"], manifest["labels"], manifest["shuffle_seed"]) == (64, 3, 96, [6, 5, 4, 3, 2], 1,
                                                                                    "raw", None, 123)
    # every level pixel-exact against a reference box average of the source image
    for lv in range(6, 1, -1):
        got = read_level(ours, lv)
        s = 2 ** (6 - lv)
        src = emoji["rgb"][order].astype(np.float64)
        ref_lv = np.rint(src.reshape(96, 64 // s, s, 64 // s, s, 3).mean(axis=(2, 4))).astype(np.uint8)
        np.testing.assert_array_equal(got, ref_lv)
    # without a manifest the directory still describes itself (official reader path)
    (ours / "dataset.json").unlink()
    info = records.describe(ours)
    assert (info["official"], info["count"], info["resolution"], info["channels"]) == (True, 96, 64, 3)


def test_create_mnist_byte_exact_with_labels(fashion_idx, tmp_path):
    rc, out, err = run_tool("create_mnist", tmp_path / "mn", fashion_idx["dir"], "--workers", 1)
    assert rc == 0 and not err, err
    order = np.arange(300)
    np.random.RandomState(123).shuffle(order)
    padded = np.pad(fashion_idx["images"], [(0, 0), (2, 2), (2, 2)])[:, np.newaxis]
    onehot = np.zeros([300, fashion_idx["labels"].max() + 1], np.float32)
    onehot[np.arange(300), fashion_idx["labels"]] = 1
    official_reference(tmp_path / "ref" / "mn", [padded[i] for i in order], onehot[order])
    assert_same_files(tmp_path / "mn", tmp_path / "ref" / "mn", "mn-r*")


def test_fashion_mnist_pad_to_32_with_labels(fashion_idx, tmp_path):
    rc, out, err = run_tool("create_fashion_mnist", tmp_path / "fm", "--source", fashion_idx["dir"],
                            "--max-images", 64, "--no-shuffle", "--workers", 1)
    assert rc == 0 and not err, err
    info = records.describe(tmp_path / "fm")
    assert (info["resolution"], info["channels"], info["count"], info["c_dim"]) == (32, 1, 64, 10)
    assert info["labels"]["names"][0] == "T-shirt/top"
    imgs = read_level(tmp_path / "fm", 5)[:, :, :, 0]
    np.testing.assert_array_equal(imgs[:, 2:30, 2:30], fashion_idx["images"][:64])
    assert imgs[:, :2].max() == 0 and imgs[:, 30:].max() == 0
    np.testing.assert_array_equal(records.load_labels(info).argmax(1), fashion_idx["labels"][:64])


def test_shards_labels_png_and_compare(emoji, tmp_path):
    rc, out, err = run_tool("create_from_images", tmp_path / "sh", emoji["by_class"], "--gpus", 2, "--shards", 4,
                            "--encoding", "png", "--labels-from-dirs", "--workers", 2)
    assert rc == 0 and not err, err
    sh = tmp_path / "sh"
    manifest = json.loads((sh / "dataset.json").read_text())
    assert manifest["shards"] == 4 and manifest["part_counts"] == [24, 24, 24, 24] and manifest["encoding"] == "png"
    assert sorted(p.name for p in sh.glob("sh-r06.tfrecords.*")) == [f"sh-r06.tfrecords.{p:03d}" for p in range(4)]
    names = sorted(set(emoji["names"][c] for c in emoji["classes"]))
    assert manifest["labels"] == {"file": "sh-rxx.labels", "c_dim": len(names), "names": names}
    # every image exactly once across the parts, and in the same part (same position) at every level
    key = {img.tobytes(): i for i, img in enumerate(emoji["rgb"])}
    full = {}
    for p in range(4):
        recs = [records.decode_example(r, "png") for r in records.iter_records(sh / f"sh-r06.tfrecords.{p:03d}")]
        full[p] = recs
        low = [records.decode_example(r, "png") for r in records.iter_records(sh / f"sh-r05.tfrecords.{p:03d}")]
        assert len(recs) == len(low) == 24
        for a, b in zip(recs, low):
            np.testing.assert_array_equal(writers.pyramid(a.transpose(2, 0, 1))[1], b.transpose(2, 0, 1))
    seen = [key[img.tobytes()] for p in range(4) for img in full[p]]
    assert sorted(seen) == list(range(96))
    # labels follow the global order (record j = part j % 4, position j // 4) and name the sub-folder
    labels = np.load(sh / "sh-rxx.labels")
    assert labels.shape == (96, len(names)) and labels.dtype == np.float32
    for j in range(96):
        i = key[full[j % 4][j // 4].tobytes()]
        assert names[int(labels[j].argmax())] == emoji["names"][emoji["classes"][i]]
    # the same images, unsharded and raw: compare says equal; info counts per part
    rc, _, err = run_tool("create_from_images", tmp_path / "one", emoji["by_class"], "--labels-from-dirs",
                          "--workers", 1)
    assert rc == 0, err
    rc, out, _ = run_tool("compare", sh, tmp_path / "one")
    assert rc == 0 and "Datasets are equal." in out and "r02: 96 identical images, 0 differing" in out
    rc, out, _ = run_tool("info", sh)
    assert rc == 0 and "parts [24, 24, 24, 24]" in out and "Shards:     4" in out
    raw = inspection.disk_bytes(tmp_path / "one")
    assert inspection.disk_bytes(sh) < raw


def test_labels_file_json_csv_and_round_trip_through_extract(emoji, tmp_path):
    files = sorted(p.name for p in emoji["flat"].iterdir())
    cls = {f: emoji["names"][emoji["classes"][i]] for i, f in enumerate(files)}
    (tmp_path / "l.csv").write_text("file,class\n" + "".join(f"{f},{c}\n" for f, c in cls.items()))
    (tmp_path / "l.json").write_text(json.dumps({"labels": [[f, int(emoji["classes"][i])]
                                                            for i, f in enumerate(files)]}))
    rc, _, err = run_tool("create_from_images", tmp_path / "c", emoji["flat"], "--labels", tmp_path / "l.csv",
                          "--workers", 1, "--max-images", 40)
    assert rc == 0, err
    rc, _, err = run_tool("create_from_images", tmp_path / "j", emoji["flat"], "--labels", tmp_path / "l.json",
                          "--workers", 1)
    assert rc == 0, err
    j = records.describe(tmp_path / "j")
    assert j["c_dim"] == int(emoji["classes"].max()) + 1 and j["labels"]["names"] is None
    order = np.arange(96)
    np.random.RandomState(123).shuffle(order)
    np.testing.assert_array_equal(records.load_labels(j).argmax(1), emoji["classes"][order])
    c = records.describe(tmp_path / "c")
    assert c["count"] == 40 and c["labels"]["names"] == sorted(set(cls.values()))
    # extract -> create_from_images --labels dataset.json --no-shuffle gives the same dataset back
    rc, out, _ = run_tool("extract", tmp_path / "j", tmp_path / "ex")
    assert rc == 0 and "Extracted 96 images of 64x64" in out
    rc, _, err = run_tool("create_from_images", tmp_path / "j2", tmp_path / "ex", "--labels",
                          tmp_path / "ex" / "dataset.json", "--no-shuffle", "--workers", 1)
    assert rc == 0, err
    assert inspection.compare(tmp_path / "j", tmp_path / "j2", log=lambda *a: None)
    rc, out, _ = run_tool("display", tmp_path / "j", tmp_path / "grid.png", "--grid", "4x2", "--resolution", 32)
    assert rc == 0 and PIL.Image.open(tmp_path / "grid.png").size == (128, 64)


def test_transforms_channels_and_rgba(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    rng = np.random.RandomState(1)
    for i in range(6):
        PIL.Image.fromarray(rng.randint(0, 255, (48, 80, 3), np.uint8)).save(src / f"w{i}.jpg")
    rgba = np.zeros([16, 16, 4], np.uint8)
    rgba[:8, :, :] = [255, 0, 0, 255]  # top half opaque red, bottom transparent -> white
    PIL.Image.fromarray(rgba, "RGBA").save(src / "w9.png")
    rc, _, err = run_tool("create_from_images", tmp_path / "cc", src, "--resolution", 32, "--transform",
                          "center-crop", "--channels", 1, "--workers", 1, "--no-shuffle")
    assert rc == 0, err
    info = records.describe(tmp_path / "cc")
    assert (info["resolution"], info["channels"], info["count"]) == (32, 1, 7)
    rc, _, err = run_tool("create_from_images", tmp_path / "cw", src, "--resolution", "64x32", "--transform",
                          "center-crop-wide", "--workers", 1, "--no-shuffle")
    assert rc == 0, err
    img = read_level(tmp_path / "cw", 6)
    assert img.shape == (6, 64, 64, 3)  # the 16x16 image is too small for center-crop-wide and dropped
    assert img[:, :16].max() == 0 and img[:, 48:].max() == 0  # black bars above and below the 64x32 band
    rc, _, err = run_tool("create_from_images", tmp_path / "rs", src, "--resolution", 16, "--transform", "resize",
                          "--workers", 1, "--no-shuffle")
    assert rc == 0, err
    last = read_level(tmp_path / "rs", 4)[-1]
    np.testing.assert_array_equal(last[0, 0], [255, 0, 0])
    np.testing.assert_array_equal(last[15, 0], [255, 255, 255])


def test_cifar10_and_npz(emoji, tmp_path):
    rgb32 = emoji["rgb"].reshape(96, 32, 2, 32, 2, 3).mean(axis=(2, 4)).astype(np.uint8)
    cdir = tmp_path / "cifar-10-batches-py"
    cdir.mkdir()
    for b in range(1, 6):
        part = rgb32[(b - 1) * 16:b * 16]
        batch = {"data": part.transpose(0, 3, 1, 2).reshape(16, -1), "labels": [i % 10 for i in range(16)]}
        (cdir / f"data_batch_{b}").write_bytes(pickle.dumps(batch))
    rc, _, err = run_tool("create_cifar10", tmp_path / "cf", cdir, "--workers", 1, "--no-shuffle")
    assert rc == 0, err
    info = records.describe(tmp_path / "cf")
    assert (info["count"], info["resolution"], info["c_dim"]) == (80, 32, 10)
    np.testing.assert_array_equal(read_level(tmp_path / "cf", 5), rgb32[:80])
    np.testing.assert_array_equal(records.load_labels(info).argmax(1), [j % 16 % 10 for j in range(80)])
    z = np.load(shared_path("data", "emojione_64_rgba.npz"))
    np.savez(tmp_path / "e.npz", images=z["images"][:50], labels=z["labels"][:50].astype(np.int64))
    bad = np.where(z["labels"][:50] < 0)[0]
    rc, _, err = run_tool("create_from_npz", tmp_path / "np", tmp_path / "e.npz", "--workers", 1)
    if len(bad):
        assert rc == 2 and err == [f"Error: {tmp_path / 'e.npz'}: unknown label -1 at image {bad[0]} "
                                   f"(pass --ignore-labels to drop the labels)"]
        assert not (tmp_path / "np").exists()
        rc, _, err = run_tool("create_from_npz", tmp_path / "np", tmp_path / "e.npz", "--ignore-labels",
                              "--workers", 1)
    assert rc == 0, err
    info = records.describe(tmp_path / "np")
    assert (info["count"], info["resolution"], info["channels"]) == (50, 64, 3)


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
    ("unknown_label", ["--labels", "{tmp}/labels.json"], "{tmp}/labels.json: no label for image {src}/b.png"),
    ("bad_label", ["--labels", "{tmp}/labels.csv"], "{tmp}/labels.csv: unknown label -3"),
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
    if name == "not_empty":
        (data / "keep.txt").write_text("user data")
    fmt = {"src": src, "tmp": tmp_path, "data": data}
    rc, _, err = run_tool("create_from_images", data, src, "--no-shuffle", "--workers", 1,
                          *[str(a).format(**fmt) for a in extra])
    assert rc == 2
    assert len(err) == 1 and err[0].startswith("Error: " + message.format(**fmt)), err
    left = sorted(p.name for p in data.iterdir())
    assert left == (["keep.txt"] if name == "not_empty" else [])
    assert sorted(p.name for p in data.parent.iterdir()) == ["DATA"]   # no temporary folder left beside it


def test_ignore_errors_skips_and_reports(tmp_path):
    src = _bad_case(tmp_path, "corrupt")
    rc, out, err = run_tool("create_from_images", tmp_path / "d", src, "--ignore-errors", "--workers", 1)
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
    rc, out, err = run_tool("create_from_images", tmp_path / "d", src, "--no-shuffle",
                            "--workers", 1)
    assert rc == 2 and len(err) == 1, err
    assert err[0].startswith(f"Error: {src}/b.png: size 16x16 differs from 8x8 of {src}/a.png "
                             f"(pass --resolution R to resize every image, or --ignore-errors")
    assert err[0].endswith("(and 2 more bad image(s), listed above)")
    rc, out, err = run_tool("create_from_images", tmp_path / "d", src, "--no-shuffle",
                            "--workers", 1, "--ignore-errors")
    assert rc == 0 and "Added 2 images" in out and "Skipped 3 unreadable, corrupt or mismatched" in out
    (tmp_path / "w").mkdir()
    for name, size in (("a", (8, 8)), ("b", (8, 16))):
        PIL.Image.fromarray(np.zeros(size + (3,), np.uint8)).save(tmp_path / "w" / f"{name}.png")
    rc, _, err = run_tool("create_from_images", tmp_path / "d2", tmp_path / "w", "--no-shuffle",
                          "--workers", 1, "--resolution", 8)
    assert rc == 2 and "pass --transform center-crop or resize" in err[0], err


def test_overwrite_replaces_and_usage_errors(emoji, tmp_path):
    data = tmp_path / "d"
    data.mkdir()
    (data / "notes.txt").write_text("x")  # not a dataset: --overwrite must not touch it
    args = ("--max-images", 8, "--resolution", 16, "--workers", 1)
    rc, _, err = run_tool("create_from_images", data, emoji["flat"], "--overwrite", *args)
    assert rc == 2 and err == [f"Error: {data}: not a dataset folder (no dataset.json or "
                               f"*-rXX.tfrecords); --overwrite replaces only a dataset, choose an "
                               f"empty or new folder"]
    assert (data / "notes.txt").read_text() == "x"
    (data / "notes.txt").unlink()
    assert run_tool("create_from_images", data, emoji["flat"], *args)[0] == 0
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(REPO))
    proc = subprocess.run(TOOL + ["create_from_images", str(data), str(emoji["flat"]),
                                  "--overwrite", "--max-images", "4", "--resolution", "8",
                                  "--workers", "1"], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert f"--overwrite: the dataset in {data} (" in proc.stderr  # says what it replaces
    assert records.describe(data)["resolution"] == 8 and records.describe(data)["count"] == 4
    rc, _, err = run_tool("create_from_images", tmp_path / "e", emoji["flat"], "--shards", 3, "--gpus", 2)
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
    assert rc == 2 and err == [f"Error: {data}: the output folder is, contains or lies inside the "
                               f"source {images}; choose an output folder outside it"]
    assert sorted(p.name for p in images.iterdir()) == ["0.png", "1.png", "2.png", "3.png"]


def test_failed_build_removes_folders_it_made(tmp_path):
    src = _bad_case(tmp_path, "mixed_sizes")
    rc, _, err = run_tool("create_from_images", tmp_path / "new" / "deeper" / "DATA", src, "--no-shuffle",
                          "--workers", 2)
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
