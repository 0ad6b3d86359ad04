"""Syntax tree -> SQL: a space-delimited pattern as a predicate over a list of fields.

The generated SQL is DuckDB's dialect; it is the vectorised fast path of the
evaluator (:mod:`.fast`) and must mean exactly what :mod:`.matcher` means, for
events whose fields are separated by single spaces (the caller routes other
events to the reference matcher). Term and JSON patterns have no SQL form: they
raise :class:`UnsupportedPattern`, and callers fall back to the reference path.

Exactness note: numbers are compared as DOUBLE, exact for integers below 2**53
(flow-log counters stay far below); the reference matcher is exact for all.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from vpcwatch.filterpattern import syntax as s

# Field text is a number under the grammar of syntax.NUMBER (RE2 syntax, same meaning).
NUMBER_RE2 = r"[+-]?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?"


class UnsupportedPattern(ValueError):
    """The pattern has no SQL form here (term and JSON patterns)."""


def literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


_GLOB_ESCAPES = str.maketrans({"[": "[[]", "*": "[*]", "?": "[?]"})


def files_sql(paths: str | Path | Sequence[str | Path]) -> str:
    """A file's name, or a list of them, as DuckDB's readers take it: each names that
    file only (DuckDB reads a name as a glob, so "flows[1].log" would read "flows1.log";
    its glob characters are escaped as one-character classes)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    names = [literal(str(path).translate(_GLOB_ESCAPES)) for path in paths]
    return names[0] if len(names) == 1 else "[" + ", ".join(names) + "]"


def number_sql(token: str) -> str:
    """The number in a field's text (NULL when the grammar reads no number there).

    A plain CAST behind the grammar's regex, never ``TRY_CAST``: DuckDB 2.0 pushes a
    ``TRY_CAST`` of a ``read_csv`` column into the reader as a strict conversion, which
    fails on ``-`` (https://github.com/duckdb/duckdb/issues/23818, open)."""
    return (
        f"CASE WHEN regexp_full_match({token}, {literal(NUMBER_RE2)}) "
        f"THEN CAST({token} AS DOUBLE) END"
    )


def field_count_sql(tree: s.SpaceDelimited, fields: str, width: int | None = None) -> str:
    """The field-count rule: at least as many fields as the pattern names (R2: without
    ``...`` the last field takes the rest of the line; R3: ``...`` takes any number).
    With ``width`` (columns ``<fields>1`` to ``<fields><width>``) the count is known."""
    if width is not None:
        return "true" if width >= len(tree.named) else "false"
    return f"len({fields}) >= {len(tree.named)}"


def slot_positions(
    tree: s.SpaceDelimited, width: int | None = None
) -> list[tuple[s.Slot, int | tuple[int, int | None]]]:
    """Each single-field slot with its field's 1-based position (slots after ``...``
    count from the end: negative without ``width``). Without ``...`` the last slot is
    the rest of the line (R2), ``(first, last)``: on a line split at single spaces, its
    fields ``first`` to ``last`` (``None`` without ``width``: to the end) joined by one
    space."""
    split = tree.ellipsis_index
    named = tree.named
    cut = len(named) if split is None else split
    after = named[cut:]

    def field(position: int) -> int:
        return position if position > 0 or width is None else width + 1 + position

    pairs: list[tuple[s.Slot, int | tuple[int, int | None]]]
    pairs = [(slot, field(i + 1)) for i, slot in enumerate(named[:cut])]
    if split is None and pairs:
        pairs[-1] = (pairs[-1][0], (cut, width))
    pairs += [(slot, field(i - len(after))) for i, slot in enumerate(after)]
    return pairs


def slot_tokens(
    tree: s.SpaceDelimited, fields: str, width: int | None = None
) -> list[tuple[s.Slot, str]]:
    """Each single-field slot with the SQL expression of its field's text
    (:func:`slot_positions`, 1-based lists).

    ``fields`` is a list column; with ``width``, the fields are ``width`` columns named
    ``<fields>1``, ``<fields>2``, ... (a CSV read of records with a known field count)."""

    def render(position: int | tuple[int, int | None]) -> str:
        if isinstance(position, tuple):  # the rest of the line
            first, last = position
            if last is None:
                return f"array_to_string({fields}[{first}:], ' ')"
            columns = [f"{fields}{i}" for i in range(first, last + 1)]
            return columns[0] if len(columns) == 1 else f"concat_ws(' ', {', '.join(columns)})"
        return f"{fields}[{position}]" if width is None else f"{fields}{position}"

    return [(slot, render(position)) for slot, position in slot_positions(tree, width)]


class SqlCompiler:
    """Compiles patterns to predicates over a list column of fields (``f`` by default),
    or over ``width`` columns ``<fields>1`` ... (see :func:`slot_tokens`).

    A field's number, and a regex's match on a field, are computed once per event however
    many comparisons use them (the detectors test the same private ranges in several
    patterns): :meth:`shared_columns` lists the projections (``<expression> AS n0``,
    ``... AS x0``) that the query must select beside the fields for the predicates to
    refer to.

    With ``shared_regexes=False`` a regex is matched where its comparison stands, not in
    a column: in a ``CASE WHEN`` DuckDB then tests it only on the events the cheaper
    conditions before it let through (a predicate's regex conditions come last). A
    day's per-minute table of the detectors over Parquet: 0.28 -> 0.17 s, the regexes
    being most of the difference.
    """

    def __init__(
        self,
        fields: str = "f",
        width: int | None = None,
        typed: dict[str, str] | None = None,
        *,
        shared_regexes: bool = True,
    ) -> None:
        self.fields, self.width = fields, width
        self.shared_regexes = shared_regexes
        self._numbers: dict[str, str] = {}
        self._regexes: dict[tuple[str, str], str] = {}
        self.typed = {} if typed is None else dict(typed)
        """Field token -> an integer column holding exactly the number its text reads
        (a Parquet column): used instead of parsing the text."""

    def tokens(self, tree: s.SpaceDelimited) -> list[tuple[s.Slot, str]]:
        """:func:`slot_tokens` for this compiler's fields."""
        return slot_tokens(tree, self.fields, self.width)

    def predicate(self, tree: s.Pattern) -> str:
        """A SQL boolean that is true when the event's fields match ``tree``.

        Raises:
            UnsupportedPattern: for term and JSON patterns.
        """
        if not isinstance(tree, s.SpaceDelimited):
            raise UnsupportedPattern(f"no SQL form for {type(tree).__name__} patterns")
        parts = [field_count_sql(tree, self.fields, self.width)]
        if parts == ["false"]:  # fewer columns than named fields: never a match
            return "false"
        with_regex = []  # last: the conditions before them are cheaper
        for slot, token in self.tokens(tree):
            if slot.condition is not None:
                regex = any(isinstance(c.value, s.Regex)
                            for group in slot.condition.items for c in group.items)  # fmt: skip
                (with_regex if regex else parts).append(self.condition(slot.condition, token))
        return " AND ".join(f"({part})" for part in parts + with_regex)

    def shared_columns(self) -> list[str]:
        """``<expression> AS <alias>`` for every field a numeric comparison uses (its
        number) and every (field, regex) pair a comparison tests (the match)."""
        numbers = [f"{self.number_sql(token)} AS {alias}" for token, alias in self._numbers.items()]
        regexes = [
            f"regexp_matches({token}, {literal(source)}) AS {alias}"
            for (token, source), alias in self._regexes.items()
        ]
        return numbers + regexes

    def number_sql(self, token: str) -> str:
        """The number of ``token``: its typed column's when it has one, else parsed."""
        typed = self.typed.get(token)
        return number_sql(token) if typed is None else f"CAST({typed} AS DOUBLE)"

    def condition(self, condition: s.AnyOf, token: str) -> str:
        """OR of ANDs of comparisons on one field's text; its numbers in lists
        (:func:`~.syntax.number_lists`): a list of nine ports, tested on every event,
        took a sixth of a day's per-minute table over Parquet as nine ORs."""
        equal, branches = s.number_lists(condition)
        groups = [] if not equal else [self._numbers_in(token, equal, "IN")]
        for differ, others in branches:
            parts = [] if not differ else [self._numbers_in(token, differ, "NOT IN")]
            parts += [self.comparison(c.op, c.value, token) for c in others]
            groups.append(" AND ".join(parts))
        return " OR ".join(f"({group})" for group in groups)

    def _numbers_in(self, token: str, comparisons: tuple[s.Comparison, ...], op: str) -> str:
        """``op`` (``IN``, ``NOT IN``) over the comparisons' numbers: false where the field
        is not a number, as each comparison is."""
        listed = ", ".join(repr(float(c.value.value)) for c in comparisons)
        return f"coalesce({self.number(token)} {op} ({listed}), false)"

    def number(self, token: str) -> str:
        """The column holding the number of ``token`` (NULL when it is not a number)."""
        return self._numbers.setdefault(token, f"n{len(self._numbers)}")

    def regex(self, token: str, source: str) -> str:
        """The column holding whether ``source`` matches ``token`` (RE2, unanchored), or
        without ``shared_regexes`` the match itself."""
        if not self.shared_regexes:
            return f"regexp_matches({token}, {literal(source)})"
        return self._regexes.setdefault((token, source), f"x{len(self._regexes)}")

    def comparison(self, op: s.Operator, value: s.Value, token: str) -> str:
        """One comparison; ``!=`` on text is the negation of ``=`` (rulings R5, R8, R9)."""
        if isinstance(value, s.Number):
            number = self.number(token)
            return f"coalesce({number} {SQL_OPERATORS[op]} {float(value.value)!r}, false)"
        if isinstance(value, s.Regex):
            positive = self.regex(token, value.source)
        else:
            positive = _positive_sql(value, token)
        return positive if op is s.Operator.EQ else f"NOT ({positive})"


SQL_OPERATORS = {
    # SQL's spelling of each comparison (DuckDB and Trino agree)
    s.Operator.EQ: "=",
    s.Operator.NE: "<>",
    s.Operator.LT: "<",
    s.Operator.LE: "<=",
    s.Operator.GT: ">",
    s.Operator.GE: ">=",
}


def _positive_sql(value: s.Value, token: str) -> str:
    """``token`` equals a text value (wildcards at its ends); regexes and numbers are the
    compiler's (:meth:`SqlCompiler.comparison`)."""
    if not isinstance(value, s.Text):
        raise UnsupportedPattern(f"no SQL form for {value!r}")
    text = value.value
    if text == "*":
        return "true"
    leading, core, trailing = value.wildcard
    if leading and trailing:
        return f"contains({token}, {literal(core)})"
    if leading:
        return f"ends_with({token}, {literal(core)})"
    if trailing:
        return f"starts_with({token}, {literal(core)})"
    return f"{token} = {literal(text)}"
