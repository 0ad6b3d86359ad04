"""``PortProbeFindings``: GuardDuty's port-probe findings to the alert topic (the third
layer: when the open port is being probed)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_guardduty as guardduty
from aws_cdk import aws_sns as sns
from constructs import Construct

from vpcwatch.constructs.alerts import AlertTopic, alert_topic_of

PORT_PROBE = "Recon:EC2/PortProbeUnprotectedPort"
_PROBE = "$.detail.service.action.portProbeAction.portProbeDetails[0]"


class PortProbeFindings(Construct):
    """EventBridge rules that send GuardDuty findings to an :class:`AlertTopic`.

    Example::

        PortProbeFindings(self, "PortProbes", alerts=alerts, min_severity=7)

    Args:
        scope: the parent construct.
        id: the construct id.
        alerts: an :class:`AlertTopic` or any ``sns.ITopic``, the topic notified.
        min_severity: also send every finding of this severity or more (GuardDuty scale
            1.0-8.9: 4 medium, 7 high). Default: ``None``, port probes only.
        enable_detector: create an ``AWS::GuardDuty::Detector`` (an account has at most
            one per region; a second fails to deploy). Default: ``False``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        alerts: AlertTopic | sns.ITopic,
        min_severity: float | None = None,
        enable_detector: bool = False,
    ) -> None:
        super().__init__(scope, id)
        alerts = alert_topic_of(self, alerts, required=True)
        if min_severity is not None and (
            isinstance(min_severity, bool)
            or not isinstance(min_severity, (int, float))
            or not 1 <= min_severity <= 8.9
        ):
            raise ValueError(f"min_severity must be from 1.0 to 8.9 or None; got {min_severity!r}")
        if not isinstance(enable_detector, bool):
            raise TypeError(f"enable_detector must be True or False, got {enable_detector!r}")
        self._detector = (
            guardduty.CfnDetector(
                self, "Detector", enable=True, finding_publishing_frequency="FIFTEEN_MINUTES"
            )
            if enable_detector
            else None
        )
        field = events.EventField.from_path
        region = cdk.Stack.of(self).region
        link = (
            f"https://console.aws.amazon.com/guardduty/home?region={region}"
            f"#/findings?fId={field('$.detail.id')}"
        )
        probe_message = (
            f"vpcwatch: GuardDuty {PORT_PROBE}: instance "
            f"{field('$.detail.resource.instanceDetails.instanceId')} port "
            f"{field(_PROBE + '.localPortDetails.port')} probed from "
            f"{field(_PROBE + '.remoteIpDetails.ipAddressV4')} "
            f"({field(_PROBE + '.remoteIpDetails.organization.asnOrg')}). "
            f"Severity {field('$.detail.severity')}. {link}"
        )
        self._rules = [
            self._rule("PortProbeRule", {"type": [PORT_PROBE]}, probe_message, alerts),
        ]
        if min_severity is not None:
            message = (
                f"vpcwatch: GuardDuty {field('$.detail.type')} (severity "
                f"{field('$.detail.severity')}): {field('$.detail.title')}. {link}"
            )
            self._rules.append(
                self._rule(
                    "SevereFindingRule",
                    {"severity": [{"numeric": [">=", min_severity]}]},
                    message,
                    alerts,
                )
            )

    @property
    def rules(self) -> tuple[events.Rule, ...]:
        return tuple(self._rules)

    @property
    def detector(self) -> guardduty.CfnDetector | None:
        return self._detector

    def _rule(self, id: str, detail: dict, message: str, alerts: AlertTopic) -> events.Rule:
        return alerts.route(
            self,
            id,
            description=f"vpcwatch: GuardDuty findings ({id}) to the alert topic",
            event_pattern=events.EventPattern(
                source=["aws.guardduty"], detail_type=["GuardDuty Finding"], detail=detail
            ),
            message=message,
        )
