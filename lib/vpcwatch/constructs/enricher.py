"""``AlarmEnricher``: a Lambda that answers, in the alert, who probed what and which
security-group rule let them in (lambda/enricher/handler.py)."""

from __future__ import annotations

import base64
import json
import zlib

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from vpcwatch.constructs._functions import function_log_group, vpcwatch_function
from vpcwatch.constructs._validation import (
    acknowledge,
    acknowledge_role_policy,
    acknowledge_rules,
    claim_physical_name,
    nag_rendering,
)
from vpcwatch.constructs.alerts import AlertTopic, alert_topic_of
from vpcwatch.constructs.monitoring import FlowLogMonitoring
from vpcwatch.detectors import Detector
from vpcwatch.queries import enrichment_query

DELIVERY_DELAY_SECONDS = 600
"""Flow logs reach CloudWatch Logs within about 5 minutes, after up to 1 minute of
aggregation; the query looks back this much further than the alarm's window."""
MAX_ENVIRONMENT_BYTES = 4096


class AlarmEnricher(Construct):
    """Enriches every ALARM of a :class:`FlowLogMonitoring` and publishes to the alerts.

    Triggered by EventBridge "CloudWatch Alarm State Change" events of the monitoring's
    alarms: the event carries the alarm's metric and window, and the trigger is
    independent of the alarm's own SNS notification, which always goes out.

    Example::

        AlarmEnricher(self, "Enricher", monitoring=monitoring, alerts=alerts)

    Args:
        scope: the parent construct.
        id: the construct id.
        monitoring: the :class:`FlowLogMonitoring` whose alarms are enriched.
        alerts: an :class:`AlertTopic` or any ``sns.ITopic``: where the enriched message
            goes.
        max_rows: how many top flows the message lists (1 to 50). Default: 10.
        send_events: also put each enriched message on this account's default event bus
            (source ``vpcwatch.enricher``, detail type ``vpcwatch Alarm Enrichment``, the
            account and region in it), where an :class:`AlertForwarder` carries it to the
            central alert bus of many accounts. Default: ``False``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        monitoring: FlowLogMonitoring,
        alerts: AlertTopic | sns.ITopic,
        max_rows: int = 10,
        send_events: bool = False,
    ) -> None:
        super().__init__(scope, id)
        if not isinstance(send_events, bool):
            raise TypeError(f"send_events must be True or False, got {send_events!r}")
        if not isinstance(monitoring, FlowLogMonitoring):
            raise TypeError(f"monitoring must be a vpcwatch.FlowLogMonitoring, got {monitoring!r}")
        alerts = alert_topic_of(self, alerts, required=True)
        if isinstance(max_rows, bool) or not isinstance(max_rows, int) or not 1 <= max_rows <= 50:
            raise ValueError(f"max_rows must be an integer from 1 to 50; got {max_rows!r}")
        stack = cdk.Stack.of(self)
        log_group = monitoring.pipeline.log_group
        self._log_group = function_log_group(self, "enricher", monitoring.pipeline.encryption_key)
        self._role = self._create_role(stack, log_group, alerts, send_events)
        self._failures = sqs.Queue(
            self, "Failures", encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )  # fmt: skip
        acknowledge(self._failures, [("SQS3", "It is the function's dead-letter queue.")])
        self._function = vpcwatch_function(
            self,
            "enricher",
            timeout=cdk.Duration.seconds(60),
            memory_size=256,
            reserved_concurrent_executions=2,
            role=self._role,
            log_group=self._log_group,
            # Deploy-time values (tokens) stay plain; the literal configuration is packed.
            environment={
                "VPCWATCH_CONFIG": _encoded(self._config(monitoring, max_rows)),
                "VPCWATCH_LOG_GROUP": log_group.log_group_name,
                "VPCWATCH_TOPIC_ARN": alerts.topic.topic_arn,
                **({"VPCWATCH_EVENT_BUS": "default"} if send_events else {}),
            },
            on_failure=destinations.SqsDestination(self._failures),
            retry_attempts=2,
            description="vpcwatch: adds flows, instances and open rules to alarm notifications",
        )
        acknowledge_rules(self._function, "NIST.800.53.R5", [
            ("LambdaDLQ", "Failed asynchronous invocations go to an encrypted SQS queue "
             "through the on-failure destination (EventInvokeConfig), which keeps the event "
             "and the error; a dead-letter queue would only duplicate it."),
            ("LambdaInsideVPC", "The function calls only AWS APIs (Logs Insights, EC2 "
             "Describe*, SNS); inside a VPC it would need a NAT gateway or interface "
             "endpoints and would protect no data of its own."),
        ])  # fmt: skip
        self._rule = events.Rule(
            self,
            "AlarmStateRule",
            description="vpcwatch: flow-log alarms that go to ALARM, to the enricher",
            event_pattern=events.EventPattern(
                source=["aws.cloudwatch"],
                detail_type=["CloudWatch Alarm State Change"],
                resources=list(monitoring.alarm_arns.values()),
                detail={"state": {"value": ["ALARM"]}},
            ),
        )
        self._rule.add_target(targets.LambdaFunction(self._function))
        self._monitoring_names = monitoring.alarm_names
        self._health_alarms = self._add_health_alarms(alerts)

    def _add_health_alarms(self, alerts: AlertTopic) -> dict[str, cloudwatch.Alarm]:
        """The enricher watched by CloudWatch itself: its errors and the events it failed
        on reach the topic through CloudWatch's alarm action, not through the function's
        own publish (so a broken role, key or function cannot hide its own failure)."""
        five_minutes = cdk.Duration.minutes(5)
        metrics = {
            "Errors": self._function.metric_errors(period=five_minutes, statistic="Sum"),
            "FailedEvents": self._failures.metric_approximate_number_of_messages_visible(
                period=five_minutes, statistic="Maximum"
            ),
        }
        descriptions = {
            "Errors": "[HIGH] The vpcwatch alarm enricher failed. Its alarms' own "
            "notifications still went out; check the function's log group.",
            "FailedEvents": "[HIGH] Alarm events the vpcwatch enricher could not publish "
            "after its retries wait in its failure queue (kept 14 days): see the README's "
            "'redrive' for how to send them again.",
        }
        alarms = {}
        prefix = next(iter(self._monitoring_names.values()), None)
        prefix = None if prefix is None else prefix.rsplit("-", 1)[0] + "-"
        for name, metric in metrics.items():
            alarm_name = None if prefix is None else f"{prefix}Enricher{name}"
            if alarm_name is not None:
                claim_physical_name(self, "alarm", alarm_name, "the monitoring's alarm_name_prefix")
            alarm = cloudwatch.Alarm(
                self, f"{name}Alarm", metric=metric, threshold=1, evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=descriptions[name], alarm_name=alarm_name,
            )  # fmt: skip
            alarm.add_alarm_action(actions.SnsAction(alerts.topic))
            alarms[name] = alarm
        return alarms

    @property
    def health_alarms(self) -> dict[str, cloudwatch.Alarm]:
        """The alarms on the function's ``Errors`` and on its failure queue's depth."""
        return dict(self._health_alarms)

    @property
    def function(self) -> lambda_.IFunction:
        return self._function

    @property
    def role(self) -> iam.IRole:
        return self._role

    @property
    def rule(self) -> events.Rule:
        return self._rule

    @property
    def failures(self) -> sqs.IQueue:
        """Events the function failed on after its retries."""
        return self._failures

    def _config(self, monitoring: FlowLogMonitoring, max_rows: int) -> dict:
        """The literal part of the configuration: queries made by the library, titles,
        severities and alarm windows (no deploy-time tokens: it is compressed)."""
        fmt = monitoring.pipeline.log_format
        detectors: dict[str, dict] = {
            d.name: {"title": d.title, "severity": d.severity.value} for d in monitoring.detectors
        }
        for d in monitoring.detectors:
            if isinstance(d, Detector):
                detectors[d.name] |= {"query": enrichment_query(d.filter_for(fmt), max_rows),
                                      "lookup": d.internal_address}  # fmt: skip
        windows = {
            d.name: d.alarm.period * d.alarm.evaluation_periods for d in monitoring.detectors
        }
        alarms = {name: d for d, name in monitoring.alarm_names.items() if name is not None}
        return {
            "alarms": alarms,
            "maxRows": max_rows,
            "deliveryDelaySeconds": DELIVERY_DELAY_SECONDS,
            "windowSeconds": windows,
            "detectors": detectors,
        }

    def _create_role(
        self, stack: cdk.Stack, log_group: logs.ILogGroup, alerts: AlertTopic, send_events: bool
    ) -> iam.Role:
        role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="vpcwatch alarm enricher: query one log group, describe, publish",
        )
        statements = [
            (["logs:CreateLogStream", "logs:PutLogEvents"], [self._log_group.log_group_arn]),
            (["logs:StartQuery"], [log_group.log_group_arn]),
            # Query ids are not resources: these two take no resource-level permission.
            (["logs:GetQueryResults", "logs:StopQuery"], ["*"]),
            (["ec2:DescribeNetworkInterfaces", "ec2:DescribeSecurityGroups"], ["*"]),
            (["sns:Publish"], [alerts.topic.topic_arn]),
        ]
        if alerts.key is not None:
            statements.append((["kms:GenerateDataKey*", "kms:Decrypt"], [alerts.key.key_arn]))
        if send_events:
            bus = stack.format_arn(service="events", resource="event-bus", resource_name="default")
            statements.append((["events:PutEvents"], [bus]))
        for allowed, resources in statements:
            role.add_to_policy(iam.PolicyStatement(actions=allowed, resources=resources))
        unscoped = "GetQueryResults, StopQuery and EC2 Describe* take no resource scoping."
        findings = [("IAM5[Resource::*]", unscoped)]
        for arn in (log_group.log_group_arn, self._log_group.log_group_arn):
            rendered = nag_rendering(self, arn)
            if "*" in rendered:
                findings.append((f"IAM5[Resource::{rendered}]", "The streams of one log group."))
        findings.append(("IAM5[Action::kms:GenerateDataKey*]", "Data keys of the topic's one key."))
        acknowledge(role, findings)
        acknowledge_role_policy(role)
        return role


def _encoded(config: dict) -> str:
    """base64(zlib(JSON)): Lambda environments hold 4 KB, and the queries repeat a lot."""
    text = base64.b64encode(zlib.compress(json.dumps(config, sort_keys=True).encode(), 9)).decode()
    if len(text) > MAX_ENVIRONMENT_BYTES - 100:
        raise ValueError(
            f"the enricher's configuration is {len(text)} bytes compressed; Lambda allows "
            f"{MAX_ENVIRONMENT_BYTES} for the environment. Use fewer detectors or shorter "
            "CIDR lists"
        )
    return text
