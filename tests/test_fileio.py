"""fileio: the one image decoder (dataset_tool and metrics' folder mode read images the same
way)."""

import numpy as np
import PIL.Image
import pytest

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


def test_atomic_replacing_keeps_old_file_on_error_and_leaves_no_temporary(tmp_path):
    from fileio import atomic

    target = tmp_path / "sub" / "out.npz"
    atomic.save_npz(target, {"a": np.arange(3)})
    with np.load(target) as data:
        np.testing.assert_array_equal(data["a"], [0, 1, 2])
    mode = target.stat().st_mode & 0o777
    assert mode == 0o666 & ~_umask()  # an ordinary file, not mkstemp's 0600
    with pytest.raises(KeyboardInterrupt):
        with atomic.replacing(target) as tmp:
            assert tmp.name.endswith(".tmp.npz") and tmp.parent == target.parent
            tmp.write_bytes(b"half")
            raise KeyboardInterrupt
    with np.load(target) as data:  # the old file is intact
        np.testing.assert_array_equal(data["a"], [0, 1, 2])
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.npz"]
    folder = tmp_path / "export"
    with atomic.replacing(folder, directory=True) as tmp:
        (tmp / "f.txt").write_text("x")
    assert (folder / "f.txt").read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export", "sub"]


def _umask():
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_to_uint8_same_rule_for_arrays_and_tensors():
    import tensorflow as tf

    from fileio.images import to_uint8

    x = np.array([-1.5, -1.0, -0.999, 0.0, 0.5 / 127.5, 0.999, 1.0, 2.0], np.float32)
    expected = np.array([0, 0, 0, 128, 128, 255, 255, 255], np.uint8)  # clamp(x*127.5+128), trunc
    np.testing.assert_array_equal(to_uint8(x), expected)
    out = to_uint8(tf.constant(x))
    assert isinstance(out, tf.Tensor) and out.dtype == tf.uint8
    np.testing.assert_array_equal(out.numpy(), expected)
    in_graph = tf.function(to_uint8)(tf.constant(x))
    np.testing.assert_array_equal(in_graph.numpy(), expected)


def test_progress_lines_in_a_log_and_nvidia_time_format():
    import io

    from metrics.progress import Progress, format_time

    assert [format_time(s) for s in (42, 187, 7509, 97200)] == [
        "42s",
        "3m 07s",
        "2h 05m 09s",
        "1d 03h 00m",
    ]
    log = io.StringIO()  # not a terminal: one plain line per 10% of the total
    bar = Progress("generate", 20, stream=log)
    for i in range(20):
        bar.update(1, f"seed {i}")
    bar.close()
    lines = log.getvalue().splitlines()
    assert len(lines) == 10 and "\r" not in log.getvalue()
    assert lines[0].startswith("generate  [###...........................] 2/20")
    assert (
        lines[-1].startswith("generate  [##############################] 20/20")
        and "seed 19" in lines[-1]
    )
    quiet = io.StringIO()
    Progress("x", 5, verbose=False, stream=quiet).update(5)
    assert quiet.getvalue() == ""
