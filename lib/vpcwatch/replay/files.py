"""Replay of recorded files: read, aggregate, run the alarms (one engine)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from vpcwatch.replay.alarms import AlarmState, Transition
from vpcwatch.replay.engine import ReplayResult, evaluate_alarms
from vpcwatch.replay.fast import FileScan, aggregate_paths, file_kinds, start_reader
from vpcwatch.replay.memory import release_free_memory
from vpcwatch.replay.metrics import KEPT_RECORDS, MetricAggregator, MetricSpec
from vpcwatch.replay.progress import Progress
from vpcwatch.replay.readers import InputStats, ReplayInputError, read_events
from vpcwatch.replay.template import ReplayPlan


def replay_files(
    plan: ReplayPlan,
    paths: Iterable[str | Path],
    *,
    start: int | None = None,
    end: int | None = None,
    progress: bool = False,
    fast: bool = True,
    strict: bool = False,
) -> ReplayResult:
    """Stream every file through the plan's metric filters, then run its alarms.

    Memory stays bounded: events are not kept, only one accumulator per metric and
    period (and three sample records per period for the timeline).

    Args:
        plan: what the template asks to replay.
        paths: recorded flow-log files, or folders of them (:func:`files_of`).
        start: ignore events before this (Unix seconds). Default: keep all.
        end: ignore events after this. Default: keep all.
        progress: draw a progress bar on stderr for inputs that take a while.
        fast: aggregate plain files with DuckDB when it is installed (the result is the
            reference path's; tests compare both).
        strict: refuse bytes that are not UTF-8 and lines that are not records of the
            format (else they are counted in the result and skipped).

    Raises:
        ReplayInputError: a file cannot be read or does not fit the format; with
            ``strict``, any unreadable line or byte.
    """
    aggregator, stats, scans = aggregate_files(
        plan, paths, start=start, end=end, progress=progress, fast=fast, strict=strict
    )
    looked_up: list[tuple[dict, dict]] = []

    def look_up(transitions: list[Transition]) -> None:
        release_free_memory()  # what the metric alarms freed, before the lookup's peak
        looked_up.append(_top_records(transitions, plan, scans, aggregator))
        release_free_memory()  # ... and the lookup's, before the rules' alarms

    result = evaluate_alarms(aggregator, plan.alarms, start=start, end=end,
                             on_metric_alarms=look_up if scans else None)  # fmt: skip
    result.undelivered = stats.undelivered
    result.input = stats
    for contributors, not_looked_up in looked_up:
        result.contributors.update(contributors)
        result.records_not_looked_up.update(not_looked_up)
    return result


def aggregate_files(
    plan: ReplayPlan,
    paths: Iterable[str | Path],
    *,
    start: int | None = None,
    end: int | None = None,
    progress: bool = False,
    fast: bool = True,
    strict: bool = False,
) -> tuple[MetricAggregator, InputStats, list[FileScan]]:
    """The first half of :func:`replay_files` (same arguments): every file through the
    plan's metric filters and rules, without running the alarms."""
    stats = InputStats()
    paths = files_of(paths, stats)
    bar = Progress(sum(p.stat().st_size for p in paths)) if progress else None
    aggregator = MetricAggregator(plan.metrics, insights=plan.insights)
    scans: list[FileScan] = []
    done = 0  # bytes of the files already read
    groups = _groups(paths, plan) if fast and not strict else [([p], [None]) for p in paths]
    for group, kinds in groups:
        size = sum(p.stat().st_size for p in group)
        report = None
        if bar is not None:

            def report(share: float, done: int = done, size: int = size) -> None:
                bar.update(done + int(share * size), stats.events)

        if len(group) > 1:  # many small files of one kind: one scan
            scan = aggregate_paths(group, plan, aggregator, stats, start, end, report, kinds[0])
            if scan is not None:
                scans.append(scan)
                done += size
                continue
        for path, kind in zip(group, kinds, strict=True):
            scan = (
                None
                if kind is None
                else aggregate_paths([path], plan, aggregator, stats, start, end, report, kind)
            )
            if scan is not None:
                scans.append(scan)
                continue
            for timestamp, line in read_events([path], plan.log_format, stats, strict=strict):
                if (start is not None and timestamp < start) or (
                    end is not None and timestamp > end
                ):
                    continue
                if plan.filters_actions and not plan.delivers(line):
                    stats.undelivered += 1
                    continue
                aggregator.add(timestamp, line)
                if bar is not None and stats.events % 4096 == 0:
                    bar.update(stats.bytes_read, stats.events)
        done += size
    if bar is not None:
        bar.close()
    if strict and stats.malformed:
        raise ReplayInputError(
            f"{stats.malformed:,} lines are not records of the stack's format (first: "
            f"{', '.join(stats.malformed_at)}); --strict refuses them"
        )
    return aggregator, stats, scans


def files_of(paths: Iterable[str | Path], stats: InputStats | None = None) -> list[Path]:
    """The files to replay, in order: each path that is a file, and for a folder (a copy
    of an S3 archive, ``aws s3 sync``), every file under it, by path (an archive's keys
    run by account, region, then time), except those whose name or folder starts with
    ``.``, which ``stats`` counts (:meth:`InputStats.not_read`: the report says so). 90
    days of S3 delivery are over 21,000 files, more names than a command line holds.

    Raises:
        ReplayInputError: a path is neither a file nor a folder, a folder holds no file,
            or something under it that is read is not a file (a dangling link).
    """
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            inside, hidden = [], []
            for folder, folders, names in os.walk(path):  # not into links to folders
                hidden += [Path(folder) / name for name in folders + names if name[:1] == "."]
                folders[:] = [name for name in folders if name[:1] != "."]
                inside += [Path(folder) / name for name in names if name[:1] != "."]
            for skipped in sorted(hidden) if stats is not None else ():
                stats.not_read(skipped)
            for file in inside:
                if not file.is_file():  # a dangling link, a pipe: not skipped unsaid
                    raise ReplayInputError(f"{file}: not a file (in the folder {path})")
            inside.sort(key=lambda file: file.relative_to(path).parts)
            if not inside:
                raise ReplayInputError(f"{path}: a folder without a file to replay")
            found += inside
        elif path.is_file():
            found.append(path)
        else:
            raise ReplayInputError(f"{path}: no such file")
    return found


GROUP_BYTES = 256 * 1024**2
"""Files scanned together add up to at most this much (a group is one query's input)."""


def _groups(paths: list[Path], plan: ReplayPlan) -> list[tuple[list[Path], list[tuple | None]]]:
    """Consecutive files of one kind (:func:`~.fast.file_kinds`, found once per file), in groups
    of at most :data:`GROUP_BYTES`, each with its files' kinds; a file of no kind, or a
    big one, is a group of its own."""
    groups: list[tuple[list[Path], list[tuple | None]]] = []
    previous, total = None, 0
    for path, kind in zip(paths, file_kinds(paths, plan), strict=True):
        size = path.stat().st_size
        if (
            kind is not None
            and kind == previous
            and size < GROUP_BYTES
            and total + size <= GROUP_BYTES
        ):
            groups[-1][0].append(path)
            groups[-1][1].append(kind)
            total += size
        else:
            groups.append(([path], [kind]))
            previous, total = (kind if size < GROUP_BYTES else None), size
    return groups


LOOKED_UP_PER_ALARM = 1000
"""ALARM transitions of one alarm whose top records are looked up (the first ones):
beyond, one more read would cover most of a long file for records no one reads.
``ReplayResult.records_not_looked_up`` counts the rest, and the report says so."""


def _top_records(
    transitions: list[Transition],
    plan: ReplayPlan,
    scans: list[FileScan],
    aggregator: MetricAggregator | None = None,
) -> tuple[dict[tuple[str, int], list[str]], dict[str, int]]:
    """Top records of each ALARM transition of an alarm on a metric (the first
    :data:`LOOKED_UP_PER_ALARM` of each alarm), looked up in the files DuckDB or polars
    aggregated: in each transition's newest period, the minutes that hold its first
    :data:`KEPT_RECORDS` matching records (:func:`_record_minutes`). Returns them by
    (alarm, time), and per alarm how many transitions were not looked up."""
    specs = {alarm.name: alarm for alarm in plan.alarms}
    counted = {} if aggregator is None or aggregator.streamed else {
        spec.key: _matched_per_minute(aggregator, spec) for spec in plan.metrics
    }  # fmt: skip
    wanted: dict[tuple[str, str], set[int]] = {}
    looked_up: dict[str, int] = {}
    not_looked_up: dict[str, int] = {}
    chosen = []  # (transition, its alarm's metric, the minutes to look up)
    for transition in transitions:
        if transition.new is not AlarmState.ALARM:
            continue
        if looked_up.get(transition.alarm, 0) >= LOOKED_UP_PER_ALARM:
            not_looked_up[transition.alarm] = not_looked_up.get(transition.alarm, 0) + 1
            continue
        looked_up[transition.alarm] = looked_up.get(transition.alarm, 0) + 1
        alarm = specs[transition.alarm]
        minutes = range(transition.time - alarm.settings.period, transition.time, 60)
        minutes = _record_minutes(minutes, counted.get(alarm.metric))
        chosen.append((transition, alarm.metric, minutes))
        wanted.setdefault(alarm.metric, set()).update(minutes)
    found: dict = {}
    for scan in scans:
        for key, lines in scan.contributors(wanted).items():
            found.setdefault(key, []).extend(lines)
    # Lines the scans left to the reference path kept their own top records: a minute's
    # first records are the first by (start, line) of both.
    read_alone = {} if aggregator is None else aggregator.top_records
    start_of = start_reader(plan)
    contributors = {}
    for transition, metric, minutes in chosen:
        kept: list[str] = []
        for minute in minutes:
            records = list(read_alone.get(metric, {}).get(minute, ()))
            # The scans read only records, whose start is a number.
            records += [(start_of(line), line) for line in found.get((metric, minute), [])]
            kept += [line for _, line in sorted(records)][: KEPT_RECORDS - len(kept)]
        if kept:  # as the reference path: a transition without records has no entry
            contributors[(transition.alarm, transition.time)] = kept
    return contributors, not_looked_up


def _matched_per_minute(aggregator: MetricAggregator, spec: MetricSpec) -> tuple | None:
    """(minutes, counts) of the records a metric's filter matched with a value, when its
    series says so exactly: with no default value, the values published; with a fixed
    value and a default, what the total and the count give. ``None`` otherwise."""
    if spec.pattern is None:
        return None
    series = aggregator.series(spec.key)
    if spec.default_value is None:
        return series.slots, series.count
    if spec.value.startswith("$") or float(spec.value) == float(spec.default_value):
        return None
    value, default = float(spec.value), float(spec.default_value)
    matched = (series.total - default * series.count) / (value - default)
    if not np.array_equal(matched, np.round(matched)):
        return None
    return series.slots, matched


def _record_minutes(minutes: range, counted: tuple | None) -> list[int]:
    """The minutes of a period whose records are its top records: from the oldest, those
    with a matching record until they hold :data:`KEPT_RECORDS` (all of them when the
    counts are unknown). A sliding hour then costs a lookup of a minute or two, not 60."""
    if counted is None or len(minutes) == 1:
        return list(minutes)
    slots, counts = counted
    low, high = np.searchsorted(slots, [minutes.start, minutes.stop])
    chosen, total = [], 0
    for slot, count in zip(slots[low:high].tolist(), counts[low:high].tolist(), strict=True):
        if count > 0:
            chosen.append(slot)
            total += count
            if total >= KEPT_RECORDS:
                break
    return chosen
