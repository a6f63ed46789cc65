"""The StyleALAE trainer: the training model, its averaged copy, the two LREQAdam optimizers and
one training step (official ALAE train_alae.py), under a tf.distribute strategy.

One step = the official three updates, each a traced function of its own so every update sees
the weights the previous one wrote: D (E and D on d_loss), G (G and F on g_loss), AE (E, G and F on
ae_loss; both optimizers step), then the averaged copy moves: p_s <- lerp(p_s, p, 1 - beta),
beta = 0.5 ** (batch / 10000) (Model.lerp). Every replica computes its share of the global batch
(the worker's batch sliced by replica), gradients are all-reduced (each replica's loss is divided
by the global batch, so the sum is the gradient of the global mean) and applied in cross-replica
context. dlatent_avg moves once per update toward the global batch mean of F(z).

Random draws (z, z2, the mixing decision and cutoff, the decoder noise) are stateless, keyed by
(seed, step index, update, replica): a resumed run draws what the uninterrupted one would have.
"""

import keras
import tensorflow as tf

from tf_stylegan2.networks.alae import ALAE
from tf_stylegan2.networks.alae.alae_state import equalization_coefs
from training import distribute
from training.alae import loss
from training.alae.optimizer import LREQAdam

COUNTERS = ("cur_nimg", "batch_idx", "cur_tick", "tick_start_nimg", "epoch", "epoch_nimg")


def _fold(key, *data):
    for d in data:
        key = tf.random.experimental.stateless_fold_in(key, tf.cast(d, tf.int32))
    return key


class AlaeTrainer:
    """Owns the ALAE training model (`model`), its average (`model_s`), the optimizers of E + D
    (`opt_e`) and of G + F (`opt_g`), and the counters, under `strategy`."""

    def __init__(self, cfg, strategy, log=print):
        self.cfg, self.strategy, self.log = cfg, strategy, log
        self.num_workers, self.worker_index, self.local_replicas = distribute.worker_info(strategy)
        self.replicas = strategy.num_replicas_in_sync
        keras.utils.set_random_seed(cfg.seed)  # same initial weights on every worker
        with strategy.scope():
            self.model = ALAE(**cfg.model_kwargs, name="ALAE")
            # The official averaged model is a Model of its own (its own random init), built with
            # the eval settings: truncation, no mixing, no dlatent_avg update.
            kwargs = dict(cfg.model_kwargs, dlatent_avg_beta=None, style_mixing_prob=None)
            self.model_s = ALAE(
                **kwargs,
                truncation_psi=cfg.truncation_psi,
                truncation_cutoff=cfg.truncation_cutoff,
                name="ALAE_ema",
            )
            coefs = equalization_coefs(self.model)
            self.enc_vars = self.model.part_variables("E") + self.model.part_variables("D")
            self.dec_vars = self.model.part_variables("G") + self.model.part_variables("F")
            self.e_vars = self.model.part_variables("E")
            rate = cfg.learning_rates[0]
            self.opt_e, self.opt_g = (
                LREQAdam(vs, [coefs[v.path] for v in vs], rate, cfg.beta_2, name=name)
                for vs, name in ((self.enc_vars, "opt_e"), (self.dec_vars, "opt_g"))
            )
        self.counters = {
            k: tf.Variable(0, dtype=tf.int64, trainable=False, name=k) for k in COUNTERS
        }
        self._fns = {}
        self._ema = tf.function(self._ema_update)

    # -- state ---------------------------------------------------------------------------------
    def counter(self, name):
        return int(self.counters[name].numpy())

    def checkpoint(self, iterators):
        items = dict(
            model=self.model, model_s=self.model_s, opt_e=self.opt_e, opt_g=self.opt_g,
            **self.counters,
            **{f"data_r{res}": it for res, it in iterators.items()},
        )  # fmt: skip
        return tf.train.Checkpoint(**items)

    def set_level(self, level, reset):
        """The lod's learning rate; `reset` clears both optimizers (the lod changed)."""
        for opt in (self.opt_e, self.opt_g):
            if reset:
                opt.reset()
            opt.learning_rate.assign(level.lr)

    def snapshot_nets(self):
        """{'ALAE': training model, 'ALAE_ema': averaged model} (the checkpoint's dlatent_avg is
        the training model's, as the official Checkpointer saves it)."""
        self.model_s.dlatent_avg.assign(self.model.dlatent_avg)
        return dict(ALAE=self.model, ALAE_ema=self.model_s)

    # -- one step ------------------------------------------------------------------------------
    def step(self, reals, level, blend):
        """reals: this worker's uint8 batch [B / workers, R, R, C] at the lod's resolution.
        Returns {stat: float}: the three losses and the R1 penalty (global means)."""
        fade = level.in_transition
        fns = self._fns.get((level.lod, fade, level.batch))
        if fns is None:
            fns = self._fns[(level.lod, fade, level.batch)] = self._make_fns(level, fade)
        key = _fold(
            tf.constant([self.cfg.seed, 0x41_4C_41_45], tf.int32), self.counter("batch_idx")
        )
        blend = tf.constant(blend, tf.float32)
        stats = {}
        for k, name in enumerate(("D", "G", "AE")):
            stats.update(fns[name](reals, blend, _fold(key, k)))
        self._ema(0.5 ** (level.batch / 10000.0))
        self.counters["batch_idx"].assign_add(1)
        self.counters["cur_nimg"].assign_add(level.batch)
        self.counters["epoch_nimg"].assign_add(level.batch)
        return {k: float(v) for k, v in stats.items()}

    def _ema_update(self, beta):
        for p_s, p in zip(self.model_s.trainable_variables, self.model.trainable_variables):
            p_s.assign(p_s + (p - p_s) * (1.0 - beta))

    def _make_fns(self, level, fade):
        cfg, model, replicas = self.cfg, self.model, self.replicas
        lod, global_batch = level.lod, level.batch
        n = global_batch // replicas
        num_ws, lat = model.num_ws, model.latent_size
        local_replicas = self.local_replicas
        prob = model.style_mixing_prob or 0.0

        def blend_arg(blend):  # a tensor in a fade-in (decode2 / encode2), else the plain path
            return blend if fade else 1.0

        def draws(key, mixing):
            """This replica's z, and (mixing) z2 and the cutoff, and the noise seed."""
            ctx = tf.distribute.get_replica_context()
            key = _fold(key, ctx.replica_id_in_sync_group)
            z = tf.random.stateless_normal([n, lat], seed=_fold(key, 0))
            z2 = cutoff = None
            if mixing:
                z2 = tf.random.stateless_normal([n, lat], seed=_fold(key, 1))
                u = tf.random.stateless_uniform([], seed=_fold(key, 2))
                cut = tf.random.stateless_uniform(
                    [], _fold(key, 3), minval=1, maxval=2 * (lod + 1) + 1, dtype=tf.int32
                )  # random.randint(1, 2 * (lod + 1)), inclusive
                cutoff = tf.where(u < prob, cut, num_ws)  # num_ws: no layer takes z2's styles
            return ctx, z, z2, cutoff, _fold(key, 4)

        def my_reals(ctx, reals, blend):
            """This replica's slice of the worker's batch, in [-1, 1], pre-blended in a fade."""
            start = (tf.cast(ctx.replica_id_in_sync_group, tf.int32) % local_replicas) * n
            x = tf.cast(reals[start : start + n], tf.float32) / 127.5 - 1.0
            return loss.blend_reals(x, blend) if fade else x  # train_alae.py's pre-blend

        def reduce(ctx, grads, variables, stats, s):
            grads = [tf.zeros_like(v) if g is None else g for v, g in zip(variables, grads)]
            flat = grads + [stats[k] for k in sorted(stats)] + [tf.reduce_sum(s, 0) / global_batch]
            return ctx.all_reduce(tf.distribute.ReduceOp.SUM, [tf.identity(t) for t in flat])

        def d_replica(reals, blend, key):
            ctx, z, z2, cutoff, nseed = draws(key, mixing=True)
            x, b = my_reals(ctx, reals, blend), blend_arg(blend)
            s, fakes = loss.generate(model, z, lod, b, z2, cutoff, noise_seed=nseed)
            with tf.GradientTape() as tape:
                value, parts = loss.d_loss(model, x, fakes, lod, b, global_batch, cfg.r1_gamma)
            grads = tape.gradient(value, self.enc_vars)
            r1 = tf.reduce_sum(parts["r1_penalty"]) / global_batch
            return reduce(ctx, grads, self.enc_vars, {"Loss/D": value, "Loss/r1_penalty": r1}, s)

        def g_replica(reals, blend, key):
            ctx, z, z2, cutoff, nseed = draws(key, mixing=True)
            b = blend_arg(blend)
            with tf.GradientTape() as tape:
                s, fakes = loss.generate(model, z, lod, b, z2, cutoff, noise_seed=nseed)
                value, _ = loss.g_loss(model, fakes, lod, b, global_batch)
            grads = tape.gradient(value, self.dec_vars)
            return reduce(ctx, grads, self.dec_vars, {"Loss/G": value}, s)

        def ae_replica(reals, blend, key):
            ctx, z, _, _, nseed = draws(key, mixing=False)
            b = blend_arg(blend)
            variables = self.e_vars + self.dec_vars
            with tf.GradientTape() as tape:
                s, fakes = loss.generate(model, z, lod, b, noise_seed=nseed)
                value, _ = loss.ae_loss(model, s, fakes, lod, b, global_batch)
            grads = tape.gradient(value, variables)
            return reduce(ctx, grads, variables, {"Loss/AE": value}, s)

        def make(replica_fn, apply):
            @tf.function
            def fn(reals, blend, key):
                out = self.strategy.run(replica_fn, args=(reals, blend, key))
                flat = [self.strategy.experimental_local_results(t)[0] for t in out]
                s_mean, stats = flat[-1], flat[:-1]
                stats = apply(stats)  # steps the optimizer(s); the named losses
                loss.update_dlatent_avg(model, s_mean, model.dlatent_avg_beta)
                return stats

            return fn

        def apply_d(flat):
            k = len(self.enc_vars)
            self.opt_e.apply(flat[:k])
            return dict(zip(("Loss/D", "Loss/r1_penalty"), flat[k:]))

        def apply_g(flat):
            k = len(self.dec_vars)
            self.opt_g.apply(flat[:k])
            return {"Loss/G": flat[k]}

        def apply_ae(flat):
            ke, kd = len(self.e_vars), len(self.dec_vars)
            self.opt_e.apply(flat[:ke] + [None] * (len(self.enc_vars) - ke))
            self.opt_g.apply(flat[ke : ke + kd])
            return {"Loss/AE": flat[ke + kd]}

        return dict(
            D=make(d_replica, apply_d), G=make(g_replica, apply_g), AE=make(ae_replica, apply_ae)
        )
