"""The FID Inception: TF's `inception-2015-12-05` graph rebuilt from Keras layers.

This is the network behind every published FID (TTUR, NVIDIA `inception_v3_features.pkl`,
ada-pytorch `inception-2015-12-05.pt`). Its layer table is in
shared/fixtures/inception_fid/ARCHITECTURE.md. What it does to an image:

    uint8/float RGB in [0,255], NHWC, any size
      -> legacy TF1 bilinear resize to 299x299 (no half-pixel centres, no antialias; skipped at 299)
      -> (x - 128) / 128
      -> 94 conv+BN(no scale, eps 1e-3)+ReLU blocks, last block's pool branch is a MAX pool
      -> 8x8 average pool = `pool_3`, 2048-d

Weights come from `inception-2015-12-05_fid_pool3.npz` (376 arrays, OIHW conv kernels,
`<prefix>.{weight,beta,mean,var}`). When a weights file also has `fc.weight`/`fc.bias`
(pytorch-fid's .pth converted by metrics.weights), the 1008-class logits for the Inception Score
are available too.

`keras_inception_v3()` is the keras.applications ImageNet InceptionV3 as a labelled alternative:
its features are NOT comparable with published FIDs.
"""

import keras
import numpy as np
import tensorflow as tf

from metrics import weight_conversion
from metrics import weights as weights_lib

FID_RESOLUTION = 299
FOLD_BN = True  # fold the batch norm into the conv (faster on CPU; same features to ~1e-6)
FEATURE_DIM = 2048

# ----------------------------------------------------------------------------
# Input handling.


def legacy_resize_bilinear(images, size=FID_RESOLUTION):
    """TF1 `resize_bilinear(align_corners=False)`: source coord j*float32(in/out), edges clamped.

    images: [N,H,W,C] uint8 or float in [0,255] -> [N,size,size,C] float32, not rounded.
    Bit-identical to the resize inside NVIDIA's FID graph (fixtures/inception_fid/resize.npz).
    """
    return tf.raw_ops.ResizeBilinear(
        images=images, size=[size, size], align_corners=False, half_pixel_centers=False
    )


def fid_preprocess(images):
    """[N,H,W,3] in [0,255] (uint8 or float) -> [N,299,299,3] float32 in [-1, 0.9921875]."""
    images = tf.convert_to_tensor(images)
    if images.shape.rank != 4:
        raise ValueError(f"expected images [N,H,W,C], got shape {images.shape}")
    if images.shape[-1] == 1:  # grey -> RGB as stylegan2-ada does
        images = tf.tile(images, [1, 1, 1, 3])
    if images.shape[1] == FID_RESOLUTION and images.shape[2] == FID_RESOLUTION:  # static 299
        x = tf.cast(images, tf.float32)
    else:
        x = legacy_resize_bilinear(images)
    return (x - 128.0) * (1.0 / 128.0)  # 1/128 is a power of two: identical to dividing


# ----------------------------------------------------------------------------
# Building blocks.


class ConvBN(keras.layers.Layer):
    """Conv (no bias) -> inference batch norm without scale (eps 1e-3) -> ReLU.

    Weights: kernel [kh,kw,Cin,Cout] (HWIO), beta/mean/var [Cout]. The normalisation is folded
    into a per-channel multiply-add: y = relu(conv(x) * rsqrt(var + eps) + (beta - mean * rsqrt)).
    """

    def __init__(self, filters, kernel_size, strides=1, padding="same", epsilon=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = (
            tuple(kernel_size) if not isinstance(kernel_size, int) else (kernel_size, kernel_size)
        )
        self.strides = strides
        self.padding = padding
        self.epsilon = epsilon

    def build(self, input_shape):
        kh, kw = self.kernel_size
        cin = input_shape[-1]
        self.kernel = self.add_weight(
            name="kernel",
            shape=(kh, kw, cin, self.filters),
            initializer="glorot_uniform",
            trainable=False,
        )
        self.beta = self.add_weight(
            name="beta", shape=(self.filters,), initializer="zeros", trainable=False
        )
        self.moving_mean = self.add_weight(
            name="moving_mean", shape=(self.filters,), initializer="zeros", trainable=False
        )
        self.moving_variance = self.add_weight(
            name="moving_variance", shape=(self.filters,), initializer="ones", trainable=False
        )

    def call(self, x):
        inv = tf.math.rsqrt(self.moving_variance + self.epsilon)
        if FOLD_BN:  # conv(x, k*inv) + (beta - mean*inv): Conv2D+BiasAdd+Relu, one fused CPU kernel
            y = tf.nn.conv2d(
                x, self.kernel * inv, strides=self.strides, padding=self.padding.upper()
            )
            return tf.nn.relu(tf.nn.bias_add(y, self.beta - self.moving_mean * inv))
        y = tf.nn.conv2d(x, self.kernel, strides=self.strides, padding=self.padding.upper())
        return tf.nn.relu((y - self.moving_mean) * inv + self.beta)

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        if self.padding == "valid" and h is not None:
            h = (h - self.kernel_size[0]) // self.strides + 1
            w = (w - self.kernel_size[1]) // self.strides + 1
        elif h is not None:
            h, w = -(-h // self.strides), -(-w // self.strides)
        return (n, h, w, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size,
            strides=self.strides,
            padding=self.padding,
            epsilon=self.epsilon,
        )
        return config

    def load_npz(self, arrays, prefix):
        self.set_weights(
            [
                arrays[prefix + ".weight"].transpose(2, 3, 1, 0),  # OIHW -> HWIO
                arrays[prefix + ".beta"],
                arrays[prefix + ".mean"],
                arrays[prefix + ".var"],
            ]
        )


def _conv(x, name, filters, kernel, strides=1, padding="same"):
    return ConvBN(filters, kernel, strides, padding, name=name)(x)


def _avg3(x, name):  # 3x3/1 SAME average; padded positions not counted (TF semantics)
    return keras.layers.AveragePooling2D(3, 1, "same", name=name)(x)


def _max3(x, name, strides=2, padding="valid"):
    return keras.layers.MaxPooling2D(3, strides, padding, name=name)(x)


def _concat(xs, name):
    return keras.layers.Concatenate(axis=-1, name=name)(xs)


# ----------------------------------------------------------------------------
# The mixed blocks, named as the TF graph / npz (mixed = Keras mixed0, mixed_k = Keras mixed{k}).


def _block_a(x, name, pool_filters):  # mixed, mixed_1, mixed_2: 35x35
    b0 = _conv(x, f"{name}.conv", 64, 1)
    b1 = _conv(x, f"{name}.tower.conv", 48, 1)
    b1 = _conv(b1, f"{name}.tower.conv_1", 64, 5)
    b2 = _conv(x, f"{name}.tower_1.conv", 64, 1)
    b2 = _conv(b2, f"{name}.tower_1.conv_1", 96, 3)
    b2 = _conv(b2, f"{name}.tower_1.conv_2", 96, 3)
    b3 = _avg3(x, f"{name}.tower_2.pool")
    b3 = _conv(b3, f"{name}.tower_2.conv", pool_filters, 1)
    return _concat([b0, b1, b2, b3], name)


def _block_b(x, name):  # mixed_3: 35 -> 17
    b0 = _conv(x, f"{name}.conv", 384, 3, 2, "valid")
    b1 = _conv(x, f"{name}.tower.conv", 64, 1)
    b1 = _conv(b1, f"{name}.tower.conv_1", 96, 3)
    b1 = _conv(b1, f"{name}.tower.conv_2", 96, 3, 2, "valid")
    b2 = _max3(x, f"{name}.pool")
    return _concat([b0, b1, b2], name)


def _block_c(x, name, c):  # mixed_4 .. mixed_7: 17x17, factorised 7x7
    b0 = _conv(x, f"{name}.conv", 192, 1)
    b1 = _conv(x, f"{name}.tower.conv", c, 1)
    b1 = _conv(b1, f"{name}.tower.conv_1", c, (1, 7))
    b1 = _conv(b1, f"{name}.tower.conv_2", 192, (7, 1))
    b2 = _conv(x, f"{name}.tower_1.conv", c, 1)
    b2 = _conv(b2, f"{name}.tower_1.conv_1", c, (7, 1))
    b2 = _conv(b2, f"{name}.tower_1.conv_2", c, (1, 7))
    b2 = _conv(b2, f"{name}.tower_1.conv_3", c, (7, 1))
    b2 = _conv(b2, f"{name}.tower_1.conv_4", 192, (1, 7))
    b3 = _avg3(x, f"{name}.tower_2.pool")
    b3 = _conv(b3, f"{name}.tower_2.conv", 192, 1)
    return _concat([b0, b1, b2, b3], name)


def _block_d(x, name):  # mixed_8: 17 -> 8
    b0 = _conv(x, f"{name}.tower.conv", 192, 1)
    b0 = _conv(b0, f"{name}.tower.conv_1", 320, 3, 2, "valid")
    b1 = _conv(x, f"{name}.tower_1.conv", 192, 1)
    b1 = _conv(b1, f"{name}.tower_1.conv_1", 192, (1, 7))
    b1 = _conv(b1, f"{name}.tower_1.conv_2", 192, (7, 1))
    b1 = _conv(b1, f"{name}.tower_1.conv_3", 192, 3, 2, "valid")
    b2 = _max3(x, f"{name}.pool")
    return _concat([b0, b1, b2], name)


def _block_e(x, name, max_pool):  # mixed_9 (avg pool branch), mixed_10 (MAX pool branch): 8x8
    b0 = _conv(x, f"{name}.conv", 320, 1)
    b1 = _conv(x, f"{name}.tower_conv", 384, 1)
    b1a = _conv(b1, f"{name}.tower_mixed_conv", 384, (1, 3))
    b1b = _conv(b1, f"{name}.tower_mixed_conv_1", 384, (3, 1))
    b2 = _conv(x, f"{name}.tower_1_conv", 448, 1)
    b2 = _conv(b2, f"{name}.tower_1_conv_1", 384, 3)
    b2a = _conv(b2, f"{name}.tower_1_mixed_conv", 384, (1, 3))
    b2b = _conv(b2, f"{name}.tower_1_mixed_conv_1", 384, (3, 1))
    if max_pool:
        b3 = _max3(x, f"{name}.tower_2_pool", strides=1, padding="same")
    else:
        b3 = _avg3(x, f"{name}.tower_2_pool")
    b3 = _conv(b3, f"{name}.tower_2_conv", 192, 1)
    return _concat([b0, b1a, b1b, b2a, b2b, b3], name)


ACTIVATION_NAMES = (
    "conv",
    "pool0",
    "pool1",
    "mixed",
    "mixed_1",
    "mixed_2",
    "mixed_3",
    "mixed_4",
    "mixed_5",
    "mixed_6",
    "mixed_7",
    "mixed_8",
    "mixed_9",
    "mixed_10",
)


def inception_trunk(activations=False):
    """Keras functional model: scaled input [N,299,299,3] in [-1,1] -> pool3 [N,2048].

    With activations=True the outputs are a dict {pool3, conv, pool0, pool1, mixed, ...}.
    """
    x_in = keras.Input((FID_RESOLUTION, FID_RESOLUTION, 3), name="scaled_image")
    acts = {}
    x = acts["conv"] = _conv(x_in, "conv", 32, 3, 2, "valid")
    x = _conv(x, "conv_1", 32, 3, 1, "valid")
    x = _conv(x, "conv_2", 64, 3)
    x = acts["pool0"] = _max3(x, "pool0")
    x = _conv(x, "conv_3", 80, 1)
    x = _conv(x, "conv_4", 192, 3, 1, "valid")
    x = acts["pool1"] = _max3(x, "pool1")
    x = acts["mixed"] = _block_a(x, "mixed", 32)
    x = acts["mixed_1"] = _block_a(x, "mixed_1", 64)
    x = acts["mixed_2"] = _block_a(x, "mixed_2", 64)
    x = acts["mixed_3"] = _block_b(x, "mixed_3")
    for k, c in zip((4, 5, 6, 7), (128, 160, 160, 192)):
        x = acts[f"mixed_{k}"] = _block_c(x, f"mixed_{k}", c)
    x = acts["mixed_8"] = _block_d(x, "mixed_8")
    x = acts["mixed_9"] = _block_e(x, "mixed_9", max_pool=False)
    x = acts["mixed_10"] = _block_e(x, "mixed_10", max_pool=True)
    pool3 = keras.layers.GlobalAveragePooling2D(name="pool3")(x)  # [N,2048]
    outputs = dict(pool3=pool3, **acts) if activations else pool3
    return keras.Model(x_in, outputs, name="inception_2015_12_05")


def load_inception_npz(model, arrays):
    """Load the 94 conv blocks of an npz (or dict) of `<prefix>.{weight,beta,mean,var}` arrays."""
    loaded = 0
    for layer in model.layers:
        if isinstance(layer, ConvBN):
            layer.load_npz(arrays, layer.name)
            loaded += 1
    if loaded != 94:
        raise ValueError(f"expected 94 conv blocks, loaded {loaded}")


# ----------------------------------------------------------------------------
# The detector: images in [0,255] -> pool3 features (and optionally 1008-class logits).


class FIDInception:
    """The official FID feature extractor.

        det = FIDInception()                      # finds inception-2015-12-05_fid_pool3.npz
        feats = det(images_uint8_nhwc)            # [N,2048] float32, any input size
        det.logits(images)                        # [N,1008] only if the weights have fc.* (IS)

    weights_path: an npz (or pytorch-fid .pth) path; default: metrics.weights.find_weights(...).
    jit_compile: compile the forward with XLA (see benchmarks/bench_metrics.py).
    """

    name = "inception-2015-12-05"
    comparable = True
    feature_dim = FEATURE_DIM

    def __init__(self, weights_path=None, weights_dir=None, jit_compile=False, activations=False):
        path = weights_path or weights_lib.find_weights("inception_fid", weights_dir=weights_dir)
        arrays = weight_conversion.load_inception_arrays(path)
        self.weights_path = str(path)
        self.model = inception_trunk(activations=activations)
        load_inception_npz(self.model, arrays)
        self.fc_weight = arrays.get("fc.weight")  # [1008,2048] or None
        self.fc_bias = arrays.get("fc.bias")
        self.has_logits = self.fc_weight is not None
        self._activations = activations
        # One trace for every batch and image size: at 299x299 the legacy resize is the identity
        # (scale 1.0, all taps exact), so it is always applied.
        spec = tf.TensorSpec([None, None, None, 3], tf.float32)
        self._forward = tf.function(self._features, jit_compile=jit_compile, input_signature=[spec])

    def _features(self, images):
        return self.model(fid_preprocess(images), training=False)

    def __call__(self, images):
        """[N,H,W,3|1] uint8 or float in [0,255] -> pool3 [N,2048] float32 (dict if activations)."""
        images = tf.cast(tf.convert_to_tensor(images), tf.float32)
        if images.shape[-1] == 1:
            images = tf.tile(images, [1, 1, 1, 3])
        return self._forward(images)

    def logits(self, images, bias=False):
        """1008-class logits (OpenAI's IS drops the bias, as ada's no_output_bias)."""
        if not self.has_logits:
            raise ValueError(f"{self.weights_path} has pool3 weights only (no fc.*): no logits")
        feats = self(images)
        logits = tf.matmul(feats, self.fc_weight, transpose_b=True)
        return logits + self.fc_bias if bias else logits


class KerasInceptionV3:
    """keras.applications InceptionV3 (ImageNet) as a detector: NOT comparable with published FIDs.

    Resizes with TF2 bilinear (half-pixel centres) and scales with x/127.5-1, as keras users do.
    Needs the Keras ImageNet weights (downloaded by Keras into ~/.keras/models when online,
    or `weights_path` to a local .h5).
    """

    name = "keras-inceptionv3-imagenet (not comparable)"
    comparable = False
    feature_dim = FEATURE_DIM
    has_logits = True

    def __init__(self, weights_path=None, jit_compile=False):
        self.model = weights_lib.keras_application(
            lambda: keras.applications.InceptionV3(weights=weights_path or "imagenet"),
            "keras.applications InceptionV3 (--detector keras_inception, or IS without logits)",
        )
        self.pool = keras.Model(self.model.input, self.model.get_layer("avg_pool").output)
        self._forward = tf.function(self._features, jit_compile=jit_compile, reduce_retracing=True)

    def _prep(self, images):
        x = tf.cast(images, tf.float32)
        if x.shape[-1] == 1:
            x = tf.tile(x, [1, 1, 1, 3])
        x = tf.image.resize(x, [FID_RESOLUTION, FID_RESOLUTION])
        return x / 127.5 - 1.0

    def _features(self, images):
        return self.pool(self._prep(images), training=False)

    def __call__(self, images):
        return self._forward(tf.convert_to_tensor(images))

    def logits(self, images, bias=True):
        x = self._prep(tf.convert_to_tensor(images))
        probs = self.model(x, training=False)  # softmax output
        return tf.math.log(tf.maximum(probs, 1e-30))


def make_detector(name="inception", weights_path=None, weights_dir=None, jit_compile=False):
    """'inception' (official FID, default) or 'keras_inception' (not comparable)."""
    if name in ("inception", "inception-2015-12-05", None):
        return FIDInception(
            weights_path=weights_path, weights_dir=weights_dir, jit_compile=jit_compile
        )
    if name in ("keras_inception", "keras-inceptionv3"):
        return KerasInceptionV3(weights_path=weights_path, jit_compile=jit_compile)
    raise ValueError(f"unknown detector {name!r}: use 'inception' or 'keras_inception'")


def to_numpy(x):
    return x.numpy() if hasattr(x, "numpy") else np.asarray(x)
