"""The progressive-growing schedule of configs A-D (TF1 training/training_loop.py
training_schedule, with the settings run_training.py gives configs A-D): level of detail, current
resolution, minibatch, learning rate and tick length as functions of the images shown."""

import dataclasses
import math

# TF1 training_loop.py tick_kimg_dict (the same for every config; base 4)
TICK_KIMG = {8: 28, 16: 24, 32: 20, 64: 16, 128: 12, 256: 8, 512: 6, 1024: 4}


@dataclasses.dataclass(frozen=True)
class LodSchedule:
    """Settings of the schedule; the defaults are run_training.py's for configs A-D."""

    initial_resolution: int = 8  # lod_initial_resolution
    training_kimg: float = 600.0  # lod_training_kimg: a level trained alone
    transition_kimg: float = 600.0  # lod_transition_kimg: the next level fading in
    minibatch_base: int = 32
    minibatch_dict: dict = dataclasses.field(
        default_factory=lambda: {8: 256, 16: 128, 32: 64, 64: 32}
    )
    minibatch_gpu_base: int = 4
    minibatch_gpu_dict: dict = dataclasses.field(
        default_factory=lambda: {8: 32, 16: 16, 32: 8, 64: 4}
    )
    lrate_base: float = 0.001  # G and D alike
    lrate_dict: dict = dataclasses.field(
        default_factory=lambda: {128: 0.0015, 256: 0.002, 512: 0.003, 1024: 0.003}
    )
    tick_kimg_base: float = 4.0
    tick_kimg_dict: dict = dataclasses.field(default_factory=lambda: dict(TICK_KIMG))


@dataclasses.dataclass(frozen=True)
class LodState:
    kimg: float
    lod: float  # 0 = full resolution; r - log2(initial_resolution) at the start
    resolution: int  # 2 ** (r - floor(lod)): the level read from the dataset and trained
    minibatch: int
    minibatch_gpu: int
    lrate: float
    tick_kimg: float


def lod_at(cur_nimg, resolution_log2, sched=LodSchedule()):
    """LodState after `cur_nimg` images for a dataset of 2**resolution_log2 pixels.

    phase = floor(kimg / (training + transition)); within a phase the level trains alone for
    `training_kimg`, then lod falls linearly by 1 over `transition_kimg`; lod >= 0.
    """
    kimg = cur_nimg / 1000.0
    phase_dur = sched.training_kimg + sched.transition_kimg
    phase = math.floor(kimg / phase_dur) if phase_dur > 0 else 0
    phase_kimg = kimg - phase * phase_dur
    lod = resolution_log2 - math.floor(math.log2(sched.initial_resolution)) - phase
    if sched.transition_kimg > 0:
        lod -= max(phase_kimg - sched.training_kimg, 0.0) / sched.transition_kimg
    lod = max(lod, 0.0)
    res = 2 ** (resolution_log2 - math.floor(lod))
    return LodState(
        kimg=kimg,
        lod=lod,
        resolution=res,
        minibatch=sched.minibatch_dict.get(res, sched.minibatch_base),
        minibatch_gpu=sched.minibatch_gpu_dict.get(res, sched.minibatch_gpu_base),
        lrate=sched.lrate_dict.get(res, sched.lrate_base),
        tick_kimg=sched.tick_kimg_dict.get(res, sched.tick_kimg_base),
    )


def resets_optimizer(before, after):
    """TF1 reset_opt_for_new_lod: Adam's state restarts when floor(lod) or ceil(lod) changes,
    i.e. when a fade-in starts and when it ends."""
    return math.floor(before.lod) != math.floor(after.lod) or math.ceil(before.lod) != math.ceil(
        after.lod
    )
