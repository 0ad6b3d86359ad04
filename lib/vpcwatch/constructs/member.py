"""``MemberBaseline``: one member account's vpcwatch, wired to the organization's
central archive and alert bus by ARN, so one template serves every account and region
(a CloudFormation StackSet, or a CDK Pipelines stage per account)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from vpcwatch.constructs._validation import BUCKET_NAME, is_token
from vpcwatch.constructs.alerts import AlertTopic
from vpcwatch.constructs.central import ALARM_PREFIX, AlertForwarder
from vpcwatch.constructs.enricher import AlarmEnricher
from vpcwatch.constructs.exposure import ExposureRules
from vpcwatch.constructs.monitoring import FlowLogMonitoring
from vpcwatch.constructs.pipeline import FlowLogPipeline, TrafficType
from vpcwatch.detectors import Detector, SilenceDetector
from vpcwatch.fields import FlowLogFormat

MEMBER_ALARM_PREFIX = ALARM_PREFIX + "member-"
"""The alarm names of a member baseline: the same in every account (alarm names are
unique per account and region), and forwarded by :class:`AlertForwarder`."""
_BUCKET_ARN = re.compile(rf"arn:aws[a-z-]*:s3:::{BUCKET_NAME}")


class MemberBaseline(Construct):
    """Everything vpcwatch puts in one member account and region, knowing the central
    side only by ARN: every VPC of the account (those that exist, and those made later
    by anyone) enrolled in flow logs to a local log group (KMS-encrypted) and to
    the central archive,
    the detectors' alarms, the alarm enricher, the AWS Config exposure rules, and
    forwarding of alarms, enrichments, GuardDuty and Config findings to the central bus.

    It needs no VPC and no account id at synth, so one template fits a service-managed
    StackSet with automatic deployment to organizational units; it also fits a CDK
    Pipelines stage per account.

    Example::

        MemberBaseline(self, "Vpcwatch",
            central_bus_arn="arn:aws:events:us-east-1:111111111111:event-bus/vpcwatch-alerts",
            archive_bucket_arn="arn:aws:s3:::org-flow-logs-archive")

    Args:
        scope: the parent construct.
        id: the construct id.
        central_bus_arn: the :class:`CentralAlertBus`'s ARN.
        archive_bucket_arn: the :class:`CentralArchive` bucket's ARN; ``None`` keeps the
            flow logs in CloudWatch Logs only. Default: ``None``.
        log_format: the record format (the central :class:`FlowLogTable` must be given
            the same). Default: ``FlowLogFormat.detection()``.
        detectors: as :class:`FlowLogMonitoring`'s. Default: ``default_detectors()``.
        traffic_type: of the CloudWatch flow logs (the archive's are ``ALL``). Default:
            ``ALL``.
        archive_format: ``"parquet"`` or ``"plain-text"`` (the table must agree).
            Default: ``"parquet"``.
        archive_hive_partitions: Hive-compatible prefixes (the table must agree).
            Default: ``True``.
        retention: of the local log group. Default: one month with an archive (the
            evidence lives there; CloudWatch Logs storage costs ten times S3's), one year
            without.
        emails: addresses subscribed to the member account's own alert topic (the
            central topic gets everything anyway). Default: none.
        exposure_rules: the AWS Config rules of :class:`ExposureRules` (they need a
            configuration recorder, which Control Tower and most landing zones turn on).
            Default: ``True``.
        enricher: the :class:`AlarmEnricher`, its messages also sent to the central bus.
            Default: ``True``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        central_bus_arn: str,
        archive_bucket_arn: str | None = None,
        log_format: FlowLogFormat | None = None,
        detectors: Sequence[Detector | SilenceDetector] | None = None,
        traffic_type: TrafficType | str = TrafficType.ALL,
        archive_format: str = "parquet",
        archive_hive_partitions: bool = True,
        retention: logs.RetentionDays | None = None,
        emails: Sequence[str] = (),
        exposure_rules: bool = True,
        enricher: bool = True,
    ) -> None:
        super().__init__(scope, id)
        for name, flag in (("exposure_rules", exposure_rules), ("enricher", enricher)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be True or False, got {flag!r}")
        if archive_bucket_arn is not None and not (
            isinstance(archive_bucket_arn, str)
            and (is_token(archive_bucket_arn) or _BUCKET_ARN.fullmatch(archive_bucket_arn))
        ):
            raise ValueError(
                "archive_bucket_arn must be an S3 bucket ARN (arn:aws:s3:::<bucket>) or None; "
                f"got {archive_bucket_arn!r}"
            )
        self._forwarder = AlertForwarder(
            self, "Forward", central_bus_arn=central_bus_arn, alarm_prefix=ALARM_PREFIX
        )
        self._alerts = AlertTopic(self, "Alerts", emails=emails)
        archive = (
            None
            if archive_bucket_arn is None
            else s3.Bucket.from_bucket_arn(self, "CentralArchive", archive_bucket_arn)
        )
        if retention is None:
            retention = (
                logs.RetentionDays.ONE_YEAR if archive is None else logs.RetentionDays.ONE_MONTH
            )
        self._pipeline = FlowLogPipeline(
            self,
            "FlowLogs",
            enroll_account_vpcs=True,
            encryption_key=True,  # the flow logs and the functions' logs, with rotation
            retention=retention,
            log_format=log_format,
            traffic_type=traffic_type,
            destinations=("cloudwatch",) if archive is None else ("cloudwatch", "s3"),
            archive_bucket=archive,
            archive_format=archive_format,
            archive_hive_partitions=archive_hive_partitions,
            archive_traffic_type=None if archive is None else TrafficType.ALL,
        )
        self._monitoring = FlowLogMonitoring(
            self,
            "Monitoring",
            pipeline=self._pipeline,
            detectors=detectors,
            alerts=self._alerts,
            alarm_name_prefix=MEMBER_ALARM_PREFIX,
        )
        self._enricher = (
            AlarmEnricher(
                self, "Enricher", monitoring=self._monitoring, alerts=self._alerts,
                send_events=True,
            )
            if enricher
            else None
        )  # fmt: skip
        self._exposure = ExposureRules(self, "Exposure") if exposure_rules else None

    @property
    def pipeline(self) -> FlowLogPipeline:
        return self._pipeline

    @property
    def monitoring(self) -> FlowLogMonitoring:
        return self._monitoring

    @property
    def alerts(self) -> AlertTopic:
        """The member account's own topic (its alarms and the enricher's messages)."""
        return self._alerts

    @property
    def forwarder(self) -> AlertForwarder:
        return self._forwarder

    @property
    def enricher(self) -> AlarmEnricher | None:
        return self._enricher

    @property
    def exposure(self) -> ExposureRules | None:
        return self._exposure
