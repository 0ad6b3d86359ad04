"""A monthly cost estimate of what a synthesized template switches on.

Prices are data (us-east-1 list prices seen in late 2025, from the project's pricing
reference) and can be overridden with a JSON file of the same shape. Every line
says what it assumes; nothing here calls AWS.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vpcwatch.fields import FlowLogFormat

DAYS_PER_MONTH = 30
TB = 1024  # GB

DEFAULT_PRICES: dict[str, Any] = {
    "logs_ingestion_standard": [[10 * TB, 0.50], [20 * TB, 0.25], [20 * TB, 0.10], [None, 0.05]],
    "logs_ingestion_infrequent": [[10 * TB, 0.25], [20 * TB, 0.15], [20 * TB, 0.075], [None, 0.05]],
    "s3_delivery": [[10 * TB, 0.25], [20 * TB, 0.15], [20 * TB, 0.075], [None, 0.05]],
    "parquet_conversion_per_gb": 0.03,
    "logs_storage_per_gb_month": 0.03,
    "custom_metric_per_month": 0.30,
    "standard_alarm_per_month": 0.10,
    "config_rule_evaluation": 0.001,
    "config_item": 0.003,
    "guardduty_per_gb": [[500, 1.00], [2000, 0.50], [7500, 0.25], [None, 0.15]],
}
"""Tiers are [[GB in the tier per month (None: the rest), USD per GB], ...]."""


@dataclass(frozen=True)
class Assumptions:
    """What the estimate cannot read from the template.

    Args:
        gb_per_day: flow-log volume of an ALL-traffic flow log.
        reject_share: share of that volume a REJECT-only flow log writes. Default: 0.05.
        config_evaluations_per_rule: evaluations a month per Config rule. Default: 1000.
        config_items: configuration items recorded a month, if the template creates a
            recorder. Default: 2000.
    """

    gb_per_day: float
    reject_share: float = 0.05
    config_evaluations_per_rule: int = 1000
    config_items: int = 2000

    def __post_init__(self) -> None:
        if not isinstance(self.gb_per_day, (int, float)) or self.gb_per_day < 0:
            raise ValueError(f"gb_per_day must be a non-negative number; got {self.gb_per_day!r}")
        if not 0 <= self.reject_share <= 1:
            raise ValueError(f"reject_share must be from 0 to 1; got {self.reject_share!r}")


@dataclass(frozen=True)
class Line:
    item: str
    quantity: str
    usd: float


def tiered(gb: float, tiers: list) -> float:
    """The cost of ``gb`` a month under tiered prices."""
    total, left = 0.0, gb
    for size, price in tiers:
        used = left if size is None else min(left, size)
        total += used * price
        left -= used
        if left <= 0:
            break
    return total


def load_prices(path: str | Path | None) -> dict[str, Any]:
    """The default prices, updated from a JSON file of the same keys."""
    prices = dict(DEFAULT_PRICES)
    if path is not None:
        given = json.loads(Path(path).read_text())
        unknown = set(given) - set(prices)
        if unknown:
            raise ValueError(f"unknown price keys {sorted(unknown)}; known: {sorted(prices)}")
        prices.update(given)
    return prices


def estimate(
    template: Mapping[str, Any], assumptions: Assumptions, prices: Mapping[str, Any]
) -> tuple[list[Line], list[Line]]:
    """(the lines of the estimate, the cheaper alternatives)."""
    resources = template.get("Resources", {})
    by_type: dict[str, list[dict]] = {}
    for resource in resources.values():
        by_type.setdefault(resource.get("Type", ""), []).append(resource.get("Properties", {}))
    month_gb = assumptions.gb_per_day * DAYS_PER_MONTH
    lines: list[Line] = []
    cloudwatch_gb = 0.0
    for flow_log in by_type.get("AWS::EC2::FlowLog", []):
        traffic = flow_log.get("TrafficType", "ALL")
        share = {
            "ALL": 1.0,
            "REJECT": assumptions.reject_share,
            "ACCEPT": 1 - assumptions.reject_share,
        }.get(traffic, 1.0)
        gb = month_gb * share
        if flow_log.get("LogDestinationType", "cloud-watch-logs") == "s3":
            parquet = (flow_log.get("DestinationOptions") or {}).get("FileFormat") == "parquet"
            cost = tiered(gb, prices["s3_delivery"])
            cost += gb * prices["parquet_conversion_per_gb"] if parquet else 0
            lines.append(
                Line(
                    f"flow logs to S3 ({traffic}{', Parquet' if parquet else ''})",
                    f"{gb:,.0f} GB",
                    cost,
                )
            )
        else:
            cloudwatch_gb += gb
            lines.append(
                Line(
                    f"flow logs to CloudWatch Logs, Standard ({traffic})",
                    f"{gb:,.0f} GB",
                    tiered(gb, prices["logs_ingestion_standard"]),
                )
            )
    for group in by_type.get("AWS::Logs::LogGroup", []):
        days = group.get("RetentionInDays")
        if days and cloudwatch_gb and "flowlogs" in str(group.get("LogGroupName", "")):
            stored = assumptions.gb_per_day * days * (cloudwatch_gb / month_gb if month_gb else 0)
            lines.append(
                Line(
                    f"CloudWatch Logs storage at {days}-day retention (steady state, "
                    "uncompressed upper bound)",
                    f"{stored:,.0f} GB-month",
                    stored * prices["logs_storage_per_gb_month"],
                )
            )
    metrics = {
        (t.get("MetricNamespace"), t.get("MetricName"))
        for f in by_type.get("AWS::Logs::MetricFilter", [])
        for t in f.get("MetricTransformations", [])
    }
    dimensioned = sum(
        1
        for f in by_type.get("AWS::Logs::MetricFilter", [])
        for t in f.get("MetricTransformations", [])
        if t.get("Dimensions")
    )
    note = f" (+ one per dimension value of {dimensioned})" if dimensioned else ""
    lines.append(
        Line(
            f"custom metrics from metric filters{note}",
            f"{len(metrics)}",
            len(metrics) * prices["custom_metric_per_month"],
        )
    )
    alarms = len(by_type.get("AWS::CloudWatch::Alarm", []))
    lines.append(Line("standard alarms", f"{alarms}", alarms * prices["standard_alarm_per_month"]))
    rules = len(by_type.get("AWS::Config::ConfigRule", []))
    if rules:
        evaluations = rules * assumptions.config_evaluations_per_rule
        lines.append(
            Line(
                f"Config rule evaluations ({rules} rules)",
                f"{evaluations:,}",
                evaluations * prices["config_rule_evaluation"],
            )
        )
    if by_type.get("AWS::Config::ConfigurationRecorder"):
        items = assumptions.config_items
        lines.append(
            Line("Config configuration items recorded", f"{items:,}", items * prices["config_item"])
        )
    if by_type.get("AWS::GuardDuty::Detector"):
        lines.append(
            Line(
                "GuardDuty flow and DNS log analysis",
                f"{month_gb:,.0f} GB",
                tiered(month_gb, prices["guardduty_per_gb"]),
            )
        )
    alternatives = []
    if cloudwatch_gb:
        current = tiered(cloudwatch_gb, prices["logs_ingestion_standard"])
        infrequent = tiered(cloudwatch_gb, prices["logs_ingestion_infrequent"])
        alternatives.append(
            Line(
                "CloudWatch ingestion in Infrequent Access (no metric filters there)",
                f"{cloudwatch_gb:,.0f} GB",
                infrequent - current,
            )
        )
        reject_gb = month_gb * assumptions.reject_share
        split = tiered(reject_gb, prices["logs_ingestion_standard"]) + tiered(
            month_gb, prices["s3_delivery"]
        )
        alternatives.append(
            Line(
                "REJECT-only flow log to CloudWatch + ALL to S3 (history in Athena)",
                f"{reject_gb:,.0f} + {month_gb:,.0f} GB",
                split - current,
            )
        )
    return lines, alternatives


def render(lines: list[Line], alternatives: list[Line], assumptions: Assumptions) -> str:
    out = [
        f"Monthly estimate for {assumptions.gb_per_day:g} GB/day of flow logs "
        f"({DAYS_PER_MONTH}-day month, us-east-1 list prices):",
        "",
    ]
    for line in lines:
        out.append(f"  {line.item:<78} {line.quantity:>18}  ${line.usd:>10,.2f}")
    out.append(f"  {'total':<78} {'':>18}  ${sum(line.usd for line in lines):>10,.2f}")
    if alternatives:
        out += ["", "Cheaper alternatives (change against the total above):"]
        for line in alternatives:
            out.append(f"  {line.item:<78} {line.quantity:>18}  ${line.usd:>+10,.2f}")
    out += [
        "",
        f"Assumed: REJECT-only logs write {assumptions.reject_share:.0%} of ALL; "
        f"{assumptions.config_evaluations_per_rule:,} evaluations per Config rule; free "
        "tier (10 metrics, 10 alarms, 5 GB logs) not deducted; S3 storage and Athena "
        "scans not included.",
    ]
    return "\n".join(out)


def gb_per_day_from_sample(path: str | Path, log_format: FlowLogFormat) -> float:
    """GB/day of a recorded file: its size over the days its records' ``start`` span.
    Read as replay reads it (every input shape; a file of another format is refused)."""
    from vpcwatch.replay.readers import InputStats, read_events

    stats, first, last = InputStats(), None, None
    for start, _ in read_events([path], log_format, stats):
        first = start if first is None else min(first, start)
        last = start if last is None else max(last, start)
    if first is None or last is None or last <= first:
        raise ValueError(f"{path}: too few records with a start time to measure a rate")
    return stats.bytes_read / 1e9 / ((last - first + 60) / 86400)
