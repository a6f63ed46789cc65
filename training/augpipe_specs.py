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
