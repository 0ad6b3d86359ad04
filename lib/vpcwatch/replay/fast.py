"""The DuckDB path of replay: metric statistics per minute for a whole file in one query.

Same semantics as :class:`~vpcwatch.replay.metrics.MetricAggregator` (the patterns
compile to the SQL of :mod:`vpcwatch.filterpattern.sql`; lines that splitting on
' ' would not read as Python does go through the reference aggregator). Used for
plain or S3-delivery files in the stack's format; anything else returns ``None``
and the caller streams the file through the reference path.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

from vpcwatch.actions import ACTIONS
from vpcwatch.filterpattern import compile_pattern
from vpcwatch.filterpattern import syntax as s
from vpcwatch.filterpattern.fast import (
    duckdb_available,
    file_is_plain,
    plain_sql,
    read_lines_sql,
)
from vpcwatch.filterpattern.sql import (
    NUMBER_RE2,
    SqlCompiler,
    UnsupportedPattern,
    literal,
    slot_tokens,
)
from vpcwatch.filterpattern.syntax import parse_number
from vpcwatch.replay.metrics import MetricAggregator
from vpcwatch.replay.readers import (
    MAX_LISTED,
    InputStats,
    TextInput,
    detect_shape,
    plain_record,
    read_events,
)
from vpcwatch.replay.template import ReplayPlan

SLOT_SECONDS = 60


class _Unsupported(Exception):
    """This file or plan has no SQL form; use the reference path."""


def aggregate_file(
    path: Path,
    plan: ReplayPlan,
    aggregator: MetricAggregator,
    stats: InputStats,
    start: int | None,
    end: int | None,
    on_progress: Callable[[float], None] | None = None,
) -> bool:
    """Aggregate ``path`` into ``aggregator``; ``False`` when this file must go through
    the reference path instead."""
    if not duckdb_available():
        return False
    plain, header = _plain_shape(path, plan)
    if not plain:
        return False
    import duckdb

    try:
        query, irregular_query = _queries(path, plan, start, end, not file_is_plain(path))
        connection = duckdb.connect()
        rows = _run_with_progress(connection, query, on_progress)
        irregular = [line for (line,) in connection.execute(irregular_query).fetchall()]
    except (_Unsupported, duckdb.Error):
        return False
    for slot, events, undelivered, low, high, *statistics in rows:
        stats.events += events
        stats.undelivered += undelivered
        if not events:
            continue
        aggregator.merge_events(events, low, high)
        for index, spec in enumerate(plan.metrics):
            total, count, minimum, maximum = statistics[4 * index : 4 * index + 4]
            if count:
                aggregator.merge(spec.key, slot, total, count, minimum, maximum)
    malformed = 0
    for line in irregular:
        timestamp = _timestamp(line, plan)
        if timestamp is None:
            malformed += line.strip() != header
            continue
        if (start is None or timestamp >= start) and (end is None or timestamp <= end):
            if plan.filters_actions and not plan.delivers(line):
                stats.undelivered += 1
                continue
            aggregator.add(timestamp, line)
            stats.events += 1
    stats.bytes_read += path.stat().st_size
    if malformed:
        _count_malformed(path, plan, stats)
    return True


def _timestamp(line: str, plan: ReplayPlan) -> int | None:
    """The record's start, or ``None`` when the line is not a record of the format."""
    fields = line.split()
    if len(fields) != len(plan.log_format):
        return None
    start = parse_number(fields[plan.log_format.index("start")])
    return None if start is None else int(start)


def _count_malformed(path: Path, plan: ReplayPlan, stats: InputStats) -> None:
    """The unreadable lines the query set aside, counted with their line numbers as the
    reference path reads them (one more pass, only when there are some)."""
    counted = InputStats()
    for _ in read_events([path], plan.log_format, counted):
        pass
    stats.malformed += counted.malformed
    stats.malformed_at += counted.malformed_at[: MAX_LISTED - len(stats.malformed_at)]


def _run_with_progress(connection, query: str, on_progress: Callable[[float], None] | None):
    """Run ``query``; meanwhile report DuckDB's progress (0 to 1) twice a second."""
    if on_progress is None:
        return connection.execute(query).fetchall()
    # DuckDB tracks progress only with its bar enabled; ours draws it, DuckDB's stays quiet.
    connection.execute("SET enable_progress_bar = true")
    connection.execute("SET enable_progress_bar_print = false")
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(lambda: connection.execute(query).fetchall())
        while True:
            try:
                return future.result(timeout=0.5)
            except FutureTimeout:
                on_progress(max(connection.query_progress(), 0.0) / 100)


def contributors(
    path: Path, plan: ReplayPlan, wanted: dict[tuple[str, str], set[int]], keep: int = 3
) -> dict[tuple[tuple[str, str], int], list[str]]:
    """Up to ``keep`` records per (metric, period start) in ``wanted``, in one scan."""
    import duckdb

    compiler = SqlCompiler("f")
    metrics = {spec.key: spec for spec in plan.metrics}
    slots = sorted({slot for periods in wanted.values() for slot in periods})
    if not slots:
        return {}
    branches = []
    for index, (key, periods) in enumerate(wanted.items()):
        spec = metrics[key]
        predicate = (
            compiler.predicate(compile_pattern(spec.pattern).tree) if spec.pattern else "true"
        )
        branches.append(
            f"SELECT {index} AS metric, slot, line FROM wanted WHERE slot IN "
            f"({', '.join(map(str, sorted(periods)))}) AND ({predicate}) "
            f"AND {_delivered_sql(plan)} "
            f"QUALIFY row_number() OVER (PARTITION BY slot) <= {keep}"
        )
    query = (
        f"WITH wanted AS MATERIALIZED (SELECT *, ts - ts % {SLOT_SECONDS} AS slot FROM "
        f"({_events_sql(path, plan, compiler, not file_is_plain(path))}) "
        f"WHERE ts - ts % {SLOT_SECONDS} IN "
        f"({', '.join(map(str, slots))})) " + " UNION ALL ".join(branches)
    )
    keys = list(wanted)
    found: dict[tuple[tuple[str, str], int], list[str]] = {}
    for metric, slot, line in duckdb.connect().execute(query).fetchall():
        found.setdefault((keys[metric], slot), []).append(line)
    return found


def _plain_shape(path: Path, plan: ReplayPlan) -> tuple[bool, str | None]:
    """Plain records in the stack's format, with or without an S3 header line (returned,
    to be told from an unreadable line); a file that does not fit the format raises
    here, as in the reference path."""
    for number, line in enumerate(TextInput(path), start=1):
        if line.strip():
            extract, is_header = detect_shape(path, number, line.strip(), plan.log_format)
            return extract is plain_record, line.strip() if is_header else None
    return False, None


def _events_sql(path: Path, plan: ReplayPlan, compiler: SqlCompiler, per_line_check: bool) -> str:
    """The file's records that SQL reads as the reference does, with their ``ts``."""
    fmt = plan.log_format
    start = f"f[{fmt.index('start') + 1}]"
    ts_number = compiler.number(start)
    numbers = "".join(f", {column}" for column in compiler.number_columns())
    source = read_lines_sql(path, _gzipped(path))
    plain = plain_sql(per_line_check)
    return (
        f"SELECT *, CAST(trunc({ts_number}) AS BIGINT) AS ts FROM (SELECT *, {plain} AS plain"
        f"{numbers} FROM (SELECT line, string_split(line, ' ') AS f FROM {source} "
        f"WHERE line IS NOT NULL)) WHERE plain AND len(f) = {len(fmt)} AND {ts_number} IS NOT NULL"
    )


def _queries(
    path: Path, plan: ReplayPlan, start: int | None, end: int | None, per_line_check: bool
) -> tuple[str, str]:
    compiler = SqlCompiler("f")
    values = []
    for spec in plan.metrics:
        if spec.pattern is None:
            values.append("CASE WHEN delivered THEN CAST(1 AS DOUBLE) END")
            continue
        tree = compile_pattern(spec.pattern).tree
        try:
            predicate = compiler.predicate(tree)
        except UnsupportedPattern:
            raise _Unsupported(spec.name) from None
        value = _value_sql(spec.value, tree, compiler)
        default = "NULL" if spec.default_value is None else repr(float(spec.default_value))
        values.append(
            f"CAST(CASE WHEN NOT delivered THEN NULL WHEN {predicate} THEN {value} "
            f"ELSE {default} END AS DOUBLE)"
        )
    events = _events_sql(path, plan, compiler, per_line_check)
    window = ""
    if start is not None:
        window += f" AND ts >= {int(start)}"
    if end is not None:
        window += f" AND ts <= {int(end)}"
    columns = ", ".join(f"{v} AS v{i}" for i, v in enumerate(values))
    stats = ", ".join(f"sum(v{i}), count(v{i}), min(v{i}), max(v{i})" for i in range(len(values)))
    grouped = (
        f"SELECT ts - ts % {SLOT_SECONDS} AS slot, count(*) FILTER (WHERE delivered), "
        "count(*) FILTER (WHERE NOT delivered), min(ts) FILTER (WHERE delivered), "
        f"max(ts) FILTER (WHERE delivered), {stats} FROM (SELECT ts, delivered, {columns} "
        f"FROM (SELECT *, {_delivered_sql(plan)} AS delivered FROM ({events})) "
        f"WHERE true{window}) GROUP BY slot"
    )
    source = read_lines_sql(path, _gzipped(path))
    start_field = f"f[{plan.log_format.index('start') + 1}]"
    irregular = (
        f"SELECT line FROM (SELECT line, string_split(line, ' ') AS f FROM {source} "
        f"WHERE line IS NOT NULL) WHERE NOT ({plain_sql(per_line_check)}) "
        f"OR len(f) <> {len(plan.log_format)} "
        f"OR NOT coalesce(regexp_full_match({start_field}, {literal(NUMBER_RE2)}), false)"
    )
    return grouped, irregular


def _delivered_sql(plan: ReplayPlan) -> str:
    """True for the records the CloudWatch flow logs deliver (see ``ReplayPlan.delivers``)."""
    if not plan.filters_actions:
        return "true"
    action = f"f[{plan.log_format.index('action') + 1}]"
    kept = ", ".join(literal(a) for a in sorted(plan.delivered_actions))
    every = ", ".join(literal(a) for a in ACTIONS)
    return f"({action} NOT IN ({every}) OR {action} IN ({kept}))"


def _value_sql(value: str, tree: s.SpaceDelimited, compiler: SqlCompiler) -> str:
    if not value.startswith("$"):
        return repr(float(value))
    tokens = {slot.name: token for slot, token in slot_tokens(tree, "f") if slot.name}
    token = tokens.get(value[1:])
    if token is None:
        raise _Unsupported(value)
    return compiler.number(token)


def _gzipped(path: Path) -> bool:
    with path.open("rb") as probe:
        return probe.read(2) == b"\x1f\x8b"
