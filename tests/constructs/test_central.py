"""Many accounts, one alert path: members forward to a central bus by ARN, the security
account publishes to its topic; a topic of another account is refused at synth."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_sns as sns

from support import checked_template, new_app
from vpcwatch import (
    AlertForwarder,
    AlertTopic,
    CentralAlertBus,
    ExposureRules,
    FlowLogMonitoring,
    FlowLogPipeline,
)

SECURITY = cdk.Environment(account="111111111111", region="us-east-1")
MEMBERS = [cdk.Environment(account=a, region=r) for a, r in
           (("222222222222", "us-east-1"), ("333333333333", "eu-west-1"))]  # fmt: skip
BUS_ARN = "arn:aws:events:us-east-1:111111111111:event-bus/vpcwatch-alerts"


@pytest.fixture(scope="module")
def organization():
    """A security account and two member accounts, in one app and in one Stage each
    (the CDK Pipelines shape): no reference crosses a stack or a stage."""
    app = new_app()
    security = cdk.Stack(cdk.Stage(app, "Security", env=SECURITY), "Alerts")
    alerts = AlertTopic(security, "Alerts", emails=["secops@example.com"])
    central = CentralAlertBus(security, "Central", alerts=alerts,
                              organization_id="o-a1b2c3d4e5")  # fmt: skip
    members = []
    for index, env in enumerate(MEMBERS):
        stage = cdk.Stage(app, f"Member{index}", env=env)
        stack = cdk.Stack(stage, "Baseline")
        vpc = ec2.Vpc(stack, "Vpc", max_azs=1, nat_gateways=0)
        pipeline = FlowLogPipeline(stack, "FlowLogs", vpc=vpc)
        FlowLogMonitoring(stack, "Monitoring", pipeline=pipeline)  # alarms, no local topic
        AlertForwarder(stack, "Forward", central_bus_arn=BUS_ARN)
        members.append(stack)
    return central, checked_template(security), [checked_template(m) for m in members]


def test_the_bus_admits_the_organization_and_publishes_to_the_topic(organization):
    central, security, _ = organization
    assert central.event_bus_arn is not None
    (policy,) = security.find_resources("AWS::Events::EventBusPolicy").values()
    statement = policy["Properties"]["Statement"]
    assert statement["Action"] == "events:PutEvents"
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}
    rules = security.find_resources("AWS::Events::Rule")
    assert len(rules) == 4 and all(
        r["Properties"]["EventBusName"] == {"Ref": security_bus(security)} for r in rules.values()
    )
    for rule in rules.values():
        (target,) = rule["Properties"]["Targets"]
        template = target["InputTransformer"]["InputTemplate"]
        assert "account <account>, <region>" in template  # who it came from


def security_bus(template) -> str:
    (logical_id,) = template.find_resources("AWS::Events::EventBus")
    return logical_id


def test_members_forward_by_arn_with_a_conditioned_role(organization):
    *_, members = organization
    for member, env in zip(members, MEMBERS, strict=True):
        rules = member.find_resources("AWS::Events::Rule")
        forwarding = [r for r in rules.values()
                      if r["Properties"]["Targets"][0]["Arn"] == BUS_ARN]  # fmt: skip
        assert len(forwarding) == 4
        patterns = [r["Properties"]["EventPattern"] for r in forwarding]
        assert {"source": ["vpcwatch.enricher"],
                "detail-type": ["vpcwatch Alarm Enrichment"]} in patterns  # fmt: skip
        assert {"source": ["aws.cloudwatch"], "detail-type": ["CloudWatch Alarm State Change"],
                "detail": {"alarmName": [{"prefix": "vpcwatch-"}],
                           "state": {"value": ["ALARM"]}}} in patterns  # fmt: skip
        (role,) = [r for r in member.find_resources("AWS::IAM::Role").values()
                   if "central bus" in r["Properties"].get("Description", "")]  # fmt: skip
        (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": env.account}}
        policies = json.dumps(member.find_resources("AWS::IAM::Policy"))
        assert BUS_ARN in policies


def test_a_topic_of_another_account_is_refused_with_the_way_out():
    stack = cdk.Stack(new_app(), "Member", env=MEMBERS[0])
    topic = sns.Topic.from_topic_arn(stack, "Central", "arn:aws:sns:us-east-1:111111111111:t")
    with pytest.raises(ValueError, match="topic of account 111111111111.*AlertForwarder"):
        ExposureRules(stack, "Exposure", alerts=topic)
    vpc = ec2.Vpc(stack, "Vpc", max_azs=1, nat_gateways=0)
    pipeline = FlowLogPipeline(stack, "FlowLogs", vpc=vpc)
    with pytest.raises(ValueError, match="could not publish to it"):
        FlowLogMonitoring(stack, "Monitoring", pipeline=pipeline, alerts=topic)
    # The same account's imported topic is fine.
    own = sns.Topic.from_topic_arn(stack, "Own", "arn:aws:sns:us-east-1:222222222222:t")
    FlowLogMonitoring(stack, "Own Monitoring", pipeline=pipeline, alerts=own)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "give organization_id .* or account_ids"),
        ({"organization_id": "o-a1b2c3d4e5", "account_ids": ["222222222222"]}, "exactly one"),
        ({"organization_id": "org-1"}, "organization_id must look like o-a1b2c3d4e5"),
        ({"account_ids": ["2222"]}, "12-digit account ids"),
        ({"account_ids": ["222222222222"], "bus_name": "default"}, "not 'default'"),
    ],
)
def test_bad_central_arguments(kwargs, message):
    stack = cdk.Stack(new_app(), "Security", env=SECURITY)
    alerts = AlertTopic(stack, "Alerts")
    with pytest.raises(ValueError, match=message):
        CentralAlertBus(stack, "Central", alerts=alerts, **kwargs)


def test_listed_accounts_instead_of_an_organization():
    stack = cdk.Stack(new_app(), "Security", env=SECURITY)
    CentralAlertBus(stack, "Central", alerts=AlertTopic(stack, "Alerts"),
                    account_ids=["222222222222", "333333333333"])  # fmt: skip
    (policy,) = checked_template(stack).find_resources("AWS::Events::EventBusPolicy").values()
    assert "Condition" not in policy["Properties"]["Statement"]


@pytest.mark.parametrize("arn", ["arn:aws:sns:us-east-1:111111111111:t", "bus", ""])
def test_the_forwarder_needs_a_bus_arn(arn):
    stack = cdk.Stack(new_app(), "Member", env=MEMBERS[0])
    with pytest.raises(ValueError, match="central_bus_arn must be an event bus ARN"):
        AlertForwarder(stack, "Forward", central_bus_arn=arn)


def test_the_central_archive_admits_each_member_to_its_own_prefix():
    from aws_cdk import aws_s3 as s3

    from vpcwatch import CentralArchive

    app = new_app()
    log_archive = cdk.Environment(account="444444444444", region="us-east-1")
    archive_stack = cdk.Stack(app, "LogArchive", env=log_archive)
    archive = CentralArchive(archive_stack, "Archive",
                             member_account_ids=["222222222222", "333333333333"],
                             reader_account_ids=["111111111111"])  # fmt: skip
    template = checked_template(archive_stack)
    (policy,) = [p for p in template.find_resources("AWS::S3::BucketPolicy").values()
                 if "DeliveryWrite" in json.dumps(p)]  # fmt: skip
    statements = {s.get("Sid"): s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    for account in ("222222222222", "333333333333"):
        write = statements[f"DeliveryWrite{account}"]
        assert write["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
        assert write["Condition"]["StringEquals"]["aws:SourceAccount"] == account
        assert f"/AWSLogs/{account}/*" in json.dumps(write["Resource"])
    readers = statements["Readers"]
    assert "s3:PutObject" not in readers["Action"] and "111111111111" in json.dumps(readers)
    # A member delivers to it by ARN (no reference across accounts).
    member = cdk.Stack(new_app(), "Member", env=MEMBERS[0])
    vpc = ec2.Vpc(member, "Vpc", max_azs=1, nat_gateways=0)
    arn = "arn:aws:s3:::vpcwatch-central-archive"
    FlowLogPipeline(member, "FlowLogs", vpc=vpc, destinations=("cloudwatch", "s3"),
                    archive_bucket=s3.Bucket.from_bucket_arn(member, "Central", arn))  # fmt: skip
    flow_logs = checked_template(member).find_resources("AWS::EC2::FlowLog")
    assert arn in [f["Properties"].get("LogDestination") for f in flow_logs.values()]
    assert archive.bucket is not None


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"member_account_ids": []}, ValueError, "at least one account"),
        ({"member_account_ids": "222222222222"}, TypeError, "list of 12-digit"),
        ({"member_account_ids": ["22"]}, ValueError, "12-digit account ids"),
        ({"member_account_ids": ["222222222222"] * 2}, ValueError, "repeats an account"),
        ({"member_account_ids": ["222222222222"], "expiration": 30}, TypeError, "expiration"),
        (
            {"member_account_ids": ["222222222222"], "bucket_name": "Archive_1"},
            ValueError,
            "bucket_name must be an S3 bucket name",
        ),
    ],
)
def test_bad_archive_arguments(kwargs, error, message):
    from vpcwatch import CentralArchive

    stack = cdk.Stack(new_app(), "LogArchive", env=SECURITY)
    with pytest.raises(error, match=message):
        CentralArchive(stack, "Archive", **kwargs)


def test_a_table_over_the_central_archive_projects_accounts_and_regions():
    from vpcwatch import FlowLogTable

    stack = cdk.Stack(new_app(), "Security", env=SECURITY)
    FlowLogTable(stack, "Table", archive_bucket_name="vpcwatch-central-archive",
                 account_ids=["222222222222", "333333333333"],
                 regions=["eu-west-1", "us-east-1"])  # fmt: skip
    template = checked_template(stack)
    (table,) = template.find_resources("AWS::Glue::Table").values()
    table_input = table["Properties"]["TableInput"]
    parameters = table_input["Parameters"]
    assert [k["Name"] for k in table_input["PartitionKeys"]][:2] == [
        "aws_account_id", "aws_region"
    ]  # fmt: skip
    assert parameters["projection.aws_account_id.type"] == "enum"
    assert parameters["projection.aws_account_id.values"] == "222222222222,333333333333"
    assert parameters["projection.aws_region.values"] == "eu-west-1,us-east-1"
    assert parameters["storage.location.template"] == (
        "s3://vpcwatch-central-archive/AWSLogs/aws-account-id=${aws_account_id}/"
        "aws-service=vpcflowlogs/aws-region=${aws_region}/year=${year}/month=${month}/day=${day}"
    )
    names = [q["Properties"]["Name"] for q in template.find_resources(
        "AWS::Athena::NamedQuery").values()]  # fmt: skip
    assert "vpcwatch/DetectorRecordsByAccount" in names


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({}, ValueError, "exactly one of them"),
        ({"archive_bucket_name": "Bad_Name", "account_ids": ["222222222222"],
          "regions": ["eu-west-1"]}, ValueError, "archive_bucket_name must be"),
        ({"archive_bucket_name": "archive", "regions": ["eu-west-1"]}, TypeError,
         "account_ids must be a list"),
        ({"archive_bucket_name": "archive", "account_ids": ["222222222222"]}, TypeError,
         "regions must be a list"),
        ({"archive_bucket_name": "archive", "account_ids": ["222222222222"],
          "regions": ["Europe"]}, ValueError, "region names such as"),
        ({"archive_bucket_name": "archive", "account_ids": ["222222222222"],
          "regions": ["eu-west-1"], "archive_format": "csv"}, ValueError, "archive_format"),
        ({"archive_bucket_name": "archive", "account_ids": ["222222222222"],
          "regions": ["eu-west-1"], "log_format": "${srcaddr}"}, TypeError, "log_format"),
    ],
)  # fmt: skip
def test_bad_central_table_arguments(kwargs, error, message):
    from vpcwatch import FlowLogTable

    stack = cdk.Stack(new_app(), "Security", env=SECURITY)
    with pytest.raises(error, match=message):
        FlowLogTable(stack, "Table", **kwargs)


def test_a_pipeline_table_refuses_central_settings():
    from vpcwatch import FlowLogTable

    stack = cdk.Stack(new_app(), "Member", env=MEMBERS[0])
    vpc = ec2.Vpc(stack, "Vpc", max_azs=1, nat_gateways=0)
    pipeline = FlowLogPipeline(stack, "FlowLogs", vpc=vpc, destinations=("cloudwatch", "s3"))
    with pytest.raises(ValueError, match="account_ids, regions describe a central archive"):
        FlowLogTable(stack, "Table", pipeline=pipeline, account_ids=["222222222222"],
                     regions=["eu-west-1"])  # fmt: skip


def test_alarms_the_forwarder_would_never_forward_fail_the_synth():
    app = new_app()
    stack = cdk.Stack(app, "Member", env=MEMBERS[0])
    vpc = ec2.Vpc(stack, "Vpc", max_azs=1, nat_gateways=0)
    pipeline = FlowLogPipeline(stack, "FlowLogs", vpc=vpc)
    FlowLogMonitoring(stack, "Monitoring", pipeline=pipeline, alarm_name_prefix="team-")
    AlertForwarder(stack, "Forward", central_bus_arn=BUS_ARN)
    with pytest.raises(Exception, match="do not start with 'vpcwatch-'.*alarm_name_prefix"):
        app.synth()
