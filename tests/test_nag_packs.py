"""cdk-nag AwsSolutions and NIST 800-53 R5 find no unacknowledged error in the demo, the
demo with its S3 archive, and a stack with the optional extras (a Config recorder and a
GuardDuty detector); every acknowledgment vpcwatch makes is listed here, so a new one
is a reviewed change. HIPAA and PCI DSS counts are reported in the README."""

from __future__ import annotations

import re

import aws_cdk as cdk
import cdk_nag
import pytest
from invariants import violations

from support import DEMO_CONTEXT, cfn_lint_errors
from vpcwatch import AlertTopic, ExposureRules, PortProbeFindings
from vpcwatch.constructs._validation import ACKNOWLEDGED
from vpcwatch_demo.settings import DemoSettings
from vpcwatch_demo.stack import DemoStack

pytestmark = pytest.mark.skipif(
    not hasattr(cdk, "Acknowledgment"), reason="cdk-nag 3 packs need aws-cdk-lib >= 2.257"
)

# pack-rule ids vpcwatch acknowledges somewhere (the reasons are in the code, next to each).
REVIEWED = {
    "AwsSolutions-EC23", "AwsSolutions-IAM4", "AwsSolutions-IAM5", "AwsSolutions-L1",
    "AwsSolutions-S1", "AwsSolutions-SQS3",
    "NIST.800.53.R5-IAMNoInlinePolicy", "NIST.800.53.R5-LambdaDLQ",
    "NIST.800.53.R5-LambdaInsideVPC", "NIST.800.53.R5-S3BucketLoggingEnabled",
    "NIST.800.53.R5-S3BucketReplicationEnabled", "NIST.800.53.R5-S3DefaultEncryptionKMS",
    "NIST.800.53.R5-VPCNoUnrestrictedRouteToIGW",
}  # fmt: skip


def _extras(app: cdk.App) -> cdk.Stack:
    stack = cdk.Stack(app, "Extras", env=cdk.Environment(account="111111111111",
                                                         region="eu-west-1"))  # fmt: skip
    alerts = AlertTopic(stack, "Alerts")
    ExposureRules(stack, "Exposure", alerts=alerts, create_recorder=True)
    PortProbeFindings(stack, "PortProbes", alerts=alerts, enable_detector=True)
    return stack


def _demo(app: cdk.App) -> cdk.Stack:
    return DemoStack(app, "Demo", settings=DemoSettings.from_context(app.node.try_get_context))


VARIANTS = {
    "demo": (DEMO_CONTEXT, _demo),
    "archive": ({**DEMO_CONTEXT, "vpcwatch:archive": "true"}, _demo),
    "extras": ({}, _extras),
}


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def variant(request, tmp_path_factory):
    context, build = VARIANTS[request.param]
    app = cdk.App(context=context, outdir=str(tmp_path_factory.mktemp(request.param)))
    cdk.Validations.of(app).add_plugins(
        cdk_nag.AwsSolutionsChecks(app), cdk_nag.NIST80053R5Checks(app)
    )
    stack = build(app)
    assembly = app.synth()  # raises ValidationFailed on any unacknowledged error
    return stack, assembly.get_stack_by_name(stack.stack_name).template


def test_no_unacknowledged_error_and_the_invariants_hold(variant):
    _, template = variant
    assert violations(template) == []
    assert cfn_lint_errors(template) == []


def test_every_acknowledgment_is_a_reviewed_rule_with_a_reason(variant):
    stack, _ = variant
    found = {
        entry.data
        for node in stack.node.find_all()
        for entry in node.node.metadata
        if entry.type == ACKNOWLEDGED
    }
    rules = {re.sub(r"\[.*", "", text.split(": ", 1)[0]) for text in found}
    assert rules <= REVIEWED, f"new acknowledgments to review: {sorted(rules - REVIEWED)}"
    assert all(len(text.split(": ", 1)[1]) > 20 for text in found)  # a reason, not a stub
    if stack.stack_name == "VpcWatchDemo":
        assert {"AwsSolutions-IAM5", "NIST.800.53.R5-LambdaInsideVPC"} <= rules
