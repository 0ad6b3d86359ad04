"""Security claims as invariants, checked generically over every synthesized template.

``checked_template`` (tests/support.py) runs :func:`violations` on every template a test
synthesizes, so a construct added later is judged without a test of its own:

1. A statement whose principal is an AWS service carries ``aws:SourceAccount``,
   ``aws:SourceArn`` or ``aws:SourceOrgID`` (no service may act for another account),
   or, in a KMS key policy, ``kms:ViaService`` or an encryption-context condition.
2. No ``Resource: "*"`` in an identity policy, except for actions that take no
   resource type (listed in ``UNSCOPED_ACTIONS`` with the reason). In a key policy
   ``"*"`` means the key itself.

Where AWS documents that a condition cannot be used, the statement is listed in
``EXEMPT`` with the page that says so (docs/security.md): adding the condition there
would make the service's request fail and the alert vanish.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

SOURCE_KEYS = ("aws:sourceaccount", "aws:sourcearn", "aws:sourceorgid", "aws:sourceorgpaths")
KMS_KEYS = ("kms:viaservice", "kms:encryptioncontext:")

UNSCOPED_ACTIONS = {
    "logs:GetQueryResults": "query ids are not resources (no resource-level permission)",
    "logs:StopQuery": "query ids are not resources (no resource-level permission)",
    "ec2:DescribeNetworkInterfaces": "EC2 Describe* actions support no resource scoping",
    "ec2:DescribeSecurityGroups": "EC2 Describe* actions support no resource scoping",
    "ec2:DescribeSecurityGroupRules": "EC2 Describe* actions support no resource scoping",
    "ec2:DescribeVpcs": "EC2 Describe* actions support no resource scoping",
    "ec2:DescribeFlowLogs": "EC2 Describe* actions support no resource scoping",
    # VPC user guide, "IAM policy for IAM principals that publish flow logs to Amazon S3":
    # the caller of CreateFlowLogs to S3 needs these on "*" (permission-only actions).
    "logs:CreateLogDelivery": "permission-only action of log delivery (no resource type)",
    "logs:DeleteLogDelivery": "permission-only action of log delivery (no resource type)",
}

EXEMPT = {
    # (service, where): why no source condition can be written
    ("events.amazonaws.com", "AWS::KMS::Key"): (
        "Amazon SNS developer guide, Key management: adding aws:SourceAccount and "
        "aws:SourceArn to a KMS key policy is not supported for EventBridge-to-encrypted "
        "topics (the KMS request carries neither key, so the rule's delivery would fail)"
    ),
    ("lambda.amazonaws.com", "AWS::IAM::Role"): (
        "Lambda documents no aws:SourceAccount/aws:SourceArn when it assumes an execution "
        "role; a condition on an absent key denies the assume and stops the function"
    ),
}


def _lower_keys(condition: Any) -> list[str]:
    if not isinstance(condition, dict):
        return []
    return [key.lower() for block in condition.values() if isinstance(block, dict) for key in block]


def _services(statement: dict[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    if not isinstance(principal, dict):
        return []
    services = principal.get("Service", [])
    services = services if isinstance(services, list) else [services]
    return [s if isinstance(s, str) else _render(s) for s in services]


def _render(value: Any) -> str:
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_render(part) for part in parts)
    if isinstance(value, dict) and "Ref" in value:
        return f"<{value['Ref']}>"
    return str(value)


def _statements(template: dict[str, Any]) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """(logical id, resource type, document kind, statement) of every policy statement."""
    for logical_id, resource in template.get("Resources", {}).items():
        kind, props = resource.get("Type", ""), resource.get("Properties", {})
        documents = []
        if kind == "AWS::IAM::Role":
            documents.append(("trust", props.get("AssumeRolePolicyDocument")))
            documents += [("identity", p.get("PolicyDocument")) for p in props.get("Policies", [])]
        elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents.append(("identity", props.get("PolicyDocument")))
        elif kind == "AWS::KMS::Key":
            documents.append(("key", props.get("KeyPolicy")))
        elif kind in ("AWS::SNS::TopicPolicy", "AWS::SQS::QueuePolicy", "AWS::S3::BucketPolicy"):
            documents.append(("resource", props.get("PolicyDocument")))
        elif kind == "AWS::Lambda::Permission":
            principal = props.get("Principal")
            statement = {
                "Effect": "Allow",
                "Principal": {"Service": principal},
                "Condition": {"": {k: 1 for k in ("aws:SourceArn", "aws:SourceAccount")
                                   if props.get(k.split(":")[1])}},
            }  # fmt: skip
            if isinstance(principal, str) and principal.endswith(".amazonaws.com"):
                yield logical_id, kind, "permission", statement
        for document_kind, document in documents:
            for statement in (document or {}).get("Statement", []):
                yield logical_id, kind, document_kind, statement


def violations(template: dict[str, Any]) -> list[str]:
    """Every broken invariant of ``template``, one readable line each."""
    found = []
    for logical_id, kind, document, statement in _statements(template):
        if statement.get("Effect") != "Allow":
            continue
        keys = _lower_keys(statement.get("Condition"))
        limited = any(key in SOURCE_KEYS for key in keys)
        if document == "key":
            limited = limited or any(key.startswith(KMS_KEYS) for key in keys)
        for service in _services(statement):
            if not limited and (service, kind) not in EXEMPT:
                found.append(
                    f"{logical_id} ({kind}, {document} policy): {service} may act with no "
                    f"aws:SourceAccount/aws:SourceArn condition: {statement.get('Action')}"
                )
        if document == "identity":
            resources = statement.get("Resource")
            resources = resources if isinstance(resources, list) else [resources]
            actions = statement.get("Action")
            actions = actions if isinstance(actions, list) else [actions]
            if "*" in resources:
                loose = [a for a in actions if a not in UNSCOPED_ACTIONS]
                if loose:
                    found.append(f"{logical_id} ({kind}): Resource '*' for {', '.join(loose)}")
    return found
