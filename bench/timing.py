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


def best_alternating(first, second, rounds: int = 2):
    """The fastest of ``rounds`` runs of each of two calls (functions of no argument),
    run in turn (first, second, first, ...): a drift of the machine's speed over the
    runs (another process, the kernel writing a new file back) weighs on both alike.
    Returns (first's result, first's seconds, second's result, second's seconds)."""
    found = [[None, float("inf")], [None, float("inf")]]
    for _ in range(rounds):
        for slot, function in zip(found, (first, second), strict=True):
            result, seconds = timed(function)
            slot[0] = result if slot[0] is None else slot[0]
            slot[1] = min(slot[1], seconds)
    return found[0][0], found[0][1], found[1][0], found[1][1]
