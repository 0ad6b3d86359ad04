"""``VpcEnrollment``: vpcwatch's flow log for the VPCs that CDK does not create
(lambda/enroller/handler.py)."""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from vpcwatch.constructs._functions import function_log_group, vpcwatch_function
from vpcwatch.constructs._validation import (
    acknowledge,
    acknowledge_role_policy,
    acknowledge_rules,
    nag_rendering,
)
from vpcwatch.constructs.pipeline import FlowLogPipeline
from vpcwatch.template_facts import ENROLLED_FLOW_LOGS

MIN_SWEEP_MINUTES = 5
MAX_SWEEP_DAYS = 7


class VpcEnrollment(Construct):
    """Enrols every VPC of the account and region in a :class:`FlowLogPipeline`: VPCs made
    by hand or by other tools get a flow log to the pipeline's log group, in its format,
    so its detectors cover them.

    A ``CreateVpc`` API call (CloudTrail, through EventBridge) enrols the new VPC within
    a minute; a periodic sweep catches the rest (VPCs that existed before, calls that
    CloudTrail did not deliver). It is idempotent: a VPC whose flow log already writes
    to the pipeline's group is left alone. It only creates flow logs, tagged
    ``vpcwatch:enrolled=<stack name>``; it never changes or deletes a flow log, so those
    made by people or other tools stay as they are. The AWS Config rule
    ``vpc-flow-logs-enabled`` (:class:`ExposureRules`) reports whatever is still missing.

    With an S3 archive on the pipeline, each VPC also gets a flow log to the archive
    (its format, layout and traffic type). ``FlowLogPipeline(enroll_account_vpcs=True)``
    makes one with the defaults.

    Example::

        pipeline = FlowLogPipeline(self, "FlowLogs", vpc=vpc)
        VpcEnrollment(self, "Enrollment", pipeline=pipeline)

    Args:
        scope: the parent construct.
        id: the construct id.
        pipeline: the :class:`FlowLogPipeline` whose log group, format, traffic type and
            delivery role the created flow logs use (it needs the ``"cloudwatch"``
            destination).
        sweep_every: how often every VPC is checked, from 5 minutes to 7 days. Default:
            6 hours.
        on_create: also enrol each new VPC as soon as CloudTrail reports its
            ``CreateVpc`` (needs CloudTrail management events, on by default in every
            account). Default: ``True``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        pipeline: FlowLogPipeline,
        sweep_every: cdk.Duration | None = None,
        on_create: bool = True,
    ) -> None:
        super().__init__(scope, id)
        if not isinstance(pipeline, FlowLogPipeline):
            raise TypeError(f"pipeline must be a vpcwatch.FlowLogPipeline, got {pipeline!r}")
        if pipeline.log_group is None or pipeline.role is None:
            raise ValueError(
                "pipeline has no CloudWatch Logs destination: enrolled VPCs would deliver "
                "nowhere the detectors read (destinations=('cloudwatch', ...))"
            )
        if not isinstance(on_create, bool):
            raise TypeError(f"on_create must be True or False, got {on_create!r}")
        sweep_every = cdk.Duration.hours(6) if sweep_every is None else sweep_every
        _check_sweep(sweep_every)
        stack = cdk.Stack.of(self)
        self._log_group = function_log_group(self, "enroller", pipeline.encryption_key)
        self._role = self._create_role(stack, pipeline)
        self._function = vpcwatch_function(
            self,
            "enroller",
            timeout=cdk.Duration.minutes(5),
            memory_size=256,
            reserved_concurrent_executions=1,  # one sweep at a time: no duplicate creates
            role=self._role,
            log_group=self._log_group,
            environment=self._environment(stack, pipeline),
            retry_attempts=2,
            description="vpcwatch: flow logs for the VPCs that CDK does not create",
        )
        # What replay and `vpcwatch cost` read in place of AWS::EC2::FlowLog resources.
        self._function.node.default_child.add_metadata(
            ENROLLED_FLOW_LOGS, _enrolled_flow_logs(pipeline)
        )
        acknowledge_rules(self._function, "NIST.800.53.R5", [
            ("LambdaDLQ", "A failed sweep is retried twice and logged; the next sweep "
             "(sweep_every) redoes it from the current state, so a failed event loses "
             "nothing a queue would keep."),
            ("LambdaInsideVPC", "The function calls only the EC2 API; inside a VPC it "
             "would need a NAT gateway or an interface endpoint and protects no data."),
        ])  # fmt: skip
        self._rules = [
            events.Rule(
                self,
                "SweepRule",
                description="vpcwatch: enrol every VPC lacking vpcwatch's flow log",
                schedule=events.Schedule.rate(sweep_every),
            )
        ]
        if on_create:
            self._rules.append(
                events.Rule(
                    self,
                    "CreateVpcRule",
                    description="vpcwatch: enrol each new VPC",
                    event_pattern=events.EventPattern(
                        source=["aws.ec2"],
                        detail_type=["AWS API Call via CloudTrail"],
                        detail={"eventSource": ["ec2.amazonaws.com"], "eventName": ["CreateVpc"]},
                    ),
                )
            )
        for rule in self._rules:
            rule.add_target(targets.LambdaFunction(self._function))

    @property
    def function(self) -> lambda_.IFunction:
        return self._function

    @property
    def role(self) -> iam.IRole:
        return self._role

    @property
    def rules(self) -> tuple[events.Rule, ...]:
        """The sweep's schedule, and the ``CreateVpc`` rule when ``on_create``."""
        return tuple(self._rules)

    @staticmethod
    def _environment(stack: cdk.Stack, pipeline: FlowLogPipeline) -> dict[str, str]:
        """What the function creates (lambda/enroller/handler.py reads it)."""
        environment = {
            "VPCWATCH_LOG_GROUP": pipeline.log_group.log_group_name,
            "VPCWATCH_ROLE_ARN": pipeline.role.role_arn,
            "VPCWATCH_LOG_FORMAT": pipeline.log_format.log_format,
            "VPCWATCH_TRAFFIC_TYPE": pipeline.traffic_type_text,
            "VPCWATCH_AGGREGATION": str(pipeline.aggregation_seconds),
            "VPCWATCH_TAG": f"vpcwatch:enrolled={stack.stack_name}",
        }
        archive = pipeline.archive
        if archive is not None:
            environment |= {
                "VPCWATCH_ARCHIVE_ARN": archive.bucket.bucket_arn,
                "VPCWATCH_ARCHIVE_TRAFFIC_TYPE": archive.traffic_type,
                "VPCWATCH_ARCHIVE_OPTIONS": json.dumps(archive.layout.destination_options()),
            }
        return environment

    def _create_role(self, stack: cdk.Stack, pipeline: FlowLogPipeline) -> iam.Role:
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="vpcwatch VPC enrolment: describe VPCs and flow logs, create flow logs",
        )
        vpcs = stack.format_arn(service="ec2", resource="vpc", resource_name="*")
        flow_logs = stack.format_arn(service="ec2", resource="vpc-flow-log", resource_name="*")
        statements: list[tuple[list[str], list[str], dict[str, Any] | None]] = [
            (["logs:CreateLogStream", "logs:PutLogEvents"], [self._log_group.log_group_arn],
             None),
            (["ec2:DescribeVpcs", "ec2:DescribeFlowLogs"], ["*"], None),
            (["ec2:CreateFlowLogs"], [vpcs, flow_logs], None),
            # Only the tag of the flow log it is creating, never another resource's.
            (["ec2:CreateTags"], [flow_logs], {"StringEquals": {
                "ec2:CreateAction": "CreateFlowLogs"}}),
            (["iam:PassRole"], [pipeline.role.role_arn], {"StringEquals": {
                "iam:PassedToService": "vpc-flow-logs.amazonaws.com"}}),
        ]  # fmt: skip
        if pipeline.archive is not None:  # a flow log to S3 sets up a log delivery
            statements.append((["logs:CreateLogDelivery", "logs:DeleteLogDelivery"], ["*"],
                               None))  # fmt: skip
        for allowed, resources, condition in statements:
            role.add_to_policy(
                iam.PolicyStatement(actions=allowed, resources=resources, conditions=condition)
            )
        unscoped = "EC2 Describe* actions support no resource scoping."
        if pipeline.archive is not None:
            unscoped = ("EC2 Describe* actions, and the log-delivery actions CreateFlowLogs "
                        "needs for an S3 destination, support no resource scoping.")  # fmt: skip
        findings = [("IAM5[Resource::*]", unscoped)]
        reasons = {
            vpcs: "Any VPC of this account and region: enrolling VPCs it does not know of is "
            "its purpose.",
            flow_logs: "The flow logs it creates, whose ids are made at creation.",
            self._log_group.log_group_arn: "The streams of its own log group.",
        }
        for arn, reason in reasons.items():
            rendered = nag_rendering(self, arn)
            if "*" in rendered:
                findings.append((f"IAM5[Resource::{rendered}]", reason))
        acknowledge(role, findings)
        acknowledge_role_policy(role)
        return role


def _enrolled_flow_logs(pipeline: FlowLogPipeline) -> list[dict[str, Any]]:
    """The properties of the flow logs the function gives each VPC."""
    common = {"LogFormat": pipeline.log_format.log_format}
    enrolled = [{**common, "LogDestinationType": "cloud-watch-logs",
                 "TrafficType": pipeline.traffic_type_text}]  # fmt: skip
    if pipeline.archive is not None:
        archive = pipeline.archive
        enrolled.append({**common, "LogDestinationType": "s3",
                         "TrafficType": archive.traffic_type,
                         "DestinationOptions": archive.layout.destination_options()})  # fmt: skip
    return enrolled


def _check_sweep(sweep_every: Any) -> None:
    if not isinstance(sweep_every, cdk.Duration) or cdk.Token.is_unresolved(
        sweep_every.to_seconds()
    ):
        raise TypeError(f"sweep_every must be a cdk.Duration, got {sweep_every!r}")
    minutes = sweep_every.to_seconds() / 60
    if minutes < MIN_SWEEP_MINUTES or minutes > MAX_SWEEP_DAYS * 1440 or minutes % 1:
        raise ValueError(
            f"sweep_every must be whole minutes from {MIN_SWEEP_MINUTES} minutes to "
            f"{MAX_SWEEP_DAYS} days; got {sweep_every.to_seconds():g} seconds"
        )
