"""Metric-filter patterns built from the flow-log field list, never written by hand.

Example (the exfiltration alarm walkthrough's filter)::

    fmt = FlowLogFormat.all_fields()
    flt = (fmt.filter()
           .where("flow_direction", "=", "egress")
           .where("bytes", ">", 100_000)
           .where("dstaddr", "not in", ["123.123.123.123", "210.210.210.210"]))
    str(flt)   # '[version, account_id, ..., bytes > 100000, ...]' in the format's order

A :class:`FlowFilter` is immutable: ``where`` returns a new filter. It renders
through the filter-pattern syntax tree (:mod:`vpcwatch.filterpattern`), the same
tree the offline evaluator reads, so what it renders is what gets evaluated.
"""

from __future__ import annotations

import enum
import ipaddress
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Union

from vpcwatch import cidr
from vpcwatch.errors import FilterPatternError, PatternBuildError
from vpcwatch.fields import FieldKind, FieldLike, FlowLogField, FlowLogFormat
from vpcwatch.filterpattern import MAX_PATTERN_LENGTH  # PutMetricFilter's limit
from vpcwatch.filterpattern import syntax as s
from vpcwatch.filterpattern.parser import MAX_REGEXES, parse_regex
from vpcwatch.filterpattern.render import render, text_needs_quotes

REGEX_MIN_GAIN = 2
"""An address condition becomes a regex only when that is at least this many times shorter."""


class FilterOperator(enum.Enum):
    """The operators of :meth:`FlowFilter.where`."""

    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    IN = "in"
    NOT_IN = "not in"

    @classmethod
    def of(cls, value: FilterOperator | str) -> FilterOperator:
        """Normalise ``"=="``, ``"NOT IN"``, ``"not  in"``... to a member."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            text = " ".join(value.lower().split())
            text = {"==": "=", "<>": "!="}.get(text, text)
            for member in cls:
                if member.value == text:
                    return member
        allowed = ", ".join(repr(m.value) for m in cls)
        raise PatternBuildError(f"op must be one of {allowed}; got {value!r}")

    @property
    def takes_many(self) -> bool:
        return self in (FilterOperator.IN, FilterOperator.NOT_IN)


@dataclass(frozen=True, slots=True)
class Regex:
    """A regular-expression value: ``where("interface_id", "=", Regex("^eni-0a"))``.

    AWS allows alphanumerics, ``: _ # = @ / ; , -``, the operators ``^ $ ? [ ] { } | \\ * + .``
    and escapes like ``\\d``; no parentheses, at most two regexes per pattern. A regex
    matches when it is found anywhere in the field (anchor it with ``^`` and ``$``).

    Raises:
        PatternBuildError: a character AWS does not allow, or an invalid expression.
    """

    source: str

    def __post_init__(self) -> None:
        if not isinstance(self.source, str):
            raise PatternBuildError(f"Regex takes a string, got {self.source!r}")
        try:
            parse_regex(self.source)
        except FilterPatternError as error:
            raise PatternBuildError(f"Regex({self.source!r}) is not allowed: {error}") from None


Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
Scalar = Union[int, float, str, Regex, Network]


@dataclass(frozen=True, slots=True)
class Condition:
    """One ``where`` call, normalised: the field, the operator and its value(s)."""

    field: FlowLogField
    op: FilterOperator
    values: tuple[Scalar, ...]


@dataclass(frozen=True)
class FlowFilter:
    """An immutable metric-filter pattern bound to a :class:`FlowLogFormat`.

    Build one with ``fmt.filter()`` and add conditions with :meth:`where`. ``str()``
    renders the bracketed pattern in the format's field order.
    """

    format: FlowLogFormat
    conditions: tuple[Condition, ...] = field(default=())

    def where(self, field: FieldLike, op: FilterOperator | str, value: Any) -> FlowFilter:
        """A copy with one more condition (conditions on one field are ANDed).

        Args:
            field: a field of the format (AWS or pattern name).
            op: ``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=`` (numbers only), ``in`` (any of
                several values) or ``not in`` (none of them).
            value: a number on a number field; a string (``*`` is a wildcard) on a string
                field; a CIDR block or address on ``srcaddr``, ``dstaddr``,
                ``pkt_srcaddr``, ``pkt_dstaddr``; a :class:`Regex` on any field. For ``in``
                and ``not in``: a non-empty list of such values.

        Raises:
            FieldError: the field is not in the format (the message lists its fields).
            PatternBuildError: any other bad argument, named in the message.
        """
        target = self.format.fields[self.format.index(field)]
        operator = FilterOperator.of(op)
        if operator.takes_many:
            if isinstance(value, (str, bytes, Regex)) or not isinstance(value, Iterable):
                raise PatternBuildError(
                    f"'{operator.value}' on {target.name} takes a list of values, got {value!r}"
                )
            values = tuple(_scalar(target, operator, v) for v in value)
            if not values:
                raise PatternBuildError(f"'{operator.value}' on {target.name} needs a value")
        else:
            values = (_scalar(target, operator, value),)
        updated = FlowFilter(self.format, (*self.conditions, Condition(target, operator, values)))
        regexes = sum(isinstance(v, Regex) for c in updated.conditions for v in c.values)
        if regexes > MAX_REGEXES:
            raise PatternBuildError(
                f"a pattern may hold at most {MAX_REGEXES} regexes; this one has {regexes}"
            )
        return updated

    @property
    def required_fields(self) -> tuple[str, ...]:
        """Pattern names of the fields the conditions test, in format order."""
        used = {c.field.name for c in self.conditions}
        return tuple(name for name in self.format.names if name in used)

    def for_format(self, other: FlowLogFormat) -> FlowFilter:
        """The same conditions bound to another format (fails if it lacks a field)."""
        rebound = other.filter()
        for condition in self.conditions:
            other.index(condition.field)
            rebound = FlowFilter(other, (*rebound.conditions, condition))
        return rebound

    def tree(self) -> s.SpaceDelimited:
        """The pattern's syntax tree (what :func:`str` renders)."""
        return _Compiler(self).tree()

    def __str__(self) -> str:
        return render(self.tree())

    def __repr__(self) -> str:
        return f"<FlowFilter {self}>"


# -- argument checks ---------------------------------------------------------------------------


def _scalar(target: FlowLogField, operator: FilterOperator, value: Any) -> Scalar:
    name = target.name
    if isinstance(value, Regex):
        if operator not in (FilterOperator.EQ, FilterOperator.NE, *_MANY):
            raise PatternBuildError(f"'{operator.value}' on {name} needs a number, not a Regex")
        return value
    if target.kind is FieldKind.NUMBER:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise PatternBuildError(f"{name} is a number field: give a number, got {value!r}")
        if isinstance(value, float) and (not math.isfinite(value) or "e" in repr(value)):
            raise PatternBuildError(f"{name}: {value!r} cannot be written in a filter pattern")
        return value
    if operator not in (FilterOperator.EQ, FilterOperator.NE, *_MANY):
        raise PatternBuildError(
            f"'{operator.value}' compares numbers; {name} is a string field (use = or !=)"
        )
    if not isinstance(value, str):
        raise PatternBuildError(f"{name} is a string field: give a string, got {value!r}")
    if not value.strip() or '"' in value:
        raise PatternBuildError(f"{name}: {value!r} is not allowed (empty, blank or has '\"')")
    if "*" in value[1:-1]:
        raise PatternBuildError(
            f"{name}: {value!r} has a '*' inside; '*' is a wildcard only at the start or end "
            "(use a Regex for anything else)"
        )
    if target.is_address and "*" not in value:
        return cidr.parse_network(value, name)
    return value


_MANY = (FilterOperator.IN, FilterOperator.NOT_IN)
_NEGATED = (FilterOperator.NE, FilterOperator.NOT_IN)


# -- rendering ---------------------------------------------------------------------------------

Disjunction = list[list[s.Comparison]]  # OR of ANDs


class _Compiler:
    """Turns the conditions into a syntax tree: DNF per field, CIDRs to terms or regexes."""

    def __init__(self, flt: FlowFilter) -> None:
        self.filter = flt
        explicit = sum(isinstance(v, Regex) for c in flt.conditions for v in c.values)
        self.regex_budget = MAX_REGEXES - explicit
        self.address_choice = self._choose_address_forms()

    def tree(self) -> s.SpaceDelimited:
        # Expanding ANDed conditions into AWS's OR-of-ANDs form repeats their values, so a
        # regex may occur several times: give up the least useful regexes until it fits.
        while True:
            tree = self._build()
            count = s.count_regexes(tree)
            if count <= MAX_REGEXES:
                break
            if not self.address_choice:
                raise PatternBuildError(
                    f"the filter pattern holds {count} regexes once its conditions are "
                    f"expanded into AWS's form (|| of &&); AWS allows {MAX_REGEXES}: use "
                    "fewer Regex values on a field that has several conditions"
                )
            self.address_choice.pop(next(reversed(self.address_choice)))
        self._check_length(tree)
        return tree

    def _build(self) -> s.SpaceDelimited:
        slots: list[s.Slot | s.Ellipsis_] = []
        for fld in self.filter.format.fields:
            conditions = [(i, c) for i, c in enumerate(self.filter.conditions) if c.field == fld]
            slots.append(s.Slot(fld.name, self._slot_condition(conditions)))
        return s.SpaceDelimited(tuple(_collapse_tail(slots)))

    def _slot_condition(self, conditions: list[tuple[int, Condition]]) -> s.AnyOf | None:
        if not conditions:
            return None
        product: Disjunction = [[]]
        for position, condition in conditions:
            either = self._disjunction(position, condition)
            product = [a + b for a, b in itertools.product(product, either)]
        return s.AnyOf(tuple(s.AllOf(tuple(conjunction)) for conjunction in product))

    def _disjunction(self, position: int, condition: Condition) -> Disjunction:
        name, op = condition.field.name, condition.op
        negated = op in _NEGATED
        if negated:
            compare = s.Operator.NE
        elif op is FilterOperator.IN:
            compare = s.Operator.EQ
        else:
            compare = s.Operator(op.value)
        networks = [v for v in condition.values if _is_network(v)]
        values = [_literal(v) for v in condition.values if not _is_network(v)]
        if networks:
            regex = self.address_choice.get(position)
            if regex is not None:
                values.append(s.Regex(regex))
            else:
                values.extend(s.Text(t, text_needs_quotes(t)) for t in cidr.address_terms(networks))
        comparisons = [s.Comparison(name, compare, v) for v in values]
        return [comparisons] if negated else [[c] for c in comparisons]

    def _choose_address_forms(self) -> dict[int, str]:
        """Spend the regex budget on the address conditions where a regex saves most.

        A log group takes at most 5 regex-bearing patterns, so a regex replaces wildcard
        terms only when it is at most 1/REGEX_MIN_GAIN of their length.
        """
        savings = []
        for position, condition in enumerate(self.filter.conditions):
            networks = [v for v in condition.values if _is_network(v)]
            if not networks:
                continue
            regex = cidr.address_regex(networks)
            if regex is None:
                continue
            name, negated = condition.field.name, condition.op in _NEGATED
            operator = s.Operator.NE if negated else s.Operator.EQ
            terms = [s.Text(t, text_needs_quotes(t)) for t in cidr.address_terms(networks)]
            joiner = " && " if negated else " || "
            wildcard_length = len(
                joiner.join(render(s.Comparison(name, operator, t)) for t in terms)
            )
            regex_length = len(render(s.Comparison(name, operator, s.Regex(regex))))
            if regex_length * REGEX_MIN_GAIN <= wildcard_length:
                savings.append((wildcard_length - regex_length, position, regex))
        savings.sort(reverse=True)
        return {key: regex for _, key, regex in savings[: max(self.regex_budget, 0)]}

    def _check_length(self, tree: s.SpaceDelimited) -> None:
        text = render(tree)
        if len(text) <= MAX_PATTERN_LENGTH:
            return
        longest = max(tree.named, key=lambda slot: len(render(slot)))
        raise PatternBuildError(
            f"the filter pattern is {len(text)} characters; AWS allows {MAX_PATTERN_LENGTH}. "
            f"Simplify the condition on {longest.name} ({len(render(longest))} characters), "
            "e.g. fewer or wider CIDR blocks"
        )


def _is_network(value: object) -> bool:
    return isinstance(value, (ipaddress.IPv4Network, ipaddress.IPv6Network))


def _literal(value: Scalar) -> s.Value:
    if isinstance(value, Regex):
        return s.Regex(value.source)
    if isinstance(value, (int, float)):
        return s.Number(repr(value))
    assert isinstance(value, str)
    return s.Text(value, quoted=text_needs_quotes(value))


def _collapse_tail(slots: list[s.Slot | s.Ellipsis_]) -> list[s.Slot | s.Ellipsis_]:
    """Replace trailing unconstrained fields by ``...`` when that is shorter.

    Flow-log records always hold exactly the format's fields, so ``[..., a, ...]``
    matches the same records as the full list.
    """
    last = max((i for i, slot in enumerate(slots) if getattr(slot, "condition", None)), default=0)
    tail = slots[last + 1 :]
    if tail and len(", ".join(slot.name for slot in tail)) > len("..."):  # type: ignore[union-attr]
        return [*slots[: last + 1], s.ELLIPSIS]
    return slots
