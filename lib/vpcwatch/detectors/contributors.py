"""Per-contributor detectors: CloudWatch Contributor Insights rules on the flow-log group.

A metric filter counts records; it cannot tell one scanner probing every 15 seconds
for two hours from the background of many sources probing once each. A Contributor
Insights rule keys the records by fields (the source address; the source and the
destination), and an alarm on ``INSIGHT_RULE_METRIC(rule, "MaxContributorValue")``
fires when the top contributor's count or byte sum over the alarm's period crosses
the threshold.

The rule is data, like :class:`~vpcwatch.detectors.model.Detector`: keys, filters (at
most 4, ANDed; ``In``/``NotIn``/``StartsWith`` take up to 10 strings) and what to
aggregate, rendered for any :class:`~vpcwatch.fields.FlowLogFormat` as a CLF rule
whose ``Fields`` name the positions of the format (never written by hand). The rule
syntax: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/ContributorInsights-RuleSyntax.html
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vpcwatch.detectors.model import (
    AlarmSettings,
    DetectorError,
    Severity,
    _check,
    _check_identity,
    _tuned,
)
from vpcwatch.errors import FieldError
from vpcwatch.fields import FlowLogFormat

MAX_KEYS = 4
MAX_FILTERS = 4
MAX_FILTER_STRINGS = 10
"""Contributor Insights limits (the rule syntax page)."""


class ContributorOperator(enum.Enum):
    """The matching operators of a Contributor Insights filter."""

    IN = "In"
    NOT_IN = "NotIn"
    STARTS_WITH = "StartsWith"
    GREATER_THAN = "GreaterThan"
    LESS_THAN = "LessThan"
    EQUAL_TO = "EqualTo"
    NOT_EQUAL_TO = "NotEqualTo"

    @property
    def takes_strings(self) -> bool:
        return self in (ContributorOperator.IN, ContributorOperator.NOT_IN,
                        ContributorOperator.STARTS_WITH)  # fmt: skip


@dataclass(frozen=True)
class ContributorFilter:
    """One filter of a rule: ``field`` (a pattern name such as ``dstport``), an operator,
    and strings (``In``, ``NotIn``, ``StartsWith``: up to 10, ORed) or one number."""

    field: str
    operator: ContributorOperator
    value: tuple[str, ...] | float

    def __post_init__(self) -> None:
        operators = ", ".join(o.value for o in ContributorOperator)
        _check(isinstance(self.operator, ContributorOperator), "filter operator",
               self.operator, f"a ContributorOperator ({operators})")  # fmt: skip
        if self.operator.takes_strings:
            value = self.value
            _check(
                isinstance(value, tuple)
                and 1 <= len(value) <= MAX_FILTER_STRINGS
                and all(isinstance(v, str) and v for v in value),
                f"filter {self.operator.value} on {self.field}",
                value,
                f"a tuple of 1 to {MAX_FILTER_STRINGS} non-empty strings",
            )
        else:
            _check(
                isinstance(self.value, (int, float)) and not isinstance(self.value, bool),
                f"filter {self.operator.value} on {self.field}",
                self.value,
                "one number",
            )

    def body(self) -> dict[str, Any]:
        value = list(self.value) if self.operator.takes_strings else self.value
        return {"Match": self.field, self.operator.value: value}


@dataclass(frozen=True)
class ContributorDetector:
    """A Contributor Insights rule and the alarm on its top contributor.

    Args:
        name: a stable id (PascalCase), the rule's and the alarm's name suffix.
        title: one line for people.
        description: what it means and how to respond; the alarm's description.
        severity: :class:`Severity`.
        mitre: MITRE ATT&CK technique ids.
        keys: 1 to 4 fields (pattern names) whose values together make a contributor.
        filters: up to 4 :class:`ContributorFilter`, ANDed.
        value_of: a number field to sum per contributor; ``None`` counts records.
        alarm: the alarm on ``MaxContributorValue``: its period is the window the
            contributions are summed over (CloudWatch evaluates it every minute).
    """

    name: str
    title: str
    description: str
    severity: Severity
    keys: tuple[str, ...]
    filters: tuple[ContributorFilter, ...]
    alarm: AlarmSettings
    value_of: str | None = None
    mitre: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_identity(self)
        _check(isinstance(self.alarm, AlarmSettings), "alarm", self.alarm, "an AlarmSettings")
        _check(
            isinstance(self.keys, tuple) and 1 <= len(self.keys) <= MAX_KEYS
            and len(set(self.keys)) == len(self.keys),
            "keys", self.keys, f"a tuple of 1 to {MAX_KEYS} distinct field names",
        )  # fmt: skip
        _check(
            isinstance(self.filters, tuple) and len(self.filters) <= MAX_FILTERS
            and all(isinstance(f, ContributorFilter) for f in self.filters),
            "filters", self.filters, f"a tuple of at most {MAX_FILTERS} ContributorFilter",
        )  # fmt: skip
        try:
            FlowLogFormat.all_fields().missing(self.required_fields)
        except FieldError as error:
            raise DetectorError(
                f"detector {self.name}: keys/filters/value_of must be flow-log fields: {error}"
            ) from None

    @property
    def aggregate(self) -> str:
        """``Sum`` of ``value_of``, or ``Count`` of records."""
        return "Count" if self.value_of is None else "Sum"

    @property
    def required_fields(self) -> tuple[str, ...]:
        named = [*self.keys, *(f.field for f in self.filters)]
        if self.value_of is not None:
            named.append(self.value_of)
        return tuple(dict.fromkeys(named))

    @property
    def required_actions(self) -> frozenset[str]:
        """The actions the rule needs delivered (its ``action`` filter), if it has one."""
        for f in self.filters:
            if f.field == "action" and f.operator is ContributorOperator.IN:
                return frozenset(f.value)
        return frozenset()

    def with_(self, **changes: Any) -> ContributorDetector:
        """A tuned copy: the alarm's settings (``threshold``, ``period`` ...) and
        ``title``, ``description``, ``severity``, ``mitre``."""
        return _tuned(self, changes)

    def rule_body(self, log_format: FlowLogFormat, log_group_name: str) -> dict[str, Any]:
        """The rule's JSON for ``AWS::CloudWatch::InsightRule`` on a log group of
        ``log_format`` records: CLF with ``Fields`` naming the positions used.

        Raises:
            DetectorError: the format lacks a field the rule needs.
        """
        missing = log_format.missing(self.required_fields)
        if missing:
            raise DetectorError(
                f"detector {self.name} needs the flow-log fields {', '.join(missing)}, which "
                f"the format lacks. Use FlowLogFormat.detection() or all_fields(), or leave "
                "this detector out."
            )
        fields = {
            str(log_format.index(name) + 1): name
            for name in sorted(self.required_fields, key=log_format.index)
        }
        contribution: dict[str, Any] = {"Keys": list(self.keys)}
        if self.value_of is not None:
            contribution["ValueOf"] = self.value_of
        contribution["Filters"] = [f.body() for f in self.filters]
        return {
            "Schema": {"Name": "CloudWatchLogRule", "Version": 1},
            "LogGroupNames": [log_group_name],
            "LogFormat": "CLF",
            "Fields": fields,
            "Contribution": contribution,
            "AggregateOn": self.aggregate,
        }


def contributor_filter(
    field: str, operator: str, value: Sequence[Any] | float
) -> ContributorFilter:
    """A :class:`ContributorFilter` from plain values: ``("dstport", "In", [22, 3389])``
    (numbers in a string list are written as text, as the records hold them)."""
    try:
        op = ContributorOperator(operator)
    except ValueError:
        allowed = ", ".join(o.value for o in ContributorOperator)
        raise DetectorError(f"filter operator must be one of {allowed}; got {operator!r}") from None
    if op.takes_strings:
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise DetectorError(
                f"filter {operator} on {field} needs a list of values; got {value!r}"
            )
        return ContributorFilter(field, op, tuple(str(v) for v in value))
    return ContributorFilter(field, op, value)
