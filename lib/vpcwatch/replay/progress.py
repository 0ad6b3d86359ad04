"""A progress bar on stderr, shown only for inputs that take more than a few seconds."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Call :meth:`update` often; it draws at most twice a second, after ``delay`` seconds."""

    def __init__(self, total_bytes: int, stream: TextIO | None = None, delay: float = 2.0) -> None:
        self.total = max(total_bytes, 1)
        self.stream = sys.stderr if stream is None else stream
        self.delay = delay
        self.began = self.drawn = time.monotonic()
        self.shown = False
        # A bar is for a person at a terminal: a redirected log gets no carriage returns.
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = bool(isatty and isatty())

    def update(self, done_bytes: int, events: int) -> None:
        now = time.monotonic()
        if not self.enabled or now - self.began < self.delay or now - self.drawn < 0.5:
            return
        self.drawn, self.shown = now, True
        share = min(done_bytes / self.total, 1.0)
        elapsed = now - self.began
        bar = "#" * int(share * 30)
        rate = f" {events / elapsed:,.0f} events/s" if events else ""
        left = f", {elapsed * (1 - share) / share:,.0f} s left" if share > 0 else ""
        self.stream.write(
            f"\r[{bar:<30}] {share:4.0%} of {self.total / 1e6:,.0f} MB{rate}{left}   "
        )
        self.stream.flush()

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()
