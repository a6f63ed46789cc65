"""One image decoder for every image read from the user's disk (dataset_tool, metrics folders).

The rules: the extensions below (any case); transparency (RGBA, LA, palettes with a transparent
colour) composited onto white; 1-bit to greyscale; greyscale of more than 8 bits (16-bit PNGs,
32-bit integer and float TIFFs) scaled by its range to 8 bits; every other mode to RGB. The result
is a uint8 HWC array with 1 (greyscale) or 3 channels, or the `channels` asked for.

Also the one conversion the other way: generator output in [-1, 1] -> uint8 (`to_uint8`).
"""

import os

import numpy as np

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif", ".tif", ".tiff")


def is_image_name(name):
    """True for a visible file name with one of IMAGE_EXTENSIONS."""
    name = os.path.basename(str(name))
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def scale_to_8bit(values, mode):
    """Greyscale with more than 8 bits -> uint8 by its full range (PIL's convert('L') clips instead,
    which turns a 16-bit image white). 16-bit modes: v / 257 (65535 -> 255). 32-bit integers: as
    16-bit when all values fit in 0..65535 (PIL opens 16-bit PNGs as 'I' or 'I;16'), else by
    2^31 - 1. Floats: [0, 1] -> [0, 255]; other ranges are mapped min..max -> 0..255."""
    v = values.astype(np.float64)
    if mode == "F":
        lo, hi = float(np.min(v)), float(np.max(v))
        if lo >= 0.0 and hi <= 1.0:
            v = v * 255.0
        else:
            v = (v - lo) * (255.0 / (hi - lo) if hi > lo else 0.0)
    elif mode.startswith("I;16") or (np.min(v) >= 0 and np.max(v) <= 65535):
        v = v / 257.0
    else:
        v = np.maximum(v, 0) * (255.0 / (2**31 - 1))
    return np.clip(np.rint(v), 0, 255).astype(np.uint8)


def decode(img, channels=None):
    """PIL image -> uint8 HWC array with 1 or 3 channels (`channels`: None keeps the image's)."""
    import PIL.Image

    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        img.mode == "P" and "transparency" in img.info
    )
    if has_alpha:
        rgba = img.convert("RGBA")
        white = PIL.Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        grey = img.mode in ("LA", "La")
        img = PIL.Image.alpha_composite(white, rgba).convert("L" if grey else "RGB")
    elif img.mode == "1":
        img = img.convert("L")
    elif img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        img = PIL.Image.fromarray(scale_to_8bit(np.asarray(img), img.mode), "L")
    elif img.mode not in ("L", "RGB"):
        img = img.convert("RGB")
    if channels == 1 and img.mode != "L":
        img = img.convert("L")
    elif channels == 3 and img.mode != "RGB":
        img = img.convert("RGB")
    arr = np.asarray(img, dtype=np.uint8)
    return arr[:, :, np.newaxis] if arr.ndim == 2 else arr


def read_image(path, channels=None):
    """The decoded image file (first frame). PIL's errors (OSError, ValueError ...) propagate."""
    import PIL.Image

    with PIL.Image.open(path) as img:
        img.load()
        return decode(img, channels)


def decode_array(arr, channels=None):
    """An in-memory image (uint8 HW, or HWC with 1-4 channels) by the same rules as `decode`:
    alpha (LA, RGBA) composited onto white, round((c a + 255 (255 - a)) / 255) in integers."""
    arr = np.asarray(arr)
    if arr.ndim == 2:
        arr = arr[:, :, np.newaxis]
    if arr.shape[2] in (2, 4):
        color = arr[:, :, :-1].astype(np.int32)
        alpha = arr[:, :, -1:].astype(np.int32)
        arr = ((color * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)
    arr = arr.astype(np.uint8, copy=False)
    if channels == 3 and arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif channels == 1 and arr.shape[2] == 3:
        luma = arr.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        arr = np.rint(luma).clip(0, 255).astype(np.uint8)[:, :, np.newaxis]
    return arr


def to_uint8(images):
    """float [-1, 1] -> uint8 as NVIDIA converts: clamp(x * 127.5 + 128, 0, 255), then a truncating
    cast (= TF1 misc.convert_images_to_uint8's round-half-up of x * 127.5 + 127.5; ADA-PT
    generate.py's (img * 127.5 + 128).clamp(0, 255).to(torch.uint8)).

    A NumPy array (or list) gives a NumPy array; a TensorFlow tensor gives a tensor (so the same
    rule runs inside tf.function: metrics' generator, SavedModel signatures).
    """
    if type(images).__module__.startswith("tensorflow"):
        import tensorflow as tf

        x = tf.cast(images, tf.float32) * 127.5 + 128.0
        return tf.cast(tf.clip_by_value(x, 0.0, 255.0), tf.uint8)
    x = np.asarray(images, np.float32)
    return np.clip(x * np.float32(127.5) + np.float32(128), 0, 255).astype(np.uint8)
