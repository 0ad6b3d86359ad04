"""The polars engine of replay's scan: the per-minute table of :mod:`.fast`, from plain
text files, on polars' streaming engine.

Used by :func:`vpcwatch.replay.fast.aggregate_paths` when polars is installed (the
``fast`` extra) and the files are plain text; on ``bench/replay.py`` its scan takes
about 0.7 of the time of the same table in DuckDB (polars reads the CSV text faster).
Gzip, Parquet and files with irregular bytes stay with DuckDB. Same rows, on the same
terms as :meth:`vpcwatch.replay.fast._Queries.minutes`:

- The caller checks the bytes beside the scan (:func:`~vpcwatch.filterpattern.fast.
  file_is_regular` with the format's field count): ASCII, single spaces, no quote, no
  line with more fields. Every line then splits into columns exactly as Python splits
  it; if the check fails, the caller drops this table and DuckDB scans with a check per
  line.
- A line with fewer fields (a null last column) or a ``start`` that is not a number is
  set aside: counted in the row whose ``slot`` is null, as DuckDB counts the lines it
  sets aside (the caller has DuckDB read the file when there are more than its headers).
- The patterns compile with :class:`~vpcwatch.filterpattern.polars_engine.PolarsCompiler`
  (numbers read only where the grammar reads one; regexes on Rust's ``regex`` crate).
- The rules' contributions leave the scan as rows (minute, contributor, value) in a
  Parquet file beside it, which the caller groups in DuckDB (within its memory limit):
  a streaming scan cannot hold a list per minute, and a second group would read the
  file again.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from vpcwatch.actions import ACTIONS
from vpcwatch.filterpattern import compile_pattern
from vpcwatch.filterpattern.polars_engine import EngineRefused, PolarsCompiler
from vpcwatch.filterpattern.sql import UnsupportedPattern, slot_positions
from vpcwatch.replay.insights import InsightSpec
from vpcwatch.replay.template import ReplayPlan
from vpcwatch.replay.time_index import SLOT_SECONDS

CONTRIBUTOR_SEPARATOR = chr(31)
"""Joins a contributor's key values (never in a regular record), as in the DuckDB scan."""

CSV_CHUNK_BYTES = 4 << 20
"""How much text polars' streaming CSV reader takes at a time, through its
``POLARS_CSV_CHUNK_SIZE`` setting (unless the environment sets it). Polars reads the
setting once, at its first CSV scan in a process. Its default holds about 200 MB more
at a time on 2 cores: a 10M-line replay peaked at 525 MB, and 460 MB with this (the
scan alone: 315 MB), at the same speed."""


def scan(
    paths: list[Path],
    plan: ReplayPlan,
    start: int | None,
    end: int | None,
    contributions: Path | None,
) -> dict[str, np.ndarray]:
    """The per-minute columns of :meth:`~vpcwatch.replay.fast._Queries.minutes` as masked
    arrays (``slot`` masked on the row of the lines set aside), the rules' rows written
    to ``contributions`` (Parquet: ``slot``, and per rule ``k<i>``, ``v<i>``, null where
    the record does not pass the rule); ``contributions`` may be ``None`` only for a plan
    without rules.

    Raises:
        UnsupportedPattern: a metric filter has no polars form (terms, JSON).
        EngineRefused: polars cannot read the files or run the expressions.
    """
    os.environ.setdefault("POLARS_CSV_CHUNK_SIZE", str(CSV_CHUNK_BYTES))
    import polars as pl

    table = _Table(plan, start, end)
    width = len(plan.log_format)
    columns = [f"c{index}" for index in range(1, width + 1)]
    # glob=False: a name such as "flows[1].log" is a file, not a pattern matching none.
    source = pl.scan_csv([str(p) for p in paths], separator=" ", has_header=False,
                         quote_char=None, glob=False,
                         schema=dict.fromkeys(columns, pl.String))  # fmt: skip
    rows = table.rows(source)
    queries = [rows.group_by("slot").agg(table.statistics())]
    if plan.insights:
        if contributions is None:
            raise ValueError("contributions: a path is needed for a plan with rules")
        passing = rows.filter(pl.any_horizontal(table.passes)).select("slot", *table.contributed)
        queries.append(passing.sink_parquet(contributions, compression="uncompressed", lazy=True))
    try:
        minutes = pl.collect_all(queries, engine="streaming")[0]
    except pl.exceptions.PolarsError as error:
        raise EngineRefused(str(error).splitlines()[0]) from None
    return {
        name: np.ma.masked_array(
            minutes[name].fill_null(0).to_numpy(), mask=minutes[name].is_null().to_numpy()
        )
        for name in minutes.columns
    }


class _Table:
    """The plan as polars expressions over text columns ``c1``... (see :func:`scan`)."""

    def __init__(self, plan: ReplayPlan, start: int | None, end: int | None) -> None:
        import polars as pl

        fmt = plan.log_format
        self.width = len(fmt)
        self.plan, self.start, self.end = plan, start, end
        self.compiler = PolarsCompiler(self.width)
        compiler = self.compiler
        self.ts_number = compiler.number(fmt.index("start") + 1)
        self.delivered = _delivered(plan, compiler.token(fmt.index("action") + 1))
        self.values = [self._value(spec) for spec in plan.metrics]
        rules = [self._rule(rule) for rule in plan.insights]
        self.passes = [condition for condition, _, _ in rules]
        self.contributed = []
        for index, (condition, key, amount) in enumerate(rules):
            self.contributed.append(pl.when(condition).then(key).alias(f"k{index}"))
            self.contributed.append(
                pl.when(condition).then(amount).cast(pl.Float64).alias(f"v{index}")
            )

    def rows(self, source):
        """Every line with ``ts``, ``regular`` (a record of the format), ``slot`` (null for
        the lines set aside and the records outside --from/--to), ``delivered`` and each
        metric's value ``v<i>``."""
        import polars as pl

        col = pl.col
        ts = col("ts")
        shared = self.compiler.shared
        rows = source.with_columns(**shared) if shared else source
        rows = rows.with_columns(ts=self.ts_number.cast(pl.Int64))
        rows = rows.with_columns(regular=ts.is_not_null() & col(f"c{self.width}").is_not_null())
        counted = col("regular")
        if self.start is not None:
            counted = counted & (ts >= int(self.start))
        if self.end is not None:
            counted = counted & (ts <= int(self.end))
        period = SLOT_SECONDS
        rows = rows.with_columns(
            slot=pl.when(counted).then(ts - ((ts % period) + period) % period),
            delivered=self.delivered,
        )
        return rows.with_columns(
            *(value.alias(f"v{index}") for index, value in enumerate(self.values))
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
        for index in range(len(self.values)):
            value = col(f"v{index}")
            aggregates += [
                value.sum().alias(f"t{index}"),
                value.count().alias(f"n{index}"),
                value.min().alias(f"lo{index}"),
                value.max().alias(f"hi{index}"),
            ]
        return aggregates

    def _value(self, spec) -> Any:
        """A metric's value on a record: null when not delivered, its value where the
        pattern matches, else its default (null without one)."""
        import polars as pl

        delivered = pl.col("delivered")
        if spec.pattern is None:  # the log group's incoming events
            return pl.when(delivered).then(pl.lit(1.0))
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
        return (
            pl.when(~delivered)
            .then(pl.lit(None, dtype=pl.Float64))
            .when(predicate)
            .then(value)
            .otherwise(default)
            .cast(pl.Float64)
        )

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
