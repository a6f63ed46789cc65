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
import json
import os
import pathlib
import re
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

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


def _run(cmd, **kw):
    print("+", " ".join(map(str, cmd)), flush=True)
    return subprocess.run([str(c) for c in cmd], check=True, cwd=REPO, **kw)


def _runs():
    return [("fp32", s) for s in FLAGS["fp32-seeds"].value] + [
        ("bf16", s) for s in FLAGS["bf16-seeds"].value
    ]


def _train(work, data, precision, seed):
    outdir = work / f"runs_{precision}_s{seed}"
    if glob.glob(str(outdir / "0*" / "_finished.txt")):
        return
    with open(work / f"train_{precision}_s{seed}.out", "w") as log:
        _run(
            [sys.executable, "training/run.py", "--data", data, "--config", "demo",
             "--outdir", outdir, "--precision", precision, "--seed", seed,
             "--total-kimg", FLAGS.kimg, "--kimg-per-tick", FLAGS["snap-kimg"].value,
             "--snap", 1, "--metrics", "none"],
            stdout=log, stderr=log,
        )  # fmt: skip


def _fid(snapshot, data, env):
    out = subprocess.run(
        [sys.executable, "metrics/run.py", "--network", snapshot, "--data", data, "--metrics",
         "fid2k", "--weights-dir", FLAGS.weights, "--noverbose", "--seed", "0"],
        cwd=REPO, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(re.search(r"fid2k\s+([0-9.]+)", out.stdout).group(1))


def _measured(run_dir):
    """{snapshot file name: fid2k} already in the run's metric-fid2k.jsonl (metrics/run.py writes
    it beside a run's snapshots)."""
    path = os.path.join(run_dir, "metric-fid2k.jsonl")
    if not os.path.exists(path):
        return {}
    rows = [json.loads(line) for line in open(path) if line.strip()]
    return {os.path.basename(r["snapshot_pkl"]): r["results"]["fid2k"] for r in rows}


def _log_facts(run_dir):
    """(non-finite steps logged, mean img/s over the ticks after the first)."""
    text = open(os.path.join(run_dir, "log.txt")).read()
    rates = [float(v) for v in re.findall(r"img/s\s+([0-9.]+)", text)][1:]
    return text.count("non-finite gradients"), sum(rates) / max(len(rates), 1)


def _plot(path, series):
    """fid2k against kimg, one line per run (fp32 blue shades, bf16 red shades), with Pillow."""
    from PIL import Image, ImageDraw

    w, h, pad = 900, 420, 50
    img = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(img)
    max_kimg = max(k for s in series.values() for k, _ in s) or 1
    fids = [v for s in series.values() for _, v in s]
    lo, hi = min(fids) * 0.95, max(fids) * 1.05
    draw.rectangle([pad, pad, w - pad, h - pad], outline="black")
    draw.text(
        (pad, 10), "fid2k vs kimg: demo preset, Fashion-MNIST; fp32 blue, bf16 red", fill="black"
    )
    palette = {"fp32": [(20, 60, 200), (60, 150, 240), (0, 170, 170)],
               "bf16": [(200, 30, 30), (235, 130, 30), (170, 0, 120)]}  # fmt: skip
    used = {"fp32": 0, "bf16": 0}
    for i, (name, points) in enumerate(sorted(series.items())):
        kind = name.split()[0]
        colour = palette[kind][used[kind] % 3]
        used[kind] += 1
        xy = [(pad + (w - 2 * pad) * k / max_kimg, h - pad - (h - 2 * pad) * (v - lo) / (hi - lo))
              for k, v in points]  # fmt: skip
        if len(xy) > 1:
            draw.line(xy, fill=colour, width=2)
        for x, y in xy:
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colour)
        draw.line([w - pad - 150, pad + 15 + 16 * i, w - pad - 125, pad + 15 + 16 * i], colour, 2)
        draw.text((w - pad - 120, pad + 9 + 16 * i), name, fill=colour)  # legend
    draw.text((pad, h - pad + 5), "0 kimg", fill="black")
    draw.text((w - pad - 60, h - pad + 5), f"{max_kimg:g} kimg", fill="black")
    draw.text((5, pad), f"{hi:.3g}", fill="black")
    draw.text((5, h - pad - 10), f"{lo:.3g}", fill="black")
    img.save(path)


def main(_):
    work = pathlib.Path(FLAGS.workdir)
    work.mkdir(parents=True, exist_ok=True)
    data = work / "fashion32"
    if not data.exists():
        _run(
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
        known = _measured(run_dir)
        series[name] = [
            (int(s[-12:-6]), known.get(os.path.basename(s)) or _fid(s, data, env)) for s in snaps
        ]
        facts[name] = _log_facts(run_dir)
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
