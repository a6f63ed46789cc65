"""Bias + activation + gain + optional clamp (ADA-PT torch_utils/ops/bias_act.py). NHWC: the bias is
on the last axis."""

import numpy as np
import tensorflow as tf


@tf.custom_gradient
def lrelu(x):
    """Leaky ReLU (slope 0.2) whose gradient reads the output, not the input, as NVIDIA's
    torch_utils/ops/bias_act.py does (`ref='y'`). A gradient that reads the pre-activation makes
    grappler's remapper fail on the training graphs (it fuses conv + bias + LeakyRelu and drops
    the bias output that LeakyReluGrad still reads; "remapper failed ... missing node") and then
    skip every fusion of that graph. y > 0 exactly when x > 0, so the values are the same."""
    y = tf.nn.leaky_relu(x, alpha=0.2)

    def grad(dy):
        return tf.where(y > 0, dy, dy * 0.2)  # LeakyReluGrad's values

    return y, grad


# name -> (function, default gain)
ACTIVATIONS = {
    "linear": (lambda x: x, 1.0),
    "relu": (tf.nn.relu, float(np.sqrt(2))),
    "lrelu": (lrelu, float(np.sqrt(2))),
    "tanh": (tf.math.tanh, 1.0),
    "sigmoid": (tf.math.sigmoid, 1.0),
    "elu": (tf.nn.elu, 1.0),
    "selu": (tf.nn.selu, 1.0),
    "softplus": (tf.math.softplus, 1.0),
    "swish": (tf.nn.silu, float(np.sqrt(2))),
}


def def_gain(act):
    return ACTIVATIONS[act][1]


def bias_act(x, b=None, act="linear", gain=None, clamp=None):
    """`y = clamp(act(x + b) * gain, -clamp, clamp)`.

    Args:
        x: [..., C] tensor (channels last).
        b: [C] bias or None.
        act: one of ACTIVATIONS.
        gain: None = the activation's default gain (sqrt 2 for lrelu, 1 for linear).
        clamp: None or a non-negative float.
    """
    x = tf.convert_to_tensor(x)
    fn, default = ACTIVATIONS[act]
    gain = default if gain is None else gain
    if b is not None:
        x = x + tf.cast(b, x.dtype)
    x = fn(x)
    if not (isinstance(gain, (int, float)) and gain == 1):
        x = x * tf.cast(gain, x.dtype)
    if clamp is not None:
        x = tf.clip_by_value(x, -tf.cast(clamp, x.dtype), tf.cast(clamp, x.dtype))
    return x
