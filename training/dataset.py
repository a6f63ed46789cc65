"""Training input pipeline: DATA_DIR (ours or NVIDIA's TFRecords) -> batches of uint8 NHWC images
and labels.

    ds = make_dataset(data_dir, batch_size=per_replica_batch, input_context=ctx, seed=run_seed)
    for images, labels in ds: ...      # images uint8 [N,H,W,C], labels float32 [N,c_dim] (c_dim may
    be 0)

Distribution: pass the tf.distribute.InputContext you are given, e.g.

    strategy.distribute_datasets_from_function(
        lambda ctx: make_dataset(data_dir, ctx.get_per_replica_batch_size(global_batch),
        input_context=ctx),
        tf.distribute.InputOptions(experimental_replication_mode=tf.distribute.InputReplicationMode.PER_REPLICA))

PER_REPLICA makes one pipeline per replica (every replica reads its own shards); the default
PER_WORKER makes one pipeline per host whose batches are dealt to that host's replicas. Pipeline p
of P reads parts [p*K/P, (p+1)*K/P) when the dataset has K parts and P divides K; otherwise
(official single-file sets, or K not a multiple of P) it reads every part and keeps records with
global index % P == p. Either way each image belongs to exactly one pipeline. Auto-sharding is
turned off (the sharding is done here).

Order per pipeline: part files in an order reshuffled every epoch, interleaved record by record, an
element shuffle buffer (official size: shuffle_mb / bytes per image, capped at the pipeline's image
count), repeat, batch with drop_remainder, decode (raw CHW bytes or PNG), optional x-flip per image,
prefetch.

Determinism and exact resume: every random choice is seeded from `seed` (and the pipeline id): the
shuffles use seeded tf.data shuffles (their seed generators are part of the iterator state; if a
global seed is set with tf.random.set_seed it is mixed in, as always in TF), and mirroring uses
tf.random.stateless_uniform keyed by the batch counter. There is no py_function and no stateful
random op, so `tf.train.Checkpoint(data=iterator)` saves and restores the iterator exactly (tests
check it), including for distributed iterators. The saved state holds the element shuffle buffer
(serialized records, up to shuffle_mb), so lower shuffle_mb to keep checkpoints small.
"""

import math

import numpy as np
import tensorflow as tf

from dataset_tool import records


def dataset_info(data_dir):
    """dict(resolution, channels, count, c_dim, levels, shards, encoding, name, official,
    label_names, multi_hot,
    files={level: [paths]}, labels_file) of a dataset directory (ours, or official without a
    manifest)."""
    info = records.describe(data_dir)
    labels = info.get("labels") or {}
    return {
        "name": info["name"],
        "resolution": int(info["resolution"]),
        "channels": int(info["channels"]),
        "count": int(info["count"]),
        "c_dim": int(info["c_dim"]),
        "label_names": labels.get("names"),
        "multi_hot": labels.get("multi_hot"),  # None: not recorded (tell from the rows)
        "levels": [int(lv) for lv in info["levels"]],
        "shards": int(info["shards"]),
        "encoding": info["encoding"],
        "official": bool(info["official"]),
        "files": {int(lv): [str(f) for f in fs] for lv, fs in info["files"].items()},
        "labels_file": str(info["labels_file"]) if info["labels_file"] else None,
    }


def _pipeline_seed(seed, pipeline_id):
    return int((seed * 1_000_003 + pipeline_id * 7_919) % (2**31 - 1))


def make_dataset(
    data_dir,
    batch_size,
    input_context=None,
    resolution=None,
    shuffle=True,
    mirror=False,
    repeat=True,
    seed=0,
    shuffle_mb=4096,
    prefetch=tf.data.AUTOTUNE,
    labels=True,
):
    """tf.data.Dataset of (images uint8 [batch,H,W,C], labels float32 [batch,c_dim]) for one input
    pipeline.

    resolution: level to read (None = full resolution); shuffle_mb: element shuffle window in MB of
    raw images (NVIDIA's default 4096); labels=False yields [batch,0] labels even when the set has
    labels.
    """
    info = records.describe(data_dir)
    resolution = int(resolution or info["resolution"])
    level = int(round(math.log2(resolution)))
    if level not in info["files"] or 2**level != resolution:
        raise records.DatasetError(
            f"{data_dir}: no {resolution}x{resolution} level (levels: "
            f"{', '.join(str(2**lv) for lv in sorted(info['files']))})"
        )
    files = [str(f) for f in info["files"][level]]
    shards, count, channels = len(files), int(info["count"]), int(info["channels"])
    num_pipelines = input_context.num_input_pipelines if input_context else 1
    pipeline_id = input_context.input_pipeline_id if input_context else 0
    by_file = shards % num_pipelines == 0
    if by_file:
        per = shards // num_pipelines
        mine = list(range(pipeline_id * per, (pipeline_id + 1) * per))
        my_count = sum(len(range(p, count, shards)) for p in mine)
    else:
        mine = list(range(shards))
        my_count = len(range(pipeline_id, count, num_pipelines))
    if my_count == 0 or (my_count < batch_size and not repeat):
        raise records.DatasetError(
            f"{data_dir}: input pipeline {pipeline_id} of {num_pipelines} has {my_count} "
            f"images, fewer than one batch of {batch_size}"
        )
    # With repeat, a set smaller than the batch repeats within a batch (ADA-PT repeats small sets
    # in its image grid and its infinite sampler alike).
    pseed = _pipeline_seed(seed, pipeline_id)
    table = records.load_labels(info) if labels else np.zeros([count, 0], np.float32)
    table = tf.constant(table, tf.float32)  # [count, c_dim]

    # (record bytes, global index) in file order, parts interleaved record by record.
    parts = tf.data.Dataset.from_tensor_slices(
        (tf.constant([files[p] for p in mine]), tf.constant(mine, tf.int64))
    )
    if shuffle and len(mine) > 1:
        parts = parts.shuffle(len(mine), seed=pseed, reshuffle_each_iteration=True)

    def read_part(path, part):
        return tf.data.Dataset.zip(
            (
                tf.data.TFRecordDataset(path, buffer_size=1 << 22),
                tf.data.Dataset.range(part, count, shards),
            )
        )

    ds = parts.interleave(read_part, cycle_length=len(mine), block_length=1)
    if not by_file and num_pipelines > 1:
        ds = ds.filter(lambda rec, index: tf.equal(index % num_pipelines, pipeline_id))
    if shuffle:
        bytes_per_item = channels * resolution * resolution
        buffer = max(1, min(my_count, int(shuffle_mb) * 2**20 // bytes_per_item))
        ds = ds.shuffle(buffer, seed=pseed + 1, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()

    feature_spec = {
        "shape": tf.io.FixedLenFeature([3], tf.int64),
        "data": tf.io.FixedLenFeature([], tf.string),
    }
    shape_chw = [channels, resolution, resolution]
    if info["encoding"] == "png":

        def decode_one(rec, index):
            data = tf.io.parse_single_example(rec, feature_spec)["data"]
            img = tf.io.decode_png(data, channels=channels)
            img = tf.ensure_shape(img, [resolution, resolution, channels])
            return img, index

        ds = ds.map(decode_one, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        ds = ds.batch(batch_size, drop_remainder=True)

        def finish(img, index):
            return img, tf.gather(table, index)
    else:
        ds = ds.batch(batch_size, drop_remainder=True)

        def finish(rec, index):
            data = tf.io.parse_example(rec, feature_spec)["data"]
            img = tf.reshape(tf.io.decode_raw(data, tf.uint8), [batch_size] + shape_chw)
            # CHW -> HWC by unstacking the (1 or 3) channels: a uint8 transpose makes oneDNN print
            # "supports DT_UINT8 only on platforms with AVX-512" at every start (docs/NUMERICS.md).
            img = tf.stack(tf.unstack(img, num=channels, axis=1), axis=-1)
            return img, tf.gather(table, index)  # [N,H,W,C]

    ds = ds.map(finish, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    if mirror:

        def flip(step, batch):
            img, lab = batch
            key = tf.stack([tf.constant(pseed, tf.int64), step])
            keep = tf.random.stateless_uniform([batch_size], seed=key) < 0.5
            img = tf.where(keep[:, None, None, None], img, tf.reverse(img, axis=[2]))
            return img, lab

        ds = ds.enumerate().map(flip, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    ds = ds.prefetch(prefetch)
    options = tf.data.Options()
    options.deterministic = True
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return ds.with_options(options)
