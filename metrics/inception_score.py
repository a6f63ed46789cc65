"""Inception Score (NVlabs/stylegan2 metrics/inception_score.py, IS.evaluate): 10 splits in order,
exp(mean KL(p(y|x) || p(y))), mean and
population std of the split scores. Class probabilities: the 2015 graph's 1008 logits without
bias (OpenAI / ada `no_output_bias`) when the weights file has them (pytorch-fid's .pth), otherwise
keras.applications InceptionV3 ImageNet (1000 classes, NOT comparable); the result says which."""

import numpy as np
import tensorflow as tf

from metrics import extraction


def inception_score(probs, num_splits=10):
    probs = np.asarray(probs, np.float64)
    n = probs.shape[0]
    scores = []
    for i in range(num_splits):
        part = probs[i * n // num_splits : (i + 1) * n // num_splits]
        kl = part * (np.log(part) - np.log(np.mean(part, axis=0, keepdims=True)))
        scores.append(np.exp(np.mean(np.sum(kl, axis=1))))
    return float(np.mean(scores)), float(np.std(scores))


class _ProbsDetector:
    def __init__(self, detector):
        self.detector = detector
        self.name = getattr(detector, "name", "detector") + "-softmax"

    def __call__(self, images):
        return tf.nn.softmax(self.detector.logits(images), axis=-1)


def is_detector(opts):
    """(probability detector, description) for the Inception Score."""
    det = opts.detector
    if getattr(det, "has_logits", False):
        return _ProbsDetector(det), det.name
    from metrics.inception import KerasInceptionV3

    keras_det = KerasInceptionV3()
    return _ProbsDetector(keras_det), keras_det.name


def compute_is(opts, num_gen, num_splits=10):
    detector, which = is_detector(opts)
    fake = extraction.fake_stats(opts, num_gen, detector, capture_all=True)
    mean, std = inception_score(fake.get_all(), num_splits)
    return mean, std, which
