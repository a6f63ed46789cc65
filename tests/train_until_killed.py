"""`python tests/train_until_killed.py NIMG <training/run.py flags>`: training/run.py that SIGKILLs
itself once cur_nimg reaches NIMG (a crash at a chosen point, for the resume tests)."""

import os
import pathlib
import signal
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from training import run  # noqa: E402


def main():
    kill_at = int(sys.argv.pop(1))

    def hook(trainer):
        if trainer.counter("cur_nimg") >= kill_at:
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    sys.argv[0] = "training/run.py"
    run.run(on_iteration=hook)


if __name__ == "__main__":
    main()
