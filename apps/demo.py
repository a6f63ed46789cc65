"""`make demo`: the main job end to end on Fashion-MNIST, on the CPU, in bounded time.

1. dataset_tool.py create_fashion_mnist: a conditional 32x32 dataset with labels;
2. training/run.py --config demo --cond: train for --minutes on the CPU;
3. metrics/run.py: a small FID of the first and of the last snapshot against the real images;
4. generate.py --class all --grid, style_mixing.py and generate.py --interpolate on the result;
5. export.py: a SavedModel, then one call through its serving signature.

Every step is the user command itself, run as a subprocess, so the demo shows what a user types.
"""

import glob
import io
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

from absl import app, flags

REPO = pathlib.Path(__file__).resolve().parents[1]
FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_float(
        "minutes",
        float(os.environ.get("TF_STYLEGAN2_DEMO_MINUTES", 10)),
        "Training time budget in minutes (env TF_STYLEGAN2_DEMO_MINUTES).",
    )
    flags.DEFINE_string("outdir", "demo-out", "Where everything is written.")
    flags.DEFINE_string(
        "source",
        None,
        "Folder with the Fashion-MNIST IDX .gz files (default: the "
        "dataset tool's search: ../shared/data/fashion-mnist, Debian's package, keras cache).",
    )
    flags.DEFINE_string("config", "demo", "Training preset.")
    flags.DEFINE_string("fid", "fid2k", "FID metric computed at the start and at the end.")
    flags.DEFINE_integer("max-images", None, "Use at most this many training images.")
    flags.DEFINE_integer("gpus", 1, "Replicas (logical CPU devices on a CPU machine).")
    flags.DEFINE_string(
        "precision",
        "auto",
        "Training precision (training/run.py --precision): auto = bf16 on CPUs with native "
        "bfloat16 (the same quality here, docs/BENCHMARKS.md#mixed-precision), else fp32.",
    )
    flags.DEFINE_boolean(
        "overwrite",
        False,
        "Start again in an existing --outdir (removes the outputs of "
        "an earlier demo there, nothing else).",
    )


def _step(title, args, log):
    """Run one user command, echo it, tee its output into the demo log; stop the demo if it
    fails."""
    cmd = [sys.executable] + [str(a) for a in args]
    shown = " ".join(["python"] + [str(a) for a in args])
    print(f"\n=== {title}\n$ {shown}", flush=True)
    log.write(f"\n=== {title}\n$ {shown}\n")
    t0 = time.time()
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
    )
    lines = []
    # newline='' keeps the '\r' of progress bars, so they redraw in place as in a terminal
    for line in io.TextIOWrapper(proc.stdout, encoding="utf-8", errors="replace", newline=""):
        log.write(line)
        if not TF_NOISE.match(line):  # TF's C++ start-up chatter goes to the log only
            sys.stdout.write(line)
        lines.append(line)
    proc.wait()
    log.flush()
    if proc.returncode != 0:
        print(
            f"error: demo step '{title}' failed with exit status {proc.returncode}", file=sys.stderr
        )
        sys.exit(proc.returncode)
    return "".join(lines), time.time() - t0


TF_NOISE = re.compile(r"^(WARNING: All log messages before absl|[IWE]\d{4} [\d:.]+ )")


def _fid_value(output, metric):
    m = re.search(rf"{re.escape(metric)}\S*\s+([0-9.]+)", output)
    return float(m.group(1)) if m else None


def _snapshots(run_dir):
    return sorted(glob.glob(os.path.join(run_dir, "network-snapshot-*.keras")))


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    out = pathlib.Path(FLAGS.outdir).resolve()
    if out.exists() and any(out.iterdir()):
        if not FLAGS.overwrite:
            print(f"error: {out}: not empty (pass --overwrite or remove it)", file=sys.stderr)
            sys.exit(2)
        _remove_outputs(out)
    out.mkdir(parents=True, exist_ok=True)
    data, runs = out / "data", out / "runs"
    t_start = time.time()
    summary = {}
    with open(out / "demo-log.txt", "w", encoding="utf-8") as log:
        args = ["dataset_tool.py", "create_fashion_mnist", data, "--overwrite"]
        source = FLAGS.source or _default_source()
        if source:
            args += ["--source", source]
        if FLAGS["max-images"].value:
            args += ["--max-images", FLAGS["max-images"].value]
        _step("1/5 dataset: Fashion-MNIST, padded to 32x32, with labels", args, log)

        _step(
            "2/5 train a conditional StyleGAN2 on the CPU",
            [
                "training/run.py",
                "--data",
                data,
                "--config",
                FLAGS.config,
                "--cond",
                "--outdir",
                runs,
                "--gpus",
                FLAGS.gpus,
                "--max-minutes",
                FLAGS.minutes,
                "--precision",
                FLAGS.precision,
                "--metrics",
                "none",
            ],
            log,
        )
        run_dir = sorted(p for p in runs.iterdir() if p.is_dir())[-1]
        snaps = _snapshots(run_dir)
        summary["run_dir"] = str(run_dir)

        fids = {}
        for name, snap in (("start", snaps[0]), ("end", snaps[-1])):
            if name == "end" and snap == snaps[0]:  # one snapshot only: measured once
                fids[name] = fids["start"]
                break
            text, _ = _step(
                f"3/5 {FLAGS.fid} at the {name} ({os.path.basename(snap)})",
                ["metrics/run.py", "--network", snap, "--data", data, "--metrics", FLAGS.fid]
                + _weights_args(),
                log,
            )
            fids[name] = _fid_value(text, FLAGS.fid)
        summary["fid"] = fids

        samples, mixing, interp = out / "samples", out / "style-mixing", out / "interpolation"
        _step(
            "4/5 samples: one row per class",
            [
                "generate.py",
                "--network",
                run_dir,
                "--seeds",
                "0-9",
                "--class",
                "all",
                "--grid",
                "--trunc",
                "1.0",
                "--outdir",
                samples,
            ],
            log,
        )
        _step(
            "4/5 style mixing",
            [
                "style_mixing.py",
                "--network",
                run_dir,
                "--rows",
                "85,100,75,458",
                "--cols",
                "55,821,1789,293",
                "--styles",
                "0-3",
                "--trunc",
                "1.0",
                "--class",
                "0",
                "--outdir",
                mixing,
            ],
            log,
        )
        _step(
            "4/5 interpolation GIF",
            [
                "generate.py",
                "--network",
                run_dir,
                "--interpolate",
                "--seeds",
                "1,2,3,4",
                "--frames",
                "24",
                "--class",
                "7",
                "--outdir",
                interp,
            ],
            log,
        )

        export_dir = out / "saved_model" / "1"
        _step(
            "5/5 export a SavedModel for TF Serving",
            ["export.py", "--network", run_dir, "--dest", export_dir],
            log,
        )
        _step(
            "5/5 call the SavedModel through its serving signature (TensorFlow only)",
            ["-c", SERVE_ONCE, export_dir, out / "served.png"],
            log,
        )

    summary["minutes_total"] = round((time.time() - t_start) / 60, 1)
    summary["files"] = {
        "dataset": str(data),
        "training run (log.txt, TensorBoard events, fakes*.png, snapshots)": str(run_dir),
        "class-by-row sample grid": _first(samples, "*.png"),
        "style-mixing figure": _first(mixing, "grid*.png"),
        "interpolation GIF": _first(interp, "*.gif"),
        "SavedModel": str(export_dir),
        "image from the SavedModel": str(out / "served.png"),
        "demo log": str(out / "demo-log.txt"),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print("\n=== demo finished in %.1f min" % summary["minutes_total"])
    print(f"FID ({FLAGS.fid}): start {fids['start']}, end {fids['end']}")
    for what, where in summary["files"].items():
        print(f"  {what}: {where}")


OUTPUTS = (
    "data",
    "runs",
    "samples",
    "style-mixing",
    "interpolation",
    "saved_model",
    "served.png",
    "demo-log.txt",
    "summary.json",
)


def _remove_outputs(out):
    """--overwrite: remove what an earlier demo wrote in `out` (and nothing else)."""
    for name in OUTPUTS:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _weights_args():
    """Metric weights: $TF_STYLEGAN2_WEIGHTS or the cache as usual, else the project machines'
    ../shared/weights."""
    shared = REPO.parent / "shared" / "weights"
    if os.environ.get("TF_STYLEGAN2_WEIGHTS") or not shared.is_dir():
        return []
    return ["--weights-dir", str(shared)]


def _default_source():
    """The project machines' copy of Fashion-MNIST (../shared/data), else the dataset tool's own
    search."""
    shared = REPO.parent / "shared" / "data" / "fashion-mnist"
    return str(shared) if (shared / "train-images-idx3-ubyte.gz").exists() else None


def _first(folder, pattern):
    found = sorted(glob.glob(os.path.join(folder, pattern)))
    return found[0] if found else str(folder)


# Runs in a fresh interpreter that imports only TensorFlow: what a TF Serving user has.
SERVE_ONCE = """
import sys, numpy as np, tensorflow as tf
from PIL import Image
model = tf.saved_model.load(sys.argv[1])
fn = model.signatures["serving_default"]
specs = fn.structured_input_signature[1]
n = 10
inputs = {"z": tf.constant(np.random.RandomState(0).randn(n, specs["z"].shape[1]), tf.float32),
          "truncation_psi": tf.constant(1.0)}
if "c" in specs:
    inputs["c"] = tf.one_hot(tf.range(n) % specs["c"].shape[1], specs["c"].shape[1])
images = fn(**inputs)["images"].numpy()
print("serving_default ->", images.shape, images.dtype)
Image.fromarray(np.concatenate(list(images), axis=1).squeeze()).save(sys.argv[2])
print("wrote", sys.argv[2])
"""


def run():
    define_flags()
    from apps import cli

    cli.run_script(main, sys.modules[__name__])


if __name__ == "__main__":
    run()
