"""ExposureRules (Config + remediation + routing) and PortProbeFindings (GuardDuty)."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk.assertions import Match

from support import checked_template, new_app
from vpcwatch import AlertTopic, ExposureRules, PortProbeFindings

ENV = cdk.Environment(account="111111111111", region="eu-west-1")


@pytest.fixture(scope="module")
def synthesized():
    app = new_app()
    stack = cdk.Stack(app, "Exposure", env=ENV)
    alerts = AlertTopic(stack, "Alerts")
    vpc = ec2.Vpc.from_vpc_attributes(stack, "Vpc", vpc_id="vpc-0a1b2c3d4e5f60001",
                                      availability_zones=["eu-west-1a"])  # fmt: skip
    rules = ExposureRules(stack, "Exposure", alerts=alerts, remediation=True,
                          remediation_vpcs=[vpc])  # fmt: skip
    probes = PortProbeFindings(stack, "Probes", alerts=alerts, min_severity=7)
    recorder_stack = cdk.Stack(app, "Recorder", env=ENV)
    small = ExposureRules(
        recorder_stack, "Exposure", restricted_ports=(6379,), create_recorder=True,
        rule_name_prefix="team-",
    )  # fmt: skip
    PortProbeFindings(recorder_stack, "Probes", alerts=AlertTopic(recorder_stack, "Alerts"),
                      enable_detector=True)  # fmt: skip
    return {
        "rules": rules,
        "probes": probes,
        "small": small,
        "template": checked_template(stack),
        "recorder": checked_template(recorder_stack),
    }


def test_managed_rules_scoped_to_their_resources(synthesized):
    t = synthesized["template"]
    expected = {
        "vpcwatch-Exposure-restricted-ssh": ("INCOMING_SSH_DISABLED", "AWS::EC2::SecurityGroup"),
        "vpcwatch-Exposure-restricted-common-ports-1": ("RESTRICTED_INCOMING_TRAFFIC",
                                               "AWS::EC2::SecurityGroup"),
        "vpcwatch-Exposure-restricted-common-ports-2": ("RESTRICTED_INCOMING_TRAFFIC",
                                               "AWS::EC2::SecurityGroup"),
        "vpcwatch-Exposure-vpc-flow-logs-enabled": ("VPC_FLOW_LOGS_ENABLED", "AWS::EC2::VPC"),
        "vpcwatch-Exposure-vpc-default-security-group-closed": ("VPC_DEFAULT_SECURITY_GROUP_CLOSED",
                                                       "AWS::EC2::SecurityGroup"),
    }  # fmt: skip
    rules = t.find_resources("AWS::Config::ConfigRule")
    assert len(rules) == len(expected)
    for name, (identifier, resource_type) in expected.items():
        t.has_resource_properties(
            "AWS::Config::ConfigRule",
            {
                "ConfigRuleName": name,
                "Source": {"Owner": "AWS", "SourceIdentifier": identifier},
                "Scope": {"ComplianceResourceTypes": [resource_type]},
            },
        )


def test_more_than_five_ports_make_predictably_named_rules(synthesized):
    t = synthesized["template"]
    t.has_resource_properties(
        "AWS::Config::ConfigRule",
        {
            "ConfigRuleName": "vpcwatch-Exposure-restricted-common-ports-1",
            "InputParameters": {"blockedPort1": "20", "blockedPort2": "21", "blockedPort3": "3389",
                                "blockedPort4": "3306", "blockedPort5": "4333"},
        },
    )  # fmt: skip
    t.has_resource_properties(
        "AWS::Config::ConfigRule",
        {
            "ConfigRuleName": "vpcwatch-Exposure-restricted-common-ports-2",
            "InputParameters": {"blockedPort1": "5432", "blockedPort2": "6379",
                                "blockedPort3": "9200", "blockedPort4": "27017"},
        },
    )  # fmt: skip
    assert list(synthesized["rules"].rules)[:3] == [
        "RestrictedSsh", "RestrictedCommonPorts1", "RestrictedCommonPorts2",
    ]  # fmt: skip


def test_remediation_parameters_are_pascal_case(synthesized):
    t = synthesized["template"]
    role = next(
        k for k, v in t.find_resources("AWS::IAM::Role").items()
        if "ssm.amazonaws.com" in str(v)
    )  # fmt: skip
    t.has_resource_properties(
        "AWS::Config::RemediationConfiguration",
        {
            "TargetType": "SSM_DOCUMENT",
            "TargetId": "AWS-DisablePublicAccessForSecurityGroup",
            "Automatic": True,
            "MaximumAutomaticAttempts": 3,
            "RetryAttemptSeconds": 60,
            "Parameters": {
                "AutomationAssumeRole": {
                    "StaticValue": {"Values": [{"Fn::GetAtt": [role, "Arn"]}]}
                },
                "GroupId": {"ResourceValue": {"Value": "RESOURCE_ID"}},
            },
        },
    )
    remediation = next(iter(t.find_resources("AWS::Config::RemediationConfiguration").values()))
    assert "staticValue" not in str(remediation) and "resourceValue" not in str(remediation)


def test_remediation_role_has_only_what_the_runbook_needs(synthesized):
    t = synthesized["template"]
    statements = [
        s
        for policy in t.find_resources("AWS::IAM::Policy").values()
        if "RemediationRole" in str(policy["Properties"]["Roles"])
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    ]
    actions = sorted(a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str)
                                                        else s["Action"]))  # fmt: skip
    assert actions == ["ec2:DescribeSecurityGroups", "ec2:RevokeSecurityGroupIngress"]
    revoke = next(s for s in statements if s["Action"] == "ec2:RevokeSecurityGroupIngress")
    assert revoke["Condition"] == {"ArnEquals": {"ec2:Vpc": [{"Fn::Join": ["", [
        "arn:", {"Ref": "AWS::Partition"},
        ":ec2:eu-west-1:111111111111:vpc/vpc-0a1b2c3d4e5f60001"]]}]}}  # fmt: skip


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"remediation": True}, "remediation=True needs remediation_vpcs"),
        ({"remediation_vpcs": []}, "remediation_vpcs is given but remediation is False"),
        ({"remediation": True, "remediation_vpcs": []}, "at least one VPC"),
        ({"remediation": True, "remediation_vpcs": ["vpc-1"]}, "remediation_vpcs.0. must be"),
    ],
)
def test_remediation_needs_the_vpcs_it_may_change(kwargs, message):
    stack = cdk.Stack(cdk.App(), "Bad", env=ENV)
    with pytest.raises((TypeError, ValueError), match=message):
        ExposureRules(stack, "Exposure", **kwargs)


def test_non_compliant_changes_go_to_the_topic_readably(synthesized):
    t = synthesized["template"]
    topic = next(iter(t.find_resources("AWS::SNS::Topic")))
    t.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.config"],
                "detail-type": ["Config Rules Compliance Change"],
                "detail": {
                    "configRuleName": Match.any_value(),
                    "newEvaluationResult": {"complianceType": ["NON_COMPLIANT"]},
                },
            },
            "Targets": [
                Match.object_like(
                    {
                        "Arn": {"Ref": topic},
                        "InputTransformer": {
                            "InputPathsMap": Match.object_like(
                                {"detail-configRuleName": "$.detail.configRuleName",
                                 "detail-resourceId": "$.detail.resourceId",
                                 "detail-awsAccountId": "$.detail.awsAccountId",
                                 "detail-awsRegion": "$.detail.awsRegion"}
                            ),
                            "InputTemplate": Match.string_like_regexp(
                                ".*Config rule <detail-configRuleName> found.*NON_COMPLIANT.*"
                            ),
                        },
                    }
                )
            ],
        },
    )  # fmt: skip


def test_port_probe_findings(synthesized):
    t = synthesized["template"]
    t.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.guardduty"],
                "detail-type": ["GuardDuty Finding"],
                "detail": {"type": ["Recon:EC2/PortProbeUnprotectedPort"]},
            },
            "Targets": [Match.object_like({"InputTransformer": Match.object_like({
                "InputTemplate": Match.string_like_regexp(
                    ".*instance <detail-resource-instanceDetails-instanceId> port .* probed "
                    "from .*guardduty/home.*"
                )})})],
        },
    )  # fmt: skip
    t.has_resource_properties(
        "AWS::Events::Rule",
        {"EventPattern": Match.object_like({"detail": {"severity": [{"numeric": [">=", 7]}]}})},
    )
    t.resource_count_is("AWS::GuardDuty::Detector", 0)
    assert len(synthesized["probes"].rules) == 2


def test_recorder_and_detector_when_asked(synthesized):
    t = synthesized["recorder"]
    t.resource_count_is("AWS::Config::ConfigurationRecorder", 1)
    t.resource_count_is("AWS::Config::DeliveryChannel", 1)
    t.resource_count_is("AWS::GuardDuty::Detector", 1)
    t.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "PublicAccessBlockConfiguration": Match.object_like({"BlockPublicAcls": True}),
            "LifecycleConfiguration": Match.any_value(),
        },
    )
    t.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {"PolicyDocument": {"Statement": Match.array_with([Match.object_like(
            {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})])}},
    )  # fmt: skip
    recorder = next(iter(t.find_resources("AWS::Config::ConfigurationRecorder")))
    for rule in t.find_resources("AWS::Config::ConfigRule").values():
        assert recorder in rule["DependsOn"]
    assert synthesized["small"].rule_names[1] == "team-restricted-common-ports-1"


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"restricted_ports": ()}, ValueError, "restricted_ports must be a non-empty list"),
        ({"restricted_ports": (99999,)}, ValueError, "restricted_ports must be"),
        ({"remediation": "yes"}, TypeError, "remediation must be True or False"),
        ({"create_recorder": 1}, TypeError, "create_recorder must be True or False"),
        ({"alerts": "topic"}, TypeError, "alerts must be a vpcwatch.AlertTopic"),
        ({"rule_name_prefix": "bad prefix!"}, ValueError, "rule_name_prefix must be"),
    ],
)
def test_exposure_rules_bad_arguments(kwargs, error, message):
    stack = cdk.Stack(cdk.App(), "Bad", env=ENV)
    with pytest.raises(error, match=message):
        ExposureRules(stack, "Exposure", **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"alerts": None}, TypeError, "alerts must be a vpcwatch.AlertTopic"),
        ({"min_severity": 9}, ValueError, "min_severity must be from 1.0 to 8.9"),
        ({"min_severity": "high"}, ValueError, "min_severity must be"),
        ({"enable_detector": "yes"}, TypeError, "enable_detector must be True or False"),
    ],
)
def test_port_probe_findings_bad_arguments(kwargs, error, message):
    stack = cdk.Stack(cdk.App(), "Bad", env=ENV)
    kwargs = {"alerts": AlertTopic(stack, "Alerts"), **kwargs}
    with pytest.raises(error, match=message):
        PortProbeFindings(stack, "Probes", **kwargs)
