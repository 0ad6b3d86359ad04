"""The cdk-nag gate of every construct test can fail, and acknowledgments open it, with
either cdk-nag generation (3 beside the pinned aws-cdk-lib, 2 beside the floor)."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_sns as sns

from support import checked_template, new_app
from vpcwatch.constructs._validation import acknowledge


def test_an_unacknowledged_finding_fails_the_check():
    stack = cdk.Stack(new_app(), "Loose")
    sns.Topic(stack, "Plain")  # no key (SNS2), no TLS-only policy (SNS3)
    with pytest.raises(Exception, match="AwsSolutions-SNS"):
        checked_template(stack)


def test_acknowledged_findings_pass_with_their_reasons():
    stack = cdk.Stack(new_app(), "Acknowledged")
    topic = sns.Topic(stack, "Plain")
    acknowledge(topic, [("SNS2", "This test checks the gate."), ("SNS3", "This one too.")])
    checked_template(stack).resource_count_is("AWS::SNS::Topic", 1)
