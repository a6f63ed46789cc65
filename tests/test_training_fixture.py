"""Training math against the official ADA-PT values of ../shared/fixtures/ada_config_S.

R1 penalty and its gradients, path lengths / penalty / new running mean, w_avg tracking and the
parameter gradients of each phase (Gmain, Greg, Dmain, Dreg): relative error <= 1e-4.
"""

import json

import numpy as np
import pytest
import tensorflow as tf
from conftest import shared_path

import tf_stylegan2
from tf_stylegan2.legacy import ada_state
from training import loss

TOL = 1e-4


@pytest.fixture(scope="module")
def fx():
    folder = shared_path("fixtures", "ada_config_S")
    f = np.load(folder / "fixture_S.npz")
    meta = json.loads(str(f["meta/json"]))
    nets = tf_stylegan2.load_network(str(folder / "config_S.pkl"))
    return f, meta, nets


def nhwc(a):
    return tf.constant(np.transpose(np.asarray(a, np.float32), (0, 2, 3, 1)))


def noise_inputs(f, n):
    """The fixture's explicit per-sample noise, first n rows, as synthesis noise_inputs."""
    return {k[len("in/noise/"):]: nhwc(f[k][:n]) for k in f.files if k.startswith("in/noise/")}


def synthesis_kwargs(f, n):
    # Train mode in ADA-PT: explicit noise, non-fused modulated conv.
    return dict(noise_mode="random", noise_inputs=noise_inputs(f, n), fused_modconv=False)


def rel_err(ours, ref, scale=None):
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    denom = max(np.max(np.abs(ref)), scale or 0.0, 1e-30)
    return float(np.max(np.abs(ours - ref)) / denom)


def check_grads(f, phase, net_key, net, grads):
    """Compare our gradients with grad/<phase>/<net>/<param>, in the official layout transformed to ours."""
    prefix = f"grad/{phase}/{net_key}/"
    refs = {k[len(prefix):]: f[k] for k in f.files if k.startswith(prefix)}
    scale = max(float(np.max(np.abs(v))) for v in refs.values())
    seen, errors = set(), {}
    for var, g in zip(net.trainable_variables, grads):
        name = ada_state.ada_name(var)
        assert name in refs, f"{phase}: no official gradient for {name}"
        ref = ada_state._TRANSFORMS[ada_state._rule(name)](refs[name])
        assert ref.shape == tuple(g.shape), (name, ref.shape, g.shape)
        # relative to the parameter's own scale (or 1e-3 of the phase's largest gradient, for ~0 refs)
        errors[name] = rel_err(g.numpy(), ref, 1e-3 * scale)
        seen.add(name)
    assert seen == set(refs), f"{phase}: gradients not compared: {sorted(set(refs) - seen)}"
    worst = max(errors, key=errors.get)
    assert errors[worst] <= TOL, f"{phase}: {worst} relative error {errors[worst]:.2e}"
    norm = np.sqrt(sum(float(np.sum(np.square(g.numpy()))) for g in grads))
    assert rel_err(norm, f[f"out/loss/{phase}/param_grad_global_norm"]) <= TOL


def test_r1_penalty_and_gradients(fx):
    f, meta, nets = fx
    D = nets["D"]
    real = nhwc(f["in/real_img"])
    penalty, logits = loss.r1_penalty(D, real, None)
    assert rel_err(logits.numpy(), f["out/r1/logits"]) <= 1e-5
    assert rel_err(penalty.numpy(), f["out/r1/r1_penalty"]) <= TOL
    with tf.GradientTape() as tape:
        tape.watch(real)
        target = tf.reduce_sum(D(real, None))
    r1_grads = tape.gradient(target, real)
    assert rel_err(r1_grads.numpy(), np.transpose(f["out/r1/r1_grads"], (0, 2, 3, 1))) <= TOL

    with tf.GradientTape() as tape:
        value, stats = loss.D_r1_loss(D, real, None, denom=8, r1_gamma=meta["r1_gamma"])
    grads = tape.gradient(value, D.trainable_variables)
    grads = [tf.zeros_like(v) if g is None else g for v, g in zip(D.trainable_variables, grads)]
    assert rel_err(value.numpy(), f["out/r1/loss_Dr1_mean"]) <= TOL
    assert rel_err(stats["Loss/D/reg"].numpy(), f["out/loss/Dreg/Loss/D/reg"]) <= TOL
    check_grads(f, "Dreg", "D", D, grads)


def test_path_length_lengths_penalty_and_mean(fx):
    f, meta, nets = fx
    G = nets["G"]
    B = meta["pl_batch"]
    z = tf.constant(f["in/z"][:B])
    pl_noise = nhwc(f["in/pl_noise_raw"]) * loss.pl_noise_scale([B, 16, 16, 3])
    lengths, img, w = loss.path_length(G, z, None, pl_noise, synthesis_kwargs=synthesis_kwargs(f, B))
    assert rel_err(img.numpy(), np.transpose(f["out/pl/gen_img"], (0, 2, 3, 1))) <= 1e-4
    assert rel_err(lengths.numpy(), f["out/pl/pl_lengths"]) <= TOL

    with tf.GradientTape() as tape:
        value, stats, _, pl_mean = loss.G_pl_loss(
            G, z, None, pl_noise, tf.constant(float(f["in/pl_mean_prev"])), denom=B,
            pl_decay=meta["pl_decay"], pl_weight=meta["pl_weight"],
            synthesis_kwargs=synthesis_kwargs(f, B))
    grads = tape.gradient(value, G.trainable_variables)
    grads = [tf.zeros_like(v) if g is None else g for v, g in zip(G.trainable_variables, grads)]
    assert rel_err(pl_mean.numpy(), f["out/pl/pl_mean"]) <= TOL
    assert rel_err(pl_mean.numpy(), f["out/loss/pl_mean_after"]) <= TOL
    assert rel_err(stats["Loss/pl_penalty"].numpy(), f["out/pl/pl_penalty"]) <= TOL
    assert rel_err(value.numpy(), f["out/pl/loss_Gpl_mean"]) <= TOL
    check_grads(f, "Greg", "G", G, grads)


def test_phase_gradients_and_w_avg(fx):
    """Gmain, Greg, Dmain, Dreg in official order, with w_avg tracked across them."""
    f, meta, nets = fx
    G, D = nets["G"], nets["D"]
    N, B = meta["batch"], meta["pl_batch"]
    z = tf.constant(f["in/z"])
    real = nhwc(f["in/real_img"])
    w_avg = G.mapping.w_avg.numpy()

    with tf.GradientTape() as tape:
        value, stats, w = loss.G_main_loss(G, D, z, None, N, synthesis_kwargs=synthesis_kwargs(f, N))
    check_grads(f, "Gmain", "G", G, tape.gradient(value, G.trainable_variables))
    assert rel_err(stats["Loss/G/loss"].numpy(), f["out/loss/Gmain/Loss/G/loss"]) <= 1e-5
    w_avg = loss.update_w_avg(w_avg, np.mean(w.numpy(), 0))
    assert rel_err(w_avg, f["out/loss/Gmain/w_avg_after"]) <= 1e-5

    pl_noise = nhwc(f["in/pl_noise_raw"]) * loss.pl_noise_scale([B, 16, 16, 3])
    with tf.GradientTape() as tape:
        value, stats, w, pl_mean = loss.G_pl_loss(G, z[:B], None, pl_noise, tf.constant(0.0), B,
                                                  synthesis_kwargs=synthesis_kwargs(f, B))
    grads = tape.gradient(value, G.trainable_variables)
    check_grads(f, "Greg", "G", G, [tf.zeros_like(v) if g is None else g
                                    for v, g in zip(G.trainable_variables, grads)])
    w_avg = loss.update_w_avg(w_avg, np.mean(w.numpy(), 0))
    assert rel_err(w_avg, f["out/loss/Greg/w_avg_after"]) <= 1e-5

    gen_img, _, w = loss.run_G(G, z, None, synthesis_kwargs=synthesis_kwargs(f, N))
    with tf.GradientTape() as tape:
        value, stats = loss.D_main_loss(D, gen_img, None, real, None, N)
    check_grads(f, "Dmain", "D", D, tape.gradient(value, D.trainable_variables))
    assert rel_err(stats["Loss/D/loss"].numpy(), f["out/loss/Dmain/Loss/D/loss"]) <= 1e-5
    w_avg = loss.update_w_avg(w_avg, np.mean(w.numpy(), 0))
    assert rel_err(w_avg, f["out/loss/Dmain/w_avg_after"]) <= 1e-5

    with tf.GradientTape() as tape:
        value, stats = loss.D_r1_loss(D, real, None, N, meta["r1_gamma"])
    grads = tape.gradient(value, D.trainable_variables)
    check_grads(f, "Dreg", "D", D, grads)
    assert rel_err(w_avg, f["out/loss/Dreg/w_avg_after"]) <= 1e-5  # Dreg does not run G


def test_chunked_D_equals_separate_calls(fx):
    """run_D with chunk 4 on 8 samples == D on each half: minibatch-stddev groups stay in chunks."""
    f, _, nets = fx
    D = nets["D"]
    real = nhwc(f["in/real_img"])
    whole = loss.run_D(D, real, None, chunk=4, group=4).numpy()
    halves = np.concatenate([D(real[:4], None).numpy(), D(real[4:], None).numpy()])
    np.testing.assert_allclose(whole, halves, rtol=1e-5, atol=1e-6)
    assert np.max(np.abs(D(real, None).numpy() - halves)) > 1e-4  # the grouping does matter


def test_style_mixing_cutoff():
    ws = tf.zeros([3, 6, 2])
    ws2 = tf.ones([3, 6, 2])
    out = loss.mix_styles(ws, ws2, tf.constant([1, 3, 6])).numpy()[..., 0]
    np.testing.assert_array_equal(out, [[0, 1, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1], [0] * 6])
