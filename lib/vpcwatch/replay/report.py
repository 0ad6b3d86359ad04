"""Replay results for people (a timeline and a summary) and for machines (JSON)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from vpcwatch.replay.engine import ReplayResult
from vpcwatch.replay.template import ReplayPlan


def iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def as_text(result: ReplayResult, plan: ReplayPlan, *, top: int = 3) -> str:
    lines = [f"{result.events:,} events replayed through {len(plan.alarms)} alarms"]
    stats = result.input
    if stats is not None and stats.malformed:
        lines.append(
            f"  {stats.malformed:,} lines are not records of the stack's format (wrong field "
            f"count or no start time) and were skipped; first: {', '.join(stats.malformed_at)}"
        )
    if stats is not None and stats.replaced:
        lines.append(f"  {stats.replaced:,} bytes were not UTF-8 and were replaced (U+FFFD)")
    if plan.filters_actions:
        lines.append(
            f"  the stack's CloudWatch flow logs record {plan.traffic_type} traffic only: "
            f"{result.undelivered:,} input records of other actions were not fed to the "
            "filters (the flow log would never deliver them)"
        )
    lines += [f"  not simulated: {reason}" for reason in plan.skipped]
    lines.append("")
    lines.append("Timeline (the first evaluation of every alarm is its move to OK):")
    for transition in result.transitions:
        if transition.old.value == "INSUFFICIENT_DATA" and transition.new.value == "OK":
            continue
        value = "-" if transition.value is None else f"{transition.value:g}"
        lines.append(
            f"  {iso(transition.time)}  {transition.alarm:<22} "
            f"{transition.old.value} -> {transition.new.value}  value {value}"
        )
        if transition.new.value == "ALARM":
            for record in result.contributors.get((transition.alarm, transition.time), [])[:top]:
                lines.append(f"      {_short(record)}")
    lines.append("")
    lines.append(f"  {'alarm':<22}{'fired':>7}{'in ALARM':>11}{'peak':>12}")
    for summary in result.summaries:
        peak = "-" if summary.peak is None else f"{summary.peak:g}"
        minutes = f"{summary.seconds_in_alarm // 60} min"
        lines.append(f"  {summary.name:<22}{summary.fired:>7}{minutes:>11}{peak:>12}")
    return "\n".join(lines)


def as_json(result: ReplayResult, plan: ReplayPlan) -> dict[str, Any]:
    return {
        "events": result.events,
        "trafficType": plan.traffic_type,
        "undelivered": result.undelivered,
        "malformed": {
            "count": 0 if result.input is None else result.input.malformed,
            "first": [] if result.input is None else list(result.input.malformed_at),
        },
        "replacedBytes": 0 if result.input is None else result.input.replaced,
        "notSimulated": list(plan.skipped),
        "transitions": [
            {
                "time": iso(t.time),
                "timestamp": t.time,
                "alarm": t.alarm,
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
