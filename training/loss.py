"""StyleGAN2 losses and regularizers (NETWORKS_TRAINING.md section 6), strategy-free.

Every function works on one replica's share of the global batch and returns a loss already divided by
the *global* number of samples, so gradients summed over replicas are those of the global mean
(tf.nn.compute_average_loss semantics). Random numbers (z, mixing cutoffs, synthesis noise, path-length
noise) come in as arguments: the loop draws them per global sample index, so results do not depend on
how the global batch is split. Cross-replica reductions come in as callables (identity by default).
"""

import math

import tensorflow as tf

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


def _group_perm(x, chunk, group):
    """Reorder [N,...] so that D's strided minibatch-stddev groups fall inside chunks of `chunk`.

    The official D (ADA-PT layout) groups sample p with p mod (N/G). Run on one chunk of P samples,
    it groups i with i mod (P/g). Viewing the batch as [k chunks, g, m = P/g], the single call on N
    samples reproduces k separate calls once reordered to [g, k, m].
    """
    n = x.shape[0]
    g = min(group, chunk)
    if n is None or n == chunk or n % chunk or chunk % g:
        return x, None
    k, m = n // chunk, chunk // g
    rest = x.shape[1:]
    y = tf.reshape(tf.transpose(tf.reshape(x, [k, g, m, *rest]),
                                [1, 0, 2, *range(3, 3 + len(rest))]), [n, *rest])
    return y, (k, g, m)


def _group_unperm(x, km):
    if km is None:
        return x
    k, g, m = km
    rest = x.shape[1:]
    return tf.reshape(tf.transpose(tf.reshape(x, [g, k, m, *rest]),
                                   [1, 0, 2, *range(3, 3 + len(rest))]), [k * g * m, *rest])


def run_D(D, img, c, chunk=None, group=4):
    """logits [N,1]; with `chunk`, D behaves as separate calls on consecutive chunks (mbstd groups)."""
    if chunk is None:
        return D(img, c)
    img_p, km = _group_perm(img, chunk, group)
    c_p = c if c is None or km is None else _group_perm(c, chunk, group)[0]
    return _group_unperm(D(img_p, c_p), km)


def update_w_avg(w_avg, w_mean, beta=0.995):
    """Tracked average of w: lerp(mean_n w, w_avg, beta) (section 2.3)."""
    return w_mean + (w_avg - w_mean) * beta


# ---------------------------------------------------------------------------------------------
# Losses. `denom` is the global number of samples the loss is averaged over.


def G_main_loss(G, D, z, c, denom, z_mix=None, cutoff=None, synthesis_kwargs=None,
                d_chunk=None, mbstd_group=4):
    """Non-saturating logistic G loss: mean softplus(-D(G(z)))."""
    img, _, w = run_G(G, z, c, z_mix, cutoff, synthesis_kwargs)
    logits = run_D(D, img, c, d_chunk, mbstd_group)  # [N,1]
    loss_G = tf.nn.softplus(-logits)  # [N,1]
    stats = {"Loss/scores/fake": logits, "Loss/G/loss": loss_G}
    return tf.reduce_sum(loss_G) / denom, stats, w


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


def G_pl_loss(G, z, c, pl_noise, pl_mean, denom, pl_decay=0.01, pl_weight=2.0, gain=1.0,
              z_mix=None, cutoff=None, synthesis_kwargs=None, all_reduce_sum=None):
    """Path-length regularization. Returns (loss, stats, w, new_pl_mean).

    The running mean is updated with the mean length over the *global* path-length batch
    (`all_reduce_sum` sums over replicas; a documented deviation, NVIDIA keeps one per GPU).
    As in both official codes, the penalty's gradient also flows through the freshly updated mean
    (pen = (len - lerp(pl_mean, mean(len), decay))^2, no stop-gradient). Across replicas that
    needs T = sum over the global batch of (len - mean): each replica adds -2*T*(m - stop(m)), whose
    value is 0 and whose gradient, summed over replicas, is the exact cross-replica term.
    """
    def reduce(x):
        return all_reduce_sum(x) if all_reduce_sum is not None else x

    lengths, _, w = path_length(G, z, c, pl_noise, z_mix, cutoff, synthesis_kwargs)
    local_sum = tf.reduce_sum(lengths)
    pl_mean_new = tf.stop_gradient(
        pl_mean + pl_decay * (reduce(tf.stop_gradient(local_sum)) / denom - pl_mean))
    # m: value pl_mean_new, gradient d(local part of the global mean)/d(theta) * decay.
    m = pl_mean_new + pl_decay * (local_sum - tf.stop_gradient(local_sum)) / denom
    deviation = tf.stop_gradient(reduce(tf.reduce_sum(lengths - pl_mean_new)))  # T
    pl_penalty = tf.square(lengths - pl_mean_new)  # [N]
    loss_Gpl = pl_penalty * pl_weight  # [N]
    value = tf.reduce_sum(loss_Gpl) - 2.0 * pl_weight * deviation * (m - pl_mean_new)
    stats = {"Loss/pl_lengths": lengths, "Loss/pl_penalty": pl_penalty, "Loss/G/reg": loss_Gpl}
    return value * gain / denom, stats, w, pl_mean_new


def D_main_loss(D, gen_img, gen_c, real_img, real_c, denom, d_chunk=None, mbstd_group=4):
    """Logistic D loss: mean softplus(D(fake)) + softplus(-D(real)). gen_img carries no G gradient."""
    gen_logits = run_D(D, tf.stop_gradient(gen_img), gen_c, d_chunk, mbstd_group)
    real_logits = run_D(D, real_img, real_c, d_chunk, mbstd_group)
    loss_Dgen = tf.nn.softplus(gen_logits)
    loss_Dreal = tf.nn.softplus(-real_logits)
    stats = {"Loss/scores/fake": gen_logits, "Loss/scores/real": real_logits,
             "Loss/D/loss": loss_Dgen + loss_Dreal}
    return (tf.reduce_sum(loss_Dgen) + tf.reduce_sum(loss_Dreal)) / denom, stats


def r1_penalty(D, real_img, real_c, d_chunk=None, mbstd_group=4):
    """Per-sample ||d sum D(real) / d real||^2 [N], and the logits."""
    with tf.GradientTape() as tape:
        tape.watch(real_img)
        logits = run_D(D, real_img, real_c, d_chunk, mbstd_group)
        target = tf.reduce_sum(logits)
    r1_grads = tape.gradient(target, real_img)  # [N,H,W,C]
    return tf.reduce_sum(tf.square(r1_grads), axis=[1, 2, 3]), logits


def D_r1_loss(D, real_img, real_c, denom, r1_gamma, gain=1.0, d_chunk=None, mbstd_group=4):
    """Lazy R1 regularization: mean(r1 * gamma / 2) * gain."""
    penalty, logits = r1_penalty(D, real_img, real_c, d_chunk, mbstd_group)
    loss_Dr1 = penalty * (r1_gamma / 2)
    stats = {"Loss/r1_penalty": penalty, "Loss/D/reg": loss_Dr1}
    # logits * 0 keeps every D output in the graph, as ADA-PT does (no numeric effect).
    return (tf.reduce_sum(loss_Dr1) * gain + tf.reduce_sum(logits) * 0.0) / denom, stats
