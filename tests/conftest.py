"""Shared test set-up: deterministic float32 TF, and the path to ../shared."""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")
os.environ.setdefault("TF_STYLEGAN2_NO_DOWNLOAD", "1")  # nothing downloads in tests

import pytest  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def shared_path(*parts):
    """Path under ../shared; skips the calling test with a clear reason when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the shared fixtures/data/weights folder beside the repo)")
    return path


@pytest.fixture
def shared():
    return shared_path


@pytest.fixture(scope="module")
def emoji(tmp_path_factory):
    """96 twemoji, composited on white: a flat PNG folder, and the same in class sub-folders."""
    import numpy as np
    import PIL.Image

    import dataset_helpers

    z = np.load(shared_path("data", "twemoji_64_rgba.npz"))
    idx = np.linspace(0, len(z["images"]) - 1, 96).astype(int)
    rgb = dataset_helpers.composite_white(z["images"][idx])
    classes = z["labels"][idx].astype(int)
    names = [str(n) for n in z["label_names"]]
    root = tmp_path_factory.mktemp("emoji")
    flat, by_class = root / "flat", root / "by_class"
    flat.mkdir()
    for i, img in enumerate(rgb):
        PIL.Image.fromarray(img).save(flat / f"e{i:04d}.png")
        (by_class / names[classes[i]]).mkdir(parents=True, exist_ok=True)
        PIL.Image.fromarray(img).save(by_class / names[classes[i]] / f"e{i:04d}.png")
    return {
        "root": root,
        "flat": flat,
        "by_class": by_class,
        "rgb": rgb,
        "classes": classes,
        "names": names,
    }


@pytest.fixture(scope="module")
def data16(tmp_path_factory):
    """A 16x16 RGB dataset of 64 random images with 4 classes, written by dataset_tool."""
    import numpy as np

    from dataset_tool import create

    root = tmp_path_factory.mktemp("data")
    rnd = np.random.RandomState(0)
    np.savez(
        root / "src.npz",
        images=rnd.randint(0, 256, [64, 16, 16, 3]).astype(np.uint8),
        labels=np.arange(64) % 4,
    )
    create.create_from_npz(str(root / "d16"), str(root / "src.npz"), log=lambda *a: None, workers=1)
    return str(root / "d16")
