"""vpcwatch tune: the distribution of each alarm's metric over history, and the lowest
threshold that stays within the allowed alarms."""

from __future__ import annotations

import json

import pytest
from replay.test_fast_replay import FMT, detector_template

from vpcwatch.cli import main
from vpcwatch.detectors import (
    AlarmSettings,
    DetectorError,
    default_detectors,
    rejected_flows,
    with_thresholds,
)
from vpcwatch.replay.engine import AlarmSpec
from vpcwatch.replay.metrics import MetricAggregator, MetricSpec
from vpcwatch.replay.tune import as_context, tune
from vpcwatch.traffic import DEFAULT_START, generate

COUNT = MetricSpec("N", "Count", "[a = x, b]", "1", 0)


def _aggregator(per_minute: list[int]) -> MetricAggregator:
    aggregator = MetricAggregator([COUNT])
    for minute, count in enumerate(per_minute):
        for _ in range(count):
            aggregator.add(minute * 60, "x 1")
        aggregator.add(minute * 60 + 1, "y 1")  # a non-match: every minute has a datapoint
    return aggregator


def test_the_suggestion_is_the_lowest_quiet_threshold():
    aggregator = _aggregator([3, 9, 4, 12, 2, 9, 1])
    alarm = AlarmSpec("Count", COUNT.key, AlarmSettings(threshold=5))
    (result,) = tune(aggregator, [alarm], start=0, end=6 * 60)
    assert (result.maximum, result.fired) == (12, 3)  # 9, 12, 9 cross 5 (three episodes)
    assert (result.suggested, result.suggested_fired) == (13, 0)
    assert "looser than now" in result.note
    # Allowing alarms: 3 a week over 7 minutes of history allows none; 1e5 allows 3.
    (loose,) = tune(aggregator, [alarm], start=0, end=6 * 60, alarms_per_week=1e5)
    assert loose.allowed == int(1e5 * 360 / (7 * 86400)) == 59
    assert loose.suggested == 2 and loose.suggested_fired <= 59  # just above the lowest value


def test_low_value_alarms_and_empty_history_are_reported_not_tuned():
    from vpcwatch.detectors import Comparison, MissingData

    aggregator = _aggregator([1, 1])
    silence = AlarmSettings(threshold=1, comparison=Comparison.LESS_THAN,
                            treat_missing_data=MissingData.BREACHING)  # fmt: skip
    (low,) = tune(aggregator, [AlarmSpec("Quiet", COUNT.key, silence)], start=0, end=120)
    assert low.suggested is None and "not tuned" in low.note and low.headroom is None
    empty = MetricAggregator([COUNT])
    (none,) = tune(empty, [AlarmSpec("C", COUNT.key, AlarmSettings())], start=0, end=120)
    assert none.suggested is None and "no datapoint" in none.note
    with pytest.raises(ValueError, match="alarms_per_week must be a number of 0 or more"):
        tune(aggregator, [], start=0, end=1, alarms_per_week=-1)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tune")
    template = folder / "template.json"
    template.write_text(json.dumps(detector_template()))
    traffic = folder / "day.log"
    traffic.write_text("\n".join(generate(FMT, minutes=600, seed=3)) + "\n")
    return template, traffic


def test_cli_table_json_context_and_python(files, capsys):
    template, traffic = files
    assert main(["tune", "--template", str(template), str(traffic)]) == 0
    text = capsys.readouterr().out
    assert "over 10.0 hours" in text and "SlowScanSources (records)" in text
    assert main(["tune", "--template", str(template), str(traffic), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    by_name = {a["alarm"]: a for a in report["alarms"]}
    assert by_name["RejectedFlows"]["maximum"] < by_name["RejectedFlows"]["threshold"]
    assert by_name["IncomingLogEvents"]["suggested"] is None  # FlowLogsStopped, by metric
    assert main(["tune", "--template", str(template), str(traffic), "--format", "context"]) == 0
    context = json.loads(capsys.readouterr().out)["vpcwatch:thresholds"]
    assert context["RejectedFlows"] == by_name["RejectedFlows"]["suggested"]
    # The context applies to the catalog as it is (the demo app does this).
    tuned = with_thresholds(default_detectors(), context)
    assert (
        next(d for d in tuned if d.name == "RejectedFlows").alarm.threshold
        == context["RejectedFlows"]
    )
    assert main(["tune", "--template", str(template), str(traffic), "--format", "python"]) == 0
    assert "RejectedFlows: detector.with_(threshold=" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--alarms-per-week", "-2"], "--alarms-per-week must be 0 or more"),
        (["--format", "yaml"], "invalid choice"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(files, capsys, extra, message):
    template, traffic = files
    with pytest.raises(SystemExit) if "--format" in extra else _nothing():
        code = main(["tune", "--template", str(template), str(traffic), *extra])
        assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_refuses_a_file_without_records(files, tmp_path, capsys):
    template, _ = files
    empty = tmp_path / "empty.log"
    empty.write_text("")
    assert main(["tune", "--template", str(template), str(empty)]) == 2
    assert "no record of the template's format" in capsys.readouterr().err


def test_thresholds_must_name_detectors():
    with pytest.raises(DetectorError, match="thresholds name no detector Nope; detectors: "):
        with_thresholds([rejected_flows()], {"Nope": 3})
    with pytest.raises(DetectorError, match="RejectedFlows.with_"):
        with_thresholds([rejected_flows()], {"RejectedFlows": -1})
    assert as_context([]) == {"vpcwatch:thresholds": {}}
    assert DEFAULT_START % 60 == 0


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
