"""Metric filters turned into datapoints, as CloudWatch Logs publishes them.

Per event: a match publishes the metric value (``1`` or the number of a field such as
``$bytes``); a non-match publishes the default value, if the filter has one. Values
are grouped into periods by the event's timestamp (for flow logs, the record's
``start``); a period without any ingested event has no datapoint at all. The
period's datapoint is the alarm's statistic over the published values.
"""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vpcwatch.detectors.model import INCOMING_LOG_EVENTS as INCOMING_LOG_EVENTS
from vpcwatch.filterpattern import compile_pattern
from vpcwatch.filterpattern.matcher import json_number
from vpcwatch.filterpattern.syntax import parse_number

KEPT_RECORDS = 3
"""Matching records kept per metric and minute, and per ALARM transition, for the
timeline's top records (on every path)."""


class Datapoints(Mapping[int, float]):
    """``{period start: value}`` held as two arrays, ``starts`` (sorted) and
    ``value_array`` (``values`` is the mapping's method): read-only, and small (a replay
    of months has hundreds of thousands of datapoints per alarm; a dict costs about 50
    bytes each)."""

    __slots__ = ("starts", "value_array")

    def __init__(self, starts: Any, values: Any) -> None:
        self.starts = np.asarray(starts, dtype=np.int64)
        self.value_array = np.asarray(values, dtype=np.float64)

    def __getitem__(self, start: int) -> float:
        index = int(np.searchsorted(self.starts, start))
        if index < len(self.starts) and self.starts[index] == start:
            return float(self.value_array[index])
        raise KeyError(start)

    def __iter__(self):
        return iter(self.starts.tolist())

    def __len__(self) -> int:
        return len(self.starts)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Datapoints):
            same_values = np.array_equal(self.value_array, other.value_array, equal_nan=True)
            return bool(np.array_equal(self.starts, other.starts) and same_values)
        return Mapping.__eq__(self, other)

    __hash__ = None  # type: ignore[assignment]  # a mapping is not hashable

    def __repr__(self) -> str:
        return f"Datapoints({len(self)} periods)"


@dataclass(frozen=True)
class MetricSpec:
    """One metric published from the log events.

    Args:
        namespace: the metric namespace (``AWS/Logs`` for :data:`INCOMING_LOG_EVENTS`).
        name: the metric name.
        pattern: the filter pattern; ``None`` for the log group's ``IncomingLogEvents``.
        value: ``"1"``, a number, or ``"$field"``.
        default_value: published for non-matching events; ``None`` for nothing.
    """

    namespace: str
    name: str
    pattern: str | None
    value: str = "1"
    default_value: float | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)


@dataclass
class Accumulator:
    """Sum, count, minimum and maximum of the values published in one period: enough for
    every statistic an alarm can ask for, and mergeable across periods."""

    total: float = 0.0
    count: int = 0
    minimum: float = float("inf")
    maximum: float = float("-inf")

    def add(self, value: float) -> None:
        self.total += value
        self.count += 1
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)

    def merge(self, other: Accumulator) -> None:
        self.total += other.total
        self.count += other.count
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)

    def statistic(self, name: str) -> float:
        return {
            "Sum": self.total,
            "SampleCount": float(self.count),
            "Average": self.total / self.count,
            "Minimum": self.minimum,
            "Maximum": self.maximum,
        }[name]


@dataclass(frozen=True)
class MinuteSeries:
    """One metric's per-minute statistics as arrays: minute starts (Unix seconds,
    ascending, distinct) and, for each, the total, count, minimum and maximum of the
    values published in it. What the vectorised alarm evaluation slides over."""

    slots: np.ndarray
    total: np.ndarray
    count: np.ndarray
    minimum: np.ndarray
    maximum: np.ndarray

    @classmethod
    def empty(cls) -> MinuteSeries:
        return cls.of([], [], [], [], [])

    @classmethod
    def of(cls, slots, total, count, minimum, maximum) -> MinuteSeries:
        """From parallel sequences in any order, with repeated minutes merged."""
        slots = np.asarray(slots, dtype=np.int64)
        total, count, minimum, maximum = (
            np.asarray(a, dtype=np.float64) for a in (total, count, minimum, maximum)
        )
        if not np.all(slots[1:] >= slots[:-1]):  # else in order already: no copy
            order = np.argsort(slots, kind="stable")
            slots = slots[order]
            total, count, minimum, maximum = (a[order] for a in (total, count, minimum, maximum))
        if len(slots) and (slots[1:] == slots[:-1]).any():
            starts = np.flatnonzero(np.r_[True, slots[1:] != slots[:-1]])
            slots = slots[starts]
            total, count = np.add.reduceat(total, starts), np.add.reduceat(count, starts)
            minimum = np.minimum.reduceat(minimum, starts)
            maximum = np.maximum.reduceat(maximum, starts)
        return cls(slots, total, count, minimum, maximum)

    @classmethod
    def concat(cls, parts: Sequence[MinuteSeries]) -> MinuteSeries:
        if len(parts) == 1:
            return parts[0]
        if not parts:
            return cls.empty()
        columns = ("slots", "total", "count", "minimum", "maximum")
        return cls.of(*(np.concatenate([getattr(p, c) for p in parts]) for c in columns))

    def __len__(self) -> int:
        return len(self.slots)

    def datapoints(self, statistic: str, period: int) -> Datapoints:
        """``{period start: statistic}``, the minutes regrouped to ``period`` seconds."""
        if not len(self):
            return Datapoints([], [])
        regrouped = MinuteSeries.of(self.slots - self.slots % period, self.total, self.count,
                                    self.minimum, self.maximum)  # fmt: skip
        values = MinuteSeries.statistic(statistic, regrouped.total, regrouped.count,
                                        regrouped.minimum, regrouped.maximum)  # fmt: skip
        return Datapoints(regrouped.slots, values)

    def accumulators(self) -> dict[int, Accumulator]:
        """``{minute start: accumulator}``: the per-minute loop's input."""
        return {
            int(slot): Accumulator(float(total), int(count), float(low), float(high))
            for slot, total, count, low, high in zip(
                self.slots, self.total, self.count, self.minimum, self.maximum, strict=True
            )
        }

    def integral(self) -> bool:
        """True when every total is an integer and their sum stays below 2**53: then sums
        over windows are exact in any order (flow-log counters always are)."""
        totals = self.total
        return bool(
            np.all(np.isfinite(totals))
            and np.all(totals == np.trunc(totals))
            and np.abs(totals).sum() < 2.0**53
        )

    @staticmethod
    def statistic(name: str, total, count, minimum, maximum):
        """The named statistic from (arrays of) merged statistics, as
        :meth:`Accumulator.statistic` computes it."""
        if name == "Sum":
            return total
        if name == "SampleCount":
            return count
        if name == "Average":
            with np.errstate(invalid="ignore", divide="ignore"):
                return total / count
        return {"Minimum": minimum, "Maximum": maximum}[name]


class _Later:
    """Every rule's contributions from a computation still running, asked for once (by
    whichever thread asks first; the others wait for it)."""

    def __init__(self, parts: Callable[[], dict[str, tuple]]) -> None:
        import threading

        self._parts: Callable[[], dict[str, tuple]] | None = parts
        self._result: dict[str, tuple] = {}
        self._lock = threading.Lock()

    def result(self) -> dict[str, tuple]:
        with self._lock:
            if self._parts is not None:
                self._result, self._parts = self._parts(), None
        return self._result


class MetricAggregator:
    """Feeds events to metric filters and keeps per-period statistics (memory: one
    accumulator per metric and period, whatever the number of events)."""

    def __init__(
        self, metrics: Iterable[MetricSpec], period: int = 60, insights: Iterable[Any] = ()
    ) -> None:
        self.metrics = tuple(metrics)
        self.insights = tuple(insights)  # vpcwatch.replay.insights.InsightSpec
        self.period = period
        self._cells: dict[str, dict[tuple[int, tuple[str, ...]], float]] = {
            rule.name: defaultdict(float) for rule in self.insights
        }
        self._contribution_parts: dict[str, list[tuple | _Later]] = {
            rule.name: [] for rule in self.insights
        }
        self._merging = {rule.name: threading.Lock() for rule in self.insights}
        """One per rule: its parts are merged and replaced by one alarm at a time (two
        alarms on one rule may run in two threads)."""
        self._matchers = [
            (spec, None if spec.pattern is None else compile_pattern(spec.pattern).match)
            for spec in self.metrics
        ]
        self._values: dict[tuple[str, str], dict[int, Accumulator]] = {
            spec.key: defaultdict(Accumulator) for spec in self.metrics
        }
        self.top_records: dict[tuple[str, str], dict[int, list[tuple[int, str]]]] = {
            spec.key: defaultdict(list) for spec in self.metrics
        }
        """Per metric and minute, the first :data:`KEPT_RECORDS` matching records by
        (start, message), as (start, message): the order the DuckDB path's lookup
        chooses them in, whatever order the files hold them in."""
        self._columns: dict[tuple[str, str], list[MinuteSeries]] = {
            spec.key: [] for spec in self.metrics
        }
        self.events = 0
        self.first: int | None = None  # earliest and latest event timestamps seen
        self.last: int | None = None

    def _saw(self, count: int, earliest: int, latest: int) -> None:
        self.events += count
        self.first = earliest if self.first is None else min(self.first, earliest)
        self.last = latest if self.last is None else max(self.last, latest)

    def add(self, timestamp: int, message: str, keep: int = KEPT_RECORDS) -> None:
        """One log event; ``keep`` matching messages per metric and period are kept as the
        period's top records (see :attr:`top_records`)."""
        self._saw(1, timestamp, timestamp)
        slot = timestamp - timestamp % self.period
        if self.insights:
            fields = message.split()
            for rule in self.insights:
                found = rule.contribution(fields)
                if found is not None:
                    self._cells[rule.name][(slot, found[0])] += found[1]
        for spec, match in self._matchers:
            if match is None:
                self._values[spec.key][slot].add(1.0)
                continue
            extracted = match(message)
            if extracted is None:
                if spec.default_value is not None:
                    self._values[spec.key][slot].add(float(spec.default_value))
                continue
            value = metric_value(spec.value, extracted, message)
            if value is None:
                continue
            self._values[spec.key][slot].add(value)
            kept = self.top_records[spec.key][slot]
            if len(kept) < keep:
                bisect.insort(kept, (timestamp, message))
            elif (timestamp, message) < kept[-1]:
                kept.pop()
                bisect.insort(kept, (timestamp, message))

    @property
    def streamed(self) -> bool:
        """Whether any event came through :meth:`add` (the reference path), not only
        through the merges of statistics computed elsewhere."""
        return any(self._values.values())

    def merge_events(self, count: int, earliest: int, latest: int) -> None:
        """Count events aggregated elsewhere (the DuckDB path), with their time span."""
        self._saw(count, earliest, latest)

    def merge(
        self, key: tuple[str, str], slot: int, total: float, count: int, low: float, high: float
    ) -> None:
        """Add statistics computed elsewhere for one metric and period."""
        self._values[key][slot].merge(Accumulator(total, count, low, high))

    def merge_series(self, key: tuple[str, str], series: MinuteSeries) -> None:
        """Add the per-minute statistics of a whole file computed elsewhere (the DuckDB
        path), kept as arrays."""
        if len(series):
            self._columns[key].append(series)

    def merge_contributions(self, rule: str, contributors, slots, values, ids=None) -> None:
        """Add a rule's (contributor, minute, value) rows computed elsewhere (DuckDB);
        with ``ids``, ``contributors`` lists each contributor once and ``ids`` picks one
        per row."""
        if len(slots):
            part = (
                (contributors, slots, values) if ids is None else (contributors, slots, values, ids)
            )
            self._contribution_parts[rule].append(part)

    def merge_contributions_later(self, parts: Callable[[], dict[str, tuple]]) -> None:
        """Add every rule's contributions computed elsewhere that are not ready yet (a
        grouping still running beside the alarms): ``parts()`` gives, per rule, the
        arguments of :meth:`merge_contributions`. It is called once, when a rule's
        contributions are first read, and they keep their place among the parts."""
        later = _Later(parts)
        for rule in self._contribution_parts:
            self._contribution_parts[rule].append(later)

    def contributions(self, rule: str):
        """One rule's contributions from every path
        (:class:`vpcwatch.replay.insights.Contributions`)."""
        with self._merging[rule]:
            return self._merged_contributions(rule)

    def _merged_contributions(self, rule: str):
        from vpcwatch.replay.insights import Contributions

        cells = self._cells[rule]
        parts = []
        for part in self._contribution_parts[rule]:
            if isinstance(part, _Later):
                found = part.result().get(rule)
                if found is None or not len(found[1]):
                    continue
                part = found
            parts.append(part)
        if cells:
            keys = list(cells)
            parts.append(([k[1] for k in keys], [k[0] for k in keys], [cells[k] for k in keys]))
        merged = Contributions.of(parts)
        # Kept as the rule's only part (its own arrays, not a copy): the parts it was
        # merged from are let go before the top-records lookup and the other alarms,
        # which run beside (10M records in 24,661 Parquet files: 2.2M rows from three
        # scans held 54 MB more).
        self._contribution_parts[rule] = (
            [(merged.names, merged.slots, merged.values, merged.ids)] if len(merged.slots) else []
        )
        cells.clear()
        return merged

    def series(self, key: tuple[str, str]) -> MinuteSeries:
        """One metric's per-minute statistics, from every path, as arrays."""
        values = self._values[key]
        parts = list(self._columns[key])
        if values:
            slots = list(values)
            accumulators = [values[slot] for slot in slots]
            parts.append(MinuteSeries.of(slots, *(
                [getattr(a, name) for a in accumulators]
                for name in ("total", "count", "minimum", "maximum")
            )))  # fmt: skip
        return MinuteSeries.concat(parts)

    def minutes(self, key: tuple[str, str]) -> dict[int, Accumulator]:
        """``{minute start: accumulator}`` for one metric (what alarms slide over)."""
        return self.series(key).accumulators()

    def datapoints(self, key: tuple[str, str], statistic: str, period: int) -> dict[int, float]:
        """``{period start: statistic}`` for one metric, regrouped to ``period`` seconds."""
        if period % self.period:
            raise ValueError(f"period {period} is not a multiple of {self.period}")
        return self.series(key).datapoints(statistic, period)


def metric_value(value: str, extracted: Mapping[str, str], message: str = "") -> float | None:
    """The published value: a constant, the number in a referenced field (``$bytes``) or
    at a JSON selector of the event (``$.latency``); an event with no number there
    publishes nothing."""
    if value.startswith("$."):
        return json_number(message, value)
    if value.startswith("$"):
        number = parse_number(extracted.get(value, ""))
        return None if number is None else float(number)
    return float(value)
