"""``AlertTopic``: an encrypted SNS topic that CloudWatch alarms and EventBridge can
actually publish to (aws-cdk #11121: a KMS key must admit those services)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import aws_cdk as cdk
import jsii
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from vpcwatch.constructs._validation import is_token, require_interface, require_sequence

PUBLISHERS = ("cloudwatch.amazonaws.com", "events.amazonaws.com")
"""Services that publish vpcwatch alerts: CloudWatch alarms and EventBridge rules."""

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z0-9-]{2,}")


class AlertTopic(Construct):
    """The topic every vpcwatch alarm and event rule notifies.

    Example::

        alerts = AlertTopic(self, "Alerts", emails=["secops@example.com"])
        alerts.add_email("oncall@example.com")

    Args:
        scope: the parent construct.
        id: the construct id.
        emails: addresses subscribed by e-mail (each must confirm). Default: none.
        encryption: create a customer-managed KMS key (rotated) whose policy lets
            CloudWatch and EventBridge use it. Default: ``True``.
        topic: an existing ``sns.ITopic`` to use instead of creating one. A topic created
            in this app gets the publishers' statements in its policy, and in its key's
            policy when its key is a ``kms.Key`` of this app; for an imported topic or key
            vpcwatch warns at synth that its key must admit the publishers. Default: a new
            topic.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        emails: Sequence[str] = (),
        encryption: bool = True,
        topic: sns.ITopic | None = None,
    ) -> None:
        super().__init__(scope, id)
        if not isinstance(encryption, bool):
            raise TypeError(f"encryption must be True or False, got {encryption!r}")
        addresses = require_sequence("emails", emails, "e-mail addresses")
        if topic is not None:
            require_interface("topic", topic, "topic_arn", "an sns.ITopic")
            _refuse_other_account(self, topic)
            self._key: kms.IKey | None = None
            self._topic: sns.ITopic = topic
            self._adopt(topic)
        else:
            self._key = self._create_key() if encryption else None
            self._topic = self._create_topic()
        for address in addresses:
            self.add_email(address)

    @property
    def topic(self) -> sns.ITopic:
        """The SNS topic."""
        return self._topic

    @property
    def key(self) -> kms.IKey | None:
        """The topic's KMS key, or ``None`` (unencrypted, or an imported topic)."""
        return self._key

    def add_email(self, address: str) -> None:
        """Subscribe ``address`` by e-mail.

        Raises:
            ValueError: not an e-mail address.
        """
        if not is_token(address) and (
            not isinstance(address, str) or not _EMAIL.fullmatch(address)
        ):
            raise ValueError(f"emails: {address!r} is not an e-mail address (name@domain.tld)")
        self._topic.add_subscription(subscriptions.EmailSubscription(address))

    def route(
        self,
        scope: Construct,
        id: str,
        *,
        description: str,
        event_pattern: events.EventPattern,
        message: str,
        event_bus: events.IEventBus | None = None,
    ) -> events.Rule:
        """An EventBridge rule in ``scope`` that sends matching events to this topic as
        ``message`` (a text with ``EventField`` placeholders: an input transformer), on
        ``event_bus`` (default: the account's default bus)."""
        rule = events.Rule(scope, id, description=description, event_pattern=event_pattern,
                           event_bus=event_bus)  # fmt: skip
        rule.add_target(_TopicTarget(self._topic, events.RuleTargetInput.from_text(message)))
        return rule

    def _adopt(self, topic: sns.ITopic) -> None:
        """Let the publishers use a topic made elsewhere, as far as vpcwatch can edit it."""
        key = getattr(topic, "master_key", None)
        if isinstance(topic, sns.Topic):
            self._allow_publishers(topic)
            if isinstance(key, kms.Key):
                self._key = key
                self._allow_key_use(key)
                return
            if key is None:
                return
        cdk.Annotations.of(self).add_warning_v2(
            "vpcwatch:imported-topic",
            f"topic {topic.node.path} or its key is imported, so vpcwatch cannot edit their "
            f"policies: if the topic is encrypted, its key policy must allow "
            f"{' and '.join(PUBLISHERS)} kms:Decrypt and kms:GenerateDataKey*, or alarms "
            "and events will fail to publish to it",
        )

    def _create_key(self) -> kms.Key:
        key = kms.Key(
            self,
            "Key",
            description=f"Encrypts the vpcwatch alert topic {self.node.path}",
            enable_key_rotation=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self._allow_key_use(key)
        return key

    def _allow_key_use(self, key: kms.Key) -> None:
        """CloudWatch may use the key only for this account's alarms. EventBridge gets
        no source condition: the SNS developer guide (Key management) says
        aws:SourceAccount and aws:SourceArn are not supported in a key policy for
        EventBridge-to-encrypted topics, so such a condition would drop every event."""
        stack = cdk.Stack.of(self)
        alarms = stack.format_arn(
            service="cloudwatch",
            resource="alarm",
            resource_name="*",
            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowAlarmsToPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": alarms},
                },
            )
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowEventRulesToPublish",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            )
        )

    def _create_topic(self) -> sns.Topic:
        topic = sns.Topic(
            self,
            "Topic",
            display_name="vpcwatch alerts",
            master_key=self._key,
            enforce_ssl=True,
        )
        self._allow_publishers(topic)
        return topic

    def _allow_publishers(self, topic: sns.Topic) -> None:
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowAlertPublishers",
                principals=[iam.ServicePrincipal(service) for service in PUBLISHERS],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={"StringEquals": {"aws:SourceAccount": cdk.Stack.of(self).account}},
            )
        )


def _refuse_other_account(scope: Construct, topic: sns.ITopic) -> None:
    """A topic of another account would drop every alert: CloudWatch and EventBridge
    publish with this account as the source, which the topic's own policy does not
    admit (an AlertTopic admits its own account only)."""
    stack = cdk.Stack.of(scope)
    arn = topic.topic_arn
    if is_token(arn) or is_token(stack.account):
        return
    parts = arn.split(":")
    if len(parts) >= 6 and parts[4] and parts[4] != stack.account:
        raise ValueError(
            f"alerts is a topic of account {parts[4]} ({arn}), and this stack is in "
            f"{stack.account}: its alarms and rules could not publish to it. Across "
            "accounts, forward events instead: AlertForwarder(central_bus_arn=...) here, "
            "and CentralAlertBus with the topic in its own account."
        )


@jsii.implements(events.IRuleTarget)
class _TopicTarget:
    """An EventBridge target that publishes to the topic. Unlike ``targets.SnsTopic`` it
    adds no statement to the topic's policy (that one lets events.amazonaws.com publish
    with no condition); the topic's own ``AllowAlertPublishers`` statement admits this
    account's rules."""

    def __init__(self, topic: sns.ITopic, message: events.RuleTargetInput) -> None:
        self._topic, self._message = topic, message

    def bind(self, rule: events.IRule, id: str | None = None) -> events.RuleTargetConfig:
        return events.RuleTargetConfig(arn=self._topic.topic_arn, input=self._message)


def alert_topic_of(
    scope: Construct, alerts: AlertTopic | sns.ITopic | None, *, required: bool = False
) -> AlertTopic | None:
    """``alerts`` as an :class:`AlertTopic`: as it is, or wrapping an ``sns.ITopic`` (made
    in ``scope`` as ``Alerts``, so the publishers' permissions are set up or warned about).

    Raises:
        TypeError: anything else (or ``None`` when ``required``), naming ``alerts``.
    """
    if isinstance(alerts, AlertTopic) or (alerts is None and not required):
        return alerts
    if alerts is not None and hasattr(alerts, "topic_arn") and not isinstance(alerts, str):
        return AlertTopic(scope, "Alerts", topic=alerts)
    what = "a vpcwatch.AlertTopic or an sns.ITopic" + ("" if required else " or None")
    raise TypeError(f"alerts must be {what}, got {alerts!r}")
