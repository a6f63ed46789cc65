"""Run-directory bookkeeping: naming, log.txt tee, atomic writes, image grids, weight copies."""

import glob
import os
import re

import numpy as np
import tensorflow as tf

from fileio import atomic


def next_run_dir(outdir, desc):
    os.makedirs(outdir, exist_ok=True)
    ids = [int(m.group(1)) for m in (re.match(r"^(\d+)", d) for d in os.listdir(outdir)) if m]
    run_dir = os.path.join(outdir, f"{max(ids, default=-1) + 1:05d}-{desc}")
    if os.path.exists(run_dir):
        raise FileExistsError(f"{run_dir}: run directory already exists")
    return run_dir


def latest_run_dir(outdir):
    """The newest run directory under `outdir` that has a checkpoint, or None."""
    best = None
    for d in sorted(glob.glob(os.path.join(outdir, "[0-9]*"))):
        if tf.train.latest_checkpoint(os.path.join(d, "checkpoints", "worker0")):
            best = d
    return best


class Tee:
    """Copy of stdout/stderr into log.txt (ADA-PT dnnlib.util.Logger)."""

    def __init__(self, path, stream):
        self.file = open(path, "a", encoding="utf-8")
        self.stream = stream

    def write(self, text):
        self.stream.write(text)
        self.file.write(text)
        self.file.flush()

    def flush(self):
        self.stream.flush()
        self.file.flush()

    def isatty(self):
        return False

    def close(self):
        self.file.close()


def save_grid(path, images, grid):
    """images [N,H,W,C] float in [-1,1] -> PNG grid of gh rows and gw columns (atomic)."""
    from PIL import Image

    gw, gh = grid
    img = np.rint(np.clip((np.asarray(images, np.float32) + 1) * 127.5, 0, 255)).astype(np.uint8)
    n, h, w, c = img.shape
    img = (
        img[: gw * gh].reshape(gh, gw, h, w, c).transpose(0, 2, 1, 3, 4).reshape(gh * h, gw * w, c)
    )
    pil = Image.fromarray(img[..., 0] if c == 1 else img[..., :3] if c >= 3 else img[..., 0])
    with atomic.replacing(path) as tmp:
        pil.save(tmp)
    return img


def generate_grid(G_ema, grid_z, grid_c, batch=32):
    out = []
    for i in range(0, len(grid_z), batch):
        z = tf.constant(grid_z[i : i + batch])
        c = tf.constant(grid_c[i : i + batch]) if grid_c is not None else None
        out.append(G_ema(z, c, noise_mode="const").numpy())
    return np.concatenate(out)


def peak_memory_gb():
    try:
        if tf.config.list_physical_devices("GPU"):
            return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**30
    except (ValueError, RuntimeError):
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def copy_weights(src, dst):
    """Copy every weight of `src` into `dst`, matched by path below the model name
    ('generator_3/mapping/fc0/weight' -> 'mapping/fc0/weight'). Raises ValueError on any
    mismatch."""

    def key(v):
        return v.path.split("/", 1)[-1]

    src_by = {key(v): v for v in src.weights}
    missing, bad = [], []
    for v in dst.weights:
        s = src_by.pop(key(v), None)
        if s is None:
            missing.append(key(v))
        elif tuple(s.shape) != tuple(v.shape):
            bad.append(f"{key(v)} {tuple(s.shape)} vs {tuple(v.shape)}")
        else:
            v.assign(s)
    if missing or bad or src_by:
        raise ValueError(
            f"weights do not match: missing {missing[:5]}, shape {bad[:5]}, "
            f"unused {sorted(src_by)[:5]}"
        )
    return len(dst.weights)
