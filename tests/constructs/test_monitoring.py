"""FlowLogMonitoring: one metric filter per detector metric, one alarm per detector."""

from __future__ import annotations

import dataclasses
import json

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk.assertions import Match

from support import checked_template, new_app
from vpcwatch import AlertTopic, FlowLogFormat, FlowLogMonitoring, FlowLogPipeline
from vpcwatch.detectors import DetectorError, default_detectors, rejected_flows
from vpcwatch.filterpattern import compile_pattern
from vpcwatch.patterns import Regex

ENV = cdk.Environment(account="111111111111", region="eu-west-1")
FMT = FlowLogFormat.all_fields()
ALLOWED = ("52.216.0.0/15",)


def _pipeline(stack, log_format=FMT):
    vpc = ec2.Vpc(stack, "Vpc", max_azs=1, nat_gateways=0)
    return FlowLogPipeline(stack, "FlowLogs", vpc=vpc, log_format=log_format)


@pytest.fixture(scope="module")
def synthesized():
    app = new_app()
    stack = cdk.Stack(app, "Monitoring", env=ENV)
    alerts = AlertTopic(stack, "Alerts")
    monitoring = FlowLogMonitoring(
        stack,
        "Monitoring",
        pipeline=_pipeline(stack),
        alerts=alerts,
        detectors=default_detectors(allowed_destinations=ALLOWED),
    )
    tuned_stack = cdk.Stack(app, "Tuned", env=ENV)
    tuned = FlowLogMonitoring(
        tuned_stack,
        "Monitoring",
        pipeline=_pipeline(tuned_stack, FlowLogFormat.default()),
        alerts=AlertTopic(tuned_stack, "Alerts"),
        detectors=[rejected_flows().with_(threshold=200, period=cdk.Duration.minutes(5),
                                          evaluation_periods=3, datapoints_to_alarm=2)],
        notify_on_ok=True,
        dashboard=False,
        namespace="Team/Network",
    )  # fmt: skip
    return {
        "monitoring": monitoring,
        "template": checked_template(stack),
        "alerts": alerts,
        "tuned": tuned,
        "tuned_template": checked_template(tuned_stack),
    }


def test_one_filter_per_metric_with_the_detectors_pattern(synthesized):
    t, monitoring = synthesized["template"], synthesized["monitoring"]
    filters = t.find_resources("AWS::Logs::MetricFilter")
    assert len(filters) == 7  # the seven detectors with a filter
    by_metric = {
        f["Properties"]["MetricTransformations"][0]["MetricName"]: f["Properties"]
        for f in filters.values()
    }
    for detector in monitoring.detectors:
        if detector.name in ("FlowLogsStopped", "SlowScanSources", "EgressTopTalkers"):
            continue  # no metric filter: the log group's own metric, insight rules
        pattern = by_metric[detector.name]["FilterPattern"]
        assert pattern == detector.pattern(FMT)
        assert compile_pattern(pattern).kind == "space-delimited"
    # Five filters hold a regex at most (the CloudWatch Logs quota per log group).
    assert sum("%" in f["FilterPattern"] for f in by_metric.values()) <= 5


def test_metric_values_and_defaults(synthesized):
    t = synthesized["template"]
    t.has_resource_properties(
        "AWS::Logs::MetricFilter",
        {
            "MetricTransformations": [
                {"MetricName": "Exfiltration", "MetricNamespace": "VpcWatch",
                 "MetricValue": "1", "DefaultValue": 0}
            ]
        },
    )  # fmt: skip
    t.has_resource_properties(
        "AWS::Logs::MetricFilter",
        {
            "MetricTransformations": [
                {"MetricName": "EgressVolume", "MetricNamespace": "VpcWatch",
                 "MetricValue": "$bytes", "DefaultValue": 0}
            ]
        },
    )  # fmt: skip


def test_alarms_count_with_sum_and_notify_the_topic(synthesized):
    t = synthesized["template"]
    t.resource_count_is("AWS::CloudWatch::Alarm", 10)
    topic = next(iter(t.find_resources("AWS::SNS::Topic")))
    t.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "AdminPortAccepted",
            "Namespace": "VpcWatch",
            "Statistic": "Sum",
            "Period": 60,
            "Threshold": 1,
            "EvaluationPeriods": 1,
            "DatapointsToAlarm": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": [{"Ref": topic}],
            "OKActions": Match.absent(),
            "AlarmDescription": Match.string_like_regexp(r"^\[HIGH\] Accepted connection.*T1133"),
        },
    )
    t.has_resource_properties("AWS::CloudWatch::Alarm", {"MetricName": "RejectedFlows",
                                                         "Threshold": 50})  # fmt: skip


def test_silence_alarm_on_incoming_log_events(synthesized):
    t = synthesized["template"]
    group = next(iter(t.find_resources("AWS::Logs::LogGroup")))
    t.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "AWS/Logs",
            "MetricName": "IncomingLogEvents",
            "Dimensions": [{"Name": "LogGroupName", "Value": {"Ref": group}}],
            "Period": 60,
            "EvaluationPeriods": 15,
            "DatapointsToAlarm": 15,
            "ComparisonOperator": "LessThanThreshold",
            "TreatMissingData": "breaching",
        },
    )


def test_dashboard_and_saved_queries(synthesized):
    t = synthesized["template"]
    t.resource_count_is("AWS::CloudWatch::Dashboard", 1)
    queries = t.find_resources("AWS::Logs::QueryDefinition")
    names = sorted(q["Properties"]["Name"] for q in queries.values())
    assert names == [
        "vpcwatch/Monitoring/FlowsToRdpWithInstance",
        "vpcwatch/Monitoring/RejectedPerMinute",
        "vpcwatch/Monitoring/SshSourcesByPackets",
        "vpcwatch/Monitoring/TopRejectedPorts",
    ]
    for query in queries.values():
        assert "parse @message" in query["Properties"]["QueryString"]


def test_tuning_namespace_ok_actions_and_no_dashboard(synthesized):
    t = synthesized["tuned_template"]
    t.resource_count_is("AWS::CloudWatch::Dashboard", 0)
    t.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "Team/Network",
            "Period": 300,
            "Threshold": 200,
            "EvaluationPeriods": 3,
            "DatapointsToAlarm": 2,
            "OKActions": [Match.any_value()],
        },
    )
    names = [
        q["Properties"]["Name"] for q in t.find_resources("AWS::Logs::QueryDefinition").values()
    ]
    assert "vpcwatch/Tuned/FlowsToRdp" in names  # the default format has no instance_id


def test_alarms_are_named_by_stack_and_detector(synthesized):
    t = synthesized["template"]
    names = sorted(a["Properties"]["AlarmName"]
                   for a in t.find_resources("AWS::CloudWatch::Alarm").values())  # fmt: skip
    assert names[:2] == [
        "vpcwatch-Monitoring-AdminPortAccepted",
        "vpcwatch-Monitoring-AdminPortProbes",
    ]
    arn = synthesized["monitoring"].alarm_arns["Exfiltration"]
    assert "vpcwatch-Monitoring-Exfiltration" in arn


def test_alarm_name_prefix_options():
    stack = cdk.Stack(cdk.App(), "Named", env=ENV)
    pipeline = _pipeline(stack)
    custom = FlowLogMonitoring(stack, "A", pipeline=pipeline, detectors=[rejected_flows()],
                               alarm_name_prefix="prod-net-")  # fmt: skip
    unnamed = FlowLogMonitoring(stack, "B", pipeline=pipeline, detectors=[rejected_flows()],
                                alarm_name_prefix=None, dashboard=False)  # fmt: skip
    resolved = stack.resolve(custom.alarm_arns["RejectedFlows"])
    assert "prod-net-RejectedFlows" in str(resolved)
    assert "Fn::GetAtt" in str(stack.resolve(unnamed.alarm_arns["RejectedFlows"]))
    with pytest.raises(ValueError, match="alarm_name_prefix must be printable text"):
        FlowLogMonitoring(stack, "C", pipeline=pipeline, detectors=[rejected_flows()],
                          alarm_name_prefix="bad\nprefix")  # fmt: skip


def test_attributes(synthesized):
    monitoring = synthesized["monitoring"]
    assert set(monitoring.alarms) == {d.name for d in monitoring.detectors}
    assert "EgressVolume" in monitoring.metric_filters
    assert monitoring.metric("Exfiltration").metric_name == "Exfiltration"
    with pytest.raises(KeyError, match="no metric 'Nope'; metrics: RejectedFlows"):
        monitoring.metric("Nope")


# -- bad input ---------------------------------------------------------------------------------


@pytest.fixture
def stack():
    return cdk.Stack(cdk.App(), "Bad", env=ENV)


def test_a_detector_needing_fields_the_format_lacks(stack):
    pipeline = _pipeline(stack, FlowLogFormat.default())
    with pytest.raises(DetectorError, match=r"Exfiltration needs the flow-log fields flow_direct"
                                            r"ion.*FlowLogFormat.all_fields\(\)"):  # fmt: skip
        FlowLogMonitoring(stack, "M", pipeline=pipeline)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"namespace": "AWS/Logs"}, ValueError, "namespace must be 1-255 .* not starting with"),
        ({"namespace": ""}, ValueError, "namespace must be"),
        ({"namespace": "a" * 256}, ValueError, "namespace must be"),
        ({"detectors": []}, ValueError, "detectors is empty"),
        ({"detectors": "RejectedFlows"}, TypeError, "detectors must be a list of Detector"),
        ({"detectors": [rejected_flows(), rejected_flows()]}, ValueError,
         "unique names; repeated: RejectedFlows"),
        ({"detectors": ["RejectedFlows"]}, TypeError, "Detector or SilenceDetector objects"),
        ({"alerts": "arn:aws:sns:x"}, TypeError, "alerts must be a vpcwatch.AlertTopic"),
        ({"notify_on_ok": "yes"}, TypeError, "notify_on_ok must be True or False"),
        ({"dashboard": 1}, TypeError, "dashboard must be True or False"),
    ],
)  # fmt: skip
def test_bad_arguments(stack, kwargs, error, message):
    pipeline = _pipeline(stack)
    kwargs.setdefault("detectors", [rejected_flows()])
    with pytest.raises(error, match=message):
        FlowLogMonitoring(stack, "M", pipeline=pipeline, **kwargs)


def test_pipeline_must_be_a_pipeline(stack):
    with pytest.raises(TypeError, match="pipeline must be a vpcwatch.FlowLogPipeline"):
        FlowLogMonitoring(stack, "M", pipeline="flow-logs")  # type: ignore[arg-type]


def test_more_than_five_regex_filters_per_log_group(stack):
    pipeline = _pipeline(stack)
    regex_filter = lambda fmt: fmt.filter().where("interface_id", "=", Regex("^eni-"))  # noqa: E731
    detectors = [
        dataclasses.replace(rejected_flows(), name=f"Probe{index}", build_filter=regex_filter)
        for index in range(6)
    ]
    with pytest.raises(ValueError, match="6 metric filters hold a regex .* allows 5"):
        FlowLogMonitoring(stack, "M", pipeline=pipeline, detectors=detectors)
    FlowLogMonitoring(stack, "Five", pipeline=pipeline, detectors=detectors[:5])


def test_contributor_detectors_are_insight_rules_with_an_alarm_on_the_top_contributor(
    synthesized,
):
    t, monitoring = synthesized["template"], synthesized["monitoring"]
    rules = t.find_resources("AWS::CloudWatch::InsightRule")
    assert len(rules) == 2 and set(monitoring.insight_rules) == {
        "SlowScanSources",
        "EgressTopTalkers",
    }
    for rule in rules.values():
        props = rule["Properties"]
        assert props["RuleState"] == "ENABLED"
        separator, parts = props["RuleBody"]["Fn::Join"]
        body = json.loads(separator.join(p if isinstance(p, str) else "LOG_GROUP" for p in parts))
        name = props["RuleName"].removeprefix(f"vpcwatch-{monitoring.node.scope.stack_name}-")
        detector = next(d for d in monitoring.detectors if d.name == name)
        # The body is the detector's, on the pipeline's log group, with Fields derived from
        # the format's positions (never written by hand).
        assert body == detector.rule_body(FMT, "LOG_GROUP")
        (reference,) = [p for p in parts if not isinstance(p, str)]
        log_groups = t.find_resources("AWS::Logs::LogGroup")
        assert reference["Ref"] in log_groups  # the flow-log group, by reference
        alarm = next(
            a["Properties"]
            for a in t.find_resources("AWS::CloudWatch::Alarm").values()
            if a["Properties"].get("AlarmName", "").endswith(f"-{name}")
        )
        (query,) = alarm["Metrics"]
        assert query["Expression"] == (
            f'INSIGHT_RULE_METRIC("{props["RuleName"]}", "MaxContributorValue")'
        )
        assert query["Period"] == detector.alarm.period == 3600
        assert alarm["Threshold"] == detector.alarm.threshold
    slow = next(d for d in monitoring.detectors if d.name == "SlowScanSources")
    assert slow.rule_body(FMT, "g")["Fields"] == {
        str(FMT.index(n) + 1): n for n in ("srcaddr", "dstport", "action")
    }


def test_the_dashboard_lists_each_rules_top_contributors(synthesized):
    t = synthesized["template"]
    (dashboard,) = t.find_resources("AWS::CloudWatch::Dashboard").values()
    separator, parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"]
    # References sit inside JSON strings (ARNs, the region): a placeholder keeps it JSON.
    body = json.loads(separator.join(p if isinstance(p, str) else "REF" for p in parts))
    rules = [w["properties"]["insightRule"] for w in body["widgets"]
             if "insightRule" in w.get("properties", {})]  # fmt: skip
    names = {r["ruleName"] for r in rules}
    assert {n.rsplit("-", 1)[-1] for n in names} == {"SlowScanSources", "EgressTopTalkers"}
    assert {(r["orderBy"], r["maxContributorCount"]) for r in rules} == {("Count", 10), ("Sum", 10)}
    positions = [(w["x"], w["y"]) for w in body["widgets"]]
    assert len(positions) == len(set(positions))  # laid out, not stacked at (0, 0)
