"""tf.distribute set-up: the strategy for `--gpus N` / TF_CONFIG, worker facts, one broadcast.

On a machine without GPUs, `--gpus N` makes N logical CPU devices, which is how the tests exercise
the distributed path. Several machines: TF_CONFIG selects MultiWorkerMirroredStrategy.
"""

import os

import tensorflow as tf


def make_strategy(gpus=1, log=print):
    """MultiWorkerMirroredStrategy when TF_CONFIG is set, else MirroredStrategy over `gpus` devices.

    Without GPUs, `gpus` logical CPU devices are created (must run before TF initializes devices).
    """
    if os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    physical = tf.config.list_physical_devices("GPU")
    if physical:
        if gpus > len(physical):
            raise ValueError(f"--gpus {gpus}: only {len(physical)} GPU(s) visible")
        return tf.distribute.MirroredStrategy([f"/gpu:{i}" for i in range(gpus)])
    if gpus > 1:
        log(f"WARNING: no GPU found; --gpus {gpus} runs on {gpus} logical CPU devices")
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if current is None or len(current) < gpus:
        try:
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(gpus)]
            )
        except RuntimeError as e:
            raise RuntimeError(
                f"--gpus {gpus}: cannot create logical CPU devices after TensorFlow "
                f"has initialized its devices ({e})"
            ) from e
    devices = [f"/cpu:{i}" for i in range(gpus)]
    return tf.distribute.MirroredStrategy(
        devices, cross_device_ops=tf.distribute.ReductionToOneDevice()
    )


def worker_info(strategy):
    """(num_workers, worker_index, replicas_per_worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and resolver is not None:
        spec = resolver.cluster_spec().as_dict()
        num_workers = len(spec.get("worker", [])) + len(spec.get("chief", []))
        task_type, task_id = resolver.task_type, resolver.task_id
        index = task_id + (1 if task_type == "worker" and "chief" in spec else 0)
        num_workers = max(num_workers, 1)
        return num_workers, index, strategy.num_replicas_in_sync // num_workers
    return 1, 0, strategy.num_replicas_in_sync


def broadcast_int(strategy, value, is_chief):
    """The chief's integer on every worker (one SUM all-reduce in which only replica 0
    contributes)."""
    mine_value = value if is_chief else 0

    def replica():
        ctx = tf.distribute.get_replica_context()
        mine = tf.where(tf.equal(ctx.replica_id_in_sync_group, 0), mine_value, 0)
        return ctx.all_reduce(tf.distribute.ReduceOp.SUM, tf.cast(mine, tf.int64))

    out = strategy.run(tf.function(replica))
    return int(strategy.experimental_local_results(out)[0].numpy())
