"""Many accounts, one alert path: member accounts forward vpcwatch's events to an
EventBridge bus in the security account (``AlertForwarder``), where one set of rules
publishes them to the central :class:`AlertTopic` (``CentralAlertBus``).

Nothing is referenced across stacks: the member side takes the bus's ARN as text, so
member stacks deploy to any account (CDK Pipelines stages, StackSets) without a
cross-stack or cross-stage reference.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from constructs import Construct, IValidation

from vpcwatch.constructs._buckets import private_bucket
from vpcwatch.constructs._validation import (
    ACCOUNT_ID,
    account_list,
    acknowledge_role_policy,
    bucket_name_of,
    is_token,
    require_instance,
)
from vpcwatch.constructs.alerts import AlertTopic, alert_topic_of
from vpcwatch.constructs.archive import DELIVERY

_ORGANIZATION = re.compile(r"o-[a-z0-9]{10,32}")
_BUS_ARN = re.compile(r"arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus/[A-Za-z0-9._/-]{1,256}")
_BUS_NAME = re.compile(r"[A-Za-z0-9._-]{1,256}")

ENRICHMENT_SOURCE = "vpcwatch.enricher"
ENRICHMENT_DETAIL_TYPE = "vpcwatch Alarm Enrichment"
"""The events of ``AlarmEnricher(send_events=True)`` (lambda/enricher/handler.py)."""

CONFIG_PREFIX = "vpcwatch"
"""Forwarded Config findings are those of rules named so (ExposureRules' default)."""

ALARM_PREFIX = "vpcwatch-"
"""vpcwatch's alarm names start with it (FlowLogMonitoring's default alarm_name_prefix)."""


def forwarded_patterns(alarm_prefix: str = ALARM_PREFIX) -> dict[str, events.EventPattern]:
    """What a member account forwards, by kind: vpcwatch's alarms going to ALARM,
    GuardDuty findings, the alarm enricher's messages, and AWS Config finding a vpcwatch
    rule non-compliant."""
    return {
        "Alarms": events.EventPattern(
            source=["aws.cloudwatch"],
            detail_type=["CloudWatch Alarm State Change"],
            detail={"alarmName": [{"prefix": alarm_prefix}], "state": {"value": ["ALARM"]}},
        ),
        "GuardDuty": events.EventPattern(
            source=["aws.guardduty"], detail_type=["GuardDuty Finding"]
        ),
        "Enrichment": events.EventPattern(
            source=[ENRICHMENT_SOURCE], detail_type=[ENRICHMENT_DETAIL_TYPE]
        ),
        "Config": events.EventPattern(
            source=["aws.config"],
            detail_type=["Config Rules Compliance Change"],
            detail={
                "configRuleName": [{"prefix": CONFIG_PREFIX}],
                "newEvaluationResult": {"complianceType": ["NON_COMPLIANT"]},
            },
        ),
    }


MESSAGES = {
    "Alarms": "vpcwatch alarm in account <account>, <region>: <alarm> is <state>. <reason>",
    "GuardDuty": "GuardDuty finding in account <account>, <region>: <type> (severity "
    "<severity>): <title>",
    "Enrichment": "Enriched vpcwatch alarm in account <account>, <region>: <text>",
    "Config": "AWS Config in account <account>, <region>: <resource> is NON_COMPLIANT with <rule>",
}
_FIELDS = {
    "Alarms": {"alarm": "$.detail.alarmName", "state": "$.detail.state.value",
               "reason": "$.detail.state.reason"},
    "GuardDuty": {"type": "$.detail.type", "severity": "$.detail.severity",
                  "title": "$.detail.title"},
    "Enrichment": {"text": "$.detail.text"},
    "Config": {"resource": "$.detail.resourceId", "rule": "$.detail.configRuleName"},
}  # fmt: skip


class CentralAlertBus(Construct):
    """The security account's end: an EventBridge bus that the organization's accounts
    (or listed accounts) may put events on, and rules that publish vpcwatch's alarms,
    GuardDuty findings and Config findings from it to one :class:`AlertTopic`, naming
    the account and region they came from.

    Example::

        alerts = AlertTopic(self, "Alerts", emails=["secops@example.com"])
        bus = CentralAlertBus(self, "CentralAlerts", alerts=alerts,
                              organization_id="o-a1b2c3d4e5")
        bus.event_bus_arn  # give it to each member's AlertForwarder

    Args:
        scope: the parent construct.
        id: the construct id.
        alerts: the central :class:`AlertTopic` (or an ``sns.ITopic`` of this account).
        organization_id: admit every account of this AWS Organization
            (``aws:PrincipalOrgID``). Give this or ``account_ids``.
        account_ids: admit these 12-digit accounts only.
        bus_name: the bus's name. Default: ``"vpcwatch-alerts"``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        alerts: AlertTopic | sns.ITopic,
        organization_id: str | None = None,
        account_ids: Sequence[str] = (),
        bus_name: str = "vpcwatch-alerts",
    ) -> None:
        super().__init__(scope, id)
        alerts = alert_topic_of(self, alerts, required=True)
        accounts = _members(organization_id, account_ids)
        if (
            not isinstance(bus_name, str)
            or not _BUS_NAME.fullmatch(bus_name)
            or (bus_name == "default")
        ):
            raise ValueError(
                "bus_name must be 1-256 letters, digits, '.', '-' or '_', not 'default'; "
                f"got {bus_name!r}"
            )
        self._bus = events.EventBus(self, "Bus", event_bus_name=bus_name)
        if organization_id is not None:
            principals: list[iam.IPrincipal] = [iam.AnyPrincipal()]
            condition: dict[str, Any] | None = {
                "StringEquals": {"aws:PrincipalOrgID": organization_id}
            }
        else:
            principals, condition = [iam.AccountPrincipal(a) for a in accounts], None
        self._bus.add_to_resource_policy(
            iam.PolicyStatement(
                sid="MembersPutEvents",
                principals=principals,
                actions=["events:PutEvents"],
                resources=[self._bus.event_bus_arn],
                conditions=condition,
            )
        )
        self._rules = [
            alerts.route(
                self,
                f"{kind}Rule",
                description=f"vpcwatch: {kind.lower()} forwarded by member accounts, to "
                "the alert topic",
                event_pattern=pattern,
                message=_message(kind),
                event_bus=self._bus,
            )
            for kind, pattern in forwarded_patterns().items()
        ]

    @property
    def event_bus(self) -> events.IEventBus:
        return self._bus

    @property
    def event_bus_arn(self) -> str:
        """The bus's ARN: give it to every member account's :class:`AlertForwarder`."""
        return self._bus.event_bus_arn

    @property
    def rules(self) -> tuple[events.Rule, ...]:
        return tuple(self._rules)


class AlertForwarder(Construct):
    """A member account's end: rules on the default bus that forward vpcwatch's alarms
    going to ALARM, GuardDuty findings and vpcwatch's Config findings to the central
    bus (:class:`CentralAlertBus`), by ARN.

    Example::

        AlertForwarder(self, "Forward",
                       central_bus_arn="arn:aws:events:us-east-1:111111111111:event-bus/vpcwatch-alerts")

    Args:
        scope: the parent construct.
        id: the construct id.
        central_bus_arn: the central bus's ARN (text: no cross-stack reference).
        alarm_prefix: the prefix of the alarm names to forward. Default: ``"vpcwatch-"``
            (FlowLogMonitoring's default names).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        central_bus_arn: str,
        alarm_prefix: str = ALARM_PREFIX,
    ) -> None:
        super().__init__(scope, id)
        if not isinstance(central_bus_arn, str) or not (
            is_token(central_bus_arn) or _BUS_ARN.fullmatch(central_bus_arn)
        ):
            raise ValueError(
                "central_bus_arn must be an event bus ARN "
                f"(arn:aws:events:<region>:<account>:event-bus/<name>); got {central_bus_arn!r}"
            )
        if not isinstance(alarm_prefix, str) or not alarm_prefix or len(alarm_prefix) > 180:
            raise ValueError(f"alarm_prefix must be text of 1-180 characters; got {alarm_prefix!r}")
        stack = cdk.Stack.of(self)
        bus = events.EventBus.from_event_bus_arn(self, "CentralBus", central_bus_arn)
        self._role = iam.Role(
            self,
            "Role",
            description="vpcwatch: EventBridge puts forwarded events on the central bus",
            assumed_by=iam.ServicePrincipal(
                "events.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
            ),
        )
        self._role.add_to_policy(
            iam.PolicyStatement(actions=["events:PutEvents"], resources=[central_bus_arn])
        )
        acknowledge_role_policy(self._role)
        self._alarm_prefix = alarm_prefix
        self.node.add_validation(_UnforwardedAlarms(self))
        self._rules = []
        for kind, pattern in forwarded_patterns(alarm_prefix).items():
            rule = events.Rule(
                self,
                f"{kind}Rule",
                description=f"vpcwatch: {kind.lower()} to the central alert bus",
                event_pattern=pattern,
            )
            rule.add_target(targets.EventBus(bus, role=self._role))
            self._rules.append(rule)

    @property
    def role(self) -> iam.IRole:
        return self._role

    @property
    def rules(self) -> tuple[events.Rule, ...]:
        return tuple(self._rules)


@jsii.implements(IValidation)
class _UnforwardedAlarms:
    """At synth: every vpcwatch alarm of the forwarder's stack must carry its prefix, or
    it would ring in the member account and never reach the central bus."""

    def __init__(self, forwarder: AlertForwarder) -> None:
        self._forwarder = forwarder

    def validate(self) -> list[str]:
        from vpcwatch.constructs.exposure import ExposureRules  # they import alerts
        from vpcwatch.constructs.monitoring import FlowLogMonitoring

        stack = cdk.Stack.of(self._forwarder)
        prefix = self._forwarder._alarm_prefix
        errors = []
        for construct in stack.node.find_all():
            if isinstance(construct, ExposureRules) and cdk.Stack.of(construct) == stack:
                missed = [n for n in construct.rule_names if not n.startswith(CONFIG_PREFIX)]
                if missed:
                    errors.append(
                        f"{construct.node.path}: Config rules {', '.join(missed)} do not "
                        f"start with {CONFIG_PREFIX!r}, so their findings would never reach "
                        "the central bus; give rule_name_prefix a value starting with it"
                    )
            if not isinstance(construct, FlowLogMonitoring) or cdk.Stack.of(construct) != stack:
                continue
            missed = sorted(
                str(name) for name in construct.alarm_names.values()
                if name is None or not (is_token(name) or name.startswith(prefix))
            )  # fmt: skip
            if missed:
                errors.append(
                    f"{construct.node.path}: alarms {', '.join(missed)} do not start with "
                    f"{prefix!r}, so {self._forwarder.node.path} would never forward them "
                    "to the central bus (None: CloudFormation names it). Give the "
                    "monitoring an alarm_name_prefix starting with it, or the forwarder "
                    "a matching alarm_prefix"
                )
        return errors


class CentralArchive(Construct):
    """The log-archive account's end: one evidence bucket that the flow logs of listed
    member accounts deliver to, in AWS's own key layout
    (``AWSLogs/<account>/vpcflowlogs/<region>/...``), readable by the accounts that
    query it (the security account's Athena).

    Each member writes only under its own ``AWSLogs/<account>/`` prefix: the delivery
    service is admitted per account, with ``aws:SourceAccount`` and ``aws:SourceArn``
    of that account's log deliveries. Members pass the bucket's ARN to their
    ``FlowLogPipeline(destinations=("cloudwatch", "s3"), archive_bucket=...)`` as an
    imported bucket.

    Example::

        archive = CentralArchive(self, "Archive",
                                 member_account_ids=["222222222222", "333333333333"],
                                 reader_account_ids=["111111111111"])
        archive.bucket.bucket_arn  # for the members' pipelines

    Args:
        scope: the parent construct.
        id: the construct id.
        member_account_ids: the accounts whose flow logs it receives (12 digits each).
        reader_account_ids: accounts that may read and list it (the security account's
            Athena). Default: none.
        expiration: delete records after this long. Default: 365 days.
        object_lock: an ``s3.ObjectLockRetention`` (WORM), or ``None``. Default: ``None``.
        bucket_name: the bucket's name, so that members and the security account's
            :class:`FlowLogTable` can be given it as text (no cross-account reference).
            Default: a generated name (read it from ``bucket.bucket_name`` after deploy).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        member_account_ids: Sequence[str],
        reader_account_ids: Sequence[str] = (),
        expiration: cdk.Duration | None = None,
        object_lock: s3.ObjectLockRetention | None = None,
        bucket_name: str | None = None,
    ) -> None:
        super().__init__(scope, id)
        if bucket_name is not None:
            bucket_name_of("bucket_name", bucket_name)
        members = account_list("member_account_ids", member_account_ids, required=True)
        readers = account_list("reader_account_ids", reader_account_ids, required=False)
        expiration = cdk.Duration.days(365) if expiration is None else expiration
        require_instance("expiration", expiration, cdk.Duration, "a cdk.Duration")
        self._bucket = private_bucket(
            self,
            "Bucket",
            lifecycle_rules=[s3.LifecycleRule(expiration=expiration)],
            removal_policy=cdk.RemovalPolicy.RETAIN,
            object_lock=object_lock,
            bucket_name=bucket_name,
        )
        stack = cdk.Stack.of(self)
        for account in members:
            deliveries = f"arn:{stack.partition}:logs:*:{account}:*"
            source = {"aws:SourceAccount": account}
            self._bucket.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=f"DeliveryWrite{account}",
                    principals=[iam.ServicePrincipal(DELIVERY)],
                    actions=["s3:PutObject"],
                    resources=[self._bucket.arn_for_objects(f"AWSLogs/{account}/*")],
                    conditions={
                        "StringEquals": {**source, "s3:x-amz-acl": "bucket-owner-full-control"},
                        "ArnLike": {"aws:SourceArn": deliveries},
                    },
                )
            )
        self._bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="DeliveryAclCheck",
                principals=[iam.ServicePrincipal(DELIVERY)],
                actions=["s3:GetBucketAcl", "s3:ListBucket"],
                resources=[self._bucket.bucket_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": list(members)},
                    "ArnLike": {"aws:SourceArn": [
                        f"arn:{stack.partition}:logs:*:{account}:*" for account in members
                    ]},
                },
            )
        )  # fmt: skip
        if readers:
            self._bucket.add_to_resource_policy(
                iam.PolicyStatement(
                    sid="Readers",
                    principals=[iam.AccountPrincipal(account) for account in readers],
                    actions=["s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation"],
                    resources=[self._bucket.bucket_arn, self._bucket.arn_for_objects("AWSLogs/*")],
                )
            )

    @property
    def bucket(self) -> s3.IBucket:
        return self._bucket


def _message(kind: str) -> str:
    text = MESSAGES[kind]
    fields = {"account": "$.account", "region": "$.region", **_FIELDS[kind]}
    for name, path in fields.items():
        text = text.replace(f"<{name}>", events.EventField.from_path(path))
    return text


def _members(organization_id: Any, account_ids: Any) -> tuple[str, ...]:
    accounts = tuple(account_ids) if not isinstance(account_ids, str) else None
    if accounts is None:
        raise TypeError(f"account_ids must be a list of account ids, not {account_ids!r}")
    if (organization_id is None) == (not accounts):
        raise ValueError(
            "give organization_id (every account of the organization) or account_ids "
            "(listed accounts), exactly one of them"
        )
    if organization_id is not None and not (
        is_token(organization_id)
        or (isinstance(organization_id, str) and _ORGANIZATION.fullmatch(organization_id))
    ):
        raise ValueError(f"organization_id must look like o-a1b2c3d4e5; got {organization_id!r}")
    bad = [
        a for a in accounts if not (is_token(a) or (isinstance(a, str) and ACCOUNT_ID.fullmatch(a)))
    ]
    if bad:
        raise ValueError(f"account_ids must be 12-digit account ids; got {bad!r}")
    return accounts
