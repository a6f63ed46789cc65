"""One training session from a resolved config: devices, run directory, log, the loop, clean-up.

training/run.py parses flags, builds the TrainConfig and calls `train_session`; everything a run
does on disk happens here: a new run directory (its id agreed by all workers), config.json,
log.txt (a copy of stdout/stderr), `_finished.txt`, and removal of a new run directory when
training never started.
"""

import dataclasses
import os
import shutil
import sys

from dataset_tool import records
from fileio import atomic
from training import config as config_lib
from training import distribute, loop, rundir
from training.alae.config import AlaeConfig


class StartupError(Exception):
    """Training could not start. `logged`: the line is already in an existing run's log.txt."""

    def __init__(self, message, logged=False):
        super().__init__(message)
        self.logged = logged


def create_run_dir(cfg, strategy, num_workers, is_chief):
    """<outdir>/<id>-<desc>: the next free id on the chief, broadcast so every worker agrees."""
    desc = cfg.describe() if isinstance(cfg, AlaeConfig) else config_lib.describe(cfg)
    candidate = rundir.next_run_dir(cfg.outdir, desc)
    run_id = int(os.path.basename(candidate)[:5])
    if num_workers > 1:
        run_id = distribute.broadcast_int(strategy, run_id, is_chief)
    run_dir = os.path.join(cfg.outdir, f"{run_id:05d}-{desc}")
    os.makedirs(run_dir, exist_ok=num_workers > 1 or not is_chief)
    return run_dir


def _devices(cfg, deterministic, grappler, log):
    import tensorflow as tf

    if deterministic:
        tf.config.experimental.enable_op_determinism()
    if not grappler:  # faster tracing of small networks, slower steps
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    try:
        strategy = distribute.make_strategy(cfg.gpus, log=log)
    except (ValueError, RuntimeError) as e:
        raise StartupError(str(e)) from e
    num_workers, worker_index, _ = distribute.worker_info(strategy)
    if strategy.num_replicas_in_sync != cfg.num_replicas:
        cfg = dataclasses.replace(
            cfg, gpus=strategy.num_replicas_in_sync // num_workers, num_workers=num_workers
        )
    per_round = getattr(cfg, "batch_gpu", 1) * strategy.num_replicas_in_sync
    if getattr(cfg, "batch", 0) % per_round:
        raise StartupError(
            f"--batch {cfg.batch} must be a multiple of --batch-gpu "
            f"{cfg.batch_gpu} x {strategy.num_replicas_in_sync} replica(s) = "
            f"{per_round}"
        )
    return cfg, strategy, num_workers, worker_index == 0


def train_session(
    cfg,
    resume_run_dir=None,
    *,
    deterministic=False,
    grappler=True,
    metric_fn_for=None,
    on_iteration=None,
    prog="training",
):
    """Trains `cfg` in a new run directory, or continues `resume_run_dir` exactly.

    metric_fn_for: None or run_dir -> metric_fn (see loop.train). on_iteration: called with the
    Trainer after every minibatch (tests use it to kill the process at a given image count).
    Returns the run directory. Raises StartupError (nothing trained; a new run directory is
    removed), loop.RunComplete, loop.Interrupted (with .run_dir set), loop.NonFiniteError.
    """
    import tensorflow as tf

    cfg, strategy, num_workers, is_chief = _devices(
        cfg, deterministic, grappler, log=lambda m: print(m, file=sys.stderr)
    )
    new_run = resume_run_dir is None
    run_dir = create_run_dir(cfg, strategy, num_workers, is_chief) if new_run else resume_run_dir
    if is_chief:
        atomic.write_text(os.path.join(run_dir, "config.json"), cfg.to_json() + "\n")
    tees = []
    if is_chief:
        log_path = os.path.join(run_dir, "log.txt")
        tees = [rundir.Tee(log_path, sys.stdout), rundir.Tee(log_path, sys.stderr)]
        sys.stdout, sys.stderr = tees
    started = []
    try:
        print(f"Run directory: {run_dir}")
        metric_fn = metric_fn_for(run_dir) if metric_fn_for and cfg.metrics else None
        train = loop.train
        if isinstance(cfg, AlaeConfig):  # StyleALAE: its own loop (training/alae/loop.py)
            from training.alae import loop as alae_loop

            train = alae_loop.train
        train(
            cfg,
            run_dir,
            strategy,
            metric_fn=metric_fn,
            resume_from_run=not new_run,
            log=print,
            on_started=lambda: started.append(True),
            on_iteration=on_iteration,
        )
        if is_chief:
            atomic.write_text(os.path.join(run_dir, "_finished.txt"), "")
    except loop.Interrupted as e:
        e.run_dir = run_dir
        raise
    except (loop.ResumeError, records.DatasetError, ValueError, OSError, tf.errors.OpError) as e:
        if started:
            raise
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if not new_run:  # the run stays: its log.txt gets the line too
            print(f"{prog}: error: {message}", file=sys.stderr)
        raise StartupError(message, logged=not new_run) from e
    finally:
        if tees:
            sys.stdout, sys.stderr = tees[0].stream, tees[1].stream
            for t in tees:
                t.close()
        if new_run and not started and is_chief:  # a run that never trained leaves nothing
            shutil.rmtree(run_dir, ignore_errors=True)
    return run_dir
