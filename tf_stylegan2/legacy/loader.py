"""Official network pickles (TF1 or stylegan2-ada-pytorch) -> our Keras networks.

`read_network_pickle(path)` only reads: it returns, per network, the ADA-PT
constructor kwargs and the ADA-PT-named numpy state dict (a `NetworkSpec`).
`load_pickle(path)` then builds our Generator / Discriminator from them.
Neither imports torch or TensorFlow 1, and nothing stored in the pickle is
executed (see safe_pickle.py).
"""

import pathlib
import pickle

from tf_stylegan2.legacy import ada_pickle, safe_pickle, tf1_pickle


def _unpickle(path):
    source = str(path)
    try:
        data = pathlib.Path(path).read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{source}: no such file") from None
    except IsADirectoryError:
        raise safe_pickle.LegacyFormatError(f"{source}: is a directory") from None
    try:
        return safe_pickle.load_any(data, source)
    except (safe_pickle.PickleRefusedError, safe_pickle.LegacyFormatError) as e:
        if str(e).startswith(source + ":"):
            raise
        raise type(e)(f"{source}: {e}") from None  # an embedded torch storage
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
        raise safe_pickle.LegacyFormatError(
            f"{source}: not a readable pickle ({type(e).__name__}: {e})"
        ) from None
    except (IndexError, KeyError, AttributeError, MemoryError, OverflowError, RecursionError) as e:
        raise safe_pickle.LegacyFormatError(
            f"{source}: corrupt pickle ({type(e).__name__}: {e})"
        ) from None


def read_network_pickle(path):
    """An official network pickle -> dict(G=, D=, G_ema=) of `NetworkSpec`.

    Supports stylegan2-ada-pytorch pickles (dict of persistence-pickled modules)
    and TF1 StyleGAN2 / StyleGAN2-ADA-TF pickles (tuple G, D, Gs). Raises
    `PickleRefusedError` for a pickle naming any global outside the known
    stand-ins, `LegacyFormatError` for anything that is not such a pickle,
    FileNotFoundError for a missing file.
    """
    obj = _unpickle(path)
    source = str(path)
    try:
        nets = _read(obj, source)
    except safe_pickle.LegacyFormatError:
        raise
    except (AttributeError, TypeError, KeyError, IndexError, ValueError, RecursionError) as e:
        raise safe_pickle.LegacyFormatError(
            f"{source}: malformed network pickle ({type(e).__name__}: {e})"
        ) from None
    if not nets:
        raise safe_pickle.LegacyFormatError(f"{source}: the pickle holds no network")
    return nets


def _read(obj, source):
    if ada_pickle.is_ada_pickle(obj):
        return ada_pickle.read_ada_pickle(obj, source)
    if tf1_pickle.is_tf1_pickle(obj):
        return tf1_pickle.read_tf1_pickle(obj, source)
    raise safe_pickle.LegacyFormatError(
        f"{source}: unknown pickle content ({_describe(obj)}); expected a "
        "stylegan2-ada-pytorch dict with G/D/G_ema or a TF1 tuple (G, D, Gs)"
    )


def _describe(obj):
    if isinstance(obj, dict):
        keys = ", ".join(repr(k) for k in list(obj)[:6])
        return f"a dict with keys {keys}"
    if isinstance(obj, (tuple, list)):
        return f"a {type(obj).__name__} of {len(obj)} items"
    return f"a {type(obj).__name__}"


def _fold_layer_kwargs(init_kwargs):
    """ADA-PT SynthesisNetwork forwards unknown kwargs down to every SynthesisLayer, and
    legacy.py writes `activation` / `use_noise` at that level: move them to `layer_kwargs`."""
    synthesis = dict(init_kwargs.get("synthesis_kwargs") or {})
    layer = {k: synthesis.pop(k) for k in ("activation", "use_noise") if k in synthesis}
    if not layer:
        return init_kwargs
    synthesis["layer_kwargs"] = dict(synthesis.get("layer_kwargs") or {}, **layer)
    return dict(init_kwargs, synthesis_kwargs=synthesis)


def build_network(spec):
    """NetworkSpec -> our Keras Generator / Discriminator holding its weights."""
    from tf_stylegan2.legacy import ada_state, tf1_stylegan1
    from tf_stylegan2.networks import BasicDiscriminator, Discriminator, Generator

    if spec.origin == "sg1":  # config A / StyleGAN (v1): our own layout, built as is
        classes = {"Generator": Generator, "BasicDiscriminator": BasicDiscriminator}
        net = classes[spec.class_name](**spec.init_kwargs)
        return tf1_stylegan1.apply_state(net, spec.state, spec.class_name)

    classes = {"Generator": Generator, "Discriminator": Discriminator}
    kwargs = ada_state.ada_kwargs_to_ours(_fold_layer_kwargs(spec.init_kwargs))
    net = classes[spec.class_name](**kwargs)
    ada_state.apply_ada_state(net, spec.state)
    return net


def load_pickle(path):
    """An official network pickle -> dict(G=, D=, G_ema=) of our Keras networks.

    G_ema is the EMA generator (TF1 `Gs`); it is what to sample from. A D
    converted from a TF1 pickle keeps TF1's minibatch-stddev group of 4.
    """
    return {key: build_network(spec) for key, spec in read_network_pickle(path).items()}
