"""Random numbers per global sample: sample i of a phase draws from fold_in(key, i).

The loop draws one key per phase and iteration from a checkpointed tf.random.Generator; every
random number of a sample (z, the mixing z and cutoff, the synthesis noise, the path-length noise)
is a function of that key and the sample's global index only, so 1, 2 or 4 replicas, 1 or 8
rounds of gradient accumulation, or 2 workers draw the same numbers.
"""

import tensorflow as tf


def fold(key, i):
    return tf.random.experimental.stateless_fold_in(key, i)


def per_sample_normal(key, index, shape, dtype=tf.float32):
    """[len(index), *shape] N(0,1), row n from fold_in(key, index[n])."""
    rows = tf.map_fn(
        lambda i: tf.random.stateless_normal(shape, fold(key, i)),
        index,
        fn_output_signature=tf.float32,
    )
    return tf.cast(rows, dtype)


def per_sample_noise(key, index, layer_names, dtype=tf.float32):
    """Synthesis noise {layer: [len(index), R, R, 1]} for the ADA-PT layer names ('b8.conv0',
    ...)."""
    noise = {}
    for i, name in enumerate(layer_names):
        res = int(name.split(".")[0][1:])
        noise[name] = per_sample_normal(fold(key, i), index, [res, res, 1], dtype)
    return noise


def mixing_cutoff(key, chunk, num_ws, prob):
    """The style-mixing cutoff of one round (chunk of batch_gpu samples), as ADA-PT's
    `StyleGAN2Loss.run_G` draws it once per call: uniform in [1, num_ws) with probability `prob`,
    else num_ws (no mixing)."""
    seed = fold(key, chunk)
    u = tf.random.stateless_uniform([], seed)
    cut = tf.random.stateless_uniform([], fold(seed, 1), 1, num_ws, dtype=tf.int32)
    return tf.where(u < prob, cut, num_ws)


def chunk_draws(key, chunk, n, z_dim, layer_names, num_ws, mixing_prob, dtype=tf.float32):
    """Everything G needs for global chunk `chunk` of `n` samples (indices chunk*n ... chunk*n+n-1):
    dict(index, z [n,z_dim], z_mix [n,z_dim] | None, cutoff [n] | None, noise {layer:
    [n,R,R,1]})."""
    index = chunk * n + tf.range(n, dtype=tf.int32)
    out = dict(
        index=index,
        z=per_sample_normal(fold(key, 0), index, [z_dim], dtype),
        noise=per_sample_noise(fold(key, 2), index, layer_names, dtype),
        z_mix=None,
        cutoff=None,
    )
    if mixing_prob > 0:
        out["z_mix"] = per_sample_normal(fold(key, 1), index, [z_dim], dtype)
        out["cutoff"] = tf.fill([n], mixing_cutoff(fold(key, 3), chunk, num_ws, mixing_prob))
    return out
