"""NVIDIA's style-mixing figure: row seeds give the base w, column seeds the styles in --styles.

    python style_mixing.py --network N --rows 85,100,75 --cols 55,821,1789 --styles 0-6 --outdir out
    python style_mixing.py --network N --rows-w smiling.npz --cols-w glasses.npz --outdir out

Writes <row>-<col>.png for every pair (and <s>-<s>.png, the unmixed image of each seed) and
grid.png: a black canvas W*(#cols+1) x H*(#rows+1), empty top-left cell, the column seeds' images
along the top, the row seeds' images down the left, mix(row i, col j) in cell (i+1, j+1). z per seed
as in generate.py; the stored noise maps are used (not reseeded), as both TF1 and ADA-PT do.
--rows-w / --cols-w take the rows or columns from the ws of a projected_w.npz (projector.py over a
folder of photos) instead of seeds: photos with attribute A in the rows keep their coarse styles and
take the fine ones (--styles) of photos with attribute B. Their images are named by the npz's
names (or <file stem><index>).
"""

import os
import sys

import numpy as np
from absl import flags

from apps import cli, latents, loading, media
from apps.quiet_start import quiet_tensorflow

FLAGS = flags.FLAGS


def style_mixing(
    G,
    row_seeds,
    col_seeds,
    col_styles,
    truncation_psi=1.0,
    truncation_cutoff=None,
    class_idx=None,
    noise_mode="const",
):
    """Returns ({(row, col): uint8 [H,W,C]} including (s, s) for every seed, grid uint8).
    row_seeds / col_seeds: seeds, or {name: ws [num_ws, w_dim]} (projected photos)."""
    import tensorflow as tf

    bad = [s for s in col_styles if not 0 <= s < G.num_ws]
    if bad:
        raise cli.UserError(f"--styles: layer {bad[0]} outside 0..{G.num_ws - 1} (num_ws)")
    c = None
    if not (isinstance(row_seeds, dict) and isinstance(col_seeds, dict)):
        c = loading.class_labels(G, class_idx)
        c = None if c is None else tf.constant(c)

    @tf.function
    def mapping(z, c):
        return G.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)

    @tf.function
    def synthesis(ws):
        return G.synthesis(ws, noise_mode=noise_mode)

    def ws_of(keys):
        if isinstance(keys, dict):
            return keys
        return {s: mapping(tf.constant(latents.seed_z(s, G.z_dim)), c).numpy()[0] for s in keys}

    rows, cols = ws_of(row_seeds), ws_of(col_seeds)  # {key: [L, C]}
    w = {**rows, **cols}
    styles = np.asarray(col_styles, np.int64)
    images = {}
    for s in w:
        images[(s, s)] = media.to_uint8(synthesis(tf.constant(w[s][None])).numpy())[0]
    for r in rows:
        for k in cols:
            mixed = w[r].copy()
            mixed[styles] = w[k][styles]
            images[(r, k)] = media.to_uint8(synthesis(tf.constant(mixed[None])).numpy())[0]
    row_seeds, col_seeds = list(rows), list(cols)

    H = W = G.img_resolution
    grid = np.zeros([H * (len(row_seeds) + 1), W * (len(col_seeds) + 1), G.img_channels], np.uint8)
    for j, k in enumerate(col_seeds):
        grid[0:H, W * (j + 1) : W * (j + 2)] = images[(k, k)]
    for i, r in enumerate(row_seeds):
        grid[H * (i + 1) : H * (i + 2), 0:W] = images[(r, r)]
        for j, k in enumerate(col_seeds):
            grid[H * (i + 1) : H * (i + 2), W * (j + 1) : W * (j + 2)] = images[(r, k)]
    return images, grid


def _projected_ws(path, G):
    """{name: ws [num_ws, w_dim]} of a projected_w.npz (names from its `names`, else
    <stem><index>)."""
    from apps.generate import load_projected_w

    ws, _ = load_projected_w(path)
    if ws.ndim != 3 or ws.shape[1:] != (G.num_ws, G.w_dim):
        raise cli.UserError(
            f"{path}: ws of shape {list(ws.shape)}, the network needs [N, {G.num_ws}, {G.w_dim}]"
        )
    with np.load(path) as data:
        names = [str(n) for n in data["names"]] if "names" in data.files else None
    stem = os.path.splitext(os.path.basename(path))[0]
    names = names or [f"{stem}{i}" for i in range(len(ws))]
    return dict(zip(names, ws))


def define_flags():
    flags.DEFINE_string("network", None, "Network: .keras snapshot, run folder or official .pkl.")
    flags.DEFINE_string("rows", None, "Row seeds (base styles), e.g. 85,100,75,458,1500.")
    flags.DEFINE_string("cols", None, "Column seeds (mixed-in styles), e.g. 55,821,1789,293.")
    flags.DEFINE_string("rows-w", None, "Rows from the ws of a projected_w.npz instead of seeds.")
    flags.DEFINE_string(
        "cols-w", None, "Columns from the ws of a projected_w.npz instead of seeds."
    )
    flags.DEFINE_string(
        "styles", "0-6", "Layer indices taken from the column seed (0-6 = 4x4..32x32)."
    )
    flags.DEFINE_float("trunc", 1.0, "Truncation psi (1 = none).")
    flags.DEFINE_integer("trunc-cutoff", None, "Truncate only the first K layers.")
    flags.DEFINE_string(
        "class", None, "Class index for a conditional network (1,2: a mix of several)."
    )
    flags.DEFINE_string("attrs", None, cli.ATTRS_HELP)
    flags.DEFINE_enum("noise-mode", "const", ["const", "random", "none"], "Noise mode.")
    flags.DEFINE_string("outdir", None, "Output folder (created).")


def main(argv):
    if len(argv) > 1:
        cli.fail(f"unexpected arguments: {' '.join(argv[1:])}")
    with cli.user_errors():
        for name in ("network", "outdir"):
            if not FLAGS[name].value:
                raise cli.UserError(f"--{name} is required")
        for axis in ("rows", "cols"):
            given = [f"--{n}" for n in (axis, f"{axis}-w") if FLAGS[n].value]
            if len(given) != 1:
                raise cli.UserError(f"give one of --{axis} SEEDS or --{axis}-w FILE.npz")
        styles = cli.parse_range(FLAGS.styles, "styles")
        loading.resolve_network(FLAGS.network)
        G, file = loading.load_generator(FLAGS.network)
        print(f"Loaded {file}: {G.img_resolution}x{G.img_resolution}, num_ws {G.num_ws}")
        rows, cols = (
            _projected_ws(FLAGS[f"{axis}-w"].value, G)
            if FLAGS[f"{axis}-w"].value
            else cli.parse_seeds(FLAGS[axis].value, axis)
            for axis in ("rows", "cols")
        )
        images, grid = style_mixing(
            G,
            rows,
            cols,
            styles,
            FLAGS.trunc,
            FLAGS["trunc-cutoff"].value,
            cli.class_or_attrs(G, cli.parse_class(FLAGS["class"].value), FLAGS.attrs),
            FLAGS["noise-mode"].value,
        )
        outdir = cli.make_outdir(FLAGS.outdir)
        for (r, k), img in images.items():
            media.save_image(outdir / f"{r}-{k}.png", img)
        media.save_image(outdir / "grid.png", grid)
        print(
            f"Wrote {len(images)} images and grid.png ({grid.shape[1]}x{grid.shape[0]}) to {outdir}"
        )


def run():
    quiet_tensorflow("2")
    define_flags()
    cli.run_script(main, sys.modules[__name__])


if __name__ == "__main__":
    run()
