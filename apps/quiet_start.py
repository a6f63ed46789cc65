"""TensorFlow's start-up banner kept off the terminal, as TF_CPP_MIN_LOG_LEVEL asks.

TensorFlow 2.21 logs its oneDNN and CPU-feature INFO lines through absl before absl's logging is
set up, so TF_CPP_MIN_LOG_LEVEL does not silence them: on CPUs where oneDNN is on by default
(AVX-512 ones), every import prints four lines, and a script's one-line error became five. Each
script calls `quiet_tensorflow` first; while TensorFlow is then first imported, file descriptor 2
goes to a temporary file, and afterwards everything captured except those start-up lines is written
back. TF_CPP_MIN_LOG_LEVEL=0 shows everything.
"""

import builtins
import contextlib
import os
import sys
import tempfile

# Substrings of the start-up lines (tensorflow/core/util/port.cc and
# tensorflow/core/platform/cpu_feature_guard.cc, plus absl's note before them).
BANNER = (
    "All log messages before absl::InitializeLog() is called are written to STDERR",
    "oneDNN custom operations are on",
    "This TensorFlow binary is optimized to use available CPU instructions",
    "To enable the following instructions",
)
_ROOTS = ("tensorflow", "keras", "tf_stylegan2")


@contextlib.contextmanager
def _without_banner():
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            lines = capture.read().decode(errors="replace").splitlines(keepends=True)
            kept = [line for line in lines if not any(b in line for b in BANNER)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def quiet_tensorflow(level="2"):
    """TF_CPP_MIN_LOG_LEVEL defaults to `level`; the banner is filtered from the first import."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", level)
    if os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0" or "tensorflow" in sys.modules:
        return
    original = builtins.__import__

    def first_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and name.partition(".")[0] in _ROOTS and builtins.__import__ is first_import:
            builtins.__import__ = original  # once: nested imports run unhooked
            with _without_banner():
                return original(name, globals, locals, fromlist, level)
        return original(name, globals, locals, fromlist, level)

    builtins.__import__ = first_import
