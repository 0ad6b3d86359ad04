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
from collections.abc import Mapping
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
    windows = _Windows(minutes, settings)
    period, span = settings.period, settings.period * (settings.evaluation_periods + EXTRA_RANGE)
    state = AlarmState.INSUFFICIENT_DATA
    evaluations: list[Evaluation] = []
    transitions: list[Transition] = []
    step = EVALUATION_INTERVAL
    time = start - start % step + step
    last = end - end % step + step
    while time <= last:
        values = [windows.value(time - k * period) for k in range(span // period)]
        new = decide(values, settings, state)
        evaluations.append(Evaluation(time, new, values[0]))
        if new is not state:
            transitions.append(Transition(time, name, state, new, values[0]))
            state = new
        if all(v is None for v in values):
            # Nothing in the range: the state stays as it is until data comes within reach.
            following = windows.next_slot(time)
            if following is None:
                break
            time = max(time + step, following + step)
            continue
        time += step
    return evaluations, transitions


def decide(values: list[float | None], settings: AlarmSettings, state: AlarmState) -> AlarmState:
    """The state after one evaluation of the range ``values`` (newest first)."""
    needed, to_alarm = settings.evaluation_periods, settings.datapoints_to_alarm
    treat = settings.treat_missing_data
    real = [v for v in values if v is not None]
    if not real:
        return {
            MissingData.NOT_BREACHING: AlarmState.OK,
            MissingData.BREACHING: AlarmState.ALARM,
            MissingData.IGNORE: state,
            MissingData.MISSING: AlarmState.INSUFFICIENT_DATA,
        }[treat]
    breaching = [settings.comparison.breaches(v, settings.threshold) for v in real]
    if len(real) >= needed:  # enough real datapoints: the missing ones do not matter
        return AlarmState.ALARM if sum(breaching[:needed]) >= to_alarm else AlarmState.OK
    filled = needed - len(real)
    if treat is MissingData.BREACHING:
        return AlarmState.ALARM if sum(breaching) + filled >= to_alarm else AlarmState.OK
    if treat is MissingData.NOT_BREACHING or sum(breaching) >= to_alarm or not all(breaching):
        return AlarmState.ALARM if sum(breaching) >= to_alarm else AlarmState.OK
    if treat is MissingData.IGNORE:
        return state
    # MISSING, only breaching real datapoints, fewer than M of them.
    return AlarmState.ALARM if values[0] is None else AlarmState.INSUFFICIENT_DATA
