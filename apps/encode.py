"""StyleALAE's encoder at work: real images -> w in one forward pass, reconstructions, style mixing
of real images and interpolation between them (official ALAE interactive_demo.py, stylemix.py).

    python encode.py --network N --images photos/ --outdir out [--batch 16]
    python encode.py --network N --mix-rows a/ --mix-cols b/ --styles coarse --outdir out
    python encode.py --network N --interpolate a.png,b.png --frames 48 --outdir out

N: a StyleALAE snapshot (.keras of an ALAE run), its run folder, or an official ALAE .pth. Images
are centre-cropped and Lanczos-resized to the network (as projector.py does).

Encoding writes w.npz (w [N, latent], names [N]), <name>.png (the image | its reconstruction) and
reconstructions.png (the pairs in a grid). Mixing writes mix.png: the column images along the top,
the row images down the left, and in cell (i, j) the decoder fed row i's w with the style layers of
--styles taken from column j's w (stylemix.py). Interpolation writes interp.mp4 (interp.gif
without ffmpeg) and interp.png, decoding lerp(w_a, w_b, t). Reconstructions decode with ALAE's
noise (--noise-mode random, seeded by --seed, as the official scripts) or without randomness.
"""

import os
import sys

import numpy as np
from absl import flags

from apps import cli, loading, media
from apps.quiet_start import quiet_tensorflow
from fileio import atomic
from metrics.progress import Progress

FLAGS = flags.FLAGS
RANGES = ("coarse", "middle", "fine")


def style_ranges(layer_count):
    """{'coarse' | 'middle' | 'fine': style layers}: stylemix.py's split of 9 blocks (layers 0-3,
    4-7, 8-17: 2, 2 and 5 blocks) scaled to `layer_count` blocks (at least one block each)."""
    k = max(1, round(2 * layer_count / 9))
    if layer_count < 3:
        raise cli.UserError(f"style ranges need at least 3 blocks; the network has {layer_count}")
    k = min(k, (layer_count - 1) // 2)
    bounds = (0, 2 * k, 4 * k, 2 * layer_count)
    return {name: list(range(bounds[i], bounds[i + 1])) for i, name in enumerate(RANGES)}


def parse_styles(text, model):
    """--styles: coarse | middle | fine | a layer range (e.g. 4-7) -> sorted layer indices."""
    ranges = style_ranges(model.layer_count)
    if text in ranges:
        return ranges[text]
    layers = sorted(set(cli.parse_range(text, "styles")))
    bad = [s for s in layers if not 0 <= s < model.num_ws]
    if bad:
        raise cli.UserError(f"--styles: layer {bad[0]} outside 0..{model.num_ws - 1}")
    return layers


class Codec:
    """Batched encode / decode of one ALAE model (traced once per batch shape)."""

    def __init__(self, model, noise_mode="random", seed=0):
        import tensorflow as tf

        self.model, self.tf = model, tf
        seed_t = tf.constant([seed, 0x454E], tf.int32)
        self._encode = tf.function(lambda x: model.encode(x))
        self._decode = tf.function(
            lambda ws: model.decode(ws, noise_mode=noise_mode, noise_seed=seed_t)
        )

    def encode(self, images):
        """uint8 [N, R, R, C] -> w [N, latent]."""
        x = self.tf.cast(images, self.tf.float32) / 127.5 - 1.0
        return self._encode(x).numpy()

    def decode(self, ws):
        """w [N, latent] or ws [N, num_ws, latent] -> uint8 [N, R, R, C]."""
        ws = np.asarray(ws, np.float32)
        if ws.ndim == 2:
            ws = np.repeat(ws[:, None], self.model.num_ws, axis=1)
        return media.to_uint8(self._decode(self.tf.constant(ws)).numpy())


def _image_files(path, flag):
    from fileio.images import is_image_name

    if not os.path.exists(path):
        raise cli.UserError(f"--{flag} {path}: no such file or folder")
    if not os.path.isdir(path):
        return [path]
    files = sorted(os.path.join(path, f) for f in os.listdir(path) if is_image_name(f))
    if not files:
        raise cli.UserError(f"--{flag} {path}: no images in the folder")
    return files


def _load_images(files, model):
    r, c = model.img_resolution, model.channels
    return np.stack([media.load_target_image(f, r, c) for f in files])


def _names(files):
    return [os.path.splitext(os.path.basename(f))[0] for f in files]


def encode_all(codec, images, batch, label="encode"):
    """w [N, latent] and reconstructions uint8, `batch` images at a time, with a progress bar."""
    bar = Progress(label, len(images), unit="img")
    ws, recs = [], []
    for i in range(0, len(images), batch):
        w = codec.encode(images[i : i + batch])
        ws.append(w)
        recs.append(codec.decode(w))
        bar.update(len(w))
    bar.close()
    return np.concatenate(ws), np.concatenate(recs)


def mix_grid(codec, row_w, col_w, layers, row_imgs, col_imgs):
    """stylemix.py's figure: uint8 [(rows + 1) R, (cols + 1) R, C]."""
    num_ws = codec.model.num_ws
    rows = np.repeat(row_w[:, None], num_ws, axis=1)
    cells = []
    for j in range(len(col_w)):
        ws = rows.copy()
        ws[:, layers] = col_w[j]
        cells.append(codec.decode(ws))  # [rows, R, R, C]
    r, c = row_imgs.shape[1], row_imgs.shape[3]
    grid = np.zeros([(len(row_w) + 1) * r, (len(col_w) + 1) * r, c], np.uint8)
    for j in range(len(col_w)):
        grid[:r, (j + 1) * r : (j + 2) * r] = col_imgs[j]
    for i in range(len(row_w)):
        grid[(i + 1) * r : (i + 2) * r, :r] = row_imgs[i]
        for j in range(len(col_w)):
            grid[(i + 1) * r : (i + 2) * r, (j + 1) * r : (j + 2) * r] = cells[j][i]
    return grid


def interpolation(codec, w_a, w_b, frames):
    """uint8 [frames, R, R, C]: decode(lerp(w_a, w_b, t)), t from 0 to 1."""
    t = np.linspace(0.0, 1.0, frames, dtype=np.float32)[:, None]
    ws = w_a[None] + (w_b - w_a)[None] * t
    return np.concatenate([codec.decode(ws[i : i + 16]) for i in range(0, frames, 16)])


def define_flags():
    flags.DEFINE_string("network", None, "StyleALAE .keras snapshot, run folder or official .pth.")
    flags.DEFINE_string("images", None, "Image file or folder to encode and reconstruct.")
    flags.DEFINE_string("mix-rows", None, "Style mixing: images (file or folder) of the rows.")
    flags.DEFINE_string("mix-cols", None, "Style mixing: images whose styles the columns give.")
    flags.DEFINE_string(
        "styles", "coarse", "Layers the columns give: coarse, middle, fine or a range (e.g. 4-7)."
    )
    flags.DEFINE_list("interpolate", None, "Two images A,B: interpolate between their w.")
    flags.DEFINE_integer("frames", 48, "Frames of the interpolation.")
    flags.DEFINE_string("outdir", None, "Output folder (created).")
    flags.DEFINE_integer("batch", 16, "Images per encoder / decoder call.")
    flags.DEFINE_enum("model", "ema", ["ema", "train"], "The averaged model or the training one.")
    flags.DEFINE_enum(
        "noise-mode",
        "random",
        ["random", "batch_constant", "deterministic", "none"],
        "Decoder noise: random (seeded by --seed; the official scripts), one map for the batch, "
        "ALAE's deterministic branch, or none.",
    )
    flags.DEFINE_integer("seed", 0, "Seed of the decoder noise.")


def main(argv):
    if len(argv) > 1:
        cli.fail(f"unexpected arguments: {' '.join(argv[1:])}")
    with cli.user_errors():
        modes = [m for m in ("images", "mix-rows", "interpolate") if FLAGS[m].value]
        if not FLAGS.network or not FLAGS.outdir:
            raise cli.UserError(f"--{'network' if not FLAGS.network else 'outdir'} is required")
        if len(modes) != 1:
            raise cli.UserError("give one of --images, --mix-rows/--mix-cols or --interpolate")
        if FLAGS.batch < 1 or FLAGS.frames < 2:
            bad = "batch" if FLAGS.batch < 1 else "frames"
            raise cli.UserError(
                f"--{bad} {FLAGS[bad].value}: must be at least {1 + (bad == 'frames')}"
            )
        if FLAGS["mix-rows"].value and not FLAGS["mix-cols"].value:
            raise cli.UserError("--mix-rows needs --mix-cols")
        if FLAGS.interpolate and len(FLAGS.interpolate) != 2:
            raise cli.UserError("--interpolate takes two images: A,B")
        loading.resolve_network(FLAGS.network)
        model, file = loading.load_alae(FLAGS.network, FLAGS.model)
        codec = Codec(model, FLAGS["noise-mode"].value, FLAGS.seed)
        if FLAGS.images:
            files = _image_files(FLAGS.images, "images")
            images = _load_images(files, model)
            outdir = cli.make_outdir(FLAGS.outdir)
            ws, recs = encode_all(codec, images, FLAGS.batch)
            names = _names(files)
            for name, img, rec in zip(names, images, recs):
                media.save_image(outdir / f"{name}.png", np.concatenate([img, rec], axis=1))
            pairs = np.concatenate([images, recs], axis=2)  # [N, R, 2R, C]
            media.save_image(
                outdir / "reconstructions.png", media.image_grid(pairs, media.grid_cols(len(pairs)))
            )
            atomic.save_npz(outdir / "w.npz", {"w": ws, "names": np.array(names)})
            mse = float(np.mean(((images / 127.5 - 1) - (recs / 127.5 - 1)) ** 2))
            print(
                f"Encoded {len(files)} images with {file}: reconstruction MSE {mse:.4f} "
                f"(images in [-1, 1]); wrote w.npz, reconstructions.png and one <name>.png per "
                f"image to {outdir}"
            )
        elif FLAGS["mix-rows"].value:
            rows = _load_images(_image_files(FLAGS["mix-rows"].value, "mix-rows"), model)
            cols = _load_images(_image_files(FLAGS["mix-cols"].value, "mix-cols"), model)
            layers = parse_styles(FLAGS.styles, model)
            outdir = cli.make_outdir(FLAGS.outdir)
            row_w, _ = encode_all(codec, rows, FLAGS.batch, "encode rows")
            col_w, _ = encode_all(codec, cols, FLAGS.batch, "encode cols")
            grid = mix_grid(codec, row_w, col_w, layers, rows, cols)
            media.save_image(outdir / "mix.png", grid)
            print(
                f"Mixed {len(rows)} x {len(cols)} images (layers {layers}); wrote {outdir}/mix.png"
            )
        else:
            pair = _load_images(
                [_image_files(f, "interpolate")[0] for f in FLAGS.interpolate], model
            )
            outdir = cli.make_outdir(FLAGS.outdir)
            w = codec.encode(pair)
            frames = interpolation(codec, w[0], w[1], FLAGS.frames)
            strip = frames[np.linspace(0, len(frames) - 1, 8).round().astype(int)]
            media.save_image(outdir / "interp.png", np.concatenate(list(strip), axis=1))
            wrote = "interp.mp4" if media.save_mp4(outdir / "interp.mp4", frames, fps=24) else None
            if wrote is None:
                media.save_gif(outdir / "interp.gif", frames, fps=24)
                wrote = "interp.gif (no ffmpeg available)"
            print(f"Interpolated {FLAGS.frames} frames; wrote interp.png and {wrote} to {outdir}")


def run():
    quiet_tensorflow("2")
    define_flags()
    cli.run_script(main, sys.modules[__name__])


if __name__ == "__main__":
    run()
