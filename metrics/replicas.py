"""Running a detector on batches, split across the replicas of a tf.distribute strategy."""

import numpy as np
import tensorflow as tf


def get_strategy(strategy):
    if strategy is not None:
        return strategy
    return tf.distribute.get_strategy() if tf.distribute.has_strategy() else None


def run_split(fn, inputs, strategy=None):
    """fn(*inputs) -> [N,...]; under a multi-replica strategy each replica gets a slice of N.

    Pads N to a multiple of the replica count and drops the padding from the gathered result.
    """
    strategy = get_strategy(strategy)
    if strategy is None or strategy.num_replicas_in_sync == 1:
        return fn(*[tf.convert_to_tensor(x) for x in inputs])
    r = strategy.num_replicas_in_sync
    n = int(inputs[0].shape[0])
    per = -(-n // r)
    padded = [
        np.concatenate([x, np.repeat(x[-1:], per * r - n, axis=0)]) if per * r > n else x
        for x in (np.asarray(v) for v in inputs)
    ]

    def value_fn(ctx):
        i = ctx.replica_id_in_sync_group
        return tuple(tf.convert_to_tensor(x[i * per : (i + 1) * per]) for x in padded)

    dist = strategy.experimental_distribute_values_from_function(value_fn)
    out = strategy.run(lambda args: fn(*args), args=(dist,))
    return strategy.gather(out, axis=0)[:n]
