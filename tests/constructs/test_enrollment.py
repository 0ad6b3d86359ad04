"""VpcEnrollment: a function, a schedule and a CreateVpc rule that give VPCs made
outside CDK the pipeline's flow log, with a role that can create flow logs only."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk.assertions import Match

from support import checked_template, new_app
from vpcwatch import FlowLogPipeline, VpcEnrollment

ENV = cdk.Environment(account="111111111111", region="eu-west-1")


def _stack(name="Enrol"):
    stack = cdk.Stack(new_app(), name, env=ENV)
    vpc = ec2.Vpc(stack, "Vpc", max_azs=1, nat_gateways=0)
    return stack, FlowLogPipeline(stack, "FlowLogs", vpc=vpc, encryption_key=True)


@pytest.fixture(scope="module")
def synthesized():
    stack, pipeline = _stack()
    enrollment = VpcEnrollment(stack, "Enrollment", pipeline=pipeline,
                               sweep_every=cdk.Duration.hours(1))  # fmt: skip
    return stack, pipeline, enrollment, checked_template(stack)


def test_the_function_writes_flow_logs_like_the_pipelines(synthesized):
    stack, pipeline, _, t = synthesized
    (function,) = [f for f in t.find_resources("AWS::Lambda::Function").values()
                   if "enrolment" in str(f) or "CDK does not create" in str(f)]  # fmt: skip
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["VPCWATCH_LOG_FORMAT"] == pipeline.log_format.log_format
    assert variables["VPCWATCH_TRAFFIC_TYPE"] == "ALL"
    assert variables["VPCWATCH_AGGREGATION"] == "60"
    assert variables["VPCWATCH_TAG"] == "vpcwatch:enrolled=Enrol"
    group = stack.get_logical_id(pipeline.log_group.node.default_child)
    role = stack.get_logical_id(pipeline.role.node.default_child)
    assert variables["VPCWATCH_LOG_GROUP"] == {"Ref": group}
    assert variables["VPCWATCH_ROLE_ARN"] == {"Fn::GetAtt": [role, "Arn"]}


def test_a_schedule_and_create_vpc_calls_trigger_it(synthesized):
    *_, t = synthesized
    t.has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": "rate(1 hour)"})
    t.has_resource_properties("AWS::Events::Rule", {"EventPattern": {
        "source": ["aws.ec2"], "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {"eventSource": ["ec2.amazonaws.com"], "eventName": ["CreateVpc"]}}})  # fmt: skip
    t.resource_count_is("AWS::Lambda::Permission", 2)
    t.has_resource_properties("AWS::Lambda::Permission", {
        "Principal": "events.amazonaws.com", "SourceArn": Match.any_value()})  # fmt: skip


def test_the_role_creates_flow_logs_and_passes_only_the_delivery_role(synthesized):
    stack, pipeline, _, t = synthesized
    (policy,) = [p for p in t.find_resources("AWS::IAM::Policy").values()
                 if "ec2:CreateFlowLogs" in str(p)]  # fmt: skip
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str)
                                               else s["Action"])}  # fmt: skip
    # It creates; it never changes or deletes anything.
    assert not {a for a in actions if "Delete" in a or "Modify" in a or "Replace" in a}
    (passing,) = [s for s in statements if s["Action"] == "iam:PassRole"]
    assert passing["Condition"] == {"StringEquals": {
        "iam:PassedToService": "vpc-flow-logs.amazonaws.com"}}  # fmt: skip
    assert passing["Resource"] == {"Fn::GetAtt": [
        stack.get_logical_id(pipeline.role.node.default_child), "Arn"]}  # fmt: skip
    (tagging,) = [s for s in statements if s["Action"] == "ec2:CreateTags"]
    assert tagging["Condition"] == {"StringEquals": {"ec2:CreateAction": "CreateFlowLogs"}}


def test_without_create_events_only_the_schedule():
    stack, pipeline = _stack("Quiet")
    enrollment = VpcEnrollment(stack, "Enrollment", pipeline=pipeline, on_create=False)
    assert len(enrollment.rules) == 1
    checked_template(stack).has_resource_properties(
        "AWS::Events::Rule", {"ScheduleExpression": "rate(6 hours)"}
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"sweep_every": cdk.Duration.minutes(1)}, ValueError, "from 5 minutes to 7 days"),
        ({"sweep_every": cdk.Duration.days(8)}, ValueError, "from 5 minutes to 7 days"),
        ({"sweep_every": 3600}, TypeError, "sweep_every must be a cdk.Duration"),
        ({"on_create": "yes"}, TypeError, "on_create must be True or False"),
    ],
)
def test_bad_arguments_name_the_setting(kwargs, error, message):
    stack, pipeline = _stack("Bad")
    with pytest.raises(error, match=message):
        VpcEnrollment(stack, "Enrollment", pipeline=pipeline, **kwargs)


def test_a_pipeline_without_cloudwatch_is_refused():
    stack = cdk.Stack(new_app(), "S3Only", env=ENV)
    vpc = ec2.Vpc(stack, "Vpc", max_azs=1, nat_gateways=0)
    pipeline = FlowLogPipeline(stack, "FlowLogs", vpc=vpc, destinations=("s3",))
    with pytest.raises(ValueError, match="no CloudWatch Logs destination"):
        VpcEnrollment(stack, "Enrollment", pipeline=pipeline)
    with pytest.raises(TypeError, match="pipeline must be a vpcwatch.FlowLogPipeline"):
        VpcEnrollment(stack, "Other", pipeline=vpc)


def test_a_pipeline_without_a_vpc_enrols_every_vpc_to_both_destinations():
    """The member-account shape: no VPC known at synth, a central archive by ARN."""
    import json

    from aws_cdk import aws_s3 as s3

    stack = cdk.Stack(new_app(), "Member", env=ENV)
    archive = s3.Bucket.from_bucket_arn(stack, "Central", "arn:aws:s3:::org-flow-logs")
    pipeline = FlowLogPipeline(
        stack, "FlowLogs", enroll_account_vpcs=True, destinations=("cloudwatch", "s3"),
        archive_bucket=archive, traffic_type="REJECT", archive_traffic_type="ALL",
        archive_format="plain-text", archive_hive_partitions=False,
    )  # fmt: skip
    assert pipeline.enrollment is not None and pipeline.flow_logs == ()
    t = checked_template(stack)
    t.resource_count_is("AWS::EC2::FlowLog", 0)
    (function,) = t.find_resources("AWS::Lambda::Function").values()
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["VPCWATCH_TRAFFIC_TYPE"] == "REJECT"
    assert variables["VPCWATCH_ARCHIVE_ARN"] == "arn:aws:s3:::org-flow-logs"
    assert variables["VPCWATCH_ARCHIVE_TRAFFIC_TYPE"] == "ALL"
    assert json.loads(variables["VPCWATCH_ARCHIVE_OPTIONS"]) == {
        "FileFormat": "plain-text", "HiveCompatiblePartitions": False, "PerHourPartition": False
    }  # fmt: skip
    policies = json.dumps(t.find_resources("AWS::IAM::Policy"))
    assert "logs:CreateLogDelivery" in policies


def test_a_pipeline_needs_a_target_or_enrolment():
    stack = cdk.Stack(new_app(), "Nothing", env=ENV)
    with pytest.raises(ValueError, match="enroll_account_vpcs=True"):
        FlowLogPipeline(stack, "FlowLogs")
    with pytest.raises(TypeError, match="enroll_account_vpcs must be True or False"):
        FlowLogPipeline(stack, "Other", enroll_account_vpcs="yes")
    with pytest.raises(ValueError, match="no CloudWatch Logs destination"):
        FlowLogPipeline(stack, "S3Only", enroll_account_vpcs=True, destinations=("s3",))
