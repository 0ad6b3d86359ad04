"""The vectorised alarm evaluation is the per-minute loop's, transition for transition.

``evaluate_briefly`` (the loop, one decision per minute) is the reference: its rules are
pinned against the CloudWatch guide's tables in test_alarms.py. ``evaluate_series``
(what replay runs) must give the same transitions, last evaluation and peak on any
series: sparse spans of months, M of N, every treatment, statistic and comparison.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vpcwatch.detectors import AlarmSettings, Comparison, MissingData
from vpcwatch.replay.alarms import evaluate_briefly, evaluate_series
from vpcwatch.replay.metrics import Accumulator, MinuteSeries

DAY = 86400


@st.composite
def alarm_settings(draw) -> AlarmSettings:
    periods = draw(st.integers(1, 5))
    return AlarmSettings(
        threshold=draw(st.sampled_from([1, 2, 5, 10])),
        period=60 * draw(st.sampled_from([1, 2, 5, 10, 60])),
        evaluation_periods=periods,
        datapoints_to_alarm=draw(st.integers(1, periods)),
        comparison=draw(st.sampled_from(list(Comparison))),
        treat_missing_data=draw(st.sampled_from(list(MissingData))),
        statistic=draw(st.sampled_from(["Sum", "SampleCount", "Average", "Minimum", "Maximum"])),
    )


@st.composite
def minute_statistics(draw) -> dict[int, Accumulator]:
    """Bursts of minutes with data, scattered over up to 90 days."""
    minutes: dict[int, Accumulator] = {}
    for _ in range(draw(st.integers(0, 6))):
        burst = draw(st.integers(0, 90 * 1440)) * 60
        for offset in draw(st.lists(st.integers(0, 40), max_size=12)):
            values = draw(st.lists(st.integers(0, 12), min_size=1, max_size=3))
            accumulator = minutes.setdefault(burst + offset * 60, Accumulator())
            for value in values:
                accumulator.add(float(value))
    return minutes


def _series(minutes: dict[int, Accumulator]) -> MinuteSeries:
    slots = list(minutes)
    return MinuteSeries.of(slots, *(
        [getattr(minutes[s], name) for s in slots]
        for name in ("total", "count", "minimum", "maximum")
    ))  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(minutes=minute_statistics(), alarm=alarm_settings(), data=st.data())
def test_vectorised_evaluation_is_the_loops(minutes, alarm, data):
    low = min(minutes, default=0)
    high = max(minutes, default=0)
    start = data.draw(st.integers(low - DAY, high))
    end = data.draw(st.integers(max(start, low), high + DAY))
    expected = evaluate_briefly("A", minutes, alarm, start, end)
    got = evaluate_series("A", _series(minutes), alarm, start, end)
    assert got.transitions == expected.transitions
    assert got.last == expected.last
    assert got.peak == expected.peak


def test_fractional_totals_take_the_loop():
    minutes = {0: Accumulator(0.1, 1, 0.1, 0.1), 60: Accumulator(0.2, 1, 0.2, 0.2)}
    alarm = AlarmSettings(threshold=0.3, period=120,
                          comparison=Comparison.GREATER_THAN_OR_EQUAL)  # fmt: skip
    # 0.1 + 0.2 is 0.30000000000000004: the loop's order decides, and both agree.
    assert evaluate_series("A", _series(minutes), alarm, 0, 300) == evaluate_briefly(
        "A", minutes, alarm, 0, 300
    )


def test_an_empty_series_evaluates_once():
    alarm = AlarmSettings(treat_missing_data=MissingData.NOT_BREACHING)
    outcome = evaluate_series("A", MinuteSeries.empty(), alarm, 0, 10 * DAY)
    assert outcome == evaluate_briefly("A", {}, alarm, 0, 10 * DAY)
    assert [t.new.value for t in outcome.transitions] == ["OK"]


@st.composite
def contributions(draw) -> dict[int, dict[tuple[str, ...], float]]:
    """A few contributors, active in bursts scattered over 30 days."""
    minutes: dict[int, dict[tuple[str, ...], float]] = {}
    names = [(f"10.0.0.{i}",) for i in range(draw(st.integers(1, 5)))]
    for _ in range(draw(st.integers(0, 5))):
        burst = draw(st.integers(0, 30 * 1440)) * 60
        for offset in draw(st.lists(st.integers(0, 90), max_size=15)):
            who = draw(st.sampled_from(names))
            cell = minutes.setdefault(burst + offset * 60, {})
            cell[who] = cell.get(who, 0.0) + draw(st.integers(1, 9))
    return minutes


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    minutes=contributions(),
    alarm=alarm_settings(),
    metric=st.sampled_from(["MaxContributorValue", "UniqueContributors"]),
    data=st.data(),
)
def test_top_contributor_evaluation_is_the_loops(minutes, alarm, metric, data):
    from vpcwatch.replay.alarms import evaluate_contributions, evaluate_contributions_briefly
    from vpcwatch.replay.insights import Contributions

    low, high = min(minutes, default=0), max(minutes, default=0)
    start = data.draw(st.integers(low - DAY, high))
    end = data.draw(st.integers(max(start, low), high + DAY))
    rows = [(who, slot, value) for slot, cell in minutes.items() for who, value in cell.items()]
    table = Contributions.of([([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])])
    expected = evaluate_contributions_briefly("A", minutes, alarm, start, end, metric=metric)
    got, top = evaluate_contributions("A", table, alarm, start, end, metric=metric)
    assert got.transitions == expected.transitions
    assert got.last == expected.last
    assert got.peak == expected.peak
    for time, who in top.items() if metric == "MaxContributorValue" else ():
        # the named contributor holds the window's top value
        window = [minutes[s].get(who, 0) for s in minutes if time - alarm.period <= s < time]
        value = next(t.value for t in got.transitions if t.time == time)
        assert sum(window) == value


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    minutes=contributions(),
    metric=st.sampled_from(["MaxContributorValue", "UniqueContributors"]),
    periods=st.lists(st.sampled_from([60, 300, 3600]), min_size=1, max_size=3),
    data=st.data(),
)
def test_window_values_read_from_an_earlier_grid_are_those_computed(minutes, metric, periods, data):
    """Ends a minute apart are remembered; later ends are read from them where they can
    be (on a minute, within the grid, the same period and metric) and computed from the
    rows near them otherwise: the same values as a table that remembers nothing."""
    from vpcwatch.replay.insights import Contributions

    rows = [(who, slot, value) for slot, cell in minutes.items() for who, value in cell.items()]
    parts = [([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])]
    table, fresh = Contributions.of(parts), Contributions.of(parts)

    def computed(at, period):
        if metric == "UniqueContributors":
            return fresh.window_unique(at, period)
        return fresh.window_max(at, period)

    # Near the rows: a grid of minutes from around one, and ends around others.
    near = st.sampled_from(sorted(minutes) or [0])
    first = data.draw(near) // 60 + data.draw(st.integers(-100, 100))
    grid_ends = 60 * first + 60 * np.arange(data.draw(st.integers(1, 300)))
    ends = data.draw(st.lists(st.tuples(near, st.integers(-4000, 4000)), min_size=1, max_size=30))
    ends = [slot + offset if index % 2 else (slot + offset) // 60 * 60
            for index, (slot, offset) in enumerate(ends)]  # fmt: skip
    for period in periods:
        np.testing.assert_array_equal(
            table.window_values(grid_ends, period, metric), computed(grid_ends, period)
        )
        at = np.array(ends)
        np.testing.assert_array_equal(table.window_values(at, period, metric), computed(at, period))


@given(
    ends=st.one_of(
        st.tuples(st.integers(-5_000, 5_000), st.integers(1, 50)).map(
            lambda first_count: 60 * (first_count[0] + np.arange(first_count[1]))
        ),  # every minute of a stretch
        st.lists(st.integers(-300_000, 300_000), min_size=1, max_size=40, unique=True).map(
            lambda ends: np.array(sorted(ends), dtype=np.int64)
        ),
    ),
    times=st.lists(st.integers(-400_000, 400_000), max_size=40),
)
def test_ends_at_or_before_a_time_are_a_binary_search(ends, times):
    """How a rule's windows place rows among the ends: the ends before a time plus one
    (integers), by a table when the ends are minutes, else by a search."""
    from vpcwatch.replay.insights import minutes_before

    times = np.array(times, dtype=np.int64)
    expected = np.searchsorted(ends, times, side="right")
    np.testing.assert_array_equal(minutes_before(ends)(times + 1), expected)


def test_window_max_in_small_chunks_is_the_same():
    from vpcwatch.replay.insights import Contributions

    table = Contributions.of([([("a",), ("b",), ("a",), ("b",)], [0, 60, 120, 120],
                               [1.0, 5.0, 7.0, 1.0])])  # fmt: skip
    ends = [60, 120, 180, 240, 3600]
    values = table.window_max(ends, 120)
    np.testing.assert_array_equal(values, table.window_max(ends, 120, chunk=1))
    np.testing.assert_array_equal(values, [1.0, 5.0, 7.0, 7.0, np.nan])
    assert [table.top(end, 120) for end in ends] == [("a",), ("b",), ("a",), ("a",), None]


def test_single_minute_contributors_take_the_range_maximum():
    from vpcwatch.replay.insights import Contributions

    # "n*" appear once (the noise); "s" twice: both kinds in one window.
    table = Contributions.of([([("n1",), ("n2",), ("s",), ("s",), ("n3",)],
                               [0, 60, 60, 180, 240], [4.0, 2.0, 3.0, 3.0, 9.0])])  # fmt: skip
    np.testing.assert_array_equal(table.window_max([120, 240, 300, 400], 180), [4.0, 6.0, 9.0, 9.0])


def test_every_kind_of_contributor_against_brute_force():
    """Noise (one minute each), occasional sources (paired row by row) and one source
    present in nearly every minute (slid over every window at once), in one table."""
    from vpcwatch.replay.alarms import _ContributorWindows
    from vpcwatch.replay.insights import Contributions

    rng = np.random.default_rng(7)
    rows = [((f"noise{i}",), int(rng.integers(0, 600)) * 60, 1.0) for i in range(300)]
    rows += [((f"some{i % 7}",), int(rng.integers(0, 600)) * 60, float(rng.integers(1, 5)))
             for i in range(60)]  # fmt: skip
    rows += [(("loud",), minute * 60, 2.0) for minute in range(0, 600, 2)]
    table = Contributions.of([([r[0] for r in rows], [r[1] for r in rows],
                               [r[2] for r in rows])])  # fmt: skip
    ends = np.arange(60, 700 * 60, 60)
    for period in (60, 300, 3600):
        brute = _ContributorWindows(table.as_minutes(), period)
        expected = [brute.value(int(end)) for end in ends]
        got = table.window_max(ends, period)
        assert [None if np.isnan(v) else v for v in got] == expected, period
        unique = _ContributorWindows(table.as_minutes(), period, "UniqueContributors")
        got = table.window_unique(ends, period)
        assert [None if np.isnan(v) else v for v in got] == [
            unique.value(int(end)) for end in ends
        ], period
        # In blocks of a few rows (each ending with a contributor): the same counts.
        np.testing.assert_array_equal(got, table.window_unique(ends, period, chunk=5))


@given(
    minutes=st.lists(st.integers(-5_000, 200_000), unique=True, max_size=60),
    times=st.lists(st.integers(-400_000, 13_000_000), min_size=1, max_size=40),
    dense=st.booleans(),
)
def test_minutes_before_a_time_are_a_binary_search(minutes, times, dense):
    """Over a table of counts per minute (or, past its span, a search): for any times,
    aligned to a minute or not, inside the minutes' span or outside."""
    from vpcwatch.replay import alarms, insights

    slots = np.array(sorted(minutes), dtype=np.int64) * 60
    times = np.array(times, dtype=np.int64)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(insights, "DENSE_MINUTES", 4_000_000 if dense else 1)
        before = alarms.minutes_before(slots)
        assert before(times).tolist() == np.searchsorted(slots, times, side="left").tolist()


@given(
    times=st.one_of(
        st.lists(st.integers(-2_000, 200_000), min_size=1, max_size=50),
        st.lists(st.integers(0, 3), min_size=1, max_size=50).map(np.cumsum),  # dense
    ),
    periods=st.integers(1, 17),
    period=st.sampled_from([10, 30, 60, 120, 3600]),
    seconds=st.sampled_from([0, 0, 0, 7]),
)
def test_window_values_on_a_grid_are_the_values_at_each_end(times, periods, period, seconds):
    """Ends on minute starts read a table of the span's minutes when that is smaller
    (times a few minutes apart); any other ends (a 10 s period, a second off the minute)
    are read as given: the same values either way, in the shape of the ends."""
    from vpcwatch.replay.alarms import _values_at

    times = np.unique(np.array(times, dtype=np.int64)) * 60 + seconds
    ends = times[:, None] - period * np.arange(periods)
    asked = []

    def window_values(at: np.ndarray) -> np.ndarray:
        asked.append(at.size)
        return np.where(at % 420 == 0, np.nan, (at * 7919) % 1000 / 7)

    got = _values_at(times, period, periods, window_values)
    np.testing.assert_array_equal(got, window_values(ends))
    assert got.shape == ends.shape
    minutes = (ends.max() - ends.min()) // 60 + 1
    on_grid = not (ends % 60).any()
    assert asked[0] == (minutes if on_grid and minutes < ends.size else ends.size)


@given(
    minutes=st.lists(st.integers(-5_000, 200_000), max_size=60),
    seconds=st.sampled_from([0, 0, 13]),
    dense=st.booleans(),
)
def test_the_minutes_with_contributions_are_the_distinct_slots(minutes, seconds, dense):
    """Marked in a table of the span's minutes (or, past its span or off the minute,
    by np.unique): sorted, each once."""
    from vpcwatch.replay import insights

    slots = np.array(minutes, dtype=np.int64) * 60
    if len(slots):
        slots[0] += seconds
    table = insights.Contributions(np.zeros(len(slots), np.int64), slots, np.ones(len(slots)), ())
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(insights, "DENSE_MINUTES", 4_000_000 if dense else 1)
        assert table.minutes().tolist() == np.unique(slots).tolist()


@given(
    ends=st.lists(st.integers(-1_000, 1_000), max_size=40),
    rising=st.booleans(),
    rows=st.sampled_from([1, 2]),
)
def test_distinct_ends_are_np_unique(ends, rising, rows):
    """Rising ends are taken as they are; any others go through np.unique: the same
    values and the same way back to each end, in the ends' shape."""
    from vpcwatch.replay.insights import _distinct

    ends = np.array(sorted(set(ends)) if rising else ends, dtype=np.int64)
    if rows == 2 and len(ends) % 2 == 0:
        ends = ends.reshape(2, -1)
    unique, back = _distinct(ends)
    expected_unique, expected_back = np.unique(ends, return_inverse=True)
    assert unique.tolist() == expected_unique.tolist()
    assert back.tolist() == expected_back.reshape(ends.shape).tolist()
    assert unique[back].tolist() == ends.tolist()


@given(
    rows=st.lists(st.tuples(st.integers(0, 30), st.integers(0, 9)), max_size=40),
    data=st.data(),
)
def test_a_series_of_rows_in_any_order_is_the_same(rows, data):
    """Rows by minute (taken as they are) or in any order (sorted first), with repeated
    minutes merged: the same series."""
    ordered = sorted(rows)
    shuffled = data.draw(st.permutations(ordered))

    def series(rows):
        slots = np.array([60 * minute for minute, _ in rows], dtype=np.int64)
        values = np.array([value for _, value in rows], dtype=np.float64)
        return MinuteSeries.of(slots, values, np.ones(len(rows)), values, values)

    first, second = series(ordered), series(shuffled)
    for name in ("slots", "total", "count", "minimum", "maximum"):
        assert getattr(first, name).tolist() == getattr(second, name).tolist()
    assert first.slots.tolist() == sorted({60 * minute for minute, _ in rows})
