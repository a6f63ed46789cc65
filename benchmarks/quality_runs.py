"""Helpers of the quality benchmarks (precision_quality.py, growing_quality.py): run a command,
fid2k of a snapshot with metrics/run.py, values already in a run's metric-fid2k.jsonl, facts from
a run's log, and a fid2k-against-x plot drawn with Pillow."""

import json
import os
import pathlib
import re
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]


def run(cmd, **kw):
    print("+", " ".join(map(str, cmd)), flush=True)
    return subprocess.run([str(c) for c in cmd], check=True, cwd=REPO, **kw)


def fid(snapshot, data, weights, env):
    """fid2k of `snapshot` against `data` (seed 0, float32 evaluation)."""
    out = subprocess.run(
        [sys.executable, "metrics/run.py", "--network", snapshot, "--data", data, "--metrics",
         "fid2k", "--weights-dir", weights, "--noverbose", "--seed", "0"],
        cwd=REPO, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(re.search(r"fid2k\s+([0-9.]+)", out.stdout).group(1))


def measured(run_dir):
    """{snapshot file name: fid2k} already in the run's metric-fid2k.jsonl."""
    path = os.path.join(run_dir, "metric-fid2k.jsonl")
    if not os.path.exists(path):
        return {}
    rows = [json.loads(line) for line in open(path) if line.strip()]
    return {os.path.basename(r["snapshot_pkl"]): r["results"]["fid2k"] for r in rows}


def log_facts(run_dir):
    """(non-finite steps logged, mean img/s over the ticks after the first)."""
    text = open(os.path.join(run_dir, "log.txt")).read()
    rates = [float(v) for v in re.findall(r"img/s\s+([0-9.]+)", text)][1:]
    return text.count("non-finite gradients"), sum(rates) / max(len(rates), 1)


def plot(path, series, title, colours, x_label="kimg"):
    """fid2k against x, one line per entry of series {name: [(x, fid)]}; colours {name: rgb}."""
    from PIL import Image, ImageDraw

    w, h, pad = 900, 420, 50
    img = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(img)
    max_x = max(k for s in series.values() for k, _ in s) or 1
    fids = [v for s in series.values() for _, v in s]
    lo, hi = min(fids) * 0.95, max(fids) * 1.05
    draw.rectangle([pad, pad, w - pad, h - pad], outline="black")
    draw.text((pad, 10), title, fill="black")
    for i, (name, points) in enumerate(sorted(series.items())):
        colour = colours[name]
        xy = [(pad + (w - 2 * pad) * k / max_x, h - pad - (h - 2 * pad) * (v - lo) / (hi - lo))
              for k, v in points]  # fmt: skip
        if len(xy) > 1:
            draw.line(xy, fill=colour, width=2)
        for x, y in xy:
            draw.ellipse([x - 3, y - 3, x + 3, y + 3], fill=colour)
        draw.line([w - pad - 150, pad + 15 + 16 * i, w - pad - 125, pad + 15 + 16 * i], colour, 2)
        draw.text((w - pad - 120, pad + 9 + 16 * i), name, fill=colour)  # legend
    draw.text((pad, h - pad + 5), f"0 {x_label}", fill="black")
    draw.text((w - pad - 80, h - pad + 5), f"{max_x:g} {x_label}", fill="black")
    draw.text((5, pad), f"{hi:.3g}", fill="black")
    draw.text((5, h - pad - 10), f"{lo:.3g}", fill="black")
    img.save(path)
