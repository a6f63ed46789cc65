"""Scripts' stderr: TensorFlow's start-up banner filtered from the first import, the rest kept."""

import os
import pathlib
import subprocess
import sys
import textwrap

REPO = pathlib.Path(__file__).resolve().parents[1]


def _stderr(code, **env):
    env = dict({k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}, **env)
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stderr


def test_tensorflow_import_then_error_is_one_line():
    code = """
        import sys
        from apps.quiet_start import quiet_tensorflow
        quiet_tensorflow("2")
        import tensorflow as tf
        tf.constant(1.0).numpy()
        print("error: the one line", file=sys.stderr)
    """
    assert _stderr(code) == "error: the one line\n"


def test_banner_lines_dropped_other_lines_replayed_in_order():
    code = """
        import os, sys
        from apps import quiet_start
        with quiet_start._without_banner():
            os.write(2, b"I0000 port.cc:153] oneDNN custom operations are on. You may see\\n")
            os.write(2, b"W0000 a real warning\\n")
            print("python warning", file=sys.stderr)
            os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are "
                        b"written to STDERR\\n")
        print("after", file=sys.stderr)
    """
    assert _stderr(code) == "W0000 a real warning\npython warning\nafter\n"


def test_level_zero_shows_everything():
    code = """
        import builtins
        from apps.quiet_start import quiet_tensorflow
        hook = builtins.__import__
        quiet_tensorflow("2")
        assert builtins.__import__ is hook
    """
    assert _stderr(code, TF_CPP_MIN_LOG_LEVEL="0") == ""
