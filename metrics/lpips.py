"""LPIPS v0.1 (VGG16, "lin"): the perceptual distance of PPL and of the projector.

    lpips = LPIPS()                               # finds vgg16_lpips_v0.1_keras_layout.npz
    d = lpips(img0, img1)                         # [N] float32; float images in [-1,1] NHWC
    d = lpips(u8_a, u8_b)                         # uint8 images are read as [0,255]
    d = lpips(a, b, value_range=(0, 255))         # float images in [0,255] (NVIDIA's convention)
    v = lpips.features(img)                       # [N,D]: ||v0 - v1||^2 == LPIPS (ada return_lpips)

Differentiable (plain TF ops), so the projector can take gradients through it. No resize inside:
callers downsample to <= 256 themselves as NVIDIA did.

Steps (shared/fixtures/lpips/README.md): [-1,1] -> (x - shift)/scale per channel -> VGG16 conv
trunk (13 3x3 convs with bias + ReLU, 2x2 max pools) -> taps relu1_2, relu2_2, relu3_3, relu4_3,
relu5_3 -> unit-normalise over channels (eps 1e-10 added to the norm) -> squared difference
weighted by the non-negative lin weights, summed over channels, averaged over space -> summed.
"""

import keras
import numpy as np
import tensorflow as tf

from metrics import weights as weights_lib

SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
VGG_BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))  # (channels, convs) of blocks 1-5
TAPS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3", "relu5_3")


def vgg16_taps():
    """keras.applications-named VGG16 conv trunk: [N,H,W,3] (LPIPS-scaled) -> 5 ReLU taps."""
    x_in = keras.Input((None, None, 3), name="lpips_input")
    x, taps = x_in, []
    for b, (channels, convs) in enumerate(VGG_BLOCKS, start=1):
        if b > 1:
            x = keras.layers.MaxPooling2D(2, 2, name=f"block{b - 1}_pool")(x)
        for c in range(1, convs + 1):
            x = keras.layers.Conv2D(
                channels, 3, padding="same", activation="relu", name=f"block{b}_conv{c}"
            )(x)
        taps.append(x)
    return keras.Model(x_in, taps, name="vgg16_lpips")


def _unit_normalize(f):  # [N,H,W,C]; eps added to the norm, not inside the root
    return f / (tf.sqrt(tf.reduce_sum(tf.square(f), axis=-1, keepdims=True)) + 1e-10)


def _check_size(images):
    shape = getattr(images, "shape", None)
    if (
        shape is not None
        and len(shape) == 4
        and None not in (shape[1], shape[2])
        and (min(shape[1], shape[2]) < 16)
    ):
        raise ValueError(
            f"LPIPS needs images of at least 16x16 (VGG16 pools 4 times), got {shape[1]}x{shape[2]}"
        )


class LPIPS:
    """LPIPS v0.1 VGG16 distance. weights_path: the npz; default found by metrics.weights."""

    def __init__(self, weights_path=None, weights_dir=None, jit_compile=False):
        path = weights_path or weights_lib.find_weights("lpips_vgg16", weights_dir=weights_dir)
        self.weights_path = str(path)
        self.vgg = vgg16_taps()
        with np.load(path) as data:
            for layer in self.vgg.layers:
                if isinstance(layer, keras.layers.Conv2D):
                    layer.set_weights([data[f"{layer.name}/kernel"], data[f"{layer.name}/bias"]])
            self.lin = [tf.constant(data[f"lin{k}/kernel"].reshape(-1)) for k in range(5)]  # [C]
        self.vgg.trainable = False
        self._shift = tf.constant(SHIFT, tf.float32)
        self._scale = tf.constant(SCALE, tf.float32)
        self._distance = tf.function(
            self._distance_impl, jit_compile=jit_compile, reduce_retracing=True
        )

    # --- input ------------------------------------------------------------------------------
    def _scaled(self, images, value_range):
        images = tf.convert_to_tensor(images)
        if images.dtype == tf.uint8:
            value_range = (0, 255)
        x = tf.cast(images, tf.float32)
        lo, hi = value_range
        if (lo, hi) != (-1, 1):
            x = x * (2.0 / (hi - lo)) - (hi + lo) / (hi - lo)  # [0,255] -> v/127.5 - 1
        if x.shape[-1] == 1:
            x = tf.tile(x, [1, 1, 1, 3])
        return (x - self._shift) / self._scale

    def normalized_taps(self, images, value_range=(-1, 1)):
        """The five unit-normalised feature maps [N,H_l,W_l,C_l]."""
        _check_size(images)
        return [
            _unit_normalize(t) for t in self.vgg(self._scaled(images, value_range), training=False)
        ]

    # --- distances --------------------------------------------------------------------------
    def per_layer(self, img0, img1, value_range=(-1, 1)):
        """[N,5] layer terms that sum to the distance."""
        f0 = self.normalized_taps(img0, value_range)
        f1 = self.normalized_taps(img1, value_range)
        terms = [
            tf.reduce_mean(tf.reduce_sum(tf.square(a - b) * w, axis=-1), axis=[1, 2])
            for a, b, w in zip(f0, f1, self.lin)
        ]
        return tf.stack(terms, axis=1)

    def _distance_impl(self, img0, img1, value_range):
        return tf.reduce_sum(self.per_layer(img0, img1, value_range), axis=1)

    def __call__(self, img0, img1, value_range=(-1, 1)):
        """LPIPS distance per pair: [N] float32."""
        img0, img1 = tf.convert_to_tensor(img0), tf.convert_to_tensor(img1)
        _check_size(img0)
        return self._distance(img0, img1, tuple(float(v) for v in value_range))

    distance = __call__

    def features(self, images, value_range=(-1, 1)):
        """[N,D] vector per image whose squared Euclidean distance is the LPIPS distance."""
        parts = []
        for f, w in zip(self.normalized_taps(images, value_range), self.lin):
            hw = tf.cast(tf.shape(f)[1] * tf.shape(f)[2], tf.float32)
            v = f * tf.sqrt(tf.maximum(w, 0.0) / hw)
            parts.append(tf.reshape(v, [tf.shape(v)[0], -1]))
        return tf.concat(parts, axis=1)
