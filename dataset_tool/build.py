"""Building a dataset: inputs cut into small chunks, prepared by parallel worker processes,
validated in output order and streamed to the TFRecord writers.

At most 2 x workers chunks are in flight and every finished image goes straight to the writers, so
memory does not grow with the number of images. Workers import numpy and PIL only.
"""

import collections
import contextlib
import math
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from dataset_tool import sources, writers
from dataset_tool.records import DatasetError

MAX_REPORTED = 50  # bad files listed before a run gives up


# ----------------------------------------------------------------------------
# Worker side.


def is_pow2(n):
    return n >= 4 and 2 ** int(round(math.log2(n))) == n


def _work(items, spec, encoding):
    """Per item: (status, shape CHW, serialized records per level). status: ok | error | dropped |
    shape."""
    out = []
    for item in items:
        try:
            arr = (
                sources.load_image(item, spec)
                if isinstance(item, str)
                else sources.array_image(item, spec)
            )
        except DatasetError as e:
            out.append(("error", str(e), None))
            continue
        if arr is None:
            out.append(("dropped", None, None))
            continue
        h, w, c = arr.shape
        if h != w or not is_pow2(h):
            out.append(("shape", (c, h, w), None))
            continue
        out.append(("ok", (c, h, w), writers.encode_levels(arr.transpose(2, 0, 1), encoding)))
    return out


def _mp_context():
    """fork where it is safe (Linux, TensorFlow not imported yet: workers start at once); spawn
    otherwise (a forked child of a TensorFlow process could inherit locks held by its threads).

    The record writer needs no TensorFlow (record_file.py); where it falls back to importing it,
    the workers have already been forked: with fork, ProcessPoolExecutor starts every worker at the
    first submit, which `_results` does before the first image reaches the writers.
    """
    if sys.platform.startswith("linux") and "tensorflow" not in sys.modules:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _results(items, spec, encoding, workers, chunk):
    """Results of `_work` for every item, in order; parallel with a bounded window of chunks in
    flight."""
    starts = range(0, len(items), chunk)
    if workers <= 1:
        for s in starts:
            yield from _work(items[s : s + chunk], spec, encoding)
        return
    pool = ProcessPoolExecutor(workers, mp_context=_mp_context())
    try:
        pending = collections.deque()
        for s in starts:
            pending.append(pool.submit(_work, items[s : s + chunk], spec, encoding))
            if len(pending) >= 2 * workers:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# ----------------------------------------------------------------------------
# Main side: validate in order and write.


def default_workers():
    """The number of cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def peak_rss_mb(children=False):
    """Peak resident memory in MB of this process (or of its largest finished child process).

    For this process we read VmHWM (the high-water mark of this program's memory, reset by exec);
    ru_maxrss would also count the parent's memory at fork time when the parent is a big process
    (e.g. a benchmark).
    """
    if not children:
        try:
            with open("/proc/self/status", encoding="ascii") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
    try:
        import resource
    except ImportError:  # not on Windows
        return float("nan")
    usage = resource.getrusage(resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF)
    return usage.ru_maxrss / 1024 if sys.platform != "darwin" else usage.ru_maxrss / 2**20


def build(
    data_dir,
    items,
    item_name,
    *,
    spec,
    labels=None,
    c_dim=0,
    label_names=None,
    multi_hot=None,
    shards=1,
    encoding="raw",
    overwrite=False,
    workers=None,
    ignore_errors=False,
    chunk=16,
    shuffle_seed=None,
    source=None,
    command=None,
    log=print,
):
    """Writes DATA_DIR from `items` (file paths or an array [N,...] of images), already in output
    order.

    labels: None, int class indices [N] (one-hot with c_dim columns) or float rows [N, c_dim].
    multi_hot: True for attribute tables (recorded in the manifest), else None.
    Returns the manifest dict.
    """
    workers = workers or default_workers()
    total = len(items)
    if total == 0:
        raise DatasetError(f"{source}: no images")
    if total < shards:
        raise DatasetError(f"{source}: {total} images are too few for {shards} shards")
    start = time.time()
    log(
        f'Creating dataset "{data_dir}" from {total} images ({workers} workers, {shards} shard(s), '
        f"{encoding} encoding)"
    )
    first = None
    errors, dropped = [], 0
    last_report = start
    with (
        writers.DatasetWriter(
            data_dir, shards=shards, encoding=encoding, overwrite=overwrite
        ) as out,
        contextlib.closing(_results(items, spec, encoding, workers, chunk)) as results,
    ):
        for index, (status, info, level_records) in enumerate(results):
            if status == "error":
                errors.append(info)
            elif status == "dropped":
                dropped += 1
                continue
            else:
                c, h, w = info
                name = item_name(index)
                if first is None:
                    if w != h:
                        raise DatasetError(
                            f"{name}: image is {w}x{h}, not square (pass --resolution "
                            f"R with --transform center-crop or resize)"
                        )
                    if not is_pow2(h):
                        raise DatasetError(
                            f"{name}: resolution {w}x{h} is not a power of two (pass "
                            f"--resolution R to resize)"
                        )
                    first = (info, name)
                (c0, h0, w0), name0 = first
                if (h, w) != (h0, w0):
                    fix = (
                        "--transform center-crop or resize"
                        if spec.get("resolution")
                        else "--resolution R to resize every image"
                    )
                    errors.append(
                        f"{name}: size {w}x{h} differs from {w0}x{h0} of {name0} (pass "
                        f"{fix}, or --ignore-errors to skip it)"
                    )
                elif c != c0:
                    errors.append(
                        f"{name}: {c} channel(s) but {name0} has {c0} (pass --channels 1 "
                        f"or 3, or --ignore-errors to skip it)"
                    )
                else:
                    label = None
                    if c_dim:
                        label = labels[index]
                        label = int(label) if np.ndim(label) == 0 else np.asarray(label, np.float32)
                    out.add(info, level_records, label)
            if errors and not ignore_errors and len(errors) >= MAX_REPORTED:
                break
            now = time.time()
            if now - last_report > 5:
                last_report = now
                log(f"{index + 1} / {total}")
        if errors and not ignore_errors:  # every bad file of the run at once (up to a limit)
            for e in errors[1:]:
                log(f"  also: {e}")
            more = len(errors) - 1
            raise DatasetError(
                errors[0]
                + (
                    f" (and {more}{'+' if len(errors) >= MAX_REPORTED else ''}"
                    f" more bad image(s), listed above)"
                    if more
                    else ""
                )
            )
        if out.count < shards:
            raise DatasetError(
                f"{source}: only {out.count} usable images, too few for {shards} shards"
            )
        manifest = out.close(
            c_dim=c_dim,
            label_names=label_names,
            multi_hot=multi_hot,
            shuffle_seed=shuffle_seed,
            source=source,
            command=command,
            skipped=len(errors) + dropped,
        )
    seconds = time.time() - start
    log(
        f"Added {out.count} images ({out.count / max(seconds, 1e-9):.0f} img/s, {seconds:.1f} s; "
        f"peak RSS {peak_rss_mb():.0f} MB main, "
        f"{peak_rss_mb(children=True):.0f} MB largest worker)."
    )
    if errors:
        log(
            f"Skipped {len(errors)} unreadable, corrupt or mismatched image(s) (--ignore-errors), "
            f"e.g.:"
        )
        for e in errors[:5]:
            log(f"  {e}")
    if dropped:
        log(f"Dropped {dropped} image(s) too small for the transform.")
    return manifest
