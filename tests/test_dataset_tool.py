"""dataset_tool: official byte-exact layout, pyramid arithmetic, shards, labels, manifest, commands,
bad input.

Real data from ../shared/data: Fashion-MNIST IDX and twemoji (written out here as PNG folders).
"""

import gzip
import json
import pathlib
import pickle

import numpy as np
import PIL.Image
import pytest

from dataset_tool import inspection, records, writers

from conftest import shared_path
from dataset_helpers import read_level, run_tool


def official_reference(tfr_dir, images_chw, labels=None):
    """What NVIDIA's TFRecordExporter writes for these images (in this order): written with
    tf.train.Example."""
    import tensorflow as tf

    tfr_dir = pathlib.Path(tfr_dir)
    tfr_dir.mkdir(parents=True)
    prefix = str(tfr_dir / tfr_dir.name)
    res_log2 = int(np.log2(images_chw[0].shape[1]))
    out = [
        tf.io.TFRecordWriter(f"{prefix}-r{res_log2 - lod:02d}.tfrecords")
        for lod in range(res_log2 - 1)
    ]
    for img in images_chw:
        for lod, w in enumerate(out):
            if lod:
                img = img.astype(np.float32)
                img = (
                    img[:, 0::2, 0::2]
                    + img[:, 0::2, 1::2]
                    + img[:, 1::2, 0::2]
                    + img[:, 1::2, 1::2]
                ) * 0.25
            quant = np.rint(img).clip(0, 255).astype(np.uint8)
            ex = tf.train.Example(
                features=tf.train.Features(
                    feature={
                        "shape": tf.train.Feature(int64_list=tf.train.Int64List(value=quant.shape)),
                        "data": tf.train.Feature(
                            bytes_list=tf.train.BytesList(value=[quant.tobytes()])
                        ),
                    }
                )
            )
            w.write(
                ex.SerializeToString(deterministic=True)
            )  # plain SerializeToString: map order per process
    for w in out:
        w.close()
    if labels is not None:
        with open(prefix + "-rxx.labels", "wb") as f:
            np.save(f, labels.astype(np.float32))


def assert_same_files(dir_a, dir_b, pattern):
    a = sorted(p.name for p in pathlib.Path(dir_a).glob(pattern))
    assert a == sorted(p.name for p in pathlib.Path(dir_b).glob(pattern)) and a
    for name in a:
        assert (pathlib.Path(dir_a) / name).read_bytes() == (
            pathlib.Path(dir_b) / name
        ).read_bytes(), name


# ----------------------------------------------------------------------------
# Shared inputs (written once per module).


@pytest.fixture(scope="module")
def fashion_idx(tmp_path_factory):
    """The first 300 Fashion-MNIST training images and labels, rewritten as IDX .gz files."""
    src = shared_path("data", "fashion-mnist")
    from dataset_tool import sources

    images, labels = sources.read_mnist_dir(src)
    images, labels = images[:300], labels[:300].astype(np.uint8)
    root = tmp_path_factory.mktemp("fmnist")
    with gzip.open(root / "train-images-idx3-ubyte.gz", "wb") as f:
        f.write(
            (2051).to_bytes(4, "big")
            + b"".join(int(v).to_bytes(4, "big") for v in images.shape)
            + images.tobytes()
        )
    with gzip.open(root / "train-labels-idx1-ubyte.gz", "wb") as f:
        f.write((2049).to_bytes(4, "big") + len(labels).to_bytes(4, "big") + labels.tobytes())
    return {"dir": root, "images": images, "labels": labels.astype(int)}


# ----------------------------------------------------------------------------
# Format.


def test_example_matches_tf_train_example():
    import tensorflow as tf

    img = np.arange(3 * 4 * 4, dtype=np.uint8).reshape(3, 4, 4)
    ex = tf.train.Example(
        features=tf.train.Features(
            feature={
                "shape": tf.train.Feature(int64_list=tf.train.Int64List(value=img.shape)),
                "data": tf.train.Feature(bytes_list=tf.train.BytesList(value=[img.tobytes()])),
            }
        )
    )
    ours = records.serialize_example(img.shape, img.tobytes())
    assert ours == ex.SerializeToString(deterministic=True)
    # NVIDIA's plain SerializeToString() picks a map order per process; the message is the same
    # either way
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
        s = 2**k
        ref = img.astype(np.float64).reshape(3, 64 // s, s, 64 // s, s).mean(axis=(2, 4))
        np.testing.assert_array_equal(
            lv, np.rint(ref).astype(np.uint8)
        )  # half to even, from unrounded levels
    assert np.rint(2.5) == 2 and np.rint(3.5) == 4


def test_create_from_images_is_byte_exact_official(emoji, tmp_path):
    rc, out, err = run_tool("create_from_images", tmp_path / "ours", emoji["flat"], "--workers", 2)
    assert rc == 0 and not err, err
    assert "Added 96 images" in out
    order = np.arange(96)
    np.random.RandomState(123).shuffle(order)
    official_reference(tmp_path / "ours_ref", [emoji["rgb"][i].transpose(2, 0, 1) for i in order])
    ours, ref = tmp_path / "ours", tmp_path / "ours_ref"
    assert sorted(p.name for p in ours.iterdir()) == ["dataset.json"] + [
        f"ours-r{lv:02d}.tfrecords" for lv in range(2, 7)
    ]
    # byte-compare against the reference written under the same name
    for lv in range(2, 7):
        assert (ours / f"ours-r{lv:02d}.tfrecords").read_bytes() == (
            ref / f"ours_ref-r{lv:02d}.tfrecords"
        ).read_bytes()
    manifest = json.loads((ours / "dataset.json").read_text())
    assert (
        manifest["format"] == records.FORMAT
        and manifest["format_version"] == records.FORMAT_VERSION
    )
    assert (
        manifest["resolution"],
        manifest["channels"],
        manifest["count"],
        manifest["levels"],
        manifest["shards"],
        manifest["encoding"],
        manifest["labels"],
        manifest["shuffle_seed"],
    ) == (64, 3, 96, [6, 5, 4, 3, 2], 1, "raw", None, 123)
    # every level pixel-exact against a reference box average of the source image
    for lv in range(6, 1, -1):
        got = read_level(ours, lv)
        s = 2 ** (6 - lv)
        src = emoji["rgb"][order].astype(np.float64)
        ref_lv = np.rint(src.reshape(96, 64 // s, s, 64 // s, s, 3).mean(axis=(2, 4))).astype(
            np.uint8
        )
        np.testing.assert_array_equal(got, ref_lv)
    # without a manifest the directory still describes itself (official reader path)
    (ours / "dataset.json").unlink()
    info = records.describe(ours)
    assert (info["official"], info["count"], info["resolution"], info["channels"]) == (
        True,
        96,
        64,
        3,
    )


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
    rc, out, err = run_tool(
        "create_fashion_mnist",
        tmp_path / "fm",
        "--source",
        fashion_idx["dir"],
        "--max-images",
        64,
        "--no-shuffle",
        "--workers",
        1,
    )
    assert rc == 0 and not err, err
    info = records.describe(tmp_path / "fm")
    assert (info["resolution"], info["channels"], info["count"], info["c_dim"]) == (32, 1, 64, 10)
    assert info["labels"]["names"][0] == "T-shirt/top"
    imgs = read_level(tmp_path / "fm", 5)[:, :, :, 0]
    np.testing.assert_array_equal(imgs[:, 2:30, 2:30], fashion_idx["images"][:64])
    assert imgs[:, :2].max() == 0 and imgs[:, 30:].max() == 0
    np.testing.assert_array_equal(records.load_labels(info).argmax(1), fashion_idx["labels"][:64])


def test_shards_labels_png_and_compare(emoji, tmp_path):
    rc, out, err = run_tool(
        "create_from_images",
        tmp_path / "sh",
        emoji["by_class"],
        "--gpus",
        2,
        "--shards",
        4,
        "--encoding",
        "png",
        "--labels-from-dirs",
        "--workers",
        2,
    )
    assert rc == 0 and not err, err
    sh = tmp_path / "sh"
    manifest = json.loads((sh / "dataset.json").read_text())
    assert (
        manifest["shards"] == 4
        and manifest["part_counts"] == [24, 24, 24, 24]
        and manifest["encoding"] == "png"
    )
    assert sorted(p.name for p in sh.glob("sh-r06.tfrecords.*")) == [
        f"sh-r06.tfrecords.{p:03d}" for p in range(4)
    ]
    names = sorted(set(emoji["names"][c] for c in emoji["classes"]))
    assert manifest["labels"] == {"file": "sh-rxx.labels", "c_dim": len(names), "names": names}
    # every image exactly once across the parts, and in the same part (same position) at every level
    key = {img.tobytes(): i for i, img in enumerate(emoji["rgb"])}
    full = {}
    for p in range(4):
        recs = [
            records.decode_example(r, "png")
            for r in records.iter_records(sh / f"sh-r06.tfrecords.{p:03d}")
        ]
        full[p] = recs
        low = [
            records.decode_example(r, "png")
            for r in records.iter_records(sh / f"sh-r05.tfrecords.{p:03d}")
        ]
        assert len(recs) == len(low) == 24
        for a, b in zip(recs, low):
            np.testing.assert_array_equal(
                writers.pyramid(a.transpose(2, 0, 1))[1], b.transpose(2, 0, 1)
            )
    seen = [key[img.tobytes()] for p in range(4) for img in full[p]]
    assert sorted(seen) == list(range(96))
    # labels follow the global order (record j = part j % 4, position j // 4) and name the
    # sub-folder
    labels = np.load(sh / "sh-rxx.labels")
    assert labels.shape == (96, len(names)) and labels.dtype == np.float32
    for j in range(96):
        i = key[full[j % 4][j // 4].tobytes()]
        assert names[int(labels[j].argmax())] == emoji["names"][emoji["classes"][i]]
    # the same images, unsharded and raw: compare says equal; info counts per part
    rc, _, err = run_tool(
        "create_from_images",
        tmp_path / "one",
        emoji["by_class"],
        "--labels-from-dirs",
        "--workers",
        1,
    )
    assert rc == 0, err
    rc, out, _ = run_tool("compare", sh, tmp_path / "one")
    assert (
        rc == 0 and "Datasets are equal." in out and "r02: 96 identical images, 0 differing" in out
    )
    rc, out, _ = run_tool("info", sh)
    assert rc == 0 and "parts [24, 24, 24, 24]" in out and "Shards:     4" in out
    raw = inspection.disk_bytes(tmp_path / "one")
    assert inspection.disk_bytes(sh) < raw


def test_labels_file_json_csv_and_round_trip_through_extract(emoji, tmp_path):
    files = sorted(p.name for p in emoji["flat"].iterdir())
    cls = {f: emoji["names"][emoji["classes"][i]] for i, f in enumerate(files)}
    (tmp_path / "l.csv").write_text("file,class\n" + "".join(f"{f},{c}\n" for f, c in cls.items()))
    (tmp_path / "l.json").write_text(
        json.dumps({"labels": [[f, int(emoji["classes"][i])] for i, f in enumerate(files)]})
    )
    rc, _, err = run_tool(
        "create_from_images",
        tmp_path / "c",
        emoji["flat"],
        "--labels",
        tmp_path / "l.csv",
        "--workers",
        1,
        "--max-images",
        40,
    )
    assert rc == 0, err
    rc, _, err = run_tool(
        "create_from_images",
        tmp_path / "j",
        emoji["flat"],
        "--labels",
        tmp_path / "l.json",
        "--workers",
        1,
    )
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
    rc, _, err = run_tool(
        "create_from_images",
        tmp_path / "j2",
        tmp_path / "ex",
        "--labels",
        tmp_path / "ex" / "dataset.json",
        "--no-shuffle",
        "--workers",
        1,
    )
    assert rc == 0, err
    assert inspection.compare(tmp_path / "j", tmp_path / "j2", log=lambda *a: None)
    rc, out, _ = run_tool(
        "display", tmp_path / "j", tmp_path / "grid.png", "--grid", "4x2", "--resolution", 32
    )
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
    rc, _, err = run_tool(
        "create_from_images",
        tmp_path / "cc",
        src,
        "--resolution",
        32,
        "--transform",
        "center-crop",
        "--channels",
        1,
        "--workers",
        1,
        "--no-shuffle",
    )
    assert rc == 0, err
    info = records.describe(tmp_path / "cc")
    assert (info["resolution"], info["channels"], info["count"]) == (32, 1, 7)
    rc, _, err = run_tool(
        "create_from_images",
        tmp_path / "cw",
        src,
        "--resolution",
        "64x32",
        "--transform",
        "center-crop-wide",
        "--workers",
        1,
        "--no-shuffle",
    )
    assert rc == 0, err
    img = read_level(tmp_path / "cw", 6)
    assert img.shape == (
        6,
        64,
        64,
        3,
    )  # the 16x16 image is too small for center-crop-wide and dropped
    assert (
        img[:, :16].max() == 0 and img[:, 48:].max() == 0
    )  # black bars above and below the 64x32 band
    rc, _, err = run_tool(
        "create_from_images",
        tmp_path / "rs",
        src,
        "--resolution",
        16,
        "--transform",
        "resize",
        "--workers",
        1,
        "--no-shuffle",
    )
    assert rc == 0, err
    last = read_level(tmp_path / "rs", 4)[-1]
    np.testing.assert_array_equal(last[0, 0], [255, 0, 0])
    np.testing.assert_array_equal(last[15, 0], [255, 255, 255])


def test_cifar10_and_npz(emoji, tmp_path):
    rgb32 = emoji["rgb"].reshape(96, 32, 2, 32, 2, 3).mean(axis=(2, 4)).astype(np.uint8)
    cdir = tmp_path / "cifar-10-batches-py"
    cdir.mkdir()
    for b in range(1, 6):
        part = rgb32[(b - 1) * 16 : b * 16]
        batch = {
            "data": part.transpose(0, 3, 1, 2).reshape(16, -1),
            "labels": [i % 10 for i in range(16)],
        }
        (cdir / f"data_batch_{b}").write_bytes(pickle.dumps(batch))
    rc, _, err = run_tool("create_cifar10", tmp_path / "cf", cdir, "--workers", 1, "--no-shuffle")
    assert rc == 0, err
    info = records.describe(tmp_path / "cf")
    assert (info["count"], info["resolution"], info["c_dim"]) == (80, 32, 10)
    np.testing.assert_array_equal(read_level(tmp_path / "cf", 5), rgb32[:80])
    np.testing.assert_array_equal(
        records.load_labels(info).argmax(1), [j % 16 % 10 for j in range(80)]
    )
    z = np.load(shared_path("data", "emojione_64_rgba.npz"))
    np.savez(tmp_path / "e.npz", images=z["images"][:50], labels=z["labels"][:50].astype(np.int64))
    bad = np.where(z["labels"][:50] < 0)[0]
    rc, _, err = run_tool("create_from_npz", tmp_path / "np", tmp_path / "e.npz", "--workers", 1)
    if len(bad):
        assert rc == 2 and err == [
            f"Error: {tmp_path / 'e.npz'}: unknown label -1 at image {bad[0]} "
            f"(pass --ignore-labels to drop the labels)"
        ]
        assert not (tmp_path / "np").exists()
        rc, _, err = run_tool(
            "create_from_npz",
            tmp_path / "np",
            tmp_path / "e.npz",
            "--ignore-labels",
            "--workers",
            1,
        )
    assert rc == 0, err
    info = records.describe(tmp_path / "np")
    assert (info["count"], info["resolution"], info["channels"]) == (50, 64, 3)
