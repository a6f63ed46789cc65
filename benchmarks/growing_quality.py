"""Config A (StyleGAN: AdaIN, progressive growing) against config E (StyleGAN2, no growing) on
Fashion-MNIST 32x32 with the same wall-clock budget, and a look for AdaIN's droplets.

    python benchmarks/growing_quality.py --workdir /tmp/grow --minutes 20
        [--configs config-a,config-e]
        [--cbase 2048 --cmax 128 --batch 32 --gamma 1 --lod-kimg 4 --snap-kimg 2]

1. dataset_tool create_fashion_mnist: the 60,000 training images at 32x32 (once);
2. training/run.py --config C for each config, one after the other (each alone on the machine),
   --max-minutes each, the widths of the demo preset (--cbase / --cmax), the same --batch and
   --gamma for all (the official gammas 10 / 100 are tuned for 1024^2 / 256^2), growing configs
   with --lod-kimg (a level alone, then its fade-in), a snapshot every --snap-kimg;
3. metrics/run.py fid2k of every snapshot (values already in metric-fid2k.jsonl are reused);
4. prints a Markdown table (per config: kimg, minutes, fid2k), writes growing_quality.png (fid2k
   against minutes) and the final grids into --workdir;
5. droplets: the channel-mean |activation| maps of every synthesis layer of each run's final G_ema
   (config A: the input of each instance norm, where the paper's Figure 1 shows the droplet;
   config E: each layer's output), for 16 latents: prints the peak-to-median ratio per layer and
   writes droplets_<config>.png (the 32x32 layers, each map scaled to its own maximum).
"""

import glob
import os
import pathlib
import re
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from benchmarks import quality_runs  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", "/tmp/growing_quality", "Where the dataset, runs and plots go.")
flags.DEFINE_list("configs", ["config-a", "config-e"], "Configs to train.")
flags.DEFINE_float("minutes", 20.0, "Wall-clock budget of every run (--max-minutes).")
flags.DEFINE_float("snap-kimg", 2.0, "kimg between snapshots.")
flags.DEFINE_integer("cbase", 2048, "--cbase of every run (the demo preset's).")
flags.DEFINE_integer("cmax", 128, "--cmax of every run (the demo preset's).")
flags.DEFINE_integer("batch", 32, "--batch of every run.")
flags.DEFINE_float("gamma", 1.0, "--gamma of every run.")
flags.DEFINE_float("lod-kimg", 4.0, "--lod-kimg of the growing configs.")
flags.DEFINE_string("source", str(REPO.parent / "shared" / "data" / "fashion-mnist"), "IDX files.")
flags.DEFINE_string("weights", str(REPO.parent / "shared" / "weights"), "Metric weights folder.")
flags.DEFINE_boolean("skip-train", False, "Only evaluate existing runs.")

COLOURS = [(200, 30, 30), (20, 60, 200), (0, 150, 60), (170, 0, 120)]


def _train(work, data, config):
    outdir = work / f"runs_{config}"
    if glob.glob(str(outdir / "0*" / "_finished.txt")):
        return
    growing = (
        ["--lod-kimg", FLAGS["lod-kimg"].value]
        if config in ("config-a", "config-b", "config-c", "config-d")
        else []
    )
    with open(work / f"train_{config}.out", "w") as log:
        quality_runs.run(
            [sys.executable, "training/run.py", "--data", data, "--config", config,
             "--outdir", outdir, "--cbase", FLAGS.cbase, "--cmax", FLAGS.cmax,
             "--batch", FLAGS.batch, "--gamma", FLAGS.gamma, "--total-kimg", 100000,
             "--max-minutes", FLAGS.minutes, "--kimg-per-tick", FLAGS["snap-kimg"].value,
             "--snap", 1, "--metrics", "none", *growing],
            stdout=log, stderr=log,
        )  # fmt: skip


def _minutes_at(run_dir):
    """{kimg (int, as in snapshot names): minutes of training} from the tick lines."""
    out = {}
    for kimg, h, m, s in re.findall(
        r"kimg ([0-9.]+)\s+time (?:(\d+)h )?(?:(\d+)m )?(\d+)s", open(run_dir / "log.txt").read()
    ):
        out[int(float(kimg))] = int(h or 0) * 60 + int(m or 0) + int(s) / 60
    return out


def _activation_maps(snapshot):
    """{layer name: [16, H, W] channel-mean |x|} of the final G_ema, 16 fixed latents."""
    import numpy as np
    import tensorflow as tf

    import tf_stylegan2
    from tf_stylegan2.layers import SynthesisLayer
    from tf_stylegan2.layers import stylegan1 as sg1_layers

    G = tf_stylegan2.load_network(snapshot)["G_ema"]
    maps, current = {}, [None]
    z = np.random.RandomState(0).randn(16, G.z_dim).astype(np.float32)
    if G.synthesis.architecture == "adain":
        adain_call, norm = sg1_layers.AdaINLayer.call, sg1_layers.sg1.instance_norm

        def call(self, *args, **kwargs):
            current[0] = self.name
            return adain_call(self, *args, **kwargs)

        def instance_norm(x, eps=1e-8):  # its input: after noise, bias and lrelu
            maps[current[0]] = tf.reduce_mean(tf.abs(x), axis=-1).numpy()
            return norm(x, eps)

        sg1_layers.AdaINLayer.call, sg1_layers.sg1.instance_norm = call, instance_norm
        try:
            G(z, noise_mode="const")
        finally:
            sg1_layers.AdaINLayer.call, sg1_layers.sg1.instance_norm = adain_call, norm
    else:
        layer_call = SynthesisLayer.call

        def call(self, *args, **kwargs):
            out = layer_call(self, *args, **kwargs)
            maps[self.path] = tf.reduce_mean(tf.abs(out), axis=-1).numpy()
            return out

        SynthesisLayer.call = call
        try:
            G(z, noise_mode="const")
        finally:
            SynthesisLayer.call = layer_call
    return maps


def _droplets(work, config, snapshot):
    import numpy as np
    from PIL import Image

    maps = _activation_maps(snapshot)
    print(f"\n{config}: peak-to-median ratio of the channel-mean |activation| (16 latents)")
    print("| layer | size | median ratio | max ratio |\n| --- | --: | --: | --: |")
    for name, m in maps.items():
        flat = m.reshape(len(m), -1)
        ratio = flat.max(1) / np.median(flat, 1)
        print(f"| {name} | {m.shape[1]} | {np.median(ratio):.2f} | {ratio.max():.2f} |")
    top = [m for m in maps.values() if m.shape[1] == max(v.shape[1] for v in maps.values())]
    rows = [np.concatenate([x / x.max() for x in m], axis=1) for m in top]  # one row per layer
    grid = (np.concatenate(rows, axis=0) * 255).astype(np.uint8)
    Image.fromarray(grid).resize((grid.shape[1] * 3, grid.shape[0] * 3), 0).save(
        work / f"droplets_{config}.png"
    )


def main(_):
    import shutil

    work = pathlib.Path(FLAGS.workdir)
    work.mkdir(parents=True, exist_ok=True)
    data = work / "fashion32"
    if not data.exists():
        quality_runs.run(
            [sys.executable, "dataset_tool.py", "create_fashion_mnist", data, "--source",
             FLAGS.source]
        )  # fmt: skip
    if not FLAGS["skip-train"].value:
        for config in FLAGS.configs:
            _train(work, data, config)
    env = dict(os.environ, TF_STYLEGAN2_CACHE=str(work / "cache"))
    series, table = {}, {}
    for config in FLAGS.configs:
        (run_dir,) = glob.glob(str(work / f"runs_{config}" / "0*"))
        run_dir = pathlib.Path(run_dir)
        minutes = _minutes_at(run_dir)
        known = quality_runs.measured(run_dir)
        snaps = sorted(glob.glob(str(run_dir / "network-snapshot-*.keras")))
        rows = []
        for s in snaps:
            kimg = int(s[-12:-6])
            value = known.get(os.path.basename(s)) or quality_runs.fid(s, data, FLAGS.weights, env)
            rows.append((kimg, minutes.get(kimg, 0.0), value))
        table[config] = rows
        series[config] = [(m, v) for _, m, v in rows]
        n_bad, rate = quality_runs.log_facts(run_dir)
        print(config, rows, f"non-finite steps {n_bad}, {rate:.1f} img/s", flush=True)
        finals = sorted(glob.glob(str(run_dir / "fakes0*.png")))
        shutil.copy(finals[-1], work / f"fakes_final_{config}.png")
        _droplets(work, config, snaps[-1])
    print("\n| config | kimg | minutes | fid2k |\n| --- | --: | --: | --: |")
    for config, rows in table.items():
        for kimg, minutes, value in rows:
            print(f"| {config} | {kimg} | {minutes:.1f} | {value:.1f} |")
    colours = {c: COLOURS[i % len(COLOURS)] for i, c in enumerate(FLAGS.configs)}
    title = "fid2k vs training minutes: Fashion-MNIST 32x32, demo widths, same budget"
    quality_runs.plot(work / "growing_quality.png", series, title, colours, "min")
    print(f"\nplot: {work / 'growing_quality.png'}")


if __name__ == "__main__":
    app.run(main)
