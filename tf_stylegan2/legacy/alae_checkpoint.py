"""Official ALAE checkpoints (`Checkpointer.save` of podgorskiy/ALAE: a torch.save file holding
{'models': {'generator', 'discriminator' (= E), 'mapping_tl' (= D), 'mapping_fl' (= F),
'dlatent_avg', and the averaged '*_s' copies}, 'auxiliary': ...}) -> our ALAE models, through the
project's safe torch-file reader (no PyTorch, nothing in the file is run). The configuration is
inferred from the tensors."""

import re

from fileio import torch_files
from tf_stylegan2.legacy.safe_pickle import LegacyFormatError

_SUBNETS = {"generator": "decoder", "discriminator": "encoder", "mapping_tl": "mapping_d",
            "mapping_fl": "mapping_f"}  # fmt: skip


def _count(names, pattern):
    found = {int(m[1]) for n in names if (m := re.match(pattern, n))}
    return max(found) + 1 if found else 0


def infer_config(models, source):
    """ALAE kwargs from the tensors of the 'generator' and 'mapping_fl' state dicts."""
    g, f = models.get("generator"), models.get("mapping_fl")
    if not isinstance(g, dict) or not isinstance(f, dict):
        raise LegacyFormatError(f"{source}: not an ALAE checkpoint (no generator / mapping_fl)")
    layer_count = _count(g, r"decode_block\.(\d+)\.")
    mapping_layers = _count(f, r"map_blocks\.(\d+)\.")
    if not layer_count or not mapping_layers or "const" not in g:
        raise LegacyFormatError(f"{source}: not an ALAE checkpoint (no decoder blocks)")
    channels = [g[f"decode_block.{i}.conv_2.weight"].shape[0] for i in range(layer_count)]
    return dict(
        layer_count=layer_count,
        startf=int(channels[-1]),
        maxf=int(max(channels)),
        latent_size=int(f["map_blocks.0.fc.weight"].shape[1]),
        mapping_layers=mapping_layers,
        channels=int(g["to_rgb.0.to_rgb.weight"].shape[0]),
    )


def _state(models, suffix):
    state = {}
    for key, prefix in _SUBNETS.items():
        for name, value in (models.get(key + suffix) or {}).items():
            state[f"{prefix}.{name}"] = value
    state["dlatent_avg.buff"] = models["dlatent_avg"]["buff"]  # the training model's (no _s copy)
    return state


def models_from_checkpoint(data, source):
    """The object of an ALAE checkpoint -> {'ALAE': model, 'ALAE_ema': averaged model} (ALAE_ema
    absent when the file has no '_s' copies). A tensor that does not fit raises ValueError."""
    from tf_stylegan2.networks.alae import ALAE, apply_official_state

    models = data.get("models") if isinstance(data, dict) else None
    if not isinstance(models, dict):
        raise LegacyFormatError(f"{source}: not an ALAE checkpoint (no 'models' entry)")
    if "buff" not in (models.get("dlatent_avg") or {}):
        raise LegacyFormatError(f"{source}: not an ALAE checkpoint (no dlatent_avg)")
    config = infer_config(models, source)
    out = {"ALAE": apply_official_state(ALAE(**config), _state(models, ""), source)}
    if all(k + "_s" in models for k in _SUBNETS):
        # The averaged model is the one the official demos sample, with defaults.py's truncation
        # (TRUNCATIOM_PSI 0.7, TRUNCATIOM_CUTOFF 8); the file does not store the config.
        ema = ALAE(**config, truncation_psi=0.7, truncation_cutoff=8)
        out["ALAE_ema"] = apply_official_state(ema, _state(models, "_s"), source)
    return out


def load_checkpoint(path):
    """An official ALAE `.pth` -> {'ALAE': ..., 'ALAE_ema': ...}."""
    try:
        data = torch_files.read_pth(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    return models_from_checkpoint(data, str(path))
