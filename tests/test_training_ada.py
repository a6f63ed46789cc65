"""ADA in training: flags as the official train.py, the pipeline in front of every D call, and the
adjustment of p. (Exact resume with ADA on: test_training_dist.py, the SIGKILL test.)"""

import numpy as np
import pytest
import tensorflow as tf

from training import config as config_lib
from training import loop


def make(preset="tiny", **kw):
    return config_lib.make_config(preset, data="", outdir="", resolution=32, channels=3, **kw)


def test_defaults_follow_the_official_configs():
    for preset in ("stylegan2", "paper256", "paper512", "paper1024", "cifar"):
        cfg = make(preset)
        assert (cfg.aug, cfg.augpipe, cfg.aug_p, cfg.ada_target) == ("ada", "bgc", 0.0, 0.6)
        assert (cfg.ada_interval, cfg.ada_kimg) == (4, 500.0)
    for preset in ("config-e", "config-f", "tiny", "demo"):
        assert make(preset).aug == "noaug"
    cfg = make("tiny", aug="fixed", p=0.3, augpipe="bgcf")
    assert (cfg.aug, cfg.aug_p, cfg.augpipe) == ("fixed", 0.3, "bgcf")
    assert config_lib.TrainConfig.from_json(cfg.to_json()) == cfg


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(aug="sometimes"), "--aug sometimes: choose ada, noaug or fixed"),
        (dict(aug="ada", p=0.2), "--p can only be given with --aug fixed"),
        (dict(aug="fixed"), "--aug fixed needs --p"),
        (dict(aug="fixed", p=1.5), "--p 1.5 must be between 0 and 1"),
        (dict(aug="noaug", target=0.5), "--target can only be given with --aug ada"),
        (dict(aug="noaug", augpipe="bgc"), "--augpipe cannot be given with --aug noaug"),
        (dict(aug="ada", augpipe="bgcx"), "--augpipe bgcx: choose one of blit, geom"),
    ],
)
def test_bad_augmentation_settings(kw, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        make(**kw)
    with pytest.raises(ValueError, match="image filtering needs a resolution above 21"):
        config_lib.make_config("tiny", data="", outdir="", resolution=16, channels=3,
                               aug="ada", augpipe="bgcf")  # fmt: skip


class _Recorder:
    """Stands in for the pipeline: records the shapes it is traced with, returns images / 2."""

    def __init__(self):
        self.calls = []

    def __call__(self, img, seed=None):
        self.calls.append((tuple(img.shape), seed is not None))
        return img * 0.5


def test_every_d_call_sees_augmented_images_and_p_adapts():
    cfg = config_lib.make_config("tiny", data="", outdir="", resolution=16, channels=3, batch=8,
                                 aug="ada")  # fmt: skip
    trainer = loop.Trainer(cfg, tf.distribute.MirroredStrategy(["/cpu:0"]), log=lambda *a: None)
    assert trainer.augment_p() == 0.0 and trainer.augment_pipe.get_config()["hue"] == 1
    recorder = _Recorder()
    trainer.augment_pipe, pipe = recorder, trainer.augment_pipe
    reals = tf.constant(np.random.RandomState(0).randint(0, 256, [8, 16, 16, 3]).astype(np.uint8))
    labels = tf.zeros([8, 0])
    traced = {}
    for name in ("Gmain", "Greg", "Dmain", "Dreg"):
        recorder.calls.clear()
        _, stats = trainer.run_phase(name, reals, labels)
        traced[name] = list(recorder.calls)
        assert ("Loss/signs/real" in stats) == (name in ("Dmain", "Dreg"))
    # ADA-PT run_D: Gmain augments the fakes, Dmain fakes and reals, Dreg the reals, Greg nothing
    # (per trace of the round function; each phase traces it the same number of times)
    n = len(traced["Gmain"])
    assert n >= 1
    assert {k: len(v) for k, v in traced.items()} == {"Gmain": n, "Greg": 0, "Dmain": 2 * n,
                                                      "Dreg": n}  # fmt: skip
    assert all(shape == (4, 16, 16, 3) and seeded for v in traced.values() for shape, seeded in v)

    # The heuristic: r_t = mean sign over the interval; p moves by batch * interval / 500k
    trainer.augment_pipe = pipe
    step = 8 * 4 / 500_000
    trainer.ada_state["ada_signs"].assign(10.0)
    trainer.ada_state["ada_count"].assign(16.0)  # r_t = 0.625 > 0.6: up
    assert trainer.adjust_augment_p() == 0.625
    assert trainer.augment_p() == pytest.approx(step, rel=1e-6)
    assert float(trainer.ada_state["ada_count"].numpy()) == 0.0  # reset for the next interval
    trainer.ada_state["ada_signs"].assign(-4.0)
    trainer.ada_state["ada_count"].assign(8.0)  # r_t = -0.5: down, clamped at 0
    trainer.adjust_augment_p()
    trainer.ada_state["ada_signs"].assign(-4.0)
    trainer.ada_state["ada_count"].assign(8.0)
    trainer.adjust_augment_p()
    assert trainer.augment_p() == 0.0

    # In the loop: the signs of Dmain (and Dreg) accumulate, p is adjusted every 4th minibatch
    for _ in range(4):
        trainer.iteration(reals, labels)
    assert trainer.counter("batch_idx") == 4
    assert float(trainer.ada_state["ada_count"].numpy()) == 0.0
    assert np.isfinite(trainer.last_rt) and -1 <= trainer.last_rt <= 1
    assert trainer.augment_p() in (0.0, pytest.approx(step, rel=1e-6))


def test_freezed_keeps_the_first_d_layers_fixed():
    cfg = config_lib.make_config("tiny", data="", outdir="", resolution=16, channels=3, batch=8,
                                 freezed=3)  # fmt: skip
    assert cfg.D_kwargs["freeze_layers"] == 3
    trainer = loop.Trainer(cfg, tf.distribute.MirroredStrategy(["/cpu:0"]), log=lambda *a: None)
    D = trainer.D
    # layers 0, 1, 2 = b16 fromrgb, conv0, conv1; b16's resnet skip is layer 3
    frozen = {v.path.split("/", 1)[1] for v in D.non_trainable_variables}
    assert {"b16/fromrgb/weight", "b16/conv0/weight", "b16/conv1/weight"} <= frozen
    assert not any(p.startswith(("b16/skip", "b8/", "b4/")) for p in frozen)
    before = {v.path: v.numpy().copy() for v in D.weights}
    reals = tf.constant(np.random.RandomState(1).randint(0, 256, [8, 16, 16, 3]).astype(np.uint8))
    trainer.run_phase("Dmain", reals, tf.zeros([8, 0]))
    for v in D.weights:
        same = np.array_equal(before[v.path], v.numpy())
        assert same == (not v.trainable), v.path
    clone = type(D).from_config(D.get_config())
    assert len(clone.non_trainable_variables) == len(D.non_trainable_variables)
    with pytest.raises(ValueError, match="--freezed -1 must be >= 0"):
        make(freezed=-1)


def test_ada_runs_under_jit():
    """--jit with --aug: the trainer's pipeline pads by its static bound, so XLA compiles it (it
    failed with 'MirrorPad must be a compile-time constant' before). The pipeline alone is
    compiled here: the whole D phase under XLA costs a minute of compile time on 2 cores."""
    cfg = config_lib.make_config("tiny", data="", outdir="", resolution=16, channels=3, batch=4,
                                 batch_gpu=4, aug="fixed", p=1.0, jit=True)  # fmt: skip
    trainer = loop.Trainer(cfg, tf.distribute.MirroredStrategy(["/cpu:0"]), log=lambda *a: None)
    pipe = trainer.augment_pipe
    assert pipe.static_margin
    images = tf.constant(np.random.RandomState(0).uniform(-1, 1, [4, 16, 16, 3]), tf.float32)

    @tf.function(jit_compile=True)
    def augment_and_grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = pipe(x)
            total = tf.reduce_sum(y * y)
        return y, tape.gradient(total, x)

    y, g = augment_and_grad(images)
    assert y.shape == images.shape and np.isfinite(y.numpy()).all() and np.isfinite(g.numpy()).all()
    assert float(tf.reduce_max(tf.abs(y - images))) > 0.1  # p = 1: every image is changed


def test_transfer_from_an_official_pickle_with_freezed():
    """--resume official.pkl --freezed 2 (the official transfer-learning recipe): the networks start
    from the pickle's weights (ADA-PyTorch config_S, networks built to its kwargs, as the official
    --cfg must match the pickle), and a D step leaves the frozen layers at the pickle's values."""
    import tf_stylegan2

    from conftest import shared_path

    path = str(shared_path("fixtures", "ada_config_S", "config_S.pkl"))
    nets = tf_stylegan2.load_network(path)

    def kwargs_of(net):
        return {
            k: v for k, v in net.get_config().items() if k not in ("name", "trainable", "dtype")
        }

    def like_the_pickle(*args):
        return kwargs_of(nets["G"]), kwargs_of(nets["D"])

    cfg = config_lib.make_config("tiny", data="", outdir="", resolution=16, channels=3, batch=8,
                                 resume=path, freezed=2, aug="ada",
                                 network_kwargs=like_the_pickle)  # fmt: skip
    trainer = loop.Trainer(cfg, tf.distribute.MirroredStrategy(["/cpu:0"]), log=lambda *a: None)
    logs = []
    loop._load_resume_weights(trainer, cfg, logs.append)
    assert [line.split(" weights of ")[1].split(" from")[0] for line in logs] == ["G", "D", "G_ema"]
    for name in ("G", "D", "G_ema"):
        for src, dst in zip(nets[name].weights, getattr(trainer, name).weights):
            np.testing.assert_array_equal(src.numpy(), dst.numpy())
    reals = tf.constant(np.random.RandomState(2).randint(0, 256, [8, 16, 16, 3]).astype(np.uint8))
    trainer.run_phase("Dmain", reals, tf.zeros([8, 0]))
    frozen = [v for v in trainer.D.weights if not v.trainable and "b16/" in v.path]
    assert {v.path.split("/", 1)[1] for v in frozen} >= {"b16/fromrgb/weight", "b16/conv0/weight"}
    for src, dst in zip(nets["D"].weights, trainer.D.weights):
        assert np.array_equal(src.numpy(), dst.numpy()) == (not dst.trainable), dst.path
