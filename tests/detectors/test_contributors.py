"""Contributor detectors: validated as data, rendered as CLF rules from the format."""

from __future__ import annotations

import json

import pytest

from vpcwatch import FlowLogFormat
from vpcwatch.cost import Assumptions, estimate, load_prices
from vpcwatch.detectors import (
    AlarmSettings,
    ContributorDetector,
    DetectorError,
    Severity,
    contributor_filter,
    egress_top_talkers,
    slow_scan_sources,
)
from vpcwatch.replay.insights import InsightSpec, parse_expression

ALL = FlowLogFormat.all_fields()


def _detector(**changes):
    base = dict(name="Probe", title="t", description="d", severity=Severity.LOW,
                keys=("srcaddr",), filters=(), alarm=AlarmSettings(threshold=5))  # fmt: skip
    return ContributorDetector(**{**base, **changes})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"keys": ()}, "keys must be a tuple of 1 to 4"),
        ({"keys": ("srcaddr",) * 2}, "keys must be a tuple of 1 to 4 distinct"),
        ({"keys": ("a", "b", "c", "d", "e")}, "keys must be a tuple of 1 to 4"),
        ({"keys": ("nosuchfield",)}, "keys/filters/value_of must be flow-log fields: unknown"),
        ({"filters": (contributor_filter("action", "In", ["REJECT"]),) * 5}, "at most 4"),
        ({"value_of": "bytez"}, "did you mean 'bytes'"),
        ({"name": "bad name"}, "name must be PascalCase"),
    ],
)
def test_bad_definitions_name_the_setting(changes, message):
    with pytest.raises(DetectorError, match=message):
        _detector(**changes)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("dstport", "Within", [22]), "filter operator must be one of In, NotIn"),
        (("dstport", "In", 22), "needs a list of values"),
        (("dstport", "In", list(range(11))), "a tuple of 1 to 10 non-empty strings"),
        (("bytes", "GreaterThan", "big"), "one number"),
    ],
)
def test_bad_filters_name_the_operator(args, message):
    with pytest.raises(DetectorError, match=message):
        contributor_filter(*args)


def test_catalog_arguments_are_validated():
    with pytest.raises(ValueError, match="ports must hold at most 10"):
        slow_scan_sources(ports=list(range(1, 12)))
    with pytest.raises(ValueError, match="window_minutes must be an integer from 1 to 1440"):
        slow_scan_sources(window_minutes=0)
    with pytest.raises(ValueError, match="threshold_bytes must be a positive integer"):
        egress_top_talkers(threshold_bytes=-1)
    assert slow_scan_sources().with_(threshold=10).alarm.threshold == 10


def test_the_rule_names_positions_of_the_format_it_is_rendered_for():
    detector = egress_top_talkers()
    for fmt in (ALL, FlowLogFormat.detection()):
        body = detector.rule_body(fmt, "flow-logs")
        assert body["LogFormat"] == "CLF" and body["AggregateOn"] == "Sum"
        assert body["Fields"] == {str(fmt.index(n) + 1): n for n in detector.required_fields}
        # The replay reads the same positions back.
        spec = InsightSpec.from_body("R", json.loads(json.dumps(body)), len(fmt))
        assert [fmt.names[i] for i in spec.keys] == ["srcaddr", "dstaddr"]
    with pytest.raises(DetectorError, match="needs the flow-log fields flow_direction, traffic"):
        detector.rule_body(FlowLogFormat.default(), "flow-logs")


def test_a_record_contributes_only_when_every_filter_passes():
    spec = InsightSpec.from_body("R", egress_top_talkers().rule_body(ALL, "g"), len(ALL))
    fields = dict.fromkeys(ALL.names, "-") | {
        "srcaddr": "10.0.0.5", "dstaddr": "203.0.113.9", "srcport": "50000", "bytes": "700",
        "action": "ACCEPT", "flow_direction": "egress", "traffic_path": "8",
    }  # fmt: skip
    record = [fields[n] for n in ALL.names]
    assert spec.contribution(record) == (("10.0.0.5", "203.0.113.9"), 700.0)
    for field, value in [("srcport", "443"), ("traffic_path", "7"), ("bytes", "-")]:
        changed = [value if n == field else fields[n] for n in ALL.names]
        assert spec.contribution(changed) is None, field


def test_alarm_expressions_are_read_with_either_quote():
    assert parse_expression('INSIGHT_RULE_METRIC("a-b", "MaxContributorValue")') == (
        "a-b", "MaxContributorValue")  # fmt: skip
    assert parse_expression("INSIGHT_RULE_METRIC('r', 'UniqueContributors')")[1] == (
        "UniqueContributors"
    )
    assert parse_expression("m1 + m2") is None


def test_cost_prices_the_rules_and_their_matched_events():
    template = {"Resources": {f"R{i}": {"Type": "AWS::CloudWatch::InsightRule",
                                        "Properties": {}} for i in range(2)}}  # fmt: skip
    lines, _ = estimate(template, Assumptions(gb_per_day=1), load_prices(None))
    (line,) = [line for line in lines if "Contributor Insights" in line.item]
    assert line.quantity == "2" and line.usd == pytest.approx(2 * 0.50 + 2 * 0.02)
    with pytest.raises(ValueError, match="insight_matched_events must be an integer"):
        Assumptions(gb_per_day=1, insight_matched_events=-5)


def test_replay_reads_a_unique_contributors_alarm_from_a_template(tmp_path):
    """A hand-made alarm on how many sources probe in an hour (not in the catalog) is
    replayed too: the internet's background is ~300 sources an hour."""
    from vpcwatch.replay.files import replay_files
    from vpcwatch.replay.template import load_plan
    from vpcwatch.traffic import generate

    rule = slow_scan_sources()
    template = {"Resources": {
        "FlowLog": {"Type": "AWS::EC2::FlowLog", "Properties": {"LogFormat": ALL.log_format}},
        "Rule": {"Type": "AWS::CloudWatch::InsightRule", "Properties": {
            "RuleName": "Sources", "RuleState": "ENABLED",
            "RuleBody": json.dumps(rule.rule_body(ALL, "flow-logs"))}},
        "Alarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {
            "AlarmName": "ManySources", "EvaluationPeriods": 1, "Threshold": 100,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "Metrics": [{"Id": "m", "Period": 3600, "ReturnData": True,
                         "Expression": "INSIGHT_RULE_METRIC('Sources', 'UniqueContributors')"}]}},
    }}  # fmt: skip
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template))
    plan = load_plan(path)
    assert [(a.name, a.insight_metric, a.unit) for a in plan.alarms] == [
        ("ManySources", "UniqueContributors", "contributors")]  # fmt: skip
    traffic = tmp_path / "flows.log"
    traffic.write_text("\n".join(generate(ALL, minutes=90, seed=2)) + "\n")
    fast = replay_files(plan, [traffic])
    slow = replay_files(plan, [traffic], fast=False)
    assert fast.transitions == slow.transitions and fast.datapoints == slow.datapoints
    assert fast.fired() == {"ManySources"}  # ~4 sources a minute reach 100 within the hour
    assert 150 < max(fast.datapoints["ManySources"].values()) < 400


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold_bytes": 0}, "threshold_bytes must be a positive integer"),
        ({"threshold_bytes": True}, "threshold_bytes must be a positive integer"),
        ({"period_minutes": 0}, "period_minutes must be a positive integer"),
        ({"period_minutes": 1441}, "period_minutes must be 1440 .one day. or less"),
        ({"served_ports": [70000]}, "served_ports must be a non-empty list of ports"),
        ({"allowed_destinations": ["0.0.0.0/0"]}, "EgressVolume could never fire"),
    ],
)
def test_egress_volume_arguments_name_the_setting(kwargs, message):
    from vpcwatch.detectors import egress_volume

    with pytest.raises(ValueError, match=message):
        egress_volume(**kwargs)


def test_egress_volume_without_served_ports_counts_answers_too():
    from vpcwatch.detectors import egress_volume

    assert "srcport !=" in egress_volume().pattern(ALL)
    assert "srcport !=" not in egress_volume(served_ports=[]).pattern(ALL)
    with pytest.raises(ValueError, match="served_ports must be"):
        egress_top_talkers(served_ports=["http"])
