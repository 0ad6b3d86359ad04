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
from functools import lru_cache, singledispatch
from typing import Any

import re2

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


def wildcard_predicate(value: str) -> Predicate:
    """A leading or trailing ``*`` matches any run of characters (also none); a ``*``
    elsewhere is itself (R8). The whole token must match. String operations, so the time
    is linear in the token whatever the value."""
    leading, core, trailing = s.Text(value).wildcard
    if leading and trailing:
        return lambda token: core in token
    if leading:
        return lambda token: token.endswith(core)
    if trailing:
        return lambda token: token.startswith(core)
    return core.__eq__


@lru_cache(maxsize=1024)
def regex_search(source: str) -> Predicate:
    """``%source%`` as a predicate: found anywhere (R9), by RE2, in time linear in the text
    (no backtracking: ``%a*a*a*b%`` on 100,000 ``a`` takes microseconds)."""
    search = re2.compile(source).search
    return lambda text: search(text) is not None


def tokenize(line: str) -> list[str]:
    """Split a log event into the fields of a space-delimited pattern.

    Fields are separated by runs of blanks. A field that starts with ``"`` runs to
    the next ``"``, one that starts with ``[`` to the next ``]``; the delimiters are
    dropped. An unclosed delimiter is an ordinary character.
    """
    if '"' not in line and "[" not in line:
        return line.split()
    return [token for token, _ in spans(line)]


def spans(line: str) -> list[tuple[str, int]]:
    """:func:`tokenize`'s fields, each with the offset where it starts in ``line`` (its
    delimiter included): the last field of a pattern takes the line from there."""
    tokens: list[tuple[str, int]] = []
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
                tokens.append((line[index + 1 : closer], index))
                index = closer + 1
                continue
        end = index
        while end < length and not line[end].isspace():
            end += 1
        tokens.append((line[index:end], index))
        index = end


def rest_of_line(line: str, field: int) -> str:
    """The line from the start of its ``field``-th field (0-based) on, as written, without
    trailing blanks: the value of a pattern's last field when the line has more fields
    than the pattern (ruling R2)."""
    return line[spans(line)[field][1] :].rstrip()


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
        positive: Predicate = regex_search(value.source)
    elif value.value == "*":
        positive = lambda token: True  # noqa: E731
    elif value.has_wildcard:
        positive = wildcard_predicate(value.value)
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
    names_before: tuple[str, ...] = field(init=False)
    names_after: tuple[str, ...] = field(init=False)
    # (index, predicate) for the constrained slots only: negative indexes after "...".
    checks: tuple[tuple[int, Predicate], ...] = field(init=False)

    def __post_init__(self) -> None:
        named = self.tree.named  # every single-field slot, unnamed ones ("") included
        split = self.tree.ellipsis_index
        cut = len(named) if split is None else split
        indexes = list(range(cut)) + list(range(cut - len(named), 0))
        checks = tuple(
            (index, slot_predicate(slot.condition))
            for index, slot in zip(indexes, named, strict=True)
            if slot.condition is not None
        )
        object.__setattr__(self, "names_before", tuple(slot.name for slot in named[:cut]))
        object.__setattr__(self, "names_after", tuple(slot.name for slot in named[cut:]))
        object.__setattr__(self, "checks", checks)

    def match(self, message: str) -> Extracted | None:
        tokens = tokenize(message)
        count = len(tokens)
        before, after = len(self.names_before), len(self.names_after)
        if count < before + after:
            return None
        if self.tree.ellipsis_index is None and count > before:
            # R2: without '...', the last field takes the rest of the line as written.
            tokens = [*tokens[: before - 1], rest_of_line(message, before - 1)]
            count = before
        for index, predicate in self.checks:
            if not predicate(tokens[index]):
                return None
        names = [*self.names_before, *[""] * (count - before - after), *self.names_after]
        return {
            f"${name or index + 1}": token
            for index, (name, token) in enumerate(zip(names, tokens, strict=True))
        }


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
        return regex_search(term.value.source)(message)
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


def json_number(message: str, selector: str) -> float | None:
    """The number at ``selector`` in the JSON event ``message``, as a metric value such as
    ``$.latency`` publishes it (the first one, when a wildcard reaches several); ``None``
    when the event is not JSON or holds no number there (a string, even of digits, is
    not one: ruling R19 in docs/filter-patterns.md)."""
    try:
        document = json.loads(message)
    except (ValueError, RecursionError):
        return None
    for value in select(document, selector):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


_STEP = re.compile(
    r"\.([A-Za-z0-9_@\-]+)|\.(\*)|\.?\[([0-9]+|\*)\]|\.?\[(?:'([^']*)'|\"([^\"]*)\")\]"
)


def select(document: Any, selector: str) -> list[Any]:
    """Every value ``selector`` reaches in ``document``: ``$.a.b[0]``, ``$.list[*].x``,
    ``$.*`` (every field of an object), ``$.['cluster.name']`` (a key holding dots)."""
    current = [document]
    for step in _STEP.finditer(selector, 1):
        dotted, any_field, index, single, double = step.groups()
        key = dotted if dotted is not None else single if single is not None else double
        following: list[Any] = []
        for value in current:
            if key is not None and isinstance(value, dict) and key in value:
                following.append(value[key])
            elif any_field is not None and isinstance(value, dict):
                following.extend(value.values())
            elif index == "*" and isinstance(value, list):
                following.extend(value)
            elif index not in (None, "*") and isinstance(value, list) and int(index) < len(value):
                following.append(value[int(index)])
        current = following
    return current
