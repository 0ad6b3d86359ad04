"""The polars engine of replay's scan: the per-minute table of :mod:`.fast`, from plain
text files, on polars' streaming engine.

Used by :func:`vpcwatch.replay.fast.aggregate_paths` when polars is installed (the
``fast`` extra) for text files (gzip through decompressed parts); on
``bench/replay.py`` its scan takes about 0.7 of the time of the same table in DuckDB
(polars reads the CSV text faster). Parquet and files with irregular bytes stay with
DuckDB. Same rows, on the same terms as :meth:`vpcwatch.replay.fast._Queries.minutes`:

- The caller checks the bytes beside the scan (:func:`~vpcwatch.filterpattern.fast.
  file_is_regular`): ASCII, single spaces, no quote. Every line then splits into columns
  exactly as Python splits it; if the check fails, the caller drops this table and
  DuckDB scans with a check per line. Polars drops a longer line's extra fields without
  a word: the check also totals every line's fields, and the caller keeps the table
  only when that total is the lines read times the format's width, none short.
- A line with fewer fields (a null last column) or a ``start`` that is not a number is
  set aside: counted in the row whose ``slot`` is null, as DuckDB counts the lines it
  sets aside (the caller has DuckDB read the file when there are more than its headers).
- The patterns compile with :class:`~vpcwatch.filterpattern.polars_engine.PolarsCompiler`
  (regexes on Rust's ``regex`` crate). Numbers are read by an integer cast first (a
  seventh less work than the grammar's regex per field); if a record's field that a
  pattern reads as a number holds another number (``1.5``, a 20-digit integer:
  :meth:`~vpcwatch.filterpattern.polars_engine.PolarsCompiler.doubtful`), the scan runs
  again with numbers read only where the grammar reads one.
- A metric of a constant integer value (and default) is counted (its matches), not
  summed: the caller derives its minute's total, count, minimum and maximum
  (:mod:`.constant_metrics`), fewer aggregates for the streaming group to keep (a fifth
  of the scan's CPU over 130,000 minutes).
- The rules' contributions leave the scan as rows (minute, contributor, value) in a
  Parquet file beside it, which the caller groups (:func:`~vpcwatch.replay.fast.
  _group_contributions`): a streaming scan cannot hold a list per minute, and a second
  group would read the file again. A contributor leaves as its number in a
  :class:`ContributorCodes` (polars numbers each distinct key as it meets it): the
  grouping sorts integers, not text.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from vpcwatch.actions import ACTIONS
from vpcwatch.filterpattern import compile_pattern
from vpcwatch.filterpattern.fast import LineIndex
from vpcwatch.filterpattern.polars_engine import EngineRefused, PolarsCompiler
from vpcwatch.filterpattern.sql import UnsupportedPattern, slot_positions
from vpcwatch.filterpattern.syntax import parse_number
from vpcwatch.replay.constant_metrics import constant_metrics
from vpcwatch.replay.insights import InsightSpec
from vpcwatch.replay.template import ReplayPlan
from vpcwatch.replay.time_index import SLOT_SECONDS

CONTRIBUTOR_SEPARATOR = chr(31)
"""Joins a contributor's key values (never in a regular record), as in the DuckDB scan."""

ROW = "row"
"""The column numbering the lines of the files read together, from 0: a CSV row is a
line (the byte check allows no blank line), and the numbers run on across files."""

CSV_CHUNK_BYTES = 4 << 20
"""How much text polars' streaming CSV reader takes at a time, through its
``POLARS_CSV_CHUNK_SIZE`` setting (unless the environment sets it). Polars reads the
setting once, at its first CSV scan in a process. Its default holds about 200 MB more
at a time on 2 cores: a replay of 10M lines over 90 days peaked at 525 MB with it, and
at 470 MB with this (the scan alone: 315 MB), at the same speed."""


class ContributorCodes:
    """Numbers for the rules' contributors (their keys joined by
    :data:`CONTRIBUTOR_SEPARATOR`), given by polars as a scan meets them, in one
    numbering for every part of one scan; :meth:`names` reads them back."""

    def __init__(self) -> None:
        import polars as pl

        categories = pl.Categories.random()  # this scan's own numbering, not the global one
        self.dtype = pl.Categorical(categories)
        self._categories = categories
        # Polars keeps a numbering only while a frame or series of its type lives: this
        # empty one holds it until the names are read.
        self._holder = pl.Series([], dtype=self.dtype)

    def code(self, key):
        """The expression numbering ``key`` (a text expression; null stays null)."""
        return key.cast(self.dtype).to_physical()

    def names(self, codes: np.ndarray) -> list[str]:
        """The contributor of each code in ``codes`` (integers).

        Raises:
            EngineRefused: a code polars did not give (its numbering was lost).
        """
        names = self._categories.to_series().to_list()
        if len(codes) and (int(codes.min()) < 0 or int(codes.max()) >= len(names)):
            raise EngineRefused(f"contributor code beyond the {len(names)} polars gave")
        return [names[code] for code in codes.tolist()]


def scan(
    paths: list[Path],
    plan: ReplayPlan,
    start: int | None,
    end: int | None,
    side: Path,
    first_row: int = 0,
    codes: ContributorCodes | None = None,
):
    """The per-minute table of :meth:`~vpcwatch.replay.fast._Queries.minutes` (a polars
    frame; :func:`columns_of` gives its columns), and written to ``side`` (Parquet),
    every record that passes a rule or matches a metric in a counted minute: ``row``
    (its line's number in the files, from ``first_row``), ``slot``, ``ts``, per rule
    ``k<i>`` (its contributor's number in ``codes``; default: a numbering of its own) and
    for a ``Sum`` rule ``v<i>`` (null where the record does not pass it), and per metric
    with a pattern ``m<i>`` (see :func:`first_records`). The tables of files scanned
    apart add up (:func:`merge_minutes`), and so do their side files when the scans
    share ``codes``.

    Raises:
        UnsupportedPattern: a metric filter has no polars form (terms, JSON).
        EngineRefused: polars cannot read the files or run the expressions.
    """
    codes = ContributorCodes() if codes is None else codes
    # Numbers read as integers first; again by the grammar if a field holds another number.
    table = _Table(plan, start, end, codes, integers=True)
    minutes = _scan_once(paths, table, side, first_row)
    if "doubtful" in minutes.columns and minutes["doubtful"].sum():
        minutes = _scan_once(paths, _Table(plan, start, end, codes), side, first_row)
    return minutes.drop("doubtful", strict=False)


def merge_minutes(tables: list):
    """The per-minute tables of :func:`scan` as one: each minute's counts and totals
    added up, its lowest and highest values compared."""
    import polars as pl

    if len(tables) == 1:
        return tables[0]
    col = pl.col
    merged = [  # the names of _Table.statistics: low, lo<i> and high, hi<i>; else counts
        col(name).min() if re.fullmatch(r"low|lo[0-9]+", name)
        else col(name).max() if re.fullmatch(r"high|hi[0-9]+", name)
        else col(name).sum()
        for name in tables[0].columns
        if name != "slot"
    ]  # fmt: skip
    return pl.concat(tables).group_by("slot").agg(merged)


def columns_of(minutes) -> dict[str, np.ndarray]:
    """A table of :func:`scan` as masked arrays (``slot`` masked on the row of the lines
    set aside), as :func:`vpcwatch.replay.fast.aggregate_paths` takes them."""
    return {
        name: np.ma.masked_array(
            minutes[name].fill_null(0).to_numpy(), mask=minutes[name].is_null().to_numpy()
        )
        for name in minutes.columns
    }


def _scan_once(paths: list[Path], table: _Table, side: Path, first_row: int = 0):
    """:func:`scan`'s minutes (a polars frame) by ``table``'s expressions, in one read."""
    import polars as pl

    rows = table.rows(_source(paths, table.width, first_row))
    matched = [m.alias(f"m{index}") for index, m in enumerate(table.matched)]
    counted_match = (pl.col("slot").is_not_null() & pl.any_horizontal(table.matched)
                     if table.matched else pl.lit(False))  # fmt: skip
    kept = [*table.passes, counted_match]
    # One side file: a third output makes polars hold the whole scan in memory.
    kept_rows = rows.filter(pl.any_horizontal(kept)).select(
        ROW, "slot", "ts", *table.contributed, *matched
    )
    queries = [
        rows.group_by("slot").agg(table.statistics()),
        kept_rows.sink_parquet(side, compression="uncompressed", lazy=True),
    ]
    try:
        return pl.collect_all(queries, engine="streaming")[0]
    except pl.exceptions.PolarsError as error:
        raise EngineRefused(str(error).splitlines()[0]) from None


def first_records(
    side: list[Path],
    paths: list[Path],
    gzipped: bool,
    wanted: dict[int, set[int]],
    kept: int,
    start_field: int,
    line_index: LineIndex | None = None,
) -> list[tuple[int, int, str]]:
    """(metric, minute, line) for the first ``kept`` records by (start, line) of each
    metric (its ``m`` index) in its ``wanted`` minutes, from the rows :func:`scan` wrote
    to the ``side`` files: the rows whose start could be among the first (all those tied
    with the last place), then their lines, found by number in one pass over ``paths``
    (gzip, or not; ``line_index``: see :func:`lines_at`). Each line must still hold its
    record's start (field ``start_field``, 0-based).

    Raises:
        EngineRefused: a line is not where the scan read it (the files changed since).
    """
    import polars as pl

    rows = pl.scan_parquet([str(path) for path in side], glob=False)
    candidates = pl.concat([
        rows.filter(pl.col(f"m{index}") & pl.col("slot").is_in(sorted(slots)))
        .filter(pl.col("ts").rank("min").over("slot") <= kept)
        .select(pl.lit(index).alias("metric"), ROW, "slot", "ts")
        for index, slots in wanted.items()
    ]).collect()  # fmt: skip
    numbers = sorted(set(candidates[ROW].to_list()))
    lines = lines_at(paths, numbers, gzipped, line_index)
    starts = dict(zip(candidates[ROW].to_list(), candidates["ts"].to_list(), strict=True))
    for number in numbers:
        fields = lines[number].split(" ") if number in lines else []
        read = parse_number(fields[start_field]) if len(fields) > start_field else None
        if read is None or int(read) != starts[number]:
            raise EngineRefused(f"line {number + 1} is not the record the scan read there")
    texts = pl.DataFrame({ROW: numbers, "line": [lines[n] for n in numbers]},
                         schema={ROW: candidates.schema[ROW], "line": pl.String})  # fmt: skip
    return _first_by_start(candidates.join(texts, on=ROW), kept)


def _first_by_start(records, kept: int) -> list[tuple[int, int, str]]:
    """(metric, minute, line) of the first ``kept`` of ``records`` (a frame of ``metric``,
    ``slot``, ``ts``, ``line``) by (start, line) in each metric and minute, as the
    reference path keeps them."""
    first = (
        records.sort("metric", "slot", "ts", "line")
        .group_by("metric", "slot", maintain_order=True)
        .head(kept)
    )
    return [tuple(row) for row in first.select("metric", "slot", "line").iter_rows()]


def lines_at(
    paths: list[Path], numbers: list[int], gzipped: bool, line_index: LineIndex | None = None
) -> dict[int, str]:
    """The lines of ``paths`` (read as one sequence of lines, a file's last line counted
    with or without a line end; ``gzipped``: decompressed) at the sorted line ``numbers``
    (from 0), in one pass: each chunk's line ends are counted, and only in a chunk holding
    a wanted line are they located. ``line_index`` (plain files only: where lines end,
    :meth:`~vpcwatch.filterpattern.fast.FieldCount.line_index`): the file is read in its
    blocks, those before a wanted line skipped by a seek, and the files without one are
    not read."""
    from vpcwatch.filterpattern.fast import CHUNK_BYTES, file_chunks

    found: dict[int, str] = {}
    wanted = iter(numbers)
    target = next(wanted, None)
    first = 0  # the number of the line that begins the pending bytes
    line_end = np.empty(CHUNK_BYTES, dtype=bool)
    for number, path in enumerate(paths):
        if target is None:
            break
        ends_before = None if line_index is None or gzipped else line_index.ends_before[number]
        if ends_before is None:
            chunks = ((None, data, view) for data, view in file_chunks(path, gzipped))
        elif target >= ends_before[-1]:  # no wanted line in this file
            first = int(ends_before[-1])
            continue
        else:
            # The target as it stands when the next block is asked for.
            chunks = _blocks_toward(path, line_index.block_bytes, ends_before,
                                    lambda: target)  # noqa: B023  # fmt: skip
        pending = b""  # a line begun and not yet ended
        following = 0  # the chunk that comes next unless some are skipped
        for chunk, data, view in chunks:
            if target is None:
                break
            if chunk is not None and chunk != following:  # skipped to the block of the
                pending, first = b"", int(ends_before[chunk])  # line end before the target
            following = None if chunk is None else chunk + 1
            if data:  # numpy counts the line ends twice as fast as bytes.count
                ends = int(np.count_nonzero(np.equal(view, 10, out=line_end[: len(view)])))
                if target < first + ends:  # cut out at the line ends, not split
                    at = np.flatnonzero(line_end[: len(view)]).tolist()
                    while target is not None and target < first + ends:
                        index = target - first
                        begin = 0 if index == 0 else at[index - 1] + 1
                        line = data[begin : at[index]]
                        found[target] = (pending + line if index == 0 else line).decode()
                        target = next(wanted, None)
                    pending = data[at[-1] + 1 :]
                else:
                    cut = data.rfind(b"\n")
                    pending = pending + data if cut < 0 else data[cut + 1 :]
                first += ends
        if pending:  # a last line without a line end
            if target == first:
                found[target] = pending.decode()
                target = next(wanted, None)
            first += 1
    return found


def _blocks_toward(path: Path, block_bytes: int, ends_before, next_line):
    """(block number, bytes, numpy view) of a plain file's blocks of ``block_bytes``, from
    the one holding the line end that line ``next_line()`` follows: the blocks before it
    are skipped by a seek (``ends_before``: how many lines end before each block, and
    after the last). Once the wanted line is past the file, its last block is read (it
    may hold the rest of a line begun before). One buffer serves every block."""
    buffer = bytearray(block_bytes)
    whole = np.frombuffer(buffer, dtype=np.uint8)
    last = max(len(ends_before) - 2, 0)
    number = 0
    with path.open("rb", buffering=0) as stream:
        while (line := next_line()) is not None:
            holding = min(max(int(np.searchsorted(ends_before, line)) - 1, 0), last)
            if holding > number:
                stream.seek(holding * block_bytes)
                number = holding
            size = stream.readinto(buffer)
            if not size:
                return
            yield number, buffer if size == block_bytes else buffer[:size], whole[:size]
            number += 1


def _minute_of(ts):
    """The minute holding ``ts`` (an integer expression), floored for any sign."""
    return ts - ((ts % SLOT_SECONDS) + SLOT_SECONDS) % SLOT_SECONDS


def _source(paths: list[Path], width: int, first_row: int = 0):
    """The files as ``width`` text columns ``c1``..., and :data:`ROW` from ``first_row``."""
    os.environ.setdefault("POLARS_CSV_CHUNK_SIZE", str(CSV_CHUNK_BYTES))
    import polars as pl

    columns = [f"c{index}" for index in range(1, width + 1)]
    # glob=False: a name such as "flows[1].log" is a file, not a pattern matching none.
    return pl.scan_csv([str(p) for p in paths], separator=" ", has_header=False,
                       quote_char=None, glob=False, row_index_name=ROW,
                       row_index_offset=first_row,
                       schema=dict.fromkeys(columns, pl.String))  # fmt: skip


class _Table:
    """The plan as polars expressions over text columns ``c1``... (see :func:`scan`)."""

    def __init__(
        self,
        plan: ReplayPlan,
        start: int | None,
        end: int | None,
        codes: ContributorCodes,
        *,
        integers: bool = False,
    ) -> None:
        import polars as pl

        fmt = plan.log_format
        self.width = len(fmt)
        self.plan, self.start, self.end = plan, start, end
        self.compiler = PolarsCompiler(self.width, integers=integers)
        compiler = self.compiler
        self.start_position = fmt.index("start") + 1
        self.delivered = _delivered(plan, compiler.token(fmt.index("action") + 1))
        self.values = []
        self._flags = {}  # column name -> expression, computed with the values
        self._constants = constant_metrics(plan)
        """The metrics whose statistics the scan counts (:mod:`.constant_metrics`)."""
        self._match_flags: dict[int, str] = {}
        """Metric index -> the flag of its matches, for the metrics with a pattern."""
        for index, spec in enumerate(plan.metrics):
            value, matched = self._value(spec)
            self.values.append(value)
            if matched is not None:
                self._match_flags[index] = f"matched{len(self._flags)}"
                self._flags[self._match_flags[index]] = matched
        self.matched = [pl.col(name) for name in self._flags]
        """Whether a record published a value because it matched, per metric with a
        pattern, in the plan's order (as the DuckDB scan numbers them): columns of
        :meth:`rows`, as is :attr:`passes`. As columns, not expressions, they are
        computed once, before the scan's two outputs part (an output's filter repeated
        every test: a tenth of the scan)."""
        rules = [self._rule(rule) for rule in plan.insights]
        self.passes = []
        """Whether a record passes each rule (a column of :meth:`rows`)."""
        self.contributed = []
        for index, (condition, key, amount) in enumerate(rules):
            self._flags[f"passes{index}"] = condition
            passes = pl.col(f"passes{index}")
            self.passes.append(passes)
            self.contributed.append(codes.code(pl.when(passes).then(key)).alias(f"k{index}"))
            if plan.insights[index].value_of is not None:  # a Count rule's rows are counted
                self.contributed.append(
                    pl.when(passes).then(amount).cast(pl.Float64).alias(f"v{index}")
                )

    def rows(self, source):
        """Every line with ``ts``, ``regular`` (a record of the format), ``slot`` (null for
        the lines set aside and the records outside --from/--to), ``delivered``, each
        metric's value ``v<i>``, :attr:`matched` and :attr:`passes`."""
        import polars as pl

        col = pl.col
        ts = col("ts")
        start = self.compiler.parse_number(self.start_position)
        rows = source.with_columns(ts=start.cast(pl.Int64))
        rows = rows.with_columns(regular=ts.is_not_null() & col(f"c{self.width}").is_not_null())
        counted = col("regular")
        if self.start is not None:
            counted = counted & (ts >= int(self.start))
        if self.end is not None:
            counted = counted & (ts <= int(self.end))
        rows = rows.with_columns(slot=pl.when(counted).then(_minute_of(ts)))
        rows = rows.with_columns(**self.compiler.shared, delivered=self.delivered)
        return rows.with_columns(
            *(value.alias(f"v{index}") for index, value in enumerate(self.values)),
            **self._flags,
        )

    def statistics(self) -> list:
        """The aggregates of one minute, named as the DuckDB table names them."""
        import polars as pl

        col, delivered = pl.col, pl.col("delivered")
        delivered_ts = pl.when(delivered).then(col("ts"))
        aggregates = [
            pl.len().alias("lines"),
            (~col("regular")).sum().alias("aside"),
            col(f"c{self.width}").is_null().sum().alias("short"),
            delivered.sum().alias("events"),
            (~delivered).sum().alias("undelivered"),
            delivered_ts.min().alias("low"),
            delivered_ts.max().alias("high"),
        ]
        doubtful = self.compiler.doubtful()
        if doubtful is not None:  # a record's number the integer cast may misread
            aggregates.append((col("regular") & doubtful).sum().alias("doubtful"))
        for index in range(len(self.values)):
            constant = self._constants.get(index)
            if constant is not None:  # counted; its statistics come from the counts
                if constant.matched:
                    aggregates.append(col(self._match_flags[index]).sum().alias(f"matches{index}"))
                continue
            value = col(f"v{index}")
            aggregates += [
                value.sum().alias(f"t{index}"),
                value.count().alias(f"n{index}"),
                value.min().alias(f"lo{index}"),
                value.max().alias(f"hi{index}"),
            ]
        return aggregates

    def _value(self, spec) -> tuple[Any, Any]:
        """A metric's value on a record (null when not delivered, its value where the
        pattern matches, else its default, null without one), and whether it matched
        (``None`` for a metric without a pattern)."""
        import polars as pl

        delivered = pl.col("delivered")
        if spec.pattern is None:  # the log group's incoming events
            return pl.when(delivered).then(pl.lit(1.0)), None
        tree = compile_pattern(spec.pattern).tree
        predicate = self.compiler.predicate(tree)  # raises UnsupportedPattern
        if spec.value.startswith("$"):
            positions = {slot.name: position for slot, position in slot_positions(tree, self.width)
                         if slot.name}  # fmt: skip
            position = positions.get(spec.value[1:])
            if position is None:
                raise UnsupportedPattern(spec.value)
            value = self.compiler.number(position)
        else:
            value = pl.lit(float(spec.value))
        default = pl.lit(None if spec.default_value is None else float(spec.default_value),
                         dtype=pl.Float64)  # fmt: skip
        published = (
            pl.when(~delivered)
            .then(pl.lit(None, dtype=pl.Float64))
            .when(predicate)
            .then(value)
            .otherwise(default)
            .cast(pl.Float64)
        )
        return published, (delivered & predicate & value.is_not_null()).fill_null(False)

    def _rule(self, rule: InsightSpec) -> tuple[Any, Any, Any]:
        """A rule's (condition, contributor, value) on a record, as
        :meth:`~vpcwatch.replay.insights.InsightSpec.contribution` reads them."""
        import polars as pl

        compiler = self.compiler
        conditions = [pl.col("slot").is_not_null(), pl.col("delivered")]
        compare = {"GreaterThan": "__gt__", "LessThan": "__lt__", "EqualTo": "__eq__",
                   "NotEqualTo": "__ne__"}  # fmt: skip
        for position, op, value in rule.filters:
            text = compiler.token(position + 1)
            if op == "In":
                conditions.append(text.is_in(list(value)))
            elif op == "NotIn":
                conditions.append(~text.is_in(list(value)))
            elif op == "StartsWith":
                conditions.append(pl.any_horizontal([text.str.starts_with(p) for p in value]))
            else:
                number = compiler.number(position + 1)
                conditions.append(getattr(number, compare[op])(float(value)).fill_null(False))
        if rule.value_of is None:
            amount = pl.lit(1.0)
        else:
            amount = compiler.number(rule.value_of + 1)
            conditions.append(amount.is_not_null())
        keys = [compiler.token(position + 1) for position in rule.keys]
        key = keys[0] if len(keys) == 1 else pl.concat_str(keys, separator=CONTRIBUTOR_SEPARATOR)
        return pl.all_horizontal(conditions), key, amount


def _delivered(plan: ReplayPlan, action: Any) -> Any:
    """True for the records the CloudWatch flow logs deliver (``ReplayPlan.delivers``)."""
    import polars as pl

    if not plan.filters_actions:
        return pl.lit(True)
    return ~action.is_in(list(ACTIONS)) | action.is_in(sorted(plan.delivered_actions))
