"""Syntax tree -> CloudWatch Logs Insights ``filter`` expression (another target).

Fields are named as in the pattern; the query parses them from ``@message`` with
:func:`vpcwatch.queries.parse_statement`, so names match. The same rulings hold:
a numeric comparison needs a number (R5), ``*`` is a wildcard only at either end
(R8), a regex is searched (R9). Only space-delimited patterns have this form.
"""

from __future__ import annotations

import re
from functools import singledispatch

from vpcwatch.filterpattern import syntax as s
from vpcwatch.filterpattern.sql import UnsupportedPattern

_NUMBER_REGEX = r"/^[+-]?\d+(\.\d+)?([eE][+-]?\d+)?$/"


def insights_filter(tree: s.Pattern) -> str:
    """The conditions of ``tree`` as one Logs Insights boolean (``true`` if none).

    Raises:
        UnsupportedPattern: for term and JSON patterns.
    """
    if not isinstance(tree, s.SpaceDelimited):
        raise UnsupportedPattern(f"no Logs Insights form for {type(tree).__name__} patterns")
    parts = [
        "(" + _condition(slot.name, slot.condition) + ")"
        for slot in tree.named
        if slot.condition is not None
    ]
    return " and ".join(parts) if parts else "true"


def _condition(name: str, condition: s.AnyOf) -> str:
    groups = [
        " and ".join(_comparison(name, c.op, c.value) for c in group.items)
        for group in condition.items
    ]
    return " or ".join(f"({group})" for group in groups)


_OPERATORS = {s.Operator.EQ: "=", s.Operator.NE: "!=", s.Operator.LT: "<", s.Operator.LE: "<=",
              s.Operator.GT: ">", s.Operator.GE: ">="}  # fmt: skip


def _comparison(name: str, op: s.Operator, value: s.Value) -> str:
    if isinstance(value, s.Number):
        return f"{name} like {_NUMBER_REGEX} and {name} {_OPERATORS[op]} {value.text}"
    positive = _positive(value, name)
    return positive if op is s.Operator.EQ else f"not ({positive})"


@singledispatch
def _positive(value: object, name: str) -> str:
    raise UnsupportedPattern(f"no Logs Insights form for {value!r}")


@_positive.register
def _(value: s.Regex, name: str) -> str:
    return f"{name} like /{_slashes(value.source)}/"


@_positive.register
def _(value: s.Text, name: str) -> str:
    text = value.value
    if text == "*":
        return f"ispresent({name})"
    leading, core, trailing = value.wildcard
    if not leading and not trailing:
        return f'{name} = "{_quoted(core)}"'
    anchored = ("" if leading else "^") + _slashes(re.escape(core)) + ("" if trailing else "$")
    return f"{name} like /{anchored}/"


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _slashes(regex: str) -> str:
    return regex.replace("/", "\\/")
