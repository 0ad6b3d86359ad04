"""The evaluator's polars engine: many space-delimited patterns counted over a file whose
records have one field count, in one lazy scan of text columns.

Used by :func:`vpcwatch.filterpattern.fast.count_matches` when polars is installed
(``pip install "vpcwatch[fast]"``) and the file suits it; on ``bench/evaluator.py`` it
takes about 0.85 of the time of a hand-written, typed DuckDB query, where the DuckDB
path takes about 1.15 to 1.2. It scans on polars' streaming engine (10M lines: about
400 MB). Its expressions mean what :mod:`.sql` means, on the same terms:

- The caller has checked the bytes (:func:`~vpcwatch.filterpattern.fast.file_is_regular`):
  ASCII, single spaces, no quote, bracket, tab or blank line. Every line then splits into
  columns exactly as Python's ``split()`` splits it, so a column is a field.
- A line with fewer fields than the first line has (a NULL last column) is handed back,
  rebuilt exactly, for the reference matcher. A line with more is the caller's to rule
  out (polars may drop the extra fields without a word): the byte check counts them.
- Numbers are read by an integer cast, which reads exactly the grammar's integers; if a
  field a pattern reads as a number holds another number polars reads (``22.0``,
  ``1e3``), the file is read again with numbers read only where the grammar reads one
  (a regex, then a cast). Either way they are compared as 64-bit floats; regexes run
  on Rust's ``regex`` crate, linear like RE2 and with the same syntax for what filter
  patterns allow (an expression it refuses also ends in :class:`EngineRefused`). On
  ASCII text, its Unicode classes match what RE2's do.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vpcwatch.filterpattern import syntax as s
from vpcwatch.filterpattern.sql import NUMBER_RE2, UnsupportedPattern, slot_positions


class EngineRefused(Exception):
    """Polars cannot read this file or run these expressions (the caller uses DuckDB)."""


def polars_available() -> bool:
    try:
        import polars  # noqa: F401
    except ImportError:
        return False
    return True


def count(path: Path, patterns: Mapping[str, s.Pattern], width: int) -> tuple[dict, list]:
    """How many lines of ``path`` (records of ``width`` fields) each pattern matches, and
    the lines with fewer fields, for the reference matcher.

    Raises:
        UnsupportedPattern: a pattern has no form here (terms, JSON).
        EngineRefused: polars cannot read the file or compile a regex.
    """
    import polars as pl

    columns = [f"c{index}" for index in range(1, width + 1)]
    whole = pl.col(columns[-1]).is_not_null()
    for integers in (True, False):  # as replay's scan: by the grammar if the cast may misread
        compiler = PolarsCompiler(width, integers=integers)
        predicates = {name: compiler.predicate(p.tree) for name, p in patterns.items()}
        # glob=False: a name such as "flows[1].log" is a file, not a pattern matching none.
        scan = pl.scan_csv(path, separator=" ", has_header=False, quote_char=None,
                           glob=False, schema=dict.fromkeys(columns, pl.String))  # fmt: skip
        if compiler.shared:
            scan = scan.with_columns(**compiler.shared)
        totals = [(whole & predicate).sum().alias(f"p{i}")
                  for i, predicate in enumerate(predicates.values())]  # fmt: skip
        totals.append((~whole).sum().alias("shorter"))
        doubtful = compiler.doubtful()
        totals.append((pl.lit(0) if doubtful is None else (whole & doubtful).sum()).alias("d"))
        try:
            *counted, shorter_count, doubts = scan.select(totals).collect(engine="streaming").row(0)
        except pl.exceptions.PolarsError as error:
            raise EngineRefused(str(error).splitlines()[0]) from None
        if not doubts:
            break
    try:
        shorter = []
        if shorter_count:  # read again only when there are some
            line = pl.concat_str(columns, separator=" ", ignore_nulls=True)
            rebuilt = scan.filter(~whole).select(line.alias("line"))
            shorter = rebuilt.collect(engine="streaming")["line"].to_list()
    except pl.exceptions.PolarsError as error:
        raise EngineRefused(str(error).splitlines()[0]) from None
    return dict(zip(predicates, map(int, counted), strict=True)), shorter


class PolarsCompiler:
    """Patterns as polars boolean expressions over ``width`` text columns ``c1``...

    With ``integers``, a field's number is read by an integer cast, not the grammar's
    regex (flow-log numbers are integers; four regexes were a seventh of replay's scan).
    The cast reads exactly the grammar's integers (``[+-]?[0-9]+`` within 64 bits) and
    nothing else, so it differs from the grammar only on a field holding another
    number (``1.5``, ``2e3``, a longer integer): :meth:`doubtful` finds those, and the
    caller reads them again without ``integers`` when there are any."""

    def __init__(self, width: int, *, integers: bool = False) -> None:
        self.width = width
        self.integers = integers
        self.shared: dict[str, Any] = {}
        """Alias -> expression of each field number and (field, regex) match the
        predicates use, computed once per line however many comparisons read it (the
        scan adds them as columns)."""
        self._aliases: dict[tuple, str] = {}

    def _share(self, key: tuple, prefix: str, make) -> Any:
        import polars as pl

        alias = self._aliases.get(key)
        if alias is None:
            alias = self._aliases[key] = f"{prefix}{len(self._aliases)}"
            self.shared[alias] = make()
        return pl.col(alias)

    def predicate(self, tree: s.Pattern) -> Any:
        import polars as pl

        if not isinstance(tree, s.SpaceDelimited):
            raise UnsupportedPattern(f"no polars form for {type(tree).__name__} patterns")
        if self.width < len(tree.named):  # fewer fields than named: never a match
            return pl.lit(False)
        conditions = [
            self.condition(slot.condition, position)
            for slot, position in slot_positions(tree, self.width)
            if slot.condition is not None
        ]
        return pl.lit(True) if not conditions else _all(conditions)

    def token(self, position: int | tuple[int, int]) -> Any:
        """Column ``position`` (1-based), or the text of columns ``first`` to ``last``
        joined by one space (the rest of the line)."""
        import polars as pl

        if isinstance(position, int):
            return pl.col(f"c{position}")
        first, last = position
        names = [f"c{index}" for index in range(first, last + 1)]
        return pl.col(names[0]) if len(names) == 1 else pl.concat_str(names, separator=" ")

    def condition(self, condition: s.AnyOf, position: int | tuple[int, int]) -> Any:
        """OR of ANDs of comparisons on the field at ``position``; its numbers in lists
        (:func:`~.syntax.number_lists`)."""
        equal, branches = s.number_lists(condition)
        groups = [] if not equal else [self._numbers_in(position, equal)]
        for differ, others in branches:
            both = [] if not differ else [self._numbers_in(position, differ, negated=True)]
            both += [self.comparison(c.op, c.value, position) for c in others]
            groups.append(both[0] if len(both) == 1 else _all(both))
        return groups[0] if len(groups) == 1 else _any(groups)

    def _numbers_in(
        self, position: int | tuple[int, int], comparisons: tuple, *, negated: bool = False
    ) -> Any:
        """Whether the field's number is one of the comparisons' (``negated``: none of
        them); false where the field is no number, either way."""
        inside = self.number(position).is_in([float(c.value.value) for c in comparisons])
        return (~inside if negated else inside).fill_null(False)

    def comparison(self, op: s.Operator, value: s.Value, position: int | tuple[int, int]) -> Any:
        if isinstance(value, s.Number):
            return _COMPARE[op](self.number(position), float(value.value)).fill_null(False)
        if isinstance(value, s.Regex):
            source = value.source
            match = lambda: self.token(position).str.contains(source)  # noqa: E731
            positive = self._share(("regex", position, source), "x", match)
        else:
            positive = _positive(value, self.token(position))
        return positive if op is s.Operator.EQ else ~positive

    def number(self, position: int | tuple[int, int]) -> Any:
        """The column holding the field's number (null where the grammar reads none),
        computed once per line however many expressions read it."""
        return self._share(("number", position), "n", lambda: self.parse_number(position))

    def parse_number(self, position: int | tuple[int, int]) -> Any:
        """The number the grammar reads in the field (null where it reads none; with
        ``integers``, where it reads no integer), computed where the expression is used
        (:meth:`number` shares it)."""
        import polars as pl

        token = self.token(position)
        if self.integers:
            return token.cast(pl.Int64, strict=False).cast(pl.Float64)
        return pl.when(token.str.contains(f"^(?:{NUMBER_RE2})$")).then(
            token.cast(pl.Float64, strict=False)
        )

    def doubtful(self) -> Any | None:
        """With ``integers``: true on a line where a field whose number the predicates
        read holds text that polars' float cast reads (a superset of the grammar's
        numbers) and the integer cast does not: perhaps a number the grammar reads and
        the cast misses. Text that is no number at all (``-``, a header's field names)
        is not doubtful. ``None`` when no predicate reads a number or without
        ``integers``."""
        import polars as pl

        if not self.integers:
            return None
        # The float cast only where the integer cast read nothing (a when/then, not an
        # AND: polars casts no other row), a field at 0.5 ms per 2M lines, not 20-70 ms.
        doubts = [
            pl.when(pl.col(alias).is_null())
            .then(self.token(key[1]))
            .cast(pl.Float64, strict=False)
            .is_not_null()
            for key, alias in self._aliases.items()
            if key[0] == "number"
        ]
        return pl.any_horizontal(doubts) if doubts else None


_COMPARE = {
    s.Operator.EQ: lambda a, b: a == b,
    s.Operator.NE: lambda a, b: a != b,
    s.Operator.LT: lambda a, b: a < b,
    s.Operator.LE: lambda a, b: a <= b,
    s.Operator.GT: lambda a, b: a > b,
    s.Operator.GE: lambda a, b: a >= b,
}


def _all(expressions: list) -> Any:
    import polars as pl

    return pl.all_horizontal(expressions)


def _any(expressions: list) -> Any:
    import polars as pl

    return pl.any_horizontal(expressions)


def _positive(value: s.Value, token: Any) -> Any:
    import polars as pl

    if not isinstance(value, s.Text):
        raise UnsupportedPattern(f"no polars form for {value!r}")
    if value.value == "*":
        return pl.lit(True)
    leading, core, trailing = value.wildcard
    if leading and trailing:
        return token.str.contains(core, literal=True)
    if leading:
        return token.str.ends_with(core)
    if trailing:
        return token.str.starts_with(core)
    return token == value.value
