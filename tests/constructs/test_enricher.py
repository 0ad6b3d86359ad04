"""AlarmEnricher: least-privilege role, the trigger, retention, and its configuration."""

from __future__ import annotations

import importlib.util
import sys

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk.assertions import Match

from support import ROOT, checked_template, new_app
from vpcwatch import AlarmEnricher, AlertTopic, FlowLogFormat, FlowLogMonitoring, FlowLogPipeline
from vpcwatch.detectors import admin_port_probes, flow_log_health, rejected_flows
from vpcwatch.queries import enrichment_query

ENV = cdk.Environment(account="111111111111", region="eu-west-1")
FMT = FlowLogFormat.all_fields()


@pytest.fixture(scope="module")
def synthesized():
    app = new_app()
    stack = cdk.Stack(app, "Enriched", env=ENV)
    vpc = ec2.Vpc(stack, "Vpc", max_azs=1, nat_gateways=0)
    pipeline = FlowLogPipeline(stack, "FlowLogs", vpc=vpc, log_format=FMT)
    alerts = AlertTopic(stack, "Alerts")
    detectors = [rejected_flows(), *admin_port_probes(), *flow_log_health()]
    monitoring = FlowLogMonitoring(stack, "Monitoring", pipeline=pipeline, alerts=alerts,
                                   detectors=detectors)  # fmt: skip
    enricher = AlarmEnricher(stack, "Enricher", monitoring=monitoring, alerts=alerts, max_rows=5)
    return {"template": checked_template(stack), "enricher": enricher, "stack": stack}


def _resource_id(t, kind, contains=""):
    return next(k for k, v in t.find_resources(kind).items() if contains in str(v) or not contains)


def test_function_runtime_retention_concurrency_and_failure_destination(synthesized):
    t = synthesized["template"]
    queue = _resource_id(t, "AWS::SQS::Queue")
    t.has_resource_properties(
        "AWS::Lambda::Function",
        {"Runtime": "python3.12", "Handler": "handler.handler", "Timeout": 60,
         "ReservedConcurrentExecutions": 2},
    )  # fmt: skip
    t.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {"MaximumRetryAttempts": 2,
         "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [queue, "Arn"]}}}},
    )  # fmt: skip
    t.has_resource_properties("AWS::Logs::LogGroup", {"RetentionInDays": 30})


def test_role_may_query_only_the_flow_log_group(synthesized):
    t = synthesized["template"]
    flow_group = _resource_id(t, "AWS::Logs::LogGroup", "vpcwatch/flowlogs")
    topic = _resource_id(t, "AWS::SNS::Topic")
    key = _resource_id(t, "AWS::KMS::Key", "AllowAlarmsToPublish")
    policy = next(
        v for v in t.find_resources("AWS::IAM::Policy").values() if "StartQuery" in str(v)
    )
    by_action = {
        (tuple(s["Action"]) if isinstance(s["Action"], list) else (s["Action"],)): s["Resource"]
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    }
    assert by_action[("logs:StartQuery",)] == {"Fn::GetAtt": [flow_group, "Arn"]}
    assert by_action[("sns:Publish",)] == {"Ref": topic}
    assert by_action[("kms:GenerateDataKey*", "kms:Decrypt")] == {"Fn::GetAtt": [key, "Arn"]}
    assert by_action[("logs:GetQueryResults", "logs:StopQuery")] == "*"
    assert by_action[("ec2:DescribeNetworkInterfaces", "ec2:DescribeSecurityGroups")] == "*"
    queue = _resource_id(t, "AWS::SQS::Queue")
    sqs = next(actions for actions in by_action if actions[0].startswith("sqs:"))
    assert by_action[sqs] == {"Fn::GetAtt": [queue, "Arn"]}  # the failure destination
    assert len(by_action) == 7  # and nothing else


def test_trigger_is_the_monitoring_alarms_going_to_alarm(synthesized):
    t = synthesized["template"]
    alarms = {
        k: v
        for k, v in t.find_resources("AWS::CloudWatch::Alarm").items()
        if "-Enricher" not in v["Properties"]["AlarmName"]  # the monitoring's, not its own
    }
    function = _resource_id(t, "AWS::Lambda::Function")
    expected = [
        {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"},
                           f":cloudwatch:eu-west-1:111111111111:alarm:{a['Properties']['AlarmName']}"]]}
        for a in alarms.values()
    ]  # fmt: skip
    t.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.cloudwatch"],
                "detail-type": ["CloudWatch Alarm State Change"],
                "resources": expected,
                "detail": {"state": {"value": ["ALARM"]}},
            },
            "Targets": [Match.object_like({"Arn": {"Fn::GetAtt": [function, "Arn"]}})],
        },
    )
    names = sorted(a["Properties"]["AlarmName"] for a in alarms.values())
    assert names[0] == "vpcwatch-Enriched-AdminPortAccepted" and len(names) == 5
    everything = t.find_resources("AWS::CloudWatch::Alarm").values()
    own = sorted(a["Properties"]["AlarmName"] for a in everything)
    assert [n for n in own if "-Enricher" in n] == [
        "vpcwatch-Enriched-EnricherErrors",
        "vpcwatch-Enriched-EnricherFailedEvents",
    ]


def test_configuration_holds_the_librarys_queries(synthesized):
    t, stack = synthesized["template"], synthesized["stack"]
    function = next(iter(t.find_resources("AWS::Lambda::Function").values()))
    environment = function["Properties"]["Environment"]["Variables"]
    spec = importlib.util.spec_from_file_location(
        "enricher_handler_for_config", ROOT / "lambda" / "enricher" / "handler.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    config = module.load_config(environment["VPCWATCH_CONFIG"])
    probes = admin_port_probes()[1]
    assert config["detectors"]["AdminPortAccepted"]["query"] == enrichment_query(
        probes.filter_for(FMT), 5
    )
    assert config["maxRows"] == 5 and config["windowSeconds"]["FlowLogsStopped"] == 900
    silence = config["detectors"]["FlowLogsStopped"]  # a title, no flow query
    assert "query" not in silence and silence["title"] == "Flow logs stopped arriving"
    # One name per alarm: the enricher finds the detector by the alarm's name.
    assert config["alarms"]["vpcwatch-Enriched-FlowLogsStopped"] == "FlowLogsStopped"
    assert environment["VPCWATCH_TOPIC_ARN"] == {"Ref": _resource_id(t, "AWS::SNS::Topic")}
    del stack


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"max_rows": 0}, ValueError, "max_rows must be an integer from 1 to 50"),
        ({"max_rows": 51}, ValueError, "max_rows must be"),
        ({"monitoring": "m"}, TypeError, "monitoring must be a vpcwatch.FlowLogMonitoring"),
        ({"alerts": "a"}, TypeError, "alerts must be a vpcwatch.AlertTopic"),
        ({"send_events": "yes"}, TypeError, "send_events must be True or False"),
    ],
)
def test_bad_arguments(kwargs, error, message):
    stack = cdk.Stack(cdk.App(), "Bad", env=ENV)
    vpc = ec2.Vpc(stack, "Vpc", max_azs=1, nat_gateways=0)
    pipeline = FlowLogPipeline(stack, "FlowLogs", vpc=vpc)
    alerts = AlertTopic(stack, "Alerts")
    monitoring = FlowLogMonitoring(stack, "M", pipeline=pipeline, detectors=[rejected_flows()])
    arguments = {"monitoring": monitoring, "alerts": alerts, **kwargs}
    with pytest.raises(error, match=message):
        AlarmEnricher(stack, "Enricher", **arguments)


def test_the_enricher_is_watched_by_cloudwatch_not_by_itself(synthesized):
    """Errors and the failure queue's depth alarm through CloudWatch's own SNS action:
    a failing publish in the function cannot hide the function's failure."""
    t, enricher = synthesized["template"], synthesized["enricher"]
    topic = _resource_id(t, "AWS::SNS::Topic")
    assert set(enricher.health_alarms) == {"Errors", "FailedEvents"}
    t.has_resource_properties("AWS::CloudWatch::Alarm", {
        "MetricName": "Errors", "Namespace": "AWS/Lambda", "Statistic": "Sum", "Threshold": 1,
        "AlarmActions": [{"Ref": topic}], "TreatMissingData": "notBreaching"})  # fmt: skip
    t.has_resource_properties("AWS::CloudWatch::Alarm", {
        "MetricName": "ApproximateNumberOfMessagesVisible", "Namespace": "AWS/SQS",
        "Threshold": 1, "AlarmActions": [{"Ref": topic}]})  # fmt: skip
    t.has_resource_properties("AWS::SQS::Queue", {"MessageRetentionPeriod": 14 * 24 * 3600})


def test_egress_detectors_look_up_the_sender():
    from vpcwatch.detectors import exfiltration, rejected_flows

    assert exfiltration().internal_address == "srcaddr"
    assert rejected_flows().internal_address == "dstaddr"


def test_an_imported_pipeline_key_encrypts_the_function_logs_with_a_warning():
    from aws_cdk import aws_kms as kms
    from aws_cdk.assertions import Annotations

    stack = cdk.Stack(cdk.App(), "ImportedKey", env=ENV)
    key = kms.Key.from_key_arn(
        stack, "Key", "arn:aws:kms:eu-west-1:111111111111:key/11111111-2222-3333-4444-555555555555"
    )
    vpc = ec2.Vpc(stack, "Vpc", max_azs=1, nat_gateways=0)
    pipeline = FlowLogPipeline(stack, "FlowLogs", vpc=vpc, log_format=FMT, encryption_key=key)
    alerts = AlertTopic(stack, "Alerts")
    monitoring = FlowLogMonitoring(stack, "Monitoring", pipeline=pipeline, alerts=alerts,
                                   detectors=[rejected_flows()])  # fmt: skip
    AlarmEnricher(stack, "Enricher", monitoring=monitoring, alerts=alerts)
    template = cdk.assertions.Template.from_stack(stack)
    for group in template.find_resources("AWS::Logs::LogGroup").values():
        assert group["Properties"]["KmsKeyId"] == key.key_arn
    Annotations.from_stack(stack).has_warning(
        "/ImportedKey/Enricher", Match.string_like_regexp(".*the enricher's logs.*")
    )
