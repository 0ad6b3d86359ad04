"""vpcwatch alarm enricher: "metric crossed 1" -> who, what, where, and which rule let them in.

Triggered by EventBridge "CloudWatch Alarm State Change" events of the monitoring's
alarms. For an alarm that went to ALARM it runs the detector's Logs Insights query
(text made by the vpcwatch library at synth time, passed in VPCWATCH_CONFIG) over
the alarm's window plus the flow-log delivery delay, resolves the internal side of
the flows (the destination of ingress detectors, the source of egress ones) to
interfaces, instances and security groups, lists the ingress rules that admit the
probed ports from 0.0.0.0/0 or ::/0, and publishes one message to the alert topic.

Degrade, never drop: whatever the event or the APIs do (a malformed event, timeouts,
throttling, access denied, odd query results, deleted interfaces), the handler
publishes the full enrichment or a shorter message that still carries the alarm's
name, state, time, metric and a console link, plus what could not be looked up and
why. Only when publishing itself fails does it raise, so Lambda retries and the
on-failure destination keeps the event. Every step logs one JSON line. Imports boto3
and the standard library only.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import boto3
from botocore.exceptions import BotoCoreError, ClientError

WORLD = ("0.0.0.0/0", "::/0")
SAFETY_MARGIN_MS = 8_000  # stop polling this long before the function's timeout
POLL_SECONDS = 1.0
MAX_SUBJECT = 99
EVENT_SOURCE = "vpcwatch.enricher"
EVENT_DETAIL_TYPE = "vpcwatch Alarm Enrichment"
"""The event each enrichment is also put on the bus as (VPCWATCH_EVENT_BUS), so that
vpcwatch.AlertForwarder carries it to the central alert bus of many accounts."""
DONE = ("Complete", "Failed", "Cancelled", "Timeout", "Unknown")
AWS_ERRORS = (ClientError, BotoCoreError)

logger = logging.getLogger("vpcwatch.enricher")
logger.setLevel(logging.INFO)


def log(level: int, step: str, **fields: Any) -> None:
    """One JSON line: the step, and what it found or why it failed."""
    logger.log(level, json.dumps({"step": step, **fields}, default=str, sort_keys=True))


def load_config(text: str) -> dict[str, Any]:
    """VPCWATCH_CONFIG: base64 of zlib-compressed JSON (Lambda environments hold 4 KB):
    queries, titles, severities, lookup sides and alarm windows by metric name."""
    return json.loads(zlib.decompress(base64.b64decode(text)))


@dataclass
class Alarm:
    """What the event says about the alarm, read defensively: a field that is missing or
    of the wrong shape becomes ``None`` and a line in ``problems``."""

    name: str | None = None
    state: str | None = None
    time: int | None = None
    metric: str | None = None
    account: str | None = None
    region: str | None = None
    problems: list[str] = field(default_factory=list)

    @classmethod
    def from_event(cls, event: Any) -> Alarm:
        alarm = cls()
        if not isinstance(event, dict):
            alarm.problems.append(f"the event is a {type(event).__name__}, not an object")
            return alarm
        alarm.account, alarm.region = _text(event.get("account")), _text(event.get("region"))
        detail = event.get("detail")
        if not isinstance(detail, dict):
            alarm.problems.append("the event has no 'detail' object")
            return alarm
        name = detail.get("alarmName")
        alarm.name = name if isinstance(name, str) else None
        state = detail.get("state")
        if isinstance(state, dict):
            alarm.state = _text(state.get("value"))
            alarm.time = _timestamp(state.get("timestamp"))
        elif isinstance(state, str):
            alarm.state = state
        alarm.metric = _metric_name(detail)
        for what, value in (("alarm name", alarm.name), ("state", alarm.state),
                            ("time", alarm.time), ("metric", alarm.metric)):  # fmt: skip
            if value is None:
                alarm.problems.append(f"the event's {what}")
        return alarm


@dataclass
class Report:
    """What the enrichment found, and what it could not find."""

    alarm: str
    detector: str
    title: str
    severity: str
    window: tuple[int, int]
    state: str = "ALARM"
    metric: str = "?"
    alarm_link: str | None = None
    rows: list[dict[str, str]] = field(default_factory=list)
    interfaces: list[dict[str, Any]] = field(default_factory=list)
    open_rules: list[dict[str, Any]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    query_link: str | None = None
    account: str = "?"
    region: str = "?"

    def subject(self) -> str:
        text = f"vpcwatch {self.severity.upper()}: {self.title}"
        return text if len(text) <= MAX_SUBJECT else text[: MAX_SUBJECT - 1] + "\u2026"

    def as_json(self) -> dict[str, Any]:
        return {
            "alarm": self.alarm,
            "account": self.account,
            "region": self.region,
            "state": self.state,
            "detector": self.detector,
            "metric": self.metric,
            "severity": self.severity,
            "window": {"start": _iso(self.window[0]), "end": _iso(self.window[1])},
            "topFlows": self.rows,
            "interfaces": self.interfaces,
            "openIngressRules": self.open_rules,
            "notFound": self.notes,
            "couldNotFind": self.missing,
            "alarmConsole": self.alarm_link,
            "insightsQuery": self.query_link,
        }

    def text(self) -> str:
        beside = f", metric {self.metric}" if self.metric != self.detector else ""
        lines = [
            f"{self.title} (detector {self.detector}{beside}, alarm {self.alarm}, state "
            f"{self.state}, severity {self.severity})",
            f"Account {self.account}, region {self.region}",
            f"Window: {_iso(self.window[0])} to {_iso(self.window[1])}",
            "",
        ]
        if self.rows:
            lines.append("Top flows:")
            lines += [f"  {_row_text(row)}" for row in self.rows]
        for interface in self.interfaces:
            lines.append(
                f"Address {interface['address']}: interface {interface['interfaceId']}, "
                f"instance {interface.get('instanceId') or '-'}, security groups "
                f"{', '.join(interface['securityGroups']) or '-'}"
            )
        lines += self.notes
        for rule in self.open_rules:
            lines.append(
                f"OPEN: {rule['groupId']} ({rule['groupName']}) admits {rule['source']} to "
                f"port {rule['port']} ({rule['protocol']} {rule['fromPort']}-{rule['toPort']})"
            )
        if self.missing:
            lines.append("Could not find: " + "; ".join(self.missing))
        if self.alarm_link:
            lines.append(f"Alarm: {self.alarm_link}")
        if self.query_link:
            lines.append(f"Logs Insights: {self.query_link}")
        return "\n".join(lines)


class Enricher:
    """The enrichment steps, with injected clients (tests pass moto or stubbed ones)."""

    def __init__(
        self, config: dict[str, Any], logs: Any, ec2: Any, sns: Any, events: Any = None
    ) -> None:
        self.config, self.logs, self.ec2, self.sns = config, logs, ec2, sns
        self.events = events

    def handle(self, event: Any, remaining_ms: int) -> Report | None:
        """Enrich and publish; ``None`` (nothing published) only for a readable state
        other than ALARM. Raises only when publishing fails."""
        alarm = Alarm.from_event(event)
        log(logging.INFO, "event", alarm=alarm.name, state=alarm.state, metric=alarm.metric,
            problems=alarm.problems)  # fmt: skip
        if alarm.state is not None and alarm.state != "ALARM":
            return None
        report = self._report(alarm)
        try:
            detector = self._detector(alarm)[1]
            if detector is None:
                report.missing.append(f"no flow-log query for metric {alarm.metric!r}")
            elif "query" not in detector:
                report.notes.append(
                    f"{report.detector} watches the flow-log group itself (metric "
                    f"{alarm.metric}): there are no flows to look up"
                )
            else:
                self._query(report, detector["query"], remaining_ms)
                self._resolve(report, detector.get("lookup", "dstaddr"))
        except Exception as error:  # a bug must not silence the alert
            log(logging.ERROR, "enrich", error=repr(error))
            report.missing.append(f"the rest of the enrichment ({type(error).__name__})")
        self.publish(report)
        return report

    def _detector(self, alarm: Alarm) -> tuple[str | None, dict | None]:
        """The detector of the alarm: by the alarm's name (one name per alarm: the
        detector's), else by its metric."""
        detectors = self.config.get("detectors", {})
        name = self.config.get("alarms", {}).get(alarm.name) or alarm.metric
        return name, detectors.get(name)

    def _report(self, alarm: Alarm) -> Report:
        name, detector = self._detector(alarm)
        detector = detector or {}
        end = alarm.time or int(time.time())
        span = self.config.get("windowSeconds", {}).get(alarm.metric, 300)
        start = end - int(span) - int(self.config.get("deliveryDelaySeconds", 600))
        report = Report(
            alarm=alarm.name or "?",
            detector=name or "?",
            metric=alarm.metric or "?",
            title=detector.get("title", alarm.name or "vpcwatch alarm"),
            severity=detector.get("severity", "unknown"),
            window=(start, end),
            state=alarm.state or "?",
            alarm_link=_alarm_link(self.config.get("region", ""), alarm.name),
            account=alarm.account or "?",
            region=alarm.region or self.config.get("region") or "?",
        )
        report.missing += alarm.problems
        return report

    def _query(self, report: Report, query: str, remaining_ms: int) -> None:
        group = self.config["logGroupName"]
        report.query_link = _console_link(self.config.get("region", ""), group, query, report)
        deadline = time.monotonic() + max(remaining_ms - SAFETY_MARGIN_MS, 0) / 1000
        try:
            query_id = self.logs.start_query(
                logGroupName=group, startTime=report.window[0], endTime=report.window[1],
                queryString=query, limit=int(self.config.get("maxRows", 10)),
            )["queryId"]  # fmt: skip
            while True:
                result = self.logs.get_query_results(queryId=query_id)
                status = result.get("status") if isinstance(result, dict) else None
                if status in DONE or status is None:
                    break
                if time.monotonic() + POLL_SECONDS > deadline:
                    _quietly(self.logs.stop_query, queryId=query_id)
                    report.missing.append("the flows (the Logs Insights query timed out)")
                    log(logging.WARNING, "query", outcome="timeout")
                    return
                time.sleep(POLL_SECONDS)
        except AWS_ERRORS as error:
            report.missing.append(f"the flows ({_reason(error)})")
            log(logging.WARNING, "query", error=_reason(error))
            return
        if status != "Complete":
            report.missing.append(f"the flows (query {str(status or 'result unreadable').lower()})")
            log(logging.WARNING, "query", status=status)
            return
        report.rows = [_row(row) for row in result.get("results") or [] if isinstance(row, list)]
        report.rows = report.rows[: int(self.config.get("maxRows", 10))]
        log(logging.INFO, "query", rows=len(report.rows))

    def _resolve(self, report: Report, side: str) -> None:
        """Interfaces, instances and groups behind the internal side of the flows (``side``:
        ``dstaddr`` for ingress detectors, ``srcaddr`` for egress ones)."""
        addresses = sorted({row[side] for row in report.rows if row.get(side)})
        ports = sorted({int(row["dstport"]) for row in report.rows
                        if str(row.get("dstport", "")).isdigit()})  # fmt: skip
        if not addresses:
            return
        wanted = [{"Name": "addresses.private-ip-address", "Values": addresses}]
        try:
            pages = _pages(self.ec2, "describe_network_interfaces", "NetworkInterfaces",
                           Filters=wanted)  # fmt: skip
            found = [interface for page in pages for interface in page]
        except AWS_ERRORS as error:
            report.missing.append(f"the interfaces ({_reason(error)})")
            log(logging.WARNING, "interfaces", error=_reason(error))
            return
        groups: set[str] = set()
        seen = set()
        for interface in found:
            group_ids = [g.get("GroupId") for g in interface.get("Groups", []) if g.get("GroupId")]
            groups.update(group_ids)
            address = interface.get("PrivateIpAddress")
            seen.add(address)
            report.interfaces.append({
                "address": address,
                "interfaceId": interface.get("NetworkInterfaceId"),
                "instanceId": (interface.get("Attachment") or {}).get("InstanceId"),
                "securityGroups": group_ids,
            })  # fmt: skip
        for address in addresses:
            if address not in seen:
                report.notes.append(
                    f"Address {address}: no network interface found (deleted since, or "
                    "outside this account and region)"
                )
        log(logging.INFO, "interfaces", found=len(found), addresses=len(addresses))
        if groups and ports:
            self._open_rules(report, sorted(groups), ports)

    def _open_rules(self, report: Report, groups: list[str], ports: list[int]) -> None:
        try:
            pages = _pages(self.ec2, "describe_security_groups", "SecurityGroups", GroupIds=groups)
            described = [group for page in pages for group in page]
        except AWS_ERRORS as error:
            report.missing.append(f"the security group rules ({_reason(error)})")
            log(logging.WARNING, "groups", error=_reason(error))
            return
        for group_id in sorted(set(groups) - {g.get("GroupId") for g in described}):
            report.notes.append(f"Security group {group_id}: not found (deleted since)")
        for group in described:
            for permission in group.get("IpPermissions", []):
                report.open_rules += _open_rules(group, permission, ports)
        log(logging.INFO, "groups", described=len(described), open=len(report.open_rules))

    def publish(self, report: Report) -> None:
        """Publish the message, and put it on the event bus when configured (for the
        central alert bus of many accounts); raises when SNS or EventBridge refuses
        (Lambda then retries the event)."""
        message = report.text() + "\n\n" + json.dumps(report.as_json(), indent=1, sort_keys=True)
        try:
            self.sns.publish(
                TopicArn=self.config["topicArn"], Subject=report.subject(), Message=message
            )
            if self.config.get("eventBus"):
                self._put_event(report)
        except Exception as error:
            log(logging.ERROR, "publish", error=repr(error), alarm=report.alarm)
            raise
        log(logging.INFO, "publish", alarm=report.alarm, missing=report.missing)

    def _put_event(self, report: Report) -> None:
        detail = {"subject": report.subject(), "text": report.text(), **report.as_json()}
        entry = {
            "Source": EVENT_SOURCE,
            "DetailType": EVENT_DETAIL_TYPE,
            "Detail": json.dumps(detail, sort_keys=True),
            "EventBusName": self.config["eventBus"],
        }
        response = self.events.put_events(Entries=[entry])
        if response.get("FailedEntryCount"):
            problem = response.get("Entries", [{}])[0].get("ErrorMessage", "refused")
            raise RuntimeError(f"EventBridge refused the enrichment event: {problem}")


def _pages(client: Any, operation: str, key: str, **arguments: Any):
    """Every page's ``key`` list of a paginated describe call."""
    if client.can_paginate(operation):
        for page in client.get_paginator(operation).paginate(**arguments):
            yield page.get(key, [])
    else:
        yield getattr(client, operation)(**arguments).get(key, [])


def _row(cells: list[Any]) -> dict[str, str]:
    """A result row as ``{field: value}``; cells without a field name are skipped."""
    return {
        str(cell["field"]): str(cell.get("value", ""))
        for cell in cells
        if isinstance(cell, dict) and cell.get("field") and not str(cell["field"]).startswith("@")
    }


def _open_rules(group: dict, permission: dict, ports: list[int]) -> list[dict[str, Any]]:
    protocol = str(permission.get("IpProtocol", "")).lower()
    low, high = permission.get("FromPort", -1), permission.get("ToPort", -1)
    if protocol in ("-1", "all"):
        low, high = 0, 65535
    elif protocol not in ("tcp", "udp", "6", "17"):
        return []
    sources = [r.get("CidrIp") for r in permission.get("IpRanges", [])]
    sources += [r.get("CidrIpv6") for r in permission.get("Ipv6Ranges", [])]
    return [
        {"groupId": group["GroupId"], "groupName": group.get("GroupName", ""),
         "source": source, "port": port, "protocol": protocol, "fromPort": low, "toPort": high}
        for source in sources if source in WORLD
        for port in ports if low <= port <= high
    ]  # fmt: skip


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _metric_name(detail: dict) -> str | None:
    configuration = detail.get("configuration")
    metrics = configuration.get("metrics") if isinstance(configuration, dict) else None
    for metric in metrics if isinstance(metrics, list) else []:
        try:
            name = metric["metricStat"]["metric"]["name"]
        except (KeyError, TypeError):
            continue
        if isinstance(name, str) and name:
            return name
    return None


def _timestamp(value: Any) -> int | None:
    """Unix seconds from ISO 8601 text (what CloudWatch sends), or from a number of
    seconds or milliseconds."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value / 1000) if value > 10**11 else int(value)
    if not isinstance(value, str) or not value:
        return None
    try:
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _row_text(row: dict[str, str]) -> str:
    return " ".join(f"{key}={value}" for key, value in row.items())


_REASONS = {
    "AccessDeniedException": "access denied",
    "AccessDenied": "access denied",
    "UnauthorizedOperation": "access denied",
    "ThrottlingException": "throttled",
    "Throttling": "throttled",
    "RequestLimitExceeded": "throttled",
    "LimitExceededException": "too many concurrent queries",
}


def _reason(error: Exception) -> str:
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "error")
        return _REASONS.get(code, code)
    return type(error).__name__


def _quietly(call: Any, **kwargs: Any) -> None:
    with contextlib.suppress(*AWS_ERRORS):
        call(**kwargs)


def _alarm_link(region: str, name: str | None) -> str | None:
    if not region or not name:
        return None
    return (
        f"https://console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#alarmsV2:alarm/{quote(name, safe='')}"
    )


def _console_link(region: str, group: str, query: str, report: Report) -> str | None:
    if not region:
        return None
    details = (
        f"~(end~'{_iso(report.window[1])}~start~'{_iso(report.window[0])}~timeType~'ABSOLUTE"
        f"~editorString~'{quote(query, safe='')}~source~(~'{quote(group, safe='')}))"
    )
    return (
        f"https://console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#logsV2:logs-insights$3FqueryDetail$3D{quote(details, safe='')}"
    )


def config_from_environment(environ: Any = os.environ) -> dict[str, Any]:
    """The packed configuration plus the deploy-time values kept plain."""
    config = load_config(environ["VPCWATCH_CONFIG"])
    config["logGroupName"] = environ["VPCWATCH_LOG_GROUP"]
    config["topicArn"] = environ["VPCWATCH_TOPIC_ARN"]
    config["eventBus"] = environ.get("VPCWATCH_EVENT_BUS", "")
    config["region"] = environ.get("AWS_REGION", "")
    return config


def handler(event: Any, context: Any) -> dict[str, Any]:
    config = config_from_environment()
    events = boto3.client("events") if config["eventBus"] else None
    enricher = Enricher(
        config, boto3.client("logs"), boto3.client("ec2"), boto3.client("sns"), events
    )
    report = enricher.handle(event, context.get_remaining_time_in_millis())
    if report is None:
        return {"enriched": False}
    return {"enriched": True, "missing": report.missing, "rows": len(report.rows)}
