"""Replay: log events -> metric datapoints -> alarm transitions, with a summary.

Metrics and alarms come as specs, built from detectors (:func:`specs_from_detectors`,
for scenario tests) or read from a synthesized template (:mod:`.template`, for
``vpcwatch replay``): one engine for both.
"""

from __future__ import annotations

import operator
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from vpcwatch.detectors.model import AlarmSettings, SilenceDetector
from vpcwatch.fields import FlowLogFormat
from vpcwatch.replay.alarms import (
    AlarmState,
    Outcome,
    Transition,
    evaluate_contributions,
    evaluate_series,
)
from vpcwatch.replay.insights import INSIGHT_NAMESPACE, InsightSpec
from vpcwatch.replay.metrics import (
    INCOMING_LOG_EVENTS,
    KEPT_RECORDS,
    Datapoints,
    MetricAggregator,
    MetricSpec,
)

LOGS_NAMESPACE = "AWS/Logs"


@dataclass(frozen=True)
class AlarmSpec:
    """An alarm on one metric: its detector's name, the metric, the settings, and what a
    reader needs (the detector's title and severity, the unit of the metric)."""

    name: str
    metric: tuple[str, str]
    settings: AlarmSettings
    title: str = ""
    severity: str = ""
    unit: str = "records"
    insight_metric: str = "MaxContributorValue"
    """For an alarm on a Contributor Insights rule: ``MaxContributorValue`` (the top
    contributor's total) or ``UniqueContributors`` (how many there are)."""


@dataclass(frozen=True)
class AlarmSummary:
    """How often an alarm fired, for how long, and its peak value."""

    name: str
    fired: int
    seconds_in_alarm: int
    peak: float | None


@dataclass
class ReplayResult:
    last_evaluation: dict[str, int] = field(default_factory=dict)
    """Per alarm, the time of its last evaluation (its ALARM stretches end there at the
    latest)."""
    transitions: list[Transition] = field(default_factory=list)
    summaries: list[AlarmSummary] = field(default_factory=list)
    contributors: dict[tuple[str, int], list[str]] = field(default_factory=dict)
    datapoints: dict[str, Datapoints] = field(default_factory=dict)
    events: int = 0
    undelivered: int = 0
    """Input records that the flow log's traffic type would not deliver (not replayed)."""
    records_not_looked_up: dict[str, int] = field(default_factory=dict)
    """Per alarm, its ALARM transitions past the first ones (replay.files'
    ``LOOKED_UP_PER_ALARM``) whose top records were not looked up."""
    input: Any = None
    """What the readers saw (``vpcwatch.replay.readers.InputStats``): unreadable lines and
    replaced bytes, for the report; ``None`` for events given in memory."""

    def alarm_times(self, alarm: str) -> list[int]:
        """When ``alarm`` went to ALARM (ends of the breaching periods)."""
        return [t.time for t in self.transitions if t.alarm == alarm and t.new is AlarmState.ALARM]

    def fired(self) -> set[str]:
        """The alarms that went to ALARM at least once."""
        return {t.alarm for t in self.transitions if t.new is AlarmState.ALARM}


def specs_from_detectors(
    detectors: Sequence[Any], log_format: FlowLogFormat, namespace: str
) -> tuple[list[MetricSpec], list[AlarmSpec], list[InsightSpec]]:
    """The metrics, alarms and Contributor Insights rules that FlowLogMonitoring would
    create for ``detectors``."""
    from vpcwatch.detectors.contributors import ContributorDetector

    metrics, alarms, insights = [], [], []
    for detector in detectors:
        if isinstance(detector, ContributorDetector):
            body = detector.rule_body(log_format, "LOG_GROUP")
            insights.append(InsightSpec.from_body(detector.name, body, len(log_format)))
            unit = "records" if detector.value_of is None else detector.value_of
            alarms.append(AlarmSpec(detector.name, (INSIGHT_NAMESPACE, detector.name),
                                    detector.alarm, detector.title, detector.severity.value,
                                    unit))  # fmt: skip
            continue
        if isinstance(detector, SilenceDetector):
            metric = MetricSpec(LOGS_NAMESPACE, INCOMING_LOG_EVENTS, None)
        else:
            pattern = detector.pattern(log_format)
            metric = MetricSpec(
                namespace, detector.name, pattern, detector.metric_value, detector.default_value
            )
            metrics += [
                MetricSpec(namespace, extra.name, pattern, extra.value, extra.default_value)
                for extra in detector.extra_metrics
            ]
        if metric.key not in {m.key for m in metrics}:
            metrics.append(metric)
        unit = "events" if metric.pattern is None else unit_of(metric.value)
        alarms.append(AlarmSpec(detector.name, metric.key, detector.alarm, detector.title,
                                detector.severity.value, unit))  # fmt: skip
    return metrics, alarms, insights


def unit_of(value: str) -> str:
    """What a metric counts: ``records`` for a constant value, the field's name for a
    field reference (``$bytes`` -> ``bytes``)."""
    return value[1:] if value.startswith("$") else "records"


def replay(
    events: Iterable[tuple[int, str]],
    metrics: Sequence[MetricSpec],
    alarms: Sequence[AlarmSpec],
    insights: Sequence[InsightSpec] = (),
    *,
    start: int | None = None,
    end: int | None = None,
) -> ReplayResult:
    """Feed ``(timestamp, message)`` events through the metrics and run every alarm.

    Args:
        events: log events in any order, timestamps in Unix seconds.
        metrics: the metric filters (and ``IncomingLogEvents``).
        alarms: the alarms on those metrics and rules.
        insights: the Contributor Insights rules.
        start: first second to evaluate. Default: the first event's period.
        end: last second to evaluate. Default: the last event's period.
    """
    aggregator = MetricAggregator(metrics, insights=insights)
    for timestamp, message in events:
        aggregator.add(timestamp, message)
    return evaluate_alarms(aggregator, alarms, start=start, end=end)


BY_TIME_THEN_ALARM = operator.attrgetter("time", "alarm")
"""The order of transitions (a key in C: a lambda's tuples were 0.02 s over 90 days)."""

PARALLEL_MINUTES = 20_000
"""From this span (about two weeks), the alarms are evaluated in threads, one alarm a
task (the rules' alarms one task together), as many as the machine has cores: their
numpy work releases the GIL. 90 days, ten alarms, 2 cores: 0.50 s alone, 0.30 s in two
threads; over one day they only contend for the GIL (0.09 s alone, 0.11 s in two)."""


def evaluate_alarms(
    aggregator: MetricAggregator,
    alarms: Sequence[AlarmSpec],
    *,
    start: int | None = None,
    end: int | None = None,
    on_metric_alarms: Callable[[list[Transition]], None] | None = None,
) -> ReplayResult:
    """Run every alarm over the datapoints an aggregator collected, from ``start`` to
    ``end`` (default: the first and last events it saw). ``on_metric_alarms`` is called
    with the transitions of the alarms on metrics (by time, then alarm) as soon as they
    are known, before the rules' alarms are done (whose contributions may still be
    grouped in a thread: ``vpcwatch.replay.files`` looks up top records meanwhile)."""
    if on_metric_alarms is not None and not callable(on_metric_alarms):
        raise TypeError(
            "on_metric_alarms must be a function of the metric alarms' transitions, or None; "
            f"got {on_metric_alarms!r}"
        )
    result = ReplayResult(events=aggregator.events)
    start = aggregator.first if start is None else start
    end = aggregator.last if end is None else end
    if start is None or end is None:
        return result
    # The rules' alarms are one task: their contributions are merged once, on the first
    # read, and may still be grouped in a thread beside (replay.fast). In one thread it
    # comes last; in several, first (the longest, it waits for the grouping).
    rules = [alarm for alarm in alarms if alarm.metric[0] == INSIGHT_NAMESPACE]
    tasks = [[alarm] for alarm in alarms if alarm.metric[0] != INSIGHT_NAMESPACE]

    def run(task: list[AlarmSpec]) -> list[tuple[_Evaluated, AlarmSummary]]:
        found = []
        for alarm in task:  # each summary here too: in its thread, beside the others
            evaluated = _evaluate_alarm(aggregator, alarm, start, end)
            last = end if evaluated.outcome.last is None else evaluated.outcome.last
            found.append((evaluated, _summary(alarm, evaluated.outcome, last)))
        return found

    def metrics_done(done: list[list[tuple[_Evaluated, AlarmSummary]]]) -> None:
        if on_metric_alarms is not None:
            transitions = [t for found in done for one, _ in found for t in one.outcome.transitions]
            on_metric_alarms(sorted(transitions, key=BY_TIME_THEN_ALARM))

    workers = min(len(tasks) + 1, os.cpu_count() or 1)
    parallel = (end - start) // 60 >= PARALLEL_MINUTES and workers > 1
    # Over a shorter span, the rules' alarms still get a thread beside the callback (the
    # top records' lookup is DuckDB's or polars' work, and IO): a day of Parquet, 0.17 s
    # -> 0.11 s for both.
    if parallel or (on_metric_alarms is not None and rules and workers > 1):
        with ThreadPoolExecutor(workers if parallel else 1,
                                thread_name_prefix="vpcwatch-alarms") as pool:  # fmt: skip
            if parallel:
                of_rules = pool.submit(run, rules)
                done = list(pool.map(run, tasks))
            else:  # the metric alarms first, alone: over a day threads only contend
                done = [run(task) for task in tasks]
                of_rules = pool.submit(run, rules)
            metrics_done(done)
            done.append(of_rules.result())
    else:
        done = [run(task) for task in tasks]
        metrics_done(done)
        done.append(run(rules))
    evaluated = {alarm.name: found for task, found in zip([*tasks, rules], done, strict=True)
                 for alarm, found in zip(task, found, strict=True)}  # fmt: skip
    for alarm in alarms:  # in their order, whatever finished first
        (outcome, datapoints, contributors), summary = evaluated[alarm.name]
        result.datapoints[alarm.name] = datapoints
        result.contributors.update(contributors)
        result.transitions += outcome.transitions
        result.last_evaluation[alarm.name] = end if outcome.last is None else outcome.last
        result.summaries.append(summary)
    result.transitions.sort(key=BY_TIME_THEN_ALARM)
    return result


class _Evaluated(NamedTuple):
    outcome: Outcome
    datapoints: Datapoints
    contributors: dict[tuple[str, int], list[str]]


def _evaluate_alarm(
    aggregator: MetricAggregator, alarm: AlarmSpec, start: int, end: int
) -> _Evaluated:
    """One alarm's outcome, datapoints and the records (or top contributor) behind its
    transitions to ALARM (a metric's records kept by the reference path; the files'
    lookup, :func:`~vpcwatch.replay.files._top_records`, looks up the same)."""
    if alarm.metric[0] == INSIGHT_NAMESPACE:
        return _evaluate_rule(aggregator, alarm, start, end)
    settings = alarm.settings
    series = aggregator.series(alarm.metric)
    datapoints = series.datapoints(settings.statistic, settings.period)
    outcome = evaluate_series(alarm.name, series, settings, start, end)
    records = aggregator.top_records[alarm.metric]
    contributors = {}
    for transition in outcome.transitions if records else ():
        if transition.new is not AlarmState.ALARM:  # as the files' lookup: ALARMs only
            continue
        kept: list[str] = []
        for slot in range(transition.time - settings.period, transition.time, 60):
            kept += [message for _, message in records.get(slot, [])]
        if kept:  # a transition without records has no entry (readers use .get)
            contributors[(alarm.name, transition.time)] = kept[:KEPT_RECORDS]
    return _Evaluated(outcome, datapoints, contributors)


def _evaluate_rule(
    aggregator: MetricAggregator, alarm: AlarmSpec, start: int, end: int
) -> _Evaluated:
    """An alarm on a rule's MaxContributorValue (or UniqueContributors): its outcome, the
    datapoints of whole periods and the top contributor behind each ALARM."""
    settings, period = alarm.settings, alarm.settings.period
    contributions = aggregator.contributions(alarm.metric[1])
    metric = alarm.insight_metric
    outcome, top = evaluate_contributions(
        alarm.name, contributions, settings, start, end, metric=metric
    )
    starts = np.unique(contributions.slots - contributions.slots % period)
    values = contributions.window_values(starts + period, period, metric)
    contributors = {}
    for transition in outcome.transitions:
        if transition.time in top and metric == "MaxContributorValue":
            who = " ".join(top[transition.time])
            contributors[(alarm.name, transition.time)] = [
                f"top contributor {who}: {transition.value:,.0f} {alarm.unit} in {period // 60} min"
            ]
    return _Evaluated(outcome, Datapoints(starts, values), contributors)


def _summary(alarm: AlarmSpec, outcome: Outcome, last: int) -> AlarmSummary:
    transitions = outcome.transitions
    return AlarmSummary(
        name=alarm.name,
        fired=sum(1 for t in transitions if t.new is AlarmState.ALARM),
        seconds_in_alarm=sum(end - begin for begin, end in alarm_intervals(transitions, last)),
        peak=outcome.peak,
    )


def alarm_intervals(transitions: list[Transition], last: int) -> list[tuple[int, int]]:
    """``(from, to)`` of each stretch in ALARM: from the transition to ALARM to the next
    transition, or to ``last`` (the last evaluation) when the alarm is still in ALARM."""
    intervals, began = [], None
    for transition in transitions:
        if transition.new is AlarmState.ALARM:
            began = transition.time
        elif began is not None:
            intervals.append((began, transition.time))
            began = None
    if began is not None:
        intervals.append((began, max(last, began)))
    return intervals
