"""StyleALAE's three training losses (official ALAE model.py Model.forward and losses.py),
strategy-free and with every random draw passed in, as training/loss.py does for StyleGAN2.

Each function works on one replica's samples and returns the sum of the per-sample losses divided
by `denom` (the global sample count), so summed replica gradients are those of the global mean,
which is the official per-GPU `mean` when there is one replica. `lod` is a Python int (ALAE's
convention, see tf_stylegan2/networks/alae/model.py); `blend` a float or a scalar tensor.
"""

import tensorflow as tf

from tf_stylegan2 import ops
from training.loss import mix_styles, update_w_avg


def styles(model, z, z2=None, cutoff=None):
    """s [N, latent] = F(z) (un-mixed: its batch mean moves dlatent_avg) and the styles
    [N, num_ws, latent] after mixing: layers < cutoff keep z's (cutoff a scalar int, the official
    `random.randint(1, 2 * (lod + 1))` drawn once per call; None = no mixing)."""
    ws = model.mapping(z)
    if z2 is not None and cutoff is not None:
        ws_mixed = mix_styles(ws, model.mapping(z2), tf.fill(tf.shape(z)[:1], cutoff))
        return ws[:, 0], ws_mixed
    return ws[:, 0], ws


def generate(model, z, lod, blend, z2=None, cutoff=None, noise=None, noise_seed=None):
    """Model.generate of the training model (mixing, no truncation, noise on): s and images
    [N, R, R, channels]. noise / noise_seed: see ALAE.decode."""
    s, ws = styles(model, z, z2, cutoff)
    return s, model.decode(ws, lod, blend, "random", noise, noise_seed)


def blend_reals(x, blend):
    """train_alae.py's fade-in of the reals: x * blend + upsample(avg_pool(x)) * (1 - blend)."""
    coarse = ops.nearest_upsample(ops.box_downsample(x, 2), 2)
    blend = tf.cast(blend, x.dtype)
    return x * blend + coarse * (1.0 - blend)


def update_dlatent_avg(model, s_mean, beta):
    """dlatent_avg.buff.lerp_(batch mean of the styles, 1 - beta) (official Model.generate, before
    mixing); s_mean [latent] (every style layer's row moves toward it)."""
    avg = model.dlatent_avg
    avg.assign(update_w_avg(avg, tf.cast(s_mean, avg.dtype)[None], beta))


def d_loss(model, reals, fakes, lod, blend, denom, r1_gamma=10.0):
    """E and D: softplus(D(E(fakes))) + softplus(-D(E(reals))) + r1_gamma / 2 * |dD(E(reals))/dx|^2
    (losses.py discriminator_logistic_simple_gp on the pre-blended reals). Returns the loss and
    {'d_real', 'd_fake', 'r1_penalty'} per sample."""
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(reals)
        d_real = model.discriminate(reals, lod, blend)  # [N]
        total = tf.reduce_sum(d_real)
    grad = tape.gradient(total, reals)
    r1 = tf.reduce_sum(tf.square(grad), axis=[1, 2, 3])
    d_fake = model.discriminate(tf.stop_gradient(fakes), lod, blend)
    per = tf.nn.softplus(d_fake) + tf.nn.softplus(-d_real) + r1 * (r1_gamma * 0.5)
    return tf.reduce_sum(per) / denom, dict(d_real=d_real, d_fake=d_fake, r1_penalty=r1)


def g_loss(model, fakes, lod, blend, denom):
    """G and F: softplus(-D(E(G(w)))) (losses.py generator_logistic_non_saturating)."""
    d_fake = model.discriminate(fakes, lod, blend)
    return tf.reduce_sum(tf.nn.softplus(-d_fake)) / denom, dict(d_fake=d_fake)


def ae_loss(model, s, fakes, lod, blend, denom):
    """E, G and F: mean over latent of (E(G(F(z))) - F(z))^2, F(z) held fixed."""
    w = model.encode(fakes, lod, blend)  # [N, latent]
    per = tf.reduce_mean(tf.square(w - tf.stop_gradient(s)), axis=1)
    return tf.reduce_sum(per) / denom, dict(Z=w)
