"""Mapping network z (+ c) -> w (ADA-PT training/networks.py MappingNetwork)."""

import keras
import tensorflow as tf

from tf_stylegan2 import ops
from tf_stylegan2.layers import FullyConnectedLayer
from tf_stylegan2.layers.base import no_autocast

PACKAGE = "tf_stylegan2"


@keras.saving.register_keras_serializable(package=PACKAGE)
class MappingNetwork(keras.layers.Layer):
    """Normalize z, embed + normalize c, `num_layers` dense lrelu layers, track w_avg, truncate.

    Args:
        z_dim: latent size (0 for the D's label mapping).
        c_dim: label size (0 = unconditional).
        w_dim: output size.
        num_ws: number of w copies to broadcast to (None = return [N, w_dim]).
        num_layers: dense layers (8).
        embed_features, layer_features: None = w_dim.
        activation: 'lrelu'.
        lr_multiplier: 0.01.
        w_avg_beta: 0.995; None = no w_avg (then truncation is unavailable).
        gain_in_weights: StyleGAN (v1) dense layers (TF1 networks_stylegan.py G_mapping: lrelu's
            sqrt 2 in the weights, not after the bias; config A).
        truncation_cutoff: the cutoff a call without one uses (None = every layer; TF1 G_style
            of config A uses 8).
    Call: `mapping(z, c=None, truncation_psi=1, truncation_cutoff=None, update_w_avg=False)`
        -> [N, num_ws, w_dim]. `update_w_avg=True` does `w_avg <- lerp(mean_n w, w_avg, beta)`
        (what ADA-PT does in train mode).
    Reference: ADA-PT training/networks.py MappingNetwork.
    """

    def __init__(
        self,
        z_dim,
        c_dim,
        w_dim,
        num_ws,
        num_layers=8,
        embed_features=None,
        layer_features=None,
        activation="lrelu",
        lr_multiplier=0.01,
        w_avg_beta=0.995,
        gain_in_weights=False,
        truncation_cutoff=None,
        **kwargs,
    ):
        super().__init__(**no_autocast(kwargs))
        self.z_dim = int(z_dim)
        self.c_dim = int(c_dim)
        self.w_dim = int(w_dim)
        self.num_ws = None if num_ws is None else int(num_ws)
        self.num_layers = int(num_layers)
        self.activation = activation
        self.lr_multiplier = float(lr_multiplier)
        self.w_avg_beta = None if w_avg_beta is None else float(w_avg_beta)
        self.gain_in_weights = bool(gain_in_weights)
        self.truncation_cutoff = None if truncation_cutoff is None else int(truncation_cutoff)
        self.embed_features_arg = embed_features
        self.layer_features_arg = layer_features
        embed_features = self.w_dim if embed_features is None else int(embed_features)
        if self.c_dim == 0:
            embed_features = 0
        layer_features = self.w_dim if layer_features is None else int(layer_features)
        self.embed_features = embed_features
        features = (
            [self.z_dim + embed_features] + [layer_features] * (self.num_layers - 1) + [self.w_dim]
        )
        self.embed = None
        if self.c_dim > 0:
            self.embed = FullyConnectedLayer(
                self.c_dim, embed_features, name="embed", dtype=self.dtype_policy
            )
        for idx in range(self.num_layers):
            fc = FullyConnectedLayer(
                features[idx],
                features[idx + 1],
                activation=activation,
                lr_multiplier=self.lr_multiplier,
                gain_in_weights=self.gain_in_weights,
                name=f"fc{idx}",
                dtype=self.dtype_policy,
            )
            setattr(self, f"fc{idx}", fc)

    @property
    def fcs(self):
        return [getattr(self, f"fc{idx}") for idx in range(self.num_layers)]

    def build(self, input_shape=None):
        if self.built:
            return
        if self.embed is not None:
            self.embed.build([None, self.c_dim])
        for fc in self.fcs:
            fc.build([None, fc.in_features])
        self.w_avg = None
        if self.num_ws is not None and self.w_avg_beta is not None:
            # aggregation "mean": an update inside a tf.distribute replica context averages the
            # replicas'
            # updates, i.e. uses the global-batch mean of w (equal per-replica batches).
            self.w_avg = self.add_weight(
                name="w_avg",
                shape=[self.w_dim],
                initializer="zeros",
                trainable=False,
                aggregation="mean",
            )
        self.built = True

    def call(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None, update_w_avg=False):
        x = None
        if self.z_dim > 0:
            x = ops.normalize_2nd_moment(tf.cast(z, self.compute_dtype))
        if self.c_dim > 0:
            if c is None:
                raise ValueError(f"this network is conditional (c_dim={self.c_dim}): c is required")
            y = ops.normalize_2nd_moment(self.embed(tf.cast(c, self.compute_dtype)))
            x = y if x is None else tf.concat([x, y], axis=1)
        for fc in self.fcs:
            x = fc(x)
        if update_w_avg and self.w_avg is not None:
            mean = tf.reduce_mean(tf.stop_gradient(x), axis=0)
            self.w_avg.assign(mean + self.w_avg_beta * (tf.convert_to_tensor(self.w_avg) - mean))
        if self.num_ws is not None:
            x = tf.tile(x[:, None, :], [1, self.num_ws, 1])  # [N, num_ws, w_dim]
        if not (isinstance(truncation_psi, (int, float)) and truncation_psi == 1):
            if self.w_avg is None:
                raise ValueError("truncation needs w_avg (w_avg_beta and num_ws must be set)")
            w_avg = tf.convert_to_tensor(self.w_avg)
            psi = tf.cast(truncation_psi, x.dtype)
            if truncation_cutoff is None:
                truncation_cutoff = self.truncation_cutoff
            xt = w_avg + psi * (x - w_avg)
            if self.num_ws is None or truncation_cutoff is None:
                x = xt
            else:
                mask = tf.range(self.num_ws) < truncation_cutoff  # [num_ws]
                x = tf.where(mask[None, :, None], xt, x)
        return x

    def compute_output_shape(self, input_shape=None, *args, **kwargs):
        n = input_shape[0] if input_shape else None
        return (n, self.w_dim) if self.num_ws is None else (n, self.num_ws, self.w_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            z_dim=self.z_dim,
            c_dim=self.c_dim,
            w_dim=self.w_dim,
            num_ws=self.num_ws,
            num_layers=self.num_layers,
            embed_features=self.embed_features_arg,
            layer_features=self.layer_features_arg,
            activation=self.activation,
            lr_multiplier=self.lr_multiplier,
            w_avg_beta=self.w_avg_beta,
        )
        if self.gain_in_weights:
            config["gain_in_weights"] = True
        if self.truncation_cutoff is not None:
            config["truncation_cutoff"] = self.truncation_cutoff
        return config
