"""StyleALAE training configuration: the frozen AlaeConfig and the preset table.

A preset holds an official config's MODEL and TRAIN keys (ALAE defaults.py names in the comments);
the block count comes from the dataset's resolution (layer_count = log2(resolution) - 1), as
StyleGAN's presets take img_resolution from the data.
"""

import dataclasses
import json
import math
import os

from training.alae import schedule

# fmt: off
PRESETS = {
    # The alae_small fixture's config (../shared/fixtures/alae_small/README.md, made with the
    # official code): 32 px in 4 blocks; the lists have one entry per lod.
    "alae-small": dict(
        startf=16, maxf=48, latent_size=32, mapping_layers=4,
        epochs_per_lod=4, train_epochs=18,
        lod_2_batch=[16, 16, 8, 8], learning_rates=[0.0015, 0.0015, 0.002, 0.003],
        learning_decay_steps=[10],
    ),
    # Ours: a CPU demo (32 px Fashion-MNIST or emoji in ~20 minutes on 2 cores).
    "alae-demo": dict(
        startf=16, maxf=64, latent_size=64, mapping_layers=4,
        epochs_per_lod=2, train_epochs=12,
        lod_2_batch=[32, 32, 16, 16], learning_rates=[0.0015, 0.0015, 0.0015, 0.002],
    ),
    # Ours: 64 px in 5 blocks (cats and the like, one multi-GPU machine, a few hours).
    "alae-64": dict(
        startf=64, maxf=256, latent_size=256, mapping_layers=8,
        epochs_per_lod=6, train_epochs=60,
        lod_2_batch={1: [128, 128, 64, 32, 32], 2: [256, 256, 128, 64, 32],
                     4: [512, 256, 128, 64, 32], 8: [512, 256, 128, 64, 32]},
        learning_rates=[0.0015] * 5,
    ),
}
# fmt: on

DEFAULTS = dict(  # official defaults.py values of the keys a preset may leave out
    truncation_psi=0.7,  # MODEL.TRUNCATIOM_PSI
    truncation_cutoff=8,  # MODEL.TRUNCATIOM_CUTOFF
    dlatent_avg_beta=0.995,  # MODEL.DLATENT_AVG_BETA
    style_mixing_prob=0.9,  # MODEL.STYLE_MIXING_PROB
    learning_decay_steps=[],  # TRAIN.LEARNING_DECAY_STEPS
    learning_decay_rate=0.1,  # TRAIN.LEARNING_DECAY_RATE
    beta_2=0.99,  # TRAIN.ADAM_BETA_1 (ADAM_BETA_0 must be 0 for LREQAdam)
    r1_gamma=10.0,  # losses.discriminator_logistic_simple_gp
    mirror=False,  # DATASET.FLIP_IMAGES (official default True; our datasets choose with --mirror)
)


@dataclasses.dataclass(frozen=True)
class AlaeConfig:
    preset: str
    data: str
    outdir: str
    resolution: int
    channels: int
    dataset_size: int  # images per epoch (the dataset's count)
    model_kwargs: dict  # ALAE(**model_kwargs) of the training model (no truncation)
    epochs_per_lod: int
    train_epochs: int
    lod_2_batch: dict  # {gpu count: [global batch per lod]}
    learning_rates: tuple
    learning_decay_steps: tuple = ()
    learning_decay_rate: float = 0.1
    beta_2: float = 0.99
    r1_gamma: float = 10.0
    truncation_psi: float = 0.7  # of the averaged model (ALAE_ema), as the official eval model
    truncation_cutoff: int = 8
    gpus: int = 1
    num_workers: int = 1
    seed: int = 0
    mirror: bool = False
    kimg_per_tick: float = 4.0  # a log line and a checkpoint; every epoch end is a tick too
    snap: int = 1  # epochs between snapshots and grids
    max_minutes: float = 0.0
    metrics: tuple = ()
    dtype: str = "float32"
    jit: bool = False

    @property
    def num_replicas(self):
        return self.gpus * self.num_workers

    @property
    def layer_count(self):
        return self.model_kwargs["layer_count"]

    def schedule(self):
        return schedule.AlaeSchedule(
            layer_count=self.layer_count,
            epochs_per_lod=self.epochs_per_lod,
            train_epochs=self.train_epochs,
            lod_2_batch={int(k): tuple(v) for k, v in self.lod_2_batch.items()},
            learning_rates=tuple(self.learning_rates),
            learning_decay_steps=tuple(self.learning_decay_steps),
            learning_decay_rate=self.learning_decay_rate,
        )

    def describe(self):
        """Run-directory description: <data>-<preset>[-sg2]-<N>gpu."""
        name = os.path.basename(os.path.normpath(self.data)) or "data"
        sg2 = "-sg2" if self.model_kwargs.get("generator") == "stylegan2" else ""
        return f"{name}-{self.preset}{sg2}-{self.num_replicas}gpu"

    def to_json(self):
        return json.dumps(dict(dataclasses.asdict(self), kind="alae"), indent=2, sort_keys=True)

    @staticmethod
    def from_json(text):
        d = json.loads(text)
        d.pop("kind", None)
        d["lod_2_batch"] = {int(k): list(v) for k, v in d["lod_2_batch"].items()}
        for key in ("learning_rates", "learning_decay_steps", "metrics"):
            d[key] = tuple(d[key])
        return AlaeConfig(**d)


def is_alae(preset):
    return preset in PRESETS


def make_config(
    preset,
    *,
    data,
    outdir,
    resolution,
    channels,
    dataset_size,
    gpus=1,
    num_workers=1,
    seed=None,
    epochs=None,
    epochs_per_lod=None,
    batch=None,
    gamma=None,
    mirror=None,
    kimg_per_tick=None,
    snap=None,
    max_minutes=0.0,
    metrics=(),
    dtype="float32",
    jit=False,
    generator=None,
):
    """The resolved AlaeConfig of `preset` for a dataset. Raises ValueError with one clear line.

    batch: one global batch at every lod instead of the preset's LOD_2_BATCH lists (small machines).
    generator: 'alae' (the official decoder, default) or 'stylegan2' (ours: StyleGAN2's synthesis).
    """
    if preset not in PRESETS:
        raise ValueError(f"--config {preset}: unknown preset; choose one of: {', '.join(PRESETS)}")
    spec = dict(DEFAULTS, **PRESETS[preset])
    layer_count = int(round(math.log2(resolution))) - 1
    if 2 ** (layer_count + 1) != resolution or layer_count < 1:
        raise ValueError(f"--data: resolution {resolution} is not a power of two >= 4")
    replicas = gpus * num_workers
    lists = spec["lod_2_batch"]
    if not isinstance(lists, dict):  # the same list for every GPU count
        lists = {g: lists for g in schedule.GPU_COUNTS}
    if batch is not None:
        if batch <= 0 or batch % replicas:
            raise ValueError(
                f"--batch {batch} must be a positive multiple of the number of replicas "
                f"({replicas})"
            )
        lists = {replicas: [int(batch)] * layer_count}
    elif replicas not in lists:
        raise ValueError(
            f"--gpus {gpus}: --config {preset} has batch lists for {sorted(lists)} replicas "
            f"(the official LOD_2_BATCH_{{1,2,4,8}}GPU); pass --batch to choose one"
        )
    for lod in range(layer_count):
        sizes = lists[replicas]
        b = int(sizes[min(lod, len(sizes) - 1)])
        if b % replicas:
            raise ValueError(f"lod {lod}: batch {b} does not split over {replicas} replicas")
        if b > dataset_size:
            raise ValueError(
                f"--data: {dataset_size} images, fewer than the lod {lod} batch {b} "
                f"(an epoch would have no step); pass a smaller --batch"
            )
    for flag, value in (("--epochs", epochs), ("--epochs-per-lod", epochs_per_lod)):
        if value is not None and value < 1:
            raise ValueError(f"{flag} {value} must be >= 1")
    epl = int(epochs_per_lod or spec["epochs_per_lod"])
    gamma = spec["r1_gamma"] if gamma is None else float(gamma)
    if gamma < 0:
        raise ValueError(f"--gamma {gamma} must be >= 0")
    tick = 4.0 if kimg_per_tick is None else float(kimg_per_tick)
    if tick <= 0:
        raise ValueError(f"--kimg-per-tick {tick} must be > 0")
    snap = 1 if snap is None else int(snap)
    if snap < 1:
        raise ValueError(f"--snap {snap} must be >= 1")
    model_kwargs = dict(
        layer_count=layer_count,
        startf=spec["startf"],
        maxf=spec["maxf"],
        latent_size=spec["latent_size"],
        mapping_layers=spec["mapping_layers"],
        channels=int(channels),
        dlatent_avg_beta=spec["dlatent_avg_beta"],
        style_mixing_prob=spec["style_mixing_prob"],
        generator=generator or "alae",
    )
    return AlaeConfig(
        preset=preset,
        data=str(data),
        outdir=str(outdir),
        resolution=int(resolution),
        channels=int(channels),
        dataset_size=int(dataset_size),
        model_kwargs=model_kwargs,
        epochs_per_lod=epl,
        train_epochs=int(epochs or spec["train_epochs"]),
        lod_2_batch={int(k): list(v) for k, v in lists.items()},
        learning_rates=tuple(spec["learning_rates"]),
        learning_decay_steps=tuple(spec["learning_decay_steps"]),
        learning_decay_rate=float(spec["learning_decay_rate"]),
        beta_2=float(spec["beta_2"]),
        r1_gamma=gamma,
        truncation_psi=float(spec["truncation_psi"]),
        truncation_cutoff=int(spec["truncation_cutoff"]),
        gpus=int(gpus),
        num_workers=int(num_workers),
        seed=int(seed or 0),
        mirror=bool(spec["mirror"] if mirror is None else mirror),
        kimg_per_tick=tick,
        snap=snap,
        max_minutes=float(max_minutes or 0.0),
        metrics=tuple(metrics or ()),
        dtype=str(dtype),
        jit=bool(jit),
    )
