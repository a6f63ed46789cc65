"""Shared test helpers: the Keras layer contract (`assert_layer_contract`), official-pickle
fixtures, TF1 Network states, a run's latest checkpoint as arrays (`checkpoint_state`)."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tf_stylegan2.legacy import safe_pickle

from conftest import shared_path


@keras.saving.register_keras_serializable(package="tf_stylegan2_tests")
class _Holder(keras.Model):
    """Wraps one layer so that a plain Layer can go through a .keras save/load."""

    def __init__(self, inner, **kwargs):
        super().__init__(**kwargs)
        self.inner = (
            inner
            if isinstance(inner, keras.layers.Layer)
            else keras.saving.deserialize_keras_object(inner)
        )
        self.built = True

    def call(self, *args, **kwargs):
        return self.inner(*args, **kwargs)

    def get_config(self):
        config = super().get_config()
        config["inner"] = keras.saving.serialize_keras_object(self.inner)
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _outputs(layer, args, kwargs):
    out = layer(*args, **kwargs)
    return [np.asarray(t) for t in tf.nest.flatten(out) if t is not None]


def _assert_same(a, b, what, atol):
    assert len(a) == len(b), f"{what}: {len(a)} outputs vs {len(b)}"
    for x, y in zip(a, b):
        assert x.shape == y.shape, f"{what}: shape {x.shape} vs {y.shape}"
        np.testing.assert_allclose(x, y, rtol=0, atol=atol, err_msg=what)


def assert_layer_contract(
    cls,
    init_kwargs,
    call_args,
    call_kwargs=None,
    expected_output_shape=None,
    num_trainable=None,
    num_non_trainable=None,
    tmp_path=None,
    atol=0.0,
):
    """Check the Keras contract of `layer = cls(**init_kwargs)`, `layer(*call_args, **call_kwargs)`.

    - weights exist after build() alone, equal those after a call, and match the expected counts;
    - get_config() holds every init kwarg and from_config() + set_weights() reproduces the outputs;
    - (with tmp_path) a .keras save/load round trip reproduces the outputs.
    Outputs must be deterministic for the given call (e.g. noise_mode='const').
    Returns the layer.
    """
    call_kwargs = dict(call_kwargs or {})
    layer = cls(**init_kwargs)
    out = _outputs(layer, call_args, call_kwargs)
    assert layer.built, f"{cls.__name__} is not built after a call"
    if expected_output_shape is not None:
        assert tuple(out[0].shape) == tuple(expected_output_shape), (
            out[0].shape,
            expected_output_shape,
        )
    if num_trainable is not None:
        assert len(layer.trainable_weights) == num_trainable, [
            w.path for w in layer.trainable_weights
        ]
    if num_non_trainable is not None:
        assert len(layer.non_trainable_weights) == num_non_trainable, [
            w.path for w in layer.non_trainable_weights
        ]
    # build() alone (no call) creates every weight: sizes come from the constructor, as in ADA-PT.
    fresh = cls(**init_kwargs)
    fresh.build(None)
    assert [(w.path.split("/", 1)[-1], tuple(w.shape)) for w in fresh.weights] == [
        (w.path.split("/", 1)[-1], tuple(w.shape)) for w in layer.weights
    ], f"{cls.__name__}: build() alone made different weights than a call"
    again = _outputs(layer, call_args, call_kwargs)
    _assert_same(out, again, f"{cls.__name__}: repeated call", 0.0)

    config = layer.get_config()
    for key, value in init_kwargs.items():
        assert key in config, f"{cls.__name__}.get_config() lacks {key!r}"
    clone = cls.from_config(config)
    _outputs(clone, call_args, call_kwargs)  # builds
    assert [tuple(w.shape) for w in clone.weights] == [tuple(w.shape) for w in layer.weights]
    clone.set_weights(layer.get_weights())
    _assert_same(
        out,
        _outputs(clone, call_args, call_kwargs),
        f"{cls.__name__}: from_config round trip",
        atol,
    )
    assert cls.from_config(clone.get_config()).get_config() == config

    if tmp_path is not None:
        holder = _Holder(layer)
        path = str(tmp_path / f"{cls.__name__}.keras")
        holder.save(path)
        loaded = keras.saving.load_model(path, compile=False)
        assert type(loaded.inner) is cls
        _assert_same(
            out,
            _outputs(loaded.inner, call_args, call_kwargs),
            f"{cls.__name__}: .keras round trip",
            atol,
        )
    return layer


# Official pickles and their fixtures (test_legacy*.py).


def ada_fixture():
    folder = shared_path("fixtures", "ada_config_S")
    return folder / "config_S.pkl", np.load(folder / "fixture_S.npz")


def tf1_fixture():
    folder = shared_path("fixtures", "tf1_small")
    return folder / "tf1_small.pkl", np.load(folder / "tf1_small_expected.npz")


def networks_or_skip():
    try:
        from tf_stylegan2.legacy import ada_state  # noqa: F401
        from tf_stylegan2.networks import Generator  # noqa: F401
    except ImportError as e:
        pytest.skip(f"networks not importable yet: {e}")


def nchw(x):
    return np.transpose(np.asarray(x), (0, 3, 1, 2))


def nhwc(x):
    return np.transpose(np.asarray(x), (0, 2, 3, 1))


def assert_close(got, ref, what, rel=1e-4):
    """max |got - ref| <= rel * max(1, max |ref|) (issue 2's tolerance)."""
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    assert got.shape == ref.shape, what
    err = np.max(np.abs(got - ref))
    assert err <= rel * max(1.0, np.max(np.abs(ref))), f"{what}: max abs err {err:.3g}"


def assert_rel(got, ref, what, rel=1e-4):
    """Relative error on logits: max |got - ref| <= rel * max |ref|."""
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    assert got.shape == ref.shape, what
    err = np.max(np.abs(got - ref))
    assert err <= rel * np.max(np.abs(ref)), f"{what}: max abs err {err:.3g}"


class Reduce:
    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def touch_cmd(marker):
    return f"touch {marker}"


def tf1_state(name, func, static, variables, components=None, version=4):
    net = safe_pickle.TFNetworkState()
    net.__setstate__(
        dict(
            version=version,
            name=name,
            static_kwargs=static,
            components=components or {},
            build_module_src="# placeholder",
            build_func_name=func,
            variables=variables,
        )
    )
    return net


def tiny_generator(c_dim, seed):
    """A tiny 16x16 RGB generator with fixed random weights, noise strengths 0.5 and a non-zero
    w_avg, so that truncation and noise make a difference."""
    from tf_stylegan2.networks import Generator, presets

    keras.utils.set_random_seed(seed)
    G = Generator(**presets.network_kwargs("tiny", 16, 3, c_dim)[0])
    for v in G.synthesis.weights:
        if "noise_strength" in v.path:
            v.assign(0.5)
    G.mapping.w_avg.assign(np.random.RandomState(c_dim).randn(G.w_dim).astype(np.float32) * 0.3)
    return G


# ----------------------------------------------------------------------------
# TF1 StyleGAN2 Network states (G_main / D_stylegan2) of any architecture, filled with random
# values: variable lists built from TF1 networks_stylegan2.py's shape rules.


def tf1_g_variables(rng, res, fmap_base, fmap_max, arch, z_dim, w_dim, layers):
    def nf(stage):
        return int(np.clip(int(fmap_base / 2.0**stage), 1, fmap_max))

    log2 = int(np.log2(res))
    num_ws = 2 * log2 - 2
    rnd = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    mapping = []
    for i in range(layers):
        mapping += [
            (f"Dense{i}/weight", rnd(z_dim if i == 0 else w_dim, w_dim) * 100),
            (f"Dense{i}/bias", rnd(w_dim)),
        ]
    syn = [
        (f"noise{i}", rnd(1, 1, 2 ** ((i + 5) // 2), 2 ** ((i + 5) // 2)))
        for i in range(num_ws - 1)
    ]
    syn.append(("4x4/Const/const", rnd(1, nf(1), 4, 4)))

    def layer(scope, cin, cout, k=3, noise=True):
        out = [
            (f"{scope}/weight", rnd(k, k, cin, cout)),
            (f"{scope}/mod_weight", rnd(w_dim, cin)),
            (f"{scope}/mod_bias", rnd(cin) * 0.5),
        ]
        if noise:
            out.append((f"{scope}/noise_strength", np.float32(rng.standard_normal() * 0.5)))
        return out + [(f"{scope}/bias", rnd(cout) * 0.2)]

    syn += layer("4x4/Conv", nf(1), nf(1))
    if arch == "skip":
        syn += layer("4x4/ToRGB", nf(1), 3, k=1, noise=False)
    for r in range(3, log2 + 1):
        R = f"{2**r}x{2**r}"
        syn += layer(f"{R}/Conv0_up", nf(r - 2), nf(r - 1)) + layer(
            f"{R}/Conv1", nf(r - 1), nf(r - 1)
        )
        if arch == "resnet":
            syn.append((f"{R}/Skip/weight", rnd(1, 1, nf(r - 2), nf(r - 1))))
        if arch == "skip" or r == log2:
            syn += layer(f"{R}/ToRGB", nf(r - 1), 3, k=1, noise=False)
    own = [("lod", np.float32(0)), ("dlatent_avg", rnd(w_dim))]
    static = dict(
        num_channels=3,
        resolution=res,
        label_size=0,
        fmap_base=fmap_base,
        fmap_max=fmap_max,
        latent_size=z_dim,
        dlatent_size=w_dim,
        mapping_layers=layers,
        mapping_fmaps=w_dim,
        architecture=arch,
    )
    comps = {
        "synthesis": tf1_state("G_synthesis", "G_synthesis_stylegan2", static, syn),
        "mapping": tf1_state(
            "G_mapping", "G_mapping", dict(static, dlatent_broadcast=num_ws), mapping
        ),
    }
    return tf1_state("Gs", "G_main", static, own, comps)


def tf1_d_variables(rng, res, fmap_base, fmap_max, arch):
    def nf(stage):
        return int(np.clip(int(fmap_base / 2.0**stage), 1, fmap_max))

    log2 = int(np.log2(res))
    rnd = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    out = []
    for r in range(log2, 2, -1):
        R = f"{2**r}x{2**r}"
        if arch == "skip" or r == log2:
            out += [
                (f"{R}/FromRGB/weight", rnd(1, 1, 3, nf(r - 1))),
                (f"{R}/FromRGB/bias", rnd(nf(r - 1))),
            ]
        out += [
            (f"{R}/Conv0/weight", rnd(3, 3, nf(r - 1), nf(r - 1))),
            (f"{R}/Conv0/bias", rnd(nf(r - 1))),
            (f"{R}/Conv1_down/weight", rnd(3, 3, nf(r - 1), nf(r - 2))),
            (f"{R}/Conv1_down/bias", rnd(nf(r - 2))),
        ]
        if arch == "resnet":
            out.append((f"{R}/Skip/weight", rnd(1, 1, nf(r - 1), nf(r - 2))))
    if arch == "skip":
        out += [("4x4/FromRGB/weight", rnd(1, 1, 3, nf(1))), ("4x4/FromRGB/bias", rnd(nf(1)))]
    out += [
        ("4x4/Conv/weight", rnd(3, 3, nf(1) + 1, nf(1))),
        ("4x4/Conv/bias", rnd(nf(1))),
        ("4x4/Dense0/weight", rnd(16 * nf(1), nf(0))),
        ("4x4/Dense0/bias", rnd(nf(0))),
        ("Output/weight", rnd(nf(0), 1)),
        ("Output/bias", rnd(1)),
    ]
    static = dict(
        num_channels=3,
        resolution=res,
        label_size=0,
        fmap_base=fmap_base,
        fmap_max=fmap_max,
        architecture=arch,
    )
    return tf1_state("D", "D_stylegan2", static, out)


def checkpoint_state(run_dir, worker=0):
    """{name: array} of the latest checkpoint: networks, EMA, optimizers, pl_mean, RNG, counters."""
    path = tf.train.latest_checkpoint(os.path.join(run_dir, "checkpoints", f"worker{worker}"))
    reader = tf.train.load_checkpoint(path)
    names = [
        n
        for n in reader.get_variable_to_shape_map()
        if not n.startswith(("data/", "data_r", "save_counter", "_CHECKPOINTABLE"))  # not input
        and "OBJECT_GRAPH" not in n
    ]
    return {n: reader.get_tensor(n) for n in names}
