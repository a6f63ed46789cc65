"""StyleALAE's training pieces (training/alae) against the official ALAE code
(../shared/fixtures/alae_small/alae_small.npz): style mixing and the dlatent_avg update, the three
losses (values, their parts, gradients), LREQAdam's steps and coefficients, the LOD schedule."""

import json

import numpy as np
import pytest
import tensorflow as tf

from tf_stylegan2.networks.alae import ALAE, apply_official_state
from tf_stylegan2.networks.alae.alae_state import official_variables
from training.alae import loss, schedule
from training.alae.optimizer import LREQAdam

from conftest import shared_path

W_TOL, IMG_TOL = 2e-5, 1e-4
LOSS_TOL = 1e-4  # relative; measured below 1e-6 (oneDNN on and off)
GRAD_TOL = 1e-4  # relative to the largest entry (the bound); measured below 2e-5
SMALL = dict(layer_count=4, startf=16, maxf=48, latent_size=32, mapping_layers=4)


def nhwc(a):
    return np.transpose(a, (0, 2, 3, 1))


@pytest.fixture(scope="module")
def fx():
    return np.load(shared_path("fixtures", "alae_small", "alae_small.npz"))


def _model(fx, **kw):
    m = ALAE(**SMALL, **kw)
    state = {k[6:].replace("/", ".", 1): fx[k] for k in fx.files if k.startswith("param/")}
    return apply_official_state(m, state, "alae_small")


def _noise(fx, prefix):
    return [nhwc(fx[f"{prefix}noise/block{i}_{j}"]) for i in range(4) for j in (1, 2)]


def _close(got, want, tol, what, relative=False):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    err = float(np.abs(got - want).max())
    if relative:
        err /= max(float(np.abs(want).max()), 1e-30)
    assert err <= tol, f"{what}: max {'relative ' if relative else ''}error {err:.3g}"


def _mix(fx, prefix, lod=3):
    """The official draws: mixing when random.random() < 0.9, then z2 and the cutoff."""
    mixes = float(fx[f"{prefix}mix_u"]) < 0.9
    cutoff = int(fx[f"{prefix}mix_cutoff"])
    assert 1 <= cutoff <= 2 * (lod + 1)
    return (fx[f"{prefix}z2"], cutoff) if mixes else (None, None)


def test_mixing_dlatent_avg_and_truncation(fx):
    m = _model(fx, truncation_psi=0.7, truncation_cutoff=6)
    z2, cutoff = _mix(fx, "gen_mix/draw/")
    s, ws = loss.styles(m, fx["in/z"], z2, cutoff)
    _close(ws, fx["out/gen_mix/styles"], W_TOL, "mixed styles")
    loss.update_dlatent_avg(m, tf.reduce_mean(s, 0), 0.995)
    _close(m.dlatent_avg, fx["out/gen_mix/dlatent_avg_after"], W_TOL, "dlatent_avg")
    m = _model(fx, truncation_psi=0.7, truncation_cutoff=6)  # mix_trunc: no update, truncation
    ws = m.truncate(loss.styles(m, fx["in/z"], z2, cutoff)[1])
    _close(ws, fx["out/gen_mix_trunc/styles"], W_TOL, "mixed, truncated styles")
    img = m.decode(ws, noise=_noise(fx, "gen_mix/draw/"))
    _close(img, nhwc(fx["out/gen_mix_trunc/img"]), IMG_TOL, "generate with mixing")


def _loss(m, fx, tag, name, x):
    """One official Model.forward call with its recorded draws; returns (loss, parts, variables
    the official code trains with it)."""
    lod, blend = 3, (1.0 if tag == "lod3_b1" else 0.7)
    n = x.shape[0]
    variables = official_variables(m)
    if name == "ae":
        s, fakes = loss.generate(
            m, fx["loss/draw_ae/z"], lod, blend, noise=_noise(fx, "loss/draw_ae/")
        )
        value, parts = loss.ae_loss(m, s, fakes, lod, blend, n)
        parts["s"] = s
    else:
        z2, cutoff = _mix(fx, "loss/draw_dg/")
        s, fakes = loss.generate(
            m, fx["loss/draw_dg/z"], lod, blend, z2, cutoff, noise=_noise(fx, "loss/draw_dg/")
        )
        if name == "d_train":
            value, parts = loss.d_loss(m, tf.constant(x), fakes, lod, blend, n)
        else:
            value, parts = loss.g_loss(m, fakes, lod, blend, n)
    loss.update_dlatent_avg(m, tf.reduce_mean(s, 0), 0.995)
    return value, parts, variables


@pytest.mark.parametrize("tag", ["lod3_b1", "lod3_b0.7"])
@pytest.mark.parametrize("name", ["d_train", "g_train", "ae"])
def test_losses_and_gradients_equal_the_official_code(fx, tag, name):
    m = _model(fx, dlatent_avg_beta=0.995)
    x = fx["in/x_lod3"] if tag == "lod3_b1" else fx[f"loss/{tag}/x"]
    if tag != "lod3_b1":  # train_alae.py's pre-blend of the reals
        _close(loss.blend_reals(nhwc(fx["in/x_lod3"]), 0.7), nhwc(x), 1e-6, "pre-blend")
    with tf.GradientTape() as tape:
        value, parts, variables = _loss(m, fx, tag, name, nhwc(x))
    key = f"loss/{tag}/{name}"
    _close(value, fx[f"{key}/value"], LOSS_TOL * abs(float(fx[f"{key}/value"])), key)
    for part, got in parts.items():
        want = fx[f"{key}/{part}"]
        _close(np.reshape(got, want.shape), want, LOSS_TOL * max(1, np.abs(want).max()), part)
    _close(m.dlatent_avg, fx[f"{key}/dlatent_avg_after"], W_TOL, "dlatent_avg after")
    if tag != "lod3_b1":
        return
    names = sorted(variables)
    grads = tape.gradient(value, [variables[n][0] for n in names])
    want_keys = {k[len(f"grad/{name}/") :] for k in fx.files if k.startswith(f"grad/{name}/")}
    trained = {"d_train": ("encoder", "mapping_d"), "g_train": ("decoder", "mapping_f")}
    checked = 0
    for n, g in zip(names, grads):
        official = n.replace(".", "/", 1)
        if not official.startswith(trained.get(name, ("encoder", "decoder", "mapping_f"))):
            continue
        if official not in want_keys:
            assert g is None or not np.any(g), f"{official}: a gradient the official code has not"
            continue
        var, coef = variables[n]
        want = fx[f"grad/{name}/{official}"]  # d loss / d p; p = coef * our weight
        got = np.asarray(g) / coef
        got = _to_official_layout(got, want.shape, var)
        _close(got, want, GRAD_TOL, f"grad {name} {official}", relative=True)
        checked += 1
    assert checked == len(want_keys), (checked, len(want_keys))


def _to_official_layout(a, shape, var):
    """Our gradient of a variable in the official tensor's layout (inverse of alae_state)."""
    if a.ndim == 4 and len(shape) == 4 and a.shape[:2] == shape[2:] and "conv" in var.path:
        return np.transpose(a, (3, 2, 0, 1))  # HWIO -> OIHW
    if a.ndim == 4 and len(shape) == 4:  # torch [O, I, kh, kw] of a 1x1 conv
        return np.transpose(a, (3, 2, 0, 1))
    if a.ndim == 3:  # const [4, 4, C] -> [1, C, 4, 4]
        return np.transpose(a, (2, 0, 1))[None]
    if a.ndim == 2 and len(shape) == 2:
        return a.T
    return a.reshape(shape)


def test_lreq_adam_equals_the_official_steps(fx):
    cfg = json.loads(str(fx["config_json"]))["adam"]
    m = _model(fx)
    variables = official_variables(m)
    names = [p.replace("/", ".", 1) for p in cfg["params"]]
    coefs = json.loads(str(fx["lrcoef_json"]))
    opt = LREQAdam(
        [variables[n][0] for n in names],
        [variables[n][1] for n in names],
        float(fx["adam/lr"]),
        beta_2=cfg["betas"][1],
        epsilon=cfg["eps"],
    )
    for n in names:  # our run-time multipliers are the official coefficients
        want = coefs[n.replace(".", "/", 1)]
        assert (want is None and variables[n][1] == 1.0) or abs(
            variables[n][1] - want
        ) < 1e-7 * abs(want), n
    for step in ("1", "2"):
        grads = []
        for n in names:
            var, coef = variables[n]
            g = fx[f"adam/{n.replace('.', '/', 1)}/g{step}"]
            grads.append(_from_official_layout(g, var) * coef)
        opt.apply(grads)
        for n in names:
            var, coef = variables[n]
            want = fx[f"adam/{n.replace('.', '/', 1)}/p{step}"]
            got = _to_official_layout(np.asarray(var) * coef, want.shape, var)
            _close(got, want, 1e-6 * max(1.0, np.abs(want).max()), f"step {step} {n}")
    opt.reset()
    assert all(float(t) == 0 for t in opt.steps)


def _from_official_layout(g, var):
    if g.ndim == 4 and g.shape[0] == 1 and len(var.shape) == 3:  # const
        return np.transpose(g[0], (1, 2, 0))
    if g.ndim == 4 and len(var.shape) == 4:
        return np.transpose(g, (2, 3, 1, 0))
    if g.ndim == 2:
        return g.T
    return g.reshape(var.shape)


def test_every_coefficient_is_the_official_one(fx):
    coefs = json.loads(str(fx["lrcoef_json"]))
    variables = official_variables(_model(fx))
    assert len(variables) == len(coefs) - sum("blur" in k for k in coefs)
    for n, (_, coef) in variables.items():
        want = coefs[n.replace(".", "/", 1)]
        assert (want is None and coef == 1.0) or abs(coef - want) <= 1e-7 * want, (n, coef, want)


def test_lod_schedule_equals_the_official_driver(fx):
    s = schedule.AlaeSchedule(
        layer_count=4,
        epochs_per_lod=4,
        train_epochs=18,
        lod_2_batch={g: (16, 16, 8, 8) for g in schedule.GPU_COUNTS},
        learning_rates=(0.0015, 0.0015, 0.002, 0.003),
        learning_decay_steps=(10,),
        learning_decay_rate=0.1,
    )
    rows, size = [], 64
    for epoch in range(s.train_epochs):
        lv = schedule.level(s, epoch, 1)
        for k in range(schedule.steps_per_epoch(size, lv.batch)):
            seen = k * lv.batch
            rows.append(
                (epoch, lv.lod, lv.in_transition, seen, schedule.blend_factor(s, epoch, seen, size),
                 lv.batch, lv.per_gpu_batch, lv.lr, k == 0 and schedule.resets_optimizer(s, epoch))
            )  # fmt: skip
    cols = "epoch lod in_transition iteration blend batch per_gpu_batch lr opt_state_reset"
    for j, col in enumerate(cols.split()):
        want = fx[f"lod_schedule/{col}"]
        got = np.array([r[j] for r in rows], np.float64)
        assert got.shape == want.shape, col
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15, err_msg=col)
