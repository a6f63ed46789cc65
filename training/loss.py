"""StyleGAN2 losses and regularizers (NETWORKS_TRAINING.md section 6), strategy-free.

Every function works on one replica's share of the global batch and returns a loss already divided
by the *global* number of samples, so gradients summed over replicas are those of the global mean
(tf.nn.compute_average_loss semantics). Random numbers (z, mixing cutoffs, synthesis noise,
path-length noise) come in as arguments: the loop draws them per global sample index, so results do
not depend on how the global batch is split. Cross-replica reductions come in as callables (identity
by default).
"""

import math

import tensorflow as tf

from metrics.classifier import cross_entropy, sample_accuracy

# ---------------------------------------------------------------------------------------------
# Generator and discriminator calls.


def mix_styles(ws, ws2, cutoff):
    """Style mixing: layer l takes ws[:, l] if l < cutoff[n], else ws2[:, l].  ws, ws2 [N,L,W]."""
    layer = tf.range(tf.shape(ws)[1], dtype=tf.int32)[tf.newaxis, :, tf.newaxis]  # [1,L,1]
    return tf.where(layer < tf.cast(cutoff, tf.int32)[:, tf.newaxis, tf.newaxis], ws, ws2)


def map_G(G, z, c, z_mix=None, cutoff=None):
    """ws [N,num_ws,w_dim] after mixing, and the un-mixed w [N,w_dim] for the w_avg update."""
    ws = G.mapping(z, c, update_w_avg=False)  # [N,L,W]
    w = ws[:, 0]
    if z_mix is not None and cutoff is not None:
        ws = mix_styles(ws, G.mapping(z_mix, c, update_w_avg=False), cutoff)
    return ws, w


def run_G(G, z, c, z_mix=None, cutoff=None, synthesis_kwargs=None):
    """img [N,H,W,C], ws [N,L,W] (as fed to synthesis), w [N,W] (un-mixed)."""
    ws, w = map_G(G, z, c, z_mix, cutoff)
    img = G.synthesis(ws, **(synthesis_kwargs or {}))
    return img, ws, w


def run_D(D, img, c, augment=None, return_class_logits=False):
    """logits [N,1] (and AC-GAN class logits [N,c_dim] if asked). The loop calls D on one round
    (batch_gpu samples) at a time, so the minibatch standard-deviation groups are those of
    ADA-PT's per-GPU calls. `augment(img)`: ADA's pipeline, applied to every image D sees, as
    ADA-PT StyleGAN2Loss.run_D does."""
    if augment is not None:
        img = augment(img)
    if return_class_logits:
        return D(img, c, return_class_logits=True)
    return D(img, c)


def class_loss(class_logits, c, multi_hot=False):
    """AC-GAN's -log P(C = c | x) per sample [N]: softmax cross-entropy for one-hot c, the sum of
    per-attribute sigmoid cross-entropies for multi-hot c (one definition, shared with the
    classifier of metrics/classifier.py)."""
    return cross_entropy(class_logits, c, multi_hot)


def update_w_avg(w_avg, w_mean, beta=0.995):
    """Tracked average of w: lerp(mean_n w, w_avg, beta) (section 2.3)."""
    return w_mean + (w_avg - w_mean) * beta


# ---------------------------------------------------------------------------------------------
# Losses. `denom` is the global number of samples the loss is averaged over.


def G_main_loss(
    G,
    D,
    z,
    c,
    denom,
    z_mix=None,
    cutoff=None,
    synthesis_kwargs=None,
    augment=None,
    acgan_weight=0.0,
    multi_hot=False,
    guide=None,
    guide_weight=0.0,
):
    """Non-saturating logistic G loss: mean softplus(-D(G(z))), plus acgan_weight times AC-GAN's
    class cross-entropy of the fakes (G maximises L_C - L_S), plus guide_weight times a frozen
    classifier's cross-entropy of the (un-augmented) fakes against c (`guide`: a
    metrics.classifier.AttributeClassifier)."""
    img, _, w = run_G(G, z, c, z_mix, cutoff, synthesis_kwargs)
    out = run_D(D, img, c, augment, return_class_logits=acgan_weight > 0)
    logits = out[0] if acgan_weight > 0 else out  # [N,1]
    loss_G = tf.nn.softplus(-logits)  # [N,1]
    stats = {"Loss/scores/fake": logits, "Loss/G/loss": loss_G}
    total = tf.reduce_sum(loss_G)
    if acgan_weight > 0:
        loss_cls = class_loss(out[1], c, multi_hot)  # [N]
        stats["Loss/G/acgan"] = loss_cls
        total += tf.reduce_sum(loss_cls) * acgan_weight
    if guide is not None and guide_weight > 0:
        loss_guide = tf.cast(guide.loss_per_sample(guide(img), c), total.dtype)  # [N]
        stats["Loss/G/guide"] = loss_guide
        total += tf.reduce_sum(loss_guide) * guide_weight
    return total / denom, stats, w


def path_length(G, z, c, pl_noise, z_mix=None, cutoff=None, synthesis_kwargs=None):
    """Path lengths [N] = sqrt(mean_l sum_w (d sum(img * pl_noise) / d ws)^2); also img, w.

    pl_noise has the image's shape and must already be divided by sqrt(H*W).
    """
    ws, w = map_G(G, z, c, z_mix, cutoff)
    with tf.GradientTape() as tape:
        tape.watch(ws)
        img = G.synthesis(ws, **(synthesis_kwargs or {}))
        target = tf.reduce_sum(img * pl_noise)
    pl_grads = tape.gradient(target, ws)  # [N,L,W]
    lengths = tf.sqrt(tf.reduce_mean(tf.reduce_sum(tf.square(pl_grads), axis=2), axis=1))
    return lengths, img, w


def pl_noise_scale(img_shape):
    """1/sqrt(H*W) for NHWC images."""
    return 1.0 / math.sqrt(int(img_shape[1]) * int(img_shape[2]))


def G_pl_loss(
    G,
    z,
    c,
    pl_noise,
    pl_mean,
    denom,
    pl_decay=0.01,
    pl_weight=2.0,
    gain=1.0,
    z_mix=None,
    cutoff=None,
    synthesis_kwargs=None,
    exchange=None,
):
    """Path-length regularization of one round. Returns (loss, stats, w, pl_mean_after).

    As ADA-PT `StyleGAN2Loss.accumulate_gradients` (phase Greg): the running mean is first moved
    towards this round's mean length, pl_mean_k = lerp(pl_mean, mean(lengths), pl_decay), with the
    gradient flowing through mean(lengths), and the penalty is (lengths - pl_mean_k)^2.
    `exchange(local_mean) -> (pl_mean before this round's chunk, pl_mean after the whole round)`
    lets several replicas apply their chunks' updates in global chunk order (see phases.py); by
    default this chunk is the whole round.
    """
    lengths, _, w = path_length(G, z, c, pl_noise, z_mix, cutoff, synthesis_kwargs)
    local_mean = tf.reduce_mean(lengths)
    if exchange is None:
        prev = tf.cast(pl_mean, lengths.dtype)
        after = prev + (tf.stop_gradient(local_mean) - prev) * pl_decay
    else:
        prev, after = exchange(tf.stop_gradient(local_mean))
    pl_mean_k = prev + (local_mean - prev) * pl_decay
    pl_penalty = tf.square(lengths - pl_mean_k)  # [N]
    loss_Gpl = pl_penalty * pl_weight  # [N]
    stats = {"Loss/pl_lengths": lengths, "Loss/pl_penalty": pl_penalty, "Loss/G/reg": loss_Gpl}
    return tf.reduce_sum(loss_Gpl) * gain / denom, stats, w, after


def D_main_loss(
    D,
    gen_img,
    gen_c,
    real_img,
    real_c,
    denom,
    augment_gen=None,
    augment_real=None,
    acgan_weight=0.0,
    multi_hot=False,
    real_logits=None,
):
    """Logistic D loss: mean softplus(D(fake)) + softplus(-D(real)), plus acgan_weight times
    AC-GAN's class cross-entropy of the reals and of the fakes (D maximises L_S + L_C). gen_img
    carries no G gradient. real_logits: D(real) when the caller has it already (R1 in the same
    step); not used with AC-GAN, which needs the class logits as well."""
    acgan = acgan_weight > 0
    gen_out = run_D(D, tf.stop_gradient(gen_img), gen_c, augment_gen, return_class_logits=acgan)
    if real_logits is not None and not acgan:
        real_out = real_logits
    else:
        real_out = run_D(D, real_img, real_c, augment_real, return_class_logits=acgan)
    gen_logits, real_logits = (gen_out[0], real_out[0]) if acgan else (gen_out, real_out)
    loss_Dgen = tf.nn.softplus(gen_logits)
    loss_Dreal = tf.nn.softplus(-real_logits)
    stats = {
        "Loss/scores/fake": gen_logits,
        "Loss/scores/real": real_logits,
        "Loss/signs/real": tf.sign(real_logits),  # ADA's overfitting heuristic r_t
        "Loss/D/loss": loss_Dgen + loss_Dreal,
    }
    total = tf.reduce_sum(loss_Dgen) + tf.reduce_sum(loss_Dreal)
    if acgan:
        loss_cls = class_loss(real_out[1], real_c, multi_hot) + class_loss(
            gen_out[1], gen_c, multi_hot
        )  # [N]
        stats["Loss/D/acgan"] = loss_cls
        stats["Loss/acgan/real_acc"] = sample_accuracy(real_out[1], real_c, multi_hot)
        total += tf.reduce_sum(loss_cls) * acgan_weight
    return total / denom, stats


def r1_penalty(D, real_img, real_c, augment=None):
    """Per-sample ||d sum D(real) / d real||^2 [N], and the logits (the gradient is with respect
    to the images before augmentation, as ADA-PT)."""
    with tf.GradientTape() as tape:
        tape.watch(real_img)
        logits = run_D(D, real_img, real_c, augment)
        target = tf.reduce_sum(logits)
    r1_grads = tape.gradient(target, real_img)  # [N,H,W,C]
    return tf.reduce_sum(tf.square(r1_grads), axis=[1, 2, 3]), logits


def D_r1_loss(D, real_img, real_c, denom, r1_gamma, gain=1.0, augment=None, return_logits=False):
    """Lazy R1 regularization: mean(r1 * gamma / 2) * gain (and D(real), if asked)."""
    penalty, logits = r1_penalty(D, real_img, real_c, augment)
    loss_Dr1 = penalty * (r1_gamma / 2)
    stats = {
        "Loss/r1_penalty": penalty,
        "Loss/D/reg": loss_Dr1,
        "Loss/signs/real": tf.sign(logits),  # ADA-PT reports it in Dr1 as well
    }
    # logits * 0 keeps every D output in the graph, as ADA-PT does (no numeric effect).
    loss = (tf.reduce_sum(loss_Dr1) * gain + tf.reduce_sum(logits) * 0.0) / denom
    return (loss, stats, logits) if return_logits else (loss, stats)
