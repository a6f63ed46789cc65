"""The classifier (train-classifier), the class metrics cls_acc and msssim, MS-SSIM against
TensorFlow's, and the --guide term of G's loss."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from dataset_tool import create
from metrics import class_metrics, classifier, classifier_training, metric_main, msssim
from training import loss as loss_lib

from conftest import REPO

LEVELS = np.array([30, 90, 160, 230])  # class k: grey level LEVELS[k], plus noise


def _class_images(labels, rng, res=16):
    base = LEVELS[np.asarray(labels)][:, None, None, None]
    noise = rng.randint(-20, 21, [len(labels), res, res, 3])
    return np.clip(base + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def grey4(tmp_path_factory):
    """200 16x16 images of 4 classes told apart by their grey level, and a classifier of them."""
    root = tmp_path_factory.mktemp("grey4")
    labels = np.arange(200) % 4
    images = _class_images(labels, np.random.RandomState(0))
    np.savez(root / "src.npz", images=images, labels=labels)
    data = root / "data"
    create.create_from_npz(str(data), str(root / "src.npz"), log=lambda *a: None, workers=1)
    model, path = classifier_training.train_classifier(
        str(data), epochs=20, batch_size=32, log=lambda *a: None
    )
    return str(data), model, path


def _generator(wrong=False, same=False):
    """A stand-in conditional generator: images of the class argmax(c) (or the next one)."""

    def G(z, c):
        k = (np.argmax(np.asarray(c), 1) + (1 if wrong else 0)) % 4
        rng = np.random.RandomState(int(abs(np.asarray(z)[0, 0]) * 1e6))
        img = _class_images(k, rng)
        if same:  # msssim draws a batch per class: every image alike, a collapsed class
            img = np.repeat(img[:1], len(img), axis=0)
        return tf.constant(img.astype(np.float32) / 127.5 - 1)

    return G


def test_classifier_learns_saves_and_reloads(grey4):
    data, model, path = grey4
    assert path == classifier.default_path(data) and path.is_file()
    assert model.holdout_accuracy["overall"] >= 0.95, model.holdout_accuracy  # 1.0 measured
    loaded = classifier.load_classifier(path)
    assert (loaded.c_dim, loaded.multi_hot, loaded.resolution) == (4, False, 16)
    x = np.random.RandomState(1).uniform(-1, 1, [3, 16, 16, 3]).astype(np.float32)
    np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())


def test_cls_acc_judges_the_requested_class(grey4):
    data, _, _ = grey4
    kw = dict(data=data, z_dim=4, c_dim=4, seed=0, verbose=False, cache_dir=None)
    right = metric_main.calc_metric("cls_acc200", generator=_generator(), **kw)["results"]
    wrong = metric_main.calc_metric("cls_acc200", generator=_generator(wrong=True), **kw)
    assert right["cls_acc200"] >= 0.95 and wrong["results"]["cls_acc200"] <= 0.05
    assert sorted(k for k in right if k != "cls_acc200") == [f"cls_acc200_{k}" for k in "0123"]


def test_msssim_of_collapsed_and_diverse_fakes(grey4):
    data, _, _ = grey4
    kw = dict(data=data, z_dim=4, c_dim=4, seed=0, verbose=False, cache_dir=None)
    same = metric_main.calc_metric("msssim20", generator=_generator(same=True), **kw)["results"]
    diverse = metric_main.calc_metric("msssim20", generator=_generator(), **kw)["results"]
    assert same["msssim20_fake"] == pytest.approx(1.0, abs=1e-6)  # every pair identical
    assert diverse["msssim20_fake"] < 0.9
    # the reals of a class are this noise as well: the diverse fakes score like them
    assert diverse["msssim20_fake"] == pytest.approx(diverse["msssim20_real"], abs=0.05)
    assert "msssim20_real_3" in diverse


@pytest.mark.parametrize("size, scales", [(192, 5), (64, 3), (32, 2)])
def test_ms_ssim_equals_tensorflow(size, scales):
    rng = np.random.RandomState(size)
    a = rng.uniform(0, 255, [2, size, size, 3]).astype(np.float32)
    a = tf.nn.avg_pool2d(a, 3, 1, "SAME").numpy()  # some structure across scales
    b = np.clip(a + rng.normal(0, 25, a.shape), 0, 255).astype(np.float32)
    assert msssim.num_scales(size) == scales
    weights = np.array(msssim.POWER_FACTORS[:scales])
    weights *= sum(msssim.POWER_FACTORS) / weights.sum()
    ref = tf.image.ssim_multiscale(a, b, 255.0, power_factors=tuple(weights)).numpy()
    got = msssim.ms_ssim(a, b).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-5)
    np.testing.assert_allclose(msssim.ms_ssim(a, a).numpy(), 1.0, rtol=1e-6)
    assert np.all(got < 0.99)


def test_same_label_pairs_are_distinct_images_of_one_label():
    labels = np.eye(3)[[0, 1, 0, 2, 0, 1]]
    pairs = msssim.same_label_pairs(labels, 50, np.random.RandomState(0))
    assert len(pairs) == 2  # class 2 has a single image
    for row, (a, b) in pairs.items():
        assert np.all(a != b)
        assert all(tuple(labels[i]) == row for i in np.concatenate([a, b]))
    assert class_metrics.label_name((0, 1, 1), ["x", "y", "z"]) == "y+z"
    names = ["Ankle boot", "T-shirt/top"]  # result keys: no spaces or slashes
    assert class_metrics.label_name((1, 1), names) == "Ankle_boot+T-shirt_top"


def test_guide_term_of_g_loss(grey4):
    from harness import tiny_generator

    _, judge, _ = grey4
    G = tiny_generator(4, seed=3)
    from tf_stylegan2.networks import Discriminator, presets

    D = Discriminator(**presets.network_kwargs("tiny", 16, 3, 4)[1])
    z = tf.constant(np.random.RandomState(2).randn(4, G.z_dim).astype(np.float32))
    c = tf.one_hot([0, 1, 2, 3], 4)
    base, _, _ = loss_lib.G_main_loss(G, D, z, c, 8.0)
    guided, stats, _ = loss_lib.G_main_loss(G, D, z, c, 8.0, guide=judge, guide_weight=0.3)
    ce = judge.loss_per_sample(judge(G.synthesis(G.mapping(z, c))), c)
    np.testing.assert_allclose(stats["Loss/G/guide"], ce, rtol=1e-5)
    np.testing.assert_allclose(guided, base + 0.3 * np.sum(ce) / 8.0, rtol=1e-5)
    judge_vars = judge.trainable_variables
    with tf.GradientTape() as tape:
        loss, _, _ = loss_lib.G_main_loss(G, D, z, c, 8.0, guide=judge, guide_weight=0.3)
    grads = tape.gradient(loss, G.trainable_variables)
    assert all(g is not None for g in grads) and judge_vars  # G learns through the judge


def _metrics_cli(*args):
    env = {"PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "metrics/run.py", *map(str, args)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_train_classifier_cli(grey4, tmp_path):
    data, _, _ = grey4
    out = tmp_path / "judge.keras"
    proc = _metrics_cli("train-classifier", "--data", data, "--out", out, "--epochs", 1)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "held-out accuracy (20 images):" in proc.stdout and out.is_file()
    assert json.loads(json.dumps(classifier.load_classifier(out).holdout_accuracy))["per_label"]
    for args, message in [
        (["--data", tmp_path / "none"], f"error: {tmp_path / 'none'}: no such dataset"),
        (["--data", data, "--out", tmp_path / "x.h5"], "must end in .keras"),
        (["--data", data, "--epochs", 0], "error: --epochs 0 must be >= 1"),
    ]:
        proc = _metrics_cli("train-classifier", *args)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], proc.stderr


def _train(data, outdir, *extra):
    env = {"PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"}
    cmd = [
        sys.executable,
        "training/run.py",
        "--data",
        data,
        "--config",
        "tiny",
        "--outdir",
        outdir,
        "--total-kimg",
        "0.016",
        "--kimg-per-tick",
        "0.008",
        "--nograppler",
        *extra,
    ]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def test_class_metrics_and_guide_during_training(grey4, tmp_path):
    data, _, judge_path = grey4
    runs = tmp_path / "runs"
    proc = _train(
        data,
        runs,
        "--cond",
        "--cond-mode",
        "acgan",
        "--guide",
        judge_path,
        "--metrics",
        "cls_acc100,msssim5",
        "--snap",
        "2",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = list(runs.iterdir())
    for name, key in (("cls_acc100", "cls_acc100"), ("msssim5", "msssim5_fake")):
        rows = [json.loads(x) for x in (run_dir / f"metric-{name}.jsonl").read_text().splitlines()]
        assert rows and 0 <= rows[-1]["results"][key] <= 1, rows
    plain = _copy_without_classifier(data, tmp_path)
    small = tmp_path / "small.keras"
    classifier.AttributeClassifier(8, 3, 4).save(small)
    for where, extra, message in [
        (data, ["--cond", "--guide", str(small)], "a classifier of 8x8x3 images with c_dim 4; the"),
        (data, ["--metrics", "msssim"], "--metrics msssim: needs conditional training (--cond)"),
        (data, ["--cond", "--guide", str(tmp_path / "none.keras")], "no such classifier file"),
        (plain, ["--cond", "--metrics", "cls_acc"], "cls_acc needs a classifier"),
    ]:
        proc = _train(where, tmp_path / "bad", *extra)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and message in lines[0], proc.stderr
        assert not (tmp_path / "bad").exists() or not list((tmp_path / "bad").iterdir())


def _copy_without_classifier(data, tmp_path):
    import shutil

    copy = tmp_path / "plain"
    if not copy.exists():
        shutil.copytree(data, copy, ignore=shutil.ignore_patterns("classifier.keras"))
    return str(copy)
