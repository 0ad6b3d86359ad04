"""The syntax tree of CloudWatch Logs filter patterns: frozen nodes, no behaviour.

One tree, several targets: :mod:`.render` turns it back into pattern text,
:mod:`.matcher` evaluates it on log events, :mod:`.sql` compiles it to SQL. The
builder (:mod:`vpcwatch.patterns`) produces trees too, so what it renders is by
construction what the evaluator reads.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import NamedTuple, Union

NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
"""A number, in a pattern or a log field: optional sign, decimals, exponent (AWS JSON syntax)."""


def parse_number(text: str) -> int | float | None:
    """The number ``text`` holds (exact for integers), or ``None`` if it is not one."""
    if NUMBER.fullmatch(text) is None:
        return None
    if "." in text or "e" in text or "E" in text:
        return float(text)
    return int(text)


class Operator(enum.Enum):
    """Comparison operators of space-delimited and JSON patterns."""

    EQ = "="
    NE = "!="
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="

    @property
    def is_equality(self) -> bool:
        """``=`` and ``!=``: the only operators allowed with strings and regexes."""
        return self in (Operator.EQ, Operator.NE)


# -- literal values ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Number:
    """An unquoted numeric literal (``100000``, ``-1.5``): a numeric comparison.

    Attributes:
        text: the literal as written.
    """

    text: str

    @property
    def value(self) -> int | float:
        """The number, exact for integers."""
        return parse_number(self.text)  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class Text:
    """A string literal, quoted or not; ``*`` is a wildcard for any run of characters.

    Attributes:
        value: the string without quotes or escapes.
        quoted: whether it was written in double quotes.
    """

    value: str
    quoted: bool = False

    @property
    def has_wildcard(self) -> bool:
        """A ``*`` at the start or end is a wildcard; elsewhere it is an ordinary character."""
        return self.value.startswith("*") or self.value.endswith("*")

    @property
    def wildcard(self) -> tuple[bool, str, bool]:
        """(a leading ``*``, the literal core, a trailing ``*``): ruling R8, for every target.
        ``*`` alone reads as a leading wildcard and an empty core."""
        value = self.value
        leading = value.startswith("*")
        trailing = value.endswith("*") and len(value) > 1
        return (
            leading,
            value[1 if leading else 0 : len(value) - 1 if trailing else len(value)],
            trailing,
        )


@dataclass(frozen=True, slots=True)
class Regex:
    """A ``%regex%`` literal (no parentheses; see the reference for the allowed set).

    Attributes:
        source: the expression between the ``%`` signs.
    """

    source: str


Value = Union[Number, Text, Regex]


# -- space-delimited patterns ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Comparison:
    """``field op value``, e.g. ``bytes > 100000``."""

    field: str
    op: Operator
    value: Value


@dataclass(frozen=True, slots=True)
class AllOf:
    """Conditions joined by ``&&`` (binds tighter than ``||``)."""

    items: tuple[Comparison, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    """Conjunctions joined by ``||``: the condition of one slot, in disjunctive normal form."""

    items: tuple[AllOf, ...]


@dataclass(frozen=True, slots=True)
class Slot:
    """One field of a space-delimited pattern, with an optional condition.

    An empty name (``[a, , b]``, or a trailing ``,``) stands for one unnamed field,
    extracted by position as ``$N``.
    """

    name: str
    condition: AnyOf | None = None


@dataclass(frozen=True, slots=True)
class Ellipsis_:
    """``...``: any number (zero or more) of unnamed fields."""


ELLIPSIS = Ellipsis_()


@dataclass(frozen=True, slots=True)
class SpaceDelimited:
    """``[name, name op value, ..., name]``."""

    slots: tuple[Slot | Ellipsis_, ...]

    @property
    def named(self) -> tuple[Slot, ...]:
        return tuple(s for s in self.slots if isinstance(s, Slot))

    @property
    def ellipsis_index(self) -> int | None:
        for index, slot in enumerate(self.slots):
            if isinstance(slot, Ellipsis_):
                return index
        return None


# -- term patterns -----------------------------------------------------------------------------


class TermMode(enum.Enum):
    REQUIRED = ""
    EXCLUDED = "-"
    OPTIONAL = "?"


@dataclass(frozen=True, slots=True)
class Term:
    """One term of an unstructured pattern: ``ERROR``, ``"a phrase"``, ``-x``, ``?x``, ``%re%``."""

    value: Text | Regex
    mode: TermMode = TermMode.REQUIRED


@dataclass(frozen=True, slots=True)
class Terms:
    """An unstructured pattern: terms that must, must not, or may appear. Empty matches all."""

    terms: tuple[Term, ...]


# -- JSON patterns -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JsonComparison:
    """``$.selector op value``."""

    selector: str
    op: Operator
    value: Value


class JsonTest(enum.Enum):
    IS_NULL = "IS NULL"
    IS_TRUE = "IS TRUE"
    IS_FALSE = "IS FALSE"
    NOT_EXISTS = "NOT EXISTS"


@dataclass(frozen=True, slots=True)
class JsonIs:
    """``$.selector IS NULL`` / ``IS TRUE`` / ``IS FALSE`` / ``NOT EXISTS``."""

    selector: str
    test: JsonTest


@dataclass(frozen=True, slots=True)
class JsonAnd:
    items: tuple[JsonExpression, ...]


@dataclass(frozen=True, slots=True)
class JsonOr:
    items: tuple[JsonExpression, ...]


JsonExpression = Union[JsonComparison, JsonIs, JsonAnd, JsonOr]


@dataclass(frozen=True, slots=True)
class Json:
    """``{ expression }``."""

    expression: JsonExpression


Pattern = Union[SpaceDelimited, Terms, Json]


class ListedBranch(NamedTuple):
    """A ``&&`` branch of a condition: the numbers its field must differ from (two or
    more, else none) and its other comparisons."""

    differ: tuple[Comparison, ...]
    others: tuple[Comparison, ...]


def number_lists(condition: AnyOf) -> tuple[tuple[Comparison, ...], list[ListedBranch]]:
    """A field's condition with its number tests gathered into lists, for engines that
    test a value against a list faster than against each number in turn: the numbers it
    may equal (``||`` branches that are one ``= <number>``, two or more, else none), and
    the other branches (:class:`ListedBranch`). Equal in meaning: the field matches one
    of the numbers it may equal, or all of a branch's tests."""
    equal = tuple(group.items[0] for group in condition.items if _one_number_equal(group))
    if len(equal) < 2:
        equal = ()
    branches = []
    for group in condition.items:
        if equal and _one_number_equal(group):
            continue
        differ = tuple(c for c in group.items if _number_test(c, Operator.NE))
        if len(differ) < 2:
            differ = ()
        others = tuple(c for c in group.items if not (differ and _number_test(c, Operator.NE)))
        branches.append(ListedBranch(differ, others))
    return equal, branches


def _one_number_equal(group: AllOf) -> bool:
    return len(group.items) == 1 and _number_test(group.items[0], Operator.EQ)


def _number_test(comparison: Comparison, op: Operator) -> bool:
    return comparison.op is op and isinstance(comparison.value, Number)


def count_regexes(tree: Pattern) -> int:
    """How many ``%regex%`` values a pattern holds (AWS allows 2 per pattern, and 5
    regex-bearing filters per log group)."""
    if isinstance(tree, SpaceDelimited):
        return sum(
            isinstance(comparison.value, Regex)
            for slot in tree.named
            if slot.condition is not None
            for group in slot.condition.items
            for comparison in group.items
        )
    if isinstance(tree, Terms):
        return sum(isinstance(term.value, Regex) for term in tree.terms)
    return _count_json_regexes(tree.expression)


def _count_json_regexes(node: JsonExpression) -> int:
    if isinstance(node, (JsonAnd, JsonOr)):
        return sum(_count_json_regexes(item) for item in node.items)
    return int(isinstance(node, JsonComparison) and isinstance(node.value, Regex))
