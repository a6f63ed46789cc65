"""`metrics/run.py train-classifier`: fit an AttributeClassifier to a dataset's labels, measure it
on held-out images, save it as .keras (written to a temporary name, then renamed)."""

import pathlib

import numpy as np
import tensorflow as tf

from dataset_tool import records
from fileio import atomic
from metrics import classifier as classifier_lib
from metrics import image_sources


def load_labelled(data, max_images=None):
    """(images float32 [N,R,R,C] in [-1,1], labels float32 [N,c_dim]) of a dataset."""
    source = image_sources.open_images(data)
    if source.c_dim == 0:
        raise ValueError(f"{data}: the dataset has no labels to train a classifier on")
    images, labels = [], []
    for batch, lab in source.batches(256, max_items=max_images, with_labels=True):
        images.append(batch.astype(np.float32) / 127.5 - 1)
        labels.append(lab)
    return np.concatenate(images), np.concatenate(labels).astype(np.float32)


def train_classifier(
    data,
    out=None,
    *,
    epochs=5,
    batch_size=64,
    holdout=0.1,
    max_images=None,
    seed=0,
    lr=1e-3,
    log=print,
):
    """Train on all but the last `holdout` share of the images (the records are already shuffled)
    and save to `out` (default DATA/classifier.keras). Returns (classifier, path)."""
    images, labels = load_labelled(data, max_images)
    n_hold = max(1, int(round(len(images) * holdout)))
    if len(images) - n_hold < 1:
        raise ValueError(f"{data}: {len(images)} images are too few to hold {n_hold} out")
    manifest_labels = (records.read_manifest(data) or {}).get("labels") or {}
    multi_hot = records.is_multi_hot(labels, manifest_labels.get("multi_hot"))
    tf.keras.utils.set_random_seed(seed)
    model = classifier_lib.AttributeClassifier(
        images.shape[1],
        images.shape[3],
        labels.shape[1],
        multi_hot=multi_hot,
        label_names=manifest_labels.get("names"),
    )
    opt = tf.keras.optimizers.Adam(lr)
    train_x, train_c = images[:-n_hold], labels[:-n_hold]

    @tf.function
    def step(x, c):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model.loss_per_sample(model(x), c))
        opt.apply_gradients(
            zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        )
        return loss

    rng = np.random.RandomState(seed)
    for epoch in range(epochs):
        order = rng.permutation(len(train_x))
        losses = [
            float(step(train_x[order[i : i + batch_size]], train_c[order[i : i + batch_size]]))
            for i in range(0, len(order), batch_size)
        ]
        log(f"epoch {epoch + 1}/{epochs}: loss {np.mean(losses):.4f}")
    logits = predict(model, images[-n_hold:], batch_size)
    overall, per = classifier_lib.accuracy(model, logits, labels[-n_hold:])
    model.holdout_accuracy = {"overall": overall, "per_label": [_num(v) for v in per]}
    path = pathlib.Path(out) if out else classifier_lib.default_path(data)
    with atomic.replacing(path) as tmp:
        model.save(tmp)
    names = model.label_names or [str(i) for i in range(model.c_dim)]
    log(f"held-out accuracy ({n_hold} images): {overall:.4f}")
    for name, value in zip(names, per):
        log(f"  {name:<20} {value:.4f}")
    log(f"Saved {path}")
    return model, path


def predict(model, images, batch_size=256):
    """logits [N, c_dim] of images in [-1, 1], in batches."""
    return np.concatenate(
        [model(images[i : i + batch_size]).numpy() for i in range(0, len(images), batch_size)]
    )


def _num(v):
    return None if np.isnan(v) else float(v)
