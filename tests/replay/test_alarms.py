"""The alarm state machine against the CloudWatch user guide's tables and examples.

Sources: "Configuring how CloudWatch alarms treat missing data" and "Alarm evaluation"
(CloudWatch user guide; the tables also in the archived awsdocs/amazon-cloudwatch-user-
guide, doc_source/AlarmThatSendsEmail.md). In a row, 0 is a non-breaching datapoint, X a
breaching one and - a missing one, oldest first; CloudWatch retrieves the 5 most recent
datapoints for N = 3. Where the archived page and the current one differ, the current
one wins (the ``- - X - -`` row and the sliding evaluation are the current page's).
"""

from __future__ import annotations

import pytest

from vpcwatch.detectors import AlarmSettings, Comparison, MissingData
from vpcwatch.replay import AlarmState, evaluate
from vpcwatch.replay.alarms import EXTRA_RANGE, decide
from vpcwatch.replay.metrics import Datapoints, MetricAggregator, MetricSpec

OK, ALARM, NO_DATA = AlarmState.OK, AlarmState.ALARM, AlarmState.INSUFFICIENT_DATA
RETAIN = "retain"
TREATMENTS = (MissingData.MISSING, MissingData.IGNORE, MissingData.BREACHING,
              MissingData.NOT_BREACHING)  # fmt: skip


def _range(row: str) -> list[float | None]:
    """'0 - X - X' (oldest first) as values newest first: X = 5, 0 = 0, - = None."""
    return [{"0": 0.0, "X": 5.0, "-": None}[c] for c in reversed(row.split())]


def _settings(m: int, n: int, treat: MissingData) -> AlarmSettings:
    return AlarmSettings(threshold=1, evaluation_periods=n, datapoints_to_alarm=m,
                         treat_missing_data=treat)  # fmt: skip


THREE_OF_THREE = [
    # data points, then MISSING, IGNORE, BREACHING, NOT BREACHING
    ("0 - X - X", OK, OK, OK, OK),
    ("0 - - - -", OK, OK, OK, OK),
    ("- - - - -", NO_DATA, RETAIN, ALARM, OK),
    ("0 X X - X", ALARM, ALARM, ALARM, ALARM),
    ("- - - - X", NO_DATA, RETAIN, ALARM, OK),
    ("X - - - -", ALARM, RETAIN, ALARM, OK),
    ("- - X - -", ALARM, RETAIN, ALARM, OK),  # the current page: the premature-ALARM rule
]
TWO_OF_THREE = [
    ("0 - X - X", ALARM, ALARM, ALARM, ALARM),
    ("0 0 X 0 X", ALARM, ALARM, ALARM, ALARM),
    ("0 - X - -", OK, OK, ALARM, OK),
    ("- - - - 0", OK, OK, ALARM, OK),
    ("- - - - X", NO_DATA, RETAIN, ALARM, OK),
]


@pytest.mark.parametrize(
    ("m", "row", "expected"),
    [(3, row, states) for row, *states in THREE_OF_THREE]
    + [(2, row, states) for row, *states in TWO_OF_THREE],
    ids=lambda value: str(value),
)
@pytest.mark.parametrize("before", [OK, ALARM], ids=["after OK", "after ALARM"])
def test_every_row_of_the_guides_tables(m, row, expected, before):
    for treat, state in zip(TREATMENTS, expected, strict=True):
        want = before if state == RETAIN else state
        assert decide(_range(row), _settings(m, 3, treat), before) is want, (row, treat)


def test_the_range_is_n_plus_two_datapoints():
    assert EXTRA_RANGE == 2  # 5 for N = 3, as the guide's tables retrieve


def _timeline(data: dict[int, float], minutes: int, **settings):
    evaluations, transitions = evaluate("A", {m * 60: v for m, v in data.items()},
                                        AlarmSettings(**settings), 0, minutes * 60 - 1)  # fmt: skip
    return {e.time // 60: e.state for e in evaluations}, [(t.time // 60, t.new) for t in
                                                           transitions]  # fmt: skip


def test_the_non_breaching_point_leaves_the_range_one_evaluation_later():
    """The guide, second row: '0 - - - -' is OK with breaching, and goes to ALARM at the
    next evaluation when data is still missing (the 0 leaves the 5 most recent)."""
    settings = {"threshold": 1, "evaluation_periods": 3, "datapoints_to_alarm": 3,
                "treat_missing_data": MissingData.BREACHING}  # fmt: skip
    got, transitions = _timeline({0: 0}, minutes=7, **settings)
    assert got[5] is OK  # range at 5: minutes 0..4 = '0 - - - -'
    assert got[6] is ALARM  # range at 6: minutes 1..5, all missing
    assert transitions == [(1, OK), (6, ALARM)]


def test_enough_real_datapoints_are_reevaluated_after_data_stops():
    """'If some data points are missing but enough exist ... the most recent existing
    data points': a 1-of-1 alarm stays in ALARM while its breach is in the range."""
    got, _ = _timeline({0: 2, 4: 0}, minutes=5, threshold=1)
    assert [got[m] for m in (1, 2, 3, 5)] == [ALARM, ALARM, ALARM, OK]


def test_ignore_keeps_the_state_through_missing_data():
    got, _ = _timeline({0: 0, 1: 0, 2: 5, 3: 5, 4: 5}, minutes=12, threshold=1,
                       evaluation_periods=3, datapoints_to_alarm=3,
                       treat_missing_data=MissingData.IGNORE)  # fmt: skip
    assert got[5] is ALARM
    assert all(state is ALARM for minute, state in got.items() if minute >= 5)


def test_m_of_n_needs_m_breaching_real_datapoints():
    data = {0: 0, 1: 5, 2: 0, 3: 5, 4: 0, 5: 0, 6: 0}
    got, _ = _timeline(data, minutes=7, threshold=1, evaluation_periods=3, datapoints_to_alarm=2)
    assert [got[m] for m in range(1, 8)] == [OK, OK, OK, ALARM, OK, OK, OK]


def test_less_than_for_silence():
    got, _ = _timeline({0: 10, 1: 0}, minutes=6, comparison=Comparison.LESS_THAN, threshold=1,
                       treat_missing_data=MissingData.BREACHING)  # fmt: skip
    assert got[1] is OK and got[2] is ALARM


def test_a_longer_period_slides_minute_by_minute():
    """An event at 330 s raises a 5-minute, 1-of-1 alarm at 360 s, not at 600 s; the breach
    stays in the range (3 windows of 5 minutes) until 1,260 s."""
    _, transitions = evaluate("A", {300: 1}, AlarmSettings(period=300), 0, 1300)
    assert [(t.time, t.new) for t in transitions] == [(60, OK), (360, ALARM), (1260, OK)]


def test_a_new_alarm_reads_datapoints_from_before_it_was_created():
    _, transitions = evaluate("A", {0: 5}, AlarmSettings(threshold=1), 120, 120)
    assert transitions[0].new is ALARM  # the minute-0 breach is within the range at 180


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
    assert aggregator.datapoints(("N", "Bytes"), "Sum", 60) == {0: 10, 180: 1}  # '-': nothing
    assert aggregator.datapoints(("N", "NoDefault"), "Sum", 60) == {0: 1, 60: 1, 180: 1}
    assert aggregator.datapoints(("N", "Count"), "Sum", 300) == {0: 3}
    assert aggregator.datapoints(("N", "Count"), "Average", 60)[0] == 0.5


def test_datapoints_read_as_a_mapping():
    points = Datapoints([0, 60, 180], [1.0, float("nan"), 3.0])
    assert list(points) == [0, 60, 180] and len(points) == 3
    assert points[180] == 3.0 and points.get(120) is None and 59 not in points
    with pytest.raises(KeyError):
        points[240]
    assert dict(points.items())[0] == 1.0
    assert points == Datapoints([0, 60, 180], [1.0, float("nan"), 3.0])  # NaN: same datapoint
    assert points != Datapoints([0, 60, 240], [1.0, float("nan"), 3.0])
    assert Datapoints([0], [2.0]) == {0: 2}
    assert {0: 2} == Datapoints([0], [2.0])  # noqa: SIM300 (a dict on the left: reflected)
    assert Datapoints([0], [2.0]) != {0: 2, 60: 1}
    empty = MetricAggregator([MetricSpec("N", "Never", "[a = never, b]")]).datapoints(
        ("N", "Never"), "Sum", 60
    )
    assert isinstance(empty, Datapoints) and empty == {} and len(empty.starts) == 0
