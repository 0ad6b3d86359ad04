"""The alarm state machine, as the CloudWatch user guide documents it: datapoints in, state
transitions out.

Rules (each quoted, with its source, in ``docs/alarm-simulation.md``):

- The alarm is evaluated every minute. The datapoint of a period of P seconds ending at
  evaluation time ``t`` is the statistic over ``[t - P, t)``: a 5-minute alarm slides
  minute by minute (an event at 330 s raises a 5-minute, 1-of-1 alarm at 360 s).
- Each evaluation retrieves the *evaluation range*: the N most recent datapoints and
  :data:`EXTRA_RANGE` more from farther back (5 for N = 3, the guide's tables).
- Enough real datapoints in the range (at least N): the most recent N real ones are
  evaluated, and the treatment of missing data is not used.
- Fewer (but some): all real ones are evaluated, with missing ones filled in "as few
  times as possible" (up to N datapoints): ``breaching`` and ``notBreaching`` fill with
  breaching and non-breaching datapoints; ``ignore`` and ``missing`` fill nothing, so
  the state is ALARM when M of the real ones breach, OK when a real one does not, and
  otherwise ``ignore`` keeps the state while ``missing`` goes to ALARM when the newest
  datapoint of the range is missing (the breach came and data stopped: the guide's
  ``X - - - -`` and ``- - X - -`` rows) and to INSUFFICIENT_DATA when it is the
  breaching one (``- - - - X``).
- The whole range missing: ``missing`` INSUFFICIENT_DATA, ``ignore`` keeps the state,
  ``breaching`` ALARM, ``notBreaching`` OK.
- A new alarm starts in INSUFFICIENT_DATA; its first evaluation reads datapoints from
  before it was created (whatever the range reaches).

This is the one engine behind the detector scenario tests and ``vpcwatch replay``.
"""

from __future__ import annotations

import bisect
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from vpcwatch.detectors.model import AlarmSettings, MissingData
from vpcwatch.replay.metrics import Accumulator

EVALUATION_INTERVAL = 60
"""CloudWatch evaluates standard-resolution alarms every minute."""

EXTRA_RANGE = 2
"""Datapoints retrieved beyond the N evaluated ones: the guide's tables retrieve 5 for
N = 3; vpcwatch takes N + 2 for every N (the guide says the number depends on the
period and the resolution, and gives no other figure)."""


class AlarmState(enum.Enum):
    OK = "OK"
    ALARM = "ALARM"
    INSUFFICIENT_DATA = "INSUFFICIENT_DATA"


@dataclass(frozen=True)
class Transition:
    """A change of state at ``time`` (an evaluation, Unix seconds)."""

    time: int
    alarm: str
    old: AlarmState
    new: AlarmState
    value: float | None


@dataclass(frozen=True)
class Evaluation:
    """The state after the evaluation at ``time``, and the newest datapoint's value."""

    time: int
    state: AlarmState
    value: float | None


def _as_stats(value: Any) -> Accumulator:
    if isinstance(value, (int, float)):
        return Accumulator(float(value), 1, float(value), float(value))
    return value


class _Windows:
    """Datapoints of a sliding period over per-minute statistics, cached."""

    def __init__(self, minutes: Mapping[int, Any], settings: AlarmSettings) -> None:
        self.minutes = {slot: _as_stats(v) for slot, v in minutes.items()}
        self.slots = sorted(self.minutes)
        self.period, self.statistic = settings.period, settings.statistic
        self._cache: dict[int, float | None] = {}

    def value(self, end: int) -> float | None:
        """The datapoint of ``[end - period, end)``; ``None`` when no event fell in it."""
        if end not in self._cache:
            low = bisect.bisect_left(self.slots, end - self.period)
            high = bisect.bisect_left(self.slots, end)
            if low == high:
                self._cache[end] = None
            else:
                merged = Accumulator()
                for slot in self.slots[low:high]:
                    merged.merge(self.minutes[slot])
                self._cache[end] = merged.statistic(self.statistic)
        return self._cache[end]

    def forget_before(self, end: int) -> None:
        """Drop cached windows ending before ``end``: evaluation only moves forward."""
        if len(self._cache) > 4096:
            self._cache = {t: v for t, v in self._cache.items() if t >= end}

    def next_slot(self, after: int) -> int | None:
        """The first minute with data at or after ``after``."""
        index = bisect.bisect_left(self.slots, after)
        return self.slots[index] if index < len(self.slots) else None


def evaluate(
    name: str,
    minutes: Mapping[int, Any],
    settings: AlarmSettings,
    start: int,
    end: int,
) -> tuple[list[Evaluation], list[Transition]]:
    """Run the alarm every minute from ``start`` to ``end`` (Unix seconds).

    Args:
        name: the alarm's name, for the transitions.
        minutes: ``{minute start: statistics}``: per-minute accumulators (``total``,
            ``count``, ``minimum``, ``maximum``) or plain numbers (one datapoint each).
        settings: the alarm's settings.
        start: the first evaluation is at the end of the minute holding ``start``.
        end: the last evaluation is at the end of the minute holding ``end``.

    Returns:
        The evaluations (stretches where nothing can change are skipped) and the
        transitions (the first evaluation moves the alarm out of INSUFFICIENT_DATA, as a
        new alarm does).
    """
    evaluations: list[Evaluation] = []
    transitions = _run(name, minutes, settings, start, end, evaluations.append)
    return evaluations, transitions


@dataclass(frozen=True)
class Outcome:
    """What a long replay keeps of an alarm's evaluations: its transitions, the time of
    its last evaluation, and the highest newest datapoint it saw."""

    transitions: list[Transition]
    last: int | None
    peak: float | None


def evaluate_briefly(
    name: str, minutes: Mapping[int, Any], settings: AlarmSettings, start: int, end: int
) -> Outcome:
    """:func:`evaluate` without the list of every evaluation (a 90-day span is 129,600 of
    them per alarm): the same transitions, the last time and the peak."""
    seen = {"last": None, "peak": None}

    def keep(evaluation: Evaluation) -> None:
        seen["last"] = evaluation.time
        if evaluation.value is not None and (
            seen["peak"] is None or evaluation.value > seen["peak"]
        ):
            seen["peak"] = evaluation.value

    transitions = _run(name, minutes, settings, start, end, keep)
    return Outcome(transitions, seen["last"], seen["peak"])


def _run(
    name: str,
    minutes: Mapping[int, Any],
    settings: AlarmSettings,
    start: int,
    end: int,
    keep: Callable[[Evaluation], None],
) -> list[Transition]:
    windows = _Windows(minutes, settings)
    period, span = settings.period, settings.period * (settings.evaluation_periods + EXTRA_RANGE)
    decide_range = decider(settings)
    state = AlarmState.INSUFFICIENT_DATA
    transitions: list[Transition] = []
    step = EVALUATION_INTERVAL
    time = start - start % step + step
    last = end - end % step + step
    while time <= last:
        values = [windows.value(time - k * period) for k in range(span // period)]
        new = decide_range(values, state)
        keep(Evaluation(time, new, values[0]))
        if new is not state:
            transitions.append(Transition(time, name, state, new, values[0]))
            state = new
        windows.forget_before(time - span)
        if all(v is None for v in values):
            # Nothing in the range: the state stays as it is until data comes within reach.
            following = windows.next_slot(time)
            if following is None:
                break
            time = max(time + step, following + step)
            continue
        time += step
    return transitions


def decide(values: list[float | None], settings: AlarmSettings, state: AlarmState) -> AlarmState:
    """The state after one evaluation of the range ``values`` (newest first)."""
    return decider(settings)(values, state)


def decider(settings: AlarmSettings):
    """:func:`decide` for one alarm's settings, as a function of (values, state): the
    settings are read once, not at each of the evaluations (one a minute)."""
    needed, to_alarm = settings.evaluation_periods, settings.datapoints_to_alarm
    compare, threshold = settings.comparison.compare, settings.threshold
    treat = settings.treat_missing_data
    all_missing = {
        MissingData.NOT_BREACHING: AlarmState.OK,
        MissingData.BREACHING: AlarmState.ALARM,
        MissingData.MISSING: AlarmState.INSUFFICIENT_DATA,
    }.get(treat)
    fill_breaching = treat is MissingData.BREACHING
    judge_real = treat is MissingData.NOT_BREACHING
    ok, alarm = AlarmState.OK, AlarmState.ALARM

    def decide_range(values: list[float | None], state: AlarmState) -> AlarmState:
        breaching = [compare(v, threshold) for v in values if v is not None]
        real = len(breaching)
        if not real:
            return state if all_missing is None else all_missing  # ignore keeps the state
        if real >= needed:  # enough real datapoints: the missing ones do not matter
            return alarm if sum(breaching[:needed]) >= to_alarm else ok
        count = sum(breaching)
        if fill_breaching:
            return alarm if count + needed - real >= to_alarm else ok
        if judge_real or count >= to_alarm or count < real:
            return alarm if count >= to_alarm else ok
        if all_missing is None:  # IGNORE: only breaching real ones, fewer than M
            return state
        # MISSING, only breaching real datapoints, fewer than M of them.
        return alarm if values[0] is None else AlarmState.INSUFFICIENT_DATA

    return decide_range
