"""The demo stack: the seeds' lab, synthesized once for the whole module."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match

from support import DEMO_CONTEXT, TemplateSnapshot, checked_template, new_app
from vpcwatch import FlowLogFormat
from vpcwatch_demo.settings import DemoSettings
from vpcwatch_demo.stack import DemoStack


@pytest.fixture(scope="module")
def demo():
    app = new_app(DEMO_CONTEXT)
    stack = DemoStack(app, "Demo", settings=DemoSettings.from_context(app.node.try_get_context))
    return stack, checked_template(stack)


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.use_extension(TemplateSnapshot)


def test_snapshot(demo, snapshot_json):
    _, template = demo
    assert template.to_json() == snapshot_json


def test_vpc_has_two_azs_and_no_nat(demo):
    _, t = demo
    t.resource_count_is("AWS::EC2::VPC", 1)
    t.resource_count_is("AWS::EC2::NatGateway", 0)
    t.resource_count_is("AWS::EC2::Subnet", 4)


def test_web_servers_are_open_on_80_and_443_only(demo):
    _, t = demo
    t.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {
            "GroupDescription": "Web servers: 80/443 from anyone",
            "SecurityGroupIngress": [
                Match.object_like({"CidrIp": "0.0.0.0/0", "FromPort": 80, "ToPort": 80}),
                Match.object_like({"CidrIp": "0.0.0.0/0", "FromPort": 443, "ToPort": 443}),
            ],
        },
    )


def test_ssh_to_web_servers_only_from_the_bastion_group(demo):
    stack, t = demo
    bastion = stack.resolve(stack.bastion_security_group.security_group_id)
    t.has_resource_properties(
        "AWS::EC2::SecurityGroupIngress",
        {"FromPort": 22, "ToPort": 22, "IpProtocol": "tcp", "SourceSecurityGroupId": bastion},
    )


def test_bastion_admits_ssh_from_the_admin_network_only(demo):
    _, t = demo
    t.has_resource_properties(
        "AWS::EC2::SecurityGroup",
        {
            "GroupDescription": "Bastion: SSH from admins",
            "SecurityGroupIngress": [
                Match.object_like({"CidrIp": "203.0.113.10/32", "FromPort": 22, "ToPort": 22})
            ],
        },
    )


def test_all_fields_one_minute_encrypted_flow_logs(demo):
    stack, t = demo
    t.has_resource_properties(
        "AWS::EC2::FlowLog",
        {
            "ResourceType": "VPC",
            "MaxAggregationInterval": 60,
            "LogFormat": FlowLogFormat.all_fields().log_format,
        },
    )
    t.has_resource_properties("AWS::Logs::LogGroup", {"KmsKeyId": Match.any_value()})
    assert stack.pipeline.log_format == FlowLogFormat.all_fields()


def test_settings_defaults_when_context_is_empty():
    settings = DemoSettings.from_context(lambda key: None)
    assert settings.stack_name == "VpcWatchDemo"
    assert settings.admin_cidr == "203.0.113.10/32"


def test_settings_accept_comma_separated_destinations_from_the_command_line():
    context = {"vpcwatch:allowedDestinations": "10.0.0.0/8, 192.0.2.0/24"}
    settings = DemoSettings.from_context(context.get)
    assert settings.allowed_destinations == ("10.0.0.0/8", "192.0.2.0/24")


@pytest.mark.parametrize(
    ("key", "value"),
    [("vpcwatch:adminCidr", "my-ip"), ("vpcwatch:allowedDestinations", ["10.0.0.0/33"])],
)
def test_settings_refuse_bad_cidrs(key, value):
    with pytest.raises(ValueError, match=f"context {key} must be a CIDR block"):
        DemoSettings.from_context({key: value}.get)


def test_three_exposure_layers_are_in_the_demo(demo):
    stack, t = demo
    t.resource_count_is("AWS::Config::ConfigRule", 5)
    t.resource_count_is("AWS::Config::RemediationConfiguration", 1)
    t.has_resource_properties(
        "AWS::Events::Rule", {"EventPattern": Match.object_like({"source": ["aws.guardduty"]})}
    )
    from aws_cdk.assertions import Annotations

    guard_errors = Annotations.from_stack(stack).find_error(
        "*", Match.string_like_regexp("OpenIngressGuard.*")
    )
    assert guard_errors == []  # SSH reaches the web servers from the bastion's group only


def test_every_alarm_notifies_the_alert_topic(demo):
    _, t = demo
    topic = next(iter(t.find_resources("AWS::SNS::Topic")))
    alarms = t.find_resources("AWS::CloudWatch::Alarm")
    assert len(alarms) == 10 + 2  # the detectors, and the enricher's errors and failed events
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic}]


def test_flow_log_and_function_log_groups_share_the_pipelines_key(demo):
    stack, t = demo
    key = stack.resolve(stack.pipeline.encryption_key.key_arn)
    groups = t.find_resources("AWS::Logs::LogGroup")
    assert len(groups) == 2
    for group in groups.values():
        assert group["Properties"]["KmsKeyId"] == key


def test_the_demo_closes_its_default_security_group(demo):
    """vpc-default-security-group-closed, one of its own Config rules, must pass."""
    _, t = demo
    t.resource_count_is("Custom::VpcRestrictDefaultSG", 1)


def test_thresholds_from_context_tune_the_demo_detectors():
    """`vpcwatch tune --format context` output, given with -c, reaches the alarms."""
    context = {"vpcwatch:thresholds": '{"RejectedFlows": 16, "SlowScanSources": 12}'}
    settings = DemoSettings.from_context(context.get)
    assert dict(settings.thresholds) == {"RejectedFlows": 16, "SlowScanSources": 12}
    app = new_app({**DEMO_CONTEXT, "vpcwatch:thresholds": {"RejectedFlows": 16}})
    stack = DemoStack(app, "Tuned", settings=DemoSettings.from_context(app.node.try_get_context))
    assert stack.monitoring.alarms["RejectedFlows"] is not None
    tuned = next(d for d in stack.monitoring.detectors if d.name == "RejectedFlows")
    assert tuned.alarm.threshold == 16
    with pytest.raises(ValueError, match="vpcwatch:thresholds must be a JSON object"):
        DemoSettings.from_context({"vpcwatch:thresholds": "[1, 2]"}.get)
    with pytest.raises(ValueError, match="thresholds name no detector Nope"):
        bad = new_app({**DEMO_CONTEXT, "vpcwatch:thresholds": {"Nope": 1}})
        DemoStack(bad, "Bad", settings=DemoSettings.from_context(bad.node.try_get_context))
