"""The vpcwatch command: test-pattern."""

from __future__ import annotations

import io
import json
import subprocess
import sys

from vpcwatch.cli import main

EVENTS = "ERROR one\nfine\nERROR two\n"


def run(argv, stdin=""):
    return subprocess.run(
        [sys.executable, "-m", "vpcwatch", *argv], input=stdin, capture_output=True, text=True
    )


def test_matches_print_as_json_lines_and_exit_0(tmp_path):
    events = tmp_path / "events.log"
    events.write_text(EVENTS)
    out = io.StringIO()
    assert main(["test-pattern", "ERROR", str(events)], out=out) == 0
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert lines == [
        {"eventNumber": 1, "eventMessage": "ERROR one", "extractedValues": {}},
        {"eventNumber": 3, "eventMessage": "ERROR two", "extractedValues": {}},
    ]


def test_stdin_and_extracted_values():
    result = run(["test-pattern", "[w1 = ERROR, w2]", "-"], stdin=EVENTS)
    assert result.returncode == 0
    first = json.loads(result.stdout.splitlines()[0])
    assert first["extractedValues"] == {"$w1": "ERROR", "$w2": "one"}


def test_nothing_matched_exits_1():
    result = run(["test-pattern", "WARN"], stdin=EVENTS)
    assert result.returncode == 1 and result.stdout == ""


def test_bad_pattern_exits_2_with_the_position():
    result = run(["test-pattern", "[a = 1 && b = 2]"], stdin=EVENTS)
    assert result.returncode == 2
    assert "position 10" in result.stderr and "its own field" in result.stderr
