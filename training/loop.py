"""The training loop: tf.distribute, lazy regularization, EMA, ticks, snapshots, exact resume.

Reads bottom-up: strategy and random helpers, the phase table, the Trainer (state, one phase, one
iteration, checkpoints), then run-directory bookkeeping (grids, logs, summaries) and `train()`.

Every iteration runs the phases of NETWORKS_TRAINING.md 6.4 in ADA-PT order: Gmain, Greg (every
G_reg_interval), Dmain, Dreg (every D_reg_interval), then the G_ema update. Each phase is one
tf.function calling `strategy.run`; inside, each replica computes its loss on its slice of the global
batch (divided by the global batch size), the gradients are all-reduced (sum) and applied once in
cross-replica context, skipped when any is non-finite (TF1 behaviour).

Random numbers are drawn per *global sample index* from keys that a checkpointed tf.random.Generator
produces once per phase, so 1, 2 or 4 replicas (or 2 workers) give the same numbers and the same weights.
"""

import dataclasses
import json
import os
import sys
import time

import numpy as np
import tensorflow as tf

from training import config as config_lib
from training import loss as loss_lib
from training import rundir
from training import summaries

# ---------------------------------------------------------------------------------------------
# Strategy.


def make_strategy(gpus=1, log=print):
    """MultiWorkerMirroredStrategy when TF_CONFIG is set, else MirroredStrategy over `gpus` devices.

    Without GPUs, `gpus` logical CPU devices are created (must run before TF initializes devices).
    """
    if os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    physical = tf.config.list_physical_devices("GPU")
    if physical:
        if gpus > len(physical):
            raise ValueError(f"--gpus {gpus}: only {len(physical)} GPU(s) visible")
        return tf.distribute.MirroredStrategy([f"/gpu:{i}" for i in range(gpus)])
    if gpus > 1:
        log(f"WARNING: no GPU found; --gpus {gpus} runs on {gpus} logical CPU devices")
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if current is None or len(current) < gpus:
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(gpus)])
        except RuntimeError as e:
            raise RuntimeError(f"--gpus {gpus}: cannot create logical CPU devices after TensorFlow "
                               f"has initialized its devices ({e})") from e
    devices = [f"/cpu:{i}" for i in range(gpus)]
    return tf.distribute.MirroredStrategy(devices,
                                          cross_device_ops=tf.distribute.ReductionToOneDevice())


def worker_info(strategy):
    """(num_workers, worker_index, replicas_per_worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and resolver is not None:
        spec = resolver.cluster_spec().as_dict()
        num_workers = len(spec.get("worker", [])) + len(spec.get("chief", []))
        task_type, task_id = resolver.task_type, resolver.task_id
        index = task_id + (1 if task_type == "worker" and "chief" in spec else 0)
        num_workers = max(num_workers, 1)
        return num_workers, index, strategy.num_replicas_in_sync // num_workers
    return 1, 0, strategy.num_replicas_in_sync


# ---------------------------------------------------------------------------------------------
# Per-sample random numbers: sample i of the global batch draws from fold_in(key, i).


def _fold(key, i):
    return tf.random.experimental.stateless_fold_in(key, i)


def per_sample_normal(key, index, shape):
    """[len(index), *shape] N(0,1), row n from fold_in(key, index[n])."""
    return tf.map_fn(lambda i: tf.random.stateless_normal(shape, _fold(key, i)), index,
                     fn_output_signature=tf.float32)


def per_sample_noise(key, index, layer_names):
    """Synthesis noise {layer: [len(index), R, R, 1]} for the ADA-PT layer names ('b8.conv0', ...)."""
    noise = {}
    for i, name in enumerate(layer_names):
        res = int(name.split(".")[0][1:])
        noise[name] = per_sample_normal(_fold(key, i), index, [res, res, 1])
    return noise


def mixing_cutoffs(key, index, group, num_ws, prob):
    """Style-mixing cutoff per sample, shared by each group of `group` consecutive global samples:
    uniform in [1, num_ws) with probability `prob`, else num_ws (no mixing)."""
    def one(i):
        seed = _fold(key, i // group)
        u = tf.random.stateless_uniform([], seed)
        cut = tf.random.stateless_uniform([], _fold(seed, 1), 1, num_ws, dtype=tf.int32)
        return tf.where(u < prob, cut, num_ws)
    return tf.map_fn(one, index, fn_output_signature=tf.int32)


# ---------------------------------------------------------------------------------------------
# Phases as data: (name, network, interval, loss kind).


@dataclasses.dataclass(frozen=True)
class Phase:
    name: str       # Gmain, Greg, Dmain, Dreg
    net: str        # 'G' or 'D': whose optimizer steps
    interval: int   # runs when batch_idx % interval == 0 (1 = every minibatch)
    gain: float     # loss multiplier (the lazy-regularization interval)


def make_phases(cfg):
    opt = cfg.opt
    phases = [Phase("Gmain", "G", 1, 1.0)]
    if cfg.loss.pl_weight > 0:
        phases.append(Phase("Greg", "G", opt.G_reg_interval, float(opt.G_reg_interval)))
    phases.append(Phase("Dmain", "D", 1, 1.0))
    if cfg.loss.r1_gamma > 0:
        phases.append(Phase("Dreg", "D", opt.D_reg_interval, float(opt.D_reg_interval)))
    return phases


class NonFiniteError(RuntimeError):
    pass


class ResumeError(ValueError):
    """The snapshot/pickle given to --resume does not fit the configured networks."""


# ---------------------------------------------------------------------------------------------
# The trainer: networks, optimizers, state, phase functions.


def _networks_module():
    from tf_stylegan2 import networks

    return networks


class Trainer:
    """Owns G, D, G_ema, the optimizers and all training state under `strategy`."""

    def __init__(self, cfg, strategy, networks=None, log=print):
        self.cfg = cfg
        self.strategy = strategy
        self.log = log
        self.networks = networks or _networks_module()
        self.num_workers, self.worker_index, self.local_replicas = worker_info(strategy)
        self.replicas = strategy.num_replicas_in_sync
        if cfg.batch % self.replicas:
            raise ValueError(f"--batch {cfg.batch} must divide by the number of replicas "
                             f"({self.replicas})")
        self.b = cfg.batch // self.replicas                 # per-replica batch
        self.worker_batch = cfg.batch // self.num_workers   # what this worker's pipeline yields
        self.pl_b = self.b // cfg.loss.pl_batch_shrink       # per-replica path-length batch
        self.chunk = max(min(cfg.batch_gpu, self.b), 1)      # reference per-GPU batch
        if self.b % self.chunk:
            raise ValueError(f"per-replica batch {self.b} must be a multiple of batch_gpu {self.chunk}")
        self.mbstd_group = int(cfg.D_kwargs.get("mbstd_group_size", 4) or 1)
        self.phases = make_phases(cfg)
        self._build()
        self._phase_fns = {p.name: self._make_phase_fn(p) for p in self.phases}
        self._ema_fn = tf.function(self._ema_update)

    # -- state ---------------------------------------------------------------------------------
    def _build(self):
        import keras

        cfg, nets = self.cfg, self.networks
        keras.utils.set_random_seed(cfg.seed)  # same initial weights on every worker and replica count
        with self.strategy.scope():
            self.G = nets.Generator(**cfg.G_kwargs)
            self.D = nets.Discriminator(**cfg.D_kwargs)
            self.G_ema = nets.Generator(**cfg.G_kwargs)
            self._build_nets(self.G, self.D)
            self._build_nets(self.G_ema, None)
            for v_ema, v in zip(self.G_ema.weights, self.G.weights):
                v_ema.assign(v)
            self.opt = {}
            for name, net, interval in (("G", self.G, cfg.opt.G_reg_interval if cfg.loss.pl_weight
                                         > 0 else 0),
                                        ("D", self.D, cfg.opt.D_reg_interval if cfg.loss.r1_gamma
                                         > 0 else 0)):
                lr, beta1, beta2 = cfg.opt.lazy(interval)
                opt = keras.optimizers.Adam(learning_rate=lr, beta_1=beta1, beta_2=beta2,
                                            epsilon=cfg.opt.epsilon, name=f"opt_{name}")
                opt.build(net.trainable_variables)
                self.opt[name] = opt
            self.pl_mean = tf.Variable(0.0, trainable=False, name="pl_mean",
                                       aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        # Plain (per-worker, identical) state: RNG and counters.
        self.rng = tf.random.Generator.from_seed(cfg.seed)
        self.counters = {k: tf.Variable(0, dtype=tf.int64, trainable=False, name=k)
                         for k in ("cur_nimg", "batch_idx", "cur_tick", "tick_start_nimg",
                                   "bad_steps_G", "bad_steps_D", "bad_in_a_row",
                                   "batches_read")}
        self.w_avg = self.G.mapping.w_avg
        self.w_avg_beta = float(cfg.G_kwargs.get("mapping_kwargs", {}).get("w_avg_beta", 0.995))

    def _build_nets(self, G, D):
        cfg = self.cfg
        z = tf.zeros([2, G.z_dim])
        c = tf.zeros([2, cfg.c_dim]) if cfg.c_dim else None
        ws = G.mapping(z, c)
        img = G.synthesis(ws, noise_mode="const")
        G(z, c)
        if D is not None:
            D(img, c)

    def checkpoint(self, iterator=None):
        items = dict(G=self.G, D=self.D, G_ema=self.G_ema, opt_G=self.opt["G"],
                     opt_D=self.opt["D"], pl_mean=self.pl_mean, rng=self.rng, **self.counters)
        if iterator is not None:
            items["data"] = iterator
        return tf.train.Checkpoint(**items)

    def counter(self, name):
        return int(self.counters[name].numpy())

    # -- one phase -----------------------------------------------------------------------------
    def _c(self, labels):
        return labels if self.cfg.c_dim else None

    def _synthesis_kwargs(self, noise):
        return dict(noise_mode="random", noise_inputs=noise, fused_modconv=self.cfg.fused_modconv)

    def _replica_slice(self):
        ctx = tf.distribute.get_replica_context()
        rid = tf.cast(ctx.replica_id_in_sync_group, tf.int32)
        local = rid % self.local_replicas
        return ctx, rid, local

    def _make_phase_fn(self, phase):
        cfg = self.cfg
        G, D = self.G, self.D
        net = G if phase.net == "G" else D
        variables = net.trainable_variables
        opt = self.opt[phase.net]
        b, pl_b, chunk, group = self.b, self.pl_b, self.chunk, self.mbstd_group
        num_ws = G.num_ws
        layer_names = list(G.synthesis.layer_names())
        prob = cfg.loss.style_mixing_prob
        jit = bool(cfg.jit)
        all_reduce = (self.replicas > 1)

        def draws(key, rid, n, grp):
            """z, z_mix, cutoff, synthesis noise for n samples starting at global index rid*n."""
            index = rid * n + tf.range(n, dtype=tf.int32)
            z = per_sample_normal(_fold(key, 0), index, [G.z_dim])
            noise = per_sample_noise(_fold(key, 2), index, layer_names)
            if prob > 0:
                z_mix = per_sample_normal(_fold(key, 1), index, [G.z_dim])
                cutoff = mixing_cutoffs(_fold(key, 3), index, grp, num_ws, prob)
            else:
                z_mix = cutoff = None
            return index, z, z_mix, cutoff, noise

        def grads_of(loss_fn):
            with tf.GradientTape() as tape:
                out = loss_fn()
            grads = tape.gradient(out[0], variables)
            grads = [tf.zeros_like(v) if g is None else g for v, g in zip(variables, grads)]
            return grads, out

        def stat_sums(stats):
            return {k: tf.reduce_sum(v) for k, v in stats.items()}

        # Per-replica computations (optionally XLA-compiled): return grads, stat sums, w sum.
        def compute_Gmain(z, z_mix, cutoff, noise, c):
            grads, (loss, stats, w) = grads_of(lambda: loss_lib.G_main_loss(
                G, D, z, c, cfg.batch, z_mix, cutoff, self._synthesis_kwargs(noise), chunk, group))
            return grads, stat_sums(stats), tf.reduce_sum(w, 0)

        def compute_Greg(z, z_mix, cutoff, noise, c, pl_noise, pl_mean, reduce_fn):
            grads, (loss, stats, w, pl_new) = grads_of(lambda: loss_lib.G_pl_loss(
                G, z, c, pl_noise, pl_mean, cfg.batch // cfg.loss.pl_batch_shrink,
                cfg.loss.pl_decay, cfg.loss.pl_weight, phase.gain, z_mix, cutoff,
                self._synthesis_kwargs(noise), reduce_fn))
            return grads, stat_sums(stats), tf.reduce_sum(w, 0), pl_new

        def compute_Dmain(z, z_mix, cutoff, noise, c, real, real_c):
            gen_img, _, w = loss_lib.run_G(G, z, c, z_mix, cutoff, self._synthesis_kwargs(noise))
            grads, (loss, stats) = grads_of(lambda: loss_lib.D_main_loss(
                D, gen_img, c, real, real_c, cfg.batch, chunk, group))
            return grads, stat_sums(stats), tf.reduce_sum(w, 0)

        def compute_Dreg(real, real_c):
            grads, (loss, stats) = grads_of(lambda: loss_lib.D_r1_loss(
                D, real, real_c, cfg.batch, cfg.loss.r1_gamma, phase.gain, chunk, group))
            return grads, stat_sums(stats)

        compute = {"Gmain": compute_Gmain, "Greg": compute_Greg, "Dmain": compute_Dmain,
                   "Dreg": compute_Dreg}[phase.name]
        if jit and not (phase.name == "Greg" and all_reduce):
            compute = tf.function(compute, jit_compile=True, reduce_retracing=True)

        def replica_fn(key, reals, labels, pl_mean):
            ctx, rid, local = self._replica_slice()
            start = local * b
            real_c = self._c(labels[start:start + b]) if cfg.c_dim else None
            w_sum = pl_new = None
            if phase.name == "Gmain":
                _, z, z_mix, cutoff, noise = draws(key, rid, b, chunk)
                grads, stats, w_sum = compute(z, z_mix, cutoff, noise, real_c)
            elif phase.name == "Greg":
                index, z, z_mix, cutoff, noise = draws(key, rid, pl_b,
                                                       max(chunk // cfg.loss.pl_batch_shrink, 1))
                shape = [cfg.resolution, cfg.resolution, cfg.channels]
                pl_noise = per_sample_normal(_fold(key, 4), index, shape)
                pl_noise = pl_noise * loss_lib.pl_noise_scale([None, *shape])
                pl_c = real_c[::cfg.loss.pl_batch_shrink] if real_c is not None else None
                reduce_fn = ((lambda x: ctx.all_reduce(tf.distribute.ReduceOp.SUM, x))
                             if all_reduce else None)
                if jit and not all_reduce:
                    grads, stats, w_sum, pl_new = compute(z, z_mix, cutoff, noise, pl_c,
                                                          pl_noise, pl_mean, None)
                else:
                    grads, stats, w_sum, pl_new = compute(z, z_mix, cutoff, noise, pl_c,
                                                          pl_noise, pl_mean, reduce_fn)
            else:
                real = tf.cast(reals[start:start + b], tf.float32) / 127.5 - 1.0
                if phase.name == "Dmain":
                    _, z, z_mix, cutoff, noise = draws(key, rid, b, chunk)
                    grads, stats, w_sum = compute(z, z_mix, cutoff, noise, real_c, real, real_c)
                else:
                    grads, stats = compute(real, real_c)
            extra = [w_sum] if w_sum is not None else []
            flat = grads + [stats[k] for k in sorted(stats)] + extra
            if all_reduce:
                flat = ctx.all_reduce(tf.distribute.ReduceOp.SUM, flat)
            out = dict(grads=flat[:len(grads)],
                       stats=dict(zip(sorted(stats), flat[len(grads):len(grads) + len(stats)])))
            if extra:
                out["w_sum"] = flat[-1]
            if pl_new is not None:
                out["pl_mean"] = pl_new
            return out

        def local0(x):
            return self.strategy.experimental_local_results(x)[0]

        def step(reals, labels):
            key = self.rng.uniform_full_int([2], dtype=tf.int32)
            res = self.strategy.run(replica_fn, args=(key, reals, labels, self.pl_mean.read_value()))
            grads = [local0(g) for g in res["grads"]]
            finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])

            def apply():
                opt.apply(grads, variables)
                return tf.constant(True)

            applied = tf.cond(finite, apply, lambda: tf.constant(False))
            stats = {k: local0(v) for k, v in res["stats"].items()}
            if "w_sum" in res:  # w_avg <- lerp(global mean of un-mixed w, w_avg, beta)
                w_mean = local0(res["w_sum"]) / tf.cast(
                    cfg.batch // (cfg.loss.pl_batch_shrink if phase.name == "Greg" else 1),
                    tf.float32)
                w_new = loss_lib.update_w_avg(self.w_avg, w_mean, self.w_avg_beta)
                ok = tf.reduce_all(tf.math.is_finite(w_new))
                self.w_avg.assign(tf.where(ok, w_new, self.w_avg))  # never poison w_avg with NaN
            if "pl_mean" in res:
                pl_new = local0(res["pl_mean"])
                self.pl_mean.assign(tf.where(tf.math.is_finite(pl_new), pl_new, self.pl_mean))
                stats["pl_mean"] = local0(res["pl_mean"])
            return applied, stats

        return tf.function(step)

    def _ema_update(self, beta):
        for v_ema, v in zip(self.G_ema.trainable_weights, self.G.trainable_weights):
            v_ema.assign(v + (v_ema - v) * beta)
        for v_ema, v in zip(self.G_ema.non_trainable_weights, self.G.non_trainable_weights):
            v_ema.assign(v)

    # -- one iteration -------------------------------------------------------------------------
    def run_phase(self, name, reals, labels):
        applied, stats = self._phase_fns[name](reals, labels)
        return bool(applied.numpy()), {k: float(v.numpy()) for k, v in stats.items()}

    def iteration(self, reals, labels, stats_acc=None, ema_rampup=None):
        """One minibatch: the due phases, then G_ema. Raises NonFiniteError after too many bad steps."""
        cfg = self.cfg
        batch_idx = self.counter("batch_idx")
        cur_nimg = self.counter("cur_nimg")
        for phase in self.phases:
            if batch_idx % phase.interval:
                continue
            applied, stats = self.run_phase(phase.name, reals, labels)
            if stats_acc is not None:
                stats_acc.add(phase, stats, self)
            if applied:
                self.counters["bad_in_a_row"].assign(0)
            else:
                self.counters[f"bad_steps_{phase.net}"].assign_add(1)
                self.counters["bad_in_a_row"].assign_add(1)
                self.log(f"WARNING: non-finite gradients in {phase.name} at kimg "
                         f"{cur_nimg / 1000:.3f}: step skipped")
                if self.counter("bad_in_a_row") >= cfg.max_bad_steps:
                    raise NonFiniteError(
                        f"stopping: {self.counter('bad_in_a_row')} optimizer steps in a row had "
                        f"non-finite gradients (last at kimg {cur_nimg / 1000:.3f}); the last "
                        f"checkpoint is intact")
        beta = config_lib.ema_beta(cfg, cur_nimg, ema_rampup)
        self._ema_fn(tf.constant(beta, tf.float32))
        self.counters["cur_nimg"].assign_add(cfg.batch)
        self.counters["batch_idx"].assign_add(1)


class Stats:
    """Per-tick accumulation of the phase statistics (means over the global samples)."""

    def __init__(self):
        self.sums, self.counts = {}, {}

    def add(self, phase, stats, trainer):
        for k, v in stats.items():
            if k == "pl_mean":
                n, key = 1, "Loss/pl_mean"
            else:
                n = trainer.cfg.batch // (trainer.cfg.loss.pl_batch_shrink
                                          if phase.name == "Greg" else 1)
                key = k
            self.sums[key] = self.sums.get(key, 0.0) + v
            self.counts[key] = self.counts.get(key, 0) + n

    def means(self):
        return {k: self.sums[k] / max(self.counts[k], 1) for k in sorted(self.sums)}


# ---------------------------------------------------------------------------------------------
# train()


def train(cfg, run_dir, strategy, *, make_dataset=None, networks=None, metric_fn=None,
          resume_from_run=False, stop_after_nimg=None, log=print, progress=True):
    """Train `cfg` into `run_dir` (created by the caller with config.json). Returns the Trainer.

    resume_from_run: restore the latest checkpoint in run_dir/checkpoints and continue exactly.
    stop_after_nimg: stop early (for tests) once cur_nimg reaches it, without finishing the tick.
    """
    if make_dataset is None:
        from training.dataset import make_dataset
    trainer = Trainer(cfg, strategy, networks=networks, log=log)
    is_chief = trainer.worker_index == 0
    num_workers = trainer.num_workers

    # Data: this worker's shards, worker_batch images per step (each replica slices its part).
    input_context = None
    if num_workers > 1:
        input_context = tf.distribute.InputContext(num_input_pipelines=num_workers,
                                                   input_pipeline_id=trainer.worker_index,
                                                   num_replicas_in_sync=trainer.replicas)
    dataset = make_dataset(cfg.data, trainer.worker_batch, input_context=input_context,
                           resolution=cfg.resolution, shuffle=True, mirror=cfg.mirror,
                           repeat=True, seed=cfg.seed)
    iterator = iter(dataset)
    ckpt = trainer.checkpoint(iterator)
    ckpt_dir = os.path.join(run_dir, "checkpoints", f"worker{trainer.worker_index}")
    manager = tf.train.CheckpointManager(ckpt, ckpt_dir, max_to_keep=2)

    ema_rampup = 0.0 if cfg.resume else None  # ADA-PT: starting from a pickle turns the ramp-up off
    if resume_from_run:
        path = manager.latest_checkpoint
        if path is None:
            raise FileNotFoundError(f"{run_dir}: no checkpoint to resume from in {ckpt_dir}")
        ckpt.restore(path).assert_existing_objects_matched()
        log(f"Resumed from {path} at kimg {trainer.counter('cur_nimg') / 1000:.3f}")
    elif cfg.resume:
        import tf_stylegan2

        nets = tf_stylegan2.load_network(cfg.resume)
        for name in ("G", "D", "G_ema"):
            if nets.get(name) is not None:
                try:
                    n = rundir.copy_weights(nets[name], getattr(trainer, name))
                except ValueError as e:
                    raise ResumeError(f"--resume {cfg.resume}: {name} does not fit --config "
                                      f"{cfg.preset} at {cfg.resolution}x{cfg.resolution}: {e}")
                log(f"Loaded {n} weights of {name} from {cfg.resume}")

    # Grids (fixed latents).
    gw, gh = config_lib.grid_size(cfg)
    rnd = np.random.RandomState(cfg.seed)
    grid_z = rnd.randn(gw * gh, trainer.G.z_dim).astype(np.float32)
    writer = tf.summary.create_file_writer(run_dir) if is_chief else None
    grid_c = None
    if is_chief and not resume_from_run:
        grid_ds = make_dataset(cfg.data, gw * gh, resolution=cfg.resolution, shuffle=True,
                               mirror=False, repeat=True, seed=0)
        reals, labels = next(iter(grid_ds))
        rundir.save_grid(os.path.join(run_dir, "reals.png"),
                  tf.cast(reals, tf.float32).numpy() / 127.5 - 1, (gw, gh))
        grid_c = labels.numpy() if cfg.c_dim else None
        np.save(os.path.join(run_dir, "grid_c.npy"), labels.numpy())
        imgs = rundir.generate_grid(trainer.G_ema, grid_z, grid_c)
        rundir.save_grid(os.path.join(run_dir, "fakes_init.png"), imgs, (gw, gh))
    elif cfg.c_dim and os.path.exists(os.path.join(run_dir, "grid_c.npy")):
        grid_c = np.load(os.path.join(run_dir, "grid_c.npy"))

    total_nimg = int(round(cfg.total_kimg * 1000))
    tick_nimg = int(round(cfg.kimg_per_tick * 1000))
    start_time = time.time()
    tick_start_time = start_time
    maintenance = 0.0
    stats = Stats()
    log(f"Training for {cfg.total_kimg:g} kimg: global batch {cfg.batch}, {trainer.replicas} "
        f"replica(s), {trainer.b} per replica ({num_workers} worker(s))")

    def end_of_tick(done):
        nonlocal tick_start_time, maintenance, stats
        cur_nimg = trainer.counter("cur_nimg")
        tick = trainer.counter("cur_tick")
        t0 = time.time()
        tick_time = t0 - tick_start_time
        tick_imgs = cur_nimg - trainer.counter("tick_start_nimg")
        sec_per_kimg = tick_time / max(tick_imgs, 1) * 1000
        means = stats.means()
        mem = rundir.peak_memory_gb()
        line = (f"tick {tick:<5d} kimg {cur_nimg / 1000:<9.3f} time {rundir.fmt_time(t0 - start_time):<9s} "
                f"sec/tick {tick_time:<7.1f} sec/kimg {sec_per_kimg:<8.2f} "
                f"img/s {tick_imgs / max(tick_time, 1e-9):<7.2f} maintenance {maintenance:<5.1f} "
                f"mem {mem:<5.2f}")
        for key, short in (("Loss/G/loss", "G"), ("Loss/D/loss", "D"),
                           ("Loss/r1_penalty", "r1"), ("Loss/pl_penalty", "pl"),
                           ("Loss/pl_mean", "pl_mean")):
            if key in means:
                line += f" {short} {means[key]:.4f}"
        log(line)
        snapshot = done or tick % cfg.snap == 0
        if is_chief:
            scalars = dict(means)
            scalars.update({
                "Progress/tick": tick, "Progress/kimg": cur_nimg / 1000,
                "Timing/sec_per_tick": tick_time, "Timing/sec_per_kimg": sec_per_kimg,
                "Timing/img_per_sec": tick_imgs / max(tick_time, 1e-9),
                "Timing/maintenance_sec": maintenance, "Resources/peak_mem_gb": mem,
                "Progress/bad_steps_G": trainer.counter("bad_steps_G"),
                "Progress/bad_steps_D": trainer.counter("bad_steps_D")})
            with writer.as_default():
                for k, v in scalars.items():
                    summaries.scalar(k, v, cur_nimg)
        if snapshot:
            kimg = cur_nimg // 1000
            if is_chief:
                imgs = rundir.generate_grid(trainer.G_ema, grid_z, grid_c)
                grid = rundir.save_grid(os.path.join(run_dir, f"fakes{kimg:06d}.png"), imgs, (gw, gh))
                with writer.as_default():
                    summaries.image("fakes", grid, cur_nimg)
            snap_path = os.path.join(run_dir, f"network-snapshot-{kimg:06d}.keras")
            if is_chief:
                import tf_stylegan2

                tf_stylegan2.save_snapshot(snap_path, G=trainer.G, D=trainer.D,
                                           G_ema=trainer.G_ema)
            if metric_fn is not None and cfg.metrics and is_chief:
                for name in cfg.metrics:
                    result = metric_fn(name, trainer, snap_path)
                    with writer.as_default():
                        for k, v in (result or {}).items():
                            if isinstance(v, (int, float)):
                                summaries.scalar(f"Metrics/{k}", v, cur_nimg)
                    log(f"metric {name}: {json.dumps(result)}")
        trainer.counters["cur_tick"].assign_add(1)
        trainer.counters["tick_start_nimg"].assign(cur_nimg)
        manager.save(checkpoint_number=cur_nimg)
        if writer is not None:
            writer.flush()
        stats = Stats()
        tick_start_time = time.time()
        maintenance = tick_start_time - t0

    if not resume_from_run and trainer.counter("cur_nimg") == 0:
        manager.save(checkpoint_number=0)  # state before the first step (resume from a kill in tick 0)

    # Progress bar inside a tick: on the terminal only (never into log.txt).
    term = sys.__stdout__
    show_bar = progress and term is not None and term.isatty()
    # Test hook: SIGKILL this process once cur_nimg reaches the value (resume tests kill mid-tick).
    kill_at = int(os.environ.get("TF_STYLEGAN2_KILL_AT_NIMG", "0") or 0)
    while True:
        cur_nimg = trainer.counter("cur_nimg")
        if stop_after_nimg is not None and cur_nimg >= stop_after_nimg:
            break
        reals, labels = next(iterator)
        trainer.counters["batches_read"].assign_add(1)
        trainer.iteration(reals, labels, stats, ema_rampup)
        cur_nimg = trainer.counter("cur_nimg")
        if kill_at and cur_nimg >= kill_at:
            import signal

            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        done = cur_nimg >= total_nimg
        tick_start_nimg = trainer.counter("tick_start_nimg")
        if show_bar:
            frac = min((cur_nimg - tick_start_nimg) / max(tick_nimg, 1), 1.0)
            term.write(f"\r[{'#' * int(frac * 30):<30s}] {cur_nimg / 1000:.3f} kimg ")
            term.flush()
        # ADA-PT: tick 0 ends after the first minibatch, later ticks every kimg_per_tick.
        tick_end = trainer.counter("cur_tick") == 0 or cur_nimg >= tick_start_nimg + tick_nimg
        if tick_end and cfg.max_minutes and time.time() - start_time >= cfg.max_minutes * 60:
            log(f"--max-minutes {cfg.max_minutes:g} reached: stopping after this tick")
            done = True
        if done or tick_end:
            if show_bar:
                term.write("\r" + " " * 50 + "\r")
            end_of_tick(done)
        if done:
            break
    if writer is not None:
        writer.close()
    log(f"Exiting after {trainer.counter('cur_nimg') / 1000:.3f} kimg.")
    return trainer
