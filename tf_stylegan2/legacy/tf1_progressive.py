"""TF1 variable names of the progressive networks of configs B-D (TF1 networks_stylegan2.py
G_synthesis_stylegan_revised and D_stylegan; ../shared/spec/NETWORKS_TRAINING.md §4.3) -> the
ADA-PT-style names of our 'progressive' architecture.

They differ from StyleGAN2's (tf1_pickle._g_rule / _d_rule) only in the per-level image layers and
the `lod` variables: G's `synthesis/ToRGB_lod{n}/...` is the ToRGB of block 2**(log2 R - n), D's
`FromRGB_lod{n}/...` our top-level `fromrgb{2**(log2 R - n)}`; everything else is named as in
StyleGAN2.
"""

import math
import re


def revised_g_rule(resolution, base):
    """Name rule for a G_synthesis_stylegan_revised generator of `resolution`; `base` is the
    StyleGAN2 rule for the names the two share."""
    log2 = int(round(math.log2(resolution)))

    def rule(name):
        if name == "synthesis/lod":
            return "synthesis.lod", lambda x: x
        if m := re.fullmatch(r"synthesis/ToRGB_lod(\d+)/(\w+)", name):
            res = 2 ** (log2 - int(m[1]))
            return base(f"synthesis/{res}x{res}/ToRGB/{m[2]}")
        if re.fullmatch(r"synthesis/\d+x\d+/(ToRGB|Skip)/\w+", name):
            raise KeyError(name)  # StyleGAN2's skip-architecture names: not in configs B-D
        return base(name)

    return rule


def stylegan_d_rule(resolution, base, conv):
    """Name rule for a D_stylegan discriminator of `resolution`; `base` is the StyleGAN2 rule and
    `conv` its conv-weight transform."""
    log2 = int(round(math.log2(resolution)))

    def rule(name):
        if name == "lod":
            return "lod", lambda x: x
        if m := re.fullmatch(r"FromRGB_lod(\d+)/(weight|bias)", name):
            res = 2 ** (log2 - int(m[1]))
            return f"fromrgb{res}.{m[2]}", conv if m[2] == "weight" else (lambda x: x)
        if re.fullmatch(r"\d+x\d+/(FromRGB|Skip)/\w+", name):
            raise KeyError(name)
        return base(name)

    return rule
