"""What a security engineer reads: no internal jargon, values not Python reprs, one time
format, catalog values that show their data."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from support import cli_env
from vpcwatch import FIELDS
from vpcwatch.timeformat import iso, parse_instant

ROOT = Path(__file__).resolve().parent.parent
# "seed 000", "seeds 001/003", "the seeds' lab": the repository's name for its source
# articles, meaningless outside it. A random seed (--seed 7) is fine.
JARGON = re.compile(r"\bseeds?'|(?<!-)\bseeds?\s+(?:\d|article)|\bthe seeds\b", re.IGNORECASE)


def _user_facing_files() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for folder in ("lib/vpcwatch", "lambda", "vpcwatch_demo"):
        files += sorted((ROOT / folder).rglob("*.py"))
    return files


@pytest.mark.parametrize("path", _user_facing_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_seed_jargon_in_user_facing_text(path):
    found = [line for line in path.read_text().splitlines() if JARGON.search(line)]
    assert found == [], f"{path}: name the source by its title (docs/sources.md): {found}"


@pytest.mark.parametrize("command", ["", "test-pattern", "sample", "replay", "cost"])
def test_no_seed_jargon_in_the_help(command):
    argv = [sys.executable, "-m", "vpcwatch", *([command] if command else []), "--help"]
    text = subprocess.run(argv, capture_output=True, text=True, env=cli_env()).stdout
    assert text and not JARGON.search(text)


def test_catalog_values_show_their_data():
    text = repr(FIELDS["flow_direction"])
    assert text.startswith("FlowLogField(aws_name='flow-direction', version=5, ")
    assert "ingress or egress" in text


def test_one_time_format_in_the_library_and_the_cli():
    from vpcwatch import FlowLogFormat
    from vpcwatch.detectors import rejected_flows

    assert parse_instant("2023-11-14T22:14Z") == parse_instant("1700000040") == 1_700_000_040
    assert parse_instant("2023-11-14T23:14:00+01:00") == 1_700_000_040
    assert iso(1_700_000_040) == "2023-11-14T22:14:00Z"
    sql = rejected_flows().to_athena_sql(FlowLogFormat.all_fields(), "db.t", "2023-11-14T22:14Z")
    assert '"start" >= 1700000040' in sql  # the CLI's ISO dates are the library's too
    with pytest.raises(ValueError, match="Unix seconds or ISO 8601"):
        rejected_flows().to_athena_sql(FlowLogFormat.all_fields(), "db.t", "yesterday")
