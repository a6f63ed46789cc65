"""Where the metric networks' weight files come from, and a torch-free reader of .pth files.

Lookup order for a file (first hit wins):
  1. `weights_dir` argument (the `--weights-dir` flag of the scripts);
  2. the environment variable TF_STYLEGAN2_WEIGHTS (one folder, or several separated by os.pathsep);
  3. the cache folder: $TF_STYLEGAN2_CACHE, else $XDG_CACHE_HOME/tf_stylegan2/weights,
     else ~/.cache/tf_stylegan2/weights.
When absent everywhere and downloads are allowed (`download=True`, or the default when
TF_STYLEGAN2_NO_DOWNLOAD is unset), the file is fetched from its public home into the cache with a
sha256 check (converted to our npz layout when the public file is a .pth). Otherwise a
MissingWeightsError names the file and where to put it. Tests never download.
"""

import hashlib
import os
import pathlib
import sys
import tempfile
import urllib.request

import numpy as np

from fileio.torch_files import read_pth

ENV_DIR = "TF_STYLEGAN2_WEIGHTS"
ENV_CACHE = "TF_STYLEGAN2_CACHE"
ENV_NO_DOWNLOAD = "TF_STYLEGAN2_NO_DOWNLOAD"

PYTORCH_FID_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
    "pt_inception-2015-12-05-6726825d.pth"
)
TORCHVISION_VGG16_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"
LPIPS_VGG_URL = (
    "https://raw.githubusercontent.com/richzhang/PerceptualSimilarity/master/"
    "lpips/weights/v0.1/vgg.pth"
)
LPIPS_ALEX_URL = (
    "https://raw.githubusercontent.com/richzhang/PerceptualSimilarity/master/"
    "lpips/weights/v0.1/alex.pth"
)

# key -> file name we look for, and how to obtain it from the public homes.
# sha256: full digest of the public file when known; otherwise the prefix that its published name
# carries (torch.hub convention: `<name>-<first 8 hex of sha256>.pth`).
WEIGHTS = {
    "inception_fid": dict(
        filename="inception-2015-12-05_fid_pool3.npz",
        what="the FID Inception (TF inception-2015-12-05 graph, pool3)",
        sources=[dict(url=PYTORCH_FID_URL, sha256_prefix="6726825d")],
        sha256="1e4c8cc47221a12387833e52b242e7f53be5273d2a0991ee0464ef8d526e5867",
    ),
    "lpips_vgg16": dict(
        filename="vgg16_lpips_v0.1_keras_layout.npz",
        what="LPIPS v0.1 VGG16 (torchvision VGG16 conv layers + LPIPS lin layers)",
        sources=[
            dict(url=TORCHVISION_VGG16_URL, sha256_prefix="397923af"),
            dict(
                url=LPIPS_VGG_URL,
                sha256="a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
            ),
        ],
        sha256="2c149521704233a40662e55a8eb7a5d1b8e33fb2f90a63180701bae602466d7f",
    ),
    "lpips_lin_vgg": dict(
        filename="lpips_v0.1_vgg.pth",
        what="LPIPS v0.1 linear layers for VGG (lpips package)",
        sources=[
            dict(
                url=LPIPS_VGG_URL,
                sha256="a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
            )
        ],
        sha256="a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
    ),
    "lpips_lin_alex": dict(
        filename="lpips_v0.1_alex.pth",
        what="LPIPS v0.1 linear layers for AlexNet (lpips package)",
        sources=[
            dict(
                url=LPIPS_ALEX_URL,
                sha256="df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
            )
        ],
        sha256="df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
    ),
}


class MissingWeightsError(FileNotFoundError):
    """A weights file is not in any searched folder and could not be downloaded."""


# ----------------------------------------------------------------------------
# Lookup.


def cache_dir():
    if os.environ.get(ENV_CACHE):
        return pathlib.Path(os.environ[ENV_CACHE]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "tf_stylegan2" / "weights"


def search_dirs(weights_dir=None):
    dirs = []
    if weights_dir:
        dirs.append(pathlib.Path(weights_dir).expanduser())
    for part in os.environ.get(ENV_DIR, "").split(os.pathsep):
        if part:
            dirs.append(pathlib.Path(part).expanduser())
    dirs.append(cache_dir())
    return dirs


def downloads_allowed(download=None):
    if download is not None:
        return bool(download)
    return os.environ.get(ENV_NO_DOWNLOAD, "") in ("", "0")


def find_weights(key, weights_dir=None, download=None):
    """Path of weights file `key` (see WEIGHTS), or a path given directly; downloads if allowed."""
    if key not in WEIGHTS:
        path = pathlib.Path(key).expanduser()
        if path.is_file():
            return path
        raise MissingWeightsError(f"{path}: weights file not found")
    entry = WEIGHTS[key]
    dirs = search_dirs(weights_dir)
    for folder in dirs:
        path = folder / entry["filename"]
        if path.is_file():
            return path
    if downloads_allowed(download):
        try:
            return _download(key, cache_dir())
        except OSError as err:  # offline, blocked, bad checksum: fall through to the clear message
            reason = f" (download failed: {err})"
    else:
        reason = f" (downloads disabled by {ENV_NO_DOWNLOAD} or download=False)"
    searched = ", ".join(str(d) for d in dirs)
    raise MissingWeightsError(
        f"missing weights file {entry['filename']} ({entry['what']}): put it in --weights-dir, "
        f"in ${ENV_DIR} or in {cache_dir()}; searched: {searched}{reason}"
    )


def keras_application(build, what):
    """Build a keras.applications model with ImageNet weights (Keras downloads them into
    ~/.keras/models when online); offline, one clear error instead of a traceback."""
    try:
        return build()
    except Exception as err:  # noqa: BLE001 (urllib/HTTP/OS errors from keras' get_file)
        raise MissingWeightsError(
            f"{what}: the Keras ImageNet weights are not in ~/.keras/models and could not be "
            f"downloaded ({type(err).__name__}: {str(err)[:200]})"
        ) from None


# ----------------------------------------------------------------------------
# Download (only when allowed; never in tests).


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch(url, dest_dir, sha256=None, sha256_prefix=None, timeout=30):
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / url.rsplit("/", 1)[-1]
    if dest.is_file():
        return dest
    print(f"downloading {url} -> {dest}", file=sys.stderr)
    fd, tmp = tempfile.mkstemp(dir=dest_dir, prefix=dest.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            while True:
                chunk = response.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
        digest = sha256_of(tmp)
        if (sha256 and digest != sha256) or (
            sha256_prefix and not digest.startswith(sha256_prefix)
        ):
            raise OSError(f"{url}: sha256 {digest} does not match {sha256 or sha256_prefix}")
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return dest


def _save_npz_atomic(path, arrays):
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp.npz")
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _download(key, dest_dir):
    entry = WEIGHTS[key]
    files = [
        _fetch(s["url"], dest_dir, s.get("sha256"), s.get("sha256_prefix"))
        for s in entry["sources"]
    ]
    target = dest_dir / entry["filename"]
    if key == "inception_fid":
        _save_npz_atomic(target, pytorch_fid_to_npz(read_pth(files[0])))
    elif key == "lpips_vgg16":
        _save_npz_atomic(target, lpips_vgg_to_npz(read_pth(files[0]), read_pth(files[1])))
    else:  # the .pth itself
        os.replace(files[0], target) if files[0] != target else None
    return target


# ----------------------------------------------------------------------------
# Converting public .pth files to our npz layouts.

_FID_BLOCKS = {
    "Conv2d_1a_3x3": "conv",
    "Conv2d_2a_3x3": "conv_1",
    "Conv2d_2b_3x3": "conv_2",
    "Conv2d_3b_1x1": "conv_3",
    "Conv2d_4a_3x3": "conv_4",
    "Mixed_5b": "mixed",
    "Mixed_5c": "mixed_1",
    "Mixed_5d": "mixed_2",
    "Mixed_6a": "mixed_3",
    "Mixed_6b": "mixed_4",
    "Mixed_6c": "mixed_5",
    "Mixed_6d": "mixed_6",
    "Mixed_6e": "mixed_7",
    "Mixed_7a": "mixed_8",
    "Mixed_7b": "mixed_9",
    "Mixed_7c": "mixed_10",
}
_FID_BRANCHES = {  # torchvision branch name -> TF graph name, per block type
    "A": {
        "branch1x1": "conv",
        "branch5x5_1": "tower.conv",
        "branch5x5_2": "tower.conv_1",
        "branch3x3dbl_1": "tower_1.conv",
        "branch3x3dbl_2": "tower_1.conv_1",
        "branch3x3dbl_3": "tower_1.conv_2",
        "branch_pool": "tower_2.conv",
    },
    "B": {
        "branch3x3": "conv",
        "branch3x3dbl_1": "tower.conv",
        "branch3x3dbl_2": "tower.conv_1",
        "branch3x3dbl_3": "tower.conv_2",
    },
    "C": {
        "branch1x1": "conv",
        "branch7x7_1": "tower.conv",
        "branch7x7_2": "tower.conv_1",
        "branch7x7_3": "tower.conv_2",
        "branch7x7dbl_1": "tower_1.conv",
        "branch7x7dbl_2": "tower_1.conv_1",
        "branch7x7dbl_3": "tower_1.conv_2",
        "branch7x7dbl_4": "tower_1.conv_3",
        "branch7x7dbl_5": "tower_1.conv_4",
        "branch_pool": "tower_2.conv",
    },
    "D": {
        "branch3x3_1": "tower.conv",
        "branch3x3_2": "tower.conv_1",
        "branch7x7x3_1": "tower_1.conv",
        "branch7x7x3_2": "tower_1.conv_1",
        "branch7x7x3_3": "tower_1.conv_2",
        "branch7x7x3_4": "tower_1.conv_3",
    },
    "E": {
        "branch1x1": "conv",
        "branch3x3_1": "tower_conv",
        "branch3x3_2a": "tower_mixed_conv",
        "branch3x3_2b": "tower_mixed_conv_1",
        "branch3x3dbl_1": "tower_1_conv",
        "branch3x3dbl_2": "tower_1_conv_1",
        "branch3x3dbl_3a": "tower_1_mixed_conv",
        "branch3x3dbl_3b": "tower_1_mixed_conv_1",
        "branch_pool": "tower_2_conv",
    },
}
_BLOCK_TYPE = {"Mixed_5": "A", "Mixed_6a": "B", "Mixed_6": "C", "Mixed_7a": "D", "Mixed_7": "E"}


def _block_type(block):
    return _BLOCK_TYPE.get(block) or _BLOCK_TYPE[block[:-1]]


def pytorch_fid_to_npz(state):
    """pytorch-fid `pt_inception-2015-12-05-*.pth` state dict -> our npz arrays (+ fc.* for IS)."""
    out = {}
    for name, value in state.items():
        parts = name.split(".")
        if parts[0] == "fc":
            out[name] = value.astype(np.float32)
            continue
        block, param = parts[0], parts[-1]
        if block.startswith("Conv2d"):
            prefix = _FID_BLOCKS[block]
        else:
            prefix = _FID_BLOCKS[block] + "." + _FID_BRANCHES[_block_type(block)][parts[1]]
        tf_param = {
            "weight": "weight",
            "bias": "beta",
            "running_mean": "mean",
            "running_var": "var",
        }.get(param)
        if parts[-2] == "bn" and param == "weight":
            if not np.allclose(value, 1.0):
                raise ValueError(f"{name}: the 2015 Inception has no batch-norm scale")
            continue
        if tf_param is None:
            continue
        out[f"{prefix}.{tf_param}"] = value.astype(np.float32)
    return out


def lpips_vgg_to_npz(vgg_state, lin_state):
    """torchvision vgg16 state dict + lpips vgg.pth -> `vgg16_lpips_v0.1_keras_layout` arrays."""
    conv_index = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    names = [
        f"block{b}_conv{c}" for b, n in zip(range(1, 6), (2, 2, 3, 3, 3)) for c in range(1, n + 1)
    ]
    out = {}
    for idx, name in zip(conv_index, names):
        out[f"{name}/kernel"] = vgg_state[f"features.{idx}.weight"].transpose(
            2, 3, 1, 0
        )  # OIHW->HWIO
        out[f"{name}/bias"] = vgg_state[f"features.{idx}.bias"]
    for layer in range(5):
        out[f"lin{layer}/kernel"] = lin_state[f"lin{layer}.model.1.weight"].transpose(2, 3, 1, 0)
    return {k: np.asarray(v, np.float32) for k, v in out.items()}


def load_inception_arrays(path):
    """Inception arrays from our npz, or from pytorch-fid's .pth (converted on the fly)."""
    path = pathlib.Path(path)
    if path.suffix == ".pth":
        return pytorch_fid_to_npz(read_pth(path))
    with np.load(path) as data:
        return {k: data[k] for k in data.files}
