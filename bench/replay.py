"""Replay speed and memory: a day of a busy VPC (10,000,000 all-fields lines by default).

Generates an hour of seeded traffic with incidents, then writes copies of it shifted
by whole hours across one day (so every minute of the day carries ``--lines``/1440
records, as a busy VPC's would) until the file holds ``--lines`` records. Prints records/s
and peak memory (max RSS) for the DuckDB path on the whole file and, in the same
process, for the reference path on a 200,000-line slice; the ratio of their rates
is the figure.

    .venv/bin/python bench/replay.py [--lines N]
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "replay"))
from test_fast_replay import FMT, detector_template

from vpcwatch.replay.files import replay_files
from vpcwatch.replay.template import load_plan
from vpcwatch.traffic import generate

SLICE = 200_000


def write_day(path: Path, lines: int) -> None:
    incidents = {m: ("ssh-scan",) for m in range(7, 60, 17)} | {31: ("exfiltration",)}
    hour = list(generate(FMT, minutes=60, seed=9, incidents=incidents))
    hour = [line.split(" ") for line in hour]
    start, end = FMT.index("start"), FMT.index("end")
    written = 0
    with path.open("w") as out:
        for shift in itertools.count():
            for fields in hour:
                if written == lines:
                    return
                offset = (shift % 24) * 3600
                fields_copy = fields.copy()
                fields_copy[start] = str(int(fields[start]) + offset)
                fields_copy[end] = str(int(fields[end]) + offset)
                out.write(" ".join(fields_copy) + "\n")
                written += 1


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "template.json"
        template.write_text(json.dumps(detector_template()))
        plan = load_plan(template)
        day = Path(tmp) / "day.log"
        began = time.perf_counter()
        write_day(day, args.lines)
        size, took = day.stat().st_size / 1e9, time.perf_counter() - began
        print(f"{args.lines:,} all-fields lines, {size:.2f} GB (written in {took:.0f} s)")
        sliced = Path(tmp) / "slice.log"
        with day.open() as source, sliced.open("w") as out:
            out.writelines(itertools.islice(source, SLICE))

        began = time.perf_counter()
        replay_files(plan, [sliced], fast=False)
        slow_rate = SLICE / (time.perf_counter() - began)
        print(f"reference path, {SLICE:,}-line slice: {slow_rate:,.0f} records/s; "
              f"rss {max_rss_mb():.0f} MB")  # fmt: skip

        began = time.perf_counter()
        fast = replay_files(plan, [day], fast=True)
        seconds = time.perf_counter() - began
        print(f"DuckDB path, whole file: {args.lines / seconds:,.0f} records/s "
              f"({seconds:.0f} s); rss {max_rss_mb():.0f} MB")  # fmt: skip
        print(f"ratio fast / reference rate: {args.lines / seconds / slow_rate:.1f}x")
        fired = {s.name: s.fired for s in fast.summaries}
        print(f"alarms fired over the day: {fired}")
        assert fast.events == args.lines, (fast.events, args.lines)


if __name__ == "__main__":
    main()
