"""Training configuration: frozen dataclasses and the preset table.

Network sizes come from `tf_stylegan2.networks.presets.network_kwargs`; this file holds only the
training hyper-parameters (NETWORKS_TRAINING.md sections 5.2, 7 and 9.4).
"""

import dataclasses
import json
import os

from training import augpipe_specs, conditioning, growing

# ---------------------------------------------------------------------------------------------
# Preset table. One row per `--config` name; columns are the training hyper-parameters.
#   batch        global minibatch (all replicas together)
#   batch_gpu    samples per device and round (TF1 4, ADA-PT batch // ref_gpus); batch is
#                accumulated over batch / (batch_gpu x replicas) rounds. Each round draws one
#                style-mixing cutoff and is one call of D (its minibatch-stddev groups).
#   lr           Adam learning rate of G and D before the lazy-regularization rescaling
#   r1_gamma     R1 weight; None = ADA-PT 'auto' heuristic 0.0002 * R^2 / batch
#   ema_kimg     G_ema half-life in kimg; ema_rampup None = off (TF1, --cfg=stylegan2)
#   kimg_per_tick None = TF1 resolution-dependent tick length {8: 28, ..., 1024: 4}
#   snap         ticks between network snapshots (and image grids)

PRESETS = {
    # Official TF1 StyleGAN2 configs (paper Table 1): run_training.py + training_loop.py.
    "config-e": dict(
        batch=32,
        batch_gpu=4,
        lr=0.002,
        r1_gamma=100.0,
        ema_kimg=10.0,
        ema_rampup=None,
        total_kimg=25000,
        kimg_per_tick=None,
        snap=10,
        pl_weight=2.0,
        style_mixing_prob=0.9,
    ),
    "config-f": dict(
        batch=32,
        batch_gpu=4,
        lr=0.002,
        r1_gamma=10.0,
        ema_kimg=10.0,
        ema_rampup=None,
        total_kimg=25000,
        kimg_per_tick=None,
        snap=10,
        pl_weight=2.0,
        style_mixing_prob=0.9,
    ),
    # ADA-PT train.py --cfg presets (without augmentation and in float32).
    "stylegan2": dict(
        batch=32,
        batch_gpu=4,
        lr=0.002,
        r1_gamma=10.0,
        ema_kimg=10.0,
        ema_rampup=None,
        total_kimg=25000,
        kimg_per_tick=4,
        snap=50,
        pl_weight=2.0,
        style_mixing_prob=0.9,
        aug="ada",
    ),
    "paper256": dict(
        batch=64,
        batch_gpu=8,
        lr=0.0025,
        r1_gamma=1.0,
        ema_kimg=20.0,
        ema_rampup=None,
        total_kimg=25000,
        kimg_per_tick=4,
        snap=50,
        pl_weight=2.0,
        style_mixing_prob=0.9,
        aug="ada",
    ),
    "paper512": dict(
        batch=64,
        batch_gpu=8,
        lr=0.0025,
        r1_gamma=0.5,
        ema_kimg=20.0,
        ema_rampup=None,
        total_kimg=25000,
        kimg_per_tick=4,
        snap=50,
        pl_weight=2.0,
        style_mixing_prob=0.9,
        aug="ada",
    ),
    "paper1024": dict(
        batch=32,
        batch_gpu=4,
        lr=0.002,
        r1_gamma=2.0,
        ema_kimg=10.0,
        ema_rampup=None,
        total_kimg=25000,
        kimg_per_tick=4,
        snap=50,
        pl_weight=2.0,
        style_mixing_prob=0.9,
        aug="ada",
    ),
    "cifar": dict(
        batch=64,
        batch_gpu=32,
        lr=0.0025,
        r1_gamma=0.01,
        ema_kimg=500.0,
        ema_rampup=0.05,
        total_kimg=100000,
        kimg_per_tick=4,
        snap=50,
        pl_weight=0.0,
        style_mixing_prob=0.0,
        aug="ada",
    ),
    # CPU presets. 'tiny': a few channels, for tests (a few ticks in well under a minute).
    # 'demo': what `make demo` trains at 32x32 on a CPU.
    "tiny": dict(
        batch=8,
        batch_gpu=4,
        lr=0.0025,
        r1_gamma=0.1,
        ema_kimg=1.0,
        ema_rampup=0.05,
        total_kimg=0.256,
        kimg_per_tick=0.064,
        snap=2,
        pl_weight=2.0,
        style_mixing_prob=0.9,
        grid=(8, 4),
    ),
    "demo": dict(
        batch=16,
        batch_gpu=4,
        lr=0.0025,
        r1_gamma=0.1,
        ema_kimg=2.0,
        ema_rampup=0.05,
        total_kimg=1000,
        kimg_per_tick=0.5,
        snap=4,
        pl_weight=2.0,
        style_mixing_prob=0.9,
        grid=(16, 8),
    ),
}

PRESETS.update(growing.PRESETS)  # configs A-D (progressive growing): training/growing.py

# TF1 tick length by resolution (training_loop.py tick_kimg_dict), used when kimg_per_tick is None
# (4x4 data, which TF1 cannot train, gets the 8x8 length).
TF1_TICK_KIMG = {4: 28, **growing.TICK_KIMG}


# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LossConfig:
    r1_gamma: float = 10.0  # R1 weight (gamma); the penalty is r1 * gamma / 2
    pl_weight: float = 2.0  # path-length weight; 0 = off
    pl_decay: float = 0.01  # path-length running-mean decay
    pl_batch_shrink: int = 2  # path-length batch = batch // pl_batch_shrink
    style_mixing_prob: float = 0.9  # probability of mixing, per group of batch_gpu samples


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    lr: float = 0.002  # G and D (TF1 feeds G's rate to both optimizers)
    beta1: float = 0.0
    beta2: float = 0.99
    epsilon: float = 1e-8
    G_reg_interval: int = 4  # lazy path-length regularization, every 4 G minibatches
    D_reg_interval: int = 16  # lazy R1, every 16 D minibatches

    def lazy(self, interval):
        """(lr, beta1, beta2) after the lazy-regularization rescaling c = interval/(interval+1)."""
        if not interval:
            return self.lr, self.beta1, self.beta2
        c = interval / (interval + 1)
        return self.lr * c, self.beta1**c, self.beta2**c


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    preset: str  # --config name, a key of PRESETS
    data: str  # dataset directory
    outdir: str  # parent of the run directories
    resolution: int  # from the dataset
    channels: int
    c_dim: int  # 0 = unconditional
    G_kwargs: dict  # Generator(**G_kwargs)
    D_kwargs: dict  # Discriminator(**D_kwargs)
    loss: LossConfig
    opt: OptimizerConfig
    gpus: int = 1  # replicas per worker
    batch: int = 32  # global minibatch
    batch_gpu: int = 4  # samples per device and round (gradient accumulation)
    total_kimg: float = 25000
    kimg_per_tick: float = 4
    snap: int = 10  # ticks between snapshots
    seed: int = 0
    mirror: bool = False
    cond: bool = False
    ema_kimg: float = 10.0
    ema_rampup: float | None = None
    metrics: tuple = ()
    jit: bool = False
    fused_modconv: bool = False  # training uses the non-fused form (ADA-PT)
    max_bad_steps: int = 50  # stop after this many non-finite steps in a row
    grid: tuple | None = None  # (gw, gh) of the image grids; None = ADA-PT formula
    resume: str | None = None  # snapshot/pickle the weights come from (transfer)
    num_workers: int = 1  # MultiWorkerMirroredStrategy workers
    max_minutes: float = 0.0  # stop at the first tick end after this wall time (0 = off)
    dtype: str = "float32"  # compute and weight dtype of G and D ('float64': reference)
    # ADA (stylegan2-ada-pytorch train.py --aug / --p / --target / --augpipe)
    aug: str = "noaug"  # 'ada' (adaptive p), 'fixed' (p = aug_p), 'noaug'
    augpipe: str = "bgc"  # a key of training.augment.AUGPIPE_SPECS
    aug_p: float = 0.0  # the fixed strength, or ADA's initial one
    ada_target: float = 0.6  # target of r_t = E[sign(D(real))]
    ada_interval: int = 4  # minibatches between adjustments of p
    ada_kimg: float = 500.0  # kimg for p to move by 1 at the full rate
    # Conditioning (training/conditioning.py): D's mode, the AC-GAN loss weight, the label kind
    cond_mode: str = "projection"  # 'projection' | 'acgan' | 'both'
    acgan_weight: float = 0.0  # lambda of the AC-GAN terms (0 = off)
    multi_hot: bool = False  # per-attribute sigmoid (True) or softmax (False) cross-entropy
    guide: str | None = None  # frozen classifier (.keras) whose loss on G's images G minimises
    guide_weight: float = 0.0  # its weight (beta)
    # Progressive growing (configs A-D, training/growing.py); kimg_per_tick 0 = TF1's per level
    growing: bool = False
    lod_training_kimg: float = 600.0  # a level trained alone
    lod_transition_kimg: float = 600.0  # the next level fading in
    level_batch: tuple = ()  # ((resolution, minibatch, per-device minibatch), ...)
    level_lr: tuple = ()  # ((resolution, learning rate), ...); others: opt.lr

    @property
    def num_replicas(self):
        return self.gpus * self.num_workers

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @staticmethod
    def from_json(text):
        d = json.loads(text)
        d["loss"] = LossConfig(**d["loss"])
        d["opt"] = OptimizerConfig(**d["opt"])
        d["metrics"] = tuple(d["metrics"])
        d["grid"] = tuple(d["grid"]) if d["grid"] is not None else None
        for key in ("level_batch", "level_lr"):
            d[key] = tuple(tuple(row) for row in d.get(key, ()))
        return TrainConfig(**d)


def grid_size(cfg):
    """Image-grid size (gw, gh): ADA-PT's clip(7680 // W, 7, 32) x clip(4320 // H, 4, 32)."""
    if cfg.grid is not None:
        return tuple(cfg.grid)
    gw = int(min(max(7680 // cfg.resolution, 7), 32))
    gh = int(min(max(4320 // cfg.resolution, 4), 32))
    return gw, gh


def make_config(
    preset,
    *,
    data,
    outdir,
    resolution,
    channels,
    c_dim=0,
    gpus=1,
    num_workers=1,
    batch=None,
    gamma=None,
    mirror=None,
    total_kimg=None,
    seed=None,
    kimg_per_tick=None,
    snap=None,
    metrics=None,
    jit=False,
    cond=False,
    resume=None,
    max_minutes=0.0,
    network_kwargs=None,
    batch_gpu=None,
    dtype="float32",
    aug=None,
    augpipe=None,
    p=None,
    target=None,
    freezed=None,
    cond_mode=None,
    acgan_weight=None,
    multi_hot=False,
    label_names=None,
    guide=None,
    guide_weight=None,
    lod_kimg=None,
    cbase=None,
    cmax=None,
    **overrides,
):
    """The resolved TrainConfig of `preset` for a dataset, with command-line overrides.

    `network_kwargs(name, img_resolution, img_channels, c_dim) -> (G_kwargs, D_kwargs)` defaults to
    `tf_stylegan2.networks.presets.network_kwargs`. Raises ValueError with a clear message on bad
    values. label_names (the dataset's) travel with G, for tools that ask for labels by name.
    """
    if preset not in PRESETS:
        from training.alae.config import PRESETS as ALAE_PRESETS

        names = ", ".join([*PRESETS, *ALAE_PRESETS])
        raise ValueError(f"--config {preset}: unknown preset; choose one of: {names}")
    spec = dict(PRESETS[preset])
    spec.update({k: v for k, v in overrides.items() if v is not None})
    if network_kwargs is None:
        from tf_stylegan2.networks import presets

        network_kwargs = presets.network_kwargs
    G_kwargs, D_kwargs = network_kwargs(preset, resolution, channels, c_dim)
    for flag, key, value in (("--cbase", "channel_base", cbase), ("--cmax", "channel_max", cmax)):
        if value is not None:  # StyleGAN3 train.py --cbase / --cmax
            if value <= 0:
                raise ValueError(f"{flag} {value} must be > 0")
            G_kwargs["synthesis_kwargs"][key] = D_kwargs[key] = int(value)
    if lod_kimg is not None and not spec.get("growing"):
        raise ValueError(f"--lod-kimg: --config {preset} does not grow (configs A-D do)")
    if freezed:  # ADA-PT train.py --freezed: D_kwargs.block_kwargs.freeze_layers
        if freezed < 0:
            raise ValueError(f"--freezed {freezed} must be >= 0")
        D_kwargs = dict(D_kwargs, freeze_layers=int(freezed))
    cond_fields = conditioning.cond_settings(cond, c_dim, cond_mode, acgan_weight, multi_hot)
    cond_fields.update(conditioning.guide_settings(cond and c_dim, guide, guide_weight))
    if c_dim:
        D_kwargs = dict(D_kwargs, cond_mode=cond_fields["cond_mode"])
        if label_names:
            G_kwargs = dict(G_kwargs, label_names=list(label_names))

    replicas = gpus * num_workers
    group = int(D_kwargs.get("mbstd_group_size", 4) or 1)
    level_fields = {}
    if spec.get("growing"):
        if c_dim and G_kwargs["synthesis_kwargs"].get("architecture") == "adain":
            raise ValueError(f"--cond: --config {preset} (StyleGAN's G_style) is unconditional")
        level_fields = growing.level_settings(
            dict(spec, name=preset),
            resolution=resolution,
            batch=batch,
            batch_gpu=batch_gpu,
            lod_kimg=lod_kimg,
            replicas=replicas,
            group=group,
            shrink=int(spec.get("pl_batch_shrink", 2)) if spec["pl_weight"] else 0,
        )
        batch, batch_gpu = level_fields.pop("batch"), level_fields.pop("batch_gpu")
        if spec["kimg_per_tick"] is None and kimg_per_tick is None:
            kimg_per_tick = 0.0  # TF1's per-level tick length
    batch = int(batch if batch is not None else spec["batch"])
    if batch <= 0 or batch % replicas != 0:
        raise ValueError(
            f"--batch {batch} must be a positive multiple of the number of replicas "
            f"({replicas} = {num_workers} worker(s) x {gpus} device(s))"
        )
    batch_gpu = _batch_gpu(batch_gpu, spec, batch, replicas)
    group = min(int(D_kwargs.get("mbstd_group_size", 4) or batch_gpu), batch_gpu)
    if batch_gpu % group:
        raise ValueError(
            f"--batch-gpu {batch_gpu} must be a multiple of the minibatch-stddev group size {group}"
        )
    shrink = int(spec.get("pl_batch_shrink", LossConfig.pl_batch_shrink))
    if spec["pl_weight"] and batch_gpu % shrink:
        raise ValueError(
            f"--batch-gpu {batch_gpu} must divide by {shrink} (path-length "
            f"regularization uses 1/{shrink} of each round)"
        )
    r1_gamma = gamma if gamma is not None else spec["r1_gamma"]
    if r1_gamma is None:  # ADA-PT 'auto' heuristic
        r1_gamma = 0.0002 * resolution**2 / batch
    if r1_gamma < 0:
        raise ValueError(f"--gamma {r1_gamma} must be >= 0")
    tick = kimg_per_tick if kimg_per_tick is not None else spec["kimg_per_tick"]
    if tick is None:
        tick = TF1_TICK_KIMG.get(resolution, 4)
    if tick < 0 or tick == 0 and not spec.get("growing"):
        raise ValueError(f"--kimg-per-tick {tick} must be > 0")
    total = total_kimg if total_kimg is not None else spec["total_kimg"]
    if total <= 0:
        raise ValueError(f"--total-kimg {total} must be > 0")
    snap = int(snap if snap is not None else spec["snap"])
    if snap < 1:
        raise ValueError(f"--snap {snap} must be >= 1")
    loss = LossConfig(
        r1_gamma=float(r1_gamma),
        pl_weight=float(spec["pl_weight"]),
        style_mixing_prob=float(spec["style_mixing_prob"]),
        **{k: spec[k] for k in ("pl_decay", "pl_batch_shrink") if k in spec},
    )
    opt = OptimizerConfig(
        lr=float(spec["lr"]),
        **{
            k: spec[k]
            for k in ("beta1", "beta2", "epsilon", "G_reg_interval", "D_reg_interval")
            if k in spec
        },
    )
    aug_settings = augpipe_specs.aug_settings(spec, aug, augpipe, p, target, resolution)
    return TrainConfig(
        preset=preset,
        data=str(data),
        outdir=str(outdir),
        resolution=int(resolution),
        channels=int(channels),
        c_dim=int(c_dim),
        G_kwargs=G_kwargs,
        D_kwargs=D_kwargs,
        loss=loss,
        opt=opt,
        gpus=int(gpus),
        num_workers=int(num_workers),
        batch=batch,
        batch_gpu=batch_gpu,
        total_kimg=float(total),
        kimg_per_tick=float(tick),
        snap=snap,
        seed=int(seed if seed is not None else 0),
        mirror=bool(mirror if mirror is not None else spec.get("mirror", False)),
        cond=bool(cond),
        ema_kimg=float(spec["ema_kimg"]),
        ema_rampup=spec["ema_rampup"],
        metrics=tuple(metrics or ()),
        jit=bool(jit),
        fused_modconv=bool(spec.get("fused_modconv", False)),
        max_bad_steps=int(spec.get("max_bad_steps", 50)),
        grid=tuple(spec["grid"]) if spec.get("grid") else None,
        resume=resume,
        max_minutes=float(max_minutes or 0.0),
        dtype=str(dtype),
        **aug_settings,
        **cond_fields,
        **level_fields,
    )


def _batch_gpu(batch_gpu, spec, batch, replicas):
    """Samples per device and round: --batch-gpu, else the preset's (at most batch / replicas).
    The global batch must be whole rounds: batch = rounds x batch_gpu x replicas (ADA-PT)."""
    if batch_gpu is None:
        batch_gpu = min(int(spec["batch_gpu"] or batch), batch // replicas)
    batch_gpu = int(batch_gpu)
    if batch_gpu <= 0:
        raise ValueError(f"--batch-gpu {batch_gpu} must be > 0")
    if batch % (batch_gpu * replicas):
        raise ValueError(
            f"--batch {batch} must be a multiple of --batch-gpu {batch_gpu} x "
            f"{replicas} replica(s) = {batch_gpu * replicas}"
        )
    return batch_gpu


def ema_beta(cfg, cur_nimg, rampup=None):
    """G_ema decay for one minibatch: 0.5 ** (batch / ema_nimg), ema_nimg ramped up (ADA-PT)."""
    ema_nimg = cfg.ema_kimg * 1000
    rampup = cfg.ema_rampup if rampup is None else rampup
    if rampup:
        ema_nimg = min(ema_nimg, cur_nimg * rampup)
    return 0.5 ** (cfg.batch / max(ema_nimg, 1e-8))


def describe(cfg):
    """Run-directory description: <data>-<preset>-<N>gpu[-cond]."""
    name = os.path.basename(os.path.normpath(cfg.data)) or "data"
    return f"{name}-{cfg.preset}-{cfg.num_replicas}gpu" + ("-cond" if cfg.cond else "")
