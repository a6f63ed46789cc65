"""The class metrics of the AC-GAN literature (Odena et al. 2017):

cls_acc   accuracy of generated images under a classifier trained on the real data
          (metrics/classifier.py): overall, and per class (one-hot) or per attribute
          (multi-hot). Fakes use random dataset labels, as every metric here.
msssim    mean MS-SSIM of random pairs of images with the same label (metrics/msssim.py), per
          label and over labels, for the fakes and, as the reference, the reals. Lower is more
          diverse; a class whose fakes score far above its reals has collapsed.
"""

import re

import numpy as np

from fileio.images import to_uint8
from metrics import generator_adapter, msssim
from metrics.classifier import accuracy
from metrics.progress import Progress


def key_name(name):
    """A label name as part of a result key: letters, digits, '-' and '_' only."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", str(name)).strip("_") or "_"


def label_name(row, names):
    """A label row as text: its class or attribute names joined by '+' ('none' if empty)."""
    on = [i for i, v in enumerate(row) if v > 0.5]
    if not on:
        return "none"
    return "+".join(key_name(names[i]) if names and i < len(names) else str(i) for i in on)


def _images(gen, z, c, noise_seed):
    """uint8 [N,H,W,C] of the generator for latents z and labels c (noise_seed int32 [2])."""
    return np.asarray(to_uint8(gen.generate(z, c, noise_seed=noise_seed)))


def _draw(gen, rng, n):
    """(z [n, z_dim], the batch's noise seed int32 [2])."""
    z = rng.standard_normal([n, gen.z_dim]).astype(np.float32)
    return z, rng.randint(0, 2**31 - 1, size=[2]).astype(np.int32)


def compute_cls_acc(opts, num_gen, classifier):
    """{'cls_acc': overall, 'cls_acc_<label>': per class / attribute} for num_gen fakes."""
    if opts.gen.c_dim != classifier.c_dim:
        raise ValueError(
            f"cls_acc: the classifier has c_dim {classifier.c_dim}, the generator {opts.gen.c_dim}"
        )
    rng = np.random.RandomState(opts.seed)
    logits, labels = [], []
    progress = Progress("fakes", num_gen, opts.verbose)
    done = 0
    while done < num_gen:
        n = min(opts.batch_size, num_gen - done)
        z, seeds = _draw(opts.gen, rng, n)
        c = generator_adapter.sample_labels(opts.labels, n, rng)
        img = _images(opts.gen, z, c, seeds).astype(np.float32) / 127.5 - 1  # as the reals
        logits.append(classifier(img).numpy())
        labels.append(c)
        done += n
        progress.update(n)
    progress.close()
    overall, per = accuracy(classifier, np.concatenate(logits), np.concatenate(labels))
    names = classifier.label_names or [str(i) for i in range(classifier.c_dim)]
    out = {"cls_acc": overall}
    out.update({f"cls_acc_{key_name(n)}": float(v) for n, v in zip(names, per) if not np.isnan(v)})
    return out


def compute_msssim(opts, num_pairs, max_real=10000, names=None):
    """{'msssim_fake', 'msssim_real', and both per label}: num_pairs pairs per label row that
    has at least two images among the first max_real reals."""
    source = opts.data
    reals, labels = [], []
    for img, lab in source.batches(256, max_items=min(max_real, len(source)), with_labels=True):
        reals.append(img)
        labels.append(lab)
    reals, labels = np.concatenate(reals), np.concatenate(labels)
    if labels.shape[1] == 0:
        raise ValueError("msssim: needs a labelled dataset (pairs are drawn within a label)")
    rng = np.random.RandomState(opts.seed)
    groups = msssim.same_label_pairs(labels, num_pairs, rng)
    progress = Progress("pairs", len(groups) * num_pairs, opts.verbose)
    out, fake_means, real_means = {}, [], []
    for row, (a, b) in groups.items():
        c = np.tile(np.asarray(row, np.float32)[None], [2 * num_pairs, 1])
        fakes = []
        for start in range(0, 2 * num_pairs, opts.batch_size):
            n = min(opts.batch_size, 2 * num_pairs - start)
            z, seeds = _draw(opts.gen, rng, n)
            fakes.append(_images(opts.gen, z, c[:n], seeds))
        fakes = np.concatenate(fakes)
        fake = float(np.mean(msssim.ms_ssim(fakes[0::2], fakes[1::2])))
        real = float(np.mean(msssim.ms_ssim(reals[a], reals[b])))
        key = label_name(row, names)
        out[f"msssim_fake_{key}"], out[f"msssim_real_{key}"] = fake, real
        fake_means.append(fake)
        real_means.append(real)
        progress.update(num_pairs)
    progress.close()
    return {
        "msssim_fake": float(np.mean(fake_means)),
        "msssim_real": float(np.mean(real_means)),
        **out,
    }
