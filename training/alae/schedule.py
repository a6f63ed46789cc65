"""StyleALAE's level-of-detail driver and learning rates (official ALAE lod_driver.py LODDriver,
scheduler.py ComboMultiStepLR as train_alae.py uses them), as pure functions of the epoch and the
images seen in it. lod counts decoder blocks from 4x4 (ALAE's convention)."""

import bisect
import dataclasses
import math

GPU_COUNTS = (1, 2, 4, 8)  # the LOD_2_BATCH_{N}GPU lists of the official configs


@dataclasses.dataclass(frozen=True)
class AlaeSchedule:
    """The TRAIN keys of an official config. lod_2_batch: {gpu count: global batch per lod}."""

    layer_count: int
    epochs_per_lod: int
    train_epochs: int
    lod_2_batch: dict
    learning_rates: tuple
    learning_decay_steps: tuple = ()
    learning_decay_rate: float = 0.1


@dataclasses.dataclass(frozen=True)
class AlaeLevel:
    epoch: int
    lod: int
    in_transition: bool
    batch: int  # global
    per_gpu_batch: int
    lr: float


def lod_at(s, epoch):
    """LODDriver.set_epoch: lod = min(layer_count - 1, epoch // EPOCHS_PER_LOD)."""
    return min(s.layer_count - 1, epoch // s.epochs_per_lod)


def in_transition(s, epoch):
    """The first EPOCHS_PER_LOD // 2 epochs of every lod > 0 reached by growing."""
    lod = lod_at(s, epoch)
    first_half = epoch % s.epochs_per_lod < s.epochs_per_lod // 2
    return first_half and epoch // s.epochs_per_lod == lod and lod > 0


def batch_size(s, lod, gpus):
    """LODDriver.get_batch_size: the gpus' list, its last entry for higher lods."""
    if gpus not in s.lod_2_batch:
        raise ValueError(
            f"--gpus {gpus}: the ALAE configs give batches for {sorted(s.lod_2_batch)} GPUs"
        )
    sizes = s.lod_2_batch[gpus]
    return int(sizes[min(lod, len(sizes) - 1)])


def learning_rate(s, epoch, lod):
    """ComboMultiStepLR: LEARNING_RATES[lod] x decay_rate ** (decay steps passed)."""
    passed = bisect.bisect_right(sorted(s.learning_decay_steps), epoch)
    rate = s.learning_rates[min(lod, len(s.learning_rates) - 1)]
    return rate * s.learning_decay_rate**passed


def level(s, epoch, gpus):
    lod = lod_at(s, epoch)
    batch = batch_size(s, lod, gpus)
    if batch % gpus:
        raise ValueError(f"the lod {lod} batch {batch} does not split over {gpus} GPUs")
    return AlaeLevel(
        epoch, lod, in_transition(s, epoch), batch, batch // gpus, learning_rate(s, epoch, lod)
    )


def blend_factor(s, epoch, images_seen, dataset_size):
    """LODDriver.get_blend_factor: 0.5 + 0.5 sin(pi t - pi / 2) through the transition, t the
    fraction of its images shown (images_seen: this epoch's, before the step); 1 otherwise."""
    if not in_transition(s, epoch):
        return 1.0
    t = (epoch % s.epochs_per_lod) * dataset_size + images_seen
    t /= float(s.epochs_per_lod // 2 * dataset_size)
    return math.sin(t * math.pi - 0.5 * math.pi) * 0.5 + 0.5


def resets_optimizer(s, epoch):
    """The optimizer state is cleared when the lod changes (LODDriver.set_epoch)."""
    return epoch > 0 and lod_at(s, epoch) != lod_at(s, epoch - 1)


def steps_per_epoch(dataset_size, batch):
    """Short last batches are skipped (train_alae.py)."""
    return dataset_size // batch
