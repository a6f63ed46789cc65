"""fileio: the one image decoder (dataset_tool and metrics' folder mode read images the same way)."""

import numpy as np
import PIL.Image

from dataset_tool import sources
from fileio import images
from metrics import image_sources


def _write_images(folder):
    folder.mkdir()
    rgba = np.zeros([8, 8, 4], np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, np.arange(64).reshape(8, 8) * 4
    PIL.Image.fromarray(rgba, "RGBA").save(folder / "a.png")
    grey16 = (np.arange(64).reshape(8, 8) * 1000).astype(np.uint16)
    PIL.Image.fromarray(grey16).save(folder / "b.png")  # a 16-bit greyscale PNG
    PIL.Image.fromarray(rgba[..., :3]).convert("P").save(folder / "c.GIF")
    (folder / "notes.txt").write_text("not an image")
    return rgba, grey16


def test_dataset_tool_and_metrics_decode_alike(tmp_path):
    rgba, grey16 = _write_images(tmp_path / "imgs")
    assert sources.IMAGE_EXTENSIONS is images.IMAGE_EXTENSIONS
    files, others = sources.list_images(tmp_path / "imgs")
    assert files == ["a.png", "b.png", "c.GIF"] and others == 1
    folder = image_sources.FolderSource(tmp_path / "imgs")
    for index, name in enumerate(files):
        ours = sources.load_image(tmp_path / "imgs" / name, {})
        np.testing.assert_array_equal(folder.get(index), ours)
    a = folder.get(0)  # red on white by alpha: round((200 a + 255 (255 - a)) / 255)
    alpha = rgba[..., 3:].astype(np.int32)
    np.testing.assert_array_equal(a[..., :1], (200 * alpha + 255 * (255 - alpha) + 127) // 255)
    b = folder.get(1)  # 16 bits scaled to 8, not clipped to white
    assert b.shape == (8, 8, 1) and b.max() == round(63000 / 257) and b.min() == 0
    # an in-memory RGBA array composites exactly as the RGBA file does
    np.testing.assert_array_equal(images.decode_array(rgba), a)
