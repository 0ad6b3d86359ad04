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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vpcwatch.filterpattern.syntax import parse_number

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
            order = np.lexsort((slots_all, ids_all))
            ids_all, slots_all, values_all = ids_all[order], slots_all[order], values_all[order]
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
        """The distinct minutes with a contribution (what evaluation times derive from)."""
        return np.unique(self.slots)

    def window_values(self, ends: Any, period: int, metric: str) -> np.ndarray:
        """``metric`` (:data:`METRICS`) of the windows ``[end - period, end)``."""
        if metric == "UniqueContributors":
            return self.window_unique(ends, period)
        return self.window_max(ends, period)

    def window_unique(self, ends: Any, period: int, chunk: int = 1 << 18) -> np.ndarray:
        """``UniqueContributors`` of the windows ``[end - period, end)``: how many
        contributors have a row in each (NaN where none). Each row covers the windows
        ending in ``(slot, slot + period]``; a contributor's covers are merged into runs,
        and the runs counted with a difference array over the windows. Rows go in blocks
        of about ``chunk`` that end at a contributor's last row (runs never cross one), so
        memory stays bounded."""
        shape = np.shape(ends)
        unique_ends, back = np.unique(np.asarray(ends, dtype=np.int64), return_inverse=True)
        counts = np.zeros(len(unique_ends) + 1, dtype=np.int64)
        if len(self.ids) and len(unique_ends):
            for first, last in self._blocks(chunk):
                self._count_runs(first, last, unique_ends, period, counts)
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
        self, first: int, last: int, ends: np.ndarray, period: int, counts: np.ndarray
    ) -> None:
        ids, slots = self.ids[first:last], self.slots[first:last]
        low = np.searchsorted(ends, slots, side="right")
        high = np.searchsorted(ends, slots + period, side="right")
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

        Contributors seen in one minute only (most internet noise) need no pairing: the
        largest of them in a window is a range maximum over per-minute maxima (a sparse
        table). The others' sums come from (contributor, window) pairs, built from each
        of their rows for the windows ending in ``(slot, slot + period]`` (in chunks, so
        memory stays bounded) and summed with prefix sums over their rows.
        """
        shape = np.shape(ends)
        unique_ends, back = np.unique(np.asarray(ends, dtype=np.int64), return_inverse=True)
        best = np.full(len(unique_ends), np.nan)
        if len(self.ids) and len(unique_ends):
            rows_per_id = np.bincount(self.ids)
            single = rows_per_id[self.ids] == 1
            # A contributor whose pairs would outnumber a quarter of the windows is cheaper
            # to slide over every window at once (a pair costs about four times a window
            # of the sliding pass, measured on bench/replay.py's files).
            heavy_ids = np.flatnonzero(4 * rows_per_id * min(period // 60, len(unique_ends))
                                       > len(unique_ends))  # fmt: skip
            heavy = np.isin(self.ids, heavy_ids)
            best = np.fmax(best, self._singles(single, unique_ends, period))
            best = np.fmax(best, self._pairs(~single & ~heavy, unique_ends, period, chunk))
            best = np.fmax(best, self._heavy(heavy_ids, unique_ends, period))
        return best[back].reshape(shape)

    def _heavy(self, heavy_ids: np.ndarray, ends: np.ndarray, period: int) -> np.ndarray:
        """The window sums of each contributor in ``heavy_ids`` at every end: each row adds
        its value to the windows ending in ``(slot, slot + period]``, a range of ``ends``
        (a difference array, summed once per contributor)."""
        best = np.full(len(ends), np.nan)
        if not len(heavy_ids):
            return best
        bounds = np.searchsorted(self.ids, np.r_[heavy_ids, heavy_ids + 1])
        size = len(ends) + 1
        for first, last in zip(bounds[: len(heavy_ids)], bounds[len(heavy_ids) :], strict=True):
            slots, values = self.slots[first:last], self.values[first:last]
            low = np.searchsorted(ends, slots, side="right")
            high = np.searchsorted(ends, slots + period, side="right")
            rows = np.cumsum(np.bincount(low, minlength=size) - np.bincount(high, minlength=size))
            sums = np.cumsum(np.bincount(low, values, size) - np.bincount(high, values, size))
            best = np.fmax(best, np.where(rows[:-1] > 0, sums[:-1], np.nan))
        return best

    def _singles(self, single: np.ndarray, ends: np.ndarray, period: int) -> np.ndarray:
        slots, values = self.slots[single], self.values[single]
        if not len(slots):
            return np.full(len(ends), np.nan)
        order = np.argsort(slots, kind="stable")
        slots, values = slots[order], values[order]
        starts = np.flatnonzero(np.r_[True, slots[1:] != slots[:-1]])
        minutes, largest = slots[starts], np.maximum.reduceat(values, starts)
        low = np.searchsorted(minutes, ends - period, side="left")
        high = np.searchsorted(minutes, ends, side="left")
        from vpcwatch.replay.alarms import window_extreme

        return window_extreme(largest, low, high, np.maximum)

    def _pairs(self, rows_mask: np.ndarray, ends: np.ndarray, period: int, chunk: int):
        best = np.full(len(ends), np.nan)
        ids, slots = self.ids[rows_mask], self.slots[rows_mask]
        if not len(ids):
            return best
        scale = np.int64(1) << 34  # minute starts stay below 2**34 seconds (year 2514)
        combined = ids * scale + slots  # sorted: the rows are by contributor, then minute
        prefix = np.r_[0.0, np.cumsum(self.values[rows_mask])]
        low = np.searchsorted(ends, slots, side="right")
        high = np.searchsorted(ends, slots + period, side="right")
        counts = high - low
        rows = np.flatnonzero(counts)
        pieces = max(1, -(-int(counts.sum()) // chunk))  # about ``chunk`` pairs each
        for part in np.array_split(rows, pieces):
            if not len(part):
                continue
            lengths = counts[part]
            offsets = np.repeat(low[part] - np.r_[0, np.cumsum(lengths)[:-1]], lengths)
            window = offsets + np.arange(lengths.sum())
            owner = np.repeat(ids[part], lengths)
            end_time = ends[window]
            first = np.searchsorted(combined, owner * scale + (end_time - period), "left")
            last = np.searchsorted(combined, owner * scale + end_time, "left")
            sums = prefix[last] - prefix[first]
            order = np.lexsort((-sums, window))  # per window, the largest sum first
            window, sums = window[order], sums[order]
            head = np.r_[True, window[1:] != window[:-1]]
            best[window[head]] = np.fmax(best[window[head]], sums[head])
        return best

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
