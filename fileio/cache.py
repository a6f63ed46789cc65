"""The one cache root of the project: downloaded weights (`weights/`) and real-image feature
statistics (`metrics/`) live below it.

$TF_STYLEGAN2_CACHE, else $XDG_CACHE_HOME/tf_stylegan2, else ~/.cache/tf_stylegan2.
"""

import os
import pathlib

ENV_CACHE = "TF_STYLEGAN2_CACHE"


def cache_root():
    if os.environ.get(ENV_CACHE):
        return pathlib.Path(os.environ[ENV_CACHE]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "tf_stylegan2"
