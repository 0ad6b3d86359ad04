"""Syntax tree -> a matcher that evaluates log events as CloudWatch Logs does.

The semantics, and the rulings taken where AWS documentation is silent, are in
``docs/filter-patterns.md``; each ruling is pinned by a test in
``tests/filterpattern/test_rulings.py``.
"""

from __future__ import annotations

import json
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import singledispatch
from typing import Any

from vpcwatch.filterpattern import syntax as s

Predicate = Callable[[str], bool]
Extracted = dict[str, str]

_COMPARE: dict[s.Operator, Callable[[Any, Any], bool]] = {
    s.Operator.EQ: operator.eq,
    s.Operator.NE: operator.ne,
    s.Operator.LT: operator.lt,
    s.Operator.LE: operator.le,
    s.Operator.GT: operator.gt,
    s.Operator.GE: operator.ge,
}


as_number = s.parse_number
"""The number a token holds, or ``None`` (flow logs write ``-`` for "no value")."""


def wildcard_regex(value: str) -> re.Pattern[str]:
    """A leading or trailing ``*`` matches any run of characters (also none); a ``*``
    elsewhere is itself. The whole value must match."""
    leading, trailing = value.startswith("*"), value.endswith("*") and len(value) > 1
    core = value[1 if leading else 0 : len(value) - 1 if trailing else len(value)]
    return re.compile(
        (".*" if leading else "") + re.escape(core) + (".*" if trailing else ""), re.DOTALL
    )


def tokenize(line: str) -> list[str]:
    """Split a log event into the fields of a space-delimited pattern.

    Fields are separated by runs of blanks. A field that starts with ``"`` runs to
    the next ``"``, one that starts with ``[`` to the next ``]``; the delimiters are
    dropped. An unclosed delimiter is an ordinary character.
    """
    if '"' not in line and "[" not in line:
        return line.split()
    tokens: list[str] = []
    index, length = 0, len(line)
    while True:
        while index < length and line[index].isspace():
            index += 1
        if index >= length:
            return tokens
        opener = line[index]
        if opener in '"[':
            closer = line.find('"' if opener == '"' else "]", index + 1)
            if closer >= 0:
                tokens.append(line[index + 1 : closer])
                index = closer + 1
                continue
        end = index
        while end < length and not line[end].isspace():
            end += 1
        tokens.append(line[index:end])
        index = end


# -- predicates on one token (space-delimited) or one JSON value -------------------------------


def value_predicate(op: s.Operator, value: s.Value) -> Predicate:
    """A predicate on a field's text for ``field op value``."""
    if isinstance(value, s.Number):
        compare, literal = _COMPARE[op], value.value

        def numeric(token: str) -> bool:
            number = as_number(token)
            return number is not None and compare(number, literal)

        return numeric
    if isinstance(value, s.Regex):
        search = re.compile(value.source).search
        positive: Predicate = lambda token: search(token) is not None  # noqa: E731
    elif value.value == "*":
        positive = lambda token: True  # noqa: E731
    elif value.has_wildcard:
        full = wildcard_regex(value.value).fullmatch
        positive = lambda token: full(token) is not None  # noqa: E731
    else:
        literal_text = value.value
        positive = literal_text.__eq__
    if op is s.Operator.EQ:
        return positive
    return lambda token: not positive(token)


def slot_predicate(condition: s.AnyOf) -> Predicate:
    groups = [
        [value_predicate(c.op, c.value) for c in conjunction.items]
        for conjunction in condition.items
    ]
    if len(groups) == 1 and len(groups[0]) == 1:
        return groups[0][0]
    return lambda token: any(all(p(token) for p in group) for group in groups)


# -- compiled patterns -------------------------------------------------------------------------


@dataclass(frozen=True)
class SpaceDelimitedMatcher:
    tree: s.SpaceDelimited
    before: tuple[tuple[str, Predicate | None], ...] = field(init=False)
    after: tuple[tuple[str, Predicate | None], ...] = field(init=False)

    def __post_init__(self) -> None:
        split = self.tree.ellipsis_index
        named = [(slot.name, _maybe(slot.condition)) for slot in self.tree.named]
        # `named` holds every single-field slot, unnamed ones ("") included
        cut = len(named) if split is None else split
        object.__setattr__(self, "before", tuple(named[:cut]))
        object.__setattr__(self, "after", tuple(named[cut:]))

    def match(self, message: str) -> Extracted | None:
        tokens = tokenize(message)
        count, before, after = len(tokens), len(self.before), len(self.after)
        has_ellipsis = self.tree.ellipsis_index is not None
        if count != before + after and not (has_ellipsis and count > before + after):
            return None
        tail = count - after
        for (_, predicate), token in zip(self.before, tokens, strict=False):
            if predicate is not None and not predicate(token):
                return None
        for (_, predicate), token in zip(self.after, tokens[tail:], strict=True):
            if predicate is not None and not predicate(token):
                return None
        names = [name for name, _ in self.before]
        names += [""] * (tail - before) + [name for name, _ in self.after]
        return {
            f"${name or index + 1}": token
            for index, (name, token) in enumerate(zip(names, tokens, strict=True))
        }


def _maybe(condition: s.AnyOf | None) -> Predicate | None:
    return None if condition is None else slot_predicate(condition)


@dataclass(frozen=True)
class TermsMatcher:
    tree: s.Terms

    def match(self, message: str) -> Extracted | None:
        found = {term: _term_found(term, message) for term in self.tree.terms}
        decisive = [t for t in found if t.mode is not s.TermMode.OPTIONAL]
        if decisive:
            ok = all(found[t] == (t.mode is s.TermMode.REQUIRED) for t in decisive)
        else:
            ok = not found or any(found.values())
        return {} if ok else None


def _term_found(term: s.Term, message: str) -> bool:
    if isinstance(term.value, s.Regex):
        return re.search(term.value.source, message) is not None
    return term.value.value in message


_MISSING = object()


@dataclass(frozen=True)
class JsonMatcher:
    tree: s.Json

    def match(self, message: str) -> Extracted | None:
        try:
            document = json.loads(message)
        except (ValueError, RecursionError):
            return None
        if not isinstance(document, (dict, list)):
            return None
        return {} if _json_true(self.tree.expression, document) else None


@singledispatch
def _json_true(node: object, document: Any) -> bool:
    raise TypeError(f"not a JSON expression: {node!r}")


@_json_true.register
def _(node: s.JsonAnd, document: Any) -> bool:
    return all(_json_true(item, document) for item in node.items)


@_json_true.register
def _(node: s.JsonOr, document: Any) -> bool:
    return any(_json_true(item, document) for item in node.items)


@_json_true.register
def _(node: s.JsonIs, document: Any) -> bool:
    values = select(document, node.selector)
    if node.test is s.JsonTest.NOT_EXISTS:
        return not values
    wanted = {s.JsonTest.IS_NULL: None, s.JsonTest.IS_TRUE: True, s.JsonTest.IS_FALSE: False}
    return any(v is wanted[node.test] for v in values)


@_json_true.register
def _(node: s.JsonComparison, document: Any) -> bool:
    predicate = value_predicate(node.op, node.value)
    numeric = isinstance(node.value, s.Number)
    for value in select(document, node.selector):
        if numeric and (isinstance(value, bool) or not isinstance(value, (int, float))):
            continue
        if isinstance(value, (dict, list)):
            continue
        if predicate(_json_text(value)):
            return True
    return False


def _json_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


_STEP = re.compile(r"\.([A-Za-z0-9_@\-]+)|\[([0-9]+|\*)\]")


def select(document: Any, selector: str) -> list[Any]:
    """Every value ``selector`` (``$.a.b[0]``, ``$.list[*].x``) reaches in ``document``."""
    current = [document]
    for step in _STEP.finditer(selector, 1):
        key, index = step.group(1), step.group(2)
        following: list[Any] = []
        for value in current:
            if key is not None and isinstance(value, dict) and key in value:
                following.append(value[key])
            elif index == "*" and isinstance(value, list):
                following.extend(value)
            elif index not in (None, "*") and isinstance(value, list) and int(index) < len(value):
                following.append(value[int(index)])
        current = following
    return current
