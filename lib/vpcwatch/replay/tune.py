"""Thresholds from the user's own history: what each alarm's metric looked like, and the
lowest threshold that would have raised at most N alarms over it.

The thresholds in the catalog come from one quiet interface (the 0.0.0.0 flow-log
study's); a busy VPC's background differs. :func:`tune` replays recorded flow logs
through a template's metric filters and rules (the replay engine), and for each alarm
reports the
distribution of the value it is evaluated on (at every evaluation, the newest
datapoint of the range), how many times the current threshold would have fired, and
the lowest threshold that fires at most ``alarms_per_week`` times a week over the
history. Alarms that fire on a low value (``FlowLogsStopped``) are reported, not tuned.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from vpcwatch.detectors.model import Comparison
from vpcwatch.replay.alarms import (
    EVALUATION_INTERVAL,
    EXTRA_RANGE,
    AlarmState,
    Outcome,
    evaluate_contributions,
    evaluate_series,
    evaluation_times,
    window_values,
)
from vpcwatch.replay.engine import AlarmSpec
from vpcwatch.replay.insights import INSIGHT_NAMESPACE
from vpcwatch.replay.metrics import MetricAggregator

WEEK = 7 * 86400
CONTEXT_KEY = "vpcwatch:thresholds"
"""The ``cdk.json`` context key the demo app reads thresholds from (detector -> value)."""


@dataclass(frozen=True)
class Tuning:
    """One alarm's history and the threshold it suggests."""

    alarm: str
    unit: str
    period: int
    evaluations: int
    """Evaluations with a datapoint (the distribution is over these)."""
    median: float | None
    p99: float | None
    maximum: float | None
    threshold: float
    fired: int
    """Times the current threshold went to ALARM over the history."""
    suggested: float | None
    """The lowest threshold with at most the allowed alarms (``None``: not tuned)."""
    suggested_fired: int | None
    allowed: int
    note: str = ""

    @property
    def headroom(self) -> float | None:
        """Current threshold / the highest value seen (above 1: never reached); ``None``
        for an alarm on a low value."""
        if self.maximum is None or self.maximum <= 0 or self.note.startswith("fires on a low"):
            return None
        return self.threshold / self.maximum


def tune(
    aggregator: MetricAggregator,
    alarms: Sequence[AlarmSpec],
    *,
    start: int,
    end: int,
    alarms_per_week: float = 0,
) -> list[Tuning]:
    """The tuning of every alarm over the history from ``start`` to ``end``.

    Args:
        aggregator: the history, aggregated (``vpcwatch.replay.files.aggregate_files``).
        alarms: the alarms to tune.
        start: the first second of the history.
        end: the last second.
        alarms_per_week: how many alarms a week the suggested threshold may raise over
            the history (0: none at all). Default: 0.

    Raises:
        ValueError: ``alarms_per_week`` is negative or not a number.
    """
    if (
        isinstance(alarms_per_week, bool)
        or not isinstance(alarms_per_week, (int, float))
        or (not math.isfinite(alarms_per_week) or alarms_per_week < 0)
    ):
        raise ValueError(f"alarms_per_week must be a number of 0 or more; got {alarms_per_week!r}")
    allowed = int(alarms_per_week * max(end - start, 0) / WEEK)
    return [_tune_one(aggregator, alarm, start, end, allowed) for alarm in alarms]


def _tune_one(
    aggregator: MetricAggregator, alarm: AlarmSpec, start: int, end: int, allowed: int
) -> Tuning:
    settings = alarm.settings
    if alarm.metric[0] == INSIGHT_NAMESPACE:
        contributions = aggregator.contributions(alarm.metric[1])
        slots = contributions.minutes()

        def values(ends):
            return contributions.window_max(ends, settings.period)

        def run(candidate) -> Outcome:
            return evaluate_contributions(alarm.name, contributions, candidate, start, end)[0]
    else:
        series = aggregator.series(alarm.metric)
        slots = series.slots

        def values(ends):
            return window_values(series, settings, ends)

        def run(candidate) -> Outcome:
            return evaluate_series(alarm.name, series, candidate, start, end)

    step = EVALUATION_INTERVAL
    span = settings.period * (settings.evaluation_periods + EXTRA_RANGE)
    times = evaluation_times(slots, span, start - start % step + step, end - end % step + step)
    seen = np.asarray(values(times), dtype=np.float64)
    seen = seen[~np.isnan(seen)]
    median, p99, maximum = (
        (float(np.median(seen)), float(np.percentile(seen, 99)), float(seen.max()))
        if len(seen)
        else (None, None, None)
    )
    fired = _fired(run(settings))
    base = Tuning(alarm.name, alarm.unit, settings.period, len(seen), median, p99, maximum,
                  settings.threshold, fired, None, None, allowed)  # fmt: skip
    if settings.comparison in (Comparison.LESS_THAN, Comparison.LESS_THAN_OR_EQUAL):
        return replace(base, note="fires on a low value (silence): not tuned")
    if maximum is None:
        return replace(base, note="no datapoint in the history: not tuned")
    suggested, suggested_fired = _lowest(seen, settings, run, allowed)
    note = ""
    if suggested > settings.threshold and fired:
        note = f"looser than now: check the {fired} alarm(s) it would silence first"
    return replace(base, suggested=suggested, suggested_fired=suggested_fired, note=note)


def _fired(outcome: Outcome) -> int:
    return sum(1 for t in outcome.transitions if t.new is AlarmState.ALARM)


def _lowest(
    seen: np.ndarray, settings: Any, run: Callable[[Any], Outcome], allowed: int
) -> tuple[float, int]:
    """The lowest candidate threshold whose alarms stay within ``allowed``: candidates
    are just above each value seen (so the value itself no longer breaches), searched by
    bisection (fewer alarms as the threshold rises)."""
    strict = settings.comparison is Comparison.GREATER_THAN
    candidates = np.unique(seen)
    candidates = candidates if strict else np.floor(candidates) + 1
    candidates = np.unique(np.maximum(candidates, 1))

    def alarms(index: int) -> int:
        return _fired(run(replace(settings, threshold=float(candidates[index]))))

    low, high = 0, len(candidates) - 1  # the highest candidate never breaches
    found = alarms(high)
    while low < high:
        middle = (low + high) // 2
        count = alarms(middle)
        if count <= allowed:
            high, found = middle, count
        else:
            low = middle + 1
    return float(candidates[high]), found


def as_rows(tunings: Sequence[Tuning]) -> list[list[str]]:
    """Table rows (with a header) for a terminal."""
    rows = [["alarm", "window", "median", "p99", "max", "threshold", "fired", "suggested",
             "would fire", "headroom", "note"]]  # fmt: skip
    for t in tunings:
        headroom = t.headroom
        rows.append([
            f"{t.alarm} ({t.unit})", f"{t.period // 60} min", _number(t.median),
            _number(t.p99), _number(t.maximum), _number(t.threshold), str(t.fired),
            _number(t.suggested), "-" if t.suggested_fired is None else str(t.suggested_fired),
            "-" if headroom is None else f"{headroom:.1f}x", t.note,
        ])  # fmt: skip
    return rows


def as_json(tunings: Sequence[Tuning]) -> list[dict[str, Any]]:
    return [
        {
            "alarm": t.alarm, "unit": t.unit, "periodSeconds": t.period,
            "evaluations": t.evaluations, "median": t.median, "p99": t.p99,
            "maximum": t.maximum, "threshold": t.threshold, "fired": t.fired,
            "suggested": t.suggested, "suggestedFired": t.suggested_fired,
            "allowedAlarms": t.allowed, "headroom": t.headroom, "note": t.note,
        }
        for t in tunings
    ]  # fmt: skip


def as_context(tunings: Sequence[Tuning]) -> dict[str, Any]:
    """The ``cdk.json`` ``context`` block of the suggested thresholds."""
    return {CONTEXT_KEY: {t.alarm: _plain(t.suggested) for t in tunings if t.suggested is not None}}


def as_python(tunings: Sequence[Tuning]) -> list[str]:
    """The same as ``with_()`` calls on the detectors of the catalog."""
    return [
        f"{t.alarm}: detector.with_(threshold={_plain(t.suggested)!r})"
        for t in tunings
        if t.suggested is not None
    ]


def _plain(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else value


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100_000:
        return f"{value:.3g}"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
