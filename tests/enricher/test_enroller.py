"""The enrolment Lambda against moto's EC2: VPCs made outside CDK get vpcwatch's flow log,
once, and flow logs it did not make are never touched."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

HANDLER = Path(__file__).resolve().parents[2] / "lambda" / "enroller" / "handler.py"
REGION = "us-east-1"
FORMAT = "${version} ${account-id} ${interface-id} ${srcaddr} ${dstaddr} ${action}"
ENVIRONMENT = {
    "VPCWATCH_LOG_GROUP": "/vpcwatch/flowlogs",
    "VPCWATCH_ROLE_ARN": "arn:aws:iam::123456789012:role/vpcwatch-delivery",
    "VPCWATCH_LOG_FORMAT": FORMAT,
    "VPCWATCH_TRAFFIC_TYPE": "ALL",
    "VPCWATCH_AGGREGATION": "60",
    "VPCWATCH_TAG": "vpcwatch:enrolled=Demo",
}


def _load_handler():
    spec = importlib.util.spec_from_file_location("vpcwatch_enroller_handler", HANDLER)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


handler = _load_handler()


@pytest.fixture
def ec2(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    for key, value in ENVIRONMENT.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield boto3.client("ec2", region_name=REGION)


def _ours(ec2, vpc_id):
    logs = ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc_id]}])
    return [f for f in logs["FlowLogs"] if f.get("LogGroupName") == ENVIRONMENT[
        "VPCWATCH_LOG_GROUP"]]  # fmt: skip


def test_the_sweep_enrols_every_vpc_lacking_vpcwatch_and_only_once(ec2, capsys):
    made_by_hand = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    # A VPC with someone else's flow log (to S3): enrolled too, theirs left as it is.
    other_tool = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    boto3.client("s3", region_name=REGION).create_bucket(Bucket="their-bucket")
    theirs = ec2.create_flow_logs(
        ResourceIds=[other_tool], ResourceType="VPC", TrafficType="REJECT",
        LogDestinationType="s3", LogDestination="arn:aws:s3:::their-bucket",
    )["FlowLogIds"][0]  # fmt: skip
    result = handler.handler({"source": "aws.events", "detail-type": "Scheduled Event"})
    vpcs = [v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]]  # moto's default VPC too
    assert set(result["enrolled"]) == set(vpcs) and result["counts"]["failed"] == 0
    for vpc in vpcs:
        (flow_log,) = _ours(ec2, vpc)
        assert flow_log["TrafficType"] == "ALL"
        assert flow_log["DeliverLogsPermissionArn"] == ENVIRONMENT["VPCWATCH_ROLE_ARN"]
        assert flow_log.get("LogFormat", FORMAT) == FORMAT
    tags = ec2.describe_flow_logs(FlowLogIds=[_ours(ec2, made_by_hand)[0]["FlowLogId"]])
    assert {"Key": "vpcwatch:enrolled", "Value": "Demo"} in tags["FlowLogs"][0].get("Tags", [])
    (kept,) = ec2.describe_flow_logs(FlowLogIds=[theirs])["FlowLogs"]
    assert kept["TrafficType"] == "REJECT"  # untouched
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["trigger"] == "sweep" and line["counts"]["enrolled"] == len(vpcs)
    # Idempotent: a second sweep creates nothing.
    again = handler.handler({})
    assert again["enrolled"] == [] and set(again["already"]) == set(vpcs)
    assert all(len(_ours(ec2, vpc)) == 1 for vpc in vpcs)


def test_a_create_vpc_event_enrols_that_vpc_only(ec2):
    first = ec2.create_vpc(CidrBlock="10.3.0.0/16")["Vpc"]["VpcId"]
    second = ec2.create_vpc(CidrBlock="10.4.0.0/16")["Vpc"]["VpcId"]
    event = {
        "source": "aws.ec2",
        "detail-type": "AWS API Call via CloudTrail",
        "detail": {"eventName": "CreateVpc", "responseElements": {"vpc": {"vpcId": first}}},
    }
    result = handler.handler(event)
    assert result["enrolled"] == [first]
    assert len(_ours(ec2, first)) == 1 and _ours(ec2, second) == []


def test_refusals_are_counted_and_named(ec2, monkeypatch):
    vpc = ec2.create_vpc(CidrBlock="10.5.0.0/16")["Vpc"]["VpcId"]
    refused = {"FlowLogIds": [], "Unsuccessful": [
        {"ResourceId": vpc, "Error": {"Code": "x", "Message": "Access denied for LogDestination"}}
    ]}  # fmt: skip

    class Refusing:
        def __init__(self, real):
            self.real = real

        def __getattr__(self, name):
            return getattr(self.real, name)

        def create_flow_logs(self, **kwargs):
            return refused

    settings = handler.Settings.from_environment(ENVIRONMENT)
    result = handler.enrol(Refusing(ec2), [vpc], settings)
    assert result["failed"] == {vpc: "cloudwatch: Access denied for LogDestination"}
    assert result["enrolled"] == [] and result["counts"]["failed"] == 1


def test_a_missing_setting_is_named():
    with pytest.raises(ValueError, match="lacks VPCWATCH_ROLE_ARN"):
        handler.Settings.from_environment({"VPCWATCH_LOG_GROUP": "g",
                                           "VPCWATCH_LOG_FORMAT": FORMAT})  # fmt: skip


ARCHIVE = "arn:aws:s3:::org-flow-logs"
ARCHIVE_OPTIONS = {"FileFormat": "parquet", "HiveCompatiblePartitions": True,
                   "PerHourPartition": False}  # fmt: skip


def test_with_a_central_archive_each_vpc_also_delivers_there_once(ec2, monkeypatch):
    monkeypatch.setenv("VPCWATCH_ARCHIVE_ARN", ARCHIVE)
    monkeypatch.setenv("VPCWATCH_ARCHIVE_OPTIONS", json.dumps(ARCHIVE_OPTIONS))
    monkeypatch.setenv("VPCWATCH_ARCHIVE_TRAFFIC_TYPE", "REJECT")
    boto3.client("s3", region_name=REGION).create_bucket(Bucket="org-flow-logs")
    archived = ec2.create_vpc(CidrBlock="10.6.0.0/16")["Vpc"]["VpcId"]
    # Someone already sends this VPC to the archive: only the log group is added.
    ec2.create_flow_logs(ResourceIds=[archived], ResourceType="VPC", TrafficType="ALL",
                         LogDestinationType="s3", LogDestination=ARCHIVE)  # fmt: skip
    bare = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    result = handler.handler({})
    assert archived not in result["created"]["s3"] and bare in result["created"]["s3"]
    assert {archived, bare} <= set(result["created"]["cloudwatch"])
    logs = ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [bare]}])
    (to_archive,) = [f for f in logs["FlowLogs"] if f.get("LogDestination") == ARCHIVE]
    assert to_archive["TrafficType"] == "REJECT" and to_archive["LogDestinationType"] == "s3"
    assert to_archive.get("LogFormat", FORMAT) == FORMAT
    again = handler.handler({})
    assert again["enrolled"] == [] and again["created"] == {"cloudwatch": [], "s3": []}
    assert {archived, bare} <= set(again["already"])
