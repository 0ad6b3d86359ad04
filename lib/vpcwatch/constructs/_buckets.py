"""The one way vpcwatch makes a bucket: private, encrypted, TLS-only, with a lifecycle."""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_s3 as s3
from constructs import Construct

from vpcwatch.constructs._validation import acknowledge


def private_bucket(
    scope: Construct,
    id: str,
    *,
    lifecycle_rules: Sequence[s3.LifecycleRule],
    removal_policy: cdk.RemovalPolicy,
    why_no_access_log: str,
) -> s3.Bucket:
    """SSE-S3, public access blocked, TLS enforced, objects owned by the bucket owner.

    Args:
        why_no_access_log: the reason server access logging is off (acknowledges cdk-nag
            AwsSolutions-S1: a log bucket needs a log bucket, and so on).
    """
    bucket = s3.Bucket(
        scope,
        id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        lifecycle_rules=list(lifecycle_rules),
        removal_policy=removal_policy,
    )
    acknowledge(bucket, [("S1", why_no_access_log)])
    return bucket
