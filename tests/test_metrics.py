"""Metrics: the detector networks against their fixtures, and the metric math against NumPy."""

import gzip
import json
import os

import numpy as np
import pytest

from conftest import shared_path

os.environ["TF_STYLEGAN2_NO_DOWNLOAD"] = "1"  # nothing downloads in tests

from metrics import (  # noqa: E402
    extraction,
    feature_stats,
    fid,
    inception,
    inception_score,
    kid,
    metric_main,
    ppl,
    precision_recall,
)


def _rel(a, ref):
    return float(np.abs(np.asarray(a, np.float64) - ref).max() / np.abs(ref).max())


# ----------------------------------------------------------------------------
# The FID Inception.


@pytest.fixture(scope="module")
def inception_acts():
    path = shared_path("weights", "inception-2015-12-05_fid_pool3.npz")
    return inception.FIDInception(weights_path=path, activations=True)


def test_inception_pool3_and_activations(inception_acts):
    ref = np.load(shared_path("fixtures", "inception_fid", "features.npz"))
    out = inception_acts(ref["images"][:2])  # intermediates are stored for images 0 and 1
    assert _rel(out["pool3"], ref["pool3"][:2]) <= 1e-4
    for key in ref.files:
        if key.startswith("act_"):
            assert out[key[4:]].shape == ref[key].shape, key
            assert _rel(out[key[4:]], ref[key]) <= 1e-4, key


def test_inception_pool3_all_images(inception_acts):
    ref = np.load(shared_path("fixtures", "inception_fid", "features.npz"))
    pool3 = inception_acts(ref["images"][2:])["pool3"].numpy()
    assert pool3.shape == (6, 2048)
    assert _rel(pool3, ref["pool3"][2:]) <= 1e-4
    assert _rel(pool3, ref["pool3_float64"][2:]) <= 1e-4


def test_mixed_10_uses_max_pool(inception_acts):
    layer = inception_acts.model.get_layer("mixed_10.tower_2_pool")
    assert type(layer).__name__ == "MaxPooling2D"
    assert (
        type(inception_acts.model.get_layer("mixed_9.tower_2_pool")).__name__ == "AveragePooling2D"
    )


@pytest.mark.parametrize("size", [32, 64])
def test_legacy_resize_matches_tf1(size):
    ref = np.load(shared_path("fixtures", "inception_fid", "resize.npz"))
    out = inception.legacy_resize_bilinear(ref[f"input{size}"]).numpy()
    assert out.dtype == np.float32 and out.shape == (4, 299, 299, 3)
    assert np.abs(out - ref[f"expected{size}"]).max() <= 1e-4
    # the input scaling follows the resize: (x - 128) / 128
    scaled = inception.fid_preprocess(ref[f"input{size}"]).numpy()
    np.testing.assert_array_equal(scaled, (ref[f"expected{size}"] - 128) / 128)


def _fashion(name, n):
    with gzip.open(shared_path("data", "fashion-mnist", name)) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)[:n]
    return np.pad(images, ((0, 0), (2, 2), (2, 2)))[..., None].repeat(3, axis=-1)  # [n,32,32,3]


def test_fid_small_first_images_features(inception_acts):
    """fid_small recipe on its first images: 32x32 uint8 -> legacy resize inside -> stored pool3."""
    stats = np.load(shared_path("fixtures", "inception_fid", "fid_small_stats.npz"))
    for key, name in (("a", "train-images-idx3-ubyte.gz"), ("b", "t10k-images-idx3-ubyte.gz")):
        feats = inception_acts(_fashion(name, 4))["pool3"].numpy()
        assert _rel(feats, stats[f"features_{key}_first16"][:4]) <= 1e-4


@pytest.mark.skipif(
    os.environ.get("TF_STYLEGAN2_FULL_FID") != "1",
    reason="opt-in: TF_STYLEGAN2_FULL_FID=1 runs it (2000 Inception passes, 2 min on 2 cores)",
)
def test_fid_small_full_recipe():
    """The whole fid_small.json recipe: |FID - 22.28755| <= 5e-4 and the stored statistics."""
    ref = json.loads(shared_path("fixtures", "inception_fid", "fid_small.json").read_text())
    stats = np.load(shared_path("fixtures", "inception_fid", "fid_small_stats.npz"))
    det = inception.FIDInception(shared_path("weights", "inception-2015-12-05_fid_pool3.npz"))
    a = _fashion("train-images-idx3-ubyte.gz", 1000)
    b = _fashion("t10k-images-idx3-ubyte.gz", 1000)
    import hashlib

    assert hashlib.sha256(a.tobytes()).hexdigest() == ref["recipe"]["uint8_sha256_a"]
    assert hashlib.sha256(b.tobytes()).hexdigest() == ref["recipe"]["uint8_sha256_b"]
    sa = extraction.compute_feature_stats_for_dataset(det, a, batch_size=25, verbose=False)
    sb = extraction.compute_feature_stats_for_dataset(det, b, batch_size=25, verbose=False)
    for key, s in (("a", sa), ("b", sb)):
        mu, sigma = s.get_mean_cov()
        assert _rel(mu, stats[f"mu_{key}"]) <= 1e-4
        assert _rel(np.diag(sigma), stats[f"sigma_{key}_diag"]) <= 1e-4
        assert _rel(sigma[:64, :64], stats[f"sigma_{key}_block64"]) <= 1e-4
        assert (
            abs(np.trace(sigma) - stats[f"sigma_{key}_trace"]) <= 1e-4 * stats[f"sigma_{key}_trace"]
        )
    value = fid.fid_from_stats(sa, sb)
    assert abs(value - 22.28755) <= 5e-4, value


# ----------------------------------------------------------------------------
# LPIPS.


@pytest.fixture(scope="module")
def lpips_net():
    from metrics.lpips import LPIPS

    return LPIPS(weights_path=shared_path("weights", "vgg16_lpips_v0.1_keras_layout.npz"))


def test_lpips_fixture_distances(lpips_net):
    ref = np.load(shared_path("fixtures", "lpips", "lpips.npz"))
    pairs = ref["pairs"]
    d = lpips_net(pairs[:, 0], pairs[:, 1]).numpy()  # uint8 -> [0,255]
    assert np.abs(d - ref["lpips"]).max() <= 1e-5
    np.testing.assert_allclose(
        lpips_net.per_layer(pairs[:, 0], pairs[:, 1]).numpy(), ref["per_layer"], atol=1e-5
    )
    ex = lpips_net(np.stack([ref["ex_ref"]] * 2), np.stack([ref["ex_p0"], ref["ex_p1"]])).numpy()
    assert np.abs(ex - ref["ex_lpips"]).max() <= 1e-5
    assert np.round(ex.astype(np.float64), 3).tolist() == [
        0.569,
        0.422,
    ]  # the LPIPS repository's published values


def test_lpips_value_ranges_features_and_taps(lpips_net):
    ref = np.load(shared_path("fixtures", "lpips", "lpips.npz"))
    a, b = ref["pairs"][:2, 0], ref["pairs"][:2, 1]
    fa, fb = a.astype(np.float32), b.astype(np.float32)
    d_pm1 = lpips_net(fa / 127.5 - 1, fb / 127.5 - 1).numpy()
    d_255 = lpips_net(fa, fb, value_range=(0, 255)).numpy()
    assert np.abs(d_pm1 - ref["lpips"][:2]).max() <= 1e-5
    assert np.abs(d_255 - ref["lpips"][:2]).max() <= 1e-5
    va, vb = lpips_net.features(fa / 127.5 - 1), lpips_net.features(fb / 127.5 - 1)
    assert np.abs(np.sum((va.numpy() - vb.numpy()) ** 2, axis=1) - ref["lpips"][:2]).max() <= 1e-5
    taps = lpips_net.normalized_taps(a[:1])
    for layer in range(5):
        assert _rel(taps[layer][0], ref[f"feat{layer}_img0"]) <= 1e-4


def test_lpips_is_differentiable(lpips_net):
    import tensorflow as tf

    x = tf.Variable(tf.random.uniform([1, 32, 32, 3], -1, 1, seed=1))
    y = tf.random.uniform([1, 32, 32, 3], -1, 1, seed=2)
    with tf.GradientTape() as tape:
        d = tf.reduce_sum(lpips_net(x, y))
    grad = tape.gradient(d, x)
    assert grad is not None and float(tf.reduce_sum(tf.abs(grad))) > 0


# ----------------------------------------------------------------------------
# Metric math against closed forms and brute-force NumPy.


def test_frechet_distance_closed_form():
    rng = np.random.RandomState(0)
    mu1, mu2 = rng.randn(5), rng.randn(5)
    # commuting covariances (diagonal): FID = |mu1-mu2|^2 + sum (sqrt(a) - sqrt(b))^2
    a, b = rng.uniform(0.5, 2, 5), rng.uniform(0.5, 2, 5)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert abs(fid.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) - expected) < 1e-10
    # general case: Tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2)
    q = rng.randn(5, 5)
    s1, s2 = q @ q.T + np.eye(5), np.cov(rng.randn(50, 5), rowvar=False)
    w, v = np.linalg.eigh(s1)
    r1 = v @ np.diag(np.sqrt(w)) @ v.T
    inner = np.linalg.eigvalsh(r1 @ s2 @ r1)
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.sum(np.sqrt(inner))
    assert abs(fid.frechet_distance(mu1, s1, mu2, s2) - expected) < 1e-9


def test_fid_of_a_set_with_itself_is_zero():
    rng = np.random.RandomState(1)
    feats = rng.randn(600, 64).astype(np.float32) @ rng.randn(64, 64).astype(np.float32)
    stats = feature_stats.FeatureStats()
    for chunk in np.array_split(feats, 7):
        stats.append(chunk)
    mu, sigma = stats.get_mean_cov()
    np.testing.assert_allclose(mu, feats.astype(np.float64).mean(0), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(
        sigma, np.cov(feats.astype(np.float64), rowvar=False), rtol=1e-9, atol=1e-9
    )
    assert abs(fid.fid_from_stats(stats, stats)) <= 1e-6


def test_feature_stats_save_load(tmp_path):
    rng = np.random.RandomState(2)
    stats = feature_stats.FeatureStats(capture_all=True)
    stats.append(rng.randn(40, 8))
    stats.save(tmp_path / "s.npz")
    back = feature_stats.FeatureStats.load(tmp_path / "s.npz")
    for x, y in zip(stats.get_mean_cov(), back.get_mean_cov()):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(stats.get_all(), back.get_all())


def _kid_bruteforce(real, gen, subsets):
    n = real.shape[1]
    m = subsets[0][0].shape[0]
    total = 0.0
    for xi, yi in subsets:
        x, y = gen[xi], real[yi]
        k = lambda a, b: (np.dot(a, b) / n + 1) ** 3  # noqa: E731
        kxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
        kyy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
        kxy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
        total += kxx + kyy - 2 * kxy
    return total / len(subsets)


def test_kid_equals_bruteforce():
    rng = np.random.RandomState(3)
    real, gen = rng.randn(30, 6), rng.randn(25, 6) + 0.3
    value = kid.kernel_inception_distance(real, gen, num_subsets=4, max_subset_size=10, seed=7)
    draw = np.random.RandomState(7)
    subsets = [
        (draw.choice(25, 10, replace=False), draw.choice(30, 10, replace=False)) for _ in range(4)
    ]
    assert abs(value - _kid_bruteforce(real, gen, subsets)) < 1e-10


def _pr_bruteforce(real, gen, k):
    def radii(f):
        d = ((f[:, None] - f[None]) ** 2).sum(-1)
        return np.sort(d, axis=1)[:, k]

    def cover(ref, r, ev):
        d = ((ev[:, None] - ref[None]) ** 2).sum(-1)
        return float((d <= r[None]).any(1).mean())

    return cover(real, radii(real), gen), cover(gen, radii(gen), real)


def test_precision_recall_equals_bruteforce():
    rng = np.random.RandomState(4)
    real = rng.randn(60, 5).astype(np.float32)
    gen = (rng.randn(50, 5) * 1.3 + 0.4).astype(np.float32)
    p, r = precision_recall.precision_recall(
        real, gen, nhood_size=3, row_batch_size=17, col_batch_size=23
    )
    bp, br = _pr_bruteforce(real.astype(np.float64), gen.astype(np.float64), 3)
    assert (p, r) == (bp, br)
    assert 0 < p < 1 and 0 < r < 1


def test_inception_score_and_ppl_helpers():
    rng = np.random.RandomState(5)
    probs = rng.dirichlet(np.ones(8), size=40)
    mean, std = inception_score.inception_score(probs, num_splits=4)
    scores = []
    for part in np.split(probs, 4):
        py = part.mean(0)
        scores.append(np.exp(np.mean([np.sum(p * np.log(p / py)) for p in part])))
    assert abs(mean - np.mean(scores)) < 1e-12 and abs(std - np.std(scores)) < 1e-12
    d = np.arange(1.0, 201.0)
    assert ppl.filtered_mean(d) == np.mean(d[1:199])  # drops below the 1st and above the 99th pct
    a, b = np.array([[1.0, 0, 0]], np.float32), np.array([[0, 1.0, 0]], np.float32)
    s = ppl.slerp(a, b, np.array([[0.5]], np.float32)).numpy()
    np.testing.assert_allclose(s, [[np.sqrt(0.5), np.sqrt(0.5), 0]], atol=1e-6)
    img = np.arange(2 * 1024 * 1024 * 3, dtype=np.float32).reshape(2, 1024, 1024, 3)
    out = ppl.crop_and_downsample(img).numpy()
    assert out.shape == (2, 256, 256, 3)
    np.testing.assert_allclose(out[0, 0, 0], img[0, 384:386, 256:258].mean((0, 1)))


def test_metric_names():
    assert metric_main.parse_metric("fid50k") == (
        "fid",
        dict(num_gen=50000, max_real=50000, full=False),
    )
    assert metric_main.parse_metric("fid50k_full")[1]["max_real"] is None
    assert metric_main.parse_metric("fid2k")[1]["num_gen"] == 2000
    assert metric_main.parse_metric("kid50k_full")[0] == "kid"
    assert metric_main.parse_metric("ppl_zfull")[1] == dict(
        num_samples=50000, space="z", sampling="full", crop=True
    )
    assert metric_main.parse_metric("ppl2_wend")[1]["crop"] is False
    assert metric_main.parse_metric("pr50k3")[1]["nhood_size"] == 3
    assert metric_main.parse_metric("is50k") == ("is", dict(num_gen=50000))
    with pytest.raises(ValueError, match="unknown metric 'fid'"):
        metric_main.parse_metric("fid")


def test_check_ready_warns_about_cpu_time_and_refuses_missing_weights(tmp_path, monkeypatch):
    """Before training: fid50k on a CPU warns with its per-snapshot cost; without weights (and no
    downloads) it is refused, naming the metric."""
    from metrics import metric_main

    monkeypatch.setenv("TF_STYLEGAN2_NO_DOWNLOAD", "1")
    lines = []
    metric_main.check_ready(
        ["fid50k", "kid50k_full"],
        weights_dir=str(shared_path("weights")),
        on_gpu=False,
        log=lines.append,
    )
    assert len(lines) == 2 and all(ln.startswith("WARNING: --metrics ") for ln in lines), lines
    assert "50000 generated images" in lines[0] and "about 31 min at 27 img/s" in lines[0]
    lines.clear()
    metric_main.check_ready(
        ["fid50k"], weights_dir=str(shared_path("weights")), on_gpu=True, log=lines.append
    )
    assert lines == []
    monkeypatch.setenv("TF_STYLEGAN2_WEIGHTS", str(tmp_path))
    monkeypatch.setenv("TF_STYLEGAN2_CACHE", str(tmp_path))
    with pytest.raises(ValueError, match=r"^--metrics fid50k: missing weights file"):
        metric_main.check_ready(
            ["fid50k"], weights_dir=str(tmp_path), on_gpu=False, log=lines.append
        )


def test_report_metric_creates_a_missing_run_dir(tmp_path):
    result = {"metric": "fid2k", "results": {"fid2k": 12.5}}
    path = metric_main.report_metric(result, run_dir=str(tmp_path / "new" / "dir"))
    line = json.loads(path.read_text().splitlines()[0])
    assert path.name == "metric-fid2k.jsonl" and line["results"] == {"fid2k": 12.5}
