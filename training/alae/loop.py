"""The StyleALAE training loop (official ALAE train_alae.py): epochs, the LOD driver, ticks, image
grids, snapshots and exact resume, on the project's per-level records and run directories.

An epoch is dataset_size // batch steps of the lod's global batch (short last batches skipped, as
the official loader does), read from that level's records. A tick (a log line, TensorBoard scalars
and a checkpoint) ends every kimg_per_tick and at every epoch end; every `snap` epochs and at the
end a snapshot (`network-snapshot-<kimg>.keras` with ALAE and ALAE_ema) and a grid
(`fakes<kimg>.png`: rows of reals at the lod, their reconstructions without and with noise, and
generations, as the official save_sample) are written. The checkpoint holds the weights, both
optimizers, the counters (epoch, images of the epoch, ...) and every level's input pipeline, so
`--resume RUN_DIR` continues exactly.
"""

import os
import sys
import time

import numpy as np
import tensorflow as tf

from metrics.progress import Progress, format_time
from training import rundir, summaries
from training.alae import loss, schedule
from training.alae.trainer import AlaeTrainer
from training.loop import Interrupted, RunComplete, _restore_newest_intact

GRID_COLUMNS = 16


def _grid(trainer, grid_x, grid_z, level, blend, resolution):
    """[4 * cols, R, R, C] at full resolution: reals at the lod, reconstructions (noise off, on),
    generations (save_sample's rows)."""
    model, lod = trainer.model, level.lod
    x = tf.convert_to_tensor(grid_x)
    while x.shape[1] > 2 ** (lod + 2):
        x = tf.nn.avg_pool2d(x, 2, 2, "VALID")
    b = blend if level.in_transition else 1.0
    if level.in_transition:
        x = loss.blend_reals(x, blend)
    w = model.encode(x, lod, b)
    seed = tf.constant([7, 7], tf.int32)
    rows = [
        x,
        model.decode(w, lod, b, noise_mode="deterministic"),
        model.decode(w, lod, b, noise_seed=seed),
        model.decode(model.mapping(grid_z), lod, b, noise_seed=seed),
    ]
    up = resolution // x.shape[1]
    return np.concatenate([np.asarray(tf.repeat(tf.repeat(r, up, 1), up, 2)) for r in rows])


def train(
    cfg,
    run_dir,
    strategy,
    *,
    make_dataset=None,
    resume_from_run=False,
    log=print,
    progress=True,
    on_started=None,
    on_iteration=None,
    metric_fn=None,
    stop_after_nimg=None,
):
    """Train the ALAE config `cfg` into `run_dir` (see training/loop.py train, whose contract
    this follows; metric_fn is not used yet). Returns the AlaeTrainer."""
    if make_dataset is None:
        from training.dataset import make_dataset
    trainer = AlaeTrainer(cfg, strategy, log=log)
    is_chief, num_workers = trainer.worker_index == 0, trainer.num_workers
    sched, replicas = cfg.schedule(), trainer.replicas
    input_context = None
    if num_workers > 1:
        input_context = tf.distribute.InputContext(
            num_input_pipelines=num_workers,
            input_pipeline_id=trainer.worker_index,
            num_replicas_in_sync=replicas,
        )
    iterators = {}
    for lod in range(cfg.layer_count):
        res = 2 ** (lod + 2)
        batch = schedule.batch_size(sched, lod, replicas)
        iterators[res] = iter(
            make_dataset(
                cfg.data,
                batch // num_workers,
                input_context=input_context,
                resolution=res,
                shuffle=True,
                mirror=cfg.mirror,
                repeat=True,
                seed=cfg.seed,
                labels=False,
            )
        )
    ckpt = trainer.checkpoint(iterators)
    ckpt_dir = os.path.join(run_dir, "checkpoints", f"worker{trainer.worker_index}")
    manager = tf.train.CheckpointManager(ckpt, ckpt_dir, max_to_keep=2)
    if resume_from_run:
        path = _restore_newest_intact(ckpt, manager, ckpt_dir, log)
        epoch = trainer.counter("epoch")
        if epoch >= cfg.train_epochs:
            raise RunComplete(
                f"{run_dir} is complete: epoch {epoch} of --epochs {cfg.train_epochs} "
                f"(pass a larger --epochs to train longer)"
            )
        log(f"Resumed from {path} at epoch {epoch}, kimg {trainer.counter('cur_nimg') / 1000:.3f}")

    # Fixed grid inputs: real images of the full-resolution records and latents.
    rnd = np.random.RandomState(cfg.seed)
    grid_z = rnd.randn(GRID_COLUMNS, cfg.model_kwargs["latent_size"]).astype(np.float32)
    grid_ds = make_dataset(
        cfg.data, GRID_COLUMNS, resolution=cfg.resolution, shuffle=True, repeat=True, seed=0,
        labels=False,
    )  # fmt: skip
    grid_x = tf.cast(next(iter(grid_ds))[0], tf.float32).numpy() / 127.5 - 1
    if on_started is not None:
        on_started()
    writer = tf.summary.create_file_writer(run_dir) if is_chief else None
    if is_chief and not resume_from_run:
        rundir.save_grid(os.path.join(run_dir, "reals.png"), grid_x, (GRID_COLUMNS, 1))
        manager.save(checkpoint_number=0)  # the state before the first step

    start_time = tick_start_time = time.time()
    maintenance, sums, count = 0.0, {}, 0
    log(
        f"Training ALAE for {cfg.train_epochs} epochs of {cfg.dataset_size} images, "
        f"{cfg.epochs_per_lod} per lod; {replicas} replica(s), {num_workers} worker(s)"
    )

    def snapshot(cur_nimg, level, blend):
        kimg = cur_nimg // 1000
        if not is_chief:
            return
        import tf_stylegan2

        imgs = _grid(trainer, grid_x, grid_z, level, blend, cfg.resolution)
        grid = rundir.save_grid(
            os.path.join(run_dir, f"fakes{kimg:06d}.png"), imgs, (GRID_COLUMNS, 4)
        )
        with writer.as_default():
            summaries.image("fakes", grid, cur_nimg)
        path = os.path.join(run_dir, f"network-snapshot-{kimg:06d}.keras")
        tf_stylegan2.save_snapshot(path, **trainer.snapshot_nets())

    def end_of_tick(level, blend, done, snap):
        nonlocal tick_start_time, maintenance, sums, count
        cur_nimg = trainer.counter("cur_nimg")
        t0 = time.time()
        tick_time, tick_imgs = t0 - tick_start_time, cur_nimg - trainer.counter("tick_start_nimg")
        means = {k: v / max(count, 1) for k, v in sums.items()}
        line = (
            f"tick {trainer.counter('cur_tick'):<5d} epoch {trainer.counter('epoch'):<4d} "
            f"lod {level.lod} blend {blend:<5.3f} kimg {cur_nimg / 1000:<9.3f} "
            f"time {format_time(t0 - start_time):<12s} sec/tick {tick_time:<7.1f} "
            f"img/s {tick_imgs / max(tick_time, 1e-9):<7.2f} "
            f"maintenance {maintenance:<5.1f} mem {rundir.peak_memory_gb():<5.2f} "
            f"lr {level.lr:.6g}"
        )
        line += "".join(f" {k.split('/')[-1]} {v:.4f}" for k, v in sorted(means.items()))
        log(line)
        if is_chief:
            scalars = dict(means)
            scalars.update(
                {
                    "Progress/epoch": trainer.counter("epoch"),
                    "Progress/kimg": cur_nimg / 1000,
                    "Progress/lod": level.lod,
                    "Progress/blend": blend,
                    "Progress/lr": level.lr,
                    "Timing/sec_per_tick": tick_time,
                    "Timing/img_per_sec": tick_imgs / max(tick_time, 1e-9),
                    "Resources/peak_mem_gb": rundir.peak_memory_gb(),
                }
            )
            with writer.as_default():
                for k, v in scalars.items():
                    summaries.scalar(k, v, cur_nimg)
        if snap:
            snapshot(cur_nimg, level, blend)
        trainer.counters["cur_tick"].assign_add(1)
        trainer.counters["tick_start_nimg"].assign(cur_nimg)
        manager.save(checkpoint_number=cur_nimg)
        if writer is not None:
            writer.flush()
        sums, count = {}, 0
        tick_start_time = time.time()
        maintenance = tick_start_time - t0

    term = sys.__stdout__
    show_bar = progress and term is not None and term.isatty()
    bar = None
    tick_nimg = int(round(cfg.kimg_per_tick * 1000))
    shown = current = None  # the (lod, fade) last logged; the level in force
    while trainer.counter("epoch") < cfg.train_epochs:
        if stop_after_nimg is not None and trainer.counter("cur_nimg") >= stop_after_nimg:
            break
        epoch, seen = trainer.counter("epoch"), trainer.counter("epoch_nimg")
        level = schedule.level(sched, epoch, replicas)
        if level != current:  # a new epoch (or the first after a resume): its lr
            # LODDriver.set_epoch: a new lod clears the optimizers' state (at the epoch's start)
            trainer.set_level(level, reset=seen == 0 and schedule.resets_optimizer(sched, epoch))
            current = level
        if (level.lod, level.in_transition) != shown:
            shown = (level.lod, level.in_transition)
            res = 2 ** (level.lod + 2)
            log(
                f"Level lod {level.lod} ({res}x{res}) from epoch {epoch}: "
                + ("fading in, " if level.in_transition else "")
                + f"batch {level.batch}, lr {level.lr:g}"
            )
        blend = schedule.blend_factor(sched, epoch, seen, cfg.dataset_size)
        try:
            reals, _ = next(iterators[2 ** (level.lod + 2)])
            stats = trainer.step(reals, level, blend)
        except KeyboardInterrupt:  # the last tick's checkpoint holds the state to resume
            raise Interrupted(trainer.counter("tick_start_nimg") / 1000) from None
        for k, v in stats.items():
            sums[k] = sums.get(k, 0.0) + v
        count += 1
        if on_iteration is not None:
            on_iteration(trainer)
        cur_nimg = trainer.counter("cur_nimg")
        steps = schedule.steps_per_epoch(cfg.dataset_size, level.batch)
        epoch_end = trainer.counter("epoch_nimg") >= steps * level.batch
        if epoch_end:
            trainer.counters["epoch"].assign_add(1)
            trainer.counters["epoch_nimg"].assign(0)
        done = trainer.counter("epoch") >= cfg.train_epochs
        tick_start = trainer.counter("tick_start_nimg")
        if show_bar:
            if bar is None:
                bar = Progress("tick", tick_nimg, stream=term)
            bar.update(cur_nimg - tick_start - bar.done, f"epoch {epoch} lod {level.lod}")
        tick_end = epoch_end or cur_nimg >= tick_start + tick_nimg
        if tick_end and cfg.max_minutes and time.time() - start_time >= cfg.max_minutes * 60:
            log(f"--max-minutes {cfg.max_minutes:g} reached: stopping after this tick")
            done = True
        if done or tick_end:
            if bar is not None:
                bar.clear()
                bar = None
            snap = done or (epoch_end and (epoch + 1) % cfg.snap == 0)
            try:
                end_of_tick(level, blend, done, snap)
            except KeyboardInterrupt:  # files are written atomically
                raise Interrupted(trainer.counter("tick_start_nimg") / 1000) from None
        if done:
            break
    if writer is not None:
        writer.close()
    kimg, epoch = trainer.counter("cur_nimg") / 1000, trainer.counter("epoch")
    log(f"Exiting after {kimg:.3f} kimg, epoch {epoch}.")
    return trainer
