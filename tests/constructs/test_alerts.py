"""AlertTopic: a KMS-encrypted topic that CloudWatch and EventBridge can publish to."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Annotations, Match

from support import checked_template, new_app
from vpcwatch import AlertTopic
from vpcwatch.constructs._validation import acknowledge

ENV = cdk.Environment(account="111111111111", region="eu-west-1")


@pytest.fixture(scope="module")
def synthesized():
    app = new_app()
    stack = cdk.Stack(app, "Alerts", env=ENV)
    alerts = AlertTopic(stack, "Alerts", emails=["secops@example.com"])
    alerts.add_email("oncall@example.org")
    plain_stack = cdk.Stack(app, "Plain", env=ENV)
    plain = AlertTopic(plain_stack, "Alerts", encryption=False)
    acknowledge(plain.topic, [("SNS2", "This test checks the unencrypted option.")])
    return alerts, checked_template(stack), plain, checked_template(plain_stack)


def _statements(template, resource_type, document):
    (resource,) = template.find_resources(resource_type).values()
    return {s.get("Sid"): s for s in resource["Properties"][document]["Statement"]}


def test_key_policy_admits_cloudwatch_for_this_accounts_alarms_and_eventbridge(synthesized):
    """Exact statements (not array_with): what a reviewer reads is what is asserted."""
    _, t, _, _ = synthesized
    t.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    statements = _statements(t, "AWS::KMS::Key", "KeyPolicy")
    assert statements["AllowAlarmsToPublish"] == {
        "Sid": "AllowAlarmsToPublish",
        "Effect": "Allow",
        "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
        "Condition": {
            "StringEquals": {"aws:SourceAccount": "111111111111"},
            "ArnLike": {
                "aws:SourceArn": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"},
                                                    ":cloudwatch:eu-west-1:111111111111:alarm:*"]]}
            },
        },
    }  # fmt: skip
    # No source condition: the SNS guide says EventBridge's KMS request carries none.
    assert statements["AllowEventRulesToPublish"] == {
        "Sid": "AllowEventRulesToPublish",
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
    }
    services = [s["Principal"].get("Service") for s in statements.values()]
    assert sorted(filter(None, services)) == ["cloudwatch.amazonaws.com", "events.amazonaws.com"]


def test_topic_is_encrypted_with_the_key(synthesized):
    _, t, _, _ = synthesized
    key_id = next(iter(t.find_resources("AWS::KMS::Key")))
    t.has_resource_properties(
        "AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [key_id, "Arn"]}}
    )


def test_topic_policy_denies_plain_http_and_scopes_publishers_to_the_account(synthesized):
    _, t, _, _ = synthesized
    statements = list(_statements(t, "AWS::SNS::TopicPolicy", "PolicyDocument").values())
    topic = {"Ref": next(iter(t.find_resources("AWS::SNS::Topic")))}
    assert len(statements) == 2  # nothing else may publish
    deny, allow = sorted(statements, key=lambda s: s["Effect"] != "Deny")
    assert deny["Effect"] == "Deny" and deny["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }
    assert allow == {
        "Sid": "AllowAlertPublishers",
        "Effect": "Allow",
        "Principal": {"Service": ["cloudwatch.amazonaws.com", "events.amazonaws.com"]},
        "Action": "sns:Publish",
        "Resource": topic,
        "Condition": {"StringEquals": {"aws:SourceAccount": "111111111111"}},
    }


def test_email_subscriptions(synthesized):
    _, t, _, _ = synthesized
    t.resource_count_is("AWS::SNS::Subscription", 2)
    for address in ("secops@example.com", "oncall@example.org"):
        t.has_resource_properties(
            "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": address}
        )


def test_attributes_and_the_unencrypted_option(synthesized):
    alerts, _, plain, plain_template = synthesized
    assert alerts.key is not None and alerts.topic is not None
    assert plain.key is None
    plain_template.resource_count_is("AWS::KMS::Key", 0)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"emails": ["not-an-email"]}, ValueError, "emails: 'not-an-email' is not an e-mail"),
        ({"emails": ["a@b"]}, ValueError, "is not an e-mail address"),
        ({"emails": "secops@example.com"}, TypeError, "emails must be a list"),
        ({"encryption": "yes"}, TypeError, "encryption must be True or False"),
        ({"topic": "arn:aws:sns:eu-west-1:111111111111:t"}, TypeError, "topic must be an sns"),
    ],
)
def test_bad_arguments(kwargs, error, message):
    stack = cdk.Stack(cdk.App(), "Bad", env=ENV)
    with pytest.raises(error, match=message):
        AlertTopic(stack, "Alerts", **kwargs)


def test_an_imported_topic_is_used_with_a_warning():
    stack = cdk.Stack(cdk.App(), "Imported", env=ENV)
    topic = sns.Topic.from_topic_arn(stack, "T", "arn:aws:sns:eu-west-1:111111111111:existing")
    alerts = AlertTopic(stack, "Alerts", topic=topic, emails=["secops@example.com"])
    assert alerts.topic is topic and alerts.key is None
    Annotations.from_stack(stack).has_warning(
        "/Imported/Alerts", Match.string_like_regexp(".*its key policy must allow.*")
    )
