"""Replay results for people (a timeline and a summary) and for machines (JSON)."""

from __future__ import annotations

from typing import Any

from vpcwatch import timeformat
from vpcwatch.replay.engine import AlarmSpec, ReplayResult
from vpcwatch.replay.insights import INSIGHT_NAMESPACE
from vpcwatch.replay.template import ReplayPlan
from vpcwatch.textable import table


def iso(seconds: int) -> str:
    return timeformat.iso(seconds)


_SIGN = {"GreaterThanOrEqualToThreshold": ">=", "GreaterThanThreshold": ">",
         "LessThanThreshold": "<", "LessThanOrEqualToThreshold": "<="}  # fmt: skip


def measured(alarm: AlarmSpec, value: float | None) -> str:
    """``64 records in 1 min (>= 30)``: the value with its unit, period and threshold."""
    settings = alarm.settings
    period = f"{settings.period // 60} min"
    amount = "no data" if value is None else f"{value:g} {alarm.unit}"
    sign = _SIGN[settings.comparison.value]
    return f"{amount} in {period} ({sign} {settings.threshold:g})"


def as_text(result: ReplayResult, plan: ReplayPlan, *, top: int = 3) -> str:
    specs = {alarm.name: alarm for alarm in plan.alarms}
    lines = [f"{result.events:,} events replayed through {len(plan.alarms)} alarms"]
    if result.input is not None:
        lines += [f"  {note}" for note in result.input.notes()]
    if plan.filters_actions:
        lines.append(
            f"  the stack's CloudWatch flow logs record {plan.traffic_type} traffic only: "
            f"{result.undelivered:,} input records of other actions were not fed to the "
            "filters (the flow log would never deliver them)"
        )
    lines += [f"  not simulated: {reason}" for reason in plan.skipped]
    for name, count in sorted(result.records_not_looked_up.items()):
        lines.append(
            f"  {name}: top records shown for its first ALARM transitions only; {count:,} "
            "later ones have none (replay a shorter span with --from/--to to see them)"
        )
    lines.append("")
    lines.append("Timeline (the first evaluation of every alarm is its move to OK):")
    rows: list[tuple[str, ...]] = []
    for transition in result.transitions:
        if transition.old.value == "INSUFFICIENT_DATA" and transition.new.value == "OK":
            continue
        alarm = specs[transition.alarm]
        change = f"{transition.old.value} -> {transition.new.value}"
        about = measured(alarm, transition.value) + (f": {alarm.title}" if alarm.title else "")
        rows.append((iso(transition.time), _label(alarm), change, about))
        if transition.new.value == "ALARM":
            for record in result.contributors.get((transition.alarm, transition.time), [])[:top]:
                rows.append((f"    {_short(record)}",))
    lines += table(rows, right=(False, False, False, False))
    lines.append("")
    summary: list[tuple[str, ...]] = [("alarm", "fired", "in ALARM", "peak")]
    for item in result.summaries:
        alarm = specs[item.name]
        peak = (
            "-"
            if item.peak is None
            else f"{item.peak:g} {alarm.unit}/{alarm.settings.period // 60} min"
        )
        summary.append((_label(alarm), str(item.fired), f"{item.seconds_in_alarm // 60} min", peak))
    lines += table(summary, right=(False, True, True, True))
    return "\n".join(lines)


def _label(alarm: AlarmSpec) -> str:
    """The detector's name, with its severity and, where it differs, the metric (for a
    Contributor Insights alarm: that it watches a rule's top contributor)."""
    metric = alarm.metric[1]
    beside = f", metric {metric}" if metric != alarm.name else ""
    if alarm.metric[0] == INSIGHT_NAMESPACE:
        beside = ", top contributor"
    severity = alarm.severity or "-"
    return f"{alarm.name} ({severity}{beside})"


def as_json(result: ReplayResult, plan: ReplayPlan) -> dict[str, Any]:
    specs = {alarm.name: alarm for alarm in plan.alarms}
    return {
        "events": result.events,
        "trafficType": plan.traffic_type,
        "undelivered": result.undelivered,
        "malformed": {
            "count": 0 if result.input is None else result.input.malformed,
            "first": [] if result.input is None else list(result.input.malformed_at),
        },
        "replacedBytes": 0 if result.input is None else result.input.replaced,
        "hiddenNotRead": {
            "count": 0 if result.input is None else result.input.hidden,
            "first": [] if result.input is None else list(result.input.hidden_at),
        },
        "notSimulated": list(plan.skipped),
        "topRecordsNotLookedUp": dict(result.records_not_looked_up),
        "transitions": [
            {
                "time": iso(t.time),
                "timestamp": t.time,
                "alarm": t.alarm,
                "metric": specs[t.alarm].metric[1],
                "severity": specs[t.alarm].severity,
                "title": specs[t.alarm].title,
                "unit": specs[t.alarm].unit,
                "periodSeconds": specs[t.alarm].settings.period,
                "from": t.old.value,
                "to": t.new.value,
                "value": t.value,
                "topRecords": result.contributors.get((t.alarm, t.time), []),
            }
            for t in result.transitions
        ],
        "summary": [
            {
                "alarm": s.name,
                "fired": s.fired,
                "secondsInAlarm": s.seconds_in_alarm,
                "peak": s.peak,
            }
            for s in result.summaries
        ],
    }


def _short(record: str, limit: int = 160) -> str:
    return record if len(record) <= limit else record[: limit - 1] + "\u2026"
