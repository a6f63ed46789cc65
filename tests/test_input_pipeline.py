"""training/dataset.py: official and sharded sets, 2 and 4 input pipelines, determinism, exact
resume, mirror."""

import collections
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from dataset_tool import create, records, sources
from training.dataset import dataset_info, make_dataset

from conftest import REPO, shared_path

N = 512  # Fashion-MNIST training images used here


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    """The same 512 Fashion-MNIST images (padded to 32) as: official single-file raw set without
    manifest,
    4 raw shards, 4 PNG shards; plus the expected images/labels in global record order."""
    images, labels = sources.read_mnist_dir(shared_path("data", "fashion-mnist"))
    images, labels = images[:N], labels[:N]
    root = tmp_path_factory.mktemp("pipe")
    np.savez(root / "fm.npz", images=images, labels=labels)
    quiet = {"workers": 1, "log": lambda *a: None}
    create.create_from_npz(root / "official", root / "fm.npz", pad_to=32, **quiet)
    (root / "official" / "dataset.json").unlink()
    create.create_from_npz(root / "raw4", root / "fm.npz", pad_to=32, shards=4, **quiet)
    create.create_from_npz(
        root / "png4", root / "fm.npz", pad_to=32, shards=4, encoding="png", **quiet
    )
    order = np.arange(N)
    np.random.RandomState(123).shuffle(order)
    expected = np.pad(images, [(0, 0), (2, 2), (2, 2)])[order][..., np.newaxis]  # [N,32,32,1]
    return {"root": root, "images": expected, "classes": labels[order].astype(int)}


def epoch(data_dir, batch, **kwargs):
    ds = make_dataset(data_dir, batch, repeat=False, **kwargs)
    imgs, labs = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    return np.concatenate(imgs), np.concatenate(labs)


def test_official_set_without_manifest(sets):
    info = dataset_info(sets["root"] / "official")
    assert (
        info["official"],
        info["count"],
        info["resolution"],
        info["channels"],
        info["c_dim"],
        info["shards"],
    ) == (True, N, 32, 1, 10, 1)
    imgs, labs = epoch(sets["root"] / "official", 64, shuffle=False)
    assert imgs.dtype == np.uint8 and imgs.shape == (N, 32, 32, 1) and labs.dtype == np.float32
    np.testing.assert_array_equal(imgs, sets["images"])
    np.testing.assert_array_equal(labs.argmax(1), sets["classes"])
    np.testing.assert_array_equal(labs.sum(1), np.ones(N))


@pytest.mark.parametrize("name", ["official", "raw4", "png4"])
@pytest.mark.parametrize("pipelines", [2, 4])
def test_every_image_once_across_input_pipelines(sets, name, pipelines):
    expected = collections.Counter(
        img.tobytes() + bytes([c]) for img, c in zip(sets["images"], sets["classes"])
    )
    got = collections.Counter()
    for pid in range(pipelines):
        ctx = tf.distribute.InputContext(
            num_input_pipelines=pipelines, input_pipeline_id=pid, num_replicas_in_sync=pipelines
        )
        imgs, labs = epoch(sets["root"] / name, 32, input_context=ctx, seed=5)
        assert len(imgs) == N // pipelines
        got.update(img.tobytes() + bytes([int(c)]) for img, c in zip(imgs, labs.argmax(1)))
    assert got == expected


def test_sharded_pipelines_read_only_their_parts(sets):
    ctx = tf.distribute.InputContext(
        num_input_pipelines=2, input_pipeline_id=1, num_replicas_in_sync=2
    )
    imgs, _ = epoch(sets["root"] / "raw4", 16, input_context=ctx, shuffle=False)
    mine = {sets["images"][j].tobytes() for j in range(N) if j % 4 in (2, 3)}  # parts 2 and 3
    assert {img.tobytes() for img in imgs} <= mine and len(imgs) == N // 2


def test_png_equals_raw_and_lower_levels(sets):
    a, la = epoch(sets["root"] / "raw4", 64, shuffle=False)
    b, lb = epoch(sets["root"] / "png4", 64, shuffle=False)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(la, lb)
    low, _ = epoch(sets["root"] / "png4", 64, shuffle=False, resolution=8)
    ref = sets["images"].astype(np.float64).reshape(N, 8, 4, 8, 4, 1).mean(axis=(2, 4))
    # unshuffled, one pipeline: global record order (round-robin over the parts), here the 8x8 level
    np.testing.assert_array_equal(low, np.rint(ref).astype(np.uint8))
    with pytest.raises(records.DatasetError, match="no 64x64 level"):
        make_dataset(sets["root"] / "raw4", 8, resolution=64)
    with pytest.raises(records.DatasetError, match="fewer than one batch"):
        make_dataset(sets["root"] / "raw4", 1024, repeat=False)
    small = next(iter(make_dataset(sets["root"] / "raw4", 1024)))[0]  # repeat: small sets repeat
    assert small.shape[0] == 1024


def test_shuffle_is_seeded_and_reshuffles_each_epoch(sets):
    def first(seed, n=4):
        it = iter(make_dataset(sets["root"] / "raw4", 128, seed=seed))
        return [next(it)[0].numpy() for _ in range(n)]

    a, b, c = first(1), first(1), first(2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    ep1, ep2 = np.concatenate(a[:4]), np.concatenate(first(1, 8)[4:])
    assert not np.array_equal(ep1, ep2)
    assert (
        sorted(i.tobytes() for i in ep1)
        == sorted(i.tobytes() for i in ep2)
        == sorted(i.tobytes() for i in sets["images"])
    )


def test_iterator_checkpoint_resumes_exactly(sets, tmp_path):
    def make():
        ctx = tf.distribute.InputContext(
            num_input_pipelines=2, input_pipeline_id=0, num_replicas_in_sync=2
        )
        return iter(
            make_dataset(
                sets["root"] / "png4", 24, input_context=ctx, mirror=True, seed=7, shuffle_mb=1
            )
        )

    it = make()
    for _ in range(13):  # past the end of the first epoch (256 images / 24)
        next(it)
    path = tf.train.Checkpoint(data=it).save(str(tmp_path / "ckpt"))
    after = [next(it) for _ in range(6)]
    it2 = make()
    tf.train.Checkpoint(data=it2).restore(path).assert_consumed()
    again = [next(it2) for _ in range(6)]
    for (x, y), (u, v) in zip(after, again):
        np.testing.assert_array_equal(x.numpy(), u.numpy())
        np.testing.assert_array_equal(y.numpy(), v.numpy())


def test_mirror_flips_about_half(sets):
    plain, _ = epoch(sets["root"] / "raw4", 64, shuffle=False)
    flipped, _ = epoch(sets["root"] / "raw4", 64, shuffle=False, mirror=True, seed=3)
    same = np.all(plain == flipped, axis=(1, 2, 3))
    mirrored = np.all(plain[:, :, ::-1] == flipped, axis=(1, 2, 3))
    assert np.all(same | mirrored)
    assert 0.35 < np.mean(mirrored & ~same) < 0.65
    again, _ = epoch(sets["root"] / "raw4", 64, shuffle=False, mirror=True, seed=3)
    np.testing.assert_array_equal(flipped, again)


def test_mirrored_strategy_per_replica_reads_own_shards(sets):
    """Two logical CPU devices, one pipeline per replica: replica r sees only parts 2r, 2r+1 (own
    process,
    because logical devices must be configured before TensorFlow starts)."""
    code = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {str(REPO)!r})
        import numpy as np, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from training.dataset import make_dataset
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        opts = tf.distribute.InputOptions(
            experimental_replication_mode=tf.distribute.InputReplicationMode.PER_REPLICA)
        data = {str(sets["root"] / "raw4")!r}
        ds = strategy.distribute_datasets_from_function(
            lambda ctx: make_dataset(data, ctx.get_per_replica_batch_size(32), input_context=ctx,
                                     shuffle=False, repeat=False), opts)
        seen = [[], []]
        for x, y in ds:
            for r, t in enumerate(strategy.experimental_local_results(x)):
                seen[r].append(t.numpy())
        np.save(sys.argv[1], np.stack([np.concatenate(s) for s in seen]))
    """)
    out = sets["root"] / "replicas.npy"
    proc = subprocess.run(
        [sys.executable, "-c", code, str(out)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    seen = np.load(out)  # [2 replicas, 256, 32, 32, 1]
    for r in range(2):
        mine = {sets["images"][j].tobytes() for j in range(N) if j % 4 in (2 * r, 2 * r + 1)}
        assert {img.tobytes() for img in seen[r]} == mine and len(seen[r]) == N // 2


def test_copy_of_dataset_dir_is_self_contained(sets, tmp_path):
    shutil.copytree(sets["root"] / "png4", tmp_path / "moved")
    info = dataset_info(tmp_path / "moved")
    assert (
        info["encoding"] == "png"
        and info["shards"] == 4
        and info["files"][5][0].startswith(str(tmp_path))
    )
