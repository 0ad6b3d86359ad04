"""Where users stand: the defaults together, REJECT-only flow logs, aws-cdk-lib's own types,
any SNS topic, and the ingress guard inside CDK Pipelines stages.

Each case here failed, or passed silently weakened, before vpcwatch was made field-ready.
"""

from __future__ import annotations

import json
import re

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Annotations, Match

from support import checked_template, new_app
from vpcwatch import (
    AlarmEnricher,
    FlowLogFormat,
    FlowLogMonitoring,
    FlowLogPipeline,
    OpenIngressGuard,
    PortProbeFindings,
)
from vpcwatch.detectors import admin_port_probes, default_detectors, rejected_flows
from vpcwatch.replay.files import replay_files
from vpcwatch.replay.template import load_plan
from vpcwatch.traffic import generate

ENV = cdk.Environment(account="111111111111", region="eu-west-1")


def _vpc(stack: cdk.Stack) -> ec2.Vpc:
    return ec2.Vpc(stack, "Vpc", max_azs=1, nat_gateways=0)


@pytest.fixture(scope="module")
def defaults():
    """FlowLogMonitoring(pipeline=FlowLogPipeline(vpc=vpc)): nothing else given."""
    app = new_app()
    stack = cdk.Stack(app, "Defaults", env=ENV)
    monitoring = FlowLogMonitoring(
        stack, "Monitoring", pipeline=FlowLogPipeline(stack, "FlowLogs", vpc=_vpc(stack))
    )
    return monitoring, checked_template(stack)


def test_the_default_pipeline_and_detectors_synthesize_together(defaults):
    monitoring, template = defaults
    assert monitoring.pipeline.log_format == FlowLogFormat.detection()
    assert [d.name for d in monitoring.detectors] == [d.name for d in default_detectors()]
    template.resource_count_is("AWS::CloudWatch::Alarm", len(default_detectors()))


def test_every_default_detector_fires_on_its_incident(defaults, tmp_path):
    """Replay of the synthesized template: each default alarm fires (none is deaf)."""
    _, template = defaults
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template.to_json()))
    plan = load_plan(path)
    incidents = {5: ("ssh-scan",), 8: ("port-scan",), 11: ("rdp-accepted",),
                 14: ("exfiltration",), 17: ("skipdata",), 50: ("chunked-exfil",),
                 **{minute: ("outage",) for minute in range(20, 40)}}  # fmt: skip
    # 20 silent minutes: FlowLogsStopped needs 17 (15 datapoints + the range's 2 more).
    traffic = tmp_path / "flows.log"
    lines = generate(plan.log_format, minutes=80, seed=2, incidents=incidents)
    traffic.write_text("\n".join(lines) + "\n")
    result = replay_files(plan, [traffic])
    assert {alarm.name for alarm in plan.alarms} == result.fired()
    assert len(result.fired()) == len(default_detectors())


@pytest.mark.parametrize(
    "traffic_type", ["REJECT", ec2.FlowLogTrafficType.REJECT, "ACCEPT"], ids=str
)
def test_a_flow_log_that_cannot_feed_a_detector_fails_at_synth(traffic_type):
    stack = cdk.Stack(cdk.App(), "Deaf", env=ENV)
    pipeline = FlowLogPipeline(stack, "FlowLogs", vpc=_vpc(stack), traffic_type=traffic_type)
    deaf = "AdminPortAccepted.*Exfiltration" if "REJECT" in str(traffic_type) else "RejectedFlows"
    with pytest.raises(ValueError, match=f"detectors cannot fire on this pipeline.*{deaf}"):
        FlowLogMonitoring(stack, "Monitoring", pipeline=pipeline)


def test_reject_only_flow_logs_take_the_detectors_of_rejected_traffic():
    stack = cdk.Stack(new_app(), "RejectOnly", env=ENV)
    pipeline = FlowLogPipeline(stack, "FlowLogs", vpc=_vpc(stack), traffic_type="REJECT")
    monitoring = FlowLogMonitoring(
        stack, "Monitoring", pipeline=pipeline,
        detectors=[rejected_flows(), admin_port_probes()[0]],
    )  # fmt: skip
    assert set(monitoring.alarms) == {"RejectedFlows", "AdminPortProbes"}


def test_aws_cdk_lib_aggregation_interval_enum():
    stack = cdk.Stack(new_app(), "Interval", env=ENV)
    interval = ec2.FlowLogMaxAggregationInterval.TEN_MINUTES
    FlowLogPipeline(stack, "FlowLogs", vpc=_vpc(stack), max_aggregation_interval=interval)
    checked_template(stack).has_resource_properties(
        "AWS::EC2::FlowLog", {"MaxAggregationInterval": 600}
    )


@pytest.fixture(scope="module")
def own_topics():
    """Alerts to topics the user made: one of this app with its own key, one imported."""
    app = new_app()
    stack = cdk.Stack(app, "OwnTopic", env=ENV)
    key = kms.Key(stack, "TeamKey", enable_key_rotation=True)
    topic = sns.Topic(stack, "TeamTopic", master_key=key, enforce_ssl=True)
    pipeline = FlowLogPipeline(stack, "FlowLogs", vpc=_vpc(stack))
    monitoring = FlowLogMonitoring(stack, "Monitoring", pipeline=pipeline, alerts=topic)
    AlarmEnricher(stack, "Enricher", monitoring=monitoring, alerts=topic)
    imported_stack = cdk.Stack(app, "ImportedTopic", env=ENV)
    imported = sns.Topic.from_topic_arn(
        imported_stack, "Central", "arn:aws:sns:eu-west-1:111111111111:central"
    )
    PortProbeFindings(imported_stack, "PortProbes", alerts=imported)
    return stack, checked_template(stack), imported_stack, checked_template(imported_stack)


def test_alarms_notify_a_topic_of_the_app(own_topics):
    stack, template, _, _ = own_topics
    topic = stack.resolve(stack.node.find_child("TeamTopic").topic_arn)
    for alarm in template.find_resources("AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"] == [topic]


def test_the_topic_and_its_key_admit_the_publishers(own_topics):
    stack, template, _, _ = own_topics
    key = stack.resolve(stack.node.find_child("TeamKey").node.default_child.logical_id)
    policy = template.to_json()["Resources"][key]["Properties"]["KeyPolicy"]
    sids = {s.get("Sid") for s in policy["Statement"]}
    assert {"AllowAlarmsToPublish", "AllowEventRulesToPublish"} <= sids
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {"PolicyDocument": {"Statement": Match.array_with(
            [Match.object_like({"Sid": "AllowAlertPublishers", "Action": "sns:Publish"})]
        )}},
    )  # fmt: skip
    assert Annotations.from_stack(stack).find_warning("*", Match.any_value()) == []


def test_an_imported_topic_is_used_with_a_warning_about_its_key(own_topics):
    _, _, imported_stack, template = own_topics
    template.has_resource_properties(
        "AWS::Events::Rule",
        {"Targets": [Match.object_like({"Arn": "arn:aws:sns:eu-west-1:111111111111:central"})]},
    )
    Annotations.from_stack(imported_stack).has_warning(
        "*", Match.string_like_regexp(".*cloudwatch.amazonaws.com and events.amazonaws.com.*")
    )


@pytest.mark.parametrize("alerts", ["arn:aws:sns:eu-west-1:111111111111:t", 3])
def test_alerts_that_are_not_topics_are_refused(alerts):
    stack = cdk.Stack(cdk.App(), "BadAlerts", env=ENV)
    pipeline = FlowLogPipeline(stack, "FlowLogs", vpc=_vpc(stack))
    with pytest.raises(TypeError, match="alerts must be a vpcwatch.AlertTopic or an sns.ITopic"):
        FlowLogMonitoring(stack, "Monitoring", pipeline=pipeline, alerts=alerts)


# -- the ingress guard in CDK Pipelines stages ---------------------------------------------


def _open_group(stack: cdk.Stack) -> None:
    group = ec2.SecurityGroup(stack, "Web", vpc=_vpc(stack))
    group.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(22), "the mistake")


def _guard_errors(assembly) -> list[str]:
    """The guard's error messages in every stack of ``assembly`` (not nested ones)."""
    return [
        str(m.entry.data)
        for stack in assembly.stacks
        for m in stack.messages
        if m.level.name == "ERROR" and "OpenIngressGuard" in str(m.entry.data)
    ]


def test_the_guard_reaches_stacks_inside_a_stage():
    app = cdk.App()
    _open_group(cdk.Stack(app, "Top", env=ENV))
    _open_group(cdk.Stack(cdk.Stage(app, "Prod"), "Network", env=ENV))
    OpenIngressGuard.protect(app)
    assembly = app.synth()
    assert _guard_errors(assembly)
    errors = _guard_errors(assembly.get_nested_assembly("assembly-Prod"))
    assert errors and "admits 0.0.0.0/0 to port 22" in errors[0]


def test_the_guard_reaches_a_stage_of_a_pipeline_stack_in_a_stackless_app():
    """CDK Pipelines' shape: the app holds a pipeline stack, the stage lives inside it."""
    app = cdk.App()
    pipeline_stack = cdk.Stack(app, "Pipeline", env=ENV)
    stage = cdk.Stage(pipeline_stack, "Prod")
    _open_group(cdk.Stack(stage, "Network", env=ENV))
    OpenIngressGuard.protect(app)
    assert _guard_errors(app.synth().get_nested_assembly("assembly-Pipeline-Prod"))


def test_an_app_aspect_that_cannot_see_a_stage_fails_the_synth():
    """cdk.Aspects.of(app).add(guard) never visits a nested stage: say so, loudly."""
    app = cdk.App()
    _open_group(cdk.Stack(cdk.Stage(app, "Prod"), "Network", env=ENV))
    cdk.Aspects.of(app).add(OpenIngressGuard())
    with pytest.raises(Exception, match="does not cover the stage.*Prod.*protect"):
        app.synth()


def test_a_stage_added_after_protect_fails_the_synth():
    app = cdk.App()
    OpenIngressGuard.protect(app)
    _open_group(cdk.Stack(cdk.Stage(app, "Late"), "Network", env=ENV))
    with pytest.raises(Exception, match="does not cover the stage.*Late"):
        app.synth()


def test_replay_names_each_alarm_by_its_detector_with_unit_and_severity(defaults, tmp_path):
    from vpcwatch.replay.report import as_json, as_text

    _, template = defaults
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template.to_json()))
    plan = load_plan(path)
    traffic = tmp_path / "flows.log"
    lines = generate(plan.log_format, minutes=10, seed=4, incidents={3: ("ssh-scan",)})
    traffic.write_text("\n".join(lines) + "\n")
    result = replay_files(plan, [traffic])
    text = as_text(result, plan)
    assert "FlowLogsStopped (high, metric IncomingLogEvents)" in text
    assert re.search(r"AdminPortProbes \(low\) +OK -> ALARM", text)
    assert "records in 1 min (>= 30): Probes on admin ports 22/3389 from outside" in text
    assert "IncomingLogEvents  " not in text  # never the metric instead of the detector
    report = as_json(result, plan)
    (probe,) = [
        t for t in report["transitions"] if t["alarm"] == "AdminPortProbes" and t["to"] == "ALARM"
    ]
    assert (probe["alarm"], probe["severity"], probe["unit"]) == ("AdminPortProbes", "low",
                                                                   "records")  # fmt: skip
