"""Improved precision and recall (Kynkäänniemi et al.; NVlabs/stylegan2 metrics/precision_recall.py,
PR.evaluate).

Squared Euclidean distances in blocks; the radius of each reference point is the distance to its
k-th nearest other point (index k of the sorted row, index 0 being itself); precision = fraction of
fakes inside at least one real hypersphere, recall = the same with roles swapped.
NVIDIA used 4096-d VGG16 fc2 features (vgg16.pkl, not available here): the feature network is
pluggable; the default is keras.applications VGG16 (ImageNet, fc2 after ReLU, 224x224 input),
so values are close to but not guaranteed equal to published ones.
"""

import keras
import numpy as np
import tensorflow as tf

from metrics import extraction
from metrics import weights as weights_lib


def _sq_dists(a, b):  # [n,D],[m,D] -> [n,m] max(|a|^2 - 2ab + |b|^2, 0)
    a = tf.convert_to_tensor(a, tf.float32)
    b = tf.convert_to_tensor(b, tf.float32)
    aa = tf.reduce_sum(a * a, axis=1, keepdims=True)
    bb = tf.reduce_sum(b * b, axis=1, keepdims=True)
    return tf.maximum(aa - 2 * tf.matmul(a, b, transpose_b=True) + tf.transpose(bb), 0.0).numpy()


def manifold_radii(features, nhood_size=3, row_batch_size=10000, col_batch_size=10000):
    """Distance of every point to its nhood_size-th nearest other point."""
    n = features.shape[0]
    radii = np.zeros(n, np.float32)
    for r0 in range(0, n, row_batch_size):
        rows = features[r0 : r0 + row_batch_size]
        dist = np.concatenate(
            [
                _sq_dists(rows, features[c0 : c0 + col_batch_size])
                for c0 in range(0, n, col_batch_size)
            ],
            axis=1,
        )
        radii[r0 : r0 + len(rows)] = np.partition(dist, nhood_size, axis=1)[:, nhood_size]
    return radii


def coverage(ref_features, ref_radii, eval_features, row_batch_size=10000, col_batch_size=10000):
    """Fraction of eval_features within at least one reference hypersphere (d <= r)."""
    inside = np.zeros(eval_features.shape[0], bool)
    for r0 in range(0, eval_features.shape[0], row_batch_size):
        rows = eval_features[r0 : r0 + row_batch_size]
        hit = np.zeros(len(rows), bool)
        for c0 in range(0, ref_features.shape[0], col_batch_size):
            d = _sq_dists(rows, ref_features[c0 : c0 + col_batch_size])
            hit |= (d <= ref_radii[None, c0 : c0 + col_batch_size]).any(axis=1)
        inside[r0 : r0 + len(rows)] = hit
    return float(inside.mean())


def precision_recall(
    real_features, gen_features, nhood_size=3, row_batch_size=10000, col_batch_size=10000
):
    real = np.asarray(real_features, np.float32)
    gen = np.asarray(gen_features, np.float32)
    real_radii = manifold_radii(real, nhood_size, row_batch_size, col_batch_size)
    gen_radii = manifold_radii(gen, nhood_size, row_batch_size, col_batch_size)
    precision = coverage(real, real_radii, gen, row_batch_size, col_batch_size)
    recall = coverage(gen, gen_radii, real, row_batch_size, col_batch_size)
    return precision, recall


class KerasVGG16Features:
    """keras.applications VGG16 (ImageNet) fc2 features, 4096-d: the default P&R feature network.

    Images [0,255] any size -> bilinear resize to 224 -> caffe preprocessing -> fc2 (after ReLU).
    Needs Keras' ImageNet weights (downloaded by Keras when online, or weights_path= a local .h5).
    """

    name = "keras-vgg16-imagenet-fc2"
    feature_dim = 4096

    def __init__(self, weights_path=None):
        model = weights_lib.keras_application(
            lambda: keras.applications.VGG16(weights=weights_path or "imagenet", include_top=True),
            "keras.applications VGG16 (the default precision/recall features)",
        )
        self.model = keras.Model(model.input, model.get_layer("fc2").output)
        self._forward = tf.function(self._features, reduce_retracing=True)

    def _features(self, images):
        x = tf.cast(images, tf.float32)
        if x.shape[-1] == 1:
            x = tf.tile(x, [1, 1, 1, 3])
        x = tf.image.resize(x, [224, 224])
        x = keras.applications.vgg16.preprocess_input(x)
        return self.model(x, training=False)

    def __call__(self, images):
        return self._forward(tf.convert_to_tensor(images))


def compute_pr(opts, max_real, num_gen, nhood_size=3, row_batch_size=10000, col_batch_size=10000):
    detector = opts.pr_detector or KerasVGG16Features()
    real, fake = extraction.real_and_fake_stats(opts, max_real, num_gen, detector, capture_all=True)
    return precision_recall(
        real.get_all(), fake.get_all(), nhood_size, row_batch_size, col_batch_size
    )
