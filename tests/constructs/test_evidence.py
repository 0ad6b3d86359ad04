"""Evidence that cannot be erased: every vpcwatch bucket is versioned, logs its access to
the stack's log bucket, expires old versions, and can be locked (Object Lock) or
encrypted with KMS."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_s3 as s3
from aws_cdk.assertions import Match

from support import checked_template, new_app
from vpcwatch import AlertTopic, ExposureRules, FlowLogPipeline, FlowLogTable

ENV = cdk.Environment(account="111111111111", region="eu-west-1")


@pytest.fixture(scope="module")
def locked():
    app = new_app()
    stack = cdk.Stack(app, "Locked", env=ENV)
    pipeline = FlowLogPipeline(
        stack, "FlowLogs", vpc=ec2.Vpc(stack, "Vpc", max_azs=1, nat_gateways=0),
        destinations=("cloudwatch", "s3"), archive_encryption_key=True,
        archive_object_lock=s3.ObjectLockRetention.compliance(cdk.Duration.days(400)),
    )  # fmt: skip
    FlowLogTable(stack, "Table", pipeline=pipeline)
    ExposureRules(stack, "Exposure", alerts=AlertTopic(stack, "Alerts"), create_recorder=True,
                  object_lock=s3.ObjectLockRetention.governance(cdk.Duration.days(30)))  # fmt: skip
    return stack, checked_template(stack)


def _buckets(template):
    return template.find_resources("AWS::S3::Bucket")


def test_every_bucket_is_versioned_and_expires_old_versions(locked):
    _, t = locked
    buckets = _buckets(t)
    assert len(buckets) == 4  # archive, Config, Athena results, the access-log bucket
    for bucket in buckets.values():
        props = bucket["Properties"]
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}
        rules = props["LifecycleConfiguration"]["Rules"]
        assert any("NoncurrentVersionExpiration" in rule for rule in rules)


def test_every_bucket_but_the_log_bucket_logs_its_access_there(locked):
    stack, t = locked
    log_bucket = stack.resolve(stack.node.find_child("VpcwatchAccessLogs").bucket_name)
    logged = [b for b in _buckets(t).values() if "LoggingConfiguration" in b["Properties"]]
    assert len(logged) == 3
    prefixes = set()
    for bucket in logged:
        configuration = bucket["Properties"]["LoggingConfiguration"]
        assert configuration["DestinationBucketName"] == log_bucket
        prefixes.add(configuration["LogFilePrefix"])
    assert len(prefixes) == 3
    t.has_resource_properties("AWS::S3::BucketPolicy", {"PolicyDocument": {"Statement":
        Match.array_with([Match.object_like({
            "Principal": {"Service": "logging.s3.amazonaws.com"}, "Action": "s3:PutObject",
            "Condition": Match.object_like({"StringEquals": {"aws:SourceAccount": "111111111111"}}),
        })])}})  # fmt: skip


def test_object_lock_and_kms(locked):
    _, t = locked
    t.has_resource_properties("AWS::S3::Bucket", {
        "ObjectLockEnabled": True,
        "ObjectLockConfiguration": {"ObjectLockEnabled": "Enabled",
                                    "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE",
                                                                  "Days": 400}}},
        "BucketEncryption": {"ServerSideEncryptionConfiguration": [Match.object_like({
            "ServerSideEncryptionByDefault": Match.object_like({"SSEAlgorithm": "aws:kms"})})]},
    })  # fmt: skip
    t.has_resource_properties("AWS::S3::Bucket", {"ObjectLockConfiguration": {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 30}}}})  # fmt: skip
    delivery = Match.object_like({
        "Sid": "AllowFlowLogDeliveryToEncrypt",
        "Principal": {"Service": "delivery.logs.amazonaws.com"},
        "Condition": Match.object_like({"StringEquals": {"aws:SourceAccount": "111111111111"}}),
    })  # fmt: skip
    t.has_resource_properties(
        "AWS::KMS::Key", {"KeyPolicy": {"Statement": Match.array_with([delivery])}}
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"archive_object_lock": 30}, "object_lock must be an s3.ObjectLockRetention"),
        ({"archive_encryption_key": "alias/x"}, "archive_encryption_key must be True, None or"),
        ({"destinations": ("cloudwatch",), "archive_object_lock":
          s3.ObjectLockRetention.governance(cdk.Duration.days(1))},
         "archive_object_lock needs 's3' in destinations"),
    ],
)  # fmt: skip
def test_bad_evidence_options(kwargs, message):
    stack = cdk.Stack(cdk.App(), "Bad", env=ENV)
    vpc = ec2.Vpc(stack, "Vpc", max_azs=1, nat_gateways=0)
    options = {"destinations": ("cloudwatch", "s3"), **kwargs}
    with pytest.raises((TypeError, ValueError), match=message):
        FlowLogPipeline(stack, "FlowLogs", vpc=vpc, **options)


def test_object_lock_on_exposure_needs_the_recorder():
    stack = cdk.Stack(cdk.App(), "Bad", env=ENV)
    lock = s3.ObjectLockRetention.governance(cdk.Duration.days(1))
    with pytest.raises(ValueError, match="object_lock applies to the recorder's bucket"):
        ExposureRules(stack, "Exposure", object_lock=lock)
