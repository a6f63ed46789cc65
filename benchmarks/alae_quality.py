"""StyleALAE at demo scale on this CPU: a Fashion-MNIST 32x32 run, its generations and
reconstructions over time, reconstructions of images the run never saw, and time per step.

    python benchmarks/alae_quality.py --workdir /work/alae_ev [--minutes 30]
        [--snapshots 72,96,120,144] [--generators alae,stylegan2] [--skip-speed]

1. dataset_tool create_fashion_mnist: 12,000 training images and the first 2,000 of the test split
   (never shown to the run), padded to 32x32 (once);
2. training/run.py --config alae-demo (12 epochs, 2 per lod: 4x4 ... 32x32), --max-minutes, a
   snapshot every epoch, once per --generators entry (the official AdaIN decoder, and StyleGAN2's
   synthesis network: --generator stylegan2), one after the other (skipped when finished before);
3. metrics/run.py on the full-resolution snapshots given: fid2k of generations (averaged model,
   no truncation) against the training images, fidrec2k (reals vs reconstructions) and rec2k (MSE in
   [-1, 1], LPIPS VGG16) on the 2,000 test images;
4. encode.py on 24 test images (encoded/: image | reconstruction, w.npz) and style mixing of test
   images (4 rows x 4 columns) with the coarse / middle / fine split of 4 blocks (mix_*/mix.png);
5. speed (alone on the machine): a second, short run per generator (4 epochs, one per lod, no
   fade-in, batch 16 at every lod, at most 6 minutes) and the mean ms per training step (D + G + AE
   updates) at each lod, from the tick lines after each level's first (tracing) tick.
Prints Markdown tables.
"""

import glob
import os
import pathlib
import re
import shutil
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from benchmarks import quality_runs  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", "/tmp/alae_quality", "Where the datasets, runs and figures go.")
flags.DEFINE_float("minutes", 30.0, "--max-minutes of the training run.")
flags.DEFINE_list("snapshots", ["72", "96", "120", "144"], "kimg of the snapshots to measure.")
flags.DEFINE_string("source", str(REPO.parent / "shared" / "data" / "fashion-mnist"), "IDX files.")
flags.DEFINE_string("weights", str(REPO.parent / "shared" / "weights"), "Metric weights folder.")
flags.DEFINE_boolean("skip-speed", False, "Do not run the timing runs.")
flags.DEFINE_boolean("skip-eval", False, "Do not measure the snapshots or draw the figures.")
flags.DEFINE_list("generators", ["alae", "stylegan2"], "--generator of the runs.")
OUTDIR = {"alae": "runs", "stylegan2": "runs_sg2"}

PY = sys.executable


def _datasets(work):
    for name, extra in (("fm_train", ["--max-images", 12000]),
                        ("fm_test", ["--split", "test", "--max-images", 2000])):  # fmt: skip
        if not (work / name / "dataset.json").exists():
            quality_runs.run([PY, "dataset_tool.py", "create_fashion_mnist", work / name,
                              FLAGS.source, "--pad-to", 32, *extra])  # fmt: skip


def _train(work, outdir, *extra):
    if glob.glob(str(outdir / "0*" / "_finished.txt")):
        return
    with open(work / f"{outdir.name}.out", "w") as log:
        quality_runs.run([PY, "training/run.py", "--config", "alae-demo", "--data",
                          work / "fm_train", "--outdir", outdir, *extra],
                         stdout=log, stderr=log)  # fmt: skip


def _metrics(snapshot, data, names):
    out = quality_runs.subprocess.run(
        [PY, "metrics/run.py", "--network", snapshot, "--data", data, "--metrics", ",".join(names),
         "--weights-dir", FLAGS.weights, "--noverbose", "--seed", "0"],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return {k: float(v) for k, v in re.findall(r"(\w+) (-?[0-9.]+)(?=\s|$)", out.stdout)}


def _figures(work, run):
    imgs = work / "test_imgs"
    if not imgs.exists():
        quality_runs.run([PY, "dataset_tool.py", "extract", work / "fm_test", work / "test_all"])
        imgs.mkdir()
        for f in sorted(f for f in os.listdir(work / "test_all") if f.endswith(".png"))[:24]:
            shutil.copy(work / "test_all" / f, imgs / f)
        (work / "mix_rows").mkdir()
        (work / "mix_cols").mkdir()
        for i, f in enumerate(sorted(os.listdir(imgs))[16:24]):
            shutil.copy(imgs / f, work / ("mix_rows" if i < 4 else "mix_cols") / f)
    quality_runs.run([PY, "encode.py", "--network", run, "--images", imgs, "--outdir",
                      work / "encoded"])  # fmt: skip
    for styles in ("coarse", "middle", "fine"):
        quality_runs.run([PY, "encode.py", "--network", run, "--mix-rows", work / "mix_rows",
                          "--mix-cols", work / "mix_cols", "--styles", styles, "--outdir",
                          work / f"mix_{styles}"])  # fmt: skip


def _speed(work, generator):
    """img/s and ms per step at each lod: tick lines after each level's first (tracing) tick."""
    outdir = work / f"{OUTDIR[generator]}_speed"
    _train(work, outdir, "--epochs", 4, "--epochs-per-lod", 1, "--kimg-per-tick", 0.8,
           "--batch", 16, "--snap", 100, "--max-minutes", 6, "--generator", generator)  # fmt: skip
    text = open(glob.glob(str(outdir / "0*" / "log.txt"))[0]).read()
    rates, seen = {}, set()
    for lod, blend, img_s in re.findall(r"lod (\d) blend ([0-9.]+) .*?img/s\s+([0-9.]+)", text):
        key = (lod, blend == "1.000")
        if key not in seen:
            seen.add(key)
            continue
        rates.setdefault(int(lod), []).append(float(img_s))
    for lod, r in sorted(rates.items()):
        mean, res = sum(r) / len(r), 2 ** (lod + 2)
        print(f"| {generator} | {lod} | {res}x{res} | {mean:.1f} | {16 / mean * 1000:.0f} |")


def _measure(work, generator, run):
    for kimg in FLAGS.snapshots:
        snap = run / f"network-snapshot-{int(kimg):06d}.keras"
        if not snap.exists():
            continue
        gen = _metrics(snap, work / "fm_train", ["fid2k"])
        rec = _metrics(snap, work / "fm_test", ["fidrec2k", "rec2k"])
        epoch = int(kimg) * 1000 // 12000
        print(f"| {generator} | {kimg} | {epoch} | {gen['fid2k']:.1f} | {rec['fidrec2k']:.1f} "
              f"| {rec['rec2k_mse']:.4f} | {rec['rec2k_lpips']:.4f} |", flush=True)  # fmt: skip


def main(argv):
    work = pathlib.Path(FLAGS.workdir)
    work.mkdir(parents=True, exist_ok=True)
    _datasets(work)
    runs = {}
    for g in FLAGS.generators:
        _train(work, work / OUTDIR[g], "--kimg-per-tick", 4, "--snap", 1,
               "--max-minutes", FLAGS.minutes, "--generator", g)  # fmt: skip
        runs[g] = pathlib.Path(glob.glob(str(work / OUTDIR[g] / "0*"))[0])
    if not FLAGS["skip-eval"].value:
        print("| generator | kimg | epoch | fid2k (generations) | fidrec2k (test) | rec2k MSE | "
              "rec2k LPIPS |\n| --- | --- | --- | --- | --- | --- | --- |")  # fmt: skip
        for g, run in runs.items():
            _measure(work, g, run)
        _figures(work, runs[FLAGS.generators[0]])
    if not FLAGS["skip-speed"].value:
        print("\n| generator | lod | resolution | img/s | ms per step (batch 16) |")
        print("| --- | --- | --- | --- | --- |")
        for g in FLAGS.generators:
            _speed(work, g)


if __name__ == "__main__":
    app.run(main)
