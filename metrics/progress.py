"""Progress on stderr for the long loops (metrics, generation, projection, a training tick), and
NVIDIA's duration format.

On a terminal the bar redraws one line at most 10 times a second; into a file or pipe it writes a
plain line every 10% of the total, so logs stay readable.
"""

import sys
import time


def format_time(seconds):
    """'42s', '3m 07s', '2h 05m 09s', '1d 03h 00m', as dnnlib/util.py format_time."""
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {(s // 60) % 60:02d}m {s % 60:02d}s"
    return f"{s // 86400}d {(s // 3600) % 24:02d}h {(s // 60) % 60:02d}m"


class Progress:
    """`desc [#####.....] done/total  rate unit/s  eta 12s  text`.

    update(n, text) advances by n items; clear() erases the bar (before other output); close()
    ends its line. verbose=False prints nothing.
    """

    WIDTH = 30

    def __init__(self, desc, total, verbose=True, unit="img", stream=None):
        self.desc, self.total, self.verbose, self.unit = desc, total, verbose, unit
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.done, self.start, self._last = 0, time.time(), 0.0
        self._next_line = self._step()
        self._drawn = False

    def _step(self):
        return max(1, (self.total or 0) // 10)

    def _line(self, text):
        now = time.time()
        rate = self.done / max(now - self.start, 1e-9)
        parts = [self.desc] if self.desc else []
        if self.total:
            fill = min(self.WIDTH, int(self.WIDTH * self.done / self.total))
            parts.append(f"[{'#' * fill}{'.' * (self.WIDTH - fill)}] {self.done}/{self.total}")
            eta = (self.total - self.done) / rate if rate > 0 else 0
            parts.append(f"{rate:.1f} {self.unit}/s  eta {format_time(max(eta, 0))}")
        else:
            parts.append(f"{self.done}  {rate:.1f} {self.unit}/s")
        if text:
            parts.append(text)
        return "  ".join(parts)

    def update(self, n=1, text=""):
        self.done += n
        if not self.verbose:
            return
        finished = bool(self.total) and self.done >= self.total
        if self.tty:
            now = time.time()
            if now - self._last < 0.1 and not finished:
                return
            self._last = now
            self.stream.write("\r" + self._line(text) + " ")
            self._drawn = True
        else:
            if self.done < self._next_line and not finished:
                return
            while self._next_line <= self.done:
                self._next_line += self._step()
            self.stream.write(self._line(text) + "\n")
        self.stream.flush()

    def clear(self):
        if self.verbose and self.tty and self._drawn:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self._drawn = False

    def close(self):
        if self.verbose and self.tty and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
