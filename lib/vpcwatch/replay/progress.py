"""A progress bar on stderr, shown only for inputs that take more than a few seconds."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """Call :meth:`update` often; it draws at most twice a second, after ``delay`` seconds."""

    def __init__(self, total_bytes: int, stream: TextIO = sys.stderr, delay: float = 2.0) -> None:
        self.total = max(total_bytes, 1)
        self.stream, self.delay = stream, delay
        self.began = self.drawn = time.monotonic()
        self.shown = False

    def update(self, done_bytes: int, events: int) -> None:
        now = time.monotonic()
        if now - self.began < self.delay or now - self.drawn < 0.5:
            return
        self.drawn, self.shown = now, True
        share = min(done_bytes / self.total, 1.0)
        bar = "#" * int(share * 30)
        counted = f" {events:,} events ({events / (now - self.began):,.0f}/s)" if events else ""
        self.stream.write(f"\r[{bar:<30}] {share:4.0%} of {self.total / 1e6:,.0f} MB{counted}")
        self.stream.flush()

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")
            self.stream.flush()
