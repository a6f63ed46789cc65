"""Helpers shared by the generator apps: argument parsing, network loading, NVIDIA's latent draws,
uint8 conversion, image files and grids, error reporting.

TensorFlow and the networks are imported lazily, so bad command lines fail fast (before TF loads).
Images are NHWC everywhere; generator outputs are float32 with nominal range [-1, 1].
"""

import bisect
import collections.abc
import contextlib
import itertools
import os
import pathlib
import re
import sys

import numpy as np

NETWORK_SNAPSHOT_RE = re.compile(r"^network-snapshot-(\d+)\.(keras|pkl)$")
NOISE_VAR_RE = re.compile(r"b(\d+)[/_.]conv([01])\b")


class UserError(Exception):
    """A problem with the user's input: reported as one line on stderr, exit status 2."""


def fail(message, status=2):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(status)


def script_help(module):
    """Make `python generate.py --help` show this module's docstring and flags: absl describes the
    flags of sys.argv[0] and the __main__ docstring, which are the 3-line launcher's."""
    from absl import flags

    main = sys.modules.get("__main__")
    if main is not None and module.__doc__:
        main.__doc__ = module.__doc__
    for flag in flags.FLAGS.get_key_flags_for_module(module.__name__):
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)


HELP_FLAGS = ("-h", "-help", "--help", "--helpshort", "-?")


def run_script(main, module, flags_parser=None):
    """absl's app.run for a command, with `--help` showing the command's own docstring and flags
    and exiting 0 (absl exits 1), and `--helpfull` every flag."""
    from absl import app

    script_help(module)
    args = sys.argv[1:]
    if any(a in HELP_FLAGS or a == "--helpfull" for a in args):
        app.usage(shorthelp="--helpfull" not in args, writeto_stdout=True, exitcode=0)
    if flags_parser is None:
        app.run(main)
    else:
        app.run(main, flags_parser=flags_parser)


def quiet_logs():
    """TF's Python INFO logs go through absl logging: keep them out unless --verbosity asks."""
    from absl import flags, logging

    if "verbosity" in flags.FLAGS and not flags.FLAGS["verbosity"].present:
        logging.set_verbosity(logging.WARNING)


@contextlib.contextmanager
def user_errors():
    """Turn UserError (raised anywhere in a command) into one stderr line and exit status 2."""
    quiet_logs()
    try:
        yield
    except UserError as e:
        fail(str(e))


# ----------------------------------------------------------------------------
# Command-line values.


class RangeList(collections.abc.Sequence):
    """The integers of several ranges, in order, without materialising them (--seeds 0-99999999
    is 100 million seeds)."""

    def __init__(self, ranges):
        self.ranges = [r for r in ranges if len(r)]
        self._starts = list(itertools.accumulate([0] + [len(r) for r in self.ranges]))

    def __len__(self):
        return self._starts[-1]

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        k = bisect.bisect_right(self._starts, index) - 1
        return self.ranges[k][index - self._starts[k]]

    def __iter__(self):
        return itertools.chain.from_iterable(self.ranges)

    def __eq__(self, other):
        return list(self) == list(other)

    def __add__(self, other):
        return list(self) + list(other)

    def __radd__(self, other):
        return list(other) + list(self)

    def __repr__(self):
        return f"RangeList({self.ranges!r})"


def parse_range(text, what="seeds"):
    """'0-31,40' -> [0, 1, ..., 31, 40] (a lazy RangeList): comma-separated non-negative integers
    or inclusive ranges a-b (NVIDIA's run_generator.py / ADA-PT generate.py syntax)."""
    if text is None or not str(text).strip():
        raise UserError(f"--{what}: empty list (expected e.g. 0-31,40)")
    values = []
    for part in str(text).split(","):
        part = part.strip()
        m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part) or re.fullmatch(r"(\d+)", part)
        if not m:
            raise UserError(f"--{what}: cannot parse {part!r} in {text!r} (expected e.g. 0-31,40)")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.lastindex == 2 else lo
        if hi < lo:
            raise UserError(f"--{what}: range {part!r} ends before it starts")
        values.append(range(lo, hi + 1))
    return RangeList(values)


def parse_seeds(text, what="seeds"):
    seeds = parse_range(text, what)
    bad = [r.stop - 1 for r in seeds.ranges if r.stop - 1 >= 2**32]
    if bad:
        raise UserError(f"--{what}: seed {bad[0]} is outside NumPy's RandomState range 0..2**32-1")
    return seeds


# ----------------------------------------------------------------------------
# Networks: a .keras snapshot, a run folder (its latest snapshot) or an official pickle.


def resolve_network(path):
    """The network file that `path` names; raises UserError with the reason otherwise."""
    p = pathlib.Path(str(path)).expanduser()
    if not p.exists():
        raise UserError(
            f"{path}: network not found (expected a .keras snapshot, a run folder or a .pkl)"
        )
    if p.is_dir():
        # Ours (.keras) or an official run folder (.pkl); the highest kimg wins, .keras on a tie.
        snaps = sorted(
            (int(m.group(1)), m.group(2) == "keras", f)
            for f in p.iterdir()
            if (m := NETWORK_SNAPSHOT_RE.match(f.name)) and f.is_file()
        )
        if not snaps:
            raise UserError(f"{path}: run folder holds no network-snapshot-NNNNNN.keras (or .pkl)")
        return snaps[-1][2]
    if p.suffix not in (".keras", ".pkl"):
        raise UserError(f"{path}: unknown network format (expected .keras, .pkl or a run folder)")
    return p


def load_generator(path):
    """(G, file): the generator to sample from: G_ema (Gs) when the file has one, else G."""
    file = resolve_network(path)
    import tf_stylegan2

    try:
        nets = tf_stylegan2.load_network(str(file))
    except Exception as e:  # noqa: BLE001 -- any reader failure is the user's file
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{file}: cannot load network ({type(e).__name__}: {first})") from e
    G = nets.get("G_ema") if isinstance(nets, dict) else None
    if G is None and isinstance(nets, dict):
        G = nets.get("G")
    if G is None:
        raise UserError(f"{file}: the file holds no generator (G_ema or G)")
    return G, file


def class_labels(G, class_idx, batch=1):
    """One-hot labels [batch, c_dim] for class_idx, or None for an unconditional network."""
    if G.c_dim == 0:
        if class_idx is not None:
            raise UserError(f"--class {class_idx}: the network is unconditional (c_dim = 0)")
        return None
    if class_idx is None:
        raise UserError(f"--class is required: the network is conditional (c_dim = {G.c_dim})")
    if not 0 <= class_idx < G.c_dim:
        raise UserError(f"--class {class_idx}: outside the network's classes 0..{G.c_dim - 1}")
    c = np.zeros([batch, G.c_dim], np.float32)
    c[:, class_idx] = 1
    return c


def parse_class(text):
    """--class value: None, 'all' or an int (validated against c_dim later)."""
    if text is None or text == "":
        return None
    if str(text).strip().lower() == "all":
        return "all"
    try:
        return int(text)
    except ValueError:
        raise UserError(f"--class: {text!r} is not a class index or 'all'") from None


# ----------------------------------------------------------------------------
# NVIDIA's per-seed random draws (NumPy legacy RandomState, MT19937 + polar Gaussians).


def seed_z(seed, z_dim):
    """z for one seed, [1, z_dim] float32: np.random.RandomState(seed).randn(1, z_dim), as both
    TF1 run_generator.py and ADA-PT generate.py draw it."""
    return np.random.RandomState(seed).randn(1, z_dim).astype(np.float32)


def noise_variables(G):
    """The synthesis network's stored noise maps in TF1 order noise0, noise1, ...: b4/conv1,
    b8/conv0, b8/conv1, b16/conv0, ... ([(name, variable)])."""
    found = []
    for v in G.synthesis.weights:
        name = getattr(v, "path", None) or v.name
        if "noise_const" not in name:
            continue
        m = NOISE_VAR_RE.search(name)
        if not m:
            raise RuntimeError(f"cannot place noise variable {name} in the TF1 order")
        found.append(((int(m.group(1)), int(m.group(2))), name, v))
    found.sort(key=lambda t: t[0])
    return [(name, v) for _, name, v in found]


def seed_z_and_noise(seed, z_dim, noise_shapes):
    """TF1 run_generator.py generate-images: z = rnd.randn(1, z_dim) first, then from the same rnd
    every noise map in order, each rnd.randn(1, 1, R, R).
    noise_shapes: [R, ...] -> (z, [[R, R]])."""
    rnd = np.random.RandomState(seed)
    z = rnd.randn(1, z_dim).astype(np.float32)
    noises = [rnd.randn(1, 1, r, r)[0, 0].astype(np.float32) for r in noise_shapes]
    return z, noises


@contextlib.contextmanager
def noise_maps_set(G, values):
    """Temporarily overwrite the stored noise maps (TF1 order) with `values` ([R, R] arrays)."""
    variables = [v for _, v in noise_variables(G)]
    if len(values) != len(variables):
        raise ValueError(f"{len(values)} noise maps given, the network has {len(variables)}")
    saved = [np.array(v.numpy()) for v in variables]
    try:
        for v, x in zip(variables, values):
            v.assign(np.reshape(x, v.shape).astype(np.float32))
        yield
    finally:
        for v, x in zip(variables, saved):
            v.assign(x)


def noise_resolutions(G):
    out = []
    for _, v in noise_variables(G):
        size = int(np.prod(v.shape))
        out.append(int(round(size**0.5)))
    return out


# ----------------------------------------------------------------------------
# Images.


def to_uint8(images):
    """float [-1, 1] NHWC -> uint8 as NVIDIA converts: clamp(x*127.5 + 128, 0, 255), then a
    truncating cast (= TF1's round-half-up saturate_cast of x*127.5 + 127.5)."""
    x = np.asarray(images, np.float32)
    return np.clip(x * np.float32(127.5) + np.float32(128), 0, 255).astype(np.uint8)


def image_grid(images, cols, rows=None, pad_value=0):
    """[N,H,W,C] uint8 -> [rows*H, cols*W, C], row-major, empty cells pad_value."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    rows = rows or -(-n // cols)
    grid = np.full([rows * h, cols * w, c], pad_value, images.dtype)
    for i in range(min(n, rows * cols)):
        r, k = divmod(i, cols)
        grid[r * h : (r + 1) * h, k * w : (k + 1) * w] = images[i]
    return grid


def grid_cols(n):
    return max(1, int(np.ceil(np.sqrt(n))))


def to_pil(image):
    from PIL import Image

    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        return Image.fromarray(image[:, :, 0], "L")
    if image.ndim == 3 and image.shape[2] == 3:
        return Image.fromarray(image, "RGB")
    if image.ndim == 3 and image.shape[2] == 4:
        return Image.fromarray(image, "RGBA")
    raise ValueError(f"cannot write an image of shape {image.shape}")


def atomic_path(path):
    """A temporary name beside `path` (same suffix, so writers pick the right format)."""
    path = pathlib.Path(path)
    return path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")


def save_image(path, image):
    """Write a uint8 HWC image (C = 1, 3 or 4) as PNG, atomically."""
    tmp = atomic_path(path)
    try:
        to_pil(image).save(tmp)
        os.replace(tmp, path)
    except BaseException:  # Ctrl-C included: no half-written file stays behind
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def save_gif(path, frames, fps=24):
    """Frames [H,W,C] uint8 -> looping GIF (Pillow), atomically."""
    pil = [to_pil(f) for f in frames]
    tmp = atomic_path(path)
    pil[0].save(
        tmp, save_all=True, append_images=pil[1:], duration=max(1, round(1000 / fps)), loop=0
    )
    os.replace(tmp, path)


def mp4_writer_available():
    import shutil

    return shutil.which("ffmpeg") is not None


def save_mp4(path, frames, fps=24, bitrate="16M"):
    """Frames -> H.264 MP4 through the ffmpeg binary (as ADA-PT's imageio writer: libx264,
    16 Mbit/s).
    Returns False (and writes nothing) when ffmpeg is not installed."""
    import shutil
    import subprocess

    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return False
    frames = [np.asarray(f) for f in frames]
    h, w = frames[0].shape[:2]
    tmp = atomic_path(path)
    cmd = [
        ffmpeg,
        "-loglevel",
        "error",
        "-y",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-s",
        f"{w}x{h}",
        "-r",
        str(fps),
        "-i",
        "-",
        "-c:v",
        "libx264",
        "-b:v",
        bitrate,
        "-pix_fmt",
        "yuv420p",
        "-vf",
        "pad=ceil(iw/2)*2:ceil(ih/2)*2",
        str(tmp),
    ]
    data = b"".join(
        np.ascontiguousarray(
            np.broadcast_to(f, (h, w, 3)) if f.shape[2] == 1 else f[:, :, :3]
        ).tobytes()
        for f in frames
    )
    proc = subprocess.run(cmd, input=data, capture_output=True)
    if proc.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"ffmpeg failed: {proc.stderr.decode(errors='replace').strip()}")
    os.replace(tmp, path)
    return True


def load_target_image(path, resolution, channels):
    """An image file -> uint8 [R, R, C]: centre crop to a square, Lanczos resize to the network's
    resolution (ADA-PT projector.py)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            im = im.convert("L" if channels == 1 else "RGB")
    except FileNotFoundError:
        raise UserError(f"{path}: image not found") from None
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise UserError(f"{path}: cannot read the image ({e})") from None
    w, h = im.size
    s = min(w, h)
    im = im.crop(((w - s) // 2, (h - s) // 2, (w + s) // 2, (h + s) // 2))
    im = im.resize((resolution, resolution), Image.LANCZOS)
    arr = np.asarray(im, np.uint8)
    return arr[:, :, None] if arr.ndim == 2 else arr


def make_outdir(path):
    p = pathlib.Path(path)
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"{path}: cannot create the output folder ({e.strerror})") from None
    return p


class ProgressBar:
    """A one-line progress bar with a running value on stderr (a line every 10% when not a
    terminal)."""

    def __init__(self, total, label="", width=30, stream=None):
        self.total, self.label, self.width = total, label, width
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.every = max(1, total // 10)

    def update(self, step, text=""):
        done = step + 1
        if not self.tty and done % self.every and done != self.total:
            return
        fill = int(self.width * done / self.total)
        line = f"{self.label}[{'#' * fill}{'.' * (self.width - fill)}] {done}/{self.total} {text}"
        self.stream.write(("\r" + line) if self.tty else (line + "\n"))
        self.stream.flush()

    def close(self):
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
