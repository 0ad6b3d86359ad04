"""Metrics of a constant value: each minute's statistics from two counts.

A metric that publishes a fixed value on each match (and a fixed default on each other
delivered record, or nothing), or the log group's incoming events (1 per delivered
record), has in each minute a total, count, minimum and maximum that follow from how
many records it matched and how many were delivered. Both scan engines count those
(one aggregate per metric, not four, and in DuckDB a count whose regexes run only on
the records the cheaper conditions let through), and :func:`add_statistics` gives the
statistics. Exact: the values are small integers (:func:`exact`), whose sums float64
holds exactly in any order, so the statistics are those of summing every record's
value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vpcwatch.replay.template import ReplayPlan


@dataclass(frozen=True)
class ConstantMetric:
    """A metric whose statistics follow from counts: its ``value``, its ``default``
    (``None``: nothing published on other records), and whether it is counted by its
    matches (``matched``, column ``matches<index>``) or is every delivered record."""

    value: float
    default: float | None
    matched: bool


def constant_metrics(plan: ReplayPlan) -> dict[int, ConstantMetric]:
    """The plan's metrics (by index) whose statistics follow from counts."""
    found = {}
    for index, spec in enumerate(plan.metrics):
        if spec.pattern is None:  # the log group's incoming events: 1 per record
            found[index] = ConstantMetric(1.0, None, matched=False)
        elif exact(spec.value) and (spec.default_value is None or exact(spec.default_value)):
            default = None if spec.default_value is None else float(spec.default_value)
            found[index] = ConstantMetric(float(spec.value), default, matched=True)
    return found


def exact(value: str | float) -> bool:
    """Whether a metric value (or default) is an integer small enough that any minute's
    total of it (up to 2**32 records) is exact in float64, in any order."""
    if str(value).startswith("$"):  # a field's number: it varies
        return False
    number = float(value)
    return number.is_integer() and abs(number) <= 2**20


def add_statistics(columns: dict, constants: dict[int, ConstantMetric]) -> None:
    """Give ``columns`` (a per-minute table's arrays, masked where NULL, with ``events``
    and each ``matches<index>``) each constant metric's ``t``, ``n``, ``lo`` and ``hi``
    in place of its matches: the total and count of the values published, and the
    lowest and highest of them (masked in a minute without any)."""
    events = np.ma.filled(columns["events"], 0).astype(np.float64)
    for index, metric in constants.items():
        matches = events
        if metric.matched:
            matches = np.ma.filled(columns.pop(f"matches{index}"), 0).astype(np.float64)
        present = {metric.value: matches > 0}  # each value some record published, and when
        total, count = metric.value * matches, matches
        if metric.matched and metric.default is not None:
            others = events - matches
            total = total + metric.default * others
            count = events
            present[metric.default] = present.get(metric.default, False) | (others > 0)
        low, high = np.full(len(events), np.nan), np.full(len(events), np.nan)
        for candidate in sorted(present, reverse=True):  # the lowest present wins
            low = np.where(present[candidate], candidate, low)
        for candidate in sorted(present):  # the highest present wins
            high = np.where(present[candidate], candidate, high)
        columns[f"t{index}"] = total
        columns[f"n{index}"] = count
        columns[f"lo{index}"] = np.ma.masked_invalid(low)
        columns[f"hi{index}"] = np.ma.masked_invalid(high)
