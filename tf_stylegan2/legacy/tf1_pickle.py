"""Official TF1 network pickles -> ADA-PT kwargs + ADA-PT-named numpy state dicts.

A TF1 pickle (NVlabs/stylegan2, also NVlabs/stylegan2-ada "ADA-TF") is a tuple
(G, D, Gs) of `dnnlib.tflib.Network` states (NVlabs/stylegan2 dnnlib/tflib/network.py,
Network.__setstate__): dicts with `version`, `name`, `static_kwargs`, `components`,
`build_module_src`, `build_func_name` and `variables` [(local name, array)]. The embedded source is
never run; the build function is identified by name only.

The conversion follows stylegan2-ada-pytorch legacy.py (convert_tf_generator,
convert_tf_discriminator) with these TF1-faithful differences (each one makes the converted network
compute what TF1 computes):
* D keeps TF1's minibatch-stddev group of 4 when `mbstd_group_size` is not in
  `static_kwargs` (legacy.py falls back to the whole batch);
* G `mapping_fmaps` defaults to TF1's 512 (legacy.py: w_dim);
* `dlatent_avg_beta`, `fmap_decay`/`fmap_min` (when they do not change any
  width), `randomize_noise`, `fused_modconv`, `dtype` and the truncation and
  mixing settings are accepted instead of raising;
* pickles whose layout ADA-PT cannot express (TF1 conditional `LabelConcat`,
  D `Dense0` narrower or wider than channels(4), config A) are refused with
  a message saying why, rather than converted into a different function.
Every variable must be claimed by a rule, and every rule's target must exist
in the network built from the kwargs (checked when the state is applied).
"""

import collections
import re

import numpy as np

from tf_stylegan2.legacy import ada_pickle, safe_pickle, tf1_progressive, tf1_stylegan1
from tf_stylegan2.legacy.safe_pickle import UnsupportedTF1Pickle

_G_FUNCS = {"G_main"}
_G_SYNTHESIS = {"G_synthesis_stylegan2": "tf1", "G_synthesis": "ada-tf"}
_D_FUNCS = {"D_stylegan2": "tf1", "D_main": "ada-tf"}
_PROGRESSIVE = {"G_synthesis_stylegan_revised", "D_stylegan"}  # configs B-D: tf1_progressive
_UNSUPPORTED_FUNCS = ("G_synthesis_stylegan",)
_SG1 = tf1_stylegan1.G_FUNCS + tf1_stylegan1.D_FUNCS  # config A / StyleGAN: tf1_stylegan1

# Build-function defaults (TF1 networks_stylegan2.py, ADA-TF networks.py).
_G_DEFAULTS = {
    "tf1": dict(mapping_fmaps=512, label_fmaps=None, mbstd_group_size=4),
    "ada-tf": dict(mapping_fmaps=None, label_fmaps=None, mbstd_group_size=None),
}
_COMMON_G = dict(
    latent_size=512,
    label_size=0,
    dlatent_size=512,
    num_channels=3,
    resolution=1024,
    mapping_layers=8,
    mapping_lrmul=0.01,
    mapping_nonlinearity="lrelu",
    normalize_latents=True,
    fmap_base=16 << 10,
    fmap_decay=1.0,
    fmap_min=1,
    fmap_max=512,
    fmap_const=None,
    architecture="skip",
    nonlinearity="lrelu",
    resample_kernel=[1, 3, 3, 1],
    use_noise=True,
    num_fp16_res=0,
    conv_clamp=None,
    dlatent_avg_beta=0.995,
)
# Accepted and without effect on the network's weights or function.
_G_IGNORED = {
    "truncation_psi",
    "truncation_cutoff",
    "truncation_psi_val",
    "truncation_cutoff_val",
    "style_mixing_prob",
    "structure",
    "randomize_noise",
    "fused_modconv",
    "is_template_graph",
    "mapping_func",
    "synthesis_func",
    "dlatent_broadcast",
}
_COMMON_D = dict(
    num_channels=3,
    resolution=1024,
    label_size=0,
    fmap_base=16 << 10,
    fmap_decay=1.0,
    fmap_min=1,
    fmap_max=512,
    architecture="resnet",
    nonlinearity="lrelu",
    mbstd_num_features=1,
    resample_kernel=[1, 3, 3, 1],
    num_fp16_res=0,
    conv_clamp=None,
    mapping_layers=0,
    mapping_fmaps=None,
    mapping_lrmul=0.1,
    freeze_layers=0,
)
_D_IGNORED = {"structure", "augment_strength", "score_size", "score_max"}
_D_OFF = dict(  # ADA-TF comparison methods: accepted only when switched off
    use_pagan=False, use_spectral_norm=False, adaptive_dropout=0
)


# ----------------------------------------------------------------------------
# Reading the Network states.


def _state(net, what, source):
    if not isinstance(net, safe_pickle.TFNetworkState) or net.state is None:
        raise safe_pickle.LegacyFormatError(f"{source}: {what} is not a TF1 Network")
    state = net.state
    version, func = state.get("version"), state.get("build_func_name")
    if not isinstance(version, int) or version < (2 if func in _SG1 else 4):
        raise UnsupportedTF1Pickle(  # StyleGAN's dnnlib reads versions 2 and 3 alike
            f"{source}: {what} has Network version {version!r}; only versions 4 (StyleGAN2) "
            "and 2-4 (StyleGAN, G_style / D_basic) are supported"
        )
    if func in _UNSUPPORTED_FUNCS:
        raise UnsupportedTF1Pickle(f"{source}: {what} is built by {func}, which is not supported")
    return state


def _variables(state, prefix, source):
    out = collections.OrderedDict()
    for item in state.get("variables") or ():
        if not (isinstance(item, tuple) and len(item) == 2):
            raise safe_pickle.LegacyFormatError(f"{source}: bad TF1 variable entry")
        name, value = item
        value = np.asarray(value)
        if value.dtype.kind not in "biuf":
            raise safe_pickle.LegacyFormatError(f"{source}: {name} is not numeric")
        out[prefix + str(name)] = np.array(value, copy=True)
    return out


def collect_params(net, what, source):
    """legacy.py's _collect_tf_params: own variables, then 'component/...' ones."""
    state = _state(net, what, source)
    params = _variables(state, "", source)
    for key, comp in (state.get("components") or {}).items():
        comp_state = _state(comp, f"{what}.{key}", source)
        params.update(_variables(comp_state, f"{key}/", source))
    return params


def _static_kwargs(state):
    return ada_pickle.plain_data(dict(state.get("static_kwargs") or {}), "static_kwargs")


def _component_func(state, key):
    comp = (state.get("components") or {}).get(key)
    return (getattr(comp, "state", None) or {}).get("build_func_name")


# ----------------------------------------------------------------------------
# Keyword arguments.


def _nf(kw, stage):
    value = int(kw["fmap_base"] / (2.0 ** (stage * kw["fmap_decay"])))
    return int(np.clip(value, kw["fmap_min"], kw["fmap_max"]))


def _check_channels(kw, source, what):
    """TF1 nf(stage) must equal ADA-PT channels(2^(stage+1)) at every stage used."""
    channel_base = 2 * kw["fmap_base"]
    log2 = int(np.log2(kw["resolution"]))
    if 2**log2 != kw["resolution"] or log2 < 2:
        raise UnsupportedTF1Pickle(f"{source}: {what} resolution {kw['resolution']}")
    if int(channel_base) != channel_base:
        raise UnsupportedTF1Pickle(f"{source}: {what} fmap_base {kw['fmap_base']}")
    for stage in range(1, log2):
        ada = min(int(channel_base) // 2 ** (stage + 1), kw["fmap_max"])
        if _nf(kw, stage) != ada:
            raise UnsupportedTF1Pickle(
                f"{source}: {what} has {_nf(kw, stage)} channels at "
                f"{2 ** (stage + 1)}x{2 ** (stage + 1)} (fmap_base "
                f"{kw['fmap_base']}, fmap_decay {kw['fmap_decay']}, fmap_min "
                f"{kw['fmap_min']}); the ADA-PT channel formula gives {ada}"
            )
    return int(channel_base)


def _merge(static, defaults, ignored, off, source, what):
    kw = dict(defaults)
    for key, value in static.items():
        if key in ignored or key == "dtype" and value == "float32":
            continue
        if key in off:
            if value != off[key]:
                raise UnsupportedTF1Pickle(f"{source}: {what} {key}={value!r}")
            continue
        if key not in defaults:
            raise UnsupportedTF1Pickle(
                f"{source}: {what} has the unknown build argument {key}={value!r}"
            )
        kw[key] = value
    return kw


def convert_g_kwargs(static, flavor, source):
    """G/Gs static_kwargs -> ADA-PT Generator init_kwargs (legacy.py layout)."""
    defaults = dict(_COMMON_G, **_G_DEFAULTS[flavor])
    defaults.pop("mbstd_group_size")
    static = dict(static)
    if "w_avg_beta" in static:  # the name legacy.py reads
        static["dlatent_avg_beta"] = static.pop("w_avg_beta")
    kw = _merge(static, defaults, _G_IGNORED, {}, source, "G")
    if not kw["normalize_latents"]:
        raise UnsupportedTF1Pickle(f"{source}: G normalize_latents=False")
    channel_base = _check_channels(kw, source, "G")
    if kw["fmap_const"] not in (None, _nf(kw, 1)):
        raise UnsupportedTF1Pickle(f"{source}: G fmap_const={kw['fmap_const']}")
    beta = kw["dlatent_avg_beta"]
    embed = None
    if kw["label_size"]:
        embed = kw["label_fmaps"] if kw["label_fmaps"] is not None else kw["latent_size"]
    layer_features = kw["mapping_fmaps"]
    if layer_features is None:
        layer_features = kw["dlatent_size"]
    return dict(
        z_dim=kw["latent_size"],
        c_dim=kw["label_size"],
        w_dim=kw["dlatent_size"],
        img_resolution=kw["resolution"],
        img_channels=kw["num_channels"],
        mapping_kwargs=dict(
            num_layers=kw["mapping_layers"],
            embed_features=embed,
            layer_features=layer_features,
            activation=kw["mapping_nonlinearity"],
            lr_multiplier=kw["mapping_lrmul"],
            w_avg_beta=1.0 if beta is None else beta,
        ),
        synthesis_kwargs=dict(
            channel_base=channel_base,
            channel_max=kw["fmap_max"],
            num_fp16_res=kw["num_fp16_res"],
            conv_clamp=kw["conv_clamp"],
            architecture=kw["architecture"],
            resample_filter=kw["resample_kernel"],
            use_noise=kw["use_noise"],
            activation=kw["nonlinearity"],
        ),
    )


def convert_d_kwargs(static, flavor, source):
    """D static_kwargs -> ADA-PT Discriminator init_kwargs (legacy.py layout)."""
    defaults = dict(_COMMON_D, mbstd_group_size=_G_DEFAULTS[flavor]["mbstd_group_size"])
    kw = _merge(static, defaults, _D_IGNORED, _D_OFF, source, "D")
    channel_base = _check_channels(kw, source, "D")
    if _nf(kw, 0) != _nf(kw, 1):
        raise UnsupportedTF1Pickle(
            f"{source}: D 4x4/Dense0 has nf(0) = {_nf(kw, 0)} units but the "
            f"ADA-PT epilogue has channels(4) = {_nf(kw, 1)} (fmap_base "
            f"{kw['fmap_base']} < 2 x fmap_max {kw['fmap_max']}); this D "
            "cannot be expressed in the ADA-PT layout"
        )
    group, features = kw["mbstd_group_size"], kw["mbstd_num_features"]
    if flavor == "tf1" and group <= 1:  # TF1 skips the layer for group <= 1
        group, features = None, 0
    return dict(
        c_dim=kw["label_size"],
        img_resolution=kw["resolution"],
        img_channels=kw["num_channels"],
        architecture=kw["architecture"],
        channel_base=channel_base,
        channel_max=kw["fmap_max"],
        num_fp16_res=kw["num_fp16_res"],
        conv_clamp=kw["conv_clamp"],
        cmap_dim=kw["mapping_fmaps"],
        block_kwargs=dict(
            activation=kw["nonlinearity"],
            resample_filter=kw["resample_kernel"],
            freeze_layers=kw["freeze_layers"],
        ),
        mapping_kwargs=dict(
            num_layers=kw["mapping_layers"],
            embed_features=kw["mapping_fmaps"],
            layer_features=kw["mapping_fmaps"],
            activation=kw["nonlinearity"],
            lr_multiplier=kw["mapping_lrmul"],
        ),
        epilogue_kwargs=dict(
            mbstd_group_size=group,
            mbstd_num_channels=features,
            activation=kw["nonlinearity"],
        ),
    )


# ----------------------------------------------------------------------------
# Variables: a regex table that must claim every variable.


def _dense(x):  # [in, out] -> [out, in]
    return x.T


def _conv(x):  # [kh, kw, in, out] -> [out, in, kh, kw]
    return x.transpose(3, 2, 0, 1)


def _conv_flip(x):  # TF1 up-convs are correlations, ADA-PT's true convolutions
    return x[::-1, ::-1].transpose(3, 2, 0, 1)


def _plus_one(x):  # TF1 adds the 1 at run time, ADA-PT stores it in the bias
    return x + np.float32(1)


def _same(x):
    return x


def _noise_name(index):
    if index == 0:
        return "synthesis.b4.conv1.noise_const"
    res = 2 ** ((index + 5) // 2)
    return f"synthesis.b{res}.conv{0 if index % 2 else 1}.noise_const"


_LAYER_PARTS = {  # modulated layer sub-variables: (ADA-PT name, transform)
    "mod_weight": ("affine.weight", _dense),
    "mod_bias": ("affine.bias", _plus_one),
    "noise_strength": ("noise_strength", _same),
    "bias": ("bias", _same),
}


def _g_rule(name):
    """TF1 G name -> (ADA-PT name, transform), None = ignored, KeyError = unknown."""
    if name == "lod":
        return None
    if name == "dlatent_avg":
        return "mapping.w_avg", _same
    if m := re.fullmatch(r"mapping/Dense(\d+)/(weight|bias)", name):
        return f"mapping.fc{m[1]}.{m[2]}", _dense if m[2] == "weight" else _same
    if m := re.fullmatch(r"mapping/LabelEmbed/(weight|bias)", name):
        return f"mapping.embed.{m[1]}", _dense if m[1] == "weight" else _same
    if m := re.fullmatch(r"synthesis/noise(\d+)", name):
        return _noise_name(int(m[1])), lambda x: x[0, 0]
    if name == "synthesis/4x4/Const/const":
        return "synthesis.b4.const", lambda x: x[0]
    if m := re.fullmatch(r"synthesis/(\d+)x\1/(Conv|Conv0_up|Conv1|ToRGB|Skip)/(\w+)", name):
        res, layer, part = int(m[1]), m[2], m[3]
        layer = {"Conv": "conv1", "Conv0_up": "conv0", "Conv1": "conv1"}.get(layer, layer.lower())
        if (res == 4) != (m[2] == "Conv") and layer != "torgb":
            raise KeyError(name)
        prefix = f"synthesis.b{res}.{layer}"
        if part == "weight":
            flip = layer in ("conv0", "skip")
            return f"{prefix}.weight", _conv_flip if flip else _conv
        if part in _LAYER_PARTS and layer != "skip":
            ada, fn = _LAYER_PARTS[part]
            return f"{prefix}.{ada}", fn
    raise KeyError(name)


def _d_rule(name):
    if name == "lod":
        return None
    if m := re.fullmatch(r"(\d+)x\1/(FromRGB|Conv0|Conv1_down|Skip)/(weight|bias)", name):
        layer = {"FromRGB": "fromrgb", "Conv0": "conv0", "Conv1_down": "conv1"}.get(m[2], "skip")
        if int(m[1]) == 4 and layer != "fromrgb" or layer == "skip" and m[3] == "bias":
            raise KeyError(name)
        return f"b{m[1]}.{layer}.{m[3]}", _conv if m[3] == "weight" else _same
    if m := re.fullmatch(r"4x4/(Conv|Dense0)/(weight|bias)", name):
        layer = "conv" if m[1] == "Conv" else "fc"
        fn = (_conv if layer == "conv" else _dense) if m[2] == "weight" else _same
        return f"b4.{layer}.{m[2]}", fn
    if m := re.fullmatch(r"Output/(weight|bias)", name):
        return f"b4.out.{m[1]}", _dense if m[1] == "weight" else _same
    if m := re.fullmatch(r"LabelEmbed/(weight|bias)", name):
        return f"mapping.embed.{m[1]}", _dense if m[1] == "weight" else _same
    if m := re.fullmatch(r"Mapping(\d+)/(weight|bias)", name):
        return f"mapping.fc{m[1]}.{m[2]}", _dense if m[2] == "weight" else _same
    raise KeyError(name)


def convert_params(params, rule, source, what):
    state = collections.OrderedDict()
    unknown = []
    for name, value in params.items():
        try:
            target = rule(name)
        except KeyError:
            unknown.append(name)
            continue
        if target is None:
            continue
        ada_name, fn = target
        if ada_name in state:
            raise safe_pickle.LegacyFormatError(f"{source}: {what} {name} twice")
        state[ada_name] = np.array(fn(value), order="C")
    if unknown:
        hint = ""
        if any("LabelConcat" in n for n in unknown):
            hint = (
                " (a conditional TF1 StyleGAN2 network: its LabelConcat label "
                "input has no ADA-PT equivalent)"
            )
        elif any("_lod" in n for n in unknown):
            hint = " (a progressive-growing network of another layout)"
        raise UnsupportedTF1Pickle(
            f"{source}: {what} has TF1 variables with no ADA-PT counterpart: "
            f"{', '.join(unknown[:5])}{' ...' if len(unknown) > 5 else ''}{hint}"
        )
    return state


# ----------------------------------------------------------------------------
# The whole pickle.


def is_tf1_pickle(obj):
    return (
        isinstance(obj, tuple)
        and len(obj) == 3
        and all(isinstance(x, safe_pickle.TFNetworkState) for x in obj)
    )


def _convert_g(net, what, source):
    state = _state(net, what, source)
    func = state.get("build_func_name")
    if func not in _G_FUNCS:
        raise UnsupportedTF1Pickle(f"{source}: {what} is built by {func!r}, not G_main")
    synth = _component_func(state, "synthesis")
    if synth not in _G_SYNTHESIS and synth not in _PROGRESSIVE:
        raise UnsupportedTF1Pickle(
            f"{source}: {what} synthesis is built by {synth!r} (supported: "
            f"{', '.join(sorted(_G_SYNTHESIS))})"
        )
    flavor = _G_SYNTHESIS.get(synth, "tf1")
    static = _static_kwargs(state)
    if static.get("label_size", 0) and flavor == "tf1":
        raise UnsupportedTF1Pickle(
            f"{source}: {what} is a conditional TF1 StyleGAN2 generator "
            "(LabelConcat); its label input has no ADA-PT equivalent"
        )
    kwargs = convert_g_kwargs(static, flavor, source)
    rule = _g_rule
    if synth in _PROGRESSIVE:
        kwargs["synthesis_kwargs"]["architecture"] = "progressive"
        rule = tf1_progressive.revised_g_rule(kwargs["img_resolution"], _g_rule)
    params = convert_params(collect_params(net, what, source), rule, source, what)
    return ada_pickle.NetworkSpec("Generator", kwargs, params, "tf1")


def _convert_d(net, what, source):
    state = _state(net, what, source)
    func = state.get("build_func_name")
    if func not in _D_FUNCS and func not in _PROGRESSIVE:
        raise UnsupportedTF1Pickle(
            f"{source}: {what} is built by {func!r}, not D_stylegan2 / D_stylegan / D_main"
        )
    flavor = _D_FUNCS.get(func, "tf1")
    static = _static_kwargs(state)
    if static.get("label_size", 0) and flavor == "tf1":
        raise UnsupportedTF1Pickle(
            f"{source}: {what} is a conditional TF1 StyleGAN2 discriminator "
            "(label_size outputs); it has no ADA-PT equivalent"
        )
    kwargs = convert_d_kwargs(static, flavor, source)
    rule = _d_rule
    if func in _PROGRESSIVE:
        kwargs["architecture"] = "progressive"
        rule = tf1_progressive.stylegan_d_rule(kwargs["img_resolution"], _d_rule, _conv)
    params = convert_params(collect_params(net, what, source), rule, source, what)
    return ada_pickle.NetworkSpec("Discriminator", kwargs, params, "tf1")


def read_tf1_pickle(obj, source):
    """(G, D, Gs) of TF1 Network states -> dict(G=, D=, G_ema=) of NetworkSpec."""
    G, D, Gs = obj
    if _state(G, "G", source).get("build_func_name") in _SG1:  # config A / StyleGAN (v1)
        nets = dict(G=(G, "G", tf1_stylegan1.G_FUNCS), D=(D, "D", tf1_stylegan1.D_FUNCS))
        nets["G_ema"] = (Gs, "Gs", tf1_stylegan1.G_FUNCS)
        out = {}
        for key, (net, what, funcs) in nets.items():
            state = _state(net, what, source)
            if state.get("build_func_name") not in funcs:
                raise UnsupportedTF1Pickle(f"{source}: {what} is not built by {funcs[0]}")
            convert = tf1_stylegan1.convert_d if key == "D" else tf1_stylegan1.convert_g
            out[key] = convert(state, source, what)
        return out
    return dict(
        G=_convert_g(G, "G", source),
        D=_convert_d(D, "D", source),
        G_ema=_convert_g(Gs, "Gs", source),
    )
