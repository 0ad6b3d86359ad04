"""The S3 side of :class:`~vpcwatch.FlowLogPipeline`: flow logs of the same format to
a bucket, for history and Athena (S3 delivery costs half of CloudWatch's)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from vpcwatch.constructs._buckets import private_bucket
from vpcwatch.constructs._validation import key_of, require_instance, require_interface

FILE_FORMATS = ("parquet", "plain-text")
DELIVERY = "delivery.logs.amazonaws.com"


@dataclass(frozen=True)
class ArchiveLayout:
    """How the archive writes objects: what a table over it must know."""

    file_format: str
    hive_partitions: bool
    per_hour_partitions: bool

    @classmethod
    def of(cls, file_format: Any, hive_partitions: Any, per_hour_partitions: Any) -> ArchiveLayout:
        """The layout of the ``archive_format``, ``archive_hive_partitions`` and
        ``archive_per_hour_partitions`` arguments, checked (errors name them)."""
        if file_format not in FILE_FORMATS:
            raise ValueError(f"archive_format must be one of {FILE_FORMATS}; got {file_format!r}")
        for name, flag in (
            ("archive_hive_partitions", hive_partitions),
            ("archive_per_hour_partitions", per_hour_partitions),
        ):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be True or False, got {flag!r}")
        return cls(file_format, hive_partitions, per_hour_partitions)

    def destination_options(self) -> dict[str, Any]:
        """The flow log's ``DestinationOptions`` for this layout."""
        return {
            "FileFormat": self.file_format,
            "HiveCompatiblePartitions": self.hive_partitions,
            "PerHourPartition": self.per_hour_partitions,
        }


class FlowLogArchive(Construct):
    """A bucket (created with encryption, TLS-only policy, blocked public access and a
    lifecycle, or brought) and one S3 flow log per target. Made by the pipeline."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        targets: Sequence[tuple[str, str, str]],
        log_format: str,
        traffic_type: str,
        aggregation_seconds: int,
        bucket: s3.IBucket | None,
        layout: ArchiveLayout,
        transition_after: cdk.Duration | None,
        expiration: cdk.Duration | None,
        encryption_key: kms.IKey | bool | None = None,
        object_lock: s3.ObjectLockRetention | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.layout = layout
        self.traffic_type = traffic_type
        self.encryption_key = self._key(encryption_key)
        if bucket is None:
            self.bucket: s3.IBucket = _create_bucket(
                self, transition_after, expiration, self.encryption_key, object_lock
            )
        else:
            require_interface("archive_bucket", bucket, "bucket_arn", "an s3.IBucket")
            for name, value in (("archive_encryption_key", encryption_key),
                                ("archive_object_lock", object_lock)):  # fmt: skip
                if value is not None:
                    raise ValueError(f"{name} configures the bucket vpcwatch creates; "
                                     "set it where archive_bucket is created")  # fmt: skip
            self.bucket = bucket
        stack = cdk.Stack.of(self)
        source = {"aws:SourceAccount": stack.account}
        source_arn = stack.format_arn(service="logs", resource="*")
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AWSLogDeliveryWrite",
                principals=[iam.ServicePrincipal(DELIVERY)],
                actions=["s3:PutObject"],
                resources=[self.bucket.arn_for_objects(f"AWSLogs/{stack.account}/*")],
                conditions={
                    "StringEquals": {**source, "s3:x-amz-acl": "bucket-owner-full-control"},
                    "ArnLike": {"aws:SourceArn": source_arn},
                },
            )
        )
        self.bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AWSLogDeliveryAclCheck",
                principals=[iam.ServicePrincipal(DELIVERY)],
                actions=["s3:GetBucketAcl", "s3:ListBucket"],
                resources=[self.bucket.bucket_arn],
                conditions={"StringEquals": source, "ArnLike": {"aws:SourceArn": source_arn}},
            )
        )
        if isinstance(self.encryption_key, kms.Key):
            self.encryption_key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="AllowFlowLogDeliveryToEncrypt",
                    principals=[iam.ServicePrincipal(DELIVERY)],
                    actions=["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*",
                             "kms:GenerateDataKey*", "kms:DescribeKey"],
                    resources=["*"],
                    conditions={"StringEquals": source, "ArnLike": {"aws:SourceArn": source_arn}},
                )
            )  # fmt: skip
        options = layout.destination_options()
        self.flow_logs = []
        for name, resource_type, resource_id in targets:
            flow_log = ec2.CfnFlowLog(
                self,
                name,
                resource_id=resource_id,
                resource_type=resource_type,
                traffic_type=traffic_type,
                log_destination_type="s3",
                log_destination=self.bucket.bucket_arn,
                log_format=log_format,
                max_aggregation_interval=aggregation_seconds,
                destination_options=options,
            )
            if self.bucket.policy is not None:
                flow_log.node.add_dependency(self.bucket.policy)
            self.flow_logs.append(flow_log)

    def _key(self, encryption_key: kms.IKey | bool | None) -> kms.IKey | None:
        retain = cdk.RemovalPolicy.RETAIN
        key = key_of(self, encryption_key, "archive_encryption_key",
                     purpose="the flow-log archive", removal_policy=retain)  # fmt: skip
        if key is not None and not isinstance(key, kms.Key):
            cdk.Annotations.of(self).add_warning_v2(
                "vpcwatch:imported-archive-key",
                "archive_encryption_key is imported, so vpcwatch cannot edit its policy: it "
                f"must allow {DELIVERY} kms:GenerateDataKey* and kms:Decrypt for this account",
            )
        return key


def _create_bucket(
    scope: Construct,
    transition_after: cdk.Duration | None,
    expiration: cdk.Duration | None,
    encryption_key: kms.IKey | None,
    object_lock: s3.ObjectLockRetention | None,
) -> s3.Bucket:
    for name, value in (("archive_transition_after", transition_after),
                        ("archive_expiration", expiration)):  # fmt: skip
        if value is not None:
            require_instance(name, value, cdk.Duration, "a cdk.Duration or None")
    if (
        transition_after is not None
        and expiration is not None
        and (expiration.to_days() <= transition_after.to_days())
    ):
        raise ValueError(
            "archive_expiration must come after archive_transition_after; got "
            f"{expiration.to_days():g} and {transition_after.to_days():g} days"
        )
    transitions = (
        []
        if transition_after is None
        else [s3.Transition(storage_class=s3.StorageClass.GLACIER,
                            transition_after=transition_after)]
    )  # fmt: skip
    return private_bucket(
        scope,
        "Bucket",
        lifecycle_rules=[s3.LifecycleRule(transitions=transitions, expiration=expiration)],
        removal_policy=cdk.RemovalPolicy.RETAIN,
        encryption_key=encryption_key,
        object_lock=object_lock,
    )
