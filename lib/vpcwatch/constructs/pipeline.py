"""``FlowLogPipeline``: VPC Flow Logs into one CloudWatch Logs group, safely.

What it does better than ``aws_ec2.FlowLog``: the log group has a retention and
optionally a KMS key whose policy admits CloudWatch Logs for this group only; the
delivery role trusts ``vpc-flow-logs.amazonaws.com`` only for this account's flow
logs (confused-deputy conditions) and has no ``iam:PassRole`` on itself; and the
record format is a typed :class:`~vpcwatch.fields.FlowLogFormat` that every
metric filter and query downstream derives from.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from vpcwatch.constructs._pipeline_args import (
    TrafficType,
    destinations_of,
    flow_log_targets,
    interface_overlap_warning,
    logs_key_statement,
    refuse_with_log_group,
    refuse_without_cloudwatch,
    refuse_without_s3,
    traffic_type_of,
    traffic_type_text,
    window_seconds,
)
from vpcwatch.constructs._validation import (
    acknowledge,
    acknowledge_role_policy,
    key_of,
    nag_rendering,
    require_instance,
    require_interface,
)
from vpcwatch.constructs.archive import ArchiveLayout, FlowLogArchive
from vpcwatch.fields import FlowLogFormat

DEFAULT_RETENTION = logs.RetentionDays.ONE_YEAR
"""How long flow-log records are kept when ``retention`` is not given."""


ARCHIVE_TRANSITION = cdk.Duration.days(90)
"""Archived flow logs move to Glacier after this, unless told otherwise."""

ARCHIVE_EXPIRATION = cdk.Duration.days(730)
"""Archived flow logs are deleted after this, unless told otherwise."""


class FlowLogPipeline(Construct):
    """Flow logs for VPCs, subnets or interfaces, delivered to one CloudWatch Logs group.

    Example::

        pipeline = FlowLogPipeline(self, "FlowLogs", vpc=vpc,
                                   log_format=FlowLogFormat.all_fields())
        pipeline.log_group      # the group every flow log writes to
        pipeline.log_format     # the FlowLogFormat metric filters derive from

    Args:
        scope: the parent construct.
        id: the construct id.
        vpc: a VPC to log (created or imported). Default: none.
        subnets: subnets to log, one flow log each. Default: none.
        network_interface_ids: ``eni-...`` ids to log, one flow log each. Default: none.
            At least one of ``vpc``, ``subnets`` and ``network_interface_ids`` is required.
        log_format: the record format. Default: ``FlowLogFormat.detection()``, the AWS
            default fields plus the ones every default detector needs.
        traffic_type: ``TrafficType`` or ``ec2.FlowLogTrafficType`` or ``"ALL"``,
            ``"ACCEPT"``, ``"REJECT"``, or a deploy-time token (then monitoring warns that
            it cannot verify which detectors can fire). Default: ``ALL``.
        max_aggregation_interval: the aggregation window, 60 or 600 seconds, as a
            ``cdk.Duration`` or an ``ec2.FlowLogMaxAggregationInterval``. Default: 1 minute.
        retention: ``logs.RetentionDays`` for the created log group. Default: one year.
        encryption_key: ``True`` to create a KMS key (with rotation), an ``kms.IKey`` to
            use, or ``None`` for the service-managed encryption of CloudWatch Logs.
            Default: ``None``.
        removal_policy: what happens to the created log group (and key) when the stack
            deletes it. Default: ``RETAIN``, since flow logs are evidence.
        log_group: an existing log group to deliver to instead of creating one; then
            ``retention``, ``encryption_key`` and ``removal_policy`` must not be given.
            Default: a new log group.
        destinations: ``"cloudwatch"`` (metric filters and alarms need it) and/or ``"s3"``
            (history for Athena, half the ingestion price). Default: ``("cloudwatch",)``.
        archive_bucket: with ``"s3"``, an existing bucket instead of a new one (its policy
            gets the log-delivery statements). Default: a new bucket.
        archive_format: ``"parquet"`` or ``"plain-text"``. Default: ``"parquet"``.
        archive_hive_partitions: Hive-compatible prefixes (``year=2026/``). Default: ``True``.
        archive_per_hour_partitions: one prefix per hour. Default: ``False``.
        archive_traffic_type: traffic of the S3 flow logs. Default: ``traffic_type``. The
            cheap recipe: ``traffic_type="REJECT"`` for CloudWatch, ``"ALL"`` here.
        archive_transition_after: objects move to Glacier after this. Default: 90 days.
        archive_expiration: objects are deleted after this. Default: 730 days.
        archive_encryption_key: SSE-KMS for the created bucket: ``True`` creates a rotated
            key whose policy admits flow-log delivery for this account only, or pass a
            ``kms.IKey``. Default: ``None`` (SSE-S3).
        archive_object_lock: an ``s3.ObjectLockRetention`` (``governance`` or
            ``compliance``, with days): no record can be deleted or overwritten before it
            expires, not even by an administrator in ``COMPLIANCE`` mode; every stored
            version is billed until then. Default: ``None`` (versioning only).
        enroll_account_vpcs: also give every other VPC of the account and region these
            flow logs (to the log group, and to the archive with ``"s3"``), including
            VPCs made later, by hand or by other tools (:class:`VpcEnrollment`, with its
            defaults; ``pipeline.enrollment``). Then ``vpc``, ``subnets`` and
            ``network_interface_ids`` may all be left out. Needs ``"cloudwatch"``.
            Default: ``False``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        vpc: ec2.IVpc | None = None,
        subnets: Sequence[ec2.ISubnet] | None = None,
        network_interface_ids: Sequence[str] | None = None,
        log_format: FlowLogFormat | None = None,
        traffic_type: TrafficType | ec2.FlowLogTrafficType | str = TrafficType.ALL,
        max_aggregation_interval: cdk.Duration | ec2.FlowLogMaxAggregationInterval | None = None,
        retention: logs.RetentionDays | None = None,
        encryption_key: kms.IKey | bool | None = None,
        removal_policy: cdk.RemovalPolicy | None = None,
        log_group: logs.ILogGroup | None = None,
        destinations: Sequence[str] = ("cloudwatch",),
        archive_bucket: s3.IBucket | None = None,
        archive_format: str = "parquet",
        archive_hive_partitions: bool = True,
        archive_per_hour_partitions: bool = False,
        archive_traffic_type: TrafficType | ec2.FlowLogTrafficType | str | None = None,
        archive_transition_after: cdk.Duration | None = ARCHIVE_TRANSITION,
        archive_expiration: cdk.Duration | None = ARCHIVE_EXPIRATION,
        archive_encryption_key: kms.IKey | bool | None = None,
        archive_object_lock: s3.ObjectLockRetention | None = None,
        enroll_account_vpcs: bool = False,
    ) -> None:
        super().__init__(scope, id)
        if not isinstance(enroll_account_vpcs, bool):
            raise TypeError(
                f"enroll_account_vpcs must be True or False, got {enroll_account_vpcs!r}"
            )
        targets = flow_log_targets(
            vpc, subnets, network_interface_ids, enrolling=enroll_account_vpcs
        )
        overlap = interface_overlap_warning(vpc, network_interface_ids)
        if overlap is not None:
            cdk.Annotations.of(self).add_warning_v2("vpcwatch:interfaces-beside-vpc", overlap)
        if log_format is None:
            log_format = FlowLogFormat.detection()
        require_instance("log_format", log_format, FlowLogFormat, "a vpcwatch.FlowLogFormat")
        self._log_format = log_format
        self._traffic_type = traffic_type_of(traffic_type)
        aggregation_seconds = window_seconds(max_aggregation_interval)
        self._aggregation_seconds = aggregation_seconds

        chosen = destinations_of(destinations)
        self._key, self._log_group, self._role = None, None, None
        self._flow_logs: list[ec2.CfnFlowLog] = []
        if "cloudwatch" in chosen:
            self._create_cloudwatch_side(log_group, retention, encryption_key, removal_policy)
            self._flow_logs = [
                self._create_flow_log(name, resource_type, resource_id, aggregation_seconds)
                for name, resource_type, resource_id in targets
            ]
        else:
            refuse_without_cloudwatch(
                log_group=log_group,
                retention=retention,
                encryption_key=encryption_key,
                removal_policy=removal_policy,
            )
        self._archive = None
        if "s3" in chosen:
            layout = ArchiveLayout.of(
                archive_format, archive_hive_partitions, archive_per_hour_partitions
            )
            archive_traffic = (
                self._traffic_type
                if archive_traffic_type is None
                else traffic_type_of(archive_traffic_type, "archive_traffic_type")
            )
            self._archive = FlowLogArchive(
                self,
                "Archive",
                targets=targets,
                log_format=log_format.log_format,
                traffic_type=traffic_type_text(archive_traffic),
                aggregation_seconds=aggregation_seconds,
                bucket=archive_bucket,
                layout=layout,
                transition_after=archive_transition_after,
                expiration=archive_expiration,
                encryption_key=archive_encryption_key,
                object_lock=archive_object_lock,
            )
        else:
            refuse_without_s3(
                archive_bucket=archive_bucket,
                archive_encryption_key=archive_encryption_key,
                archive_object_lock=archive_object_lock,
            )
        self._enrollment = None
        if enroll_account_vpcs:
            from vpcwatch.constructs.enrollment import VpcEnrollment  # it imports this module

            self._enrollment = VpcEnrollment(self, "Enrollment", pipeline=self)

    def _create_cloudwatch_side(
        self,
        log_group: logs.ILogGroup | None,
        retention: logs.RetentionDays | None,
        encryption_key: kms.IKey | bool | None,
        removal_policy: cdk.RemovalPolicy | None,
    ) -> None:
        if log_group is None:
            if removal_policy is None:
                removal_policy = cdk.RemovalPolicy.RETAIN
            require_instance(
                "removal_policy", removal_policy, cdk.RemovalPolicy, "a cdk.RemovalPolicy"
            )
            self._key = self._create_key(encryption_key, removal_policy)
            self._log_group = self._create_log_group(retention, removal_policy)
        else:
            refuse_with_log_group(
                retention=retention, encryption_key=encryption_key, removal_policy=removal_policy
            )
            require_interface("log_group", log_group, "log_group_arn", "a logs.ILogGroup")
            self._log_group = log_group
        self._role = self._create_role()

    # -- read-only attributes ------------------------------------------------------------------

    @property
    def log_group(self) -> logs.ILogGroup | None:
        """The CloudWatch Logs group every CloudWatch flow log writes to (``None`` without
        the ``"cloudwatch"`` destination)."""
        return self._log_group

    @property
    def archive(self) -> FlowLogArchive | None:
        """The S3 side (``.bucket``, ``.flow_logs``, ``.layout``), or ``None``."""
        return self._archive

    @property
    def log_format(self) -> FlowLogFormat:
        """The record format of every flow log of this pipeline."""
        return self._log_format

    @property
    def flow_logs(self) -> tuple[ec2.CfnFlowLog, ...]:
        """The CloudWatch ``AWS::EC2::FlowLog`` resources, one per VPC, subnet or interface."""
        return tuple(self._flow_logs)

    @property
    def role(self) -> iam.IRole | None:
        """The role the flow-logs service assumes to write to the log group."""
        return self._role

    @property
    def encryption_key(self) -> kms.IKey | None:
        """The KMS key of the created log group, or ``None``."""
        return self._key

    @property
    def traffic_type(self) -> TrafficType | None:
        """Which flows the CloudWatch flow logs record; ``None`` when it is a deploy-time
        token (then no construct can verify which detectors it feeds)."""
        return self._traffic_type if isinstance(self._traffic_type, TrafficType) else None

    @property
    def traffic_type_text(self) -> str:
        """The CloudWatch flow logs' ``TrafficType`` as CloudFormation takes it (or the
        deploy-time token)."""
        return traffic_type_text(self._traffic_type)

    @property
    def aggregation_seconds(self) -> int:
        """The maximum aggregation interval of every flow log: 60 or 600."""
        return self._aggregation_seconds

    @property
    def enrollment(self):
        """The :class:`VpcEnrollment` of ``enroll_account_vpcs=True``, or ``None``."""
        return self._enrollment

    # -- resources -----------------------------------------------------------------------------

    def _create_key(
        self, encryption_key: kms.IKey | bool | None, removal_policy: cdk.RemovalPolicy
    ) -> kms.IKey | None:
        return key_of(self, encryption_key, "encryption_key", purpose="the VPC flow-log group",
                      removal_policy=removal_policy)  # fmt: skip

    def _create_log_group(
        self, retention: logs.RetentionDays | None, removal_policy: cdk.RemovalPolicy
    ) -> logs.LogGroup:
        if retention is None:
            retention = DEFAULT_RETENTION
        require_instance("retention", retention, logs.RetentionDays, "a logs.RetentionDays")
        if retention == logs.RetentionDays.INFINITE:
            raise ValueError(
                "retention must be a finite logs.RetentionDays: flow logs kept forever are "
                "an unbounded cost; archive to S3 instead"
            )
        stack = cdk.Stack.of(self)
        # A known name lets the key policy name this group without a circular reference.
        name = "/vpcwatch/flowlogs/" + cdk.Names.unique_resource_name(
            self, max_length=200, separator="-"
        )
        if isinstance(self._key, kms.Key):
            self._key.add_to_resource_policy(logs_key_statement(stack, name))
        elif self._key is not None:
            cdk.Annotations.of(self).add_warning_v2(
                "vpcwatch:imported-key",
                "encryption_key is imported, so vpcwatch cannot edit its key policy: it must "
                f"allow logs.<region>.amazonaws.com to use the key for log group {name}",
            )
        group = logs.LogGroup(
            self,
            "LogGroup",
            log_group_name=name,
            retention=retention,
            encryption_key=self._key,
            removal_policy=removal_policy,
        )
        if isinstance(self._key, kms.Key):
            group.node.add_dependency(self._key)
        return group

    def _create_role(self) -> iam.Role:
        stack = cdk.Stack.of(self)
        principal = iam.ServicePrincipal(
            "vpc-flow-logs.amazonaws.com",
            conditions={
                "StringEquals": {"aws:SourceAccount": stack.account},
                "ArnLike": {
                    "aws:SourceArn": stack.format_arn(
                        service="ec2", resource="vpc-flow-log", resource_name="*"
                    )
                },
            },
        )
        role = iam.Role(
            self,
            "DeliveryRole",
            assumed_by=principal,
            description="Lets VPC Flow Logs write records to one vpcwatch log group",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                resources=[self._log_group.log_group_arn],
            )
        )
        acknowledge_role_policy(role)
        resource = nag_rendering(self, self._log_group.log_group_arn)
        if "*" in resource:  # an imported group's ARN ends in ':*'; a created one is a GetAtt
            acknowledge(
                role,
                [
                    (
                        f"IAM5[Resource::{resource}]",
                        "The group's log streams are created per "
                        "network interface; the wildcard covers the streams of this one group.",
                    )
                ],
            )
        return role

    def _create_flow_log(
        self, name: str, resource_type: str, resource_id: str, aggregation_seconds: int
    ) -> ec2.CfnFlowLog:
        flow_log = ec2.CfnFlowLog(
            self,
            name,
            resource_id=resource_id,
            resource_type=resource_type,
            traffic_type=traffic_type_text(self._traffic_type),
            log_destination_type="cloud-watch-logs",
            log_group_name=self._log_group.log_group_name,
            deliver_logs_permission_arn=self._role.role_arn,
            log_format=self._log_format.log_format,
            max_aggregation_interval=aggregation_seconds,
        )
        # The role's policy must exist before the service first tries to deliver.
        flow_log.node.add_dependency(self._role)
        return flow_log
