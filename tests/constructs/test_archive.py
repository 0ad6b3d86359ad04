"""The S3 archive of FlowLogPipeline and FlowLogTable (Glue, projection, Athena)."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk.assertions import Match

from support import DEMO_CONTEXT, checked_template, new_app
from vpcwatch import FlowLogFormat, FlowLogMonitoring, FlowLogPipeline, FlowLogTable
from vpcwatch.detectors import rejected_flows
from vpcwatch_demo.settings import DemoSettings
from vpcwatch_demo.stack import DemoStack

ENV = cdk.Environment(account="111111111111", region="eu-west-1")
FMT = FlowLogFormat.all_fields()


@pytest.fixture(scope="module")
def synthesized():
    app = new_app()
    stack = cdk.Stack(app, "Archived", env=ENV)
    vpc = ec2.Vpc(stack, "Vpc", max_azs=1, nat_gateways=0)
    pipeline = FlowLogPipeline(
        stack, "FlowLogs", vpc=vpc, log_format=FMT, traffic_type="REJECT",
        destinations=("cloudwatch", "s3"), archive_traffic_type="ALL",
        archive_per_hour_partitions=True,
    )  # fmt: skip
    table = FlowLogTable(stack, "Table", pipeline=pipeline, bytes_scanned_limit=2 * 1024**3)
    s3_only_stack = cdk.Stack(app, "S3Only", env=ENV)
    vpc = ec2.Vpc(s3_only_stack, "Vpc", max_azs=1, nat_gateways=0)
    s3_only = FlowLogPipeline(
        s3_only_stack, "FlowLogs", vpc=vpc, destinations=("s3",),
        archive_format="plain-text", archive_hive_partitions=False,
    )  # fmt: skip
    FlowLogTable(s3_only_stack, "Table", pipeline=s3_only, detectors=[rejected_flows()])
    return {"template": checked_template(stack), "table": table, "pipeline": pipeline,
            "s3_only": checked_template(s3_only_stack), "s3_pipeline": s3_only}  # fmt: skip


def test_the_cheap_recipe_reject_to_cloudwatch_all_to_s3(synthesized):
    t = synthesized["template"]
    t.has_resource_properties("AWS::EC2::FlowLog", {"LogDestinationType": "cloud-watch-logs",
                                                    "TrafficType": "REJECT"})  # fmt: skip
    bucket = next(iter(k for k, v in t.find_resources("AWS::S3::Bucket").items()
                       if "Glacier" in str(v) or "GLACIER" in str(v)))  # fmt: skip
    t.has_resource_properties(
        "AWS::EC2::FlowLog",
        {
            "LogDestinationType": "s3",
            "TrafficType": "ALL",
            "LogDestination": {"Fn::GetAtt": [bucket, "Arn"]},
            "LogFormat": FMT.log_format,
            "DestinationOptions": {"FileFormat": "parquet", "HiveCompatiblePartitions": True,
                                   "PerHourPartition": True},
        },
    )  # fmt: skip


def test_archive_bucket_is_private_encrypted_and_expires(synthesized):
    t = synthesized["template"]
    t.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": Match.any_value(),
            "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                               "IgnorePublicAcls": True,
                                               "RestrictPublicBuckets": True},
            "LifecycleConfiguration": {"Rules": [
                Match.object_like({"ExpirationInDays": 730, "Transitions": [
                    {"StorageClass": "GLACIER", "TransitionInDays": 90}]}),
                Match.object_like({"NoncurrentVersionExpiration": {"NoncurrentDays": 90}}),
            ]},
            "VersioningConfiguration": {"Status": "Enabled"},
        },
    )  # fmt: skip
    t.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {"PolicyDocument": {"Statement": Match.array_with([
            Match.object_like({"Effect": "Deny",
                               "Condition": {"Bool": {"aws:SecureTransport": "false"}}}),
            Match.object_like({"Sid": "AWSLogDeliveryWrite", "Action": "s3:PutObject",
                               "Principal": {"Service": "delivery.logs.amazonaws.com"},
                               "Condition": Match.object_like({"StringEquals": {
                                   "aws:SourceAccount": "111111111111",
                                   "s3:x-amz-acl": "bucket-owner-full-control"}})}),
        ])}},
    )  # fmt: skip


def test_table_columns_typed_from_the_format_with_projection(synthesized):
    t = synthesized["template"]
    table = next(iter(t.find_resources("AWS::Glue::Table").values()))["Properties"]
    columns = table["TableInput"]["StorageDescriptor"]["Columns"]
    assert [c["Name"] for c in columns] == list(FMT.names)
    types = {c["Name"]: c["Type"] for c in columns}
    assert types["bytes"] == "bigint" and types["dstport"] == "int" and types["srcaddr"] == "string"
    parameters = table["TableInput"]["Parameters"]
    assert (
        parameters["projection.enabled"] == "true" and parameters["projection.hour.digits"] == "2"
    )
    template = str(parameters["storage.location.template"])
    assert "aws-account-id=111111111111/aws-service=vpcflowlogs/aws-region=eu-west-1" in template
    assert "year=${year}/month=${month}/day=${day}/hour=${hour}" in template
    assert [k["Name"] for k in table["TableInput"]["PartitionKeys"]] == ["year", "month", "day",
                                                                       "hour"]  # fmt: skip


def test_workgroup_limits_scans_and_encrypts_results(synthesized):
    t = synthesized["template"]
    t.has_resource_properties(
        "AWS::Athena::WorkGroup",
        {"WorkGroupConfiguration": Match.object_like({
            "BytesScannedCutoffPerQuery": 2 * 1024**3, "EnforceWorkGroupConfiguration": True,
            "ResultConfiguration": Match.object_like({
                "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"}})})},
    )  # fmt: skip


def test_named_queries_seed_003_and_one_per_detector(synthesized):
    t, table = synthesized["template"], synthesized["table"]
    queries = {q["Properties"]["Name"]: q["Properties"]["QueryString"]
               for q in t.find_resources("AWS::Athena::NamedQuery").values()}  # fmt: skip
    assert "WHERE dstport = 22" in queries["vpcwatch/SshSourcesByPackets"]
    assert {"vpcwatch/RejectedPerMinute", "vpcwatch/TopTalkers", "vpcwatch/Exfiltration",
            "vpcwatch/AdminPortAccepted"} <= set(queries)  # fmt: skip
    assert queries["vpcwatch/RejectedFlows"].startswith(
        'SELECT * FROM "vpcwatch_archived"."flow_logs"'
    )
    assert table.full_name == "vpcwatch_archived.flow_logs"  # derived from the stack name


def test_s3_only_plain_text_without_hive_partitions(synthesized):
    t, pipeline = synthesized["s3_only"], synthesized["s3_pipeline"]
    t.resource_count_is("AWS::Logs::LogGroup", 0)
    assert pipeline.log_group is None and pipeline.archive is not None
    table = next(iter(t.find_resources("AWS::Glue::Table").values()))["Properties"]
    serde = table["TableInput"]["StorageDescriptor"]["SerdeInfo"]
    assert serde["Parameters"] == {"field.delim": " ", "serialization.null.format": "-"}
    assert "/${year}/${month}/${day}" in str(table["TableInput"]["Parameters"])
    with pytest.raises(ValueError, match="no CloudWatch Logs destination"):
        FlowLogMonitoring(pipeline.node.scope, "M", pipeline=pipeline)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"destinations": ()}, ValueError, "destinations must be a non-empty list of distinct"),
        ({"destinations": ("s3", "s3")}, ValueError, "destinations must be"),
        ({"destinations": ("firehose",)}, ValueError, "destinations must be"),
        ({"destinations": "s3"}, TypeError, "destinations must be a list"),
        ({"destinations": ("s3",), "archive_format": "orc"}, ValueError,
         "archive_format must be one of"),
        ({"destinations": ("s3",), "archive_hive_partitions": "yes"}, TypeError,
         "archive_hive_partitions must be True or False"),
        ({"destinations": ("s3",), "retention": None, "encryption_key": True}, ValueError,
         "encryption_key need 'cloudwatch' in destinations"),
        ({"destinations": ("s3",), "archive_expiration": cdk.Duration.days(30)}, ValueError,
         "archive_expiration must come after archive_transition_after"),
        ({"archive_bucket": "my-bucket"}, ValueError, "archive_bucket needs 's3'"),
        ({"destinations": ("s3",), "archive_transition_after": 30}, TypeError,
         "archive_transition_after must be a cdk.Duration or None"),
        ({"destinations": ("s3",), "archive_per_hour_partitions": 1}, TypeError,
         "archive_per_hour_partitions must be True or False"),
        ({"destinations": ("s3",), "archive_bucket": "my-bucket"}, TypeError,
         "archive_bucket must be an s3.IBucket"),
        ({"destinations": ("s3",), "archive_traffic_type": "SOME"}, ValueError,
         "archive_traffic_type must be one of"),
    ],
)  # fmt: skip
def test_bad_archive_arguments(kwargs, error, message):
    stack = cdk.Stack(cdk.App(), "Bad", env=ENV)
    vpc = ec2.Vpc(stack, "Vpc", max_azs=1, nat_gateways=0)
    with pytest.raises(error, match=message):
        FlowLogPipeline(stack, "FlowLogs", vpc=vpc, **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"database_name": "Bad-Name"}, "database_name must be lowercase"),
        ({"table_name": ""}, "table_name must be lowercase"),
        ({"bytes_scanned_limit": 5}, "bytes_scanned_limit must be an integer of at least"),
        ({"detectors": ["RejectedFlows"]}, "detectors must hold Detector"),
    ],
)
def test_bad_table_arguments(kwargs, message):
    stack = cdk.Stack(cdk.App(), "Bad", env=ENV)
    vpc = ec2.Vpc(stack, "Vpc", max_azs=1, nat_gateways=0)
    pipeline = FlowLogPipeline(stack, "FlowLogs", vpc=vpc, destinations=("s3",))
    with pytest.raises((ValueError, TypeError), match=message):
        FlowLogTable(stack, "Table", pipeline=pipeline, **kwargs)
    no_archive = FlowLogPipeline(stack, "CloudWatchOnly", vpc=vpc)
    with pytest.raises(ValueError, match="pipeline has no S3 archive"):
        FlowLogTable(stack, "Other", pipeline=no_archive)


def test_the_demo_switches_the_archive_on_by_context():
    app = new_app({**DEMO_CONTEXT, "vpcwatch:archive": "true"})
    stack = DemoStack(app, "Demo", settings=DemoSettings.from_context(app.node.try_get_context))
    t = checked_template(stack)
    t.resource_count_is("AWS::Glue::Table", 1)
    t.resource_count_is("AWS::Athena::WorkGroup", 1)
    t.has_resource_properties("AWS::EC2::FlowLog", {"LogDestinationType": "s3"})


def test_an_existing_archive_bucket_gets_the_delivery_policy():
    from aws_cdk import aws_s3 as s3

    app = new_app()
    stack = cdk.Stack(app, "Brought", env=ENV)
    vpc = ec2.Vpc(stack, "Vpc", max_azs=1, nat_gateways=0)
    bucket = s3.Bucket(stack, "Mine", enforce_ssl=True, server_access_logs_prefix="logs/")
    pipeline = FlowLogPipeline(stack, "FlowLogs", vpc=vpc, destinations=("s3",),
                               archive_bucket=bucket)  # fmt: skip
    t = checked_template(stack)
    assert pipeline.archive.bucket is bucket
    t.resource_count_is("AWS::S3::Bucket", 1)
    t.has_resource_properties("AWS::S3::BucketPolicy", {"PolicyDocument": {"Statement":
        Match.array_with([Match.object_like({"Sid": "AWSLogDeliveryAclCheck"})])}})  # fmt: skip
