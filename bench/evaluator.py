"""Evaluator speed: five detector patterns over 1,000,000 all-fields lines, in one pass.

Prints lines/second for vpcwatch's evaluator (``count_matches`` on each fast engine:
polars, when the ``fast`` extra is installed, and DuckDB; the reference path on a
100,000-line slice for scale) and for the same five predicates hand-written as typed
DuckDB SQL over the same file, in the same run. The figures are the ratios of wall
times, ours / DuckDB's, each the faster of two runs (issue 15's target: 1.0 or less,
goal 0.5, on a 2-core machine).

    .venv/bin/python bench/evaluator.py [--lines N] [--seed S]
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
from pathlib import Path

import duckdb
from timing import best_of_two, timed

from vpcwatch import FlowLogFormat
from vpcwatch.filterpattern import compile_pattern
from vpcwatch.filterpattern.fast import count_matches
from vpcwatch.filterpattern.polars_engine import polars_available
from vpcwatch.traffic import generate

FMT = FlowLogFormat.all_fields()
ALLOWED = ["52.216.0.0/15", "3.5.0.0/19"]
PATTERNS = {
    "rejected": FMT.filter().where("action", "=", "REJECT"),
    "admin_accepted": FMT.filter()
    .where("dstport", "in", [22, 3389])
    .where("action", "=", "ACCEPT")
    .where("srcaddr", "not in", ["10.0.0.0/16"]),
    "sensitive_rejected": FMT.filter()
    .where("dstport", "in", [0, 23, 445, 1433, 3306, 5432, 6379, 9200, 27017])
    .where("action", "=", "REJECT"),
    "exfiltration": FMT.filter()
    .where("flow_direction", "=", "egress")
    .where("bytes", ">", 100_000)
    .where("dstaddr", "not in", ALLOWED),
    "skipdata": FMT.filter().where("log_status", "=", "SKIPDATA"),
}
# The same predicates, typed and hand-written: what a person would run in DuckDB.
BASELINE_SQL = """
SELECT
  count(*) FILTER (WHERE action = 'REJECT'),
  count(*) FILTER (WHERE dstport IN (22, 3389) AND action = 'ACCEPT'
                   AND NOT starts_with(srcaddr, '10.0.')),
  count(*) FILTER (WHERE dstport IN (0, 23, 445, 1433, 3306, 5432, 6379, 9200, 27017)
                   AND action = 'REJECT'),
  count(*) FILTER (WHERE flow_direction = 'egress' AND bytes > 100000
                   AND NOT (starts_with(dstaddr, '52.216.') OR starts_with(dstaddr, '52.217.')
                            OR regexp_matches(dstaddr, '^3\\.5\\.([0-9]|[12][0-9]|3[01])\\.'))),
  count(*) FILTER (WHERE log_status = 'SKIPDATA')
FROM read_csv(?, delim=' ', header=false, quote='', escape='', auto_detect=false,
              columns={columns})
"""


def write_lines(path: Path, count: int, seed: int) -> None:
    incidents = {
        m: ("ssh-scan", "rdp-accepted", "exfiltration", "skipdata") for m in range(0, 200_000, 97)
    }
    lines = generate(FMT, minutes=10**7, seed=seed, incidents=incidents)
    with path.open("w") as out:
        out.writelines(line + "\n" for line in itertools.islice(lines, count))


def baseline(path: Path) -> list[int]:
    types = {f.name: ("BIGINT" if f.kind.value == "number" else "VARCHAR") for f in FMT}
    columns = "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in types.items()) + "}"
    # '-' in numeric columns must read as NULL, as flow logs mean it.
    sql = BASELINE_SQL.replace("{columns}", columns).replace(
        "auto_detect=false,", "auto_detect=false, nullstr='-',"
    )
    return list(duckdb.connect().execute(sql, [str(path)]).fetchone())


def reference(path: Path, limit: int) -> tuple[list[int], int]:
    matchers = [compile_pattern(str(p)).match for p in PATTERNS.values()]
    counts = [0] * len(matchers)
    lines = 0
    with path.open() as stream:
        for line in itertools.islice(stream, limit):
            lines += 1
            for index, match in enumerate(matchers):
                if match(line) is not None:
                    counts[index] += 1
    return counts, lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "flows.log"
        _, generated = timed(write_lines, path, args.lines, args.seed)
        size = path.stat().st_size / 1e6
        print(f"{args.lines:,} all-fields lines, {size:.0f} MB (generated in {generated:.1f} s)")
        patterns = {name: str(flt) for name, flt in PATTERNS.items()}
        timed(count_matches, path, patterns)  # warm the page cache and DuckDB
        theirs, theirs_s = best_of_two(baseline, path)
        engines = ["polars", "duckdb"] if polars_available() else ["duckdb"]
        found = {engine: best_of_two(count_matches, path, patterns, engine=engine)
                 for engine in engines}  # fmt: skip
        slice_ = min(args.lines, 100_000)
        (ref_counts, ref_lines), ref_s = timed(reference, path, slice_)
        print(f"{'engine':<34}{'seconds':>9}{'lines/s':>13}{'ratio':>7}")
        for engine, (_, seconds) in found.items():
            name = f"vpcwatch, {engine}"
            print(f"{name:<34}{seconds:>9.2f}{args.lines / seconds:>13,.0f}"
                  f"{seconds / theirs_s:>7.2f}")  # fmt: skip
        print(
            f"{'DuckDB, typed hand-written SQL':<34}{theirs_s:>9.2f}{args.lines / theirs_s:>13,.0f}"
        )
        print(f"{'vpcwatch reference (100k slice)':<34}{ref_s:>9.2f}{ref_lines / ref_s:>13,.0f}")
        if not polars_available():
            print('polars is not installed: pip install "vpcwatch[fast]" adds the faster engine')
        for engine, (ours, _) in found.items():
            if list(ours.values()) != theirs:
                raise SystemExit(f"{engine} disagrees: {list(ours.values())} vs DuckDB {theirs}")
        print(f"matches per pattern, the same on every engine: {dict(ours)}")
        del ref_counts


if __name__ == "__main__":
    main()
