"""The enricher Lambda: moto for EC2 and SNS, botocore's Stubber for Logs Insights."""

from __future__ import annotations

import base64
import importlib.util
import json
import logging
import sys
import zlib
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.stub import Stubber
from moto import mock_aws

HANDLER = Path(__file__).resolve().parents[2] / "lambda" / "enricher" / "handler.py"
REGION = "us-east-1"


def _load_handler():
    spec = importlib.util.spec_from_file_location("vpcwatch_enricher_handler", HANDLER)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


handler = _load_handler()

QUERY = "fields @timestamp, @message | parse @message '...' | filter dstport = 3389"
CONFIG = {
    "maxRows": 10,
    "deliveryDelaySeconds": 600,
    "windowSeconds": {"AdminPortAccepted": 60},
    "detectors": {
        "AdminPortAccepted": {
            "title": "Accepted connection on admin ports 22/3389 from outside",
            "severity": "high",
            "query": QUERY,
        }
    },
}
ROWS = [
    [
        {"field": "srcaddr", "value": "203.0.113.66"},
        {"field": "dstaddr", "value": "10.0.0.199"},
        {"field": "dstport", "value": "3389"},
        {"field": "interface_id", "value": "eni-0a1b"},
        {"field": "action", "value": "ACCEPT"},
        {"field": "flows", "value": "3"},
        {"field": "bytes", "value": "27000"},
        {"field": "packets", "value": "120"},
    ]
]


def alarm_event(metric="AdminPortAccepted", state="ALARM"):
    return {
        "source": "aws.cloudwatch",
        "detail-type": "CloudWatch Alarm State Change",
        "detail": {
            "alarmName": "Demo-MonitoringAdminPortAcceptedAlarm-ABC",
            "state": {"value": state, "timestamp": "2026-11-22T10:15:00.000+0000"},
            "configuration": {
                "metrics": [{"metricStat": {"metric": {"namespace": "VpcWatch", "name": metric}}}]
            },
        },
    }


@pytest.fixture(scope="module")
def shared_account():
    """A VPC with the seed-001 mistake: a group admitting 0.0.0.0/0 to 3389, on an
    instance at 10.0.0.199; an SNS topic whose messages land in an SQS queue. Built once
    per module (moto's EC2 takes seconds to set up)."""
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
        group = ec2.create_security_group(GroupName="rdp-open", Description="x", VpcId=vpc)
        ec2.authorize_security_group_ingress(
            GroupId=group["GroupId"],
            IpPermissions=[{"IpProtocol": "tcp", "FromPort": 3389, "ToPort": 3389,
                            "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
        )  # fmt: skip
        image = ec2.describe_images()["Images"][0]["ImageId"]
        instance = ec2.run_instances(
            ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnet,
            PrivateIpAddress="10.0.0.199", SecurityGroupIds=[group["GroupId"]],
        )["Instances"][0]["InstanceId"]  # fmt: skip
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        topic = sns.create_topic(Name="alerts")["TopicArn"]
        yield {"ec2": ec2, "sns": sns, "sqs": sqs, "topic": topic,
               "group": group["GroupId"], "instance": instance}  # fmt: skip


@pytest.fixture
def account(shared_account, request):
    """The shared account, with an inbox of this test's own (a new subscribed queue)."""
    sqs, sns = shared_account["sqs"], shared_account["sns"]
    queue = sqs.create_queue(QueueName=f"inbox-{abs(hash(request.node.name))}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    subscription = sns.subscribe(TopicArn=shared_account["topic"], Protocol="sqs",
                                 Endpoint=arn["Attributes"]["QueueArn"])  # fmt: skip

    def inbox():
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)
        return [json.loads(m["Body"]) for m in messages.get("Messages", [])]

    yield {**shared_account, "inbox": inbox}
    sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])


def enricher(account, logs, ec2=None):
    config = {**CONFIG, "logGroupName": "/vpcwatch/flowlogs/demo", "topicArn": account["topic"],
              "region": REGION}  # fmt: skip
    return handler.Enricher(config, logs, ec2 or account["ec2"], account["sns"])


def stubbed_logs(*results, start_error=None):
    logs = boto3.client("logs", region_name=REGION)
    stubber = Stubber(logs)
    if start_error is not None:
        stubber.add_client_error("start_query", service_error_code=start_error)
    else:
        stubber.add_response("start_query", {"queryId": "q-1"})
        for result in results:
            stubber.add_response("get_query_results", result, {"queryId": "q-1"})
    stubber.activate()
    return logs, stubber


def test_a_probe_names_the_instance_the_group_and_the_open_rule(account, monkeypatch):
    monkeypatch.setattr(handler, "POLL_SECONDS", 0.01)
    logs, stubber = stubbed_logs(
        {"status": "Running", "results": []}, {"status": "Complete", "results": ROWS}
    )
    report = enricher(account, logs).handle(alarm_event(), remaining_ms=60_000)
    stubber.assert_no_pending_responses()
    assert report.missing == []
    (message,) = account["inbox"]()
    subject, body = message["Subject"], message["Message"]
    assert subject == "vpcwatch HIGH: Accepted connection on admin ports 22/3389 from outside"
    assert len(subject) < 100
    assert account["instance"] in body and account["group"] in body
    assert f"OPEN: {account['group']} (rdp-open) admits 0.0.0.0/0 to port 3389" in body
    assert "203.0.113.66" in body and "flows=3" in body
    data = json.loads(body[body.index("\n{") + 1 :])
    assert data["openIngressRules"][0]["port"] == 3389
    assert data["interfaces"][0]["instanceId"] == account["instance"]
    assert data["window"] == {"start": "2026-11-22T10:04:00Z", "end": "2026-11-22T10:15:00Z"}
    assert "@message" not in body.split("Logs Insights:")[0]  # no raw log lines


def test_the_query_window_covers_the_alarm_and_the_delivery_delay(account):
    logs, stubber = stubbed_logs()
    stubber.deactivate()
    stubber = Stubber(logs)
    stubber.add_response(
        "start_query",
        {"queryId": "q-1"},
        {"logGroupName": "/vpcwatch/flowlogs/demo", "startTime": 1_795_342_500 - 660,
         "endTime": 1_795_342_500, "queryString": QUERY, "limit": 10},
    )  # fmt: skip
    stubber.add_response("get_query_results", {"status": "Complete", "results": []})
    stubber.activate()
    enricher(account, logs).handle(alarm_event(), remaining_ms=60_000)
    stubber.assert_no_pending_responses()


def test_a_query_timeout_gives_a_shorter_message_and_stops_the_query(account, monkeypatch):
    monkeypatch.setattr(handler, "POLL_SECONDS", 0.05)
    monkeypatch.setattr(handler, "SAFETY_MARGIN_MS", 0)
    logs = boto3.client("logs", region_name=REGION)
    stubber = Stubber(logs)
    stubber.add_response("start_query", {"queryId": "q-1"})
    for _ in range(3):
        stubber.add_response("get_query_results", {"status": "Running", "results": []})
    stubber.add_response("stop_query", {"success": True}, {"queryId": "q-1"})
    stubber.activate()
    report = enricher(account, logs).handle(alarm_event(), remaining_ms=120)
    assert report.missing == ["the flows (the Logs Insights query timed out)"]
    (message,) = account["inbox"]()
    assert "Could not find: the flows (the Logs Insights query timed out)" in message["Message"]


def test_access_denied_on_the_query_still_publishes(account):
    logs, _ = stubbed_logs(start_error="AccessDeniedException")
    report = enricher(account, logs).handle(alarm_event(), remaining_ms=60_000)
    assert report.missing == ["the flows (access denied)"]
    (message,) = account["inbox"]()
    assert "Could not find: the flows (access denied)" in message["Message"]


def test_access_denied_on_ec2_still_publishes_the_flows(account):
    logs, _ = stubbed_logs({"status": "Complete", "results": ROWS})
    ec2 = boto3.client("ec2", region_name=REGION)
    ec2_stubber = Stubber(ec2)
    ec2_stubber.add_client_error("describe_network_interfaces",
                                 service_error_code="UnauthorizedOperation")  # fmt: skip
    ec2_stubber.activate()
    report = enricher(account, logs, ec2=ec2).handle(alarm_event(), remaining_ms=60_000)
    assert report.missing == ["the interfaces (access denied)"]
    (message,) = account["inbox"]()
    assert "203.0.113.66" in message["Message"]


def test_throttling_is_named(account):
    logs, _ = stubbed_logs(start_error="ThrottlingException")
    report = enricher(account, logs).handle(alarm_event(), remaining_ms=60_000)
    assert report.missing == ["the flows (throttled)"]


def test_only_alarm_transitions_are_enriched(account):
    logs, _ = stubbed_logs()
    assert enricher(account, logs).handle(alarm_event(state="OK"), remaining_ms=60_000) is None
    assert account["inbox"]() == []


def test_an_alarm_without_a_flow_query_says_so(account):
    logs, _ = stubbed_logs()
    report = enricher(account, logs).handle(
        alarm_event(metric="IncomingLogEvents"), remaining_ms=60_000
    )
    assert report.missing == ["no flow-log query for metric 'IncomingLogEvents'"]
    (message,) = account["inbox"]()
    assert message["Subject"].startswith("vpcwatch UNKNOWN:")


def test_handler_reads_its_configuration_from_the_environment(account, monkeypatch):
    packed = base64.b64encode(zlib.compress(json.dumps(CONFIG).encode())).decode()
    monkeypatch.setenv("VPCWATCH_CONFIG", packed)
    monkeypatch.setenv("VPCWATCH_LOG_GROUP", "/vpcwatch/flowlogs/demo")
    monkeypatch.setenv("VPCWATCH_TOPIC_ARN", account["topic"])
    monkeypatch.setenv("AWS_REGION", REGION)
    config = handler.config_from_environment()
    assert config["detectors"]["AdminPortAccepted"]["query"] == QUERY
    assert config["topicArn"] == account["topic"] and config["region"] == REGION


# -- fault injection: degrade, never drop ------------------------------------------------------


class Inbox:
    """An SNS client that records what is published, or refuses with ``error``."""

    def __init__(self, error: Exception | None = None) -> None:
        self.messages: list[dict] = []
        self.error = error

    def publish(self, **message):
        if self.error is not None:
            raise self.error
        self.messages.append(message)
        return {"MessageId": "m-1"}


class FakeLogs:
    """A Logs client answering with ``result`` as it is (Stubber would refuse odd shapes)."""

    def __init__(self, result):
        self.result = result

    def start_query(self, **_):
        return {"queryId": "q-1"}

    def get_query_results(self, **_):
        return self.result

    def stop_query(self, **_):
        return {"success": True}


class Timeouts:
    """A client whose every call times out (botocore's ReadTimeoutError)."""

    def __init__(self, real):
        self.real = real

    def can_paginate(self, operation):
        return False

    def __getattr__(self, name):
        def timeout(**_):
            raise ReadTimeoutError(endpoint_url="https://example.invalid")

        return timeout


def _enricher(logs, ec2, sns, **config):
    settings = {**CONFIG, "logGroupName": "/vpcwatch/flowlogs/demo", "topicArn": "arn:t",
                "region": REGION, **config}  # fmt: skip
    return handler.Enricher(settings, logs, ec2, sns)


def _complete(rows=ROWS):
    logs, _ = stubbed_logs({"status": "Complete", "results": rows})
    return logs


def _steps(caplog):
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "vpcwatch.enricher"]


def _body(inbox):
    (message,) = inbox.messages
    return message["Message"]


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        ([1, 2], "the event is a list, not an object"),
        (None, "the event is a NoneType, not an object"),
        ({"detail": None}, "the event has no 'detail' object"),
        ({"detail": {"alarmName": "A", "state": {"value": "ALARM"}}}, "the event's metric"),
    ],
)
def test_an_unreadable_event_still_publishes_what_it_can(shared_account, caplog, event, problem):
    caplog.set_level(logging.INFO, logger="vpcwatch.enricher")
    inbox = Inbox()
    report = _enricher(_complete(), shared_account["ec2"], inbox).handle(event, 60_000)
    assert problem in report.missing
    body = _body(inbox)
    assert "Could not find:" in body and problem in body
    steps = _steps(caplog)
    assert steps[0]["step"] == "event" and problem in steps[0]["problems"]
    assert steps[-1]["step"] == "publish"


def test_a_state_written_as_text_and_an_integer_timestamp(shared_account):
    event = alarm_event()
    event["detail"]["state"] = "ALARM"
    inbox = Inbox()
    report = _enricher(_complete(), shared_account["ec2"], inbox).handle(event, 60_000)
    assert report.state == "ALARM" and report.rows  # enriched all the same
    for stamp in (1_795_342_500, 1_795_342_500_000):  # seconds, then milliseconds
        event = alarm_event()
        event["detail"]["state"]["timestamp"] = stamp
        report = _enricher(_complete(), shared_account["ec2"], Inbox()).handle(event, 60_000)
        assert report.window[1] == 1_795_342_500


def test_an_ok_transition_is_not_published(shared_account):
    inbox = Inbox()
    assert _enricher(_complete(), shared_account["ec2"], inbox).handle(
        alarm_event(state="OK"), 60_000) is None  # fmt: skip
    assert inbox.messages == []


@pytest.mark.parametrize(
    ("result", "missing"),
    [
        ({"results": ROWS}, "the flows (query result unreadable)"),
        ("not a dict", "the flows (query result unreadable)"),
        ({"status": "Failed", "results": []}, "the flows (query failed)"),
    ],
)
def test_odd_query_results_are_named(shared_account, result, missing):
    logs = FakeLogs(result)
    inbox = Inbox()
    report = _enricher(logs, shared_account["ec2"], inbox).handle(alarm_event(), 60_000)
    assert missing in report.missing and inbox.messages


def test_partial_rows_keep_what_they_have(shared_account):
    rows = [[{"value": "no field"}, {"field": "srcaddr", "value": "203.0.113.9"}, "junk"],
            "not a row", ROWS[0]]  # fmt: skip
    inbox = Inbox()
    logs = FakeLogs({"status": "Complete", "results": rows})
    report = _enricher(logs, shared_account["ec2"], inbox).handle(alarm_event(), 60_000)
    assert report.rows[0] == {"srcaddr": "203.0.113.9"} and len(report.rows) == 2
    assert shared_account["instance"] in _body(inbox)


@pytest.mark.parametrize("client", ["logs", "ec2"])
def test_timeouts_of_each_api_shorten_the_message(shared_account, client):
    logs = _complete() if client == "ec2" else Timeouts(None)
    ec2 = Timeouts(None) if client == "ec2" else shared_account["ec2"]
    inbox = Inbox()
    report = _enricher(logs, ec2, inbox).handle(alarm_event(), 60_000)
    expected = "the interfaces (ReadTimeoutError)" if client == "ec2" else (
        "the flows (ReadTimeoutError)")  # fmt: skip
    assert report.missing == [expected]
    assert expected in _body(inbox)


def test_a_group_lookup_timeout_keeps_the_interfaces(shared_account):
    ec2 = boto3.client("ec2", region_name=REGION)
    stubber = Stubber(ec2)
    stubber.add_response("describe_network_interfaces", {"NetworkInterfaces": [
        {"PrivateIpAddress": "10.0.0.199", "NetworkInterfaceId": "eni-0a1b",
         "Groups": [{"GroupId": "sg-0123456789abcdef0"}]}]})  # fmt: skip
    stubber.add_client_error("describe_security_groups", service_error_code="RequestLimitExceeded")
    stubber.activate()
    inbox = Inbox()
    report = _enricher(_complete(), ec2, inbox).handle(alarm_event(), 60_000)
    assert report.missing == ["the security group rules (throttled)"]
    assert "eni-0a1b" in _body(inbox)


def test_interfaces_over_several_pages(shared_account):
    ec2 = boto3.client("ec2", region_name=REGION)
    stubber = Stubber(ec2)
    page = {"PrivateIpAddress": "10.0.0.199", "NetworkInterfaceId": "eni-page1", "Groups": []}
    stubber.add_response("describe_network_interfaces",
                         {"NetworkInterfaces": [page], "NextToken": "t"})  # fmt: skip
    stubber.add_response("describe_network_interfaces", {"NetworkInterfaces": [
        {**page, "NetworkInterfaceId": "eni-page2"}]})  # fmt: skip
    stubber.activate()
    report = _enricher(_complete(), ec2, Inbox()).handle(alarm_event(), 60_000)
    assert [i["interfaceId"] for i in report.interfaces] == ["eni-page1", "eni-page2"]


def test_a_deleted_interface_and_group_are_lines_not_omissions(shared_account):
    rows = [[{"field": "dstaddr", "value": "10.0.0.250"}, {"field": "dstport", "value": "22"}]]
    inbox = Inbox()
    report = _enricher(_complete(rows), shared_account["ec2"], inbox).handle(alarm_event(), 60_000)
    assert "Address 10.0.0.250: no network interface found" in _body(inbox)
    assert report.missing == []
    ec2 = boto3.client("ec2", region_name=REGION)
    stubber = Stubber(ec2)
    stubber.add_response("describe_network_interfaces", {"NetworkInterfaces": [
        {"PrivateIpAddress": "10.0.0.199", "NetworkInterfaceId": "eni-1",
         "Groups": [{"GroupId": "sg-0deleted000000000"}]}]})  # fmt: skip
    stubber.add_response("describe_security_groups", {"SecurityGroups": []})
    stubber.activate()
    inbox = Inbox()
    _enricher(_complete(), ec2, inbox).handle(alarm_event(), 60_000)
    assert "Security group sg-0deleted000000000: not found (deleted since)" in _body(inbox)


def test_exfiltration_resolves_the_sender_not_the_external_address(shared_account):
    rows = [[{"field": "srcaddr", "value": "10.0.0.199"},
             {"field": "dstaddr", "value": "198.51.100.77"},
             {"field": "dstport", "value": "443"}]]  # fmt: skip
    config = {"detectors": {"Exfiltration": {"title": "Large upload", "severity": "high",
                                             "query": QUERY, "lookup": "srcaddr"}},
              "windowSeconds": {"Exfiltration": 60}}  # fmt: skip
    inbox = Inbox()
    report = _enricher(_complete(rows), shared_account["ec2"], inbox, **config).handle(
        alarm_event(metric="Exfiltration"), 60_000
    )
    assert report.interfaces[0]["instanceId"] == shared_account["instance"]
    assert "198.51.100.77: no network interface" not in _body(inbox)


def test_an_alarm_of_another_metric_is_published_with_its_facts(shared_account):
    inbox = Inbox()
    report = _enricher(_complete(), shared_account["ec2"], inbox).handle(
        alarm_event(metric="CPUUtilization"), 60_000
    )
    assert report.missing == ["no flow-log query for metric 'CPUUtilization'"]
    body = _body(inbox)
    assert "Demo-MonitoringAdminPortAcceptedAlarm-ABC" in body and "state ALARM" in body
    assert "#alarmsV2:alarm/Demo-MonitoringAdminPortAcceptedAlarm-ABC" in body


def test_a_bug_inside_the_enrichment_does_not_silence_the_alert(shared_account, caplog):
    caplog.set_level(logging.INFO, logger="vpcwatch.enricher")
    inbox = Inbox()
    enricher = _enricher(_complete(), shared_account["ec2"], inbox)
    del enricher.config["logGroupName"]
    report = enricher.handle(alarm_event(), 60_000)
    assert report.missing == ["the rest of the enrichment (KeyError)"]
    assert inbox.messages
    assert any(s["step"] == "enrich" and "KeyError" in s["error"] for s in _steps(caplog))


@pytest.mark.parametrize("code", ["KMSAccessDeniedException", "Throttled"])
def test_only_a_failed_publish_raises_so_lambda_retries(shared_account, caplog, code):
    caplog.set_level(logging.INFO, logger="vpcwatch.enricher")
    error = ClientError({"Error": {"Code": code, "Message": "no"}}, "Publish")
    enricher = _enricher(_complete(), shared_account["ec2"], Inbox(error=error))
    with pytest.raises(ClientError):
        enricher.handle(alarm_event(), 60_000)
    assert any(s["step"] == "publish" and code in s["error"] for s in _steps(caplog))


def test_the_alarm_name_finds_the_detector_and_the_metric_is_named_beside_it(shared_account):
    config = {"alarms": {"Demo-MonitoringAdminPortAcceptedAlarm-ABC": "FlowLogsStopped"},
              "detectors": {"FlowLogsStopped": {"title": "Flow logs stopped arriving",
                                                "severity": "high"}}}  # fmt: skip
    inbox = Inbox()
    report = _enricher(_complete(), shared_account["ec2"], inbox, **config).handle(
        alarm_event(metric="IncomingLogEvents"), 60_000
    )
    assert report.detector == "FlowLogsStopped" and report.missing == []
    body = _body(inbox)
    assert body.startswith("Flow logs stopped arriving (detector FlowLogsStopped, metric "
                           "IncomingLogEvents,")  # fmt: skip
    assert inbox.messages[0]["Subject"] == "vpcwatch HIGH: Flow logs stopped arriving"


def test_the_message_names_the_account_and_region_and_goes_on_the_bus(account, monkeypatch):
    """Many accounts: the enrichment is also an event on the member's bus (for
    AlertForwarder), and both the message and the event say where the alarm rang."""
    monkeypatch.setattr(handler, "POLL_SECONDS", 0.01)
    logs, _ = stubbed_logs({"status": "Complete", "results": ROWS})
    events = boto3.client("events", region_name=REGION)
    sent = []
    monkeypatch.setattr(events, "put_events", lambda **kw: sent.append(kw) or {
        "FailedEntryCount": 0, "Entries": [{"EventId": "e"}]})  # fmt: skip
    config = {**CONFIG, "logGroupName": "/vpcwatch/flowlogs/demo", "topicArn": account["topic"],
              "region": REGION, "eventBus": "default"}  # fmt: skip
    event = {**alarm_event(), "account": "222222222222", "region": "eu-west-1"}
    handler.Enricher(config, logs, account["ec2"], account["sns"], events).handle(
        event, remaining_ms=60_000
    )
    (message,) = account["inbox"]()
    assert "Account 222222222222, region eu-west-1" in message["Message"]
    ((entry,),) = [call["Entries"] for call in sent]
    assert entry["Source"] == handler.EVENT_SOURCE and entry["EventBusName"] == "default"
    assert entry["DetailType"] == handler.EVENT_DETAIL_TYPE
    detail = json.loads(entry["Detail"])
    assert detail["account"] == "222222222222" and detail["region"] == "eu-west-1"
    assert detail["text"].startswith("Accepted connection") and len(entry["Detail"]) < 256_000


def test_a_refused_event_raises_so_lambda_retries(account):
    logs, _ = stubbed_logs({"status": "Complete", "results": ROWS})
    events = boto3.client("events", region_name=REGION)
    stubber = Stubber(events)
    stubber.add_response("put_events", {"FailedEntryCount": 1, "Entries": [
        {"ErrorCode": "AccessDenied", "ErrorMessage": "not allowed"}]})  # fmt: skip
    stubber.activate()
    config = {**CONFIG, "logGroupName": "/vpcwatch/flowlogs/demo", "topicArn": account["topic"],
              "region": REGION, "eventBus": "default"}  # fmt: skip
    with pytest.raises(RuntimeError, match="not allowed"):
        handler.Enricher(config, logs, account["ec2"], account["sns"], events).handle(
            alarm_event(), remaining_ms=60_000
        )
    account["inbox"]()  # the SNS message went out before the refusal
