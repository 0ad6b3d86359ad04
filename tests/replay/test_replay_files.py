"""vpcwatch replay on recorded files: hand-computed transitions, every input shape, errors."""

from __future__ import annotations

import gzip
import io
import json
from datetime import UTC, datetime

import pytest

from vpcwatch.cli import main
from vpcwatch.replay.files import replay_files
from vpcwatch.replay.metrics import MetricAggregator, MetricSpec
from vpcwatch.replay.template import TemplateError, load_plan

T0 = 1_700_000_040  # a whole minute
FORMAT = "${start} ${dstport} ${action} ${interface-id}"


def _alarm(name, treat):
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmName": f"t-{name}", "MetricName": "Ssh", "Namespace": "Test",
            "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 3, "DatapointsToAlarm": 2,
            "Threshold": 2, "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": treat,
        },
    }  # fmt: skip


TEMPLATE = {
    "Resources": {
        "FlowLog": {"Type": "AWS::EC2::FlowLog", "Properties": {"LogFormat": FORMAT}},
        "SshFilter": {
            "Type": "AWS::Logs::MetricFilter",
            "Properties": {
                "FilterPattern": "[start, dstport = 22, ...]",
                "MetricTransformations": [
                    {
                        "MetricName": "Ssh",
                        "MetricNamespace": "Test",
                        "MetricValue": "1",
                        "DefaultValue": 0,
                    }
                ],
            },
        },
        "Quiet": _alarm("Quiet", "notBreaching"),
        "Strict": _alarm("Strict", "breaching"),
        "Math": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"Metrics": []}},
    }
}
# Minute: SSH records, other records. Minute 2 has no event at all (missing data).
TRAFFIC = {0: (2, 0), 1: (0, 1), 3: (3, 0), 4: (2, 0), 5: (0, 1), 6: (0, 1)}


def records():
    lines = []
    for minute, (ssh, other) in TRAFFIC.items():
        start = T0 + minute * 60 + 5
        lines += [f"{start} 22 REJECT eni-0a" for _ in range(ssh)]
        lines += [f"{start} 443 ACCEPT eni-0a" for _ in range(other)]
    return lines


def end_of(minute):
    return T0 + (minute + 1) * 60


@pytest.fixture
def template(tmp_path):
    path = tmp_path / "Stack.template.json"
    path.write_text(json.dumps(TEMPLATE))
    return path


def write(tmp_path, name, lines, compress=False):
    path = tmp_path / name
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def transitions(result):
    return [(t.alarm, t.time, t.old.value, t.new.value) for t in result.transitions]


EXPECTED = [
    # Oldest first, minutes -4..6: - - - - X 0 - X X 0 0 (X breaches: 2 or more SSH records;
    # minute 2 has no event). Each evaluation retrieves 5 datapoints (N + 2) and, with 3 or
    # more real ones, judges the 3 most recent real ones (the guide's evaluation range).
    # Quiet, missing = not breaching: at the end of 3 the real ones X 0 X hold 2 -> ALARM
    # (the old last-3-periods reading waited for minute 4); at 6 they are 0 0 X -> OK.
    ("Quiet", end_of(0), "INSUFFICIENT_DATA", "OK"),
    ("Quiet", end_of(3), "OK", "ALARM"),
    ("Quiet", end_of(6), "ALARM", "OK"),
    # Strict, missing = breaching: at the end of 0 one real X plus two filled breaching
    # datapoints -> ALARM until the real 0 0 X at the end of 6.
    ("Strict", end_of(0), "INSUFFICIENT_DATA", "ALARM"),
    ("Strict", end_of(6), "ALARM", "OK"),
]


def test_transitions_match_the_hand_computed_expectation(tmp_path, template):
    plan = load_plan(template)
    assert [a.name for a in plan.alarms] == ["Quiet", "Strict"]  # shared prefix removed
    assert plan.skipped == (
        "Math: metric math alarms other than one INSIGHT_RULE_METRIC of MaxContributorValue "
        "or UniqueContributors are not simulated",
    )
    result = replay_files(plan, [write(tmp_path, "plain.log", records())])
    assert sorted(transitions(result)) == sorted(EXPECTED)
    quiet = next(s for s in result.summaries if s.name == "Quiet")
    assert (quiet.fired, quiet.seconds_in_alarm, quiet.peak) == (1, 180, 3)


def _iso(line):
    start = int(line.split()[0])
    return datetime.fromtimestamp(start, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.mark.parametrize(
    ("name", "render", "compress"),
    [
        ("plain.log", lambda lines: lines, False),
        ("plain.log.gz", lambda lines: lines, True),
        ("export-iso.log", lambda lines: [f"{_iso(x)} {x}" for x in lines], False),
        ("export-stream.log", lambda lines: [f"{_iso(x)} eni-0a-all {x}" for x in lines], False),
        ("export.jsonl", lambda lines: [json.dumps({"timestamp": 1, "message": x}) for x in lines],
         False),
        ("s3-delivery.log.gz", lambda lines: ["start dstport action interface-id", *lines], True),
        ("s3-no-suffix", lambda lines: ["start dstport action interface-id", *lines], True),
    ],
)  # fmt: skip
def test_every_input_shape_gives_the_same_transitions(tmp_path, template, name, render, compress):
    path = write(tmp_path, name, render(records()), compress)
    result = replay_files(load_plan(template), [path])
    assert sorted(transitions(result)) == sorted(EXPECTED)
    assert result.events == len(records())


def run(*argv):
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def test_cli_text_json_and_plot(tmp_path, template, capsys):
    path = write(tmp_path, "plain.log", records())
    code, text = run("replay", "--template", str(template), str(path))
    assert code == 0
    assert "OK -> ALARM" in text and "Quiet" in text and "not simulated: Math" in text
    code, data = run("replay", "--template", str(template), str(path), "--format", "json",
                     "--plot", str(tmp_path / "alarms.png"))  # fmt: skip
    report = json.loads(data)
    assert code == 0 and report["events"] == len(records())
    fired = [t for t in report["transitions"] if t["to"] == "ALARM"]
    assert {t["alarm"] for t in fired} == {"Quiet", "Strict"}
    assert fired[0]["topRecords"]
    assert (tmp_path / "alarms.png").read_bytes()[:4] == b"\x89PNG"


def test_from_and_to_limit_the_window(tmp_path, template):
    path = write(tmp_path, "plain.log", records())
    code, data = run("replay", "--template", str(template), str(path), "--format", "json",
                     "--from", str(T0 + 180), "--to", "2023-11-14T22:18:59Z")  # fmt: skip
    report = json.loads(data)
    assert code == 0 and report["events"] == 5  # minutes 3 and 4 only


def test_wrong_format_is_refused_with_exit_2(tmp_path, template, capsys):
    path = write(tmp_path, "other.log", ["2 123 eni-1 1.2.3.4 5.6.7.8"])
    code, _ = run("replay", "--template", str(template), str(path))
    assert code == 2
    assert "records have 5 fields; the stack's flow-log format has 4" in capsys.readouterr().err


def test_a_header_naming_other_fields_is_refused(tmp_path, template, capsys):
    path = write(tmp_path, "s3.log.gz", ["start dstport action srcaddr", *records()], True)
    code, _ = run("replay", "--template", str(template), str(path))
    assert code == 2
    err = capsys.readouterr().err
    assert "the file's fields (start dstport action srcaddr) are not the stack's" in err


def test_an_empty_file_replays_nothing(tmp_path, template):
    path = write(tmp_path, "empty.log", [])
    code, text = run("replay", "--template", str(template), str(path))
    assert code == 0 and text.startswith("0 events replayed")


def test_bad_templates_and_times(tmp_path, capsys):
    missing = tmp_path / "nope.json"
    assert run("replay", "--template", str(missing), str(missing))[0] == 2
    no_filters = tmp_path / "empty.json"
    no_filters.write_text(json.dumps({"Resources": TEMPLATE["Resources"] | {"SshFilter": {}}}))
    with pytest.raises(TemplateError, match="no AWS::Logs::MetricFilter"):
        load_plan(no_filters)
    path = write(tmp_path, "plain.log", records())
    template = tmp_path / "t.json"
    template.write_text(json.dumps(TEMPLATE))
    assert run("replay", "--template", str(template), str(path), "--from", "yesterday")[0] == 2
    assert "--from must be Unix seconds or an ISO 8601 time" in capsys.readouterr().err


def test_sample_writes_the_templates_format(tmp_path, template):
    code, text = run("sample", "--minutes", "3", "--template", str(template),
                     "--incident", "ssh-scan@1")  # fmt: skip
    lines = text.splitlines()
    assert code == 0 and all(len(line.split()) == 4 for line in lines)
    assert sum(" 22 REJECT " in line for line in lines) >= 60


def test_sample_refuses_unknown_incidents(capsys):
    assert run("sample", "--incident", "ddos@5")[0] == 2
    assert "KIND[@MINUTE] with KIND one of ssh-scan" in capsys.readouterr().err
    assert run("sample", "--incident", "ssh-scan@60")[0] == 2  # minutes 0-59 by default
    assert run("sample", "--minutes", "0")[0] == 2
    assert "--minutes must be 1 or more; got 0" in capsys.readouterr().err


def test_progress_bar_draws_only_after_its_delay():
    from vpcwatch.replay.progress import Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    bar = Progress(1_000_000, stream=stream, delay=0.0)
    bar.drawn -= 1  # as if the last drawing were a second ago
    bar.update(500_000, 1234)
    bar.close()
    assert "50% of 1 MB" in stream.getvalue() and "events/s" in stream.getvalue()
    assert " s left" in stream.getvalue() and stream.getvalue().endswith("\n")
    redirected = io.StringIO()  # not a terminal: no bar at all
    log = Progress(1_000_000, stream=redirected, delay=0.0)
    log.drawn -= 1
    log.update(500_000, 1234)
    log.close()
    assert redirected.getvalue() == ""
    quiet = Terminal()
    slow = Progress(1_000_000, stream=quiet, delay=60)
    slow.update(500_000, 1)
    slow.close()
    assert quiet.getvalue() == ""


def test_plot_draws_an_alarm_without_datapoints(tmp_path, template):
    """A metric that never published (no match, no default) still gets its panel."""
    from vpcwatch.replay.plot import plot

    plan = load_plan(template)
    path = write(tmp_path, "plain.log", records())
    result = replay_files(plan, [path])
    result.datapoints = {name: points for name, points in result.datapoints.items()
                         if name != "Quiet"}  # fmt: skip
    empty = MetricAggregator([MetricSpec("N", "Never", "[a = never, b]")])
    result.datapoints["Strict"] = empty.datapoints(("N", "Never"), "Sum", 60)
    assert plot(result, plan, tmp_path / "sparse.png").read_bytes()[:4] == b"\x89PNG"
