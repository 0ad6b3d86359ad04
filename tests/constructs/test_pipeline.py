"""FlowLogPipeline: one log group, a safe role, KMS wiring, every argument validated."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Match

from support import checked_template, new_app
from vpcwatch import FlowLogFormat, FlowLogPipeline, TrafficType
from vpcwatch.constructs._validation import acknowledge

ENV = cdk.Environment(account="111111111111", region="eu-west-1")


def _stack(app: cdk.App, name: str) -> cdk.Stack:
    return cdk.Stack(app, name, env=ENV)


@pytest.fixture(scope="module")
def templates():
    """Every scenario in one app: one synth per stack, shared by the module's tests."""
    app = new_app()
    made = {}

    stack = _stack(app, "Defaults")
    made["defaults_pipeline"] = FlowLogPipeline(stack, "FlowLogs", vpc=ec2.Vpc(stack, "Vpc"))
    made["defaults"] = stack

    stack = _stack(app, "Kms")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=0)
    made["kms_pipeline"] = FlowLogPipeline(
        stack,
        "FlowLogs",
        subnets=vpc.public_subnets,
        network_interface_ids=["eni-0123456789abcdef0"],
        encryption_key=True,
        traffic_type="REJECT",
        max_aggregation_interval=cdk.Duration.minutes(10),
        retention=logs.RetentionDays.ONE_DAY,
        removal_policy=cdk.RemovalPolicy.DESTROY,
        log_format=FlowLogFormat.of("srcaddr", "dstaddr", "dstport", "action"),
    )
    made["kms"] = stack
    acknowledge(vpc, [("VPC7", "This test logs the VPC's subnets one by one instead.")])

    stack = _stack(app, "Imported")
    vpc = ec2.Vpc.from_vpc_attributes(
        stack, "Vpc", vpc_id="vpc-0abc1234", availability_zones=["eu-west-1a"]
    )
    group = logs.LogGroup.from_log_group_name(stack, "Group", "existing-flow-logs")
    made["imported_pipeline"] = FlowLogPipeline(stack, "FlowLogs", vpc=vpc, log_group=group)
    made["imported"] = stack

    made.update({name: checked_template(made[name]) for name in ("defaults", "kms", "imported")})
    return made


def test_one_log_group_with_a_year_of_retention_and_retained(templates):
    t = templates["defaults"]
    t.resource_count_is("AWS::Logs::LogGroup", 1)
    t.has_resource(
        "AWS::Logs::LogGroup",
        {
            "Properties": {"RetentionInDays": 365, "KmsKeyId": Match.absent()},
            "DeletionPolicy": "Retain",
        },
    )


def test_flow_log_properties_default(templates):
    templates["defaults"].has_resource_properties(
        "AWS::EC2::FlowLog",
        {
            "ResourceType": "VPC",
            "TrafficType": "ALL",
            "MaxAggregationInterval": 60,
            "LogDestinationType": "cloud-watch-logs",
            "LogFormat": FlowLogFormat.detection().log_format,
            "LogGroupName": {"Ref": Match.string_like_regexp("FlowLogsLogGroup")},
        },
    )


def test_role_trust_has_confused_deputy_conditions(templates):
    templates["defaults"].has_resource_properties(
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": {
                "Statement": [
                    {
                        "Action": "sts:AssumeRole",
                        "Effect": "Allow",
                        "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                        "Condition": {
                            "StringEquals": {"aws:SourceAccount": "111111111111"},
                            "ArnLike": {
                                "aws:SourceArn": {
                                    "Fn::Join": [
                                        "",
                                        [
                                            "arn:",
                                            {"Ref": "AWS::Partition"},
                                            ":ec2:eu-west-1:111111111111:vpc-flow-log/*",
                                        ],
                                    ]
                                }
                            },
                        },
                    }
                ]
            }
        },
    )


def test_role_may_only_write_to_this_log_group(templates):
    t = templates["defaults"]
    policies = t.find_resources("AWS::IAM::Policy")
    assert len(policies) == 1
    (policy,) = policies.values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    group_id = next(iter(t.find_resources("AWS::Logs::LogGroup")))
    assert statements == [
        {
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [group_id, "Arn"]},
        }
    ]


def test_no_pass_role_anywhere(templates):
    for name in ("defaults", "kms", "imported"):
        assert "iam:PassRole" not in str(templates[name].to_json())


def test_kms_key_policy_admits_regional_logs_for_this_group_only(templates):
    t = templates["kms"]
    t.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    group = next(iter(t.find_resources("AWS::Logs::LogGroup").values()))
    name = group["Properties"]["LogGroupName"]
    t.has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Principal": {"Service": "logs.eu-west-1.amazonaws.com"},
                                "Action": Match.array_with(["kms:GenerateDataKey*"]),
                                "Condition": {
                                    "ArnEquals": {
                                        "kms:EncryptionContext:aws:logs:arn": {
                                            "Fn::Join": [
                                                "",
                                                [
                                                    "arn:",
                                                    {"Ref": "AWS::Partition"},
                                                    f":logs:eu-west-1:111111111111:log-group:{name}",
                                                ],
                                            ]
                                        }
                                    }
                                },
                            }
                        )
                    ]
                )
            }
        },
    )


def test_log_group_uses_the_key_and_depends_on_it(templates):
    t = templates["kms"]
    key_id = next(iter(t.find_resources("AWS::KMS::Key")))
    t.has_resource(
        "AWS::Logs::LogGroup",
        {
            "Properties": {"KmsKeyId": {"Fn::GetAtt": [key_id, "Arn"]}, "RetentionInDays": 1},
            "DependsOn": Match.array_with([key_id]),
            "DeletionPolicy": "Delete",
        },
    )


def test_one_flow_log_per_subnet_and_interface(templates):
    t = templates["kms"]
    t.resource_count_is("AWS::EC2::FlowLog", 3)
    flow_logs = t.find_resources("AWS::EC2::FlowLog").values()
    assert sorted(f["Properties"]["ResourceType"] for f in flow_logs) == [
        "NetworkInterface",
        "Subnet",
        "Subnet",
    ]
    for flow_log in flow_logs:
        props = flow_log["Properties"]
        assert props["TrafficType"] == "REJECT" and props["MaxAggregationInterval"] == 600
        assert props["LogFormat"] == "${srcaddr} ${dstaddr} ${dstport} ${action}"
    groups = {str(f["Properties"]["LogGroupName"]) for f in flow_logs}
    assert len(groups) == 1


def test_flow_logs_wait_for_the_role_policy(templates):
    t = templates["defaults"]
    policy_id = next(iter(t.find_resources("AWS::IAM::Policy")))
    t.has_resource("AWS::EC2::FlowLog", {"DependsOn": Match.array_with([policy_id])})


def test_imported_vpc_and_log_group(templates):
    t = templates["imported"]
    t.resource_count_is("AWS::Logs::LogGroup", 0)
    t.has_resource_properties(
        "AWS::EC2::FlowLog",
        {"ResourceId": "vpc-0abc1234", "LogGroupName": "existing-flow-logs"},
    )
    t.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": [
                    Match.object_like(
                        {
                            "Resource": {
                                "Fn::Join": [
                                    "",
                                    [
                                        "arn:",
                                        {"Ref": "AWS::Partition"},
                                        ":logs:eu-west-1:111111111111:log-group:"
                                        "existing-flow-logs:*",
                                    ],
                                ]
                            }
                        }
                    )
                ]
            }
        },
    )


def test_attributes(templates):
    pipeline = templates["kms_pipeline"]
    assert pipeline.log_format == FlowLogFormat.of("srcaddr", "dstaddr", "dstport", "action")
    assert len(pipeline.flow_logs) == 3
    assert pipeline.traffic_type is TrafficType.REJECT
    assert pipeline.encryption_key is not None
    assert pipeline.role is not None and pipeline.log_group is not None
    assert templates["defaults_pipeline"].encryption_key is None
    assert templates["defaults_pipeline"].log_format == FlowLogFormat.detection()


# -- bad input ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scratch():
    """A stack to build failing pipelines in (never synthesized)."""
    app = cdk.App()
    stack = cdk.Stack(app, "Scratch", env=ENV)
    return stack, ec2.Vpc(stack, "Vpc", max_azs=1, nat_gateways=0)


_counter = iter(range(10_000))


def _build(scratch, **kwargs):
    stack, vpc = scratch
    kwargs.setdefault("vpc", vpc)
    return FlowLogPipeline(stack, f"P{next(_counter)}", **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"vpc": None}, ValueError, "needs something to log: give vpc, subnets or network_"),
        ({"vpc": None, "subnets": []}, ValueError, "needs something to log"),
        ({"vpc": "vpc-123"}, TypeError, "vpc must be an ec2.IVpc"),
        ({"vpc": None, "subnets": "subnet-1"}, TypeError, "subnets must be a list"),
        ({"vpc": None, "subnets": ["subnet-1"]}, TypeError, r"subnets\[0\] must be an ec2.ISub"),
        ({"network_interface_ids": ["eni-xyz"]}, ValueError, r"network_interface_ids\[0\] must"),
        ({"network_interface_ids": "eni-0123456789abcdef0"}, TypeError, "must be a list"),
        ({"traffic_type": "SOME"}, ValueError, "traffic_type must be one of 'ALL', 'ACCEPT'"),
        ({"max_aggregation_interval": cdk.Duration.minutes(5)}, ValueError,
         "max_aggregation_interval must be 60 or 600 seconds.*got 300 seconds"),
        ({"max_aggregation_interval": 60}, TypeError, "must be a cdk.Duration"),
        ({"retention": 365}, TypeError, "retention must be a logs.RetentionDays"),
        ({"retention": logs.RetentionDays.INFINITE}, ValueError, "retention must be a finite"),
        ({"encryption_key": "alias/x"}, TypeError, "encryption_key must be True, None or a kms"),
        ({"removal_policy": "destroy"}, TypeError, "removal_policy must be a cdk.RemovalPolicy"),
        ({"log_format": "${srcaddr}"}, TypeError, "log_format must be a vpcwatch.FlowLogFormat"),
        ({"log_group": "my-group"}, TypeError, "log_group must be a logs.ILogGroup"),
    ],
)  # fmt: skip
def test_bad_arguments_are_refused_at_construction(scratch, kwargs, error, message):
    with pytest.raises(error, match=message):
        _build(scratch, **kwargs)


def test_log_group_settings_cannot_be_combined_with_log_group(scratch):
    stack, _ = scratch
    group = logs.LogGroup.from_log_group_name(stack, "Existing", "existing")
    with pytest.raises(ValueError, match="retention, encryption_key cannot be set with log_group"):
        _build(scratch, log_group=group, retention=logs.RetentionDays.ONE_DAY, encryption_key=True)


def test_traffic_type_accepts_the_aws_cdk_enum(scratch):
    pipeline = _build(scratch, traffic_type=ec2.FlowLogTrafficType.ACCEPT)
    assert pipeline.traffic_type is TrafficType.ACCEPT


def test_an_imported_key_is_used_with_a_warning(scratch):
    from aws_cdk.assertions import Annotations

    stack, _ = scratch
    key = kms.Key.from_key_arn(
        stack,
        "Imported",
        "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
    )
    pipeline = _build(scratch, encryption_key=key)
    assert pipeline.encryption_key is key
    Annotations.from_stack(stack).has_warning(
        f"/Scratch/{pipeline.node.id}",
        Match.string_like_regexp(".*cannot edit its key policy: it must allow logs.*"),
    )
