"""Metrics: image sources, calc_metric with a toy generator, strategy splitting and the CLI."""

import json
import os
import subprocess
import sys

import numpy as np
import PIL.Image
import pytest

from fileio.images import to_uint8

from conftest import REPO, shared_path

os.environ["TF_STYLEGAN2_NO_DOWNLOAD"] = "1"

from metrics import (  # noqa: E402
    extraction,
    fid,
    image_sources,
    metric_main,
)

ENV = dict(os.environ, TF_STYLEGAN2_NO_DOWNLOAD="1", TF_CPP_MIN_LOG_LEVEL="3")


def _images(n, seed, size=32):
    rng = np.random.RandomState(seed)
    base = rng.randint(0, 256, size=(n, size // 4, size // 4, 3)).astype(np.uint8)
    return base.repeat(4, axis=1).repeat(4, axis=2)


def _write_folder(folder, images, rgba_first=False):
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        if rgba_first and i == 0:
            img = np.concatenate([img, np.full(img.shape[:2] + (1,), 255, np.uint8)], -1)
        PIL.Image.fromarray(img).save(folder / f"{i:03d}.png")
    return folder


def _write_dataset(folder, images, shards=1):
    """A dataset in the official record schema (top level only is enough for the metrics)."""
    import tensorflow as tf

    from dataset_tool import records

    folder.mkdir(parents=True)
    res = images.shape[1]
    level = int(np.log2(res))
    writers = [
        tf.io.TFRecordWriter(str(folder / records.record_filename(folder.name, level, p, shards)))
        for p in range(shards)
    ]
    for i, img in enumerate(images):
        chw = img.transpose(2, 0, 1)
        writers[i % shards].write(records.serialize_example(chw.shape, chw.tobytes()))
    for w in writers:
        w.close()
    return folder


class TinyDetector:
    """A cheap stand-in detector (12-d features) for plumbing tests: FID of 2048-d features needs
    a 2048x2048 sqrtm, about a minute on the shared 2-core machine."""

    name = "tiny-test-detector"
    comparable = False

    def __call__(self, images):
        import tensorflow as tf

        x = tf.image.resize(tf.cast(images, tf.float32), [2, 2], method="area")
        return tf.reshape(x, [-1, 12]) / 255.0


def _fid_lowrank(fa, fb):
    """Exact FID when N < D: Tr sqrtm(Sa Sb) = sum sqrt(eig(A^T... small n x n problem))."""
    fa, fb = np.asarray(fa, np.float64), np.asarray(fb, np.float64)
    a, b = fa - fa.mean(0), fb - fb.mean(0)
    small = (a @ b.T) @ (b @ a.T) / ((len(fa) - 1) * (len(fb) - 1))
    ev = np.clip(np.linalg.eigvals(small).real, 0, None)
    tr = np.trace(a.T @ a) / (len(fa) - 1) + np.trace(b.T @ b) / (len(fb) - 1)
    return float(np.sum((fa.mean(0) - fb.mean(0)) ** 2) + tr - 2 * np.sum(np.sqrt(ev)))


@pytest.fixture(scope="module")
def detector():
    from metrics.inception import FIDInception

    return FIDInception(weights_path=shared_path("weights", "inception-2015-12-05_fid_pool3.npz"))


def test_image_sources(tmp_path):
    imgs = _images(5, 0)
    folder = _write_folder(tmp_path / "f", imgs, rgba_first=True)
    src = image_sources.open_images(folder)
    assert isinstance(src, image_sources.FolderSource) and len(src) == 5
    batches = list(src.batches(2))
    assert [b.shape[0] for b in batches] == [2, 2, 1]
    np.testing.assert_array_equal(np.concatenate(batches), imgs)  # RGBA alpha=255 -> same RGB
    wrapped = np.concatenate(list(src.batches(4, max_items=7, wrap=True)))
    np.testing.assert_array_equal(wrapped, np.concatenate([imgs, imgs[:2]]))
    for shards in (1, 2):
        ds = image_sources.open_images(_write_dataset(tmp_path / f"ds{shards}", imgs, shards))
        assert isinstance(ds, image_sources.DatasetSource) and len(ds) == 5
        np.testing.assert_array_equal(np.concatenate(list(ds.batches(3))), imgs)
    with pytest.raises(ValueError, match="no image files"):
        image_sources.open_images(_write_folder(tmp_path / "empty", []))


def test_real_statistics_cache(tmp_path, detector):
    folder = _write_folder(tmp_path / "f", _images(3, 1))
    cache = tmp_path / "cache"
    s1 = extraction.compute_feature_stats_for_dataset(
        detector, folder, cache_dir=cache, verbose=False
    )
    files = list(cache.glob("*.npz"))
    assert len(files) == 1 and files[0].name.endswith(f"-{detector.name}-f-3-mean_cov.npz")
    calls = []

    def counting(images):
        calls.append(len(images))
        return detector(images)

    counting.name = detector.name
    s2 = extraction.compute_feature_stats_for_dataset(
        counting, folder, cache_dir=cache, verbose=False
    )
    assert calls == []  # served from the cache
    np.testing.assert_allclose(s1.get_mean_cov()[0], s2.get_mean_cov()[0], rtol=1e-12)

    # KID / P&R keep all features: a file of their own, which FID's cache does not overwrite.
    s3 = extraction.compute_feature_stats_for_dataset(
        counting, folder, cache_dir=cache, verbose=False, capture_all=True, capture_mean_cov=False
    )
    assert calls == [3] and s3.capture_all and s3.get_all().shape[0] == 3
    names = sorted(f.name.rsplit("-", 1)[1] for f in cache.glob("*.npz"))
    assert names == ["all.npz", "mean_cov.npz"]
    s4 = extraction.compute_feature_stats_for_dataset(
        counting, folder, cache_dir=cache, verbose=False
    )
    assert calls == [3] and s4.capture_mean_cov and not s4.capture_all


def test_calc_metric_with_toy_generator(tmp_path):
    detector = TinyDetector()
    reals = _images(4, 2)
    folder = _write_folder(tmp_path / "reals", reals)

    def generator(z, c):  # (z, c) -> NHWC float32 in [-1, 1]
        import tensorflow as tf

        x = tf.tanh(tf.reshape(z[:, :48], [-1, 4, 4, 3]))
        return tf.image.resize(x, [32, 32], method="nearest")

    result = metric_main.calc_metric(
        "fid4",
        generator=generator,
        z_dim=64,
        data=folder,
        detector=detector,
        cache_dir=None,
        seed=0,
        verbose=False,
        batch_size=4,
    )
    assert result["metric"] == "fid4" and set(result["results"]) == {"fid4"}
    assert result["comparable"] is False and result["detector"] == "tiny-test-detector"
    # the same number by hand: uint8 conversion as NVIDIA, the same latents (seed 0)
    z = np.random.RandomState(0).standard_normal([4, 64]).astype(np.float32)
    fakes = to_uint8(generator(z, None)).numpy()
    both = detector(np.concatenate([fakes, reals])).numpy().astype(np.float64)
    f_fake, f_real = both[:4], both[4:]
    expected = fid.frechet_distance(
        f_fake.mean(0), np.cov(f_fake, rowvar=False), f_real.mean(0), np.cov(f_real, rowvar=False)
    )
    assert abs(result["results"]["fid4"] - expected) <= 1e-6 * max(1.0, abs(expected))
    assert abs(expected - _fid_lowrank(f_fake, f_real)) <= 1e-6 * max(1.0, abs(expected))
    path = metric_main.report_metric(
        result, run_dir=tmp_path, snapshot=str(tmp_path / "snap.keras")
    )
    line = json.loads(path.read_text().splitlines()[-1])
    assert path.name == "metric-fid4.jsonl" and line["snapshot_pkl"] == "snap.keras"
    assert metric_main.format_result(result, "snap").startswith("snap" + " " * 26 + " time ")


def test_ppl_with_toy_mapping_and_synthesis(tmp_path):
    """ppl_wend on a linear toy generator: both pair ends get the same noise (same seed)."""
    import tensorflow as tf

    from metrics.lpips import LPIPS

    lpips = LPIPS(weights_path=shared_path("weights", "vgg16_lpips_v0.1_keras_layout.npz"))
    proj = tf.constant(np.random.RandomState(0).randn(8, 32 * 32 * 3).astype(np.float32) * 0.1)
    seeds = []

    def mapping(z, c):
        return tf.tile(z[:, None, :], [1, 2, 1])  # [N, num_ws=2, 8]

    def synthesis(ws, noise_seed):
        seeds.append(noise_seed.numpy().tolist())
        noise = tf.random.stateless_normal([ws.shape[0], 32, 32, 3], seed=noise_seed) * 0.01
        return tf.tanh(tf.reshape(ws[:, 0] @ proj, [-1, 32, 32, 3]) + noise)

    result = metric_main.calc_metric(
        "ppl_wend8",
        generator=lambda z, c: None,
        z_dim=8,
        mapping=mapping,
        synthesis=synthesis,
        lpips=lpips,
        seed=1,
        batch_size=4,
        verbose=False,
        cache_dir=None,
    )
    value = result["results"]["ppl_wend8"]
    assert np.isfinite(value) and value > 0
    assert (
        len(seeds) == 4 and seeds[0] == seeds[1] and seeds[2] == seeds[3] and seeds[0] != seeds[2]
    )
    with pytest.raises(ValueError, match="at least 16x16"):
        lpips(np.zeros([1, 8, 8, 3], np.float32), np.zeros([1, 8, 8, 3], np.float32))


def test_run_split_across_two_replicas():
    """Under a 2-replica strategy each replica gets its own slice of the batch (subprocess:
    the logical CPU devices must be set up before TensorFlow starts)."""
    code = r"""
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from metrics import replicas
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
def fn(x):
    rid = tf.distribute.get_replica_context().replica_id_in_sync_group
    return tf.stack([x[:, 0], tf.cast(tf.fill([tf.shape(x)[0]], rid), tf.float32)], axis=1)
x = np.arange(7, dtype=np.float32)[:, None]
out = replicas.run_split(fn, [x], strategy).numpy()
import json
print(json.dumps([out[:, 0].tolist(), out[:, 1].tolist()]))
"""
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=120
    )
    assert res.returncode == 0, res.stderr[-2000:]
    values, replicas = json.loads(res.stdout.strip().splitlines()[-1])
    assert values == list(range(7))  # all rows back, in order, padding dropped
    assert replicas == [0, 0, 0, 0, 1, 1, 1]  # 7 rows -> slices of 4 and 3 (+1 padding)


def _cli(*args):
    return subprocess.run(
        [sys.executable, "metrics/run.py", *args],
        cwd=REPO,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_fid_kid_two_folders(tmp_path, detector):
    a = _write_folder(tmp_path / "a", _images(3, 3))
    b = _write_folder(tmp_path / "b", _images(3, 4))
    weights_dir = str(shared_path("weights"))
    res = _cli("fid", str(a), str(b), "--weights-dir", weights_dir, "--no-cache", "--noverbose")
    assert res.returncode == 0, res.stderr[-2000:]
    value = float(res.stdout.strip().splitlines()[-1].split("FID:")[1])
    feats = detector(np.concatenate([_images(3, 3), _images(3, 4)])).numpy()
    expected = _fid_lowrank(feats[:3], feats[3:])  # = the sqrtm value up to its ~1e-5 noise
    assert abs(value - expected) <= 1e-4 * max(1.0, expected)
    # --gpus 2 on a CPU-only machine: two logical CPU devices, as training makes them
    res = _cli(
        "fid",
        str(a),
        str(b),
        "--weights-dir",
        weights_dir,
        "--no-cache",
        "--noverbose",
        "--gpus",
        "2",
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "2 logical CPU devices" in res.stderr
    assert abs(float(res.stdout.strip().splitlines()[-1].split("FID:")[1]) - value) <= 1e-4 * max(
        1.0, value
    )
    res = _cli(
        "kid",
        str(a),
        str(b),
        "--weights-dir",
        weights_dir,
        "--cache-dir",
        str(tmp_path / "cache"),
        "--noverbose",
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip().splitlines()[-1].startswith("KID: ")
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 2


def test_cli_errors(tmp_path):
    a = _write_folder(tmp_path / "a", _images(2, 5))
    res = _cli("fid", str(a), str(tmp_path / "missing"))
    assert (
        res.returncode == 2 and f"{tmp_path / 'missing'}: no such folder or dataset" in res.stderr
    )
    res = _cli("fid", str(a), str(a), "--weights-dir", str(tmp_path), "--no-cache")
    assert res.returncode == 2
    assert "missing weights file inception-2015-12-05_fid_pool3.npz" in res.stderr
    assert str(tmp_path) in res.stderr
    res = _cli("--network", str(tmp_path / "x.keras"), "--metrics", "fid50k,nope")
    assert res.returncode == 2 and "unknown metric 'nope'" in res.stderr
    res = _cli("fid", str(a), str(a), "--weights-dir", str(tmp_path / "nowhere"))
    assert res.returncode == 2
    assert f"--weights-dir {tmp_path / 'nowhere'}: no such folder" in res.stderr


@pytest.fixture(scope="module")
def tiny_G():
    import tensorflow as tf

    from tf_stylegan2.networks import Generator, presets

    g_kwargs, _ = presets.network_kwargs("tiny", 32, 3, 0)
    G = Generator(**g_kwargs)
    G(tf.zeros([1, G.z_dim]), None)  # build
    return G


def test_metrics_with_our_generator(tmp_path, tiny_G):
    """The contract of notes-metrics.md with the real tiny Generator: FID via G(z, c,
    noise_mode='random'), PPL via G.mapping / G.synthesis(noise_seed=...)."""
    from metrics.lpips import LPIPS

    folder = _write_folder(tmp_path / "reals", _images(4, 6))
    r = metric_main.calc_metric(
        "fid4_full",
        generator=tiny_G,
        data=folder,
        detector=TinyDetector(),
        cache_dir=None,
        seed=0,
        verbose=False,
    )
    assert np.isfinite(r["results"]["fid4_full"]) and r["results"]["fid4_full"] > 0
    lpips = LPIPS(weights_path=shared_path("weights", "vgg16_lpips_v0.1_keras_layout.npz"))
    for name in ("ppl_wend4", "ppl_zfull4"):
        r = metric_main.calc_metric(name, generator=tiny_G, lpips=lpips, seed=0, verbose=False)
        assert np.isfinite(r["results"][name]) and r["results"][name] >= 0


def test_cli_network(tmp_path, tiny_G):
    import tf_stylegan2

    run_dir = tmp_path / "00000-run"
    run_dir.mkdir()
    (run_dir / "log.txt").write_text("")
    snap = run_dir / "network-snapshot-000000.keras"
    tf_stylegan2.save_snapshot(snap, G_ema=tiny_G)
    reals = _write_folder(tmp_path / "reals", _images(3, 7))
    res = _cli(
        "--network",
        str(snap),
        "--data",
        str(reals),
        "--metrics",
        "kid3_full",
        "--weights-dir",
        str(shared_path("weights")),
        "--no-cache",
        "--noverbose",
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert "network-snapshot-000000" in res.stdout and "kid3_full" in res.stdout
    line = json.loads((run_dir / "metric-kid3_full.jsonl").read_text().splitlines()[-1])
    assert line["metric"] == "kid3_full" and line["snapshot_pkl"] == snap.name
    assert np.isfinite(line["results"]["kid3_full"])


def test_calc_metric_argument_errors(tmp_path):
    folder = _write_folder(tmp_path / "reals", _images(2, 8))
    with pytest.raises(ValueError, match=r"conditional \(c_dim=3\).*labels with c_dim=0"):
        metric_main.calc_metric(
            "fid2",
            generator=lambda z, c: z,
            z_dim=4,
            c_dim=3,
            data=folder,
            detector=TinyDetector(),
            cache_dir=None,
            verbose=False,
        )
    with pytest.raises(ValueError, match=r"kid2: needs the real images \(--data DATA_DIR\)"):
        metric_main.calc_metric("kid2", generator=lambda z, c: z, z_dim=4, detector=TinyDetector())
    with pytest.raises(ValueError, match="PPL needs the generator's mapping and synthesis"):
        metric_main.calc_metric(
            "ppl_wend2", generator=lambda z, c: z, z_dim=4, lpips=object(), verbose=False
        )
