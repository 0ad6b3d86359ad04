"""The bench scripts' own options: a wrong value is refused before any file is written
(the figures themselves are printed by the benches, never asserted here)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from support import cli_env

BENCH = Path(__file__).resolve().parent.parent / "bench" / "replay.py"


def test_replay_bench_refuses_an_only_that_names_no_file():
    run = subprocess.run(
        [sys.executable, str(BENCH), "--only", "no such file", "--lines", "10"],
        capture_output=True, text=True, env=cli_env(), timeout=120,
    )  # fmt: skip
    assert run.returncode == 2
    assert "--only 'no such file' is in none of the files' names" in run.stderr
    assert "one day, 288 Parquet files" in run.stderr  # the names it could have taken
    assert run.stdout == ""  # refused before the table's header


def test_replay_bench_makes_the_files_a_chosen_file_is_made_from():
    # Loaded by path under a name of its own: ``replay`` is also the tests' package.
    spec = importlib.util.spec_from_file_location("bench_replay", BENCH)
    bench = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(BENCH.parent))  # for its ``timing``
    try:
        spec.loader.exec_module(bench)
    finally:
        sys.path.remove(str(BENCH.parent))
    for name, source in bench.MADE_FROM.items():
        assert bench.RUNS.index(source) < bench.RUNS.index(name), name
