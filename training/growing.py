"""Progressive growing in training (configs A-D): the presets, the per-level settings and their
checks, and the level state the loop feeds the Trainer (TF1 training_loop.py with the
run_training.py settings of configs A-D; NETWORKS_TRAINING.md 5.1 and 5.4).

A growing run's TrainConfig has growing=True and, per level (resolution read from the dataset and
trained): a minibatch and per-device minibatch (level_batch) and a learning rate (level_lr);
`batch` / `batch_gpu` / `opt.lr` are the defaults of levels the tables do not list. The loop
re-evaluates the schedule every MINIBATCH_REPEATS minibatches, as TF1 does.
"""

import dataclasses
import math

from training.lod_schedule import (  # noqa: F401 (re-exported)
    TICK_KIMG,
    LodSchedule,
    lod_at,
    resets_optimizer,
)

MINIBATCH_REPEATS = 4  # TF1 minibatch_repeats: the schedule holds for 4 minibatches


def _preset(config):
    lazy = config in "cd"
    return dict(
        batch=32,
        batch_gpu=4,
        lr=0.001,
        r1_gamma=10.0,
        ema_kimg=10.0,
        ema_rampup=None,
        total_kimg=25000,
        kimg_per_tick=None,
        snap=10,
        pl_weight=2.0 if config == "d" else 0.0,  # D: + path-length regularization
        style_mixing_prob=0.9,
        growing=True,
        # A, B: R1 in every D step (no lazy regularization, Adam as is); C, D: lazy (section 7.2)
        G_reg_interval=4 if lazy else 0,
        D_reg_interval=16 if lazy else 0,
    )


PRESETS = {f"config-{x}": _preset(x) for x in "abcd"}


def level_settings(spec, *, resolution, batch, batch_gpu, lod_kimg, replicas, group, shrink):
    """TrainConfig fields of a growing run. batch / batch_gpu: the command line's (None = the
    TF1 per-level tables). Raises ValueError naming the flag and the level that does not fit."""
    sched = LodSchedule()
    if resolution < sched.initial_resolution:
        raise ValueError(
            f"--config {spec['name']}: progressive growing starts at "
            f"{sched.initial_resolution}x{sched.initial_resolution}; the dataset is "
            f"{resolution}x{resolution}"
        )
    if lod_kimg is not None and lod_kimg <= 0:
        raise ValueError(f"--lod-kimg {lod_kimg} must be > 0")
    levels = [
        2**i
        for i in range(int(math.log2(sched.initial_resolution)), int(math.log2(resolution)) + 1)
    ]
    rows = []
    for res in levels:
        b = batch if batch is not None else sched.minibatch_dict.get(res, sched.minibatch_base)
        bg = batch_gpu
        if bg is None:
            bg = sched.minibatch_gpu_dict.get(res, sched.minibatch_gpu_base) if batch is None else 4
            bg = min(bg, b // replicas) if b >= replicas else bg
        _check_split(res, b, bg, replicas)
        if bg % min(group, bg):
            raise ValueError(
                f"--batch-gpu {bg}: not a multiple of the minibatch-stddev group {group}"
            )
        if shrink and bg % shrink:
            raise ValueError(f"--batch-gpu {bg} must divide by {shrink} (path-length batch)")
        rows.append((res, int(b), int(bg)))
    lr = tuple((res, v) for res, v in sorted(sched.lrate_dict.items()) if res in levels)
    kimg = float(lod_kimg) if lod_kimg is not None else sched.training_kimg
    return dict(
        growing=True,
        lod_training_kimg=kimg,
        lod_transition_kimg=kimg if lod_kimg is not None else sched.transition_kimg,
        level_batch=tuple(rows),
        level_lr=lr,
        batch=rows[-1][1],
        batch_gpu=rows[-1][2],
    )


def _check_split(res, batch, batch_gpu, replicas):
    if batch <= 0 or batch_gpu <= 0 or batch % (batch_gpu * replicas):
        raise ValueError(
            f"--gpus {replicas}: the {res}x{res} level's minibatch {batch} is not a multiple of "
            f"its batch-gpu {batch_gpu} x {replicas} replica(s)"
        )


def check_replicas(cfg, replicas):
    """ValueError naming --gpus unless every minibatch of the run splits over `replicas`."""
    if not cfg.growing:
        if cfg.batch % (cfg.batch_gpu * replicas):
            raise ValueError(
                f"--gpus {replicas}: the run's --batch {cfg.batch} is not a multiple of "
                f"batch-gpu {cfg.batch_gpu} x {replicas} replica(s)"
            )
        return
    for res, batch, batch_gpu in cfg.level_batch:
        _check_split(res, batch, batch_gpu, replicas)


def schedule(cfg):
    """The LodSchedule of a growing TrainConfig."""
    return LodSchedule(
        training_kimg=cfg.lod_training_kimg,
        transition_kimg=cfg.lod_transition_kimg,
        minibatch_dict={res: b for res, b, _ in cfg.level_batch},
        minibatch_gpu_dict={res: bg for res, _, bg in cfg.level_batch},
        minibatch_base=cfg.batch,
        minibatch_gpu_base=cfg.batch_gpu,
        lrate_base=cfg.opt.lr,
        lrate_dict=dict(cfg.level_lr),
    )


def state_at(cfg, cur_nimg):
    """LodState (lod, level resolution, minibatch, lr, tick) after cur_nimg images."""
    return lod_at(cur_nimg, int(math.log2(cfg.resolution)), schedule(cfg))


def levels(cfg):
    return [res for res, _, _ in cfg.level_batch]


def level_config(cfg, state):
    """cfg as the Trainer runs the level: its minibatch, per-device minibatch and learning rate."""
    return dataclasses.replace(
        cfg,
        batch=state.minibatch,
        batch_gpu=state.minibatch_gpu,
        opt=dataclasses.replace(cfg.opt, lr=state.lrate),
    )


def tick_kimg(cfg, state):
    """--kimg-per-tick, else TF1's tick length of the level (28 kimg at 8x8 ... 4 at 1024)."""
    return cfg.kimg_per_tick if cfg.kimg_per_tick > 0 else state.tick_kimg


def describe(cfg, state):
    """One log line on the level in force."""
    r = state.resolution
    return (
        f"Level {r}x{r}: lod {state.lod:.3f}, minibatch {state.minibatch} (per device "
        f"{state.minibatch_gpu}), lr {state.lrate:g}, tick {tick_kimg(cfg, state):g} kimg"
    )
