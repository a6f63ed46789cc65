"""Perceptual Path Length (NVlabs/stylegan2 metrics/perceptual_path_length.py, PPL.evaluate).

Per batch: pairs of latents; t ~ U(0,1) ('full') or t = 0 ('end'); Z space: slerp then map;
W space: map then lerp; both ends synthesised with the same noise (shared noise_seed), the FFHQ
crop (rows 3c..7c, cols 2c..6c, c = H//8) unless crop=False, box-downsampled to <= 256, then
LPIPS(img_a, img_b) / epsilon^2. Distances outside [1st percentile ('lower'), 99th ('higher')]
are dropped and the mean of the rest is reported.
"""

import numpy as np
import tensorflow as tf

from metrics import generator_adapter, replicas
from metrics.progress import Progress


def normalize(v):
    return v / tf.norm(v, axis=-1, keepdims=True)


def slerp(a, b, t):
    """Spherical interpolation of the official code: result is a unit vector."""
    a, b = normalize(a), normalize(b)
    d = tf.reduce_sum(a * b, axis=-1, keepdims=True)
    p = t * tf.math.acos(tf.clip_by_value(d, -1.0, 1.0))
    c = normalize(b - d * a)
    return normalize(a * tf.cos(p) + c * tf.sin(p))


def lerp(a, b, t):
    return a + (b - a) * t


def crop_and_downsample(images, crop=True):
    """[N,H,W,C] -> the face crop (if crop) box-averaged to <= 256 px, as the official code."""
    h = images.shape[1]
    if crop:
        c = h // 8
        images = images[:, c * 3 : c * 7, c * 2 : c * 6, :]
    h, w = images.shape[1], images.shape[2]
    if h > 256:
        f = h // 256
        images = tf.reshape(images, [-1, h // f, f, w // f, f, images.shape[3]])
        images = tf.reduce_mean(images, axis=[2, 4])
    return images


def ppl_distances(
    gen,
    lpips,
    num_samples,
    epsilon=1e-4,
    space="w",
    sampling="end",
    crop=True,
    batch_size=4,
    labels=None,
    seed=None,
    strategy=None,
    verbose=True,
):
    """num_samples raw path-length samples d = LPIPS / eps^2 (before percentile filtering)."""
    if not gen.has_mapping:
        raise ValueError(
            "PPL needs the generator's mapping and synthesis (pass G, or mapping= "
            "and synthesis= callables)"
        )
    if gen.c_dim and (labels is None or labels.shape[1] != gen.c_dim):
        raise ValueError(
            f"PPL of a conditional generator (c_dim={gen.c_dim}) needs the dataset's "
            f"labels: pass --data DATA_DIR"
        )
    rng = np.random.RandomState(seed)
    dists = []
    progress = Progress(f"ppl_{space}{sampling}", num_samples, verbose, unit="pair")

    def pair_images(z0, z1, t, c, noise_seed):
        if space == "z":
            za, zb = slerp(z0, z1, t), slerp(z0, z1, t + epsilon)
            wa, wb = gen.mapping(za, c), gen.mapping(zb, c)
        else:
            w0, w1 = gen.mapping(z0, c), gen.mapping(z1, c)
            tt = t[:, :, None]
            wa, wb = lerp(w0, w1, tt), lerp(w0, w1, tt + epsilon)
        img_a = gen.synthesis(wa, noise_seed)  # same seed -> same noise for both ends of a pair
        img_b = gen.synthesis(wb, noise_seed)
        img_a = crop_and_downsample(tf.cast(img_a, tf.float32), crop)
        img_b = crop_and_downsample(tf.cast(img_b, tf.float32), crop)
        # NVIDIA feeds (x+1)*255/2 to a [0,255] LPIPS; identical to [-1,1] input here.
        return lpips(img_a, img_b, value_range=(-1, 1)) / (epsilon**2)

    while len(dists) < num_samples:
        n = batch_size
        z = rng.standard_normal([2 * n, gen.z_dim]).astype(np.float32)
        t = (rng.uniform(size=[n, 1]) if sampling == "full" else np.zeros([n, 1])).astype(
            np.float32
        )
        c = generator_adapter.sample_labels(labels, n, rng)
        seeds = rng.randint(0, 2**31 - 1, size=[n, 2]).astype(np.int32)

        def fn(z0, z1, t, c, seeds):  # one noise seed per replica slice, shared by a pair's ends
            return pair_images(z0, z1, t, c, seeds[0])

        d = replicas.run_split(fn, [z[0::2], z[1::2], t, c, seeds], strategy)
        dists.extend(np.asarray(d, np.float64).tolist())
        progress.update(n)
    progress.close()
    return np.asarray(dists[:num_samples])


def filtered_mean(dists):
    lo = np.percentile(dists, 1, method="lower")
    hi = np.percentile(dists, 99, method="higher")
    return float(np.extract(np.logical_and(dists >= lo, dists <= hi), dists).mean())


def compute_ppl(
    opts, num_samples, epsilon=1e-4, space="w", sampling="end", crop=True, batch_size=4
):
    from metrics.lpips import LPIPS

    lpips = opts.lpips or LPIPS(weights_dir=opts.weights_dir)
    dists = ppl_distances(
        opts.gen,
        lpips,
        num_samples,
        epsilon,
        space,
        sampling,
        crop,
        batch_size,
        labels=opts.labels,
        seed=opts.seed,
        strategy=opts.strategy,
        verbose=opts.verbose,
    )
    return filtered_mean(dists)
