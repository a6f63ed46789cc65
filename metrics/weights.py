"""Where the metric networks' weight files come from: lookup, download, conversion on arrival.

Lookup order for a file (first hit wins):
  1. `weights_dir` argument (the `--weights-dir` flag of the scripts);
  2. the environment variable TF_STYLEGAN2_WEIGHTS (one folder, or several separated by os.pathsep);
  3. the cache folder `weights/` under the cache root (fileio/cache.py: $TF_STYLEGAN2_CACHE, else
     $XDG_CACHE_HOME/tf_stylegan2, else ~/.cache/tf_stylegan2).
When absent everywhere and downloads are allowed (`download=True`, or the default when
TF_STYLEGAN2_NO_DOWNLOAD is unset), the file is fetched from its public home into the cache with a
sha256 check (converted to our npz layout when the public file is a .pth). Otherwise a
MissingWeightsError names the file and where to put it. Tests never download.
"""

import hashlib
import os
import pathlib
import sys
import urllib.request

from fileio import atomic, cache
from fileio.torch_files import read_pth
from metrics import weight_conversion

ENV_DIR = "TF_STYLEGAN2_WEIGHTS"
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
    return cache.cache_root() / "weights"


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
    with atomic.replacing(dest) as tmp:
        with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
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
    return dest


def _download(key, dest_dir):
    entry = WEIGHTS[key]
    files = [
        _fetch(s["url"], dest_dir, s.get("sha256"), s.get("sha256_prefix"))
        for s in entry["sources"]
    ]
    target = dest_dir / entry["filename"]
    if key == "inception_fid":
        atomic.save_npz(target, weight_conversion.pytorch_fid_to_npz(read_pth(files[0])))
    elif key == "lpips_vgg16":
        arrays = weight_conversion.lpips_vgg_to_npz(read_pth(files[0]), read_pth(files[1]))
        atomic.save_npz(target, arrays)
    else:  # the .pth itself
        os.replace(files[0], target) if files[0] != target else None
    return target
