"""The detector model: what to look for in flow logs, and when to raise an alarm.

A :class:`Detector` is data: a filter built from the field list, the metric it
publishes, and the settings of its alarm. ``with_()`` returns a tuned copy; a
detector is disabled by leaving it out of the list. Nothing here imports aws_cdk:
constructs, the replay engine and the alarm-enrichment Lambda all read the same
objects.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from vpcwatch import actions
from vpcwatch.errors import FieldError
from vpcwatch.fields import FlowLogFormat
from vpcwatch.patterns import FlowFilter

_NAME = re.compile(r"[A-Z][A-Za-z0-9]{0,63}")
_FIELD_REFERENCE = re.compile(r"\$[A-Za-z0-9_]+")
MAX_ALARM_WINDOW_SECONDS = 7 * 24 * 3600  # period x evaluation periods
INCOMING_LOG_EVENTS = "IncomingLogEvents"
"""The AWS/Logs metric counting every event a log group receives (SilenceDetector's)."""


class DetectorError(ValueError):
    """A detector's definition, tuning, or use with a format is not valid."""


class Severity(enum.Enum):
    """How urgent a detector's alarm is."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Comparison(enum.Enum):
    """CloudWatch alarm comparison operators (CloudFormation spelling)."""

    GREATER_THAN_OR_EQUAL = "GreaterThanOrEqualToThreshold"
    GREATER_THAN = "GreaterThanThreshold"
    LESS_THAN = "LessThanThreshold"
    LESS_THAN_OR_EQUAL = "LessThanOrEqualToThreshold"

    def breaches(self, value: float, threshold: float) -> bool:
        return self.compare(value, threshold)

    @property
    def compare(self) -> Callable[[float, float], bool]:
        """The comparison as a function of (value, threshold)."""
        return _COMPARE[self.value]


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": operator.ge,
    "GreaterThanThreshold": operator.gt,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}


class MissingData(enum.Enum):
    """How an alarm treats periods without data."""

    NOT_BREACHING = "notBreaching"
    BREACHING = "breaching"
    IGNORE = "ignore"
    MISSING = "missing"


STATISTICS = ("Sum", "Average", "Maximum", "Minimum", "SampleCount")


@dataclass(frozen=True)
class AlarmSettings:
    """When a detector's metric raises its alarm. Every field has the counting default.

    Args:
        statistic: ``Sum`` (events counted per period), or another CloudWatch statistic.
            Default: ``Sum``.
        period: seconds per datapoint, a multiple of 60 (metric-filter metrics are
            standard resolution). Default: 60.
        evaluation_periods: how many recent periods are evaluated. Default: 1.
        datapoints_to_alarm: how many of them must breach (M of N). Default: 1.
        comparison: :class:`Comparison`. Default: ``GREATER_THAN_OR_EQUAL``.
        threshold: the value compared with the datapoints. Default: 1.
        treat_missing_data: :class:`MissingData`. Default: ``NOT_BREACHING`` (an event
            counter has nothing to say in a quiet minute).
    """

    statistic: str = "Sum"
    period: int = 60
    evaluation_periods: int = 1
    datapoints_to_alarm: int = 1
    comparison: Comparison = Comparison.GREATER_THAN_OR_EQUAL
    threshold: float = 1
    treat_missing_data: MissingData = MissingData.NOT_BREACHING

    def __post_init__(self) -> None:
        _check(self.statistic in STATISTICS, "statistic", self.statistic, f"one of {STATISTICS}")
        _check(
            _is_int(self.period) and self.period >= 60 and self.period % 60 == 0,
            "period",
            self.period,
            "a whole number of minutes, in seconds (60, 300, ...)",
        )
        _check(
            _is_int(self.evaluation_periods) and self.evaluation_periods >= 1,
            "evaluation_periods",
            self.evaluation_periods,
            "an integer of 1 or more",
        )
        _check(
            _is_int(self.datapoints_to_alarm)
            and 1 <= self.datapoints_to_alarm <= self.evaluation_periods,
            "datapoints_to_alarm",
            self.datapoints_to_alarm,
            f"an integer from 1 to evaluation_periods ({self.evaluation_periods})",
        )
        _check(
            self.period * self.evaluation_periods <= MAX_ALARM_WINDOW_SECONDS,
            "period x evaluation_periods",
            self.period * self.evaluation_periods,
            "at most 7 days (604800 seconds)",
        )
        _check(
            isinstance(self.comparison, Comparison),
            "comparison",
            self.comparison,
            f"a Comparison ({', '.join(c.name for c in Comparison)})",
        )
        _check(
            isinstance(self.threshold, (int, float))
            and not isinstance(self.threshold, bool)
            and math.isfinite(self.threshold)
            and self.threshold >= 0,
            "threshold",
            self.threshold,
            "a finite number of 0 or more (flow-log metrics count records or bytes: a negative "
            "threshold would keep the alarm in ALARM)",
        )
        _check(
            not (self.comparison is Comparison.LESS_THAN and self.threshold == 0),
            "threshold",
            self.threshold,
            "above 0 with LESS_THAN: no count is below 0, so the alarm could never fire",
        )
        _check(
            not (self.comparison is Comparison.GREATER_THAN_OR_EQUAL and self.threshold == 0),
            "threshold",
            self.threshold,
            "above 0 with GREATER_THAN_OR_EQUAL: every datapoint is >= 0, so the alarm would "
            "be in ALARM whenever flow logs arrive",
        )
        missing_names = ", ".join(m.name for m in MissingData)
        _check(isinstance(self.treat_missing_data, MissingData), "treat_missing_data",
               self.treat_missing_data, f"a MissingData ({missing_names})")  # fmt: skip


@dataclass(frozen=True)
class ExtraMetric:
    """A second metric of a detector, published but not alarmed (for dashboards).

    Args:
        name: the metric name.
        value: ``"1"``, a number, or a field reference such as ``"$bytes"``.
        default_value: published for ingested events that do not match; ``None`` for none.
            Cannot be combined with dimensions.
        dimensions: up to 3 ``{dimension name: "$field"}``; each combination is a billed metric.
    """

    name: str
    value: str
    default_value: float | None = None
    dimensions: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Detector:
    """A flow-log detection: a filter, the metric it counts, and the alarm on it.

    Args:
        name: a stable id (PascalCase letters and digits), used in logical ids and as
            the metric name.
        title: one line for people.
        description: what it means and how to respond; the alarm's description.
        severity: :class:`Severity`.
        mitre: MITRE ATT&CK technique ids.
        build_filter: a function from a :class:`FlowLogFormat` to the :class:`FlowFilter`.
        required_fields: the fields the filter and metric need (pattern names).
        metric_value: ``"1"`` to count, or a field reference such as ``"$bytes"``.
        default_value: published for non-matching events. Default: 0, so quiet minutes
            with traffic read 0, not "no data".
        extra_metrics: further metrics published from the same filter (no alarm).
        alarm: :class:`AlarmSettings`.
        internal_address: the field holding the address inside your network, which the
            alarm enricher resolves to an interface, instance and security groups:
            ``"dstaddr"`` for ingress detectors, ``"srcaddr"`` for egress ones.
            Default: ``"dstaddr"``.
    """

    name: str
    title: str
    description: str
    severity: Severity
    mitre: tuple[str, ...]
    build_filter: Callable[[FlowLogFormat], FlowFilter] = field(repr=False, compare=False)
    required_fields: tuple[str, ...]
    metric_value: str = "1"
    default_value: float | None = 0
    extra_metrics: tuple[ExtraMetric, ...] = ()
    alarm: AlarmSettings = field(default_factory=AlarmSettings)
    internal_address: str = "dstaddr"

    def __post_init__(self) -> None:
        _check_identity(self)
        _check(self.internal_address in ("srcaddr", "dstaddr", "pkt_srcaddr", "pkt_dstaddr"),
               "internal_address", self.internal_address,
               "'srcaddr', 'dstaddr', 'pkt_srcaddr' or 'pkt_dstaddr'")  # fmt: skip
        _metric_value(self.metric_value, "metric_value")
        for extra in self.extra_metrics:
            _metric_value(extra.value, f"extra metric {extra.name} value")
            _check(len(extra.dimensions) <= 3, f"extra metric {extra.name} dimensions",
                   dict(extra.dimensions), "at most 3 dimensions")  # fmt: skip
            both = bool(extra.dimensions) and extra.default_value is not None
            _check(not both, f"extra metric {extra.name}", extra,
                   "a default value or dimensions, not both")  # fmt: skip
            for value in extra.dimensions.values():
                _check(bool(_FIELD_REFERENCE.fullmatch(value)), "dimension value", value,
                       "a field reference such as '$dstport'")  # fmt: skip

    # -- tuning ------------------------------------------------------------------------------

    def with_(self, **changes: Any) -> Detector:
        """A tuned copy: alarm settings (``threshold``, ``period`` as seconds or a
        ``Duration``, ``evaluation_periods``, ``datapoints_to_alarm``, ``comparison``,
        ``treat_missing_data``, ``statistic``) and ``title``, ``description``, ``severity``.

        Raises:
            DetectorError: an unknown setting or a bad value, named in the message.
        """
        return _tuned(self, changes)

    # -- use with a format -------------------------------------------------------------------

    def filter_for(self, log_format: FlowLogFormat) -> FlowFilter:
        """The detector's filter on ``log_format``.

        Raises:
            DetectorError: the format lacks fields the detector needs (they are listed).
        """
        missing = log_format.missing(self.required_fields + self._referenced_fields())
        if missing:
            raise DetectorError(
                f"detector {self.name} needs the flow-log fields {', '.join(missing)}, which "
                f"the format lacks (it has: {', '.join(log_format.names)}). Use "
                "FlowLogFormat.all_fields() for the pipeline, or leave this detector out."
            )
        try:
            return self.build_filter(log_format)
        except FieldError as error:
            raise DetectorError(f"detector {self.name}: {error}") from None

    def pattern(self, log_format: FlowLogFormat) -> str:
        """The metric-filter pattern for ``log_format``."""
        return str(self.filter_for(log_format))

    def to_athena_sql(
        self,
        log_format: FlowLogFormat,
        table: str,
        start: int | None = None,
        end: int | None = None,
    ) -> str:
        """The records the detector counts, as Athena (Trino) SQL over ``table``, a table of
        ``log_format`` (see :class:`vpcwatch.FlowLogTable`); ``start``/``end`` bound the
        records' ``start`` (Unix seconds, end exclusive)."""
        from vpcwatch.queries import athena_query

        return athena_query(self.filter_for(log_format), table, start, end)

    def to_insights_query(self, log_format: FlowLogFormat) -> str:
        """The records the detector counts, as a CloudWatch Logs Insights query."""
        from vpcwatch.queries import filter_query

        return filter_query(self.filter_for(log_format))

    @cached_property
    def required_actions(self) -> frozenset[str]:
        """The record actions (``ACCEPT``, ``REJECT``) a flow log must deliver for this
        detector to fire: the one action its filter's condition on ``action`` admits, or
        none in particular. A REJECT-only flow log cannot feed a detector that needs
        ``ACCEPT`` (:mod:`vpcwatch.actions`)."""
        if "action" not in self.required_fields:
            return frozenset()
        fmt = FlowLogFormat.all_fields()
        return actions.required_actions(self.filter_for(fmt).tree())

    def _referenced_fields(self) -> tuple[str, ...]:
        values = [self.metric_value] + [m.value for m in self.extra_metrics]
        values += [v for m in self.extra_metrics for v in m.dimensions.values()]
        return tuple(v[1:] for v in values if v.startswith("$"))


@dataclass(frozen=True)
class SilenceDetector:
    """An alarm on the flow-log group's own ``IncomingLogEvents``: flow logs stopped.

    Args mirror :class:`Detector` where they apply; the alarm defaults to "fewer than 1
    event in each of 3 five-minute periods, missing data breaching".
    """

    name: str
    title: str
    description: str
    severity: Severity
    alarm: AlarmSettings
    mitre: tuple[str, ...] = ()
    required_fields: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_identity(self)
        _check(isinstance(self.alarm, AlarmSettings), "alarm", self.alarm, "an AlarmSettings")

    def with_(self, **changes: Any) -> SilenceDetector:
        """A tuned copy; the same settings as :meth:`Detector.with_`."""
        return _tuned(self, changes)

    @property
    def required_actions(self) -> frozenset[str]:
        """None: it watches the log group's own ``IncomingLogEvents``."""
        return frozenset()


def _check_identity(detector: Detector | SilenceDetector) -> None:
    _check(
        isinstance(detector.name, str) and _NAME.fullmatch(detector.name) is not None,
        "name",
        detector.name,
        "PascalCase letters and digits, up to 64, starting with a capital",
    )
    _check(isinstance(detector.severity, Severity), "severity", detector.severity, "a Severity")
    _check(
        bool(detector.title) and bool(detector.description),
        "title/description",
        (detector.title, detector.description),
        "non-empty text",
    )
    _check(len(detector.description) <= 1024, "description", len(detector.description),
           "at most 1024 characters (the alarm description limit)")  # fmt: skip


_OWN_SETTINGS = frozenset({"title", "description", "severity", "mitre"})


def _tuned(detector: Any, changes: dict[str, Any]) -> Any:
    alarm_fields = {f.name for f in dataclasses.fields(AlarmSettings)}
    unknown = set(changes) - alarm_fields - _OWN_SETTINGS
    if unknown:
        allowed = ", ".join(sorted(alarm_fields | _OWN_SETTINGS))
        raise DetectorError(
            f"{detector.name}.with_() got unknown {', '.join(sorted(unknown))}; allowed: {allowed}"
        )
    if "period" in changes and hasattr(changes["period"], "to_seconds"):  # a cdk.Duration
        changes = {**changes, "period": int(changes["period"].to_seconds())}
    alarm = {k: v for k, v in changes.items() if k in alarm_fields}
    own = {k: v for k, v in changes.items() if k in _OWN_SETTINGS}
    try:
        return dataclasses.replace(
            detector, alarm=dataclasses.replace(detector.alarm, **alarm), **own
        )
    except DetectorError as error:
        raise DetectorError(f"{detector.name}.with_(): {error}") from None


def _metric_value(value: str, name: str) -> None:
    ok = isinstance(value, str) and (
        bool(_FIELD_REFERENCE.fullmatch(value)) or re.fullmatch(r"-?\d+(\.\d+)?", value)
    )
    _check(bool(ok), name, value, "'1', another number, or a field reference such as '$bytes'")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check(ok: bool, name: str, value: Any, allowed: str) -> None:
    if not ok:
        raise DetectorError(f"{name} must be {allowed}; got {value!r}")


def check_detectors(detectors: Any) -> tuple[Any, ...]:
    """A non-empty tuple of detectors with unique names, or an error naming the problem."""
    from vpcwatch.detectors.contributors import ContributorDetector

    kinds = "Detector, ContributorDetector or SilenceDetector"
    if isinstance(detectors, (str, bytes)) or not isinstance(detectors, (list, tuple)):
        raise TypeError(f"detectors must be a list of {kinds} objects, got {detectors!r}")
    for item in detectors:
        if not isinstance(item, (Detector, ContributorDetector, SilenceDetector)):
            raise TypeError(f"detectors must hold {kinds} objects, got {item!r}")
    names = [item.name for item in detectors]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"detectors must have unique names; repeated: {', '.join(duplicates)}")
    if not detectors:
        raise ValueError("detectors is empty: give at least one detector")
    return tuple(detectors)


def with_thresholds(detectors: Any, thresholds: Mapping[str, Any]) -> tuple[Any, ...]:
    """``detectors`` with the thresholds of ``thresholds`` (detector name -> value, as
    ``vpcwatch tune --format context`` prints them) applied through ``with_()``.

    Raises:
        DetectorError: a name that is not one of the detectors (the message lists them),
            or a threshold the detector refuses.
    """
    chosen = check_detectors(detectors)
    if not isinstance(thresholds, Mapping):
        raise DetectorError(f"thresholds must map detector names to numbers; got {thresholds!r}")
    names = [d.name for d in chosen]
    unknown = sorted(set(thresholds) - set(names))
    if unknown:
        raise DetectorError(
            f"thresholds name no detector {', '.join(unknown)}; detectors: {', '.join(names)}"
        )
    return tuple(
        d.with_(threshold=thresholds[d.name]) if d.name in thresholds else d for d in chosen
    )
