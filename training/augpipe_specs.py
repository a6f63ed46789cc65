"""The named augmentation pipelines of stylegan2-ada-pytorch train.py (augpipe_specs): which
transforms of training.augment.AugmentPipe each enables (multiplier 1). No TensorFlow here, so
the command line can check --augpipe before TensorFlow loads."""

AUGPIPE_SPECS = {
    "blit": dict(xflip=1, rotate90=1, xint=1),
    "geom": dict(scale=1, rotate=1, aniso=1, xfrac=1),
    "color": dict(brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1),
    "filter": dict(imgfilter=1),
    "noise": dict(noise=1),
    "cutout": dict(cutout=1),
}
AUGPIPE_SPECS["bg"] = dict(AUGPIPE_SPECS["blit"], **AUGPIPE_SPECS["geom"])
AUGPIPE_SPECS["bgc"] = dict(AUGPIPE_SPECS["bg"], **AUGPIPE_SPECS["color"])
AUGPIPE_SPECS["bgcf"] = dict(AUGPIPE_SPECS["bgc"], imgfilter=1)
AUGPIPE_SPECS["bgcfn"] = dict(AUGPIPE_SPECS["bgcf"], noise=1)
AUGPIPE_SPECS["bgcfnc"] = dict(AUGPIPE_SPECS["bgcfn"], cutout=1)


def aug_settings(spec, aug, augpipe, p, target, resolution):
    """--aug / --augpipe / --p / --target, checked as ADA-PT train.py checks them."""
    aug = aug if aug is not None else spec.get("aug", "noaug")
    if aug not in ("ada", "noaug", "fixed"):
        raise ValueError(f"--aug {aug}: choose ada, noaug or fixed")
    if p is not None and aug != "fixed":
        raise ValueError("--p can only be given with --aug fixed")
    if aug == "fixed" and p is None:
        raise ValueError("--aug fixed needs --p (the augmentation strength)")
    if p is not None and not 0 <= p <= 1:
        raise ValueError(f"--p {p} must be between 0 and 1")
    if target is not None and aug != "ada":
        raise ValueError("--target can only be given with --aug ada")
    if target is not None and not 0 <= target <= 1:
        raise ValueError(f"--target {target} must be between 0 and 1")
    if augpipe is not None and aug == "noaug":
        raise ValueError("--augpipe cannot be given with --aug noaug")
    augpipe = augpipe or "bgc"
    if augpipe not in AUGPIPE_SPECS:
        raise ValueError(f"--augpipe {augpipe}: choose one of {', '.join(AUGPIPE_SPECS)}")
    if aug != "noaug" and AUGPIPE_SPECS[augpipe].get("imgfilter") and resolution <= 21:
        raise ValueError(
            f"--augpipe {augpipe}: image filtering needs a resolution above 21 (it reflects "
            f"21 pixels), the dataset has {resolution}"
        )
    return dict(
        aug=aug,
        augpipe=augpipe,
        aug_p=float(p or 0.0),
        ada_target=float(target if target is not None else 0.6),
    )
