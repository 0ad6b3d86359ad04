"""Metric filters, alarms and the flow-log format, read from a synthesized template.

Replay proves the template itself, not the Python objects that made it: every
``AWS::Logs::MetricFilter`` and ``AWS::CloudWatch::Alarm`` is read from the JSON.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from vpcwatch.actions import ACTIONS, TRAFFIC_TYPES
from vpcwatch.detectors.model import AlarmSettings, Comparison, MissingData
from vpcwatch.errors import FormatError
from vpcwatch.fields import FlowLogFormat
from vpcwatch.replay.engine import LOGS_NAMESPACE, AlarmSpec, unit_of
from vpcwatch.replay.insights import INSIGHT_NAMESPACE, InsightSpec
from vpcwatch.replay.insights import METRICS as INSIGHT_METRICS
from vpcwatch.replay.insights import parse_expression as insight_expression
from vpcwatch.replay.metrics import INCOMING_LOG_EVENTS, MetricSpec
from vpcwatch.template_facts import flow_log_properties

_COMPARISONS = {c.value: c for c in Comparison}
_MISSING = {m.value: m for m in MissingData}


class TemplateError(ValueError):
    """The template holds nothing vpcwatch can replay, or something it cannot read."""


@dataclass(frozen=True)
class ReplayPlan:
    """What a template asks to replay."""

    log_format: FlowLogFormat
    metrics: tuple[MetricSpec, ...]
    alarms: tuple[AlarmSpec, ...]
    skipped: tuple[str, ...]  # alarms that cannot be simulated, with the reason
    traffic_type: str = "ALL"
    """What the CloudWatch flow logs record (``ALL``, ``ACCEPT``, ``REJECT``): replay feeds
    the filters only what they would deliver."""
    insights: tuple[InsightSpec, ...] = ()
    """The Contributor Insights rules that alarms watch."""

    @property
    def delivered_actions(self) -> frozenset[str]:
        """The record actions the CloudWatch flow logs deliver."""
        return TRAFFIC_TYPES[self.traffic_type]

    @property
    def filters_actions(self) -> bool:
        """True when some records of an input would not reach the log group."""
        return self.delivered_actions != frozenset(ACTIONS)

    def delivers(self, record: str) -> bool:
        """Whether the CloudWatch flow logs would deliver this plain record (records
        without an action, ``-``, always)."""
        fields = record.split()
        action = fields[self.log_format.index("action")] if "action" in self.log_format else "-"
        return action not in ACTIONS or action in self.delivered_actions


def load_plan(path: str | Path) -> ReplayPlan:
    """Read a ``cdk.out/<Stack>.template.json``.

    Raises:
        TemplateError: no flow log, several flow-log formats, or no metric filter.
    """
    template = read_template(path)
    resources: dict[str, Any] = template["Resources"]
    log_format = _format(resources, path)
    metrics = [_metric(logical_id, r) for logical_id, r in resources.items()
               if r.get("Type") == "AWS::Logs::MetricFilter"]  # fmt: skip
    rules, rule_problems = _insight_rules(resources, log_format)
    if not metrics and not rules:
        raise TemplateError(f"{path} has no AWS::Logs::MetricFilter to replay")
    known = {m.key for m in metrics} | {rule.key for rule in rules.values()}
    found: list[tuple[str, AlarmSpec]] = []
    skipped: list[str] = []
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::CloudWatch::Alarm":
            continue
        alarm, reason = _alarm(resource.get("Properties", {}))
        if alarm is None:
            skipped.append(f"{logical_id}: {reason}")
            continue
        if alarm.metric == (LOGS_NAMESPACE, INCOMING_LOG_EVENTS) and alarm.metric not in known:
            metrics.append(MetricSpec(LOGS_NAMESPACE, INCOMING_LOG_EVENTS, None))
            known.add(alarm.metric)
        if alarm.metric[0] == INSIGHT_NAMESPACE and alarm.metric not in known:
            reason = rule_problems.get(alarm.metric[1], "no AWS::CloudWatch::InsightRule")
            skipped.append(f"{alarm.name}: its rule {alarm.metric[1]}: {reason}")
            continue
        if alarm.metric[0] == INSIGHT_NAMESPACE:
            rule = rules[alarm.metric[1]]
            unit = "records" if rule.value_of is None else log_format.names[rule.value_of]
            if alarm.insight_metric == "UniqueContributors":
                unit = "contributors"
            found.append((logical_id, replace(alarm, unit=unit)))
            continue
        if alarm.metric not in known:
            shown = alarm.name if alarm.name != alarm.metric[1] else logical_id
            skipped.append(
                f"{shown}: its metric {'/'.join(alarm.metric)} comes from no metric filter "
                "(not a flow-log detector)"
            )
            continue
        value = next(m.value if m.pattern else None for m in metrics if m.key == alarm.metric)
        unit = "events" if value is None else unit_of(value)
        found.append((logical_id, replace(alarm, unit=unit)))
    if not found:
        raise TemplateError(
            f"{path} has no alarm on its metric filters to replay"
            + (f" ({'; '.join(skipped)})" if skipped else "")
        )
    prefix = _shared_prefix([alarm.name for _, alarm in found])
    skipped = [reason.removeprefix(prefix) if prefix else reason for reason in skipped]
    watched = {alarm.metric[1] for _, alarm in found if alarm.metric[0] == INSIGHT_NAMESPACE}
    return ReplayPlan(
        log_format, tuple(metrics), tuple(_named(found)), tuple(skipped), _traffic_type(resources),
        tuple(rule for name, rule in rules.items() if name in watched),
    )  # fmt: skip


def _insight_rules(
    resources: dict[str, Any], log_format: FlowLogFormat
) -> tuple[dict[str, InsightSpec], dict[str, str]]:
    """The template's Contributor Insights rules by name, and why others cannot be read."""
    rules: dict[str, InsightSpec] = {}
    problems: dict[str, str] = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") != "AWS::CloudWatch::InsightRule":
            continue
        props = resource.get("Properties", {})
        name = props.get("RuleName")
        if not isinstance(name, str):
            continue  # alarms name rules by their literal name
        try:
            body = json.loads(_joined(props.get("RuleBody")))
            rules[name] = InsightSpec.from_body(name, body, len(log_format))
        except (ValueError, TypeError, KeyError) as error:  # InsightRuleError, bad JSON
            problems[name] = f"{logical_id} cannot be replayed ({error})"
    return rules, problems


def _joined(value: Any) -> str:
    """A string property, with the references of an ``Fn::Join`` left as placeholders
    (the rule's log group name, which replay does not need)."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(p if isinstance(p, str) else "REFERENCE" for p in parts)
    raise TypeError("RuleBody is neither a string nor an Fn::Join")


def read_template(path: str | Path) -> dict[str, Any]:
    """A CloudFormation template as a dict whose ``Resources`` map ids to resource
    objects.

    Raises:
        TemplateError: unreadable, not JSON, not an object, or without resources.
    """
    path = Path(path)
    if path.is_dir():
        raise TemplateError(f"template {path} is a directory, not a file")
    try:
        template = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise TemplateError(f"template {path}: no such file") from None
    except OSError as error:
        raise TemplateError(f"cannot read template {path}: {error.strerror}") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise TemplateError(f"template {path} is not JSON: {error}") from None
    resources = template.get("Resources") if isinstance(template, dict) else None
    if not isinstance(resources, dict) or not all(isinstance(r, dict) for r in resources.values()):
        raise TemplateError(
            f"template {path} is not a CloudFormation template (a JSON object whose "
            "Resources map logical ids to resources); give cdk.out/<Stack>.template.json"
        )
    return template


def _traffic_type(resources: dict[str, Any]) -> str:
    """The traffic type of the flow logs delivering to CloudWatch Logs (the S3 ones feed
    no metric filter)."""
    found = {
        str(props.get("TrafficType", "ALL")).upper()
        for props in flow_log_properties(resources)
        if props.get("LogDestinationType", "cloud-watch-logs") == "cloud-watch-logs"
    }
    if len(found) != 1 or not found <= set(TRAFFIC_TYPES):
        return "ALL"  # none, flow logs that differ (together they deliver both), or unknown
    return found.pop()


def _shared_prefix(names: list[str]) -> str:
    """The prefix the alarm names share up to a ``-`` (``vpcwatch-Stack-``), or ``""``."""
    prefix = os.path.commonprefix(names) if len(names) > 1 else ""  # noqa: RUF071 (text)
    return prefix[: prefix.rfind("-") + 1]


def _named(found: list[tuple[str, AlarmSpec]]) -> list[AlarmSpec]:
    """Alarms are shown by their name without the prefix they share (``vpcwatch-Stack-``),
    else by logical id when names repeat."""
    names = [alarm.name for _, alarm in found]
    prefix = _shared_prefix(names)
    shown = [name[len(prefix) :] or name for name in names]
    return [
        replace(alarm, name=name if shown.count(name) == 1 else logical_id)
        for name, (logical_id, alarm) in zip(shown, found, strict=True)
    ]


def template_format(path: str | Path) -> FlowLogFormat:
    """The flow-log format of a template (its ``AWS::EC2::FlowLog`` resources).

    Raises:
        TemplateError: unreadable, no flow log, or several formats.
    """
    return _format(read_template(path)["Resources"], path)


def _format(resources: dict[str, Any], path: Any) -> FlowLogFormat:
    formats = {props.get("LogFormat") for props in flow_log_properties(resources)}
    if not formats:
        raise TemplateError(
            f"{path} has no AWS::EC2::FlowLog and no VPC enrolment: no format to read records in"
        )
    if None in formats:
        formats.discard(None)
        formats.add(FlowLogFormat.default().log_format)
    if len(formats) > 1:
        raise TemplateError(f"{path} has flow logs in {len(formats)} formats; replay takes one")
    text = formats.pop()
    if not isinstance(text, str):
        raise TemplateError(f"{path}: the flow log's LogFormat is not a literal string")
    try:
        return FlowLogFormat.parse(text)
    except (FormatError, ValueError) as error:
        raise TemplateError(f"{path}: {error}") from None


def _metric(logical_id: str, resource: dict[str, Any]) -> MetricSpec:
    props = resource.get("Properties", {})
    pattern = props.get("FilterPattern")
    transformation = (props.get("MetricTransformations") or [{}])[0]
    if not isinstance(pattern, str):
        raise TemplateError(f"{logical_id}: FilterPattern is not a literal string")
    return MetricSpec(
        namespace=transformation.get("MetricNamespace", ""),
        name=transformation.get("MetricName", logical_id),
        pattern=pattern,
        value=str(transformation.get("MetricValue", "1")),
        default_value=transformation.get("DefaultValue"),
    )


def _alarm(props: dict[str, Any]) -> tuple[AlarmSpec | None, str]:
    if "Metrics" in props:
        return _insight_alarm(props)
    if "MetricName" not in props:
        return None, "metric math alarms are not simulated"
    comparison = _COMPARISONS.get(props.get("ComparisonOperator", ""))
    if comparison is None:
        return None, f"comparison {props.get('ComparisonOperator')} is not simulated"
    statistic = props.get("Statistic")
    if statistic is None:
        return None, "extended statistics (percentiles) are not simulated"
    evaluation = int(props.get("EvaluationPeriods", 1))
    try:
        settings = _settings(props, statistic, evaluation, comparison)
    except ValueError as error:
        return None, f"its settings cannot be simulated ({error})"
    metric = (props.get("Namespace", ""), props["MetricName"])
    name = props.get("AlarmName")
    severity, title = _described(props.get("AlarmDescription"))
    name = name if isinstance(name, str) else props["MetricName"]
    return AlarmSpec(name, metric, settings, title, severity), ""


def _insight_alarm(props: dict[str, Any]) -> tuple[AlarmSpec | None, str]:
    """An alarm on ``INSIGHT_RULE_METRIC(rule, "MaxContributorValue")`` (or
    ``"UniqueContributors"``) alone."""
    queries = props.get("Metrics") or []
    returned = [q for q in queries if q.get("ReturnData", True)]
    parsed = insight_expression(returned[0].get("Expression", "")) if len(returned) == 1 else None
    if len(queries) != 1 or parsed is None or parsed[1] not in INSIGHT_METRICS:
        return None, (
            "metric math alarms other than one INSIGHT_RULE_METRIC of "
            f"{' or '.join(INSIGHT_METRICS)} are not simulated"
        )
    comparison = _COMPARISONS.get(props.get("ComparisonOperator", ""))
    if comparison is None:
        return None, f"comparison {props.get('ComparisonOperator')} is not simulated"
    evaluation = int(props.get("EvaluationPeriods", 1))
    period = {"Period": int(queries[0].get("Period", 60))}
    try:
        settings = _settings({**props, **period}, "Maximum", evaluation, comparison)
    except ValueError as error:
        return None, f"its settings cannot be simulated ({error})"
    severity, title = _described(props.get("AlarmDescription"))
    name = props.get("AlarmName")
    name = name if isinstance(name, str) else parsed[0]
    spec = AlarmSpec(name, (INSIGHT_NAMESPACE, parsed[0]), settings, title, severity,
                     insight_metric=parsed[1])  # fmt: skip
    return spec, ""


_DESCRIBED = re.compile(r"\[(LOW|MEDIUM|HIGH|CRITICAL)\] (.+?)\. ")


def _described(text: Any) -> tuple[str, str]:
    """(severity, title) from a vpcwatch alarm description (``[HIGH] Title. ...``)."""
    found = _DESCRIBED.match(text) if isinstance(text, str) else None
    return (found.group(1).lower(), found.group(2)) if found else ("", "")


def _settings(
    props: dict[str, Any], statistic: str, evaluation: int, comparison: Comparison
) -> AlarmSettings:
    return AlarmSettings(
        statistic=statistic,
        period=int(props.get("Period", 60)),
        evaluation_periods=evaluation,
        datapoints_to_alarm=int(props.get("DatapointsToAlarm", evaluation)),
        comparison=comparison,
        threshold=float(props.get("Threshold", 0)),
        treat_missing_data=_MISSING.get(
            props.get("TreatMissingData", "missing"), MissingData.MISSING
        ),
    )
