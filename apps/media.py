"""Images in and out of the commands: grids, PNG / GIF / MP4 files (written atomically) and the
target image of a projection."""

import numpy as np

from apps.cli import UserError
from fileio import atomic
from fileio.images import to_uint8  # noqa: F401  (the commands' float -> uint8 conversion)


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


def save_image(path, image):
    """Write a uint8 HWC image (C = 1, 3 or 4) as PNG, atomically."""
    with atomic.replacing(path) as tmp:
        to_pil(image).save(tmp)


def save_gif(path, frames, fps=24):
    """Frames [H,W,C] uint8 -> looping GIF (Pillow), atomically."""
    pil = [to_pil(f) for f in frames]
    with atomic.replacing(path) as tmp:
        pil[0].save(
            tmp, save_all=True, append_images=pil[1:], duration=max(1, round(1000 / fps)), loop=0
        )


def ffmpeg_binary():
    """The ffmpeg on PATH, else the one the imageio-ffmpeg package ships (pip install
    '.[export]'), else None."""
    import shutil

    found = shutil.which("ffmpeg")
    if found is None:
        try:
            import imageio_ffmpeg

            found = imageio_ffmpeg.get_ffmpeg_exe()
        except (ImportError, RuntimeError):  # not installed / no binary for this platform
            return None
    return found


def mp4_writer_available():
    return ffmpeg_binary() is not None


def save_mp4(path, frames, fps=24, bitrate="16M"):
    """Frames -> H.264 MP4 through the ffmpeg binary (as ADA-PT's imageio writer: libx264,
    16 Mbit/s).
    Returns False (and writes nothing) when no ffmpeg is available."""
    import subprocess

    ffmpeg = ffmpeg_binary()
    if ffmpeg is None:
        return False
    frames = [np.asarray(f) for f in frames]
    h, w = frames[0].shape[:2]
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
    ]
    data = b"".join(
        np.ascontiguousarray(
            np.broadcast_to(f, (h, w, 3)) if f.shape[2] == 1 else f[:, :, :3]
        ).tobytes()
        for f in frames
    )
    with atomic.replacing(path) as tmp:
        cmd.append(str(tmp))
        proc = subprocess.run(cmd, input=data, capture_output=True)
        if proc.returncode != 0:
            raise RuntimeError(f"ffmpeg failed: {proc.stderr.decode(errors='replace').strip()}")
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
