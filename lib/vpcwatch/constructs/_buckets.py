"""The one way vpcwatch makes a bucket: evidence that cannot be erased without a trace.

Every bucket is private, encrypted (SSE-S3, or SSE-KMS with a given key), TLS-only,
versioned (an overwrite or a delete keeps the old version; non-current versions
expire after :data:`NONCURRENT_EXPIRATION`) and logs its server access to the stack's
access-log bucket. Object Lock (WORM) is an option: a retention period during which no
version can be deleted or overwritten, by anyone in ``COMPLIANCE`` mode.
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from vpcwatch.constructs._validation import (
    acknowledge,
    acknowledge_rules,
    require_instance,
    require_interface,
)

NONCURRENT_EXPIRATION = cdk.Duration.days(90)
"""Overwritten or deleted object versions are kept this long, then expire."""

ACCESS_LOG_BUCKET_ID = "VpcwatchAccessLogs"
ACCESS_LOG_EXPIRATION = cdk.Duration.days(365)

REPLICATION = (
    "A single-region archive by default; add an S3 replication rule where a copy in "
    "another region or account is required."
)


def private_bucket(
    scope: Construct,
    id: str,
    *,
    lifecycle_rules: Sequence[s3.LifecycleRule],
    removal_policy: cdk.RemovalPolicy,
    encryption_key: kms.IKey | None = None,
    object_lock: s3.ObjectLockRetention | None = None,
    bucket_name: str | None = None,
) -> s3.Bucket:
    """A versioned evidence bucket whose access is logged to the stack's log bucket.

    Args:
        lifecycle_rules: the bucket's own rules; a rule expiring non-current versions
            after :data:`NONCURRENT_EXPIRATION` is added.
        removal_policy: what a stack deletion does to the bucket.
        encryption_key: SSE-KMS with this key; ``None`` for SSE-S3.
        object_lock: a default Object Lock retention (``s3.ObjectLockRetention``), or
            ``None``. Object Lock can only be enabled when the bucket is created.
        bucket_name: a physical name (other accounts then know its ARN as text), or
            ``None`` for a generated one.
    """
    if encryption_key is not None:
        require_interface("encryption_key", encryption_key, "key_arn", "a kms.IKey or None")
    if object_lock is not None:
        allowed = "an s3.ObjectLockRetention (governance or compliance) or None"
        require_instance("object_lock", object_lock, s3.ObjectLockRetention, allowed)
    bucket = s3.Bucket(
        scope,
        id,
        bucket_name=bucket_name,
        encryption=s3.BucketEncryption.S3_MANAGED
        if encryption_key is None
        else s3.BucketEncryption.KMS,
        encryption_key=encryption_key,
        bucket_key_enabled=encryption_key is not None or None,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        versioned=True,
        object_lock_enabled=object_lock is not None or None,
        object_lock_default_retention=object_lock,
        lifecycle_rules=[*lifecycle_rules, _noncurrent_versions()],
        removal_policy=removal_policy,
    )
    _log_access(bucket, f"{cdk.Names.unique_id(scope)}{id}/")
    findings = [("S3BucketReplicationEnabled", REPLICATION)]
    if encryption_key is None:
        findings.append(
            ("S3DefaultEncryptionKMS", "SSE-S3 was chosen; pass an encryption key for SSE-KMS.")
        )
    acknowledge_rules(bucket, "NIST.800.53.R5", findings)
    return bucket


def access_log_bucket(scope: Construct) -> s3.Bucket:
    """The stack's bucket for S3 server access logs (one per stack, made on first use).

    It is versioned and SSE-S3 encrypted (server access logging delivers only to SSE-S3
    buckets) and keeps logs a year; its own access is not logged (it would log itself).
    """
    stack = cdk.Stack.of(scope)
    found = stack.node.try_find_child(ACCESS_LOG_BUCKET_ID)
    if found is not None:
        return found  # type: ignore[return-value]
    bucket = s3.Bucket(
        stack,
        ACCESS_LOG_BUCKET_ID,
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        versioned=True,
        lifecycle_rules=[
            s3.LifecycleRule(expiration=ACCESS_LOG_EXPIRATION),
            _noncurrent_versions(),
        ],
        removal_policy=cdk.RemovalPolicy.RETAIN,
    )
    itself = "It is the stack's server access log bucket: logging it would log itself."
    acknowledge(bucket, [("S1", itself)])
    acknowledge_rules(bucket, "NIST.800.53.R5", [
        ("S3BucketLoggingEnabled", itself),
        ("S3BucketReplicationEnabled", REPLICATION),
        ("S3DefaultEncryptionKMS", "S3 server access logging delivers only to SSE-S3 buckets."),
    ])  # fmt: skip
    return bucket


def _log_access(bucket: s3.Bucket, prefix: str) -> None:
    """Server access logs of ``bucket`` to the stack's log bucket, whose policy admits the
    logging service for this bucket and account only. Written here rather than with
    ``server_access_logs_bucket``, whose grant (an ACL or a policy) depends on a
    feature flag of the app."""
    target = access_log_bucket(bucket)
    cfn = bucket.node.default_child
    assert isinstance(cfn, s3.CfnBucket)
    cfn.logging_configuration = s3.CfnBucket.LoggingConfigurationProperty(
        destination_bucket_name=target.bucket_name, log_file_prefix=prefix
    )
    stack = cdk.Stack.of(bucket)
    target.add_to_resource_policy(
        iam.PolicyStatement(
            sid=f"ServerAccessLogsOf{cdk.Names.unique_id(bucket)}"[:100],
            principals=[iam.ServicePrincipal("logging.s3.amazonaws.com")],
            actions=["s3:PutObject"],
            resources=[target.arn_for_objects(f"{prefix}*")],
            conditions={
                "ArnLike": {"aws:SourceArn": bucket.bucket_arn},
                "StringEquals": {"aws:SourceAccount": stack.account},
            },
        )
    )


def _noncurrent_versions() -> s3.LifecycleRule:
    return s3.LifecycleRule(
        id="ExpireNoncurrentVersions",
        noncurrent_version_expiration=NONCURRENT_EXPIRATION,
        abort_incomplete_multipart_upload_after=cdk.Duration.days(7),
    )
