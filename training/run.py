"""Train StyleGAN2: python training/run.py --gpus 8 --data DATA_DIR --config config-f --outdir runs

Resume: --resume RUN_DIR (or `latest`) continues a run exactly; --resume SNAPSHOT.keras|official.pkl
starts a new run from those weights. Several machines: set TF_CONFIG on each
(MultiWorkerMirroredStrategy).
"""

import dataclasses
import json
import os
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from absl import flags  # noqa: E402

from apps import cli, train_alae  # noqa: E402
from apps.quiet_start import quiet_tensorflow  # noqa: E402

# TensorFlow's start-up INFO lines (oneDNN on, CPU features, buffer sizes) stay off the terminal;
# its warnings and errors do not. TF_CPP_MIN_LOG_LEVEL=0 shows everything.
quiet_tensorflow("1")

FLAGS = flags.FLAGS
PROG = "training/run.py"


OUR_FLAGS = []


def define_flags():
    if "max-minutes" in FLAGS:  # already defined (tests call run() machinery twice)
        return
    before = set(FLAGS)
    _define_flags()
    OUR_FLAGS.extend(sorted(set(FLAGS) - before))


def _define_flags():
    from apps import train_flags

    train_flags.define(flags, cli.PRECISIONS)
    flags.adopt_module_key_flags(train_flags)  # --help lists them as this command's own


class UserError(Exception):
    pass


class Reported(UserError):
    """A UserError already printed (into the run's log.txt as well)."""


def _flag(name):
    return FLAGS[name].value


def _num_workers():
    tf_config = os.environ.get("TF_CONFIG")
    if not tf_config:
        return 1
    try:
        cluster = json.loads(tf_config).get("cluster", {})
    except json.JSONDecodeError as e:
        raise UserError(f"TF_CONFIG: not valid JSON ({e})") from e
    return max(len(cluster.get("worker", [])) + len(cluster.get("chief", [])), 1)


def _parse_metrics(text):
    names = [m.strip() for m in (text or "none").split(",") if m.strip()]
    if names in ([], ["none"]):
        return ()
    try:
        from metrics import metric_main
    except ImportError:
        raise UserError(
            f"--metrics {text}: the metrics package is not available; use --metrics none"
        )
    bad = [m for m in names if not metric_main.is_valid_metric(m)]
    if bad:
        raise UserError(f"--metrics: unknown metric(s) {', '.join(bad)}")
    return tuple(names)


def _dataset_info(data):
    from dataset_tool import records
    from training import dataset

    if not data:
        raise UserError("--data is required (a dataset directory)")
    if not os.path.isdir(data):
        raise UserError(f"--data {data}: no such directory")
    try:
        return dataset.dataset_info(data)
    except (records.DatasetError, OSError, ValueError) as e:
        raise UserError(f"--data {data}: {e}") from e


def _multi_hot(info):
    """Whether the dataset's labels are multi-hot attributes (the manifest says, or the rows)."""
    from dataset_tool import records

    if info.get("multi_hot") is not None:
        return bool(info["multi_hot"])
    try:
        labels = records.load_labels({"labels_file": info["labels_file"], "count": info["count"]})
    except (records.DatasetError, OSError, ValueError) as e:
        raise UserError(f"--data {_flag('data')}: {e}") from e
    return records.is_multi_hot(labels)


def resolve(run_dir_for_resume=None):
    """The TrainConfig from the flags (or from RUN_DIR/config.json when resuming a run)."""
    from training import config as config_lib

    if run_dir_for_resume is not None:
        return _resume_config(run_dir_for_resume)

    info = _dataset_info(_flag("data"))
    if _flag("max-minutes") < 0:
        raise UserError(f"--max-minutes {_flag('max-minutes')} must be >= 0")
    gpus = _flag("gpus") if _flag("gpus") is not None else 1
    if gpus < 1:
        raise UserError(f"--gpus {gpus} must be >= 1")
    if _alae_preset():
        return _resolve_alae(info, gpus)
    if _flag("cond") and not info["c_dim"]:
        raise UserError(f"--cond: dataset {_flag('data')} has no labels")
    refused = train_alae.refused_flag(FLAGS, alae=False)
    if refused:
        raise UserError(f"--{refused[0]}: {refused[1]}")
    resume = _flag("resume")
    if resume is not None:
        if not os.path.isfile(resume):
            raise UserError(f"--resume {resume}: no such file")
        if not resume.endswith((".keras", ".pkl")):
            raise UserError(
                f"--resume {resume}: expected a run directory, 'latest', a .keras "
                f"snapshot or an official .pkl"
            )
    from tf_stylegan2.networks.precision import resolve_precision

    try:
        cfg = config_lib.make_config(
            _flag("config"),
            data=os.path.abspath(_flag("data")),
            outdir=_flag("outdir"),
            resolution=info["resolution"],
            channels=info["channels"],
            c_dim=info["c_dim"] if _flag("cond") else 0,
            gpus=gpus,
            num_workers=_num_workers(),
            batch=_flag("batch"),
            gamma=_flag("gamma"),
            mirror=_flag("mirror"),
            total_kimg=_flag("total-kimg"),
            seed=_flag("seed"),
            kimg_per_tick=_flag("kimg-per-tick"),
            snap=_flag("snap"),
            metrics=_parse_metrics(_flag("metrics")),
            jit=_flag("jit"),
            dtype=resolve_precision(_flag("precision")),
            cond=_flag("cond"),
            resume=os.path.abspath(resume) if resume else None,
            max_minutes=float(_flag("max-minutes")),
            batch_gpu=_flag("batch-gpu"),
            aug=_flag("aug"),
            augpipe=_flag("augpipe"),
            p=_flag("p"),
            target=_flag("target"),
            freezed=_flag("freezed"),
            cond_mode=_flag("cond-mode"),
            acgan_weight=_flag("acgan-weight"),
            multi_hot=_multi_hot(info) if _flag("cond") else False,
            label_names=info["label_names"] if _flag("cond") else None,
            guide=_flag("guide"),
            guide_weight=_flag("guide-weight"),
            lod_kimg=_flag("lod-kimg"),
            cbase=_flag("cbase"),
            cmax=_flag("cmax"),
        )
    except ValueError as e:
        raise UserError(str(e)) from e
    return cfg


# Flags a resumed run honours; any other flag given with --resume RUN_DIR is refused.
RESUME_FLAGS = (
    "resume",
    "gpus",
    "total-kimg",
    "max-minutes",
    "metrics",
    "outdir",
    "dry-run",
    "deterministic",
    "jit",
    "grappler",
    "precision",
)


def _alae_preset():
    from training.alae import config as alae_config

    return alae_config.is_alae(_flag("config"))


def _resolve_alae(info, gpus):
    """The AlaeConfig of a new StyleALAE run (apps/train_alae.py)."""
    refused = train_alae.refused_flag(FLAGS, alae=True)
    if refused:
        raise UserError(f"--{refused[0]}: {refused[1]} (--config {_flag('config')})")
    if _flag("resume") is not None:
        raise UserError(f"--resume {_flag('resume')}: an ALAE run resumes from its run directory")
    try:
        info = dict(info, path=os.path.abspath(_flag("data")))
        return train_alae.make_config(FLAGS, info, gpus, _num_workers())
    except ValueError as e:
        raise UserError(str(e)) from None


def _resume_alae(run_dir, text):
    from training.alae.config import AlaeConfig

    refused = [n for n in _defined_flags() if FLAGS[n].present and n not in train_alae.RESUME_FLAGS]
    if refused:
        raise UserError(
            f"--resume {run_dir} continues that ALAE run's own configuration (config.json); it "
            f"cannot take --{refused[0]}: start a new run instead"
        )
    cfg = AlaeConfig.from_json(text)
    try:
        changes = train_alae.resume_changes(FLAGS, cfg)
    except ValueError as e:
        raise UserError(str(e)) from None
    return dataclasses.replace(cfg, **changes)


def _resume_config(run_dir):
    """RUN_DIR/config.json with the changes a resumed run can honour."""
    from training import config as config_lib

    with open(os.path.join(run_dir, "config.json"), encoding="utf-8") as f:
        text = f.read()
    if json.loads(text).get("kind") == "alae":
        return _resume_alae(run_dir, text)
    refused = [
        name for name in _defined_flags() if FLAGS[name].present and name not in RESUME_FLAGS
    ]
    if refused:
        raise UserError(
            f"--resume {run_dir} continues that run's own configuration "
            f"(config.json); it cannot take --{refused[0]}: start a new run instead"
        )
    cfg = config_lib.TrainConfig.from_json(text)
    changes = {}
    if _flag("gpus") is not None:  # results do not depend on the replica count
        changes["gpus"] = int(_flag("gpus"))
    if _flag("total-kimg") is not None:
        changes["total_kimg"] = float(_flag("total-kimg"))
    if _flag("max-minutes"):
        changes["max_minutes"] = float(_flag("max-minutes"))
    if FLAGS["metrics"].present:  # --metrics none turns them off
        changes["metrics"] = _parse_metrics(_flag("metrics"))
    if FLAGS["jit"].present:
        changes["jit"] = bool(_flag("jit"))
    if FLAGS["precision"].present:  # the weights' dtype must stay: fp32 <-> bf16 <-> fp16
        from tf_stylegan2.networks.precision import continue_in

        try:
            changes["dtype"] = continue_in(cfg.dtype, _flag("precision"))
        except ValueError as e:
            raise UserError(f"--precision {_flag('precision')}: {e}") from None
    if changes.get("gpus"):
        from training import growing

        try:
            growing.check_replicas(cfg, changes["gpus"] * cfg.num_workers)
        except ValueError as e:
            raise UserError(str(e)) from None
    return config_lib.dataclasses.replace(cfg, **changes) if changes else cfg


def _defined_flags():
    return [name for name in OUR_FLAGS if name in FLAGS]


def _resume_run_dir():
    """RUN_DIR to continue, or None (new run, possibly from a snapshot file)."""
    from training import rundir

    resume = _flag("resume")
    if resume is None:
        return None
    if resume == "latest":
        run_dir = rundir.latest_run_dir(_flag("outdir"))
        if run_dir is None:
            raise UserError(f"--resume latest: no run with a checkpoint under {_flag('outdir')}")
        return run_dir
    if not os.path.exists(resume):
        raise UserError(f"--resume {resume}: no such run directory or snapshot file")
    if os.path.isdir(resume):
        if not os.path.isfile(os.path.join(resume, "config.json")):
            raise UserError(f"--resume {resume}: not a run directory (no config.json)")
        if not os.path.isdir(os.path.join(resume, "checkpoints")):
            raise UserError(f"--resume {resume}: run directory has no checkpoints/")
        return resume
    return None


def _check_metrics(cfg):
    """Every requested metric's weights before anything starts (one line naming what is missing)."""
    if not cfg.metrics:
        return
    import tensorflow as tf

    from metrics import metric_main

    try:
        metric_main.check_ready(
            cfg.metrics,
            data=cfg.data,
            c_dim=cfg.c_dim,
            on_gpu=bool(tf.config.list_physical_devices("GPU")),
            log=lambda m: print(m, file=sys.stderr),
        )
    except ValueError as e:
        raise UserError(str(e)) from None


def _check_guide(cfg):
    """--guide: the classifier loads and fits the run, before anything starts."""
    if getattr(cfg, "guide", None):
        from training import conditioning

        try:
            conditioning.check_guide(cfg)
        except ValueError as e:
            raise UserError(str(e)) from None


def _metric_fn(run_dir, cfg):
    from metrics import metric_main

    def fn(name, G_ema, snapshot):
        import contextlib

        # A progress line on the terminal only (log.txt gets the result line, not the bar).
        terminal = sys.__stderr__ is not None and sys.__stderr__.isatty()
        with contextlib.redirect_stderr(sys.__stderr__) if terminal else contextlib.nullcontext():
            result = metric_main.calc_metric(
                name,
                generator=G_ema,
                data=cfg.data,
                mirror=cfg.mirror,
                snapshot=snapshot,
                verbose=terminal,
            )
        metric_main.report_metric(result, run_dir=run_dir, snapshot=snapshot)
        return result.get("results", {})

    return fn


def main(argv, on_iteration=None):
    """on_iteration: None, or a callable given the Trainer after every minibatch (tests)."""
    from absl import logging

    logging.set_verbosity(logging.WARNING)
    if len(argv) > 1:
        raise UserError(f"unexpected arguments: {' '.join(argv[1:])}")
    run_dir = _resume_run_dir()
    cfg = resolve(run_dir)
    if _flag("dry-run"):
        print(cfg.to_json())
        return 0
    _check_metrics(cfg)
    _check_guide(cfg)

    from training import loop, session

    deterministic = _flag("deterministic") or os.environ.get("TF_DETERMINISTIC_OPS") == "1"
    try:
        session.train_session(
            cfg,
            run_dir,
            deterministic=deterministic,
            grappler=_flag("grappler"),
            metric_fn_for=lambda d: _metric_fn(d, cfg),
            on_iteration=on_iteration,
            prog=PROG,
        )
    except session.StartupError as e:
        raise (Reported if e.logged else UserError)(str(e)) from None
    except loop.RunComplete as e:
        print(str(e))
    except loop.Interrupted as e:
        print(
            f"{PROG}: interrupted at kimg {e.kimg:.3f}; resume with: python training/run.py "
            f"--resume {e.run_dir}",
            file=sys.stderr,
        )
        return 130
    except KeyboardInterrupt:  # during start-up
        print(f"{PROG}: interrupted before training started", file=sys.stderr)
        return 130
    except loop.NonFiniteError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    return 0


def _main(argv, on_iteration=None):
    try:
        code = main(argv, on_iteration)
    except Reported:
        code = 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        code = 130
    except UserError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        code = 2
    if code == 130:
        # Interrupted: everything is on disk (atomic snapshots, flushed log). TensorFlow's
        # threads (tf.data prefetch, the summary writer) may still be running; interpreter teardown
        # under them crashed once in CI (SIGSEGV instead of 130), so leave without it.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def run(on_iteration=None):
    """The command line. on_iteration: see main (tests pass a hook; the command passes none)."""
    define_flags()

    cli.run_script(
        lambda argv: _main(argv, on_iteration), sys.modules[__name__], flags_parser=_parse_flags
    )


def _parse_flags(argv):
    try:
        return FLAGS(argv)
    except flags.Error as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    run()
