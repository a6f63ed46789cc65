"""ADA-PT state dicts and constructor kwargs -> our Generator / Discriminator.

`apply_ada_state(net, state)`: copy an ADA-PT state dict (names exactly as `named_parameters()` /
`named_buffers()`, e.g. 'mapping.fc0.weight', 'synthesis.b8.conv1.noise_const'; NCHW/OIHW numpy
arrays)
into our network, transposing once. Every name is matched by the RULES table below; a state name no
rule or variable matches, a variable the state does not fill, or a shape mismatch raises ValueError
naming them all. Resampling-filter buffers are not variables here: they are checked against ours.

`ada_kwargs_to_ours(init_kwargs)`: ADA-PT constructor kwargs (as pickled) -> our constructor kwargs.
"""

import re

import numpy as np

from tf_stylegan2 import ops

# (regex on the ADA-PT name, transform). Our variable paths are the ADA-PT module names with '/'.
RULES = (
    (re.compile(r"^(.+\.)?resample_filter$"), "filter"),  # buffer: checked, not stored
    (re.compile(r"^synthesis\.b\d+\.const$"), "chw_to_hwc"),  # [C, 4, 4] -> [4, 4, C]
    (
        re.compile(
            r"^(synthesis\.b\d+\.(conv0|conv1|torgb|skip)|b\d+\.(fromrgb|conv0|conv1|skip|conv))\.weight$"
        ),
        "oihw_to_hwio",
    ),
    (
        re.compile(
            r"^(synthesis\.b\d+\.(conv0|conv1|torgb)\.affine|mapping\.(embed|fc\d+)|b4\.(fc|out))\.weight$"
        ),
        "transpose",
    ),  # [out, in] -> [in, out]
    (re.compile(r"^fromrgb\d+\.weight$"), "oihw_to_hwio"),  # 'progressive' D (configs B-D)
    (re.compile(r"^(synthesis\.)?lod$"), "copy"),  # 'progressive' G and D
    (re.compile(r"^synthesis\.b\d+\.conv[01]\.noise_const$"), "copy"),
    (re.compile(r"^synthesis\.b\d+\.conv[01]\.noise_strength$"), "copy"),
    (re.compile(r"^mapping\.w_avg$"), "copy"),
    (re.compile(r"^.+\.bias$"), "copy"),
)

_TRANSFORMS = {
    "chw_to_hwc": lambda a: np.transpose(a, (1, 2, 0)),
    "oihw_to_hwio": lambda a: np.transpose(a, (2, 3, 1, 0)),
    "transpose": lambda a: np.transpose(a),
    "copy": lambda a: a,
}


def _rule(name):
    for pattern, transform in RULES:
        if pattern.match(name):
            return transform
    return None


def ada_name(var):
    """Our variable -> its ADA-PT name ('generator/synthesis/b4/const' -> 'synthesis.b4.const')."""
    parts = var.path.split("/")
    return ".".join(parts[1:])


def _net_filter(net):
    taps = getattr(getattr(net, "synthesis", None), "resample_filter", None) or getattr(
        net, "resample_filter"
    )
    return ops.setup_filter(taps)


def apply_ada_state(net, state):
    """Copy ADA-PT `state` ({name: numpy array}) into `net` (our Generator or Discriminator).

    Raises ValueError listing unknown names, names missing from the state, and shape mismatches;
    on error nothing has been assigned.
    """
    ours = {ada_name(v): v for v in net.weights}
    expected_filter = _net_filter(net)
    unknown, bad, assign = [], [], []
    for name in sorted(state):
        value = np.asarray(state[name])
        transform = _rule(name)
        if transform == "filter":
            if value.shape != expected_filter.shape or not np.allclose(
                value, expected_filter, rtol=0, atol=1e-7
            ):
                bad.append(
                    f"{name}: resample filter {value.tolist()} differs from this network's "
                    f"{expected_filter.tolist()}"
                )
            continue
        if transform is None or name not in ours:
            unknown.append(name)
            continue
        value = _TRANSFORMS[transform](value.astype(np.float32))
        var = ours[name]
        if tuple(value.shape) != tuple(var.shape):
            bad.append(
                f"{name}: shape {tuple(value.shape)} (after {transform}) != ours {tuple(var.shape)}"
            )
            continue
        assign.append((var, value))
    missing = sorted(set(ours) - set(state))
    problems = []
    if unknown:
        problems.append(f"state names with no matching variable: {', '.join(unknown)}")
    if missing:
        problems.append(f"variables not in the state: {', '.join(missing)}")
    problems.extend(bad)
    if problems:
        raise ValueError(
            f"cannot load ADA-PT state into {type(net).__name__}: " + "; ".join(problems)
        )
    for var, value in assign:
        var.assign(value)
    return net


# ADA-PT kwargs that do not change the float32 math we run (fp16 layout / freezing / training only).
_IGNORED = {"fp16_channels_last", "freeze_layers", "use_fp16"}


def _pop_checked(kwargs, key, default, where):
    value = kwargs.pop(key, default)
    if value != default:
        raise ValueError(
            f"unsupported ADA-PT {where} kwarg {key}={value!r} (only {default!r} is supported)"
        )


def _clean(kwargs, where):
    kwargs = dict(kwargs or {})
    for key in _IGNORED:
        kwargs.pop(key, None)
    return kwargs


def _generator_kwargs(kw):
    mapping = _clean(kw.pop("mapping_kwargs", {}), "mapping")
    synthesis = _clean(kw.pop("synthesis_kwargs", {}), "synthesis")
    unknown_m = set(mapping) - {
        "num_layers",
        "embed_features",
        "layer_features",
        "activation",
        "lr_multiplier",
        "w_avg_beta",
    }
    if unknown_m:
        raise ValueError(f"unsupported ADA-PT mapping kwargs: {sorted(unknown_m)}")
    # SynthesisBlock passes extra **layer_kwargs on to SynthesisLayer; only defaults are supported.
    synthesis.update(_clean(synthesis.pop("layer_kwargs", {}), "layer"))
    _pop_checked(synthesis, "activation", "lrelu", "synthesis layer")
    _pop_checked(synthesis, "use_noise", True, "synthesis layer")
    _pop_checked(synthesis, "kernel_size", 3, "synthesis layer")
    ours_s = {}
    for key in (
        "channel_base",
        "channel_max",
        "num_fp16_res",
        "conv_clamp",
        "architecture",
        "resample_filter",
    ):
        if key in synthesis:
            ours_s[key] = synthesis.pop(key)
    if "resample_filter" in ours_s:
        ours_s["resample_filter"] = [
            float(v) for v in np.asarray(ours_s["resample_filter"]).ravel()
        ]
    if synthesis:
        raise ValueError(f"unsupported ADA-PT synthesis kwargs: {sorted(synthesis)}")
    out = dict(
        z_dim=int(kw.pop("z_dim")),
        c_dim=int(kw.pop("c_dim")),
        w_dim=int(kw.pop("w_dim")),
        img_resolution=int(kw.pop("img_resolution")),
        img_channels=int(kw.pop("img_channels")),
        mapping_kwargs=mapping,
        synthesis_kwargs=ours_s,
    )
    if kw:
        raise ValueError(f"unsupported ADA-PT Generator kwargs: {sorted(kw)}")
    return out


def _discriminator_kwargs(kw):
    block = _clean(kw.pop("block_kwargs", {}), "block")
    mapping = _clean(kw.pop("mapping_kwargs", {}), "mapping")
    epilogue = _clean(kw.pop("epilogue_kwargs", {}), "epilogue")
    _pop_checked(block, "activation", "lrelu", "D block")
    out = dict(
        c_dim=int(kw.pop("c_dim")),
        img_resolution=int(kw.pop("img_resolution")),
        img_channels=int(kw.pop("img_channels")),
    )
    if "resample_filter" in block:
        out["resample_filter"] = [
            float(v) for v in np.asarray(block.pop("resample_filter")).ravel()
        ]
    if block:
        raise ValueError(f"unsupported ADA-PT D block kwargs: {sorted(block)}")
    _pop_checked(epilogue, "activation", "lrelu", "D epilogue")
    if "mbstd_group_size" in epilogue:
        g = epilogue.pop("mbstd_group_size")
        out["mbstd_group_size"] = None if g is None else int(g)
    if "mbstd_num_channels" in epilogue:
        out["mbstd_num_channels"] = int(epilogue.pop("mbstd_num_channels"))
    if epilogue:
        raise ValueError(f"unsupported ADA-PT D epilogue kwargs: {sorted(epilogue)}")
    for key in (
        "architecture",
        "channel_base",
        "channel_max",
        "num_fp16_res",
        "conv_clamp",
        "cmap_dim",
    ):
        if key in kw:
            out[key] = kw.pop(key)
    unknown_m = set(mapping) - {
        "num_layers",
        "embed_features",
        "layer_features",
        "activation",
        "lr_multiplier",
        "w_avg_beta",
    }
    if unknown_m:
        raise ValueError(f"unsupported ADA-PT D mapping kwargs: {sorted(unknown_m)}")
    out["mapping_kwargs"] = mapping
    if kw:
        raise ValueError(f"unsupported ADA-PT Discriminator kwargs: {sorted(kw)}")
    return out


def ada_kwargs_to_ours(init_kwargs):
    """ADA-PT Generator or Discriminator constructor kwargs -> ours (a Generator has `z_dim`)."""
    kw = dict(init_kwargs)
    if "z_dim" in kw:
        return _generator_kwargs(kw)
    return _discriminator_kwargs(kw)
