"""Official ALAE state dicts (names of model.py's Model submodules, torch layouts) -> our ALAE.

ALAE's equalized learning rate is implicit: its forward uses the stored weights as they are and
LREQAdam scales the steps by c = gain / sqrt(fan_in) * lrmul; ours scales the weights at run time
(as StyleGAN), so a weight imports as w / c and a bias of an lrmul layer as b / lrmul (the
fixture README, fact 1). Every official name must be claimed and every variable filled.
"""

import re

import numpy as np

_HWIO = (2, 3, 1, 0)  # torch conv [out, in, kh, kw] -> [kh, kw, in, out]


def _targets(model):
    """{official name: (variable, transform, coef)} for `model`; coef = the official
    lr_equalization_coef, which is our run-time multiplier (1 for plain parameters)."""
    out = {}

    def conv(layer, fused_transposed=False):
        g = layer.weight_gain
        perm = (2, 3, 0, 1) if fused_transposed else _HWIO  # ConvTranspose2d [in, out, kh, kw]
        return (lambda a: np.transpose(a, perm) / g), g

    def dense(layer):
        return (lambda a: a.T / layer.weight_gain), layer.weight_gain

    def bias(layer):
        return (lambda a: a / layer.bias_gain), layer.bias_gain

    flat = ((lambda a: a.reshape(-1)), 1.0)

    for k in range(model.mapping_layers):
        fc = getattr(model, f"f_fc{k}")
        out[f"mapping_f.map_blocks.{k}.fc.weight"] = (fc.weight, *dense(fc))
        out[f"mapping_f.map_blocks.{k}.fc.bias"] = (fc.bias, *bias(fc))
    for k in range(3):
        fc = getattr(model, f"d_fc{k}")
        out[f"mapping_d.map_blocks.{k}.weight"] = (fc.weight, *dense(fc))
        out[f"mapping_d.map_blocks.{k}.bias"] = (fc.bias, *bias(fc))
    for i in range(model.layer_count):
        if model.g2 is not None:  # the StyleGAN2 decoder has no official tensors
            break
        p = f"decoder.decode_block.{i}."
        a, b = getattr(model, f"decode_{i}_a"), getattr(model, f"decode_{i}_b")
        if i == 0:
            out["decoder.const"] = (a.const, lambda x: x[0].transpose(1, 2, 0), 1.0)
        else:
            fused = a.conv.resample == "up" and a.resolution >= 128
            out[p + "conv_1.weight"] = (a.conv.weight, *conv(a.conv, fused))
        out[p + "conv_2.weight"] = (b.conv.weight, *conv(b.conv))
        for n, layer in (("1", a), ("2", b)):
            out[p + f"noise_weight_{n}"] = (layer.noise_strength, *flat)
            out[p + f"bias_{n}"] = (layer.bias, *flat)
            out[p + f"style_{n}.weight"] = (layer.style.weight, *dense(layer.style))
            out[p + f"style_{n}.bias"] = (layer.style.bias, *bias(layer.style))
        rgb = getattr(model, f"to_rgb_{i}")
        out[f"decoder.to_rgb.{i}.to_rgb.weight"] = (rgb.weight, *conv(rgb))
        out[f"decoder.to_rgb.{i}.to_rgb.bias"] = (rgb.bias, *flat)
    for i in range(model.layer_count):
        frgb = getattr(model, f"from_rgb_{i}")
        out[f"encoder.from_rgb.{i}.from_rgb.weight"] = (frgb.weight, *conv(frgb))
        out[f"encoder.from_rgb.{i}.from_rgb.bias"] = (frgb.bias, *flat)
        e, p = getattr(model, f"encode_{i}"), f"encoder.encode_block.{i}."
        out[p + "conv_1.weight"] = (e.conv_1.weight, *conv(e.conv_1))
        out[p + "conv_2.weight"] = (e.conv_2.weight, *conv(e.conv_2))
        for n in "12":
            out[p + f"bias_{n}"] = (getattr(e, f"bias_{n}"), *flat)
            style = getattr(e, f"style_{n}")
            out[p + f"style_{n}.weight"] = (style.weight, *dense(style))
            out[p + f"style_{n}.bias"] = (style.bias, *bias(style))
    out["dlatent_avg.buff"] = (model.dlatent_avg, lambda a: a, None)
    return out


_BLUR = re.compile(r"^(decoder\.decode_block|encoder\.encode_block)\.\d+\.blur\.weight$")


def official_variables(model):
    """{official name: (variable, coef)} of every trainable tensor (dlatent_avg excluded)."""
    return {n: (t[0], t[2]) for n, t in _targets(model).items() if t[2] is not None}


def equalization_coefs(model):
    """{variable path: coef} for every trainable variable: LREQAdam's lr_equalization_coef
    (official lreq.py), i.e. our run-time multiplier of that variable."""
    coefs = {t[0].path: t[2] for t in _targets(model).values() if t[2] is not None}
    if model.g2 is not None:  # StyleGAN2's layers: the optimizer's epsilon unscaled
        coefs.update({v.path: 1.0 for v in model.g2.trainable_variables})
    missing = [v.path for v in model.trainable_variables if v.path not in coefs]
    if missing:
        raise ValueError(f"no equalization coefficient for {missing[:3]}")
    return coefs


def apply_official_state(model, state, source="state"):
    """Assign {official name: numpy array} (e.g. 'decoder.const',
    'mapping_f.map_blocks.0.fc.weight') to `model`. Raises ValueError naming an unknown name, a
    missing one or a shape that does not fit; nothing is assigned then. The blur buffers must be
    the [1, 2, 1] filter."""
    if model.g2 is not None:
        raise ValueError(f"{source}: the official ALAE has no StyleGAN2 decoder")
    targets = _targets(model)
    f = np.outer([1, 2, 1], [1, 2, 1]) / 16.0
    problems, assign = [], []
    for name, value in state.items():
        value = np.asarray(value, np.float32)
        if _BLUR.match(name):
            if not np.allclose(value, f[None, None].repeat(value.shape[0], 0), atol=1e-7):
                problems.append(f"{name}: not the [1, 2, 1] blur")
            continue
        if name not in targets:
            problems.append(f"{name}: no such tensor in this ALAE")
            continue
        var, fn, _ = targets[name]
        converted = fn(value)
        if tuple(converted.shape) != tuple(var.shape):
            problems.append(f"{name}: shape {value.shape} does not fit this ALAE")
            continue
        assign.append((var, converted))
    problems += [f"{n}: missing from {source}" for n in targets if n not in state]
    if problems:
        raise ValueError(f"{source}: " + "; ".join(problems[:4]))
    for var, value in assign:
        var.assign(value)
    return model
