"""vpcwatch alarm enricher: "metric crossed 1" -> who, what, where, and which rule let them in.

Triggered by EventBridge "CloudWatch Alarm State Change" events of the monitoring's
alarms. For an alarm that went to ALARM it runs the detector's Logs Insights query
(text made by the vpcwatch library at synth time, passed in VPCWATCH_CONFIG) over
the alarm's window plus the flow-log delivery delay, resolves the destination
interfaces to instances and security groups, lists the ingress rules that admit
the probed ports from 0.0.0.0/0 or ::/0, and publishes one message to the alert
topic. The alarm's own notification goes out independently: this adds
information and never carries the only copy. Whatever fails (timeout, throttling,
access denied) shortens the message and says what could not be found; it never
silences it. Imports boto3 and the standard library only.
"""

from __future__ import annotations

import base64
import contextlib
import json
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


def load_config(text: str) -> dict[str, Any]:
    """VPCWATCH_CONFIG: base64 of zlib-compressed JSON (Lambda environments hold 4 KB):
    queries, titles, severities and alarm windows by metric name."""
    return json.loads(zlib.decompress(base64.b64decode(text)))


@dataclass
class Report:
    """What the enrichment found, and what it could not find."""

    alarm: str
    detector: str
    title: str
    severity: str
    window: tuple[int, int]
    rows: list[dict[str, str]] = field(default_factory=list)
    interfaces: list[dict[str, Any]] = field(default_factory=list)
    open_rules: list[dict[str, Any]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    query_link: str | None = None

    def subject(self) -> str:
        text = f"vpcwatch {self.severity.upper()}: {self.title}"
        return text if len(text) <= MAX_SUBJECT else text[: MAX_SUBJECT - 1] + "\u2026"

    def as_json(self) -> dict[str, Any]:
        return {
            "alarm": self.alarm,
            "detector": self.detector,
            "severity": self.severity,
            "window": {"start": _iso(self.window[0]), "end": _iso(self.window[1])},
            "topFlows": self.rows,
            "interfaces": self.interfaces,
            "openIngressRules": self.open_rules,
            "couldNotFind": self.missing,
            "insightsQuery": self.query_link,
        }

    def text(self) -> str:
        lines = [
            f"{self.title} (alarm {self.alarm}, severity {self.severity})",
            f"Window: {_iso(self.window[0])} to {_iso(self.window[1])}",
            "",
        ]
        if self.rows:
            lines.append("Top flows:")
            lines += [f"  {_row_text(row)}" for row in self.rows]
        for interface in self.interfaces:
            lines.append(
                f"Destination {interface['address']}: interface {interface['interfaceId']}, "
                f"instance {interface.get('instanceId') or '-'}, security groups "
                f"{', '.join(interface['securityGroups']) or '-'}"
            )
        for rule in self.open_rules:
            lines.append(
                f"OPEN: {rule['groupId']} ({rule['groupName']}) admits {rule['source']} to "
                f"port {rule['port']} ({rule['protocol']} {rule['fromPort']}-{rule['toPort']})"
            )
        if self.missing:
            lines.append("Could not find: " + "; ".join(self.missing))
        if self.query_link:
            lines.append(f"Logs Insights: {self.query_link}")
        return "\n".join(lines)


class Enricher:
    """The enrichment steps, with injected clients (tests pass moto or stubbed ones)."""

    def __init__(self, config: dict[str, Any], logs: Any, ec2: Any, sns: Any) -> None:
        self.config, self.logs, self.ec2, self.sns = config, logs, ec2, sns

    def handle(self, event: dict[str, Any], remaining_ms: int) -> Report | None:
        detail = event.get("detail", {})
        if detail.get("state", {}).get("value") != "ALARM":
            return None
        metric = _metric_name(detail)
        detector = self.config["detectors"].get(metric)
        end = _timestamp(detail.get("state", {}).get("timestamp")) or int(time.time())
        span = self.config.get("windowSeconds", {}).get(metric, 300)
        start = end - span - int(self.config.get("deliveryDelaySeconds", 600))
        report = Report(
            alarm=detail.get("alarmName", "?"),
            detector=metric or "?",
            title=(detector or {}).get("title", detail.get("alarmName", "vpcwatch alarm")),
            severity=(detector or {}).get("severity", "unknown"),
            window=(start, end),
        )
        if detector is None:
            report.missing.append(f"no flow-log query for metric {metric!r}")
        else:
            self._query(report, detector["query"], remaining_ms)
            self._resolve(report)
        self.publish(report)
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
                if result["status"] in ("Complete", "Failed", "Cancelled", "Timeout", "Unknown"):
                    break
                if time.monotonic() + POLL_SECONDS > deadline:
                    _quietly(self.logs.stop_query, queryId=query_id)
                    report.missing.append("the flows (the Logs Insights query timed out)")
                    return
                time.sleep(POLL_SECONDS)
        except (ClientError, BotoCoreError) as error:
            report.missing.append(f"the flows ({_reason(error)})")
            return
        if result["status"] != "Complete":
            report.missing.append(f"the flows (query {result['status'].lower()})")
            return
        report.rows = [
            {cell["field"]: cell["value"] for cell in row if not cell["field"].startswith("@")}
            for row in result.get("results", [])
        ][: int(self.config.get("maxRows", 10))]

    def _resolve(self, report: Report) -> None:
        addresses = sorted({row["dstaddr"] for row in report.rows if row.get("dstaddr")})
        ports = sorted({int(row["dstport"]) for row in report.rows
                        if row.get("dstport", "").isdigit()})  # fmt: skip
        if not addresses:
            return
        try:
            found = self.ec2.describe_network_interfaces(
                Filters=[{"Name": "addresses.private-ip-address", "Values": addresses}]
            )["NetworkInterfaces"]
        except (ClientError, BotoCoreError) as error:
            report.missing.append(f"the interfaces ({_reason(error)})")
            return
        groups: set[str] = set()
        for interface in found:
            group_ids = [g["GroupId"] for g in interface.get("Groups", [])]
            groups.update(group_ids)
            report.interfaces.append({
                "address": interface.get("PrivateIpAddress"),
                "interfaceId": interface.get("NetworkInterfaceId"),
                "instanceId": interface.get("Attachment", {}).get("InstanceId"),
                "securityGroups": group_ids,
            })  # fmt: skip
        if not groups or not ports:
            return
        try:
            described = self.ec2.describe_security_groups(GroupIds=sorted(groups))
        except (ClientError, BotoCoreError) as error:
            report.missing.append(f"the security group rules ({_reason(error)})")
            return
        for group in described["SecurityGroups"]:
            for permission in group.get("IpPermissions", []):
                report.open_rules += _open_rules(group, permission, ports)

    def publish(self, report: Report) -> None:
        message = report.text() + "\n\n" + json.dumps(report.as_json(), indent=1, sort_keys=True)
        self.sns.publish(
            TopicArn=self.config["topicArn"], Subject=report.subject(), Message=message
        )


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


def _metric_name(detail: dict) -> str | None:
    for metric in detail.get("configuration", {}).get("metrics", []):
        name = metric.get("metricStat", {}).get("metric", {}).get("name")
        if name:
            return name
    return None


def _timestamp(text: str | None) -> int | None:
    if not text:
        return None
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())
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
    "LimitExceededException": "too many concurrent queries",
}


def _reason(error: Exception) -> str:
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "error")
        return _REASONS.get(code, code)
    return type(error).__name__


def _quietly(call: Any, **kwargs: Any) -> None:
    with contextlib.suppress(ClientError, BotoCoreError):
        call(**kwargs)


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
    config["region"] = environ.get("AWS_REGION", "")
    return config


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    config = config_from_environment()
    enricher = Enricher(config, boto3.client("logs"), boto3.client("ec2"), boto3.client("sns"))
    report = enricher.handle(event, context.get_remaining_time_in_millis())
    if report is None:
        return {"enriched": False}
    return {"enriched": True, "missing": report.missing, "rows": len(report.rows)}
