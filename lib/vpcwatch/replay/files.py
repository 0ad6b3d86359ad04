"""Replay of recorded files: read, aggregate, run the alarms (one engine)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from vpcwatch.replay.engine import ReplayResult, evaluate_alarms
from vpcwatch.replay.metrics import MetricAggregator
from vpcwatch.replay.progress import Progress
from vpcwatch.replay.readers import InputStats, read_events
from vpcwatch.replay.template import ReplayPlan


def replay_files(
    plan: ReplayPlan,
    paths: Iterable[str | Path],
    *,
    start: int | None = None,
    end: int | None = None,
    progress: bool = False,
) -> ReplayResult:
    """Stream every file through the plan's metric filters, then run its alarms.

    Memory stays bounded: events are not kept, only one accumulator per metric and
    period (and three sample records per period for the timeline).

    Args:
        plan: what the template asks to replay.
        paths: recorded flow-log files.
        start: ignore events before this (Unix seconds). Default: keep all.
        end: ignore events after this. Default: keep all.
        progress: draw a progress bar on stderr for inputs that take a while.
    """
    paths = [Path(p) for p in paths]
    stats = InputStats()
    bar = Progress(sum(p.stat().st_size for p in paths)) if progress else None
    aggregator = MetricAggregator(plan.metrics)
    first = last = None
    for timestamp, line in read_events(paths, plan.log_format, stats):
        if (start is not None and timestamp < start) or (end is not None and timestamp > end):
            continue
        aggregator.add(timestamp, line)
        first = timestamp if first is None else min(first, timestamp)
        last = timestamp if last is None else max(last, timestamp)
        if bar is not None and stats.events % 4096 == 0:
            bar.update(stats.bytes_read, stats.events)
    if bar is not None:
        bar.close()
    return evaluate_alarms(
        aggregator,
        plan.alarms,
        start=start if start is not None else first,
        end=end if end is not None else last,
    )
