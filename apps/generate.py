"""Generate images (one PNG per seed, an image grid) or an interpolation walk from a generator.

    python generate.py --network N --seeds 0-31,40 --trunc 0.7 --outdir out [--class 3] [--grid]
    python generate.py --network N --seeds 0,5,9 --interpolate --space w --frames 30 --outdir out

z comes from np.random.RandomState(seed).randn(1, z_dim), as NVIDIA's scripts draw it, so a
converted official network writes the images NVIDIA's generate.py writes (const noise);
--noise-mode tf1 also redraws every noise map from the seed's generator after z, as TF1
run_generator.py does.
"""

import signal
import sys

import numpy as np
from absl import flags

from apps import cli, latents, loading, media
from apps.quiet_start import quiet_tensorflow
from metrics.progress import Progress

NOISE_MODES = ("const", "random", "none", "tf1")
GRID_MAX = 4096  # images in one --grid (the grid is built in memory)
FLAGS = flags.FLAGS


# ----------------------------------------------------------------------------
# Library: arrays in, arrays out.


def _runner(G, truncation_psi, truncation_cutoff, noise_mode):
    """A compiled (ws -> images) and (z, c -> ws) pair for fixed truncation and noise settings."""
    import tensorflow as tf

    mode = "const" if noise_mode == "tf1" else noise_mode

    @tf.function
    def mapping(z, c):
        return G.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)

    @tf.function
    def synthesis(ws, noise_seed):
        if mode == "random":
            return G.synthesis(ws, noise_mode="random", noise_seed=noise_seed)
        return G.synthesis(ws, noise_mode=mode)

    return mapping, synthesis


def generate_images(
    G, seeds, truncation_psi=1.0, truncation_cutoff=None, class_idx=None, noise_mode="const"
):
    """uint8 images [len(seeds), H, W, C], one per seed (batch 1 each, as NVIDIA's scripts).

    noise_mode: 'const' stored noise maps (ADA-PT generate.py), 'tf1' noise maps redrawn from the
    seed's RandomState after z (TF1 run_generator.py), 'random' stateless noise seeded by the seed
    (reproducible), 'none' no noise.
    """
    return np.stack(
        list(iter_images(G, seeds, truncation_psi, truncation_cutoff, class_idx, noise_mode))
    )


def iter_images(
    G, seeds, truncation_psi=1.0, truncation_cutoff=None, class_idx=None, noise_mode="const"
):
    """The images of `generate_images`, one uint8 [H, W, C] at a time (nothing accumulates)."""
    import tensorflow as tf

    if noise_mode not in NOISE_MODES:
        raise cli.UserError(f"--noise-mode {noise_mode}: expected one of {', '.join(NOISE_MODES)}")
    c = loading.class_labels(G, class_idx)
    c = None if c is None else tf.constant(c)
    mapping, synthesis = _runner(G, truncation_psi, truncation_cutoff, noise_mode)
    resolutions = latents.noise_resolutions(G) if noise_mode == "tf1" else []
    for seed in seeds:
        noise_seed = tf.constant([seed % 2**31, seed // 2**31], tf.int32)  # for 'random'
        if noise_mode == "tf1":
            z, noises = latents.seed_z_and_noise(seed, G.z_dim, resolutions)
            with latents.noise_maps_set(G, noises):
                img = synthesis(mapping(tf.constant(z), c), noise_seed)
        else:
            z = latents.seed_z(seed, G.z_dim)
            img = synthesis(mapping(tf.constant(z), c), noise_seed)
        yield media.to_uint8(img.numpy())[0]


def images_from_ws(G, ws, noise_mode="const", noises=None):
    """uint8 images from given ws [N, num_ws, w_dim] (e.g. projected_w.npz); noises: optional noise
    maps in TF1 order (the projector's optimised ones) used instead of the stored maps."""
    import contextlib

    import tensorflow as tf

    ws = np.asarray(ws, np.float32)
    if ws.ndim != 3 or ws.shape[1:] != (G.num_ws, G.w_dim):
        raise cli.UserError(
            f"ws of shape {list(ws.shape)} do not fit the network ([N, {G.num_ws}, {G.w_dim}])"
        )
    if noises is not None and len(noises) != len(latents.noise_variables(G)):
        raise cli.UserError(
            f"{len(noises)} noise maps given, the network has {len(latents.noise_variables(G))}"
        )
    mode = "const" if noise_mode == "tf1" or noises is not None else noise_mode
    _, synthesis = _runner(G, 1.0, None, mode)
    with latents.noise_maps_set(G, noises) if noises is not None else contextlib.nullcontext():
        return np.stack(
            [
                media.to_uint8(synthesis(tf.constant(w[None]), tf.constant([i, 0]))[0].numpy())
                for i, w in enumerate(ws)
            ]
        )


def slerp(a, b, t):
    """Spherical interpolation of two latent vectors [D]: the angle from their directions, the
    norm lerped."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    ua, ub = a / na, b / nb
    omega = np.arccos(np.clip(np.dot(ua, ub), -1.0, 1.0))
    if omega < 1e-6:
        return (1 - t) * a + t * b
    direction = (np.sin((1 - t) * omega) * ua + np.sin(t * omega) * ub) / np.sin(omega)
    return direction * ((1 - t) * na + t * nb)


def interpolation_frames(
    G,
    seeds,
    frames=24,
    space="w",
    truncation_psi=1.0,
    truncation_cutoff=None,
    class_idx=None,
    noise_mode="const",
):
    """A walk through the seeds: `frames` steps per pair of consecutive seeds, plus the last seed.
    space 'w': lerp between mapped (and truncated) w; space 'z': slerp between z, then map.
    Returns uint8 [(len(seeds)-1)*frames + 1, H, W, C]."""
    import tensorflow as tf

    if len(seeds) < 2:
        raise cli.UserError("--interpolate needs at least two seeds")
    if frames < 1:
        raise cli.UserError(f"--frames {frames}: must be at least 1")
    if space not in ("w", "z"):
        raise cli.UserError(f"--space {space}: expected w or z")
    if noise_mode == "tf1":
        raise cli.UserError("--noise-mode tf1 redraws noise per seed; use const for a walk")
    c = loading.class_labels(G, class_idx)
    c = None if c is None else tf.constant(c)
    mapping, synthesis = _runner(G, truncation_psi, truncation_cutoff, noise_mode)
    zs = [latents.seed_z(s, G.z_dim)[0] for s in seeds]
    ts = [k / frames for k in range(frames)]
    ws_path = []
    for a in range(len(seeds) - 1):
        if space == "w":
            wa = mapping(tf.constant(zs[a][None]), c).numpy()
            wb = mapping(tf.constant(zs[a + 1][None]), c).numpy()
            ws_path += [wa + np.float32(t) * (wb - wa) for t in ts]
        else:
            ws_path += [
                mapping(tf.constant(slerp(zs[a], zs[a + 1], t)[None].astype(np.float32)), c).numpy()
                for t in ts
            ]
    ws_path.append(mapping(tf.constant(zs[-1][None]), c).numpy())
    noise_seed = tf.constant([seeds[0] % 2**31, 0], tf.int32)  # the same noise in every frame
    return np.stack(
        [media.to_uint8(synthesis(tf.constant(w), noise_seed).numpy())[0] for w in ws_path]
    )


# ----------------------------------------------------------------------------
# Command line.


def define_flags():
    flags.DEFINE_string(
        "network",
        None,
        "Network: a .keras snapshot, a run folder (its latest "
        "network-snapshot-*.keras) or an official .pkl.",
    )
    flags.DEFINE_string("seeds", None, "Seeds, e.g. 0-31,40 (inclusive ranges and single values).")
    flags.DEFINE_float("trunc", 1.0, "Truncation psi (1 = none).")
    flags.DEFINE_integer("trunc-cutoff", None, "Truncate only the first K of the num_ws layers.")
    flags.DEFINE_string(
        "class",
        None,
        "Class index for a conditional network, several (1,2: a mix, c has a 1 at each), "
        "or 'all' (one grid row per class with --grid).",
    )
    flags.DEFINE_string("attrs", None, cli.ATTRS_HELP)
    flags.DEFINE_enum(
        "noise-mode",
        "const",
        list(NOISE_MODES),
        "const: stored noise maps (ADA-PT "
        "generate.py); tf1: noise maps redrawn from the seed after z (TF1 run_generator.py); "
        "random: fresh noise seeded by the seed; none: no noise.",
    )
    flags.DEFINE_string("outdir", None, "Output folder (created).")
    flags.DEFINE_enum("precision", "fp32", cli.PRECISIONS, cli.PRECISION_HELP)
    flags.DEFINE_boolean(
        "grid", False, "Write one image grid grid.png instead of one PNG per seed."
    )
    flags.DEFINE_integer("grid-cols", None, "Grid columns (default: ceil(sqrt(#seeds))).")
    flags.DEFINE_string(
        "projected-w",
        None,
        "Generate from a projector's projected_w.npz (key w, "
        "and its optimised noise maps noise0.. when present) instead of seeds: writes "
        "proj00.png, proj01.png, ...",
    )
    flags.DEFINE_boolean(
        "interpolate",
        False,
        "Write a walk through the seeds as interpolation.gif "
        "(and interpolation.mp4 when an ffmpeg is available: on PATH or from imageio-ffmpeg).",
    )
    flags.DEFINE_enum("space", "w", ["w", "z"], "Interpolation space: lerp in W or slerp in Z.")
    flags.DEFINE_integer("frames", 24, "Interpolation frames per pair of consecutive seeds.")
    flags.DEFINE_integer("fps", 24, "Frames per second of the interpolation GIF/MP4.")


def _write_seed_images(G, outdir, seeds, classes, suffixes, args):
    """One PNG per seed (and class), written as each is made, with a progress bar. Ctrl-C stops
    cleanly after the image being written (a second Ctrl-C stops at once): what was written
    stays, and the count is printed. Returns the number written."""
    total = len(seeds) * len(classes)
    bar = Progress("generate", total, unit="img")
    written = 0
    stop = []

    def _defer(signum, frame):  # first Ctrl-C: finish the image in hand, then stop
        stop.append(signum)
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, _defer)
    try:
        for k, suffix in zip(classes, suffixes):
            for seed, img in zip(seeds, iter_images(G, seeds, *args, k, FLAGS["noise-mode"].value)):
                media.save_image(outdir / f"seed{seed:04d}{suffix}.png", img)
                written += 1
                bar.update(1, f"seed {seed}")
                if stop:
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        bar.close()
        print(f"Interrupted: wrote {written} of {total} image(s) to {outdir}")
        sys.exit(130)
    finally:
        signal.signal(signal.SIGINT, previous)
    bar.close()
    return written


def main(argv):
    if len(argv) > 1:
        cli.fail(f"unexpected arguments: {' '.join(argv[1:])}")
    with cli.user_errors():
        for name in ("network", "outdir"):
            if not FLAGS[name].value:
                raise cli.UserError(f"--{name} is required")
        projected_w = FLAGS["projected-w"].value
        seeds = None if projected_w and not FLAGS.seeds else cli.parse_seeds(FLAGS.seeds)
        class_arg = cli.parse_class(FLAGS["class"].value)
        loading.resolve_network(FLAGS.network)
        if projected_w:
            ws, noises = load_projected_w(projected_w)
        psi, cutoff = FLAGS.trunc, FLAGS["trunc-cutoff"].value
        noise_mode = FLAGS["noise-mode"].value

        G, file = loading.load_generator(FLAGS.network, FLAGS.precision)
        print(
            f"Loaded {file}: {G.img_resolution}x{G.img_resolution}x{G.img_channels}, "
            f"z_dim {G.z_dim}, c_dim {G.c_dim}"
        )
        class_arg = cli.class_or_attrs(G, class_arg, FLAGS.attrs)
        if class_arg == "all" and G.c_dim == 0:
            raise cli.UserError("--class all: the network is unconditional (c_dim = 0)")
        classes = list(range(G.c_dim)) if class_arg == "all" else [class_arg]
        if cutoff is not None and not 0 <= cutoff <= G.num_ws:
            raise cli.UserError(f"--trunc-cutoff {cutoff}: outside 0..{G.num_ws} (num_ws)")
        for k in classes:  # validate before writing anything
            loading.class_labels(G, k)
        outdir = cli.make_outdir(FLAGS.outdir)

        if projected_w:
            if noises is not None and len(noises) != len(latents.noise_variables(G)):
                noises = None  # saved for another network: fall back to --noise-mode
            images = images_from_ws(G, ws, noise_mode, noises)
            for i, img in enumerate(images):
                media.save_image(outdir / f"proj{i:02d}.png", img)
            print(f"Wrote {len(images)} image(s) from {projected_w} to {outdir}")
            if seeds is None:
                return

        if FLAGS.interpolate:
            for k in classes:
                frames = interpolation_frames(
                    G, seeds, FLAGS.frames, FLAGS.space, psi, cutoff, k, noise_mode
                )
                stem = "interpolation" if len(classes) == 1 else f"interpolation-class{k:02d}"
                media.save_gif(outdir / f"{stem}.gif", frames, FLAGS.fps)
                wrote = [f"{stem}.gif"]
                if media.save_mp4(outdir / f"{stem}.mp4", frames, FLAGS.fps):
                    wrote.append(f"{stem}.mp4")
                print(f"Wrote {len(frames)} frames to {', '.join(str(outdir / w) for w in wrote)}")
            if not media.mp4_writer_available():
                print(
                    "No MP4 written: no ffmpeg on PATH and imageio-ffmpeg is not installed "
                    "(pip install '.[export]'); the GIF has the same frames."
                )
            return

        if not FLAGS.grid:
            suffixes = [f"-class{k:02d}" if class_arg == "all" else "" for k in classes]
            written = _write_seed_images(G, outdir, seeds, classes, suffixes, (psi, cutoff))
            print(f"Wrote {written} image(s) to {outdir}")
            return
        if len(seeds) * len(classes) > GRID_MAX:
            raise cli.UserError(
                f"--grid: {len(seeds) * len(classes)} images, at most "
                f"{GRID_MAX} fit in one grid (drop --grid for one PNG per seed)"
            )
        rows = [generate_images(G, seeds, psi, cutoff, k, noise_mode) for k in classes]
        if FLAGS.grid:
            if class_arg == "all":
                grid = media.image_grid(np.concatenate(rows), cols=len(seeds), rows=len(classes))
            else:
                cols = FLAGS["grid-cols"].value or media.grid_cols(len(seeds))
                grid = media.image_grid(rows[0], cols=cols)
            media.save_image(outdir / "grid.png", grid)
            print(f"Wrote {outdir / 'grid.png'} ({grid.shape[1]}x{grid.shape[0]})")


def load_projected_w(path):
    """(ws, noise maps or None) from a projector's projected_w.npz (keys w, noise0, noise1, ...)."""
    try:
        with np.load(path) as data:
            noises = []
            while f"noise{len(noises)}" in data.files:
                noises.append(np.asarray(data[f"noise{len(noises)}"], np.float32))
            return np.asarray(data["w"], np.float32), (noises or None)
    except FileNotFoundError:
        raise cli.UserError(f"{path}: file not found") from None
    except (KeyError, ValueError, OSError) as e:
        raise cli.UserError(f"{path}: not a projected_w.npz with key w ({e})") from None


def run():
    quiet_tensorflow("2")
    define_flags()
    cli.run_script(main, sys.modules[__name__])


if __name__ == "__main__":
    run()
