"""How a conditional run uses its labels: D's conditioning mode, the AC-GAN weight, the label kind.

--cond-mode projection (ADA-PT's projection discriminator, the default), acgan (an auxiliary
classifier head and the AC-GAN loss terms of Odena et al. 2017 instead) or both. The label kind
picks the AC-GAN cross-entropy: softmax over classes for one-hot rows, one sigmoid per attribute
for multi-hot rows (training/loss.py class_loss). --guide CLASSIFIER.keras adds
guide_weight x the frozen classifier's cross-entropy of G's images against their labels to G's
loss (a classifier made by `metrics/run.py train-classifier`).
"""

import os


def guide_settings(cond, guide=None, guide_weight=None):
    """TrainConfig fields (guide, guide_weight): the path made absolute, the weight 1 by
    default; ValueError names the flag."""
    if guide is None:
        if guide_weight is not None:
            raise ValueError("--guide-weight needs --guide CLASSIFIER.keras")
        return dict(guide=None, guide_weight=0.0)
    if not cond:
        raise ValueError("--guide needs conditional training (--cond on a labelled dataset)")
    if not str(guide).endswith(".keras") or not os.path.isfile(guide):
        raise ValueError(f"--guide {guide}: no such classifier file (.keras)")
    guide_weight = 1.0 if guide_weight is None else float(guide_weight)
    if guide_weight <= 0:
        raise ValueError(f"--guide-weight {guide_weight} must be > 0")
    return dict(guide=os.path.abspath(guide), guide_weight=guide_weight)


def cond_settings(cond, c_dim, cond_mode=None, acgan_weight=None, multi_hot=False):
    """TrainConfig fields (cond_mode, acgan_weight, multi_hot), checked; ValueError names the
    flag. acgan_weight defaults to 1 when the mode has the AC-GAN head, and is 0 otherwise."""
    from tf_stylegan2.networks.discriminator import COND_MODES

    if cond_mode is not None and cond_mode not in COND_MODES:
        raise ValueError(f"--cond-mode {cond_mode}: choose one of {', '.join(COND_MODES)}")
    if not cond or not c_dim:
        if cond_mode not in (None, "projection") or acgan_weight is not None:
            flag = "--acgan-weight" if acgan_weight is not None else f"--cond-mode {cond_mode}"
            raise ValueError(f"{flag} needs conditional training (--cond on a labelled dataset)")
        return dict(cond_mode="projection", acgan_weight=0.0, multi_hot=False)
    cond_mode = cond_mode or "projection"
    if cond_mode == "projection":
        if acgan_weight is not None:
            raise ValueError("--acgan-weight needs --cond-mode acgan or both")
        acgan_weight = 0.0
    else:
        acgan_weight = 1.0 if acgan_weight is None else float(acgan_weight)
        if acgan_weight <= 0:
            raise ValueError(f"--acgan-weight {acgan_weight} must be > 0")
    return dict(cond_mode=cond_mode, acgan_weight=float(acgan_weight), multi_hot=bool(multi_hot))


def check_guide(cfg):
    """--guide's classifier fits the run's images and labels (ValueError naming the flag); reads
    only the file's config, so it can run before TensorFlow's devices are set up."""
    from metrics.classifier import read_classifier_config

    config = read_classifier_config(cfg.guide)
    want = (cfg.resolution, cfg.channels, cfg.c_dim)
    have = (config["resolution"], config["channels"], config["c_dim"])
    if have != want:
        raise ValueError(
            f"--guide {cfg.guide}: a classifier of {have[0]}x{have[0]}x{have[1]} images with "
            f"c_dim {have[2]}; the run has {want[0]}x{want[0]}x{want[1]} and c_dim {want[2]}"
        )


def load_guide(cfg):
    """--guide's classifier, checked and frozen."""
    from metrics.classifier import load_classifier

    check_guide(cfg)
    guide = load_classifier(cfg.guide)
    guide.trainable = False
    return guide
