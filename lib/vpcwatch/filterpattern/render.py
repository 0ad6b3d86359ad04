"""Syntax tree -> canonical pattern text.

``render(parse(text))`` is the canonical form of ``text``: one blank around operators
and connectors, ``", "`` between slots. Parsing the canonical form gives the same tree.
"""

from __future__ import annotations

import re
from functools import singledispatch

from vpcwatch.filterpattern import syntax as s

_SAFE_BARE = re.compile(r"[^\s,\[\]\"&|(){}=!<>%][^\s,\[\]\"&|(){}=!<>]*")


def text_needs_quotes(value: str) -> bool:
    """True when ``value`` must be written in double quotes to read back as the same text."""
    return not _SAFE_BARE.fullmatch(value) or bool(s.NUMBER.fullmatch(value))


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@singledispatch
def render(node: object) -> str:
    """Render a pattern, a condition or a value as filter-pattern text."""
    raise TypeError(f"cannot render {type(node).__name__}")


@render.register
def _(node: s.Number) -> str:
    return node.text


@render.register
def _(node: s.Text) -> str:
    return quote(node.value) if node.quoted else node.value


@render.register
def _(node: s.Regex) -> str:
    return f"%{node.source}%"


@render.register
def _(node: s.Comparison) -> str:
    return f"{node.field} {node.op.value} {render(node.value)}"


@render.register
def _(node: s.AllOf) -> str:
    return " && ".join(render(item) for item in node.items)


@render.register
def _(node: s.AnyOf) -> str:
    return " || ".join(render(item) for item in node.items)


@render.register
def _(node: s.Slot) -> str:
    return node.name if node.condition is None else render(node.condition)


@render.register
def _(node: s.Ellipsis_) -> str:
    return "..."


@render.register
def _(node: s.SpaceDelimited) -> str:
    return "[" + ", ".join(render(slot) for slot in node.slots) + "]"


@render.register
def _(node: s.Term) -> str:
    return node.mode.value + render(node.value)


@render.register
def _(node: s.Terms) -> str:
    return " ".join(render(term) for term in node.terms)


@render.register
def _(node: s.JsonComparison) -> str:
    return f"{node.selector} {node.op.value} {render(node.value)}"


@render.register
def _(node: s.JsonIs) -> str:
    return f"{node.selector} {node.test.value}"


@render.register
def _(node: s.JsonAnd) -> str:
    return " && ".join(
        f"({render(item)})" if isinstance(item, s.JsonOr) else render(item) for item in node.items
    )


@render.register
def _(node: s.JsonOr) -> str:
    return " || ".join(render(item) for item in node.items)


@render.register
def _(node: s.Json) -> str:
    return "{ " + render(node.expression) + " }"
