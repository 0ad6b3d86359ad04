"""Replay speed and memory against one hand-written DuckDB query, on the same files.

Files of ``--lines`` all-fields records (2,000,000 by default), built from an hour of
seeded traffic with incidents: one spread over a day (a busy VPC) in time order, the
same day out of time order (copy after copy of the hour: no stretch of the file holds a
minute's records together), and one over 90 days (a quiet one: the same records,
sparse). For each, in the same process:

- ``vpcwatch replay``'s engine (``replay_files`` with the default detectors' template,
  alarms and contributors included), wall time and records/s;
- the baseline a person would write: DuckDB ``read_csv`` with typed columns and
  ``count(*) FILTER (...)`` for five detector predicates, ``GROUP BY`` minute;
- the same day gzipped; as a Parquet file (S3 delivery's format), against the same
  query over ``read_parquet``; as 288 five-minute gzip files with a header each (as
  S3 delivery writes them), against the same query over the list of files; as 288
  five-minute Parquet files; and the 90 days as five-minute Parquet files (an
  archive's 21,036: each file costs both engines its footer);
- the ratio of the two wall times, each the faster of two runs, run in turn (query,
  replay, query, replay) once the new file is written back to disk (issue target: 1.5
  or less, goal 1.0), and the
  reference path's rate on a 100,000-line slice;
- for Parquet, whose columns cost the query little to read, a second baseline: the same
  query and, beside it, the two default rules' contributors grouped per minute by hand
  (``GROUP BY`` minute and key), work replay does and the first query does not;
- peak memory (max RSS of the process so far).

    .venv/bin/python bench/replay.py [--lines N] [--without-polars] [--only TEXT]
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import itertools
import json
import os
import resource
import shutil
import sys
import tempfile
from pathlib import Path

import duckdb
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "replay"))
from test_fast_replay import FMT, detector_template
from timing import best_alternating, timed

from vpcwatch.replay.files import replay_files
from vpcwatch.replay.template import load_plan
from vpcwatch.traffic import generate

SLICE = 100_000
BASELINE = """
SELECT "start" - "start" % 60 AS minute,
  count(*) FILTER (WHERE action = 'REJECT' AND log_status = 'OK'),
  count(*) FILTER (WHERE dstport IN (22, 3389) AND action = 'REJECT'
                   AND NOT (starts_with(srcaddr, '10.') OR starts_with(srcaddr, '192.168.')
                            OR regexp_matches(srcaddr, '^172\\.(1[6-9]|2[0-9]|3[01])\\.'))),
  count(*) FILTER (WHERE dstport IN (22, 3389) AND action = 'ACCEPT'
                   AND NOT (starts_with(srcaddr, '10.') OR starts_with(srcaddr, '192.168.')
                            OR regexp_matches(srcaddr, '^172\\.(1[6-9]|2[0-9]|3[01])\\.'))),
  count(*) FILTER (WHERE flow_direction = 'egress' AND action = 'ACCEPT' AND bytes > 100000
                   AND NOT (starts_with(dstaddr, '52.216.') OR starts_with(dstaddr, '52.217.')
                            OR starts_with(dstaddr, '10.'))),
  count(*) FILTER (WHERE log_status = 'SKIPDATA')
FROM read_csv(?, delim=' ', header=false, quote='', escape='', auto_detect=false,
              nullstr='-', columns={columns})
GROUP BY minute
"""
CONTRIBUTORS = (  # the default rules (SlowScanSources, EgressTopTalkers), by hand
    """SELECT count(*) FROM (SELECT "start" - "start" % 60 AS minute, srcaddr, count(*)
    FROM read_parquet(?) WHERE action = 'REJECT'
    AND dstport IN (22, 3389, 23, 445, 1433, 3306, 5432, 6379, 9200, 27017) GROUP BY ALL)""",
    """SELECT count(*) FROM (SELECT "start" - "start" % 60 AS minute, srcaddr, dstaddr,
    sum(bytes) FROM read_parquet(?) WHERE flow_direction = 'egress' AND action = 'ACCEPT'
    AND traffic_path IN (2, 8) AND srcport NOT IN (80, 443) GROUP BY ALL)""",
)


RUNS = ("one day", "one day, out of order", "90 days, sparse", "one day, gzip",
        "one day, Parquet", "one day, 288 gzip files",
        "one day, 288 Parquet files", "90 days, Parquet files")  # fmt: skip
MADE_FROM = {  # the run whose file each run's file is made from
    "one day, gzip": "one day",
    "one day, Parquet": "one day",
    "one day, 288 gzip files": "one day",
    "one day, 288 Parquet files": "one day, Parquet",
    "90 days, Parquet files": "90 days, sparse",
}


def write(path: Path, lines: int, span_days: int, *, in_time_order: bool = True) -> None:
    """``lines`` records: an hour of traffic repeated, each copy shifted so the copies
    spread evenly over ``span_days`` days. In time order (by start), as a flow log writes
    a busy VPC's records; or, ``in_time_order=False``, copy after copy: neighbouring
    records up to an hour apart, where a minute's records lie in several stretches."""
    incidents = {m: ("ssh-scan",) for m in range(7, 60, 17)} | {31: ("exfiltration",)}
    hour = [line.split(" ") for line in generate(FMT, minutes=60, seed=9, incidents=incidents)]
    copies = -(-lines // len(hour))
    span = span_days * 86400
    step = max(span // copies // 60 * 60, 60)  # copies overlap within the span when dense
    start, end = FMT.index("start"), FMT.index("end")
    offsets = [copy * step % (span - 3600) if span > 3600 else 0 for copy in range(copies)]
    starts = np.array([int(fields[start]) for fields in hour])
    shifted = (np.array(offsets)[:, None] + starts[None, :]).ravel()[:lines]
    order = np.argsort(shifted, kind="stable") if in_time_order else range(lines)
    with path.open("w") as out:
        for record in order:
            copy, index = divmod(int(record), len(hour))
            fields = hour[index].copy()
            fields[start] = str(int(fields[start]) + offsets[copy])
            fields[end] = str(int(fields[end]) + offsets[copy])
            out.write(" ".join(fields) + "\n")


def _columns() -> str:
    kinds = {f.name: ("BIGINT" if f.kind.value == "number" else "VARCHAR") for f in FMT}
    return "{" + ", ".join(f"'{n}': '{k}'" for n, k in kinds.items()) + "}"


def baseline(path: Path | list[Path]) -> int:
    query = BASELINE.replace("{columns}", _columns())
    files = path if isinstance(path, list) else [path]
    if files[0].suffix == ".parquet":
        query = query[: query.index("FROM read_csv")] + "FROM read_parquet(?)\nGROUP BY minute"
    elif isinstance(path, list):  # S3 delivery files in text: a header line each
        query = query.replace("header=false", "header=true")
    found = [str(p) for p in files] if isinstance(path, list) else str(path)
    return len(duckdb.connect().execute(query, [found]).fetchall())


def baseline_with_contributors(files: list[Path]) -> int:
    """:func:`baseline` of Parquet ``files``, then the default rules' contributors per
    minute (each rule's groups counted, not fetched: the grouping is the work)."""
    minutes = baseline(files if len(files) > 1 else files[0])
    connection = duckdb.connect()
    found = [str(p) for p in files]
    for query in CONTRIBUTORS:
        connection.execute(query, [found]).fetchall()
    return minutes


def to_parquet(text: Path, parquet: Path) -> None:
    """The records of ``text`` as S3 delivery writes them in Parquet (typed columns)."""
    types = {f.name: {"INT_32": "INTEGER", "INT_64": "BIGINT"}.get(f.parquet_type, "VARCHAR")
             for f in FMT}  # fmt: skip
    columns = "{" + ", ".join(f"'{n}': '{k}'" for n, k in types.items()) + "}"
    duckdb.connect().execute(
        f"COPY (SELECT * FROM read_csv('{text}', delim=' ', header=false, nullstr='-', "
        f"auto_detect=false, columns={columns})) TO '{parquet}' (FORMAT PARQUET)"
    )


def split_into_deliveries(text: Path, folder: Path) -> list[Path]:
    """The records of ``text`` as S3 delivers them: one gzip file per 5 minutes, each
    opened by the header line (288 files for a day)."""
    folder.mkdir()
    header = " ".join(f.aws_name for f in FMT.fields) + "\n"
    start = FMT.index("start")
    outputs: dict[int, object] = {}
    with text.open() as source, contextlib.ExitStack() as files:
        for line in source:
            window = int(line.split(" ", start + 1)[start]) // 300
            out = outputs.get(window)
            if out is None:
                path = folder / f"{window}.log.gz"
                out = outputs[window] = files.enter_context(gzip.open(path, "wt"))
                out.write(header)
            out.write(line)
    return sorted(folder.glob("*.log.gz"))


def split_parquet(parquet: Path, folder: Path) -> list[Path]:
    """The rows of ``parquet`` as S3 delivers them in Parquet: one file per 5 minutes."""
    folder.mkdir()
    connection = duckdb.connect()
    connection.execute("SET memory_limit = '300MB'")  # the bench's peak is the replay's
    connection.execute(
        f"COPY (SELECT *, \"start\" // 300 AS part FROM read_parquet('{parquet}')) TO "
        f"'{folder}' (FORMAT PARQUET, PARTITION_BY (part), WRITE_PARTITION_COLUMNS false)"
    )
    connection.close()
    return sorted(folder.glob("*/*.parquet"), key=lambda p: int(p.parent.name.split("=")[1]))


def gzipped(text: Path, target: Path) -> None:
    with text.open("rb") as source, gzip.open(target, "wb", compresslevel=6) as out:
        shutil.copyfileobj(source, out, 1 << 20)


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--without-polars", action="store_true",
                        help="replay as a plain install does: DuckDB scans plain text")  # fmt: skip
    parser.add_argument("--only", metavar="TEXT",
                        help="only the files whose name holds TEXT (e.g. Parquet)")  # fmt: skip
    args = parser.parse_args()
    runs = RUNS
    if args.only is not None:  # and the text files the chosen ones are made from
        chosen = [name for name in RUNS if args.only in name]
        if not chosen:
            listed = "; ".join(RUNS)
            parser.error(f"--only {args.only!r} is in none of the files' names: {listed}")
        needed = {"one day", *chosen}  # the one day: the reference path's slice
        for name in reversed(RUNS):  # a file is made from one before it
            if name in needed and name in MADE_FROM:
                needed.add(MADE_FROM[name])
        runs = tuple(name for name in RUNS if name in needed)
    if args.without_polars:
        from vpcwatch.replay import fast

        fast.polars_available = lambda: False
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "template.json"
        template.write_text(json.dumps(detector_template()))
        plan = load_plan(template)
        print(f"{'file':<27}{'engine':<34}{'seconds':>9}{'records/s':>12}{'ratio':>7}")
        for name in runs:
            days = 90 if name.startswith("90") else 1
            path = Path(tmp) / f"{days}.log"
            if name.endswith("out of order"):
                path = Path(tmp) / "1-out-of-order.log"
                write(path, args.lines, days, in_time_order=False)
            elif name.endswith("gzip"):
                path = Path(tmp) / "1.log.gz"
                gzipped(Path(tmp) / "1.log", path)
            elif name.endswith("Parquet"):
                path = Path(tmp) / "1.log.parquet"
                to_parquet(Path(tmp) / "1.log", path)
            elif name.endswith("gzip files"):
                path = split_into_deliveries(Path(tmp) / "1.log", Path(tmp) / "deliveries")
            elif name.endswith("Parquet files"):
                parquet = Path(tmp) / f"{days}.log.parquet"
                if days != 1:
                    to_parquet(Path(tmp) / f"{days}.log", parquet)
                path = split_parquet(parquet, Path(tmp) / f"parquet{days}")
            else:
                write(path, args.lines, days)
            os.sync()  # the new file written back now, not during the runs
            baseline(path)  # warm the page cache
            files = path if isinstance(path, list) else [path]
            _, theirs, result, ours = best_alternating(
                lambda path=path: baseline(path), lambda files=files: replay_files(plan, files)
            )
            assert result.events == args.lines, (result.events, args.lines)
            rate = args.lines / ours
            print(f"{name:<27}{'DuckDB, hand-written query':<34}{theirs:>9.2f}"
                  f"{args.lines / theirs:>12,.0f}")  # fmt: skip
            print(f"{'':<27}{'vpcwatch replay (fast path)':<34}{ours:>9.2f}{rate:>12,.0f}"
                  f"{ours / theirs:>7.2f}")  # fmt: skip
            if files[0].suffix == ".parquet":
                _, like, _, ours = best_alternating(
                    lambda files=files: baseline_with_contributors(files),
                    lambda files=files: replay_files(plan, files),
                )
                print(f"{'':<27}{'DuckDB, the query + contributors':<34}{like:>9.2f}"
                      f"{args.lines / like:>12,.0f}")  # fmt: skip
                print(f"{'':<27}{'vpcwatch replay (fast path)':<34}{ours:>9.2f}"
                      f"{args.lines / ours:>12,.0f}{ours / like:>7.2f}")  # fmt: skip
        sliced = Path(tmp) / "slice.log"
        with (Path(tmp) / "1.log").open() as source, sliced.open("w") as out:
            out.writelines(itertools.islice(source, SLICE))
        _, slow = timed(replay_files, plan, [sliced], fast=False)
        sliced_lines = min(SLICE, args.lines)  # a smaller --lines makes a smaller slice
        print(f"reference path ({sliced_lines:,}-line slice): {sliced_lines / slow:,.0f} records/s")
        print(f"peak memory (max RSS): {max_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
