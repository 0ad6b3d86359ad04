"""``FlowLogMonitoring``: detectors -> metric filters, alarms, a dashboard, saved queries."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from vpcwatch.actions import delivered
from vpcwatch.constructs._validation import claim_physical_name
from vpcwatch.constructs.alerts import AlertTopic, alert_topic_of
from vpcwatch.constructs.pipeline import FlowLogPipeline
from vpcwatch.detectors import ContributorDetector, Detector, SilenceDetector, default_detectors
from vpcwatch.detectors.model import (
    INCOMING_LOG_EVENTS,
    AlarmSettings,
    Comparison,
    check_detectors,
)
from vpcwatch.filterpattern import compile_pattern
from vpcwatch.filterpattern.syntax import count_regexes
from vpcwatch.queries import investigations

MAX_FILTERS_PER_LOG_GROUP = 100
MAX_REGEX_FILTERS_PER_LOG_GROUP = 5
MAX_ALARM_DESCRIPTION = 1024
_OPERATOR = cloudwatch.ComparisonOperator
_COMPARISONS = {
    Comparison.GREATER_THAN_OR_EQUAL: _OPERATOR.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    Comparison.GREATER_THAN: _OPERATOR.GREATER_THAN_THRESHOLD,
    Comparison.LESS_THAN: _OPERATOR.LESS_THAN_THRESHOLD,
    Comparison.LESS_THAN_OR_EQUAL: _OPERATOR.LESS_THAN_OR_EQUAL_TO_THRESHOLD,
}
_NAMESPACE = re.compile(r"[A-Za-z0-9.\-_/#: ]{1,255}")
MAX_RULE_NAME = 128
TOP_CONTRIBUTORS = 10
"""Contributors a dashboard's top-N widget lists."""


class FlowLogMonitoring(Construct):
    """Metric filters and alarms for every detector, on one pipeline's log group.

    Example::

        alerts = AlertTopic(self, "Alerts", emails=["secops@example.com"])
        monitoring = FlowLogMonitoring(
            self, "Monitoring", pipeline=pipeline, alerts=alerts,
            detectors=[*default_detectors(allowed_destinations=["52.216.0.0/15"])],
        )
        monitoring.alarms["AdminPortAccepted"]

    Args:
        scope: the parent construct.
        id: the construct id.
        pipeline: the :class:`FlowLogPipeline` whose log group and format are watched.
        detectors: :class:`Detector` and :class:`SilenceDetector` objects; tune one with
            ``with_()``, drop one by leaving it out. Default: ``default_detectors()``.
        alerts: an :class:`AlertTopic` or any ``sns.ITopic`` the alarms notify. Default: no
            notification.
        notify_on_ok: also notify when an alarm returns to OK. Default: ``False``.
        dashboard: create a CloudWatch dashboard. Default: ``True``.
        namespace: the namespace of the detectors' metrics. Default: ``"VpcWatch"``.
        alarm_name_prefix: alarms are named ``<prefix><detector name>``, so operators, the
            enricher and the dashboard know them without a deploy-time lookup. Default:
            ``"vpcwatch-<stack name>-"``; ``None`` lets CloudFormation name them.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        pipeline: FlowLogPipeline,
        detectors: Sequence[Detector | SilenceDetector] | None = None,
        alerts: AlertTopic | sns.ITopic | None = None,
        notify_on_ok: bool = False,
        dashboard: bool = True,
        namespace: str = "VpcWatch",
        alarm_name_prefix: str | None = "",
    ) -> None:
        super().__init__(scope, id)
        if not isinstance(pipeline, FlowLogPipeline):
            raise TypeError(f"pipeline must be a vpcwatch.FlowLogPipeline, got {pipeline!r}")
        if pipeline.log_group is None:
            raise ValueError(
                "pipeline has no CloudWatch Logs destination: metric filters need one "
                "(destinations=('cloudwatch', 's3'))"
            )
        alerts = alert_topic_of(self, alerts)
        for name, flag in (("notify_on_ok", notify_on_ok), ("dashboard", dashboard)):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be True or False, got {flag!r}")
        _check_namespace(namespace)
        self._alarm_prefix = _alarm_prefix(self, alarm_name_prefix)
        self._detectors = check_detectors(default_detectors() if detectors is None else detectors)
        _check_traffic_type(self._detectors, pipeline)
        self._pipeline, self._namespace = pipeline, namespace
        self._alerts, self._notify_on_ok = alerts, notify_on_ok
        self._patterns = {
            d.name: d.pattern(pipeline.log_format)
            for d in self._detectors
            if isinstance(d, Detector)
        }
        self._check_log_group_limits()
        self._metric_filters: dict[str, logs.MetricFilter] = {}
        self._metrics: dict[str, cloudwatch.Metric] = {}
        self._alarms: dict[str, cloudwatch.Alarm] = {}
        self._alarm_arns: dict[str, str] = {}
        self._rules: dict[str, cloudwatch.CfnInsightRule] = {}
        for detector in self._detectors:
            self._add_detector(detector)
        self._add_queries()
        self._dashboard = self._add_dashboard() if dashboard else None

    # -- read-only attributes ------------------------------------------------------------------

    @property
    def alarms(self) -> dict[str, cloudwatch.Alarm]:
        """Alarms by detector name."""
        return dict(self._alarms)

    @property
    def alarm_names(self) -> dict[str, str | None]:
        """Alarm names by detector name (``None`` where CloudFormation names the alarm)."""
        if self._alarm_prefix is None:
            return dict.fromkeys(self._alarms)
        return {name: self._alarm_prefix + name for name in self._alarms}

    @property
    def alarm_arns(self) -> dict[str, str]:
        """Alarm ARNs by detector name: built from the names when they are known, so
        references need no deploy-time lookup of the alarm."""
        return dict(self._alarm_arns)

    @property
    def insight_rules(self) -> dict[str, cloudwatch.CfnInsightRule]:
        """Contributor Insights rules by detector name."""
        return dict(self._rules)

    @property
    def metric_filters(self) -> dict[str, logs.MetricFilter]:
        """Metric filters by metric name (a detector's name, or its extra metrics' names)."""
        return dict(self._metric_filters)

    @property
    def detectors(self) -> tuple[Detector | SilenceDetector, ...]:
        return self._detectors

    @property
    def patterns(self) -> dict[str, str]:
        """The filter pattern of each metric-filter detector, by name."""
        return dict(self._patterns)

    @property
    def namespace(self) -> str:
        return self._namespace

    @property
    def pipeline(self) -> FlowLogPipeline:
        return self._pipeline

    @property
    def dashboard(self) -> cloudwatch.Dashboard | None:
        return self._dashboard

    def metric(self, name: str) -> cloudwatch.Metric:
        """The metric of a detector (or of an extra metric), with its alarm's statistic
        and period.

        Raises:
            KeyError: no such metric; the message lists the names.
        """
        if name not in self._metrics:
            raise KeyError(f"no metric {name!r}; metrics: {', '.join(self._metrics)}")
        return self._metrics[name]

    # -- resources -------------------------------------------------------------------------------

    def _add_detector(self, detector: Any) -> None:
        settings = detector.alarm
        rule = None
        if isinstance(detector, ContributorDetector):
            rule = self._add_rule(detector)
            metric = cloudwatch.MathExpression(
                expression=f'INSIGHT_RULE_METRIC("{rule.rule_name}", "MaxContributorValue")',
                using_metrics={},
                label=f"{detector.name} top contributor",
                period=cdk.Duration.seconds(settings.period),
            )
        elif isinstance(detector, SilenceDetector):
            metric = cloudwatch.Metric(
                namespace="AWS/Logs",
                metric_name=INCOMING_LOG_EVENTS,
                dimensions_map={"LogGroupName": self._pipeline.log_group.log_group_name},
                statistic=settings.statistic,
                period=cdk.Duration.seconds(settings.period),
            )
        else:
            metric = self._add_filter(
                detector.name, detector.metric_value, detector.default_value, {}, settings,
                detector.name,
            )  # fmt: skip
            for extra in detector.extra_metrics:
                self._add_filter(
                    extra.name, extra.value, extra.default_value, dict(extra.dimensions),
                    settings, detector.name,
                )  # fmt: skip
        self._metrics[detector.name] = metric
        if self._alarm_prefix is not None:
            claim_physical_name(
                self, "alarm", self._alarm_prefix + detector.name, "alarm_name_prefix"
            )
        alarm = cloudwatch.Alarm(
            self,
            f"{detector.name}Alarm",
            metric=metric,
            threshold=settings.threshold,
            evaluation_periods=settings.evaluation_periods,
            datapoints_to_alarm=settings.datapoints_to_alarm,
            comparison_operator=_COMPARISONS[settings.comparison],
            treat_missing_data=cloudwatch.TreatMissingData[settings.treat_missing_data.name],
            alarm_description=alarm_description(detector),
            alarm_name=None if self._alarm_prefix is None else self._alarm_prefix + detector.name,
        )
        if rule is not None:
            alarm.node.add_dependency(rule)  # the expression names the rule
        self._alarm_arns[detector.name] = (
            alarm.alarm_arn
            if self._alarm_prefix is None
            else cdk.Stack.of(self).format_arn(
                service="cloudwatch",
                resource="alarm",
                resource_name=self._alarm_prefix + detector.name,
                arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
            )
        )
        if self._alerts is not None:
            action = actions.SnsAction(self._alerts.topic)
            alarm.add_alarm_action(action)
            if self._notify_on_ok:
                alarm.add_ok_action(action)
        self._alarms[detector.name] = alarm

    def _add_filter(
        self,
        metric_name: str,
        value: str,
        default_value: float | None,
        dimensions: dict[str, str],
        settings: AlarmSettings,
        detector_name: str,
    ) -> cloudwatch.Metric:
        metric_filter = logs.MetricFilter(
            self,
            f"{metric_name}Filter",
            log_group=self._pipeline.log_group,
            filter_pattern=logs.FilterPattern.literal(self._patterns[detector_name]),
            metric_namespace=self._namespace,
            metric_name=metric_name,
            metric_value=value,
            default_value=default_value,
            dimensions=dimensions or None,
        )
        self._metric_filters[metric_name] = metric_filter
        metric = cloudwatch.Metric(
            namespace=self._namespace,
            metric_name=metric_name,
            statistic=settings.statistic,
            period=cdk.Duration.seconds(settings.period),
        )
        self._metrics[metric_name] = metric
        return metric

    def _add_rule(self, detector: ContributorDetector) -> cloudwatch.CfnInsightRule:
        prefix = self._alarm_prefix
        if prefix is None:
            prefix = f"vpcwatch-{cdk.Names.unique_id(self)[-40:]}-"
        name = prefix + detector.name
        if len(name) > MAX_RULE_NAME:
            raise ValueError(
                f"the Contributor Insights rule name {name!r} is {len(name)} characters; "
                f"CloudWatch allows {MAX_RULE_NAME}: shorten alarm_name_prefix"
            )
        claim_physical_name(self, "insight rule", name, "alarm_name_prefix")
        body = detector.rule_body(self._pipeline.log_format, "LOG_GROUP")
        body["LogGroupNames"] = [self._pipeline.log_group.log_group_name]
        rule = cloudwatch.CfnInsightRule(
            self,
            f"{detector.name}Rule",
            rule_name=name,
            rule_state="ENABLED",
            rule_body=cdk.Stack.of(self).to_json_string(body),
        )
        self._rules[detector.name] = rule
        return rule

    def _add_queries(self) -> None:
        stack_name = cdk.Stack.of(self).stack_name
        prefix = "vpcwatch" if cdk.Token.is_unresolved(stack_name) else f"vpcwatch/{stack_name}"
        for name, query in investigations(self._pipeline.log_format).items():
            logs.CfnQueryDefinition(
                self,
                f"{name}Query",
                name=f"{prefix}/{name}",
                query_string=query,
                log_group_names=[self._pipeline.log_group.log_group_name],
            )

    def _add_dashboard(self) -> cloudwatch.Dashboard:
        board = cloudwatch.Dashboard(self, "Dashboard")
        board.add_widgets(
            cloudwatch.AlarmStatusWidget(
                title="vpcwatch alarms",
                alarms=[
                    cloudwatch.Alarm.from_alarm_arn(self, f"{name}AlarmReference", arn)
                    for name, arn in self._alarm_arns.items()
                ],
                width=24,
            )
        )
        graphs: list[Any] = []
        for detector in self._detectors:
            settings = detector.alarm
            if isinstance(detector, ContributorDetector):
                # The top-N list of the rule (the widget the Contributor Insights console
                # adds to dashboards), and the alarm's metric with the number of
                # contributors, as metric math.
                rule_name = self._rules[detector.name].rule_name
                unique = cloudwatch.MathExpression(
                    expression=f'INSIGHT_RULE_METRIC("{rule_name}", "UniqueContributors")',
                    using_metrics={},
                    label="contributors",
                    period=cdk.Duration.seconds(settings.period),
                )
                graphs.append(
                    _TopContributorsWidget(
                        title=f"{detector.title}: top {TOP_CONTRIBUTORS} contributors",
                        rule_name=rule_name,
                        order_by=detector.aggregate,
                        region=cdk.Stack.of(self).region,
                        period=settings.period,
                    )
                )
                graphs.append(
                    cloudwatch.GraphWidget(
                        title=f"{detector.title} ({detector.severity.value}): rule {rule_name}",
                        left=[self._metrics[detector.name]],
                        right=[unique],
                        left_annotations=[
                            cloudwatch.HorizontalAnnotation(
                                value=settings.threshold, label="alarm threshold"
                            )
                        ],
                        width=12,
                    )
                )
                continue
            metrics = [self._metrics[detector.name]]
            if isinstance(detector, Detector):
                metrics += [self._metrics[extra.name] for extra in detector.extra_metrics]
            graphs.append(
                cloudwatch.GraphWidget(
                    title=f"{detector.title} ({detector.severity.value})",
                    left=metrics[:1],
                    right=metrics[1:] or None,
                    left_annotations=[
                        cloudwatch.HorizontalAnnotation(
                            value=settings.threshold, label="alarm threshold"
                        )
                    ],
                    width=12,
                )
            )
        for start in range(0, len(graphs), 2):
            board.add_widgets(*graphs[start : start + 2])
        return board

    def _check_log_group_limits(self) -> None:
        filters = sum(1 + len(d.extra_metrics) for d in self._detectors if isinstance(d, Detector))
        if filters > MAX_FILTERS_PER_LOG_GROUP:
            raise ValueError(
                f"detectors need {filters} metric filters on one log group; CloudWatch Logs "
                f"allows {MAX_FILTERS_PER_LOG_GROUP}"
            )
        regex_filters = [
            name
            for d in self._detectors
            if isinstance(d, Detector)
            for name in [d.name] + [m.name for m in d.extra_metrics]
            if count_regexes(compile_pattern(self._patterns[d.name]).tree)
        ]
        if len(regex_filters) > MAX_REGEX_FILTERS_PER_LOG_GROUP:
            raise ValueError(
                f"{len(regex_filters)} metric filters hold a regex ({', '.join(regex_filters)}); "
                f"CloudWatch Logs allows {MAX_REGEX_FILTERS_PER_LOG_GROUP} per log group. "
                "Drop a detector, or give CIDR lists that compile to wildcards."
            )


class _TopContributorsWidget(cloudwatch.ConcreteWidget):
    """A Contributor Insights rule's top contributors on a dashboard: a metric widget
    with an ``insightRule`` property, as the Contributor Insights console writes it
    (aws-cdk-lib has no such widget; aws/aws-cdk#13008 proposed this same JSON)."""

    def __init__(self, *, title: str, rule_name: str, order_by: str, region: str, period: int):
        super().__init__(12, 6)
        self._properties = {
            "title": title,
            "region": region,
            "view": "timeSeries",
            "period": period,
            "legend": {"position": "bottom"},
            "insightRule": {
                "maxContributorCount": TOP_CONTRIBUTORS,
                "orderBy": order_by,
                "ruleName": rule_name,
            },
        }

    def position(self, x: int, y: int) -> None:  # called by the dashboard's layout
        self._place = (x, y)

    def to_json(self) -> list[Any]:
        x, y = getattr(self, "_place", (0, 0))
        return [{"type": "metric", "width": self.width, "height": self.height, "x": x, "y": y,
                 "properties": self._properties}]  # fmt: skip


def _check_traffic_type(detectors: Sequence[Any], pipeline: Any) -> None:
    """Refuse detectors that the pipeline's CloudWatch flow logs can never feed."""
    if pipeline.traffic_type is None:
        picky = [d.name for d in detectors if d.required_actions]
        if picky:
            cdk.Annotations.of(pipeline).add_warning_v2(
                "vpcwatch:traffic-type-cannot-verify",
                "traffic_type is resolved at deploy time, so vpcwatch cannot verify that the "
                f"flow logs deliver what {', '.join(picky)} need: with ACCEPT or REJECT "
                "only, some of them can never fire",
            )
        return
    traffic = pipeline.traffic_type.value
    deaf = [d for d in detectors if not d.required_actions <= delivered(traffic)]
    if deaf:
        needs = ", ".join(f"{d.name} (needs {'/'.join(sorted(d.required_actions))})" for d in deaf)
        raise ValueError(
            f"detectors cannot fire on this pipeline: its CloudWatch flow logs record only "
            f"{traffic} traffic (traffic_type={traffic!r}), and {needs} count records of "
            "another action, which these flow logs never deliver. Fix: traffic_type='ALL' "
            "on the pipeline (archive_traffic_type can differ for S3), or leave these "
            "detectors out of detectors=[...]"
        )


def alarm_description(detector: Any) -> str:
    """Severity, title, what it means and how to respond, and the ATT&CK ids; cut to the
    1024 characters CloudWatch allows."""
    mitre = f" MITRE ATT&CK: {', '.join(detector.mitre)}." if detector.mitre else ""
    text = f"[{detector.severity.value.upper()}] {detector.title}. {detector.description}{mitre}"
    if len(text) > MAX_ALARM_DESCRIPTION:
        text = text[: MAX_ALARM_DESCRIPTION - 1] + "\u2026"
    return text


def _alarm_prefix(scope: Construct, prefix: Any) -> str | None:
    if prefix is None:
        return None
    if prefix == "":
        stack_name = cdk.Stack.of(scope).stack_name
        return None if cdk.Token.is_unresolved(stack_name) else f"vpcwatch-{stack_name}-"
    if not isinstance(prefix, str) or len(prefix) > 180 or not prefix.isprintable():
        raise ValueError(
            f"alarm_name_prefix must be printable text of up to 180 characters; got {prefix!r}"
        )
    return prefix


def _check_namespace(namespace: Any) -> None:
    if (
        not isinstance(namespace, str)
        or not _NAMESPACE.fullmatch(namespace)
        or not namespace.strip()
        or namespace.startswith("AWS/")
    ):
        raise ValueError(
            "namespace must be 1-255 letters, digits, spaces or '.-_/#:', not starting with "
            f"'AWS/'; got {namespace!r}"
        )
