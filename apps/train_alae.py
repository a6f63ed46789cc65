"""training/run.py's flags for the StyleALAE presets (--config alae-*): which flags apply, and the
AlaeConfig they resolve to (training/alae/config.py)."""

# Flags of the StyleGAN2 configs that an ALAE run does not have, with what to use instead.
NOT_FOR_ALAE = {
    "total-kimg": "ALAE trains for --epochs",
    "batch-gpu": "ALAE runs each replica's share at once",
    "cond": "StyleALAE is unconditional",
    "cond-mode": "StyleALAE is unconditional",
    "acgan-weight": "StyleALAE is unconditional",
    "guide": "StyleALAE is unconditional",
    "guide-weight": "StyleALAE is unconditional",
    "aug": "ALAE has no augmentation",
    "augpipe": "ALAE has no augmentation",
    "p": "ALAE has no augmentation",
    "target": "ALAE has no augmentation",
    "freezed": "ALAE has no frozen layers",
    "lod-kimg": "ALAE grows by --epochs-per-lod",
    "cbase": "the preset sets the channels",
    "cmax": "the preset sets the channels",
    "jit": "not available for ALAE yet",
}
ALAE_ONLY = ("epochs", "epochs-per-lod", "generator")
# What `--resume RUN_DIR` of an ALAE run honours.
RESUME_FLAGS = ("resume", "gpus", "epochs", "max-minutes", "outdir", "dry-run", "deterministic",
                "grappler")  # fmt: skip


def refused_flag(FLAGS, alae):
    """(flag, reason) of the first flag given that the kind of config does not take, or None."""
    if alae:
        for name, why in NOT_FOR_ALAE.items():
            if FLAGS[name].present:
                return name, why
        if FLAGS["metrics"].present and FLAGS["metrics"].value not in ("none", ""):
            return "metrics", "ALAE metrics run from metrics/run.py on a snapshot for now"
        if FLAGS["precision"].present and FLAGS["precision"].value != "fp32":
            return "precision", "ALAE trains in float32"
        return None
    for name in ALAE_ONLY:
        if FLAGS[name].present:
            return name, "only the StyleALAE configs (--config alae-*) train in epochs"
    return None


def make_config(FLAGS, info, gpus, num_workers):
    from training.alae import config

    return config.make_config(
        FLAGS["config"].value,
        data=info["path"],
        outdir=FLAGS["outdir"].value,
        resolution=info["resolution"],
        channels=info["channels"],
        dataset_size=info["count"],
        gpus=gpus,
        num_workers=num_workers,
        seed=FLAGS["seed"].value,
        epochs=FLAGS["epochs"].value,
        epochs_per_lod=FLAGS["epochs-per-lod"].value,
        batch=FLAGS["batch"].value,
        gamma=FLAGS["gamma"].value,
        mirror=FLAGS["mirror"].value,
        kimg_per_tick=FLAGS["kimg-per-tick"].value,
        snap=FLAGS["snap"].value,
        max_minutes=FLAGS["max-minutes"].value,
        generator=FLAGS["generator"].value,
    )


def resume_changes(FLAGS, cfg):
    """The changes of a resumed ALAE run's config; ValueError for a flag it cannot take."""
    changes = {}
    if FLAGS["gpus"].value is not None:
        gpus = int(FLAGS["gpus"].value)
        if gpus * cfg.num_workers not in cfg.lod_2_batch:
            raise ValueError(
                f"--gpus {gpus}: this run's batches are for "
                f"{', '.join(str(k) for k in sorted(cfg.lod_2_batch))} replica(s)"
            )
        changes["gpus"] = gpus
    if FLAGS["epochs"].value is not None:
        if FLAGS["epochs"].value < 1:
            raise ValueError(f"--epochs {FLAGS['epochs'].value} must be >= 1")
        changes["train_epochs"] = int(FLAGS["epochs"].value)
    if FLAGS["max-minutes"].value:
        changes["max_minutes"] = float(FLAGS["max-minutes"].value)
    return changes
