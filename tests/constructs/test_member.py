"""MemberBaseline: one member account's vpcwatch, knowing the central side by ARN only,
in an environment-agnostic stack (the StackSet shape) and in a Stage per account (the
CDK Pipelines shape)."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest

from support import checked_template, new_app
from vpcwatch import MemberBaseline

BUS_ARN = "arn:aws:events:us-east-1:111111111111:event-bus/vpcwatch-alerts"
ARCHIVE_ARN = "arn:aws:s3:::vpcwatch-archive-999999999999-us-east-1"


@pytest.fixture(scope="module")
def agnostic():
    """No account, no region, no VPC: what a StackSet deploys everywhere."""
    stack = cdk.Stack(new_app(), "Member")
    baseline = MemberBaseline(stack, "Vpcwatch", central_bus_arn=BUS_ARN,
                              archive_bucket_arn=ARCHIVE_ARN)  # fmt: skip
    return baseline, checked_template(stack)


def _environment(template, marker):
    (function,) = [f for f in template.find_resources("AWS::Lambda::Function").values()
                   if marker in f["Properties"]["Environment"]["Variables"]]  # fmt: skip
    return function["Properties"]["Environment"]["Variables"]


def test_every_vpc_is_enrolled_to_the_log_group_and_the_central_archive(agnostic):
    baseline, t = agnostic
    t.resource_count_is("AWS::EC2::FlowLog", 0)
    variables = _environment(t, "VPCWATCH_ROLE_ARN")
    assert variables["VPCWATCH_ARCHIVE_ARN"] == ARCHIVE_ARN
    assert variables["VPCWATCH_ARCHIVE_TRAFFIC_TYPE"] == "ALL"
    assert variables["VPCWATCH_LOG_FORMAT"] == baseline.pipeline.log_format.log_format
    assert baseline.pipeline.encryption_key is not None  # flow logs KMS-encrypted
    (group,) = [g for g in t.find_resources("AWS::Logs::LogGroup").values()
                if "/vpcwatch/flowlogs/" in json.dumps(g)]  # fmt: skip
    assert group["Properties"]["RetentionInDays"] == 30  # the archive keeps the history


def test_alarms_enrichments_and_findings_go_to_the_central_bus(agnostic):
    baseline, t = agnostic
    names = [a["Properties"]["AlarmName"] for a in t.find_resources(
        "AWS::CloudWatch::Alarm").values()]  # fmt: skip
    assert names and all(n.startswith("vpcwatch-member-") for n in names)
    forwarding = [r for r in t.find_resources("AWS::Events::Rule").values()
                  if r["Properties"]["Targets"][0]["Arn"] == BUS_ARN]  # fmt: skip
    assert len(forwarding) == 4
    assert _environment(t, "VPCWATCH_CONFIG")["VPCWATCH_EVENT_BUS"] == "default"
    puts = [s for p in t.find_resources("AWS::IAM::Policy").values()
            for s in p["Properties"]["PolicyDocument"]["Statement"]
            if s["Action"] == "events:PutEvents"
            and "event-bus/default" in json.dumps(s)]  # fmt: skip
    assert len(puts) == 1  # the enricher's, on this account's default bus only
    assert baseline.exposure is not None and len(baseline.exposure.rule_names) == 5


def test_one_stage_per_account_needs_no_cross_stage_reference():
    app = new_app()
    stacks = []
    for account in ("222222222222", "333333333333"):
        stage = cdk.Stage(app, f"Member{account}",
                          env=cdk.Environment(account=account, region="eu-west-1"))  # fmt: skip
        stack = cdk.Stack(stage, "Vpcwatch")
        MemberBaseline(stack, "Vpcwatch", central_bus_arn=BUS_ARN, archive_bucket_arn=None,
                       exposure_rules=False, enricher=False)  # fmt: skip
        stacks.append(stack)
    for stack in stacks:
        t = checked_template(stack)
        assert "Fn::ImportValue" not in json.dumps(t.to_json())
        assert "VPCWATCH_ARCHIVE_ARN" not in json.dumps(t.to_json())


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"central_bus_arn": "vpcwatch-alerts"}, ValueError, "central_bus_arn must be"),
        ({"central_bus_arn": BUS_ARN, "archive_bucket_arn": "my-bucket"}, ValueError,
         "archive_bucket_arn must be an S3 bucket ARN"),
        ({"central_bus_arn": BUS_ARN, "enricher": "yes"}, TypeError, "enricher must be"),
        ({"central_bus_arn": BUS_ARN, "exposure_rules": 1}, TypeError, "exposure_rules must be"),
        ({"central_bus_arn": BUS_ARN, "retention": 30}, TypeError, "retention must be"),
        ({"central_bus_arn": BUS_ARN, "archive_format": "csv",
          "archive_bucket_arn": ARCHIVE_ARN}, ValueError, "archive_format"),
    ],
)  # fmt: skip
def test_bad_arguments_name_the_setting(kwargs, error, message):
    stack = cdk.Stack(new_app(), "Member")
    with pytest.raises(error, match=message):
        MemberBaseline(stack, "Vpcwatch", **kwargs)
