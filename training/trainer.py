"""The Trainer: G, D, G_ema, their optimizers and all training state, and one training iteration.

One phase step: `rounds` calls of one traced round function (`strategy.run`: every replica computes
batch_gpu samples, global chunk k = round * replicas + replica, phases.py, and adds its gradients
to its running sums), then one function that all-reduces the sums and applies them in
cross-replica context, skipped when any is non-finite (TF1 behaviour). Only one round's
activations are alive at a time, so peak memory follows batch_gpu, not batch. Losses are divided by
the global sample count, so the applied gradient is the gradient of the global-batch mean whatever
the replica and round counts. (ADA-PT sums the per-round means and averages over GPUs, i.e. its
gradient is `rounds` times ours; Adam is invariant to that scale up to its epsilon.)

Running statistics follow ADA-PT's one-GPU order: the path-length mean and w_avg are updated once
per chunk, in global chunk order, so 1 replica with 4 rounds and 4 replicas with 1 round agree.
"""

import logging

import numpy as np
import tensorflow as tf

from tf_stylegan2 import ops
from training import conditioning, distribute
from training import config as config_lib
from training import loss as loss_lib
from training import phases as phases_lib
from training.augment import AUGPIPE_SPECS, AugmentPipe


class NonFiniteError(RuntimeError):
    pass


class _IntendedRetracing(logging.Filter):
    """Each phase's round function is traced twice by design (the first round has no running
    sums yet); TF's 'triggered tf.function retracing' warning about it would only alarm users."""

    def filter(self, record):
        return "triggered tf.function retracing" not in record.getMessage()


tf.get_logger().addFilter(_IntendedRetracing())


def _networks_module():
    from tf_stylegan2 import networks

    return networks


class Trainer:
    """Owns G, D, G_ema, the optimizers and all training state under `strategy`."""

    def __init__(self, cfg, strategy, networks=None, log=print):
        self.cfg = self.base_cfg = cfg  # cfg: the current level's when growing (set_level)
        self.level = None  # growing: the LodState in force (training/growing.py)
        self.real_resolution = cfg.resolution  # of the reals read (the level's when growing)
        self.strategy = strategy
        self.log = log
        self.networks = networks or _networks_module()
        self.num_workers, self.worker_index, self.local_replicas = distribute.worker_info(strategy)
        self.replicas = strategy.num_replicas_in_sync
        per_round = cfg.batch_gpu * self.replicas
        if cfg.batch % per_round:
            raise ValueError(
                f"--batch {cfg.batch} must be a multiple of --batch-gpu {cfg.batch_gpu}"
                f" x {self.replicas} replica(s)"
            )
        self.rounds = cfg.batch // per_round
        self.worker_batch = cfg.batch // self.num_workers  # what this worker's pipeline yields
        # G's and D's dtype policy (cfg.dtype: 'float32', 'mixed_bfloat16', ...); weights, losses,
        # optimizer states and the EMA live in its variable dtype.
        self.dtype = tf.as_dtype(_policy(cfg.dtype).variable_dtype)
        self.phases = phases_lib.make_phases(cfg)
        self._build()
        self.layer_names = list(self.G.synthesis.layer_names())
        self._phase_fns = {p.name: self._make_phase_fn(p) for p in self.phases}
        self._ema_fn = tf.function(self._ema_update)
        self._next_key = tf.function(lambda: self.rng.uniform_full_int([2], dtype=tf.int32))

    # -- state ---------------------------------------------------------------------------------
    def _build(self):
        import keras

        cfg, nets = self.cfg, self.networks
        keras.utils.set_random_seed(
            cfg.seed
        )  # same initial weights on every worker and replica count
        with self.strategy.scope():
            self.G = nets.Generator(**cfg.G_kwargs, dtype=cfg.dtype)
            self.D = nets.make_discriminator(**cfg.D_kwargs, dtype=cfg.dtype)
            self.G_ema = nets.Generator(**cfg.G_kwargs, dtype=cfg.dtype)
            self._build_nets(self.G, self.D)
            self._build_nets(self.G_ema, None)
            for v_ema, v in zip(self.G_ema.weights, self.G.weights):
                v_ema.assign(v)
            self.opt = {}
            for name, net in (("G", self.G), ("D", self.D)):
                lr, beta1, beta2 = phases_lib.optimizer_settings(cfg, name)
                opt = keras.optimizers.Adam(
                    learning_rate=lr,
                    beta_1=beta1,
                    beta_2=beta2,
                    epsilon=cfg.opt.epsilon,
                    name=f"opt_{name}",
                )
                opt.build(net.trainable_variables)
                self.opt[name] = opt
            self.pl_mean = tf.Variable(
                tf.zeros([], self.dtype),
                trainable=False,
                name="pl_mean",
                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
            )
            # float16: dynamic loss scaling with Keras LossScaleOptimizer's schedule (start 2**15,
            # halve on a non-finite step, which is skipped; double after 2000 finite steps).
            self.loss_scale = None
            if cfg.dtype == "mixed_float16":
                once = dict(aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
                self.loss_scale = {
                    net: (
                        tf.Variable(2.0**15, trainable=False, name=f"loss_scale_{net}", **once),
                        tf.Variable(0, dtype=tf.int64, trainable=False, name=f"good_{net}", **once),
                    )
                    for net in ("G", "D")
                }
            self.augment_pipe = None  # ADA (--aug ada|fixed): the strength p lives in the pipe
            if cfg.aug != "noaug":
                # under --jit every shape must be static: the geometric path pads by its bound
                self.augment_pipe = AugmentPipe(
                    **AUGPIPE_SPECS[cfg.augpipe], static_margin=cfg.jit, name="augment_pipe"
                )
                self.augment_pipe.p.assign(cfg.aug_p)
            self.guide = conditioning.load_guide(cfg) if cfg.guide else None  # frozen
        # ADA's r_t accumulator: the sum of sign(D(real)) and the sample count since the last
        # adjustment of p (every ada_interval minibatches), checkpointed with the rest.
        self.ada_state = {
            k: tf.Variable(0.0, dtype=tf.float64, trainable=False, name=k)
            for k in ("ada_signs", "ada_count")
        }
        # Plain (per-worker, identical) state: RNG and counters.
        self.rng = tf.random.Generator.from_seed(cfg.seed)
        self.counters = {
            k: tf.Variable(0, dtype=tf.int64, trainable=False, name=k)
            for k in (
                "cur_nimg",
                "batch_idx",
                "cur_tick",
                "tick_start_nimg",
                "bad_steps_G",
                "bad_steps_D",
                "bad_in_a_row_G",
                "bad_in_a_row_D",
                "batches_read",
                "lod_nimg",  # growing: cur_nimg when the schedule was last evaluated
            )
        }
        self.w_avg = self.G.mapping.w_avg
        self.w_avg_beta = float(cfg.G_kwargs.get("mapping_kwargs", {}).get("w_avg_beta", 0.995))

    def inference_nets(self):
        """{'G', 'D', 'G_ema'} as snapshots, grids and metrics use them: the networks themselves
        in float32 / float64, copies in float32 with the same weights when training computes in
        a mixed precision (inference defaults to float32; docs/NUMERICS.md)."""
        from tf_stylegan2.layers.base import full_precision
        from tf_stylegan2.networks.precision import copy_weights, with_policy

        nets = {k: getattr(self, k) for k in ("G", "D", "G_ema")}
        full = full_precision(self.G.dtype_policy)
        if full.name == self.G.dtype_policy.name:
            return nets
        if getattr(self, "_inference", None) is None:  # built once, then refreshed
            self._inference = {k: with_policy(net, full) for k, net in nets.items()}
        else:
            for k, net in nets.items():
                copy_weights(net, self._inference[k])
        return self._inference

    def _build_nets(self, G, D):
        cfg = self.cfg
        z = tf.zeros([2, G.z_dim], self.dtype)
        c = tf.zeros([2, cfg.c_dim], self.dtype) if cfg.c_dim else None
        img = G.synthesis(G.mapping(z, c), noise_mode="const")
        G(z, c)
        if D is not None:
            D(img, c)

    # -- progressive growing (configs A-D) --------------------------------------------------
    def set_level(self, state, reset=False):
        """Run the level of `state` (a growing.LodState): its minibatch split and phase functions,
        its learning rates, `lod` in G, D and G_ema; reset: Adam's moments and step count restart
        (TF1 reset_opt_for_new_lod)."""
        from training import growing

        cfg = growing.level_config(self.base_cfg, state)
        key = (cfg.batch, cfg.batch_gpu, state.resolution)
        self.cfg = cfg  # the phase functions read it when they are made and traced
        if self.level is None or key != self._level_key:
            self._level_key, self.real_resolution = key, state.resolution
            self.rounds = cfg.batch // (cfg.batch_gpu * self.replicas)
            self.worker_batch = cfg.batch // self.num_workers
            self.phases = phases_lib.make_phases(cfg)
            self._phase_fns = {p.name: self._make_phase_fn(p) for p in self.phases}
        for name, opt in self.opt.items():
            opt.learning_rate.assign(phases_lib.optimizer_settings(cfg, name)[0])
            if reset:
                opt.iterations.assign(0)
                for v in list(opt._momentums) + list(opt._velocities):
                    v.assign(tf.zeros_like(v))
        for net in (self.G.synthesis, self.D, self.G_ema.synthesis):
            net.lod.assign(state.lod)
        self.level = state

    def mixing_layers(self):
        """Layers style mixing may cut among: num_ws, or num_ws - 2 floor(lod) when growing (TF1
        G_main / G_style: the layers of the levels in use)."""
        if not self.base_cfg.growing:
            return self.G.num_ws
        lod = tf.floor(tf.convert_to_tensor(self.G.synthesis.lod))
        return self.G.num_ws - 2 * tf.cast(lod, tf.int32)

    def checkpoint(self, iterator=None):
        items = dict(
            G=self.G,
            D=self.D,
            G_ema=self.G_ema,
            opt_G=self.opt["G"],
            opt_D=self.opt["D"],
            pl_mean=self.pl_mean,
            rng=self.rng,
            **self.counters,
        )
        if self.augment_pipe is not None:
            items.update(augment_pipe=self.augment_pipe, **self.ada_state)
        for net, (scale, good) in (self.loss_scale or {}).items():
            items.update({f"loss_scale_{net}": scale, f"loss_scale_good_{net}": good})
        if isinstance(iterator, dict):  # growing: one input pipeline per level
            items.update({f"data_r{res}": it for res, it in iterator.items()})
        elif iterator is not None:
            items["data"] = iterator
        return tf.train.Checkpoint(**items)

    def counter(self, name):
        return int(self.counters[name].numpy())

    def synthesis_kwargs(self, noise):
        return dict(noise_mode="random", noise_inputs=noise, fused_modconv=self.cfg.fused_modconv)

    # -- one phase -----------------------------------------------------------------------------
    def _pl_exchange(self, ctx, replica_id, pl_mean):
        """Greg on several replicas: every replica learns the round's chunk means and applies the
        lerps in chunk order; returns exchange(local_mean) -> (pl_mean before my chunk, after
        all)."""
        decay, replicas = self.cfg.loss.pl_decay, self.replicas

        def exchange(local_mean):
            mine = tf.one_hot(replica_id, replicas, dtype=local_mean.dtype) * local_mean
            means = ctx.all_reduce(tf.distribute.ReduceOp.SUM, mine)  # [replicas]
            value, before = pl_mean, []
            for i in range(replicas):
                before.append(value)
                value = value + (means[i] - value) * decay
            return tf.gather(tf.stack(before), replica_id), value

        return exchange

    def _make_phase_fn(self, phase):
        """step(reals, labels) -> (applied, stats) for one phase: `rounds` calls of one traced
        round function (so peak memory is one round's, not the batch's), then one reduce+apply."""
        cfg, dtype = self.cfg, self.dtype
        net = self.G if phase.net == "G" else self.D
        variables = net.trainable_variables
        opt = self.opt[phase.net]
        bg, rounds, replicas, local_replicas = (
            cfg.batch_gpu,
            self.rounds,
            self.replicas,
            self.local_replicas,
        )
        all_reduce = replicas > 1
        rr = self.real_resolution
        shape = [bg, rr, rr, cfg.channels]
        loss_scale = (self.loss_scale or {}).get(phase.net)  # float16 only

        def round_grads(key, chunk, real, real_c, pl_mean, exchange=None, scale=None):
            inputs = phases_lib.RoundInputs(
                key=key,
                chunk=chunk,
                real=real,
                real_c=real_c,
                pl_mean=pl_mean,
                gain=phase.gain,
                exchange=exchange,
            )
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch([getattr(v, "value", v) for v in variables])  # Keras 3 Variables
                loss, stats, w, pl_after = phase.loss_fn(self, inputs)
                if scale is not None:
                    loss = loss * scale
            grads = tape.gradient(loss, variables)
            grads = [tf.zeros_like(v) if g is None else g for v, g in zip(variables, grads)]
            sums = {k: tf.reduce_sum(v) for k, v in stats.items()}
            w_mean = None if w is None else tf.reduce_mean(w, 0)
            return grads, sums, w_mean, pl_after

        if cfg.jit and not (phase.collective_in_loss and all_reduce):
            round_grads = tf.function(round_grads, jit_compile=True, reduce_retracing=True)

        def replica_round(key, j, reals, labels, pl_mean, acc, scale):
            """Round j on this replica: global chunk j * replicas + replica; adds to `acc`."""
            ctx = tf.distribute.get_replica_context()
            replica_id = tf.cast(ctx.replica_id_in_sync_group, tf.int32)
            start = (j * local_replicas + replica_id % local_replicas) * bg  # this worker's chunk
            real = tf.ensure_shape(tf.cast(reals[start : start + bg], dtype), shape) / 127.5 - 1.0
            if cfg.growing:  # TF1 process_reals: fade by lod's fraction, upscale to full size
                lod = tf.cast(tf.convert_to_tensor(self.D.lod), dtype)
                real = ops.fade_lod(real, lod, cfg.resolution)
            real_c = None
            if cfg.c_dim:
                real_c = tf.ensure_shape(
                    tf.cast(labels[start : start + bg], dtype), [bg, cfg.c_dim]
                )
            exchange = self._pl_exchange(ctx, replica_id, pl_mean) if all_reduce else None
            grads, sums, w_mean, pl_after = round_grads(
                key, j * replicas + replica_id, real, real_c, pl_mean, exchange, scale
            )
            if acc is not None:
                grads = [a + g for a, g in zip(acc["grads"], grads)]
                sums = {k: acc["sums"][k] + v for k, v in sums.items()}
            out = dict(grads=grads, sums=sums)
            if w_mean is not None:  # [rounds... later] x [replicas, w_dim]: my column only
                out["w_mean"] = tf.one_hot(replica_id, replicas, dtype=dtype)[:, None] * w_mean
            if pl_after is not None:
                out["pl_mean"] = pl_after
            return out

        def replica_reduce(acc, w_means):
            flat = list(acc["grads"]) + [acc["sums"][k] for k in sorted(acc["sums"])]
            if w_means:
                flat.append(tf.stack(w_means))  # [rounds, replicas, w_dim]
            if all_reduce:
                ctx = tf.distribute.get_replica_context()
                # identity: inputs from the previous strategy.run carry no device of their own,
                # which MultiWorkerMirroredStrategy's all-reduce needs.
                flat = ctx.all_reduce(tf.distribute.ReduceOp.SUM, [tf.identity(x) for x in flat])
            return flat

        @tf.function
        def run_round(key, j, reals, labels, pl_mean, acc, scale):
            return self.strategy.run(
                replica_round, args=(key, j, reals, labels, pl_mean, acc, scale)
            )

        def first_local(x):
            return self.strategy.experimental_local_results(x)[0]

        @tf.function
        def finish(acc, w_means, pl_new, scale):
            flat = self.strategy.run(replica_reduce, args=(acc, w_means))
            flat = [first_local(x) for x in flat]
            n = len(variables)
            grads, names = flat[:n], sorted(acc["sums"])
            if scale is not None:
                grads = [g / scale for g in grads]
            stats = dict(zip(names, flat[n : n + len(names)]))
            finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])

            def apply():
                opt.apply(grads, variables)
                return tf.constant(True)

            applied = tf.cond(finite, apply, lambda: tf.constant(False))
            if loss_scale is not None:  # Keras LossScaleOptimizer's dynamic schedule
                var, good = loss_scale
                count = tf.where(applied, good + 1, tf.zeros_like(good))
                grow = count >= 2000
                var.assign(tf.where(applied, tf.where(grow, scale * 2, scale), scale / 2))
                good.assign(tf.where(grow, tf.zeros_like(count), count))
            if w_means:  # ADA-PT: w_avg <- lerp(mean w of the chunk, w_avg, beta), per chunk
                chunk_means = tf.reshape(flat[-1], [rounds * replicas, -1])  # global chunk order
                w_new = tf.convert_to_tensor(self.w_avg)
                for k in range(rounds * replicas):
                    w_new = loss_lib.update_w_avg(w_new, chunk_means[k], self.w_avg_beta)
                ok = tf.reduce_all(tf.math.is_finite(w_new))
                self.w_avg.assign(tf.where(ok, w_new, self.w_avg))  # never poison w_avg with NaN
            if pl_new is not None:
                pl_new = first_local(pl_new)
                self.pl_mean.assign(tf.where(tf.math.is_finite(pl_new), pl_new, self.pl_mean))
                stats["pl_mean"] = pl_new
            return applied, stats

        def step(reals, labels):
            key = self._next_key()
            pl_mean = tf.convert_to_tensor(self.pl_mean)
            scale = None if loss_scale is None else tf.convert_to_tensor(loss_scale[0])
            acc, w_means = None, []
            for j in range(rounds):
                out = run_round(key, tf.constant(j, tf.int32), reals, labels, pl_mean, acc, scale)
                acc = dict(grads=out["grads"], sums=out["sums"])
                if "w_mean" in out:
                    w_means.append(out["w_mean"])
                pl_mean = out.get("pl_mean", pl_mean)
            return finish(acc, w_means, out.get("pl_mean"), scale)

        return step

    def _ema_update(self, beta):
        for v_ema, v in zip(self.G_ema.trainable_weights, self.G.trainable_weights):
            v_ema.assign(v + (v_ema - v) * tf.cast(beta, v.dtype))
        for v_ema, v in zip(self.G_ema.non_trainable_weights, self.G.non_trainable_weights):
            v_ema.assign(v)

    # -- one iteration -------------------------------------------------------------------------
    def due_phases(self, batch_idx):
        return phases_lib.due(self.phases, batch_idx)

    def run_phase(self, name, reals, labels):
        applied, stats = self._phase_fns[name](reals, labels)
        return bool(applied.numpy()), {k: float(v.numpy()) for k, v in stats.items()}

    def iteration(self, reals, labels, stats_acc=None, ema_rampup=None):
        """One minibatch: the due phases, then G_ema. Raises NonFiniteError after too many bad steps
        of one network in a row."""
        cfg = self.cfg
        batch_idx = self.counter("batch_idx")
        cur_nimg = self.counter("cur_nimg")
        for phase in self.due_phases(batch_idx):
            applied, stats = self.run_phase(phase.name, reals, labels)
            if stats_acc is not None:
                stats_acc.add(phase, stats)
            if "Loss/signs/real" in stats:
                self.ada_state["ada_signs"].assign_add(stats["Loss/signs/real"])
                self.ada_state["ada_count"].assign_add(phase.samples)
            in_a_row = self.counters[f"bad_in_a_row_{phase.net}"]
            if applied:
                in_a_row.assign(0)
                continue
            self.counters[f"bad_steps_{phase.net}"].assign_add(1)
            in_a_row.assign_add(1)
            self.log(
                f"WARNING: non-finite gradients in {phase.name} at kimg "
                f"{cur_nimg / 1000:.3f}: step skipped"
            )
            if int(in_a_row.numpy()) >= cfg.max_bad_steps:
                raise NonFiniteError(
                    f"stopping: {int(in_a_row.numpy())} {phase.net} optimizer steps in a row had "
                    f"non-finite gradients (last at kimg {cur_nimg / 1000:.3f}); the last "
                    f"checkpoint is intact"
                )
        beta = config_lib.ema_beta(cfg, cur_nimg, ema_rampup)
        self._ema_fn(tf.constant(beta, tf.float64))
        self.counters["cur_nimg"].assign_add(cfg.batch)
        self.counters["batch_idx"].assign_add(1)
        if cfg.aug == "ada" and self.counter("batch_idx") % cfg.ada_interval == 0:
            self.adjust_augment_p()

    # -- ADA -----------------------------------------------------------------------------------
    def augment_p(self):
        return 0.0 if self.augment_pipe is None else float(self.augment_pipe.p.numpy())

    def adjust_augment_p(self):
        """ADA-PT training_loop.py: r_t = E[sign(D(real))] since the last adjustment, then
        p += sign(r_t - target) * batch * ada_interval / (ada_kimg * 1000), clamped at 0."""
        cfg = self.cfg
        count = float(self.ada_state["ada_count"].numpy())
        if count == 0:
            return None
        rt = float(self.ada_state["ada_signs"].numpy()) / count
        adjust = (
            np.sign(rt - cfg.ada_target) * (cfg.batch * cfg.ada_interval) / (cfg.ada_kimg * 1000)
        )
        p = np.float32(max(np.float32(self.augment_p()) + np.float32(adjust), 0.0))
        self.augment_pipe.p.assign(p)
        for v in self.ada_state.values():
            v.assign(0.0)
        self.last_rt = rt
        return rt


def _policy(name):
    import keras

    return keras.dtype_policies.get(name)
