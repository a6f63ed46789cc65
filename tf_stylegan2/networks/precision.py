"""Precision of a network: the names users give (fp32, bf16, fp16, fp64, auto), the Keras dtype
policies behind them, and a copy of a network in another policy with the same weights.

With 'bf16' or 'fp16' the networks take a mixed policy: weights stay float32, and only the blocks
of the top `num_fp16_res` resolutions compute in the half dtype (ADA-PT training/networks.py
SynthesisNetwork / Discriminator `use_fp16`); see docs/NUMERICS.md.
"""

import keras

PRECISIONS = {
    "fp32": "float32",
    "bf16": "mixed_bfloat16",
    "fp16": "mixed_float16",
    "fp64": "float64",
}
CHOICES = tuple(PRECISIONS) + ("auto",)


def cpu_has_bfloat16(cpuinfo="/proc/cpuinfo"):
    """True when the CPU has native bfloat16 arithmetic (AVX-512 BF16 or AMX-BF16 on x86; the
    flags Linux lists in /proc/cpuinfo). False where the file cannot be read."""
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        return False
    return False


def resolve_precision(name, gpus=None):
    """'fp32' | 'bf16' | 'fp16' | 'fp64' | 'auto' -> the Keras dtype policy name.

    auto: float16 on GPUs (ADA-PT's choice), bfloat16 on CPUs with native bfloat16, else float32.
    `gpus`: the number of visible GPUs (None: ask TensorFlow).
    """
    if name == "auto":
        if gpus is None:
            import tensorflow as tf

            gpus = len(tf.config.list_physical_devices("GPU"))
        if gpus:
            return PRECISIONS["fp16"]
        return PRECISIONS["bf16"] if cpu_has_bfloat16() else PRECISIONS["fp32"]
    if name not in PRECISIONS:
        raise ValueError(f"unknown precision {name!r}: choose one of {', '.join(CHOICES)}")
    return PRECISIONS[name]


def precision_name(policy):
    """Keras policy (or its name) -> 'fp32' | 'bf16' | 'fp16' | 'fp64'."""
    policy_name = keras.dtype_policies.get(policy).name
    for short, full in PRECISIONS.items():
        if full == policy_name:
            return short
    raise ValueError(f"dtype policy {policy_name!r} is not one of {', '.join(PRECISIONS)}")


def with_policy(net, policy):
    """`net` (Generator or Discriminator) rebuilt under another dtype policy with the same weights
    (cast when the variable dtype changes, e.g. float64 <-> float32); `net` itself when its policy
    is already `policy`. Attributes outside the config (a Generator's label_names are in it) are
    not copied."""
    policy = keras.dtype_policies.get(policy)
    if net.dtype_policy.name == policy.name:
        return net
    config = dict(net.get_config(), dtype=keras.dtype_policies.serialize(policy))
    other = type(net).from_config(config)
    copy_weights(net, other)
    return other


def copy_weights(src, dst):
    """Assign every weight of `src` to the same weight of `dst` (same architecture, any policy)."""
    if [v.path for v in src.weights] != [v.path for v in dst.weights]:
        raise ValueError(f"{src.name}: the weights differ between the two networks")
    for a, b in zip(src.weights, dst.weights):
        b.assign(keras.ops.cast(a, b.dtype))


def continue_in(policy, precision):
    """The policy for continuing a run trained under `policy` in `precision`: fp32 and bf16
    share float32 weights and optimizer states, so a checkpoint of one fits the other; fp16 runs
    also checkpoint their loss scale, and fp64 runs float64 weights, so each only continues
    itself. Raises ValueError otherwise."""
    new = resolve_precision(precision)

    def state(name):  # what a checkpoint of this policy holds
        return (
            "float16" if name == "mixed_float16" else keras.dtype_policies.get(name).variable_dtype
        )

    if state(new) != state(policy):
        raise ValueError(
            f"the run trains in {precision_name(policy)}; its checkpoint cannot continue in "
            f"{precision_name(new)} (fp32 and bf16 can take each other's; fp16 and fp64 only "
            f"their own)"
        )
    return new
