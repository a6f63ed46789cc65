"""The training phases as data: what each computes on one round, when it runs, with which gain.

ADA-PT `training_loop.py` runs, for every minibatch, Gmain, Greg (every G_reg_interval minibatches),
Dmain and Dreg (every D_reg_interval), each as `batch / (batch_gpu * num_gpus)` rounds of batch_gpu
samples per device whose gradients accumulate before one optimizer step. Each entry of the table
below names its network, interval, gain and the loss of one round; the Trainer (trainer.py) runs
the rounds, sums the gradients and steps the optimizer.

Global chunks: the global batch is cut into chunks of batch_gpu samples; replica r computes chunk
k = round * replicas + r in each round. All random numbers of chunk k come from its global sample
indices (sampling.py), so the chunks, and the results, do not depend on the replica count.
"""

import dataclasses

import tensorflow as tf

from training import loss as loss_lib
from training import sampling


@dataclasses.dataclass(frozen=True)
class Phase:
    name: str  # Gmain, Greg, Dmain, Dreg
    net: str  # 'G' or 'D': whose optimizer steps
    interval: int  # runs when batch_idx % interval == 0 (1 = every minibatch)
    gain: float  # loss multiplier (the lazy-regularization interval)
    # loss_fn(trainer, round_inputs) -> (loss, stats, w | None, pl_mean_after | None)
    loss_fn: object
    samples: int  # global samples the phase averages over (batch, or batch // pl_batch_shrink)
    # The loss all-reduces across replicas inside the round (Greg's path-length mean), which XLA
    # cannot compile: with several replicas --jit leaves this phase's round uncompiled.
    collective_in_loss: bool = False


@dataclasses.dataclass
class RoundInputs:
    """What one replica has for one round: the phase key, its global chunk index, its reals."""

    key: tf.Tensor
    chunk: tf.Tensor  # int32 scalar
    real: tf.Tensor | None  # [batch_gpu, H, W, C] in [-1, 1]
    real_c: tf.Tensor | None  # [batch_gpu, c_dim] or None
    pl_mean: tf.Tensor  # running path-length mean before this round
    gain: float = 1.0  # the phase's gain
    exchange: object = None  # Greg across replicas: see Trainer._pl_exchange


def _draws(t, inputs, n):
    G = t.G
    return sampling.chunk_draws(
        inputs.key,
        inputs.chunk,
        n,
        G.z_dim,
        t.layer_names,
        t.mixing_layers(),
        t.cfg.loss.style_mixing_prob,
        t.dtype,
    )


# Salts of the augmentation seeds: every call site of D draws its own transforms.
_AUG_GEN, _AUG_REAL = 6, 7


def _augment(t, inputs, salt):
    """None without ADA; else img -> the pipeline's output with a seed of this phase key, call
    site and global chunk (independent of the replica count)."""
    if t.augment_pipe is None:
        return None
    seed = sampling.fold(sampling.fold(inputs.key, salt), inputs.chunk)
    return lambda img: t.augment_pipe(img, seed=seed)


def gmain_loss(t, inputs):
    """ADA-PT phase Gmain: softplus(-D(G(z))) on batch_gpu generated images (+ AC-GAN's term)."""
    d = _draws(t, inputs, t.cfg.batch_gpu)
    loss, stats, w = loss_lib.G_main_loss(
        t.G,
        t.D,
        d["z"],
        inputs.real_c,
        t.cfg.batch,
        d["z_mix"],
        d["cutoff"],
        t.synthesis_kwargs(d["noise"]),
        augment=_augment(t, inputs, _AUG_GEN),
        acgan_weight=t.cfg.acgan_weight,
        multi_hot=t.cfg.multi_hot,
        guide=t.guide,
        guide_weight=t.cfg.guide_weight,
    )
    return loss, stats, w, None


def greg_loss(t, inputs):
    """ADA-PT phase Greg: the path-length penalty on batch_gpu // pl_batch_shrink images."""
    cfg = t.cfg
    n = cfg.batch_gpu // cfg.loss.pl_batch_shrink
    d = _draws(t, inputs, n)
    shape = [cfg.resolution, cfg.resolution, cfg.channels]
    pl_noise = sampling.per_sample_normal(sampling.fold(inputs.key, 4), d["index"], shape, t.dtype)
    pl_noise = pl_noise * loss_lib.pl_noise_scale([None, *shape])
    pl_c = inputs.real_c[:n] if inputs.real_c is not None else None
    return loss_lib.G_pl_loss(
        t.G,
        d["z"],
        pl_c,
        pl_noise,
        inputs.pl_mean,
        cfg.batch // cfg.loss.pl_batch_shrink,
        cfg.loss.pl_decay,
        cfg.loss.pl_weight,
        inputs.gain,
        d["z_mix"],
        d["cutoff"],
        t.synthesis_kwargs(d["noise"]),
        inputs.exchange,
    )


def dmain_loss(t, inputs, real_logits=None):
    """ADA-PT phase Dmain: softplus(D(G(z))) + softplus(-D(real)) (+ AC-GAN's terms); G gets no
    gradient. real_logits: D(real) when already computed (Dboth)."""
    d = _draws(t, inputs, t.cfg.batch_gpu)
    gen_img, _, w = loss_lib.run_G(
        t.G, d["z"], inputs.real_c, d["z_mix"], d["cutoff"], t.synthesis_kwargs(d["noise"])
    )
    loss, stats = loss_lib.D_main_loss(
        t.D,
        gen_img,
        inputs.real_c,
        inputs.real,
        inputs.real_c,
        t.cfg.batch,
        augment_gen=_augment(t, inputs, _AUG_GEN),
        augment_real=_augment(t, inputs, _AUG_REAL),
        acgan_weight=t.cfg.acgan_weight,
        multi_hot=t.cfg.multi_hot,
        real_logits=real_logits,
    )
    return loss, stats, w, None


def dreg_loss(t, inputs, return_logits=False):
    """ADA-PT phase Dreg: lazy R1, gamma / 2 * ||grad D(real)||^2, times D_reg_interval."""
    cfg = t.cfg
    out = loss_lib.D_r1_loss(
        t.D,
        inputs.real,
        inputs.real_c,
        cfg.batch,
        cfg.loss.r1_gamma,
        inputs.gain,
        augment=_augment(t, inputs, _AUG_REAL),
        return_logits=return_logits,
    )
    return (*out, None) if return_logits else (*out, None, None)


def dboth_loss(t, inputs):
    """Dmain + R1 in one D step: TF1 D_logistic_r1 without lazy regularization (configs A, B;
    ADA-PT phase 'Dboth'). D(real) is computed once, inside R1's tape, for both terms."""
    r1, r1_stats, real_logits, _ = dreg_loss(t, inputs, return_logits=True)
    loss, stats, w, _ = dmain_loss(t, inputs, real_logits=real_logits)
    return loss + r1, {**stats, **r1_stats}, w, None


def make_phases(cfg):
    """The phase table of ADA-PT `training_loop.py` (a regularizer with weight 0 does not run;
    D_reg_interval 0 = R1 inside every D step, as TF1 with lazy_regularization=False)."""
    opt, shrink = cfg.opt, cfg.loss.pl_batch_shrink
    phases = [Phase("Gmain", "G", 1, 1.0, gmain_loss, cfg.batch)]
    if cfg.loss.pl_weight > 0:
        phases.append(
            Phase(
                "Greg",
                "G",
                max(opt.G_reg_interval, 1),
                float(max(opt.G_reg_interval, 1)),
                greg_loss,
                cfg.batch // shrink,
                collective_in_loss=True,
            )
        )
    if cfg.loss.r1_gamma > 0 and not opt.D_reg_interval:
        return phases + [Phase("Dboth", "D", 1, 1.0, dboth_loss, cfg.batch)]
    phases.append(Phase("Dmain", "D", 1, 1.0, dmain_loss, cfg.batch))
    if cfg.loss.r1_gamma > 0:
        phases.append(
            Phase("Dreg", "D", opt.D_reg_interval, float(opt.D_reg_interval), dreg_loss, cfg.batch)
        )
    return phases


def due(phases, batch_idx):
    """The phases that run at minibatch `batch_idx` (ADA-PT: batch_idx % interval == 0)."""
    return [p for p in phases if batch_idx % p.interval == 0]


def optimizer_settings(cfg, net):
    """(lr, beta1, beta2) of G's or D's Adam. ADA-PT rescales both by the lazy-regularization
    interval whether or not the regularizer's weight is 0 (`training_loop.py`, mb_ratio)."""
    interval = cfg.opt.G_reg_interval if net == "G" else cfg.opt.D_reg_interval
    return cfg.opt.lazy(interval)
