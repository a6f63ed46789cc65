"""A one-line progress bar on stderr for the metrics' long loops."""

import sys
import time


class Progress:
    """A one-line progress bar on stderr: `desc  done/total  rate img/s  eta`."""

    def __init__(self, desc, total, verbose=True, unit="img"):
        self.desc, self.total, self.verbose, self.unit = desc, total, verbose, unit
        self.done, self.start, self._last = 0, time.time(), 0.0

    def update(self, n):
        self.done += n
        now = time.time()
        if self.verbose and (now - self._last > 1.0 or self.done >= (self.total or 0)):
            self._last = now
            rate = self.done / max(now - self.start, 1e-9)
            eta = (self.total - self.done) / rate if self.total and rate > 0 else 0
            total = f"/{self.total}" if self.total else ""
            print(
                f"\r{self.desc}  {self.done}{total}  {rate:.1f} {self.unit}/s  eta {eta:.0f}s ",
                end="",
                file=sys.stderr,
                flush=True,
            )

    def close(self):
        if self.verbose:
            print(file=sys.stderr, flush=True)
