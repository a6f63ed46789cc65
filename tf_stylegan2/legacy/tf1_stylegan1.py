"""Official StyleGAN (v1) pickles and config-A pickles of StyleGAN2's TF1 code (G_style with
G_mapping + G_synthesis, D_basic; ../shared/spec/NETWORKS_TRAINING.md 4.3, 5.6) -> our Keras
Generator (architecture 'adain') and BasicDiscriminator, in their own variable layout.

StyleGAN's dnnlib writes Network states of version 3, StyleGAN2's of version 4; both are read.
Only the unconditional layout with TF1's defaults for the switches (styles, constant input, noise,
instance norm, lrelu, equalized LR, [1, 2, 1] blur, fused_scale 'auto') is accepted: any other
build argument value is refused with a line naming it.
"""

import collections
import math
import re

import numpy as np

from tf_stylegan2.legacy import ada_pickle
from tf_stylegan2.legacy.safe_pickle import UnsupportedTF1Pickle

G_FUNCS = ("G_style",)
D_FUNCS = ("D_basic",)

_G_DEFAULTS = dict(  # G_style + G_mapping + G_synthesis (networks_stylegan.py)
    latent_size=512,
    label_size=0,
    dlatent_size=512,
    num_channels=3,
    resolution=1024,
    fmap_base=8192,
    fmap_decay=1.0,
    fmap_max=512,
    mapping_layers=8,
    mapping_fmaps=512,
    mapping_lrmul=0.01,
    truncation_cutoff=8,
    dlatent_avg_beta=0.995,
)
_D_DEFAULTS = dict(
    num_channels=1,
    resolution=32,
    label_size=0,
    fmap_base=8192,
    fmap_decay=1.0,
    fmap_max=512,
    mbstd_group_size=4,
    mbstd_num_features=1,
)
_FIXED = dict(  # switches whose other values build a different function: refused
    mapping_nonlinearity="lrelu",
    nonlinearity="lrelu",
    use_wscale=True,
    normalize_latents=True,
    use_styles=True,
    const_input_layer=True,
    use_noise=True,
    use_pixel_norm=False,
    use_instance_norm=True,
    fused_scale="auto",
    blur_filter=[1, 2, 1],
    dtype="float32",
    label_size=0,
)
_IGNORED = {  # no effect on the weights or on what a call computes here
    "truncation_psi",
    "truncation_psi_val",
    "truncation_cutoff_val",
    "style_mixing_prob",
    "randomize_noise",
    "structure",
    "is_template_graph",
    "force_clean_graph",
    "dlatent_broadcast",
    "mapping_func",
    "synthesis_func",
}


def _kwargs(state, defaults, source, what):
    kw = dict(defaults)
    for comp in [state] + [c.state for c in (state.get("components") or {}).values()]:
        static = ada_pickle.plain_data(dict(comp.get("static_kwargs") or {}), "static_kwargs")
        for key, value in static.items():
            if key in _IGNORED:
                continue
            if key in _FIXED:
                if value != _FIXED[key] and not (key == "use_noise" and value == 1):
                    raise UnsupportedTF1Pickle(f"{source}: {what} {key}={value!r} is not supported")
                continue
            if key not in defaults:
                raise UnsupportedTF1Pickle(f"{source}: {what} has the unknown argument {key}")
            kw[key] = value
    r = int(round(math.log2(kw["resolution"])))
    if 2**r != kw["resolution"] or r < 2:
        raise UnsupportedTF1Pickle(f"{source}: {what} resolution {kw['resolution']}")
    for stage in range(0, r):  # nf(stage) must be our min(channel_base / 2**(stage+1), max)
        nf = min(int(kw["fmap_base"] / 2.0 ** (stage * kw["fmap_decay"])), kw["fmap_max"])
        if nf != min(2 * kw["fmap_base"] // 2 ** (stage + 1), kw["fmap_max"]):
            raise UnsupportedTF1Pickle(f"{source}: {what} fmap_decay {kw['fmap_decay']}")
    return kw


def _variables(state, prefix=""):
    out = collections.OrderedDict()
    for name, value in state.get("variables") or ():
        out[prefix + str(name)] = np.array(value, dtype=np.float32)
    for key, comp in (state.get("components") or {}).items():
        out.update(_variables(comp.state, f"{key}/"))
    return out


def _g_name(name, r):
    """TF1 G_style variable -> (our weight name under the Generator, transform)."""
    same = lambda x: x  # noqa: E731
    if name == "dlatent_avg":
        return "mapping.w_avg", same
    if m := re.fullmatch(r"mapping/Dense(\d+)/(weight|bias)", name):
        return f"mapping.fc{m[1]}.{m[2]}", same
    if name == "synthesis/lod":
        return "synthesis.lod", same
    if m := re.fullmatch(r"synthesis/noise(\d+)", name):
        i = int(m[1])
        res = 2 ** (i // 2 + 2)
        kind = ("const", "conv")[i % 2] if res == 4 else ("conv0", "conv1")[i % 2]
        return f"synthesis.b{res}_{kind}.noise_const", lambda x: x[0, 0]
    if m := re.fullmatch(r"synthesis/ToRGB_lod(\d+)/(weight|bias)", name):
        return f"synthesis.torgb{2 ** (r - int(m[1]))}.{m[2]}", same
    if m := re.fullmatch(r"synthesis/(\d+)x\1/(Const|Conv|Conv0_up|Conv1)/(.+)", name):
        res, scope, part = int(m[1]), m[2], m[3]
        if (res == 4) != (scope in ("Const", "Conv")):
            raise KeyError(name)
        kind = {"Const": "const", "Conv": "conv", "Conv0_up": "conv0", "Conv1": "conv1"}[scope]
        layer = f"synthesis.b{res}_{kind}"
        parts = {
            "const": ("const", lambda x: x[0].transpose(1, 2, 0)),  # [1, C, 4, 4] -> [4, 4, C]
            "weight": ("conv.weight", same),
            "Noise/weight": ("noise_strength", same),
            "bias": ("bias", same),
            "StyleMod/weight": ("style.weight", same),
            "StyleMod/bias": ("style.bias", same),
        }
        own = {"const": "const", "weight": "conv"}.get(part)  # only Const / only the convs
        if part in parts and own in (None, kind if kind == "const" else "conv"):
            ours, fn = parts[part]
            return f"{layer}.{ours}", fn
    raise KeyError(name)


def _d_name(name, r):
    same = lambda x: x  # noqa: E731
    if name == "lod":
        return "lod", same
    if m := re.fullmatch(r"FromRGB_lod(\d+)/(weight|bias)", name):
        return f"fromrgb{2 ** (r - int(m[1]))}.{m[2]}", same
    if m := re.fullmatch(r"(\d+)x\1/(Conv0|Conv1_down)/(weight|bias)", name):
        if m[1] == "4":
            raise KeyError(name)
        return f"b{m[1]}_{'conv0' if m[2] == 'Conv0' else 'conv1'}.{m[3]}", same
    if m := re.fullmatch(r"4x4/(Conv|Dense0|Dense1)/(weight|bias)", name):
        return f"b4_{dict(Conv='conv', Dense0='fc', Dense1='out')[m[1]]}.{m[2]}", same
    raise KeyError(name)


def _convert(params, rule, r, source, what):
    state, unknown = collections.OrderedDict(), []
    for name, value in params.items():
        try:
            ours, fn = rule(name, r)
        except KeyError:
            unknown.append(name)
            continue
        state[ours] = np.array(fn(value), order="C")
    if unknown:
        raise UnsupportedTF1Pickle(
            f"{source}: {what} has variables with no counterpart in config A: "
            f"{', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''}"
        )
    return state


def convert_g(state, source, what):
    """A G_style Network state -> NetworkSpec of our Generator (origin 'sg1')."""
    kw = _kwargs(state, _G_DEFAULTS, source, what)
    r = int(round(math.log2(kw["resolution"])))
    init = dict(
        z_dim=kw["latent_size"],
        c_dim=0,
        w_dim=kw["dlatent_size"],
        img_resolution=kw["resolution"],
        img_channels=kw["num_channels"],
        mapping_kwargs=dict(
            num_layers=kw["mapping_layers"],
            layer_features=kw["mapping_fmaps"],
            lr_multiplier=kw["mapping_lrmul"],
            w_avg_beta=1.0 if kw["dlatent_avg_beta"] is None else kw["dlatent_avg_beta"],
            gain_in_weights=True,
            truncation_cutoff=kw["truncation_cutoff"],
        ),
        synthesis_kwargs=dict(
            architecture="adain", channel_base=2 * kw["fmap_base"], channel_max=kw["fmap_max"]
        ),
    )
    params = _convert(_variables(state), _g_name, r, source, what)
    return ada_pickle.NetworkSpec("Generator", init, params, "sg1")


def convert_d(state, source, what):
    """A D_basic Network state -> NetworkSpec of our BasicDiscriminator (origin 'sg1')."""
    kw = _kwargs(state, _D_DEFAULTS, source, what)
    r = int(round(math.log2(kw["resolution"])))
    group = kw["mbstd_group_size"]
    init = dict(
        c_dim=0,
        img_resolution=kw["resolution"],
        img_channels=kw["num_channels"],
        architecture="basic",
        channel_base=2 * kw["fmap_base"],
        channel_max=kw["fmap_max"],
        mbstd_group_size=group if group > 1 else None,
        mbstd_num_channels=kw["mbstd_num_features"] if group > 1 else 0,
    )
    params = _convert(_variables(state), _d_name, r, source, what)
    return ada_pickle.NetworkSpec("BasicDiscriminator", init, params, "sg1")


def apply_state(net, state, source="state"):
    """Assign `state` ({our dotted name: array}) to `net`; every variable must be named once and
    fit its shape, else ValueError naming the problems (nothing is assigned then)."""
    ours = {".".join(v.path.split("/")[1:]): v for v in net.weights}
    problems = [f"{n}: not in {type(net).__name__}" for n in state if n not in ours]
    problems += [f"{n}: missing from {source}" for n in ours if n not in state]
    for name in set(state) & set(ours):
        if tuple(state[name].shape) != tuple(ours[name].shape):
            problems.append(f"{name}: shape {state[name].shape} != {tuple(ours[name].shape)}")
    if problems:
        raise ValueError(f"{source}: " + "; ".join(sorted(problems)[:6]))
    for name, value in state.items():
        ours[name].assign(value)
    return net
