"""A small attribute classifier trained on a dataset's labels (one-hot classes or multi-hot
attributes): the judge of the `cls_acc` metric and the frozen guide of `--guide` training.

Not from the official code: the AC-GAN paper (Odena et al. 2017) scores samples with a classifier
trained on the real data; the thesis our users build on guides a conditional GAN with a frozen
attribute classifier. The network is a plain CNN (three stride-2 3x3 convolutions with leaky ReLU,
global average pooling, a linear layer to c_dim logits) on images in [-1, 1]; it travels as one
.keras file whose config says what it was trained on.
"""

import os
import pathlib

import keras
import numpy as np
import tensorflow as tf

PACKAGE = "tf_stylegan2"
CLASSIFIER_FILE = "classifier.keras"  # beside the dataset: where cls_acc looks by default


def default_path(data):
    """DATA/classifier.keras, or None when `data` is not a folder."""
    return pathlib.Path(data) / CLASSIFIER_FILE if data and os.path.isdir(data) else None


def cross_entropy(logits, c, multi_hot=False):
    """-log P(C = c | x) per sample [N] (AC-GAN's class loss, Odena et al. 2017 eq. 2): softmax
    cross-entropy for one-hot c, the sum of per-attribute sigmoid cross-entropies for multi-hot
    c. logits, c [N, c_dim]."""
    logits = tf.convert_to_tensor(logits)
    c = tf.cast(c, logits.dtype)
    if multi_hot:
        ce = tf.nn.sigmoid_cross_entropy_with_logits(labels=c, logits=logits)
        return tf.reduce_sum(ce, axis=1)
    return tf.nn.softmax_cross_entropy_with_logits(labels=c, logits=logits)


def sample_accuracy(logits, c, multi_hot=False):
    """Per-sample accuracy [N]: 1 when the argmax is c's class (one-hot), the share of attributes
    whose sign is right (multi-hot)."""
    logits = tf.convert_to_tensor(logits)
    c = tf.cast(c, logits.dtype)
    if multi_hot:
        hits = tf.equal(tf.cast(logits > 0, c.dtype), tf.cast(c > 0.5, c.dtype))
        return tf.reduce_mean(tf.cast(hits, logits.dtype), axis=1)
    return tf.cast(tf.equal(tf.argmax(logits, axis=1), tf.argmax(c, axis=1)), logits.dtype)


@keras.saving.register_keras_serializable(package=PACKAGE)
class AttributeClassifier(keras.Model):
    """images [N, R, R, C] in [-1, 1] -> logits [N, c_dim].

    Args: resolution, channels, c_dim; multi_hot (sigmoid per attribute, else softmax over
    classes); label_names; holdout_accuracy (filled in by train_classifier); width (channels of
    the first convolution, doubled twice).
    """

    def __init__(
        self,
        resolution,
        channels,
        c_dim,
        multi_hot=False,
        label_names=None,
        holdout_accuracy=None,
        width=32,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.resolution, self.channels, self.c_dim = int(resolution), int(channels), int(c_dim)
        self.multi_hot = bool(multi_hot)
        self.label_names = None if label_names is None else [str(n) for n in label_names]
        self.holdout_accuracy = holdout_accuracy
        self.width = int(width)
        self.convs = [
            keras.layers.Conv2D(self.width * 2**i, 3, strides=2, padding="same", name=f"conv{i}")
            for i in range(3)
        ]
        self.head = keras.layers.Dense(self.c_dim, name="head")
        self.build((None, self.resolution, self.resolution, self.channels))

    def build(self, input_shape):
        shape = tuple(input_shape)
        for conv in self.convs:
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
        self.head.build((None, shape[-1]))
        self.built = True

    def call(self, images):
        x = tf.cast(images, self.compute_dtype)  # [N, R, R, C]
        for conv in self.convs:
            x = tf.nn.leaky_relu(conv(x), 0.2)
        return self.head(tf.reduce_mean(x, axis=[1, 2]))  # [N, c_dim]

    def loss_per_sample(self, logits, c):
        """Cross-entropy [N] of logits against labels c [N, c_dim] (the AC-GAN class loss)."""
        return cross_entropy(logits, c, self.multi_hot)

    def hits(self, logits, c):
        """[N, c_dim] of 0/1: per attribute (multi-hot: logit > 0 equals the label) or, for
        one-hot labels, a 1 in the true class's column when the argmax is right."""
        logits, c = np.asarray(logits), np.asarray(c)
        if self.multi_hot:
            return ((logits > 0) == (c > 0.5)).astype(np.float64)
        right = logits.argmax(1) == c.argmax(1)
        return c * right[:, None]

    def get_config(self):
        config = super().get_config()
        config.update(
            resolution=self.resolution,
            channels=self.channels,
            c_dim=self.c_dim,
            multi_hot=self.multi_hot,
            label_names=self.label_names,
            holdout_accuracy=self.holdout_accuracy,
            width=self.width,
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def accuracy(classifier, logits, c):
    """(overall, per class or attribute [c_dim]) accuracy of logits against labels c."""
    hits = classifier.hits(logits, c)
    c = np.asarray(c)
    if classifier.multi_hot:
        per = hits.mean(axis=0)
        return float(hits.mean()), per
    counts = c.sum(axis=0)
    per = np.where(counts > 0, hits.sum(axis=0) / np.maximum(counts, 1), np.nan)
    return float(hits.sum() / max(len(c), 1)), per


def read_classifier_config(path):
    """The AttributeClassifier config stored in a .keras file (resolution, channels, c_dim,
    multi_hot, ...), read without building the model or touching TensorFlow's devices."""
    import json
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as e:
        raise ValueError(f"{path}: cannot read the classifier ({e})") from None
    if config.get("class_name") != "AttributeClassifier":
        raise ValueError(f"{path}: not a classifier made by `metrics/run.py train-classifier`")
    return config["config"]


def load_classifier(path):
    """An AttributeClassifier from a .keras file (ValueError naming the file otherwise)."""
    try:
        model = keras.saving.load_model(str(path), compile=False)
    except Exception as e:  # noqa: BLE001 - any unreadable file is one user error
        raise ValueError(f"{path}: cannot load the classifier ({e})") from None
    if not isinstance(model, AttributeClassifier):
        raise ValueError(f"{path}: not a classifier made by `metrics/run.py train-classifier`")
    return model
