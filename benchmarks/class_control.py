"""Class and attribute control on Fashion-MNIST at the demo scale, the same CPU budget per run.

    python benchmarks/class_control.py --workdir /tmp/cc --minutes 12

1. dataset_tool: Fashion-MNIST 32x32 with its 10 classes (create_fashion_mnist), and a multi-hot
   set of its first --attr-images images built the way a user would: PNGs and a CSV of three
   attributes derived from the class and the mean intensity (footwear: sandal, sneaker, ankle boot;
   upper_body: T-shirt, pullover, coat, shirt; dark: mean pixel of the image below the set's
   median), through create_from_images --attributes;
2. metrics/run.py train-classifier on each set (the judge of cls_acc);
3. training/run.py --config demo --cond for --minutes each, one after the other (each has both
   cores): --cond-mode projection, acgan, both on the classes; both on the attributes;
4. fid2k (against the full set), cls_acc2k and msssim of each final snapshot, a class-by-row grid
   (generate.py --class all --grid) per class run and one grid per attribute combination (--attrs)
   of the attribute run; prints Markdown tables and writes class_control.json into --workdir.
"""

import glob
import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", "/tmp/class_control", "Where datasets, runs and grids go.")
flags.DEFINE_float("minutes", 12.0, "Training minutes of each run.")
flags.DEFINE_integer("attr-images", 20000, "Images of the multi-hot attribute set.")
flags.DEFINE_string("source", str(REPO.parent / "shared" / "data" / "fashion-mnist"), "IDX files.")
flags.DEFINE_string("weights", str(REPO.parent / "shared" / "weights"), "Metric weights folder.")
flags.DEFINE_boolean("skip-train", False, "Only evaluate existing runs.")

MODES = ("projection", "acgan", "both")
ATTRS = ("footwear", "upper_body", "dark")


def _run(cmd, **kw):
    print("+", " ".join(map(str, cmd)), flush=True)
    return subprocess.run([str(c) for c in cmd], check=True, cwd=REPO, **kw)


def _attribute_set(work):
    """PNGs + attrs.csv of the first --attr-images training images -> dataset_tool."""
    from PIL import Image

    from dataset_tool import sources

    data = work / "fashion_attrs"
    if data.exists():
        return data
    images, classes = sources.read_mnist_dir(FLAGS.source)
    n = FLAGS["attr-images"].value
    images, classes = images[:n], classes[:n]
    means = images.reshape(n, -1).mean(1)
    table = np.stack(
        [np.isin(classes, [5, 7, 9]), np.isin(classes, [0, 2, 4, 6]), means < np.median(means)], 1
    ).astype(int)
    folder = work / "attr_pngs"
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["file," + ",".join(ATTRS)]
    for i in range(n):
        Image.fromarray(np.pad(images[i], 2)).save(folder / f"{i:05d}.png")
        rows.append(f"{i:05d}.png," + ",".join(map(str, table[i])))
    (work / "attrs.csv").write_text("\n".join(rows) + "\n")
    _run(
        [
            sys.executable,
            "dataset_tool.py",
            "create_from_images",
            data,
            folder,
            "--attributes",
            work / "attrs.csv",
        ]
    )
    return data


def _train(work, name, data, mode):
    outdir = work / f"runs_{name}"
    if glob.glob(str(outdir / "0*")) or FLAGS["skip-train"].value:
        return
    log = open(work / f"train_{name}.out", "a")
    cmd = [
        sys.executable,
        "training/run.py",
        "--data",
        data,
        "--config",
        "demo",
        "--cond",
        "--cond-mode",
        mode,
        "--outdir",
        outdir,
        "--max-minutes",
        FLAGS.minutes,
        "--total-kimg",
        100000,
        "--snap",
        1000,
    ]
    print("+", " ".join(map(str, cmd)), flush=True)
    subprocess.run([str(c) for c in cmd], cwd=REPO, stdout=log, stderr=log, check=True)


def _metrics(snapshot, data, full, env):
    """{result name: value} of fid2k against `full`, cls_acc2k and msssim against `data` (values
    already in the run's metric-<name>.jsonl for this snapshot are reused)."""
    values = {}
    run_dir = os.path.dirname(snapshot)
    for metric, against in (("fid2k", full), ("cls_acc2k", data), ("msssim", data)):
        if metric == "fid2k" and full is None:
            continue
        jsonl = os.path.join(run_dir, f"metric-{metric}.jsonl")
        rows = [json.loads(x) for x in open(jsonl)] if os.path.exists(jsonl) else []
        rows = [
            r for r in rows if os.path.basename(r["snapshot_pkl"]) == os.path.basename(snapshot)
        ]
        if not rows:
            _run(
                [
                    sys.executable,
                    "metrics/run.py",
                    "--network",
                    snapshot,
                    "--data",
                    against,
                    "--metrics",
                    metric,
                    "--weights-dir",
                    FLAGS.weights,
                    "--noverbose",
                    "--seed",
                    "0",
                    "--run-dir",
                    run_dir,
                ],
                env=env,
            )
            rows = [json.loads(x) for x in open(jsonl)][-1:]
        values.update(rows[-1]["results"])
    return values


def _kimg(run_dir):
    ticks = re.findall(
        r"tick\s+\d+\s+kimg\s+([0-9.]+)", open(os.path.join(run_dir, "log.txt")).read()
    )
    return float(ticks[-1]) if ticks else 0.0


def main(_):
    work = pathlib.Path(FLAGS.workdir)
    work.mkdir(parents=True, exist_ok=True)
    classes = work / "fashion32"
    if not classes.exists():
        _run(
            [
                sys.executable,
                "dataset_tool.py",
                "create_fashion_mnist",
                classes,
                "--source",
                FLAGS.source,
            ]
        )
    attrs = _attribute_set(work)
    for data in (classes, attrs):
        if not (data / "classifier.keras").exists():
            _run([sys.executable, "metrics/run.py", "train-classifier", "--data", data])
    runs = [(m, classes, m) for m in MODES] + [("attrs_both", attrs, "both")]
    for name, data, mode in runs:
        _train(work, name, data, mode)
    env = dict(os.environ, TF_STYLEGAN2_CACHE=str(work / "cache"))
    results = {}
    for name, data, mode in runs:
        (run_dir,) = glob.glob(str(work / f"runs_{name}" / "0*"))
        snapshot = sorted(glob.glob(os.path.join(run_dir, "network-snapshot-*.keras")))[-1]
        results[name] = dict(
            kimg=_kimg(run_dir),
            **_metrics(snapshot, data, classes if data == classes else None, env),
        )
        grids = work / "grids"
        if data == classes:
            _run(
                [
                    sys.executable,
                    "generate.py",
                    "--network",
                    snapshot,
                    "--seeds",
                    "0-7",
                    "--class",
                    "all",
                    "--grid",
                    "--outdir",
                    grids / name,
                ]
            )
        else:
            for attrs_arg in ("none", "footwear", "upper_body", "upper_body,dark", "footwear,dark"):
                _run(
                    [
                        sys.executable,
                        "generate.py",
                        "--network",
                        snapshot,
                        "--seeds",
                        "0-7",
                        "--attrs",
                        attrs_arg,
                        "--grid",
                        "--outdir",
                        grids / name / attrs_arg,
                    ]
                )
        print(name, json.dumps(results[name]), flush=True)
    (work / "class_control.json").write_text(json.dumps(results, indent=2))
    print("\n| run | kimg | fid2k | cls_acc2k | msssim fake | msssim real |")
    print("| --- | --: | --: | --: | --: | --: |")
    for name, r in results.items():
        cells = [r.get(k) for k in ("fid2k", "cls_acc2k", "msssim_fake", "msssim_real")]
        text = " | ".join("" if v is None else f"{v:.3f}" for v in cells)
        print(f"| {name} | {r['kimg']:.0f} | {text} |")
    for name, r in results.items():
        per = {k: v for k, v in r.items() if re.match(r"(cls_acc2k|msssim_fake|msssim_real)_", k)}
        print(f"\n{name}: " + ", ".join(f"{k} {v:.3f}" for k, v in sorted(per.items())))


if __name__ == "__main__":
    app.run(main)
