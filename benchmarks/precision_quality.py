"""Quality of bf16 training vs the seed-to-seed spread of fp32: demo preset on Fashion-MNIST.

    python benchmarks/precision_quality.py --workdir /tmp/prec --kimg 8 [--fp32-seeds 0,1,2]
                                           [--bf16-seeds 0,1] [--snap-kimg 2] [--eval-kimg 4,8]

1. dataset_tool create_fashion_mnist: the 60,000 training images at 32x32 (once);
2. training/run.py --config demo --precision fp32 for each --fp32-seeds and --precision bf16 for
   each --bf16-seeds, one after the other (each alone on the machine), --kimg each, a snapshot
   every --snap-kimg;
3. metrics/run.py fid2k (--seed 0, float32 evaluation) of every snapshot (or those of --eval-kimg)
   against the set; values already in a run's metric-fid2k.jsonl are reused;
4. prints a Markdown table (kimg; fid2k per run; the fp32 min-max), the non-finite steps each run
   logged, the training img/s, and writes precision_quality.png (fid2k against kimg) into --workdir.
"""

import glob
import os
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from benchmarks import quality_runs  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", "/tmp/precision_quality", "Where the dataset, runs and plot go.")
flags.DEFINE_float("kimg", 8.0, "Training length of every run.")
flags.DEFINE_float("snap-kimg", 2.0, "kimg between snapshots.")
flags.DEFINE_list("fp32-seeds", ["0", "1", "2"], "Seeds of the float32 runs.")
flags.DEFINE_list("bf16-seeds", ["0", "1"], "Seeds of the bfloat16 runs.")
flags.DEFINE_string("source", str(REPO.parent / "shared" / "data" / "fashion-mnist"), "IDX files.")
flags.DEFINE_string("weights", str(REPO.parent / "shared" / "weights"), "Metric weights folder.")
flags.DEFINE_boolean("skip-train", False, "Only evaluate existing runs.")
flags.DEFINE_list("eval-kimg", [], "Evaluate only the snapshots of these kimg (default: all).")


def _runs():
    return [("fp32", s) for s in FLAGS["fp32-seeds"].value] + [
        ("bf16", s) for s in FLAGS["bf16-seeds"].value
    ]


def _train(work, data, precision, seed):
    outdir = work / f"runs_{precision}_s{seed}"
    if glob.glob(str(outdir / "0*" / "_finished.txt")):
        return
    with open(work / f"train_{precision}_s{seed}.out", "w") as log:
        quality_runs.run(
            [sys.executable, "training/run.py", "--data", data, "--config", "demo",
             "--outdir", outdir, "--precision", precision, "--seed", seed,
             "--total-kimg", FLAGS.kimg, "--kimg-per-tick", FLAGS["snap-kimg"].value,
             "--snap", 1, "--metrics", "none"],
            stdout=log, stderr=log,
        )  # fmt: skip


def _plot(path, series):
    """fid2k against kimg, one line per run (fp32 blue shades, bf16 red shades)."""
    palette = {"fp32": [(20, 60, 200), (60, 150, 240), (0, 170, 170)],
               "bf16": [(200, 30, 30), (235, 130, 30), (170, 0, 120)]}  # fmt: skip
    colours, used = {}, {"fp32": 0, "bf16": 0}
    for name in sorted(series):
        kind = name.split()[0]
        colours[name] = palette[kind][used[kind] % 3]
        used[kind] += 1
    title = "fid2k vs kimg: demo preset, Fashion-MNIST; fp32 blue, bf16 red"
    quality_runs.plot(path, series, title, colours)


def main(_):
    work = pathlib.Path(FLAGS.workdir)
    work.mkdir(parents=True, exist_ok=True)
    data = work / "fashion32"
    if not data.exists():
        quality_runs.run(
            [
                sys.executable,
                "dataset_tool.py",
                "create_fashion_mnist",
                data,
                "--source",
                FLAGS.source,
            ]
        )
    if not FLAGS["skip-train"].value:
        for precision, seed in _runs():
            _train(work, data, precision, seed)
    env = dict(os.environ, TF_STYLEGAN2_CACHE=str(work / "cache"))
    series, facts = {}, {}
    for precision, seed in _runs():
        (run_dir,) = glob.glob(str(work / f"runs_{precision}_s{seed}" / "0*"))
        name = f"{precision} seed {seed}"
        snaps = sorted(glob.glob(os.path.join(run_dir, "network-snapshot-*.keras")))
        wanted = {int(k) for k in FLAGS["eval-kimg"].value}
        snaps = [s for s in snaps if not wanted or int(s[-12:-6]) in wanted]
        known = quality_runs.measured(run_dir)
        series[name] = [
            (
                int(s[-12:-6]),
                known.get(os.path.basename(s)) or quality_runs.fid(s, data, FLAGS.weights, env),
            )
            for s in snaps
        ]
        facts[name] = quality_runs.log_facts(run_dir)
        print(name, series[name], flush=True)
    names = list(series)
    fp32 = [n for n in names if n.startswith("fp32")]
    print("\n| kimg | " + " | ".join(names) + " | fp32 min–max |")
    print("| --: |" + " --: |" * (len(names) + 1))
    for kimg in sorted({k for s in series.values() for k, _ in s}):
        row = {n: dict(series[n]).get(kimg) for n in names}
        spread = [row[n] for n in fp32 if row[n] is not None]
        cells = [f"{row[n]:.1f}" if row[n] is not None else "" for n in names]
        span = f"{min(spread):.1f}–{max(spread):.1f}" if spread else ""
        print(f"| {kimg} | " + " | ".join(cells) + f" | {span} |")
    print("\n| run | non-finite steps | img/s (training ticks) |\n| --- | --: | --: |")
    for n in names:
        print(f"| {n} | {facts[n][0]} | {facts[n][1]:.1f} |")
    _plot(work / "precision_quality.png", series)
    print(f"\nplot: {work / 'precision_quality.png'}")


if __name__ == "__main__":
    app.run(main)
