"""Timing helpers shared by the bench scripts (run as ``python bench/<script>.py``, so
this folder is on the import path)."""

from __future__ import annotations

import time


def timed(function, *args, **kwargs):
    """``function``'s result and its wall time in seconds."""
    began = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - began


def best_of_two(function, *args, **kwargs):
    """The faster of two runs (a 2-core machine's timings vary by 10 to 20% run to run)."""
    first, first_seconds = timed(function, *args, **kwargs)
    _, second_seconds = timed(function, *args, **kwargs)
    return first, min(first_seconds, second_seconds)
