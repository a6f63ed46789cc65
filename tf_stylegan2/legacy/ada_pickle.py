"""stylegan2-ada-pytorch network pickles -> constructor kwargs + numpy state dicts.

An ADA-PT pickle is a dict with 'G', 'D', 'G_ema' (torch modules pickled by
torch_utils.persistence), 'augment_pipe' and 'training_set_kwargs'. After the
restricted unpickler (safe_pickle.py) each module is a `PersistentObject` whose
state is the module's `__dict__`: `_parameters`, `_buffers`, `_modules`,
`_init_args`, `_init_kwargs`, ... This file turns one into a `NetworkSpec`:
the class name, the constructor kwargs as plain Python data and the state dict
named as torch's `named_parameters()` / `named_buffers()` ('mapping.fc0.weight').
"""

import collections
import dataclasses

import numpy as np

from tf_stylegan2.legacy import safe_pickle

# Positional parameter names of the ADA-PT constructors (training/networks.py),
# used only when a pickle recorded positional `_init_args`.
_POSITIONAL = {
    "Generator": (
        "z_dim",
        "c_dim",
        "w_dim",
        "img_resolution",
        "img_channels",
        "mapping_kwargs",
        "synthesis_kwargs",
    ),
    "Discriminator": (
        "c_dim",
        "img_resolution",
        "img_channels",
        "architecture",
        "channel_base",
        "channel_max",
        "num_fp16_res",
        "conv_clamp",
        "cmap_dim",
        "block_kwargs",
        "mapping_kwargs",
        "epilogue_kwargs",
    ),
}

# Which top-level entry must be which ADA-PT class, and one parameter every
# StyleGAN2 network of that class has (a StyleGAN3 pickle fails here, clearly).
_EXPECTED = {
    "G": ("Generator", "synthesis.b4.const"),
    "G_ema": ("Generator", "synthesis.b4.const"),
    "D": ("Discriminator", "b4.out.weight"),
}


@dataclasses.dataclass
class NetworkSpec:
    """One network read from an official pickle, in ADA-PT terms.

    Attributes:
        class_name: 'Generator' or 'Discriminator'.
        init_kwargs: ADA-PT constructor kwargs (plain dicts, lists, numbers,
            strings, None), as `Generator(**init_kwargs)` would take them.
        state: OrderedDict name -> float32/int numpy array, named as ADA-PT's
            `named_parameters()` + `named_buffers()` ('mapping.fc0.weight').
        origin: 'ada' or 'tf1'.
    """

    class_name: str
    init_kwargs: dict
    state: collections.OrderedDict
    origin: str = "ada"


def plain_data(value, where="kwargs"):
    """EasyDicts, tuples, numpy scalars ... -> plain dict / list / Python scalars."""
    if isinstance(value, dict):
        return {str(k): plain_data(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_data(v, where) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return value.item()
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf" and value.size <= 64:
        return value.tolist()  # e.g. a resample filter given as an array
    raise safe_pickle.LegacyFormatError(
        f"{where}: unexpected {type(value).__name__} in constructor arguments"
    )


def module_state(module, prefix=""):
    """PersistentObject tree -> OrderedDict of every parameter and buffer.

    Order as torch's state_dict(): a module's parameters, then its buffers,
    then its children depth first. Parameters registered as None are skipped,
    as named_parameters() does.
    """
    out = collections.OrderedDict()
    state = module.state
    if not isinstance(state, dict):
        raise safe_pickle.LegacyFormatError(f"{prefix or 'network'}: no module state")
    for group in ("_parameters", "_buffers"):
        for name, value in (state.get(group) or {}).items():
            if value is None:
                continue
            if not isinstance(value, np.ndarray):
                raise safe_pickle.LegacyFormatError(
                    f"{prefix}{name}: {type(value).__name__} instead of a tensor"
                )
            out[prefix + name] = np.asarray(value)
    for name, child in (state.get("_modules") or {}).items():
        if child is None:
            continue
        if not isinstance(child, safe_pickle.PersistentObject):
            raise safe_pickle.LegacyFormatError(
                f"{prefix}{name}: submodule of type {type(child).__name__} "
                "(only persistence-pickled modules are supported)"
            )
        out.update(module_state(child, f"{prefix}{name}."))
    return out


def init_kwargs(module):
    """The constructor kwargs persistence recorded, positional ones named."""
    args = module.state.get("_init_args") or ()
    kwargs = dict(module.state.get("_init_kwargs") or {})
    if args:
        names = _POSITIONAL.get(module.class_name, ())
        if len(args) > len(names):
            raise safe_pickle.LegacyFormatError(
                f"{module.class_name}: {len(args)} positional constructor "
                "arguments, cannot name them"
            )
        kwargs.update(zip(names, args))
    return plain_data(kwargs, f"{module.class_name} kwargs")


def network_spec(key, module, source):
    expected_class, probe = _EXPECTED[key]
    if not isinstance(module, safe_pickle.PersistentObject):
        raise safe_pickle.LegacyFormatError(
            f"{source}: '{key}' is a {type(module).__name__}, not a persistence-pickled network"
        )
    if module.class_name != expected_class:
        raise safe_pickle.LegacyFormatError(
            f"{source}: '{key}' is a {module.class_name}, expected the "
            f"stylegan2-ada-pytorch {expected_class}"
        )
    state = module_state(module)
    if probe not in state:
        raise safe_pickle.LegacyFormatError(
            f"{source}: '{key}' has no {probe}: not a StyleGAN2 network "
            "(StyleGAN3 and other variants are not supported)"
        )
    return NetworkSpec(module.class_name, init_kwargs(module), state, "ada")


def is_ada_pickle(obj):
    return isinstance(obj, dict) and any(
        isinstance(obj.get(k), safe_pickle.PersistentObject) for k in _EXPECTED
    )


def read_ada_pickle(obj, source):
    """Top-level dict of an ADA-PT pickle -> dict(G=, D=, G_ema=) of NetworkSpec.

    Networks absent from the pickle (or None) are left out.
    """
    nets = {}
    for key in ("G", "D", "G_ema"):
        if obj.get(key) is not None:
            nets[key] = network_spec(key, obj[key], source)
    return nets
