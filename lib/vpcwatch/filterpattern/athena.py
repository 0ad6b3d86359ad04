"""Syntax tree -> Athena (Trino) SQL over a flow-log table with typed columns.

The table's number columns are numbers (``-`` is NULL) and its string columns hold
the record's text. The same rulings as the metric filter hold: a numeric comparison
on "no value" is false, ``!=`` too (R5: a NULL comparison is not true); ``*`` is a
wildcard only at either end (R8); a regex is searched (R9: ``regexp_like``).

Only the subset of SQL that Trino and DuckDB share is emitted, except
``regexp_like``, which DuckDB lacks: the equivalence tests define it as a macro over
DuckDB's ``regexp_matches`` (same search semantics). Term and JSON patterns have no
form here and raise :class:`UnsupportedPattern`.
"""

from __future__ import annotations

from collections.abc import Mapping

from vpcwatch.filterpattern import syntax as s
from vpcwatch.filterpattern.sql import SQL_OPERATORS, UnsupportedPattern, literal


def athena_where(tree: s.Pattern, numeric: Mapping[str, bool]) -> str:
    """The conditions of ``tree`` as a WHERE expression (``TRUE`` if none).

    Args:
        tree: a space-delimited pattern whose slot names are the table's columns.
        numeric: column name -> whether the column is typed as a number.
    """
    if not isinstance(tree, s.SpaceDelimited):
        raise UnsupportedPattern(f"no SQL form for {type(tree).__name__} patterns")
    parts = []
    for slot in tree.named:
        if slot.condition is None:
            continue
        column = _column(slot.name)
        groups = [
            " AND ".join(_comparison(column, numeric.get(slot.name, False), c) for c in g.items)
            for g in slot.condition.items
        ]
        parts.append("(" + " OR ".join(f"({group})" for group in groups) + ")")
    return " AND ".join(parts) if parts else "TRUE"


def _column(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _comparison(column: str, numeric: bool, comparison: s.Comparison) -> str:
    value, op = comparison.value, comparison.op
    if isinstance(value, s.Number):
        number = column if numeric else _as_number(column)
        return f"COALESCE({number} {SQL_OPERATORS[op]} {value.text.lstrip('+')}, FALSE)"
    text = f"CAST({column} AS VARCHAR)" if numeric else column
    text = f"COALESCE({text}, '-')"  # NULL is the record's "-"
    positive = _positive(text, value)
    return positive if op is s.Operator.EQ else f"NOT ({positive})"


def _as_number(column: str) -> str:
    return (
        f"CASE WHEN regexp_like({column}, '^[+-]?[0-9]+([.][0-9]+)?([eE][+-]?[0-9]+)?$') "
        f"THEN CAST({column} AS DOUBLE) END"
    )


def _positive(text: str, value: s.Value) -> str:
    if isinstance(value, s.Regex):
        return f"regexp_like({text}, {literal(value.source)})"
    assert isinstance(value, s.Text)
    raw = value.value
    if raw == "*":
        return "TRUE"
    leading, core, trailing = value.wildcard
    if not leading and not trailing:
        return f"{text} = {literal(core)}"
    escaped = core.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = ("%" if leading else "") + escaped + ("%" if trailing else "")
    return f"{text} LIKE {literal(pattern)} ESCAPE '\\'"
