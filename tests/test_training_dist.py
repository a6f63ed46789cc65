"""Distributed training and exact resume (subprocesses; tiny networks at 16x16).

* one conditional iteration (all four phases; D with the projection and the AC-GAN head,
--cond-mode both, and G guided by a frozen classifier, --guide) on 1 and 4 replicas, same
global batch and seed -> same weights;
* two processes on localhost under MultiWorkerMirroredStrategy -> identical weights on both workers;
* SIGKILL in the middle of a tick (ADA on, AC-GAN head beside the projection), then --resume RUN_DIR
  -> the weights of an uninterrupted run;
* the run directory: config.json, log.txt, TensorBoard events, image grids, a loadable snapshot.
"""

import glob
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from harness import checkpoint_state

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUIET = {"TF_CPP_MIN_LOG_LEVEL": "2", "TF_DETERMINISTIC_OPS": "1"}


def _env(**extra):
    env = dict(os.environ, **QUIET, **extra)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    return env


ADA = ("--aug", "ada", "--target", "0")
ACGAN = ("--cond", "--cond-mode", "both", "--acgan-weight", "0.5")


def _train_cmd(data, outdir, *extra):
    return [
        sys.executable,
        "training/run.py",
        "--data",
        data,
        "--config",
        "tiny",
        "--outdir",
        str(outdir),
        "--total-kimg",
        "0.064",
        "--kimg-per-tick",
        "0.024",
        "--snap",
        "2",
        "--nograppler",
        *extra,
    ]  # no graph optimization: these tiny runs are mostly tracing


def _check(proc, what):
    out = proc.stdout if isinstance(proc.stdout, str) else ""
    err = proc.stderr if isinstance(proc.stderr, str) else ""
    assert proc.returncode == 0, f"{what} failed ({proc.returncode}):\n{out[-3000:]}\n{err[-3000:]}"


def _max_diff(a, b):
    assert sorted(a) == sorted(b)
    assert any(k.startswith("G/") for k in a) and any(k.startswith("opt_D/") for k in a)
    return max(
        float(np.max(np.abs(np.asarray(a[k], np.float64) - np.asarray(b[k], np.float64))))
        for k in a
    )


REPLICAS_SCRIPT = textwrap.dedent("""
    import dataclasses, sys, numpy as np, tensorflow as tf
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    tf.config.set_logical_device_configuration(tf.config.list_physical_devices("CPU")[0],
                                               [tf.config.LogicalDeviceConfiguration()] * 4)
    from training import config as C, loop
    from training.dataset import make_dataset
    from tf_stylegan2.networks import presets
    data, out, guide = sys.argv[1], sys.argv[2], sys.argv[3]
    reals, labels = next(iter(make_dataset(data, 16, seed=0)))

    def no_mbstd(*args):
        G_kwargs, D_kwargs = presets.network_kwargs(*args)
        return G_kwargs, dict(D_kwargs, mbstd_num_channels=0)

    def one_iteration(tag, gpus, batch_gpu, **kw):
        strategy = tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(gpus)],
                                                  cross_device_ops=tf.distribute.ReductionToOneDevice())
        cfg = C.make_config("tiny", data=data, outdir="", resolution=16, channels=3, gpus=gpus,
                            batch=16, batch_gpu=batch_gpu, c_dim=4, cond=True, dtype="float64",
                            cond_mode="both", acgan_weight=0.5, **kw)
        assert cfg.acgan_weight == 0.5 and cfg.D_kwargs["cond_mode"] == "both"
        t = loop.Trainer(cfg, strategy)
        t.iteration(reals, labels)  # batch 0: Gmain, Greg, Dmain, Dreg, then G_ema
        for net in ("G", "D", "G_ema"):
            for i, v in enumerate(getattr(t, net).weights):
                result[f"{tag}/{net}/{'t' if v.trainable else 'n'}{i}"] = v.numpy()
        result[f"{tag}/pl_mean"] = t.pl_mean.numpy()
        result[f"{tag}/rounds"] = t.rounds

    result = {}
    for n in (1, 4):  # batch 16, batch_gpu 4: 4 and 1 rounds of gradient accumulation
        one_iteration(f"r{n}", n, 4, guide=guide, guide_weight=0.5)  # guide: float32 kernels
    # batch_gpu 4 vs 8 where the math agrees: no style mixing, no path length, no minibatch stddev
    for bg in (4, 8):
        one_iteration(f"bg{bg}", 1, bg, style_mixing_prob=0.0, pl_weight=0.0,
                      network_kwargs=no_mbstd)
    np.savez(out, **result)
""")


def _max_abs(w, a, b, trainable_only=False):
    keys = [k[len(a) + 1 :] for k in w.files if k.startswith(a + "/") and not k.endswith("rounds")]
    if trainable_only:
        keys = [k for k in keys if "/t" in k]
    return max(float(np.max(np.abs(w[f"{a}/{k}"] - w[f"{b}/{k}"]))) for k in keys)


@pytest.mark.slow
def test_one_iteration_same_weights_on_1_and_4_replicas(data16, tmp_path):
    """float64, so that the comparison tests the distribution and accumulation logic rather
    than kernel rounding (float32 kernels round differently per batch size, and Adam's first step,
    lr * g / |g|, turns a rounding-level difference of a near-zero gradient into 2 lr)."""
    from metrics import classifier_training

    out, guide = tmp_path / "w.npz", tmp_path / "guide.keras"
    classifier_training.train_classifier(data16, guide, epochs=1, log=lambda *a: None)
    proc = subprocess.run(
        [sys.executable, "-c", REPLICAS_SCRIPT, data16, str(out), str(guide)],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    _check(proc, "replicas script")
    w = np.load(out)
    assert [int(w[f"r{n}/rounds"]) for n in (1, 4)] == [4, 1]
    assert w["r1/pl_mean"] > 0 and len([k for k in w.files if k.startswith("r1/")]) > 50
    diff = _max_abs(w, "r1", "r4")
    assert diff <= 1e-12, f"4 replicas differ from 1 by {diff}"
    diff = _max_abs(w, "bg4", "bg8", trainable_only=True)
    assert diff <= 1e-12, f"batch_gpu 8 differs from 4 by {diff}"


def _free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow
def test_two_workers_multiworker_identical_weights(data16, tmp_path):
    ports = _free_ports(2)
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    procs = []
    for i in range(2):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})
        procs.append(
            subprocess.Popen(
                _train_cmd(data16, tmp_path, "--total-kimg", "0.04", "--kimg-per-tick", "0.016"),
                cwd=REPO,
                env=_env(TF_CONFIG=tf_config),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    for i, p in enumerate(procs):
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, f"worker {i}:\n{out[-2000:]}\n{err[-3000:]}"
    (run_dir,) = glob.glob(str(tmp_path / "0000*"))
    assert "2 worker(s)" in open(os.path.join(run_dir, "log.txt")).read()
    w0, w1 = checkpoint_state(run_dir, 0), checkpoint_state(run_dir, 1)
    assert int(w0["cur_nimg/.ATTRIBUTES/VARIABLE_VALUE"]) == 40
    assert _max_diff(w0, w1) == 0.0


@pytest.mark.slow
def test_sigkill_mid_tick_then_resume_equals_uninterrupted_run(data16, tmp_path):
    """With ADA on (--aug ada --target 0, so that p moves) and D's AC-GAN head trained beside the
    projection (--cond-mode both), as both add state to resume."""
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    # Ticks end at 8, 32 and 56 images; the kill lands at 48, inside the third tick.
    a = subprocess.Popen(
        _train_cmd(data16, a_dir, *ADA, *ACGAN),
        cwd=REPO,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    kill_cmd = [sys.executable, "tests/train_until_killed.py", "48"] + _train_cmd(
        data16, b_dir, *ADA, *ACGAN
    )[2:]
    b = subprocess.Popen(
        kill_cmd, cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    b_out, b_err = b.communicate(timeout=600)
    assert b.returncode == -signal.SIGKILL, b_err[-3000:]
    (run_b,) = glob.glob(str(b_dir / "0000*"))
    assert not os.path.exists(os.path.join(run_b, "_finished.txt"))
    resumed = subprocess.run(
        [sys.executable, "training/run.py", "--resume", run_b, "--nograppler"],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    _check(resumed, "resume")
    a_out, a_err = a.communicate(timeout=600)
    assert a.returncode == 0, a_err[-3000:]
    (run_a,) = glob.glob(str(a_dir / "0000*"))
    assert "Resumed from" in resumed.stdout and "kimg 0.032" in resumed.stdout
    state_a, state_b = checkpoint_state(run_a), checkpoint_state(run_b)
    assert int(state_a["cur_nimg/.ATTRIBUTES/VARIABLE_VALUE"]) == 64
    assert _max_diff(state_a, state_b) == 0.0
    # ADA's strength and r_t accumulator are part of the state that resumed exactly: with target 0
    # p rose at each adjustment where r_t > 0 (every 4 minibatches, by 8 * 4 / 500000)
    p = float(state_a["augment_pipe/p/.ATTRIBUTES/VARIABLE_VALUE"])
    assert p > 0 and abs(p / 6.4e-5 - round(p / 6.4e-5)) < 1e-3, p
    assert "augment 0.000" in open(os.path.join(run_a, "log.txt")).read()
    _check_run_dir(run_a)


def _check_run_dir(run_dir):
    import tf_stylegan2

    files = set(os.listdir(run_dir))
    for name in (
        "config.json",
        "log.txt",
        "reals.png",
        "fakes_init.png",
        "fakes000000.png",
        "network-snapshot-000000.keras",
        "_finished.txt",
    ):
        assert name in files, f"{name} missing from {sorted(files)}"
    cfg = json.load(open(os.path.join(run_dir, "config.json")))
    assert cfg["preset"] == "tiny" and cfg["total_kimg"] == 0.064
    log = open(os.path.join(run_dir, "log.txt")).read()
    ticks = [ln for ln in log.splitlines() if ln.startswith("tick ")]
    assert len(ticks) == 4 and "sec/kimg" in ticks[0] and "img/s" in ticks[0] and "mem" in ticks[0]
    from PIL import Image

    assert Image.open(os.path.join(run_dir, "fakes000000.png")).size == (8 * 16, 4 * 16)
    (events,) = glob.glob(os.path.join(run_dir, "events.out.tfevents.*"))
    tags = set()
    for record in tf.data.TFRecordDataset(events):
        event = tf.compat.v1.Event.FromString(record.numpy())
        tags.update(v.tag for v in event.summary.value)
    for tag in (
        "Loss/G/loss",
        "Loss/D/loss",
        "Loss/r1_penalty",
        "Loss/pl_penalty",
        "Loss/pl_mean",
        "Timing/sec_per_kimg",
        "Timing/img_per_sec",
        "Resources/peak_mem_gb",
        "fakes",
        *(["Loss/D/acgan", "Loss/G/acgan"] if cfg.get("cond_mode") in ("acgan", "both") else []),
    ):
        assert tag in tags, f"{tag} not in {sorted(tags)}"
    nets = tf_stylegan2.load_network(os.path.join(run_dir, "network-snapshot-000000.keras"))
    state = checkpoint_state(run_dir)
    G_ema = nets["G_ema"]
    img = G_ema(tf.zeros([1, G_ema.z_dim]), tf.one_hot([0], G_ema.c_dim) if G_ema.c_dim else None)
    assert img.shape == (1, 16, 16, 3)
    # the final snapshot holds the final G_ema
    w_avg = [k for k in state if k.startswith("G_ema/") and "w_avg" in k]
    assert w_avg and np.allclose(state[w_avg[0]], G_ema.mapping.w_avg.numpy())


@pytest.mark.slow
def test_resume_from_snapshot_starts_new_run_from_its_weights(data16, tmp_path):
    """--resume SNAPSHOT.keras (transfer learning): a fresh run whose networks hold the snapshot's
    weights."""
    import tf_stylegan2
    from training import config as config_lib
    from training import loop

    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    src = config_lib.make_config(
        "tiny", data=data16, outdir=str(tmp_path), resolution=16, channels=3, seed=5
    )
    os.makedirs(tmp_path / "src")
    trainer = loop.Trainer(src, strategy)
    snapshot = str(tmp_path / "snap.keras")
    tf_stylegan2.save_snapshot(snapshot, G=trainer.G, D=trainer.D, G_ema=trainer.G_ema)

    cfg = config_lib.make_config(
        "tiny",
        data=data16,
        outdir=str(tmp_path),
        resolution=16,
        channels=3,
        seed=0,
        resume=snapshot,
    )
    os.makedirs(tmp_path / "run")
    new = loop.train(cfg, str(tmp_path / "run"), strategy, stop_after_nimg=0, log=lambda *a: None)
    for name in ("G", "D", "G_ema"):
        for a, b in zip(getattr(trainer, name).weights, getattr(new, name).weights):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert os.path.exists(tmp_path / "run" / "fakes_init.png")

    wrong = config_lib.make_config(
        "demo", data=data16, outdir=str(tmp_path), resolution=16, channels=3, resume=snapshot
    )
    os.makedirs(tmp_path / "wrong")
    with pytest.raises(loop.ResumeError, match="G does not fit --config demo at 16x16"):
        loop.train(wrong, str(tmp_path / "wrong"), strategy, stop_after_nimg=0, log=lambda *a: None)
