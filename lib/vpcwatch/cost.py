"""A monthly cost estimate of what a synthesized template switches on.

Prices are data (us-east-1 list prices seen in late 2025, from the project's pricing
reference) and can be overridden with a JSON file of the same shape. Every line
says what it assumes; nothing here calls AWS.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vpcwatch.fields import FlowLogFormat
from vpcwatch.template_facts import flow_log_properties

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
    "insight_rule_per_month": 0.50,
    "insight_matched_events_per_million": 0.02,
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
        insight_matched_events: log events a month that one Contributor Insights rule
            matches (rejected probes on a closed group: ~250,000). Default: 1,000,000.
    """

    gb_per_day: float
    reject_share: float = 0.05
    config_evaluations_per_rule: int = 1000
    config_items: int = 2000
    insight_matched_events: int = 1_000_000

    def __post_init__(self) -> None:
        if not _amount(self.gb_per_day):
            raise ValueError(
                f"gb_per_day must be a finite number of 0 or more; got {self.gb_per_day!r}"
            )
        if not _amount(self.reject_share) or self.reject_share > 1:
            raise ValueError(f"reject_share must be from 0 to 1; got {self.reject_share!r}")
        matched = self.insight_matched_events
        if isinstance(matched, bool) or not isinstance(matched, int) or matched < 0:
            raise ValueError(
                f"insight_matched_events must be an integer of 0 or more; got {matched!r}"
            )


@dataclass(frozen=True)
class Line:
    """One item of the estimate, or one alternative (``usd`` is then the change).

    ``gives_up`` names the detectors an alternative would switch off: such an
    alternative is shown as not proposed, never as a saving.
    """

    item: str
    quantity: str
    usd: float
    gives_up: tuple[str, ...] = ()


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


def _amount(value: Any) -> bool:
    """A finite number of 0 or more (not a bool)."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def load_prices(path: str | Path | None) -> dict[str, Any]:
    """The default prices, updated from a JSON file of the same keys and shapes.

    Raises:
        ValueError: unreadable, not JSON, unknown keys, or a value of the wrong shape (a
            price is a finite number of 0 or more; tiers are ``[[GB or null, USD], ...]``).
    """
    prices = dict(DEFAULT_PRICES)
    if path is None:
        return prices
    try:
        given = json.loads(Path(path).read_bytes().decode("utf-8"))
    except OSError as error:
        raise ValueError(f"--prices {path}: {error.strerror or error}") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"--prices {path} is not JSON: {error}") from None
    if not isinstance(given, dict):
        raise ValueError(f"--prices {path} must be a JSON object of price keys")
    unknown = set(given) - set(prices)
    if unknown:
        raise ValueError(f"unknown price keys {sorted(unknown)}; known: {sorted(prices)}")
    for key, value in given.items():
        tiered_default = isinstance(DEFAULT_PRICES[key], list)
        ok = _tiers_ok(value) if tiered_default else _amount(value)
        if not ok:
            shape = "[[GB or null, USD per GB], ...]" if tiered_default else "a number >= 0"
            raise ValueError(f"--prices {path}: {key} must be {shape}; got {value!r}")
    prices.update(given)
    return prices


def _tiers_ok(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(
            isinstance(tier, list)
            and len(tier) == 2
            and (tier[0] is None or _amount(tier[0]))
            and _amount(tier[1])
            for tier in value
        )
        and value[-1][0] is None
    )


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
    for flow_log in flow_log_properties(resources):
        traffic = flow_log.get("TrafficType", "ALL")
        whose = ", every VPC enrolled" if flow_log.get("enrolled") else ""
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
                    f"flow logs to S3 ({traffic}{', Parquet' if parquet else ''}{whose})",
                    f"{gb:,.0f} GB",
                    cost,
                )
            )
        else:
            cloudwatch_gb += gb
            lines.append(
                Line(
                    f"flow logs to CloudWatch Logs, Standard ({traffic}{whose})",
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
    insight_rules = len(by_type.get("AWS::CloudWatch::InsightRule", []))
    if insight_rules:
        matched = insight_rules * assumptions.insight_matched_events
        lines.append(
            Line(
                f"Contributor Insights rules ({insight_rules}, "
                f"{assumptions.insight_matched_events:,} matched events each assumed)",
                f"{insight_rules}",
                insight_rules * prices["insight_rule_per_month"]
                + matched / 1e6 * prices["insight_matched_events_per_million"],
            )
        )
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
    alternatives = (
        _alternatives(by_type, assumptions, prices, cloudwatch_gb) if cloudwatch_gb else []
    )
    return lines, alternatives


SHORT_RETENTION_DAYS = 30
"""The CloudWatch retention of the "shorter retention + S3 history" alternative."""


def _alternatives(
    by_type: dict[str, list[dict]],
    assumptions: Assumptions,
    prices: Mapping[str, Any],
    cloudwatch_gb: float,
) -> list[Line]:
    """Cheaper set-ups, each with the detectors it would switch off (none, or it is not
    proposed): Infrequent Access has no metric filters, a REJECT-only flow log delivers
    no ACCEPT record."""
    filters = _filter_needs(by_type.get("AWS::Logs::MetricFilter", []))
    month_gb = assumptions.gb_per_day * DAYS_PER_MONTH
    current = tiered(cloudwatch_gb, prices["logs_ingestion_standard"])
    alternatives = [
        Line(
            "CloudWatch ingestion in Infrequent Access (that class runs no metric filters)",
            f"{cloudwatch_gb:,.0f} GB",
            tiered(cloudwatch_gb, prices["logs_ingestion_infrequent"]) - current,
            gives_up=tuple(sorted(filters)),
        )
    ]
    reject_gb = month_gb * assumptions.reject_share
    split = tiered(reject_gb, prices["logs_ingestion_standard"]) + tiered(
        month_gb, prices["s3_delivery"]
    )
    alternatives.append(
        Line(
            "REJECT-only flow log to CloudWatch + ALL to S3 (history in Athena)",
            f"{reject_gb:,.0f} + {month_gb:,.0f} GB",
            split - current,
            gives_up=tuple(sorted(name for name, needs in filters.items() if "ACCEPT" in needs)),
        )
    )
    days = max(
        (g.get("RetentionInDays") or 0 for g in by_type.get("AWS::Logs::LogGroup", [])
         if "flowlogs" in str(g.get("LogGroupName", ""))),
        default=0,
    )  # fmt: skip
    if days > SHORT_RETENTION_DAYS:
        stored = cloudwatch_gb / DAYS_PER_MONTH
        saved = stored * (days - SHORT_RETENTION_DAYS) * prices["logs_storage_per_gb_month"]
        s3 = (
            tiered(month_gb, prices["s3_delivery"]) + month_gb * prices["parquet_conversion_per_gb"]
        )
        alternatives.append(
            Line(
                f"CloudWatch retention {SHORT_RETENTION_DAYS} days + ALL to S3 in Parquet "
                "(same alarms; history in Athena)",
                f"{month_gb:,.0f} GB to S3",
                s3 - saved,
            )
        )
    return [line for line in alternatives if line.usd < 0 or line.gives_up]


def _filter_needs(metric_filters: list[dict]) -> dict[str, frozenset[str]]:
    """Metric name -> the record actions its filter needs (:mod:`vpcwatch.actions`)."""
    from vpcwatch.actions import required_actions
    from vpcwatch.errors import FilterPatternError
    from vpcwatch.filterpattern import compile_pattern

    needs: dict[str, frozenset[str]] = {}
    for props in metric_filters:
        pattern = props.get("FilterPattern")
        try:
            tree = compile_pattern(pattern).tree if isinstance(pattern, str) else None
        except FilterPatternError:
            tree = None
        required = frozenset() if tree is None else required_actions(tree)
        for transformation in props.get("MetricTransformations", []):
            needs[str(transformation.get("MetricName", "?"))] = required
    return needs


def render(lines: list[Line], alternatives: list[Line], assumptions: Assumptions) -> str:
    """The estimate as aligned text: items, quantities and dollars in columns as wide as
    their widest cell."""
    from vpcwatch.textable import table

    rows: list[tuple[str, ...]] = [("item", "quantity", "USD a month")]
    rows += [(line.item, line.quantity, f"${line.usd:,.2f}") for line in lines]
    rows.append(("total", "", f"${sum(line.usd for line in lines):,.2f}"))
    proposed = [line for line in alternatives if not line.gives_up]
    refused = [line for line in alternatives if line.gives_up]
    if proposed:
        rows += [("",), ("Cheaper alternatives that keep every detector working (change "
                        "against the total above):",)]  # fmt: skip
        rows += [(line.item, line.quantity, f"{line.usd:+,.2f}") for line in proposed]
    if refused:
        rows += [("",), ("Not proposed: cheaper, but they switch detectors off:",)]
        for line in refused:
            rows.append((line.item, line.quantity, f"{line.usd:+,.2f}"))
            rows.append((f"  gives up: {', '.join(line.gives_up)}",))
    out = [
        f"Monthly estimate for {assumptions.gb_per_day:g} GB/day of flow logs "
        f"({DAYS_PER_MONTH}-day month, us-east-1 list prices):",
        "",
        *table(rows, right=(False, True, True)),
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
