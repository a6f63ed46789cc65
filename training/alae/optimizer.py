"""LREQAdam (official ALAE custom_adam.py), for our run-time-scaled weights.

The official step on a stored parameter p with coefficient c (lreq.py lr_equalization_coef) is
    v = beta_2 v + (1 - beta_2) g_p^2;  p -= lr sqrt(1 - beta_2^t) c g_p / (sqrt(v) + eps)
with beta_1 = 0 (no first moment) and t counted per parameter (a parameter without a gradient is
skipped and keeps its count). Our weight is w = p / c, so g_w = c g_p and v_w = c^2 v_p, and the
same step reads  w -= lr sqrt(1 - beta_2^t) g_w / (sqrt(v_w) + c eps): plain Adam without a first
moment, with the epsilon scaled by c. Both give the same trajectory up to float rounding.
"""

import tensorflow as tf


class LREQAdam(tf.Module):
    """Args: variables, coefs (one float per variable, see equalization_coefs), learning_rate,
    beta_2 (TRAIN.ADAM_BETA_1: 0.99), epsilon (1e-8). `reset()` clears the state, as the official
    LOD driver does at every lod change."""

    def __init__(self, variables, coefs, learning_rate, beta_2=0.99, epsilon=1e-8, name=None):
        super().__init__(name=name)
        self.vars = list(variables)
        self.coefs = [float(c) for c in coefs]
        self.beta_2, self.epsilon = float(beta_2), float(epsilon)
        self.learning_rate = tf.Variable(float(learning_rate), trainable=False, name="lr")
        self.exp_avg_sq = [
            tf.Variable(tf.zeros_like(v), trainable=False, name="exp_avg_sq") for v in self.vars
        ]
        self.steps = [tf.Variable(0.0, trainable=False, name="step") for _ in self.vars]

    def apply(self, grads):
        """grads: one tensor or None per variable (in order)."""
        b2 = self.beta_2
        for var, g, v, t, c in zip(self.vars, grads, self.exp_avg_sq, self.steps, self.coefs):
            if g is None:
                continue
            g = tf.cast(g, var.dtype)
            t.assign_add(1.0)
            v.assign(v * b2 + tf.square(g) * (1.0 - b2))
            step = self.learning_rate * tf.sqrt(1.0 - tf.pow(b2, t))
            var.assign_sub(step * g / (tf.sqrt(v) + self.epsilon * c))

    def reset(self):
        for v, t in zip(self.exp_avg_sq, self.steps):
            v.assign(tf.zeros_like(v))
            t.assign(0.0)
