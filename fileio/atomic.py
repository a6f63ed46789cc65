"""Atomic file writing: write under a temporary name beside the target, then rename onto it.

A crash, an error or Ctrl-C leaves the old file (or nothing), never a half-written one. Every writer
of user-visible files (snapshots, images, caches, converted weights, configs) goes through here.
"""

import contextlib
import os
import pathlib
import shutil
import tempfile


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def replacing(path, directory=False):
    """Yield a temporary path beside `path`; when the block succeeds it is renamed onto `path`.

    The temporary name keeps `path`'s suffix (writers such as Pillow, np.savez and Keras choose the
    format from it). directory=True yields a fresh folder instead of a file; an existing folder
    at `path` must be empty and is replaced. On any exception the temporary is removed.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix, suffix = f".{path.name}.", f".tmp{path.suffix}"
    if directory:
        tmp = pathlib.Path(tempfile.mkdtemp(dir=path.parent, prefix=prefix, suffix=".tmp"))
    else:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=suffix)
        os.close(fd)
        tmp = pathlib.Path(name)
    try:
        yield tmp
        # mkstemp/mkdtemp make 0600/0700: the result is an ordinary file under the user's umask
        os.chmod(tmp, (0o777 if directory else 0o666) & ~_umask())
        if directory and path.is_dir():
            path.rmdir()
        os.replace(tmp, path)
    finally:
        if directory:
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def write_text(path, text):
    with replacing(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(path, data):
    with replacing(path) as tmp:
        tmp.write_bytes(data)


def save_npz(path, arrays):
    """np.savez(path, **arrays), atomically (`path` should end in .npz)."""
    import numpy as np

    with replacing(path) as tmp:
        np.savez(tmp, **arrays)
