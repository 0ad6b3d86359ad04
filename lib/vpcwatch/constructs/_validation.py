"""Argument checks and acknowledgments shared by every vpcwatch construct.

Hard errors raise ``ValueError`` (or ``TypeError`` for a wrong type) naming the
argument and what is allowed; values that are unresolved tokens are not judged.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

import aws_cdk as cdk
from constructs import Construct, IConstruct

E = TypeVar("E", bound=enum.Enum)


def is_token(value: Any) -> bool:
    """True when ``value`` is a CDK token that is only known at deploy time (tokens reach
    Python as strings, numbers or lists; anything else is not one)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float, list)):
        return False
    return cdk.Token.is_unresolved(value)


_CLAIMED: dict[tuple[str, ...], str] = {}


def claim_physical_name(scope: IConstruct, kind: str, name: str, argument: str) -> None:
    """Refuse a second resource of ``kind`` named ``name`` in the same account and region
    of one app: CloudFormation would only fail at deploy (alarm, Config rule, Glue
    database and Athena workgroup names are unique per account and region).

    Raises:
        ValueError: the name is taken; the message names both constructs and ``argument``.
    """
    if is_token(name):
        return
    stack = cdk.Stack.of(scope)
    # The root's jsii reference tells apps apart (every App's node.addr is the same).
    root = scope.node.root
    app = getattr(getattr(root, "__jsii_ref__", None), "ref", None) or str(id(root))
    key = (app, str(stack.account), str(stack.region), kind, name)
    owner = _CLAIMED.setdefault(key, scope.node.path)
    if owner != scope.node.path:
        raise ValueError(
            f"{scope.node.path}: the {kind} name {name!r} is already used by {owner} in the "
            f"same account and region; give {argument} a different value"
        )


def require_instance(name: str, value: Any, types: type | tuple[type, ...], what: str) -> None:
    """Raise ``TypeError`` naming ``name`` unless ``value`` is one of ``types``."""
    if not isinstance(value, types):
        raise TypeError(f"{name} must be {what}, got {type(value).__name__}: {value!r}")


def require_interface(name: str, value: Any, attribute: str, what: str) -> None:
    """Raise ``TypeError`` naming ``name`` unless ``value`` has ``attribute``.

    jsii interfaces (``ec2.IVpc``...) are not runtime-checkable, and imported resources
    are dynamic proxies; a characteristic attribute (``vpc_id``) is the reliable test.
    """
    if (
        value is None
        or isinstance(value, (str, bytes, int, float))
        or not hasattr(value, attribute)
    ):
        raise TypeError(f"{name} must be {what}, got {type(value).__name__}: {value!r}")


def require_sequence(name: str, value: Any, what: str) -> tuple[Any, ...]:
    """A tuple of ``value``'s items; a lone string or a non-sequence is refused."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, set, frozenset)):
        raise TypeError(f"{name} must be a list of {what}, got {type(value).__name__}: {value!r}")
    return tuple(value)


ACCOUNT_ID = re.compile(r"\d{12}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")
BUCKET_NAME = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
"""An S3 bucket name (general purpose): 3-63 lowercase letters, digits, '.' and '-'."""


def bucket_name_of(name: str, value: Any) -> str:
    """A bucket name (or a token CloudFormation resolves), as S3 allows it."""
    if not isinstance(value, str) or not (is_token(value) or re.fullmatch(BUCKET_NAME, value)):
        raise ValueError(
            f"{name} must be an S3 bucket name (3-63 lowercase letters, digits, '.' and '-', "
            f"starting and ending with a letter or digit); got {value!r}"
        )
    return value


def account_list(name: str, value: Any, *, required: bool) -> tuple[str, ...]:
    """12-digit account ids, literal (they name S3 prefixes and policies), none repeated."""
    accounts = require_sequence(name, value, "12-digit account ids")
    if required and not accounts:
        raise ValueError(f"{name} must name at least one account")
    bad = [a for a in accounts if not (isinstance(a, str) and ACCOUNT_ID.fullmatch(a))]
    if bad:
        raise ValueError(f"{name} must be 12-digit account ids (literal); got {bad!r}")
    if len(set(accounts)) != len(accounts):
        raise ValueError(f"{name} repeats an account: {sorted(accounts)}")
    return accounts


def region_list(name: str, value: Any) -> tuple[str, ...]:
    """At least one literal region name (``eu-west-1``), none repeated."""
    regions = require_sequence(name, value, "region names")
    bad = [r for r in regions if not (isinstance(r, str) and _REGION.fullmatch(r))]
    if not regions or bad:
        raise ValueError(
            f"{name} must be one or more region names such as 'eu-west-1'; got {list(regions)!r}"
        )
    if len(set(regions)) != len(regions):
        raise ValueError(f"{name} repeats a region: {sorted(regions)}")
    return regions


def choose(name: str, value: Any, choices: type[E], aliases: dict[str, E] | None = None) -> E:
    """Normalise ``value`` to a member of the enum ``choices``.

    Accepts a member, or a string equal (case-insensitively) to a member's value or
    name, or an alias. The error names the argument and lists the allowed values.
    """
    if isinstance(value, choices):
        return value
    if isinstance(value, str):
        lookup = {m.name.lower(): m for m in choices} | {str(m.value).lower(): m for m in choices}
        lookup |= {k.lower(): v for k, v in (aliases or {}).items()}
        found = lookup.get(value.lower())
        if found is not None:
            return found
    allowed = ", ".join(repr(m.value) for m in choices)
    raise ValueError(f"{name} must be one of {allowed}; got {value!r}")


ACKNOWLEDGED = "vpcwatch:acknowledged"
"""Construct metadata listing every acknowledgment vpcwatch made (``pack-rule: reason``),
so a test can list them and a new one is a reviewed change."""


def acknowledge(construct: IConstruct, findings: Iterable[tuple[str, str]]) -> None:
    """Acknowledge cdk-nag AwsSolutions findings on ``construct``, each with its reason.

    cdk-nag 3 acknowledges each finding separately: a rule that reports several
    findings per resource is named with the finding, ``IAM5[Resource::arn:...]``
    (see :func:`nag_rendering` for the text of a token).

    Args:
        findings: pairs of (rule, reason), e.g. ``("EC23", "a public web server")``.
    """
    acknowledge_rules(construct, "AwsSolutions", findings)


def acknowledge_rules(
    construct: IConstruct, pack: str, findings: Iterable[tuple[str, str]]
) -> None:
    """Acknowledge findings of the cdk-nag ``pack`` (``AwsSolutions``, ``NIST.800.53.R5``)."""
    findings = list(findings)
    if not findings:
        return
    for rule, reason in findings:
        construct.node.add_metadata(ACKNOWLEDGED, f"{pack}-{rule}: {reason}")
    if not hasattr(cdk, "Acknowledgment"):  # aws-cdk-lib before 2.257: cdk-nag 2
        _suppress_in_metadata(construct, pack, findings)
        return
    acks = [
        cdk.Acknowledgment(id=f"{pack}::{pack}-{rule}", reason=reason) for rule, reason in findings
    ]
    cdk.Validations.of(construct).acknowledge(*acks)


ONE_ROLE_POLICY = (
    "The policy belongs to exactly one role that vpcwatch creates (its DefaultPolicy); a "
    "customer-managed policy would be a reusable document other principals could be "
    "attached to."
)


def acknowledge_role_policy(role: IConstruct) -> None:
    """NIST 800-53 R5 IAMNoInlinePolicy on a role's own policy, with its reason."""
    acknowledge_rules(role, "NIST.800.53.R5", [("IAMNoInlinePolicy", ONE_ROLE_POLICY)])


def _suppress_in_metadata(
    construct: IConstruct, pack: str, findings: list[tuple[str, str]]
) -> None:
    """cdk-nag 2's form of the same acknowledgments: ``cdk_nag`` metadata on every
    CloudFormation resource under ``construct`` (as ``NagSuppressions`` writes it with
    ``apply_to_children``), a finding ``IAM5[Resource::x]`` as ``applies_to``."""
    rules: dict[str, dict[str, Any]] = {}
    for rule, reason in findings:
        name, _, finding = rule.partition("[")
        entry = rules.setdefault(name, {"id": f"{pack}-{name}", "reason": reason})
        if finding:
            entry.setdefault("applies_to", []).append(finding[:-1])
    for node in construct.node.find_all():
        if isinstance(node, cdk.CfnResource):
            present = node.get_metadata("cdk_nag") or {}
            suppressed = [*present.get("rules_to_suppress", []), *rules.values()]
            node.add_metadata("cdk_nag", {**present, "rules_to_suppress": suppressed})


def nag_rendering(scope: IConstruct, value: str) -> str:
    """``value`` as cdk-nag prints it in a finding id: tokens become ``<AWS::Region>``,
    ``<LogicalId.Arn>``; joins are joined."""
    return _render(cdk.Stack.of(scope).resolve(value))


def _render(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        return f"<{value['Ref']}>"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return "<" + ".".join(value["Fn::GetAtt"]) + ">"
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_render(part) for part in parts)
    return str(value)


def key_of(
    scope: Construct,
    value: Any,
    argument: str,
    *,
    purpose: str,
    removal_policy: cdk.RemovalPolicy,
) -> Any:
    """``None``/``False``: no key; ``True``: a rotated ``kms.Key`` named ``Key`` under
    ``scope`` ("Encrypts <purpose> of <path>"); a ``kms.IKey``: used as it is.

    Raises:
        TypeError: anything else, naming ``argument``.
    """
    from aws_cdk import aws_kms as kms

    if value is None or value is False:
        return None
    if value is True:
        return kms.Key(
            scope,
            "Key",
            description=f"Encrypts {purpose} of {scope.node.path}",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
    require_interface(argument, value, "key_arn", "True, None or a kms.IKey")
    return value
