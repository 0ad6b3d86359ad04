"""The alarm state machine: datapoints in, state transitions out.

At the end of every period the alarm looks at its last ``evaluation_periods``
periods and goes to ALARM when at least ``datapoints_to_alarm`` of them breach,
else to OK. Missing datapoints follow ``treat_missing_data`` (see
``docs/alarm-simulation.md`` for the rules and their simplifications). This is
the one engine behind the detector scenario tests and ``vpcwatch replay``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from vpcwatch.detectors.model import AlarmSettings, MissingData


class AlarmState(enum.Enum):
    OK = "OK"
    ALARM = "ALARM"
    INSUFFICIENT_DATA = "INSUFFICIENT_DATA"


@dataclass(frozen=True)
class Transition:
    """A change of state at ``time`` (the end of the evaluated period, Unix seconds)."""

    time: int
    alarm: str
    old: AlarmState
    new: AlarmState
    value: float | None


@dataclass(frozen=True)
class Evaluation:
    """The state after evaluating the period that ends at ``time``."""

    time: int
    state: AlarmState
    value: float | None


def evaluate(
    name: str, datapoints: Mapping[int, float], settings: AlarmSettings, start: int, end: int
) -> tuple[list[Evaluation], list[Transition]]:
    """Run the alarm over the periods from ``start`` to ``end`` (Unix seconds).

    Args:
        name: the alarm's name, for the transitions.
        datapoints: ``{period start: value}`` at the alarm's period.
        settings: the alarm's settings.
        start: the first period evaluated (rounded down to a period boundary).
        end: evaluation stops after the period containing ``end``.

    Returns:
        One evaluation per period, and the transitions (the first evaluation moves the
        alarm out of INSUFFICIENT_DATA, as a new alarm does).
    """
    period = settings.period
    first = start - start % period
    state, evaluations, transitions = AlarmState.INSUFFICIENT_DATA, [], []
    for slot in range(first, end - end % period + 1, period):
        window = [datapoints.get(slot - i * period) for i in range(settings.evaluation_periods)]
        new = _decide(window, settings, state)
        value = window[0]
        evaluations.append(Evaluation(slot + period, new, value))
        if new is not state:
            transitions.append(Transition(slot + period, name, state, new, value))
            state = new
    return evaluations, transitions


def _decide(window: list[float | None], settings: AlarmSettings, state: AlarmState) -> AlarmState:
    present = [v for v in window if v is not None]
    missing = len(window) - len(present)
    treat = settings.treat_missing_data
    if not present:
        return {
            MissingData.NOT_BREACHING: AlarmState.OK,
            MissingData.BREACHING: AlarmState.ALARM,
            MissingData.IGNORE: state,
            MissingData.MISSING: AlarmState.INSUFFICIENT_DATA,
        }[treat]
    breaching = sum(settings.comparison.breaches(v, settings.threshold) for v in present)
    if treat is MissingData.BREACHING:
        breaching += missing
    return AlarmState.ALARM if breaching >= settings.datapoints_to_alarm else AlarmState.OK
