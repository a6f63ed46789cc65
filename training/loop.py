"""The training loop: ticks, image grids, snapshots, metrics, checkpoints and exact resume.

`train()` builds the Trainer (trainer.py), the input pipeline and the grids, then runs minibatches
until total_kimg, ending a tick every kimg_per_tick (tick 0 after the first minibatch, as ADA-PT
`training_loop.py`), with a snapshot every `snap` ticks. Training state is a tf.train.Checkpoint
saved at every tick end, so `--resume RUN_DIR` continues exactly.
"""

import json
import os
import sys
import time

import numpy as np
import tensorflow as tf

from metrics.progress import Progress, format_time
from training import config as config_lib
from training import growing, rundir, summaries
from training.distribute import make_strategy, worker_info  # noqa: F401  (public API)
from training.trainer import NonFiniteError, Trainer  # noqa: F401  (public API)


class ResumeError(ValueError):
    """The snapshot/pickle given to --resume does not fit the configured networks, or the run has
    no intact checkpoint."""


class Interrupted(Exception):
    """Ctrl-C (SIGINT) during training; `kimg` is the last completed minibatch's."""

    def __init__(self, kimg):
        super().__init__(f"interrupted at kimg {kimg:.3f}")
        self.kimg = kimg


class RunComplete(Exception):
    """--resume of a run that already reached its --total-kimg."""


def _caused_by_interrupt(e):
    while e is not None:
        if isinstance(e, KeyboardInterrupt):
            return True
        e = e.__cause__ or e.__context__
    return False


def _restore_newest_intact(ckpt, manager, ckpt_dir, log):
    """Restore the newest checkpoint that reads; say which ones were skipped and why."""
    paths = list(reversed(manager.checkpoints))
    if not paths:
        raise ResumeError(f"{ckpt_dir}: no checkpoint to resume from")
    problems = []
    for path in paths:
        try:
            ckpt.restore(path).assert_existing_objects_matched()
        except Exception as e:  # noqa: BLE001 (TF's reader raises IndexError, OpError, ...)
            reason = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
            problems.append(f"{path}: {reason}")
            log(f"WARNING: checkpoint {path} is unreadable ({reason})")
            continue
        if problems:
            log(f"Resuming from the newest intact checkpoint, {path}, instead")
        return path
    raise ResumeError(f"no intact checkpoint in {ckpt_dir}: {problems[0]}")


class TickStats:
    """Per-tick accumulation of the phase statistics (means over the global samples)."""

    def __init__(self):
        self.sums, self.counts = {}, {}

    def add(self, phase, stats):
        for k, v in stats.items():
            n, key = (1, "Loss/pl_mean") if k == "pl_mean" else (phase.samples, k)
            self.sums[key] = self.sums.get(key, 0.0) + v
            self.counts[key] = self.counts.get(key, 0) + n

    def means(self):
        return {k: self.sums[k] / max(self.counts[k], 1) for k in sorted(self.sums)}


def _load_resume_weights(trainer, cfg, log):
    import tf_stylegan2

    nets = tf_stylegan2.load_network(cfg.resume)
    for name in ("G", "D", "G_ema"):
        if nets.get(name) is not None:
            try:
                n = rundir.copy_weights(nets[name], getattr(trainer, name))
            except ValueError as e:
                raise ResumeError(
                    f"--resume {cfg.resume}: {name} does not fit --config "
                    f"{cfg.preset} at {cfg.resolution}x{cfg.resolution}: {e}"
                )
            log(f"Loaded {n} weights of {name} from {cfg.resume}")


def _tick_line(tick, cur_nimg, elapsed, tick_time, tick_imgs, maintenance, means, augment_p=None):
    sec_per_kimg = tick_time / max(tick_imgs, 1) * 1000
    line = (
        f"tick {tick:<5d} kimg {cur_nimg / 1000:<9.3f} time {format_time(elapsed):<12s} "
        f"sec/tick {tick_time:<7.1f} sec/kimg {sec_per_kimg:<8.2f} "
        f"img/s {tick_imgs / max(tick_time, 1e-9):<7.2f} maintenance {maintenance:<5.1f} "
        f"mem {rundir.peak_memory_gb():<5.2f}"
    )
    if augment_p is not None:  # ADA-PT prints the strength, and r_t is the mean sign
        line += f" augment {augment_p:.3f}"
        if "Loss/signs/real" in means:
            line += f" rt {means['Loss/signs/real']:.3f}"
    for key, short in (
        ("Loss/G/loss", "G"),
        ("Loss/D/loss", "D"),
        ("Loss/r1_penalty", "r1"),
        ("Loss/pl_penalty", "pl"),
        ("Loss/pl_mean", "pl_mean"),
    ):
        if key in means:
            line += f" {short} {means[key]:.4f}"
    return line


def train(
    cfg,
    run_dir,
    strategy,
    *,
    make_dataset=None,
    networks=None,
    metric_fn=None,
    resume_from_run=False,
    stop_after_nimg=None,
    log=print,
    progress=True,
    on_started=None,
    on_iteration=None,
):
    """Train `cfg` into `run_dir`. Returns the Trainer.

    resume_from_run: restore the latest checkpoint in run_dir/checkpoints and continue exactly.
    stop_after_nimg: stop early (for tests) once cur_nimg reaches it, without finishing the tick.
    on_started(): called once everything that can fail at start-up (networks, data, resume, grids)
        has succeeded, before the first minibatch. on_iteration(trainer): after every minibatch.
    """
    if make_dataset is None:
        from training.dataset import make_dataset
    trainer = Trainer(cfg, strategy, networks=networks, log=log)
    is_chief = trainer.worker_index == 0
    num_workers = trainer.num_workers

    # Data: this worker's shards, worker_batch images per step (each replica slices its part).
    input_context = None
    if num_workers > 1:
        input_context = tf.distribute.InputContext(
            num_input_pipelines=num_workers,
            input_pipeline_id=trainer.worker_index,
            num_replicas_in_sync=trainer.replicas,
        )

    def pipeline(resolution, batch):
        return iter(
            make_dataset(
                cfg.data,
                batch,
                input_context=input_context,
                resolution=resolution,
                shuffle=True,
                mirror=cfg.mirror,
                repeat=True,
                seed=cfg.seed,
            )
        )

    if cfg.growing:  # one pipeline per level, each with its minibatch (TF1 reads level files)
        iterator = {res: pipeline(res, b // num_workers) for res, b, _ in cfg.level_batch}
    else:
        iterator = pipeline(cfg.resolution, trainer.worker_batch)
    ckpt = trainer.checkpoint(iterator)
    ckpt_dir = os.path.join(run_dir, "checkpoints", f"worker{trainer.worker_index}")
    manager = tf.train.CheckpointManager(ckpt, ckpt_dir, max_to_keep=2)

    ema_rampup = 0.0 if cfg.resume else None  # ADA-PT: starting from a pickle turns the ramp-up off
    if resume_from_run:
        path = _restore_newest_intact(ckpt, manager, ckpt_dir, log)
        cur_kimg = trainer.counter("cur_nimg") / 1000
        if cur_kimg >= cfg.total_kimg:
            raise RunComplete(
                f"{run_dir} is complete: kimg {cur_kimg:.3f} of --total-kimg "
                f"{cfg.total_kimg:g} (pass a larger --total-kimg to train longer)"
            )
        log(f"Resumed from {path} at kimg {cur_kimg:.3f}")
    elif cfg.resume:
        _load_resume_weights(trainer, cfg, log)
    if cfg.growing:  # the level in force (restored: the one of the last evaluation)
        trainer.set_level(growing.state_at(cfg, trainer.counter("lod_nimg")))
        log(growing.describe(cfg, trainer.level))

    # Grids (fixed latents); a set smaller than the grid repeats its images (ADA-PT).
    gw, gh = config_lib.grid_size(cfg)
    rnd = np.random.RandomState(cfg.seed)
    grid_z = rnd.randn(gw * gh, trainer.G.z_dim).astype(np.float32)
    grid_c = None
    if is_chief and not resume_from_run:
        grid_ds = make_dataset(
            cfg.data,
            gw * gh,
            resolution=cfg.resolution,
            shuffle=True,
            mirror=False,
            repeat=True,
            seed=0,
        )
        reals, labels = next(iter(grid_ds))
        grid_c = labels.numpy() if cfg.c_dim else None
        grid_reals = tf.cast(reals, tf.float32).numpy() / 127.5 - 1
        grid_fakes = rundir.generate_grid(trainer.inference_nets()["G_ema"], grid_z, grid_c)
    if on_started is not None:
        on_started()
    writer = tf.summary.create_file_writer(run_dir) if is_chief else None
    if is_chief and not resume_from_run:
        rundir.save_grid(os.path.join(run_dir, "reals.png"), grid_reals, (gw, gh))
        np.save(os.path.join(run_dir, "grid_c.npy"), labels.numpy())
        rundir.save_grid(os.path.join(run_dir, "fakes_init.png"), grid_fakes, (gw, gh))
    elif cfg.c_dim and os.path.exists(os.path.join(run_dir, "grid_c.npy")):
        grid_c = np.load(os.path.join(run_dir, "grid_c.npy"))

    total_nimg = int(round(cfg.total_kimg * 1000))

    def tick_nimg():
        kimg = growing.tick_kimg(cfg, trainer.level) if cfg.growing else cfg.kimg_per_tick
        return int(round(kimg * 1000))

    start_time = time.time()
    tick_start_time = start_time
    maintenance = 0.0
    stats = TickStats()
    log(
        f"Training for {cfg.total_kimg:g} kimg: global batch {trainer.cfg.batch} = "
        f"{trainer.rounds} round(s) x {trainer.replicas} replica(s) x batch_gpu "
        f"{trainer.cfg.batch_gpu} ({num_workers} worker(s))"
        + (" at this level; the levels follow TF1's schedule" if cfg.growing else "")
    )

    def snapshot(cur_nimg):
        kimg = cur_nimg // 1000
        snap_path = os.path.join(run_dir, f"network-snapshot-{kimg:06d}.keras")
        if not is_chief:
            return
        import tf_stylegan2

        nets = trainer.inference_nets()  # float32 copies of a mixed-precision run's networks
        imgs = rundir.generate_grid(nets["G_ema"], grid_z, grid_c)
        grid = rundir.save_grid(os.path.join(run_dir, f"fakes{kimg:06d}.png"), imgs, (gw, gh))
        with writer.as_default():
            summaries.image("fakes", grid, cur_nimg)
        tf_stylegan2.save_snapshot(snap_path, **nets)
        for name in cfg.metrics if metric_fn is not None else ():
            result = metric_fn(name, nets["G_ema"], snap_path)
            with writer.as_default():
                for k, v in (result or {}).items():
                    if isinstance(v, (int, float)):
                        summaries.scalar(f"Metrics/{k}", v, cur_nimg)
            log(f"metric {name}: {json.dumps(result)}")

    def end_of_tick(done):
        nonlocal tick_start_time, maintenance, stats
        cur_nimg = trainer.counter("cur_nimg")
        tick = trainer.counter("cur_tick")
        t0 = time.time()
        tick_time = t0 - tick_start_time
        tick_imgs = cur_nimg - trainer.counter("tick_start_nimg")
        means = stats.means()
        augment_p = trainer.augment_p() if trainer.augment_pipe is not None else None
        line = _tick_line(
            tick, cur_nimg, t0 - start_time, tick_time, tick_imgs, maintenance, means, augment_p
        )
        log(line + (f" lod {trainer.level.lod:.2f}" if cfg.growing else ""))
        if is_chief:
            scalars = dict(means)
            scalars.update(
                {
                    "Progress/tick": tick,
                    "Progress/kimg": cur_nimg / 1000,
                    "Timing/sec_per_tick": tick_time,
                    "Timing/sec_per_kimg": tick_time / max(tick_imgs, 1) * 1000,
                    "Timing/img_per_sec": tick_imgs / max(tick_time, 1e-9),
                    "Timing/maintenance_sec": maintenance,
                    "Resources/peak_mem_gb": rundir.peak_memory_gb(),
                    "Progress/bad_steps_G": trainer.counter("bad_steps_G"),
                    "Progress/bad_steps_D": trainer.counter("bad_steps_D"),
                }
            )
            if augment_p is not None:
                scalars["Progress/augment"] = augment_p
            if cfg.growing:
                scalars["Progress/lod"] = trainer.level.lod
            with writer.as_default():
                for k, v in scalars.items():
                    summaries.scalar(k, v, cur_nimg)
        if done or tick % cfg.snap == 0:
            snapshot(cur_nimg)
        trainer.counters["cur_tick"].assign_add(1)
        trainer.counters["tick_start_nimg"].assign(cur_nimg)
        manager.save(checkpoint_number=cur_nimg)
        if writer is not None:
            writer.flush()
        stats = TickStats()
        tick_start_time = time.time()
        maintenance = tick_start_time - t0

    if not resume_from_run and trainer.counter("cur_nimg") == 0:
        manager.save(
            checkpoint_number=0
        )  # state before the first step (resume from a kill in tick 0)

    # Progress bar inside a tick: on the terminal only (never into log.txt).
    term = sys.__stdout__
    show_bar = progress and term is not None and term.isatty()
    bar = None  # the current tick's progress bar
    while True:
        cur_nimg = trainer.counter("cur_nimg")
        if stop_after_nimg is not None and cur_nimg >= stop_after_nimg:
            break
        if cfg.growing and trainer.counter("batch_idx") % growing.MINIBATCH_REPEATS == 0:
            state = growing.state_at(cfg, cur_nimg)  # TF1: every minibatch_repeats minibatches
            if state.resolution != trainer.level.resolution:
                log(growing.describe(cfg, state))
            trainer.set_level(state, reset=growing.resets_optimizer(trainer.level, state))
            trainer.counters["lod_nimg"].assign(cur_nimg)
        try:
            reals, labels = next(iterator[trainer.level.resolution] if cfg.growing else iterator)
            trainer.counters["batches_read"].assign_add(1)
            trainer.iteration(reals, labels, stats, ema_rampup)
        except KeyboardInterrupt:
            # The minibatch is abandoned; the last tick's checkpoint holds the state to resume.
            raise Interrupted(trainer.counter("tick_start_nimg") / 1000) from None
        if on_iteration is not None:
            on_iteration(trainer)
        cur_nimg = trainer.counter("cur_nimg")
        done = cur_nimg >= total_nimg
        tick_start_nimg = trainer.counter("tick_start_nimg")
        if show_bar:
            if bar is None:
                bar = Progress("tick", tick_nimg(), stream=term)
            bar.update(cur_nimg - tick_start_nimg - bar.done, f"{cur_nimg / 1000:.3f} kimg")
        # ADA-PT: tick 0 ends after the first minibatch, later ticks every kimg_per_tick.
        tick_end = trainer.counter("cur_tick") == 0 or cur_nimg >= tick_start_nimg + tick_nimg()
        if tick_end and cfg.max_minutes and time.time() - start_time >= cfg.max_minutes * 60:
            log(f"--max-minutes {cfg.max_minutes:g} reached: stopping after this tick")
            done = True
        if done or tick_end:
            if bar is not None:
                bar.clear()
                bar = None
            try:
                end_of_tick(done)
            except Exception as e:  # Keras may chain a Ctrl-C during a snapshot into its own error
                if not _caused_by_interrupt(e):
                    raise
                raise Interrupted(trainer.counter("tick_start_nimg") / 1000) from None
            except KeyboardInterrupt:  # files are written atomically: no half-written snapshot
                raise Interrupted(trainer.counter("tick_start_nimg") / 1000) from None
        if done:
            break
    if writer is not None:
        writer.close()
    log(f"Exiting after {trainer.counter('cur_nimg') / 1000:.3f} kimg.")
    return trainer
