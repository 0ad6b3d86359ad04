"""Contributor Insights rules replayed: contributions per minute and contributor, and the
top contributor's value over a sliding window (``MaxContributorValue``).

A rule (``AWS::CloudWatch::InsightRule``, CLF) is read from the template as positions:
its keys, its filters and the field it sums. Each record that passes the filters adds
1 (``Count``) or the field's number (``Sum``) to its contributor (the values of the keys)
in its minute. An alarm on ``INSIGHT_RULE_METRIC(rule, "MaxContributorValue")`` with a
period of P seconds sees, at each evaluation, the largest sum of one contributor over
the window's minutes; a window where no record passed has no datapoint.

Rulings where the rule syntax page is silent (docs/alarm-simulation.md): fields are
split at blanks as the metric filters' space-delimited patterns split them; a numeric
filter (``GreaterThan`` ...) or ``ValueOf`` on a field that is not a number leaves the
record out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vpcwatch.filterpattern.syntax import parse_number

DENSE_MINUTES = 4_000_000
"""The longest span of minutes (32 MB of counts) that a table of minutes covers
(:func:`minute_offsets`); a longer one is searched or sorted."""


def minute_offsets(slots: np.ndarray) -> tuple[int, np.ndarray] | None:
    """(the first minute, each slot's minutes after it) when ``slots`` are minute starts
    over a span shorter than :data:`DENSE_MINUTES` minutes, so that a table with a row
    per minute of the span replaces a search or a sort
    (:func:`minutes_before`, :meth:`Contributions.minutes`);
    ``None`` otherwise (no slot, a slot off the minute, a longer span)."""
    if not len(slots) or (slots % 60).any():
        return None
    low = int(slots.min())
    offsets = (slots - low) // 60
    return None if offsets.max() >= DENSE_MINUTES else (low, offsets)


def minutes_before(slots: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A function giving, for each time in an array, how many of the sorted minute starts
    ``slots`` come before it (``np.searchsorted(slots, times, "left")``). Where a table
    of the span's minutes will do (:func:`minute_offsets`), it reads counts per minute
    instead of searching: over 90 days of alarms, searching was a quarter of their
    evaluation, and a rule's windows place 447,000 rows twice per pass."""
    step = 60
    dense = minute_offsets(slots)
    if dense is None:
        return lambda times: np.searchsorted(slots, times, side="left")
    origin, offsets = dense
    before = np.r_[0, np.cumsum(np.bincount(offsets))]  # before[i]: slots < origin + i * step

    def count(times: np.ndarray) -> np.ndarray:
        # A minute start is below t exactly when it is below t rounded up to a minute.
        index = -((origin - times) // step)  # ceil((times - origin) / step)
        return before[np.clip(index, 0, len(before) - 1)]

    return count


METRICS = ("MaxContributorValue", "UniqueContributors")
"""The rule metrics replay simulates."""

INSIGHT_NAMESPACE = "INSIGHT_RULE"
"""The pseudo-namespace of a rule's metric in a replay plan: (INSIGHT_NAMESPACE, rule name)."""

_EXPRESSION = re.compile(
    r"""\s*INSIGHT_RULE_METRIC\(\s*(["'])(?P<rule>[^"']+)\1\s*,\s*(["'])"""
    r"""(?P<metric>[A-Za-z]+)\3\s*\)\s*"""
)
_NUMERIC = {"GreaterThan", "LessThan", "EqualTo", "NotEqualTo"}
_STRINGS = {"In", "NotIn", "StartsWith"}


class InsightRuleError(ValueError):
    """A rule or an alarm expression that replay cannot read."""


def parse_expression(expression: str) -> tuple[str, str] | None:
    """``(rule name, metric)`` of ``INSIGHT_RULE_METRIC("rule", "Metric")``, else ``None``."""
    found = _EXPRESSION.fullmatch(expression) if isinstance(expression, str) else None
    return (found.group("rule"), found.group("metric")) if found else None


@dataclass(frozen=True)
class InsightSpec:
    """A rule as positions in the record (0-based)."""

    name: str
    keys: tuple[int, ...]
    filters: tuple[tuple[int, str, Any], ...]
    value_of: int | None
    width: int

    @property
    def key(self) -> tuple[str, str]:
        return (INSIGHT_NAMESPACE, self.name)

    @classmethod
    def from_body(cls, name: str, body: Mapping[str, Any], width: int) -> InsightSpec:
        """Read a CLF rule body (``Fields`` aliases or numbered positions).

        Raises:
            InsightRuleError: not a CLF rule, or a field it names is not a position of a
                record of ``width`` fields.
        """
        if body.get("LogFormat") != "CLF":
            raise InsightRuleError(f"rule {name}: only CLF rules are replayed")
        aliases = {str(alias): int(position) for position, alias in body.get("Fields", {}).items()}

        def position(field: Any) -> int:
            number = aliases.get(str(field))
            if number is None and str(field).isdigit():
                number = int(field)
            if number is None or not 1 <= number <= width:
                raise InsightRuleError(
                    f"rule {name}: field {field!r} is not a position of the records"
                )
            return number - 1

        contribution = body.get("Contribution", {})
        keys = tuple(position(k) for k in contribution.get("Keys", []))
        if not keys:
            raise InsightRuleError(f"rule {name}: no Keys")
        filters = []
        for item in contribution.get("Filters", []):
            operators = [op for op in item if op != "Match"]
            if len(operators) != 1 or operators[0] not in _NUMERIC | _STRINGS:
                raise InsightRuleError(f"rule {name}: filter {item!r} is not replayed")
            op = operators[0]
            value = item[op]
            value = tuple(str(v) for v in value) if op in _STRINGS else float(value)
            filters.append((position(item["Match"]), op, value))
        sums = body.get("AggregateOn") == "Sum"
        value_of = position(contribution["ValueOf"]) if sums else None
        return cls(name, keys, tuple(filters), value_of, width)

    def contribution(self, fields: Sequence[str]) -> tuple[tuple[str, ...], float] | None:
        """The record's contributor and value, or ``None`` when it does not pass."""
        if len(fields) != self.width:
            return None
        for index, op, value in self.filters:
            text = fields[index]
            if op == "In":
                ok = text in value
            elif op == "NotIn":
                ok = text not in value
            elif op == "StartsWith":
                ok = text.startswith(value)
            else:
                number = parse_number(text)
                if number is None:
                    return None
                ok = {
                    "GreaterThan": number > value,
                    "LessThan": number < value,
                    "EqualTo": number == value,
                    "NotEqualTo": number != value,
                }[op]
            if not ok:
                return None
        if self.value_of is None:
            amount = 1.0
        else:
            number = parse_number(fields[self.value_of])
            if number is None:
                return None
            amount = float(number)
        return tuple(fields[i] for i in self.keys), amount


@dataclass(frozen=True)
class Contributions:
    """One rule's contributions as arrays: contributor id, minute start, value (one row
    per contributor and minute), and each id's key values."""

    ids: np.ndarray
    slots: np.ndarray
    values: np.ndarray
    names: tuple[tuple[str, ...], ...]
    _grids: dict = field(default_factory=dict, compare=False, repr=False)
    """(period, metric) -> (first end, values) of the last :meth:`window_values` asked
    for ends a minute apart: an alarm's evaluation asks for every minute of its span,
    and its datapoints (ends a period apart, within it) are then read from those."""

    @classmethod
    def of(cls, parts: Sequence[tuple[Sequence[tuple[str, ...]], Any, Any]]) -> Contributions:
        """From ``(contributors, minute starts, values)`` parts (from any path), or
        ``(distinct contributors, minute starts, values, ids)``, merged."""
        index: dict[tuple[str, ...], int] = {}
        ids, slots, values = [], [], []
        for contributors, part_slots, part_values, *part_ids in parts:
            own = np.fromiter((index.setdefault(c, len(index)) for c in contributors),
                              dtype=np.int64, count=len(contributors))  # fmt: skip
            # A part with ids lists each contributor once; its rows point into it (as
            # they are when those are the first contributors seen: no copy).
            if part_ids:
                given = np.asarray(part_ids[0], dtype=np.int64)
                first = len(own) and own[0] == 0 and own[-1] == len(own) - 1
                ids.append(given if first and len(index) == len(own) else own[given])
            else:
                ids.append(own)
            slots.append(np.asarray(part_slots, dtype=np.int64))
            values.append(np.asarray(part_values, dtype=np.float64))
        if not ids:
            return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), ())
        ids_all, slots_all, values_all = (
            (ids[0], slots[0], values[0])
            if len(ids) == 1
            else (np.concatenate(ids), np.concatenate(slots), np.concatenate(values))
        )
        step_id, step_slot = np.diff(ids_all), np.diff(slots_all)
        if not np.all((step_id > 0) | ((step_id == 0) & (step_slot >= 0))):  # else sorted
            del ids, slots, values, step_id, step_slot  # one array at a time reordered:
            order = np.lexsort((slots_all, ids_all))  # each copy replaces its original
            ids_all = ids_all[order]
            slots_all = slots_all[order]
            values_all = values_all[order]
            del order
            step_id, step_slot = np.diff(ids_all), np.diff(slots_all)
        repeated = (step_id == 0) & (step_slot == 0)
        del step_id, step_slot
        if len(ids_all) and repeated.any():  # one row per contributor and minute
            new = np.r_[True, ~repeated]
            starts = np.flatnonzero(new)
            ids_all, slots_all = ids_all[starts], slots_all[starts]
            values_all = np.add.reduceat(values_all, starts)
        return cls(ids_all, slots_all, values_all, tuple(index))

    def minutes(self) -> np.ndarray:
        """The distinct minutes with a contribution (what evaluation times derive from),
        sorted: marked in a table of the span's minutes when that is at most
        :data:`DENSE_MINUTES` long (a tenth of ``np.unique``'s time on a day's rows)."""
        dense = minute_offsets(self.slots)
        if dense is None:
            return np.unique(self.slots)
        low, offsets = dense
        return low + 60 * np.flatnonzero(np.bincount(offsets))

    def window_values(self, ends: Any, period: int, metric: str) -> np.ndarray:
        """``metric`` (:data:`METRICS`) of the windows ``[end - period, end)``. Ends the
        last such values for ends a minute apart hold (:attr:`_grids`) are read from
        them, and the others computed from the rows in their reach only: a rule alarm's
        datapoints, after its evaluation, 0.017 s -> 0.001 s on a day."""
        ends = np.asarray(ends, dtype=np.int64)
        found = np.full(ends.shape, np.nan)
        grid = self._grids.get((period, metric))
        missing = np.ones(ends.shape, dtype=bool)
        if grid is not None:
            first, values = grid
            offsets = ends - first
            missing = (offsets < 0) | (offsets >= 60 * len(values)) | (offsets % 60 != 0)
            found[~missing] = values[offsets[~missing] // 60]
        if missing.any():
            found[missing] = self._near(ends[missing], period)._window_values(
                ends[missing], period, metric
            )
        if ends.ndim == 1 and ends.size > 1 and (np.diff(ends) == 60).all():
            self._grids[(period, metric)] = (int(ends[0]), found.copy())
        return found

    def _window_values(self, ends: np.ndarray, period: int, metric: str) -> np.ndarray:
        if metric == "UniqueContributors":
            return self.window_unique(ends, period)
        return self.window_max(ends, period)

    def _near(self, ends: np.ndarray, period: int) -> Contributions:
        """These contributions, or those of the rows some window ending at ``ends`` holds
        when they are fewer than half (in the same order)."""
        if not len(self.slots) or not ends.size:
            return self
        near = (self.slots >= ends.min() - period) & (self.slots < ends.max())
        if 2 * np.count_nonzero(near) >= len(near):
            return self
        return Contributions(self.ids[near], self.slots[near], self.values[near], self.names)

    def window_unique(self, ends: Any, period: int, chunk: int = 1 << 18) -> np.ndarray:
        """``UniqueContributors`` of the windows ``[end - period, end)``: how many
        contributors have a row in each (NaN where none). Each row covers the windows
        ending in ``(slot, slot + period]``; a contributor's covers are merged into runs,
        and the runs counted with a difference array over the windows. Rows go in blocks
        of about ``chunk`` that end at a contributor's last row (runs never cross one), so
        memory stays bounded."""
        shape = np.shape(ends)
        unique_ends, back = _distinct(ends)
        counts = np.zeros(len(unique_ends) + 1, dtype=np.int64)
        if len(self.ids) and len(unique_ends):
            before = minutes_before(unique_ends)  # the ends at or before t: before(t + 1)
            for first, last in self._blocks(chunk):
                self._count_runs(first, last, before, period, counts)
        values = np.cumsum(counts)[:-1].astype(np.float64)
        values[values == 0] = np.nan
        return values[back].reshape(shape)

    def _blocks(self, chunk: int) -> list[tuple[int, int]]:
        """Row ranges of about ``chunk`` rows, each ending where a contributor's rows do."""
        blocks, first, total = [], 0, len(self.ids)
        while first < total:
            cut = min(first + chunk, total)
            if cut < total:  # move the cut to the end of that contributor's rows
                cut = int(np.searchsorted(self.ids, self.ids[cut - 1], side="right"))
            blocks.append((first, cut))
            first = cut
        return blocks

    def _count_runs(
        self, first: int, last: int, before: Callable, period: int, counts: np.ndarray
    ) -> None:
        """Add the runs of rows ``first:last`` to ``counts`` (a difference array over the
        ends); ``before``: :func:`minutes_before` of the ends."""
        ids, slots = self.ids[first:last], self.slots[first:last]
        low, high = before(slots + 1), before(slots + period + 1)
        # Rows are by contributor, then minute: within a contributor ``high`` never
        # falls, so a row joins the run before it when it starts inside its reach.
        new_id = np.r_[True, ids[1:] != ids[:-1]]
        starts_run = new_id | (low > np.r_[0, high[:-1]])
        run = np.cumsum(starts_run) - 1
        run_low = low[starts_run]
        run_high = np.zeros(len(run_low), dtype=np.int64)
        np.maximum.at(run_high, run, high)
        np.add.at(counts, run_low, 1)
        np.add.at(counts, run_high, -1)

    def window_max(self, ends: Any, period: int, chunk: int = 1 << 18) -> np.ndarray:
        """``MaxContributorValue`` of the windows ``[end - period, end)``: for each end, the
        largest sum of one contributor's values in it (NaN where nobody contributed).

        A row adds its value to the windows ending in ``(slot, slot + period]``, a range
        of ``ends``. So one contributor's sum, window by window, is a step function that
        changes only where a row's range begins or ends: its steps come from sorting
        those bounds (with prefix sums), and each step where the contributor has rows
        raises the answer over its range (:func:`raise_ranges`). Rows go in blocks of
        about ``chunk`` that end at a contributor's last row, so memory stays bounded.
        """
        shape = np.shape(ends)
        unique_ends, back = _distinct(ends)
        best = np.full(len(unique_ends), -np.inf)
        if len(self.ids) and len(unique_ends):
            before = minutes_before(unique_ends)  # the ends at or before t: before(t + 1)
            for first, last in self._blocks(chunk):
                self._raise_by_steps(first, last, before, period, best)
        best[best == -np.inf] = np.nan
        return best[back].reshape(shape)

    def _raise_by_steps(
        self, first: int, last: int, before: Callable, period: int, best: np.ndarray
    ) -> None:
        """Raise ``best`` (one per end) to the window sums of the contributors of rows
        ``first:last``; ``before``: :func:`minutes_before` of the ends."""
        ids, slots, values = self.ids[first:last], self.slots[first:last], self.values[first:last]
        size = len(best) + 1  # a bound is a position among the ends, or past them
        low, high = before(slots + 1), before(slots + period + 1)
        # Each row opens its range at ``low`` and closes it at ``high``: events keyed by
        # (contributor, position), summed where they share one.
        keys = np.concatenate([ids * size + low, ids * size + high])
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        heads = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        keys = keys[heads]
        sums = np.cumsum(np.add.reduceat(np.concatenate([values, -values])[order], heads))
        ones = np.ones(len(ids), dtype=np.int64)
        rows = np.cumsum(np.add.reduceat(np.concatenate([ones, -ones])[order], heads))
        # Each contributor's events end with every range closed (``rows`` back to 0): a
        # step runs from one event to the next of the same contributor.
        owner, position = keys // size, keys % size
        same = np.r_[owner[1:] == owner[:-1], False]
        # The running sum starts again at each contributor (what the previous ones left
        # is 0, up to rounding).
        starts = np.flatnonzero(np.r_[True, ~same[:-1]])
        left = np.r_[0.0, sums[starts[1:] - 1]]
        sums = sums - np.repeat(left, np.diff(np.r_[starts, len(keys)]))
        step = same & (rows > 0)
        raise_ranges(best, position[step], np.r_[position[1:], 0][step], sums[step])

    def top(self, end: int, period: int) -> tuple[str, ...] | None:
        """The contributor with the largest sum in ``[end - period, end)`` (the first one
        met, on a tie), or ``None``."""
        inside = (self.slots >= end - period) & (self.slots < end)
        if not inside.any():
            return None
        sums = np.bincount(self.ids[inside], weights=self.values[inside])
        return self.names[int(np.argmax(sums))]

    def as_minutes(self) -> dict[int, dict[tuple[str, ...], float]]:
        """``{minute start: {contributor: value}}``: the per-minute loop's input."""
        minutes: dict[int, dict[tuple[str, ...], float]] = {}
        for contributor, slot, value in zip(self.ids, self.slots, self.values, strict=True):
            minutes.setdefault(int(slot), {})[self.names[contributor]] = float(value)
        return minutes


def _distinct(ends: Any) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(ends, return_inverse=True)`` (as int64), without its sort when the ends
    already rise (the alarms ask for one window per minute of a span)."""
    ends = np.asarray(ends, dtype=np.int64)
    flat = ends.ravel()
    if np.all(flat[1:] > flat[:-1]):
        return flat, np.arange(len(flat)).reshape(ends.shape)
    return np.unique(ends, return_inverse=True)


def raise_ranges(best: np.ndarray, low: np.ndarray, high: np.ndarray, values: np.ndarray):
    """``best[i] = max(best[i], value)`` for every range ``[low, high)`` (non-empty) that
    holds ``i``, in O((ranges + len(best)) log len(best)): each range is two blocks of
    ``2**k`` (k = floor(log2(length)), as a sparse table reads a range maximum), raised
    at their level, and each level's blocks are pushed down into the halves below."""
    if not len(low):
        return
    lengths = high - low
    level = np.zeros(len(lengths), dtype=np.int64)
    while (grow := (lengths >> (level + 1)) > 0).any():  # floor(log2), exactly
        level += grow
    table = np.full(len(best), -np.inf)  # the blocks of the current level, by start
    for k in range(int(level.max()), -1, -1):
        at = level == k
        if at.any():
            np.maximum.at(table, low[at], values[at])
            np.maximum.at(table, high[at] - (1 << k), values[at])
        if k:  # a block of 2**k at i is the blocks of 2**(k-1) at i and i + 2**(k-1)
            half = 1 << (k - 1)
            pushed = table.copy()
            np.maximum(pushed[half:], table[:-half], out=pushed[half:])
            table = pushed
    np.maximum(best, table, out=best)
