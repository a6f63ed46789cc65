"""Discriminator layers: minibatch stddev, the D block and the 4x4 epilogue
(ADA-PT training/networks.py MinibatchStdLayer, DiscriminatorBlock, DiscriminatorEpilogue)."""

import keras
import numpy as np
import tensorflow as tf

from tf_stylegan2 import ops
from tf_stylegan2.layers.base import PACKAGE, Conv2dLayer, FullyConnectedLayer, no_autocast


@keras.saving.register_keras_serializable(package=PACKAGE)
class MinibatchStdLayer(keras.layers.Layer):
    """Append the stddev over strided groups as `num_channels` new channels (MinibatchStdLayer).

    Args:
        group_size: G (None = the whole batch); num_channels: F.
    Call: x [N, H, W, C] -> [N, H, W, C + F].
    """

    def __init__(self, group_size=4, num_channels=1, **kwargs):
        super().__init__(**no_autocast(kwargs))
        self.group_size = None if group_size is None else int(group_size)
        self.num_channels = int(num_channels)

    def call(self, x):
        return ops.minibatch_std(x, self.group_size, self.num_channels)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (input_shape[-1] + self.num_channels,)

    def get_config(self):
        config = super().get_config()
        config.update(group_size=self.group_size, num_channels=self.num_channels)
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class DiscriminatorBlock(keras.layers.Layer):
    """[fromrgb] + conv0 + conv1 (2x down) (+ resnet skip, or skip-arch image downsampling).

    Args:
        in_channels: 0 for the first (highest-resolution) block.
        tmp_channels, out_channels, resolution, img_channels: sizes.
        architecture: 'orig' | 'skip' | 'resnet'.
        resample_filter, conv_clamp.
        first_layer_idx, freeze_layers: layers are numbered through D (fromrgb, conv0, conv1,
            skip per block); those below freeze_layers are not trainable (transfer learning,
            ADA-PT --freezed).
    Call: `block(x, img)` -> (x [N, R/2, R/2, out], img or None).
    Reference: ADA-PT training/networks.py DiscriminatorBlock.
    """

    def __init__(
        self,
        in_channels,
        tmp_channels,
        out_channels,
        resolution,
        img_channels,
        architecture="resnet",
        activation="lrelu",
        resample_filter=(1, 3, 3, 1),
        conv_clamp=None,
        first_layer_idx=0,
        freeze_layers=0,
        **kwargs,
    ):
        super().__init__(**no_autocast(kwargs))
        if architecture not in ("orig", "skip", "resnet"):
            raise ValueError(
                f"architecture must be 'orig', 'skip' or 'resnet', got {architecture!r}"
            )
        self.in_channels = int(in_channels)
        self.tmp_channels = int(tmp_channels)
        self.out_channels = int(out_channels)
        self.resolution = int(resolution)
        self.img_channels = int(img_channels)
        self.architecture = architecture
        self.activation = activation
        self.resample_filter = [float(v) for v in resample_filter]
        self.conv_clamp = None if conv_clamp is None else float(conv_clamp)
        self._filter = ops.setup_filter(self.resample_filter)
        self.first_layer_idx = int(first_layer_idx)
        self.freeze_layers = int(freeze_layers)
        common = dict(activation=activation, conv_clamp=self.conv_clamp)
        self.has_fromrgb = self.in_channels == 0 or architecture == "skip"
        if self.has_fromrgb:
            self.fromrgb = Conv2dLayer(
                self.img_channels,
                self.tmp_channels,
                1,
                name="fromrgb",
                dtype=self.dtype_policy,
                **common,
            )
        self.conv0 = Conv2dLayer(
            self.tmp_channels, self.tmp_channels, 3, name="conv0", dtype=self.dtype_policy, **common
        )
        self.conv1 = Conv2dLayer(
            self.tmp_channels,
            self.out_channels,
            3,
            down=2,
            resample_filter=self.resample_filter,
            name="conv1",
            dtype=self.dtype_policy,
            **common,
        )
        if architecture == "resnet":
            self.skip = Conv2dLayer(
                self.tmp_channels,
                self.out_channels,
                1,
                bias=False,
                down=2,
                resample_filter=self.resample_filter,
                name="skip",
                dtype=self.dtype_policy,
            )

        # ADA-PT trainable_gen: the block's layers in order fromrgb, conv0, conv1, skip
        layers = [self.fromrgb] if self.has_fromrgb else []
        layers += [self.conv0, self.conv1] + ([self.skip] if architecture == "resnet" else [])
        self.num_layers = len(layers)
        for k, layer in enumerate(layers):
            if self.first_layer_idx + k < self.freeze_layers:
                layer.trainable = False

    def build(self, input_shape=None):
        if self.built:
            return
        r = self.resolution
        if self.has_fromrgb:
            self.fromrgb.build([None, r, r, self.img_channels])
        self.conv0.build([None, r, r, self.tmp_channels])
        self.conv1.build([None, r, r, self.tmp_channels])
        if self.architecture == "resnet":
            self.skip.build([None, r, r, self.tmp_channels])
        self.built = True

    def call(self, x, img):
        # ADA-PT DiscriminatorBlock: x and img in the block's dtype (img continues in it to the
        # next block's fromrgb with architecture 'skip').
        x = None if x is None else tf.cast(x, self.compute_dtype)
        img = None if img is None else tf.cast(img, self.compute_dtype)
        if self.has_fromrgb:
            y = self.fromrgb(img)
            x = y if x is None else x + y
            img = ops.downsample2d(img, self._filter) if self.architecture == "skip" else None
        if self.architecture == "resnet":
            y = self.skip(x, gain=float(np.sqrt(0.5)))
            x = self.conv0(x)
            x = self.conv1(x, gain=float(np.sqrt(0.5)))
            x = y + x
        else:
            x = self.conv0(x)
            x = self.conv1(x)
        return x, img

    def compute_output_shape(self, x_shape=None, img_shape=None, *args, **kwargs):
        """((N, R/2, R/2, out_channels), the image's shape after this block or None)."""
        n = next((shape[0] for shape in (x_shape, img_shape) if shape), None)
        r = self.resolution // 2
        if not self.has_fromrgb:
            img = None if img_shape is None else tuple(img_shape)
        else:
            img = (n, r, r, self.img_channels) if self.architecture == "skip" else None
        return (n, r, r, self.out_channels), img

    @property
    def output_shape(self):
        """What `summary()` prints: x's shape (Keras cannot print the absent image, None)."""
        return self.compute_output_shape()[0]

    def compute_output_spec(self, *args, **kwargs):
        """Symbolic (KerasTensor) call: the shapes above; None stays None (no image)."""
        shapes = self.compute_output_shape(
            *(None if t is None else tuple(t.shape) for t in args[:2])
        )
        return tuple(
            None if s is None else keras.KerasTensor(s, dtype=self.compute_dtype) for s in shapes
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            first_layer_idx=self.first_layer_idx,
            freeze_layers=self.freeze_layers,
            in_channels=self.in_channels,
            tmp_channels=self.tmp_channels,
            out_channels=self.out_channels,
            resolution=self.resolution,
            img_channels=self.img_channels,
            architecture=self.architecture,
            activation=self.activation,
            resample_filter=self.resample_filter,
            conv_clamp=self.conv_clamp,
        )
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class DiscriminatorEpilogue(keras.layers.Layer):
    """4x4 epilogue: [fromrgb] + mbstd + conv + fc + out (+ projection onto cmap) [+ cls].

    The fc input is flattened in NCHW order (c*16 + h*4 + w) like the official code, so the
    official fc weight imports with a plain transpose.
    num_classes > 0 adds AC-GAN's auxiliary classifier (Odena et al. 2017): a linear layer `cls`
    from the fc features to num_classes logits, beside `out` (not in the official networks).
    Call: `epilogue(x, img, cmap)` -> logits [N, 1], or (logits, class logits [N, num_classes])
    with return_class_logits=True.
    Reference: ADA-PT training/networks.py DiscriminatorEpilogue.
    """

    def __init__(
        self,
        in_channels,
        cmap_dim,
        resolution,
        img_channels,
        architecture="resnet",
        mbstd_group_size=4,
        mbstd_num_channels=1,
        activation="lrelu",
        conv_clamp=None,
        num_classes=0,
        **kwargs,
    ):
        super().__init__(**no_autocast(kwargs))
        self.in_channels = int(in_channels)
        self.cmap_dim = int(cmap_dim)
        self.num_classes = int(num_classes)
        self.resolution = int(resolution)
        self.img_channels = int(img_channels)
        self.architecture = architecture
        self.mbstd_group_size = None if mbstd_group_size is None else int(mbstd_group_size)
        self.mbstd_num_channels = int(mbstd_num_channels)
        self.activation = activation
        self.conv_clamp = None if conv_clamp is None else float(conv_clamp)
        c, r = self.in_channels, self.resolution
        if architecture == "skip":
            self.fromrgb = Conv2dLayer(
                self.img_channels,
                c,
                1,
                activation=activation,
                name="fromrgb",
                dtype=self.dtype_policy,
            )
        self.mbstd = None
        if self.mbstd_num_channels > 0:
            self.mbstd = MinibatchStdLayer(
                self.mbstd_group_size,
                self.mbstd_num_channels,
                name="mbstd",
                dtype=self.dtype_policy,
            )
        self.conv = Conv2dLayer(
            c + self.mbstd_num_channels,
            c,
            3,
            activation=activation,
            conv_clamp=self.conv_clamp,
            name="conv",
            dtype=self.dtype_policy,
        )
        self.fc = FullyConnectedLayer(
            c * r * r, c, activation=activation, name="fc", dtype=self.dtype_policy
        )
        self.out = FullyConnectedLayer(
            c, 1 if self.cmap_dim == 0 else self.cmap_dim, name="out", dtype=self.dtype_policy
        )
        self.cls = None
        if self.num_classes > 0:
            self.cls = FullyConnectedLayer(c, self.num_classes, name="cls", dtype=self.dtype_policy)

    def build(self, input_shape=None):
        if self.built:
            return
        c, r = self.in_channels, self.resolution
        if self.architecture == "skip":
            self.fromrgb.build([None, r, r, self.img_channels])
        self.conv.build([None, r, r, c + self.mbstd_num_channels])
        self.fc.build([None, c * r * r])
        self.out.build([None, c])
        if self.cls is not None:
            self.cls.build([None, c])
        self.built = True

    def call(self, x, img, cmap=None, return_class_logits=False):
        x = tf.cast(x, self.compute_dtype)  # the epilogue computes in float32 (ADA-PT)
        img = None if img is None else tf.cast(img, self.compute_dtype)
        if self.architecture == "skip":
            x = x + self.fromrgb(img)
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv(x)  # [N, 4, 4, C]
        x = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [-1, self.in_channels * self.resolution**2])
        features = self.fc(x)  # [N, C]
        x = self.out(features)
        if self.cmap_dim > 0:
            x = tf.reduce_sum(x * cmap, axis=1, keepdims=True) * (1.0 / np.sqrt(self.cmap_dim))
        if not return_class_logits:
            return x
        if self.cls is None:
            raise ValueError("this discriminator has no auxiliary classifier (num_classes = 0)")
        return x, self.cls(features)  # [N, 1], [N, num_classes]

    def compute_output_shape(self, x_shape=None, img_shape=None, *args, **kwargs):
        """Logits (N, 1)."""
        return (next((shape[0] for shape in (x_shape, img_shape) if shape), None), 1)

    def get_config(self):
        config = super().get_config()
        config.update(
            in_channels=self.in_channels,
            cmap_dim=self.cmap_dim,
            resolution=self.resolution,
            img_channels=self.img_channels,
            architecture=self.architecture,
            mbstd_group_size=self.mbstd_group_size,
            mbstd_num_channels=self.mbstd_num_channels,
            activation=self.activation,
            conv_clamp=self.conv_clamp,
            num_classes=self.num_classes,
        )
        return config
