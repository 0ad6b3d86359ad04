"""The alarm state machine against hand-computed expectations."""

from __future__ import annotations

import pytest

from vpcwatch.detectors import AlarmSettings, Comparison, MissingData
from vpcwatch.replay import AlarmState, evaluate
from vpcwatch.replay.metrics import MetricAggregator, MetricSpec

OK, ALARM, NO_DATA = AlarmState.OK, AlarmState.ALARM, AlarmState.INSUFFICIENT_DATA


def states(datapoints, minutes=8, **settings):
    """The state after each of ``minutes`` one-minute periods starting at 0."""
    evaluations, transitions = evaluate(
        "A",
        {m * 60: v for m, v in datapoints.items()},
        AlarmSettings(**settings),
        0,
        minutes * 60 - 1,
    )
    return [e.state for e in evaluations], [(t.time // 60, t.new) for t in transitions]


def test_one_of_one():
    got, transitions = states({0: 0, 1: 3, 2: 0}, minutes=3, threshold=1)
    assert got == [OK, ALARM, OK]
    assert transitions == [(1, OK), (2, ALARM), (3, OK)]


def test_m_of_n_needs_m_breaching_in_the_window():
    # 2 of 3: breaching at minutes 1 and 3 -> the window (1, 2, 3) holds two: ALARM at 3.
    data = {0: 0, 1: 5, 2: 0, 3: 5, 4: 0, 5: 0, 6: 0}
    got, _ = states(data, minutes=7, threshold=1, evaluation_periods=3, datapoints_to_alarm=2)
    assert got == [OK, OK, OK, ALARM, OK, OK, OK]  # at 4 the window (2, 3, 4) holds one


@pytest.mark.parametrize(
    ("treat", "expected"),
    [
        # minutes: 0 breach, 1 missing, 2 missing, 3 ok
        (MissingData.NOT_BREACHING, [ALARM, OK, OK, OK]),
        (MissingData.BREACHING, [ALARM, ALARM, ALARM, OK]),
        (MissingData.IGNORE, [ALARM, ALARM, ALARM, OK]),
        (MissingData.MISSING, [ALARM, NO_DATA, NO_DATA, OK]),
    ],
)
def test_missing_data_with_one_period(treat, expected):
    got, _ = states({0: 2, 3: 0}, minutes=4, treat_missing_data=treat)
    assert got == expected


def test_missing_data_inside_an_m_of_n_window():
    # 2 of 3, minutes: 0 breach, 1 missing, 2 ok. Window at minute 2 = (2, 1, 0).
    data = {0: 9, 2: 0}
    breaching, _ = states(data, minutes=3, evaluation_periods=3, datapoints_to_alarm=2,
                          treat_missing_data=MissingData.BREACHING)  # fmt: skip
    not_breaching, _ = states(data, minutes=3, evaluation_periods=3, datapoints_to_alarm=2)
    assert breaching[2] is ALARM  # 9 and the missing minute breach: 2 of 3
    assert not_breaching[2] is OK


def test_less_than_for_silence():
    got, _ = states({0: 10, 1: 0}, minutes=3, comparison=Comparison.LESS_THAN, threshold=1,
                    treat_missing_data=MissingData.BREACHING)  # fmt: skip
    assert got == [OK, ALARM, ALARM]


def test_five_minute_periods_are_aligned_to_the_epoch():
    evaluations, _ = evaluate("A", {300: 4}, AlarmSettings(period=300), 420, 1000)
    # 420 lies in [300, 600), 1000 in [900, 1200): three periods are evaluated.
    assert [(e.time, e.state) for e in evaluations] == [(600, ALARM), (900, OK), (1200, OK)]


def test_aggregation_defaults_and_field_values():
    aggregator = MetricAggregator(
        [
            MetricSpec("N", "Count", "[a = x, b]", "1", 0),
            MetricSpec("N", "Bytes", "[a = x, b]", "$b", None),
            MetricSpec("N", "NoDefault", "[a = x, b]", "1", None),
        ]
    )
    for timestamp, message in [(0, "x 10"), (10, "y 20"), (70, "y 5"), (75, "x -"), (200, "x 1")]:
        aggregator.add(timestamp, message)
    assert aggregator.datapoints(("N", "Count"), "Sum", 60) == {0: 1, 60: 1, 180: 1}
    assert aggregator.datapoints(("N", "Count"), "SampleCount", 60) == {0: 2, 60: 2, 180: 1}
    assert aggregator.datapoints(("N", "Bytes"), "Sum", 60) == {
        0: 10,
        180: 1,
    }  # '-' publishes nothing
    assert aggregator.datapoints(("N", "NoDefault"), "Sum", 60) == {0: 1, 60: 1, 180: 1}
    assert aggregator.datapoints(("N", "Count"), "Sum", 300) == {0: 3}
    assert aggregator.datapoints(("N", "Count"), "Average", 60)[0] == 0.5
