"""Every bad input a user can give, fed to the installed ``vpcwatch`` command.

Each case runs the console script as a subprocess and checks the contract: exit 2 for
bad input with one or two lines on stderr and no traceback, nothing on stdout when the
command refused; 0 and 1 keep their meaning. Inputs are generated here (no fixture
larger than a few KB in the repository).
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from replay.test_fast_replay import FMT, detector_template

from support import cli_env
from vpcwatch.traffic import generate

VPCWATCH = str(Path(sys.executable).parent / "vpcwatch")
PATTERN = "[version, account_id, interface_id, srcaddr, dstaddr, srcport, dstport = 22, ...]"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("inputs")
    lines = list(generate(FMT, minutes=20, seed=5, incidents={5: ("ssh-scan",)}))
    (folder / "template.json").write_text(json.dumps(detector_template()))
    (folder / "flows.log").write_text("\n".join(lines) + "\n")
    (folder / "empty.log").write_text("")
    (folder / "a-directory").mkdir()
    packed = gzip.compress(("\n".join(lines) + "\n").encode())
    (folder / "flows.log.gz").write_bytes(packed)
    (folder / "archive" / "2023" / "11").mkdir(parents=True)
    (folder / "archive" / "2023" / "11" / "flows.log.gz").write_bytes(packed)
    (folder / "archive" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (folder / "truncated.log.gz").write_bytes(packed[: len(packed) // 2])
    (folder / "corrupt.log.gz").write_bytes(b"\x1f\x8b" + b"\x00" * 64)
    latin = [*lines[:50], lines[50].replace("ACCEPT", "ACCéPT"), *lines[51:100]]
    (folder / "latin1.log").write_bytes(("\n".join(latin) + "\n").encode("latin-1"))
    ragged = lines[:100] + [" ".join(line.split()[:-3]) for line in lines[100:110]] + lines[110:]
    (folder / "ragged.log").write_text("\n".join(ragged) + "\n")
    other = generate(FMT.default(), minutes=2, seed=1)
    (folder / "other-format.log").write_text("\n".join(other) + "\n")
    (folder / "not-json.json").write_text("{ this is not json")
    (folder / "list.json").write_text("[1, 2, 3]")
    (folder / "no-filters.json").write_text(json.dumps({"Resources": {
        "FlowLog": {"Type": "AWS::EC2::FlowLog", "Properties": {"LogFormat": FMT.log_format}}
    }}))  # fmt: skip
    no_alarms = detector_template()
    no_alarms["Resources"] = {
        k: v for k, v in no_alarms["Resources"].items() if v["Type"] != "AWS::CloudWatch::Alarm"
    }
    (folder / "no-alarms.json").write_text(json.dumps(no_alarms))
    (folder / "prices-list.json").write_text("[]")
    (folder / "prices-negative.json").write_text('{"standard_alarm_per_month": -1}')
    (folder / "prices-tiers.json").write_text('{"s3_delivery": [[10, "cheap"]]}')
    return folder


def run(folder: Path, *argv: str, stdin: str = ""):
    return subprocess.run(
        [VPCWATCH, *argv], cwd=folder, env=cli_env(), capture_output=True, text=True,
        input=stdin, timeout=120,
    )  # fmt: skip


REFUSED = [
    # test-pattern
    ("test-pattern", PATTERN, "missing.log"),
    ("test-pattern", PATTERN, "a-directory"),
    ("test-pattern", PATTERN, "truncated.log.gz"),
    ("test-pattern", PATTERN, "corrupt.log.gz"),
    ("test-pattern", PATTERN, "latin1.log", "--strict"),
    ("test-pattern", "[a, ..., b, ...]", "flows.log"),
    # sample
    ("sample", "--minutes", "0"),
    ("sample", "--minutes", "many"),
    ("sample", "--incident", "tsunami@3"),
    ("sample", "--minutes", "10", "--incident", "ssh-scan@99"),
    ("sample", "--incident", "ssh-scan@later"),
    ("sample", "--start", "-5"),
    ("sample", "--log-format", "${nope}"),
    ("sample", "--template", "missing.json"),
    ("sample", "--template", "list.json"),
    # replay
    ("replay", "--template", "missing.json", "flows.log"),
    ("replay", "--template", "a-directory", "flows.log"),
    ("replay", "--template", "not-json.json", "flows.log"),
    ("replay", "--template", "list.json", "flows.log"),
    ("replay", "--template", "no-filters.json", "flows.log"),
    ("replay", "--template", "no-alarms.json", "flows.log"),
    ("replay", "--template", "template.json", "missing.log"),
    ("replay", "--template", "template.json", "a-directory"),
    ("replay", "--template", "template.json", "truncated.log.gz"),
    ("replay", "--template", "template.json", "corrupt.log.gz"),
    ("replay", "--template", "template.json", "other-format.log"),
    ("replay", "--template", "template.json", "latin1.log", "--strict"),
    ("replay", "--template", "template.json", "ragged.log", "--strict"),
    ("replay", "--template", "template.json", "flows.log", "--from", "2023-12-01",
     "--to", "2023-11-01"),
    ("replay", "--template", "template.json", "flows.log", "--from", "yesterday"),
    ("replay", "--template", "template.json", "flows.log", "--plot", "no/such/dir/a.png"),
    ("replay", "--template", "template.json", "flows.log", "--plot", "a-directory"),
    ("replay", "--template", "template.json", "flows.log", "--format", "xml"),
    # cost
    ("cost", "--template", "template.json"),
    ("cost", "--template", "template.json", "--gb-per-day", "nan"),
    ("cost", "--template", "template.json", "--gb-per-day", "inf"),
    ("cost", "--template", "template.json", "--gb-per-day", "-1"),
    ("cost", "--template", "template.json", "--gb-per-day", "1", "--reject-share", "2"),
    ("cost", "--template", "template.json", "--gb-per-day", "1", "--reject-share", "nan"),
    ("cost", "--template", "template.json", "--gb-per-day", "1", "--prices", "missing.json"),
    ("cost", "--template", "template.json", "--gb-per-day", "1", "--prices", "not-json.json"),
    ("cost", "--template", "template.json", "--gb-per-day", "1", "--prices", "prices-list.json"),
    ("cost", "--template", "template.json", "--gb-per-day", "1",
     "--prices", "prices-negative.json"),
    ("cost", "--template", "template.json", "--gb-per-day", "1", "--prices", "prices-tiers.json"),
    ("cost", "--template", "not-json.json", "--gb-per-day", "1"),
    ("cost", "--template", "list.json", "--gb-per-day", "1"),
    ("cost", "--template", "template.json", "--sample", "missing.log"),
    ("cost", "--template", "template.json", "--sample", "empty.log"),
    # the command itself
    ("no-such-command",),
    (),
]  # fmt: skip


@pytest.mark.parametrize("argv", REFUSED, ids=lambda argv: " ".join(argv)[:70])
def test_bad_input_exits_2_with_one_clear_line(inputs, argv):
    result = run(inputs, *argv)
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 2, result.stderr
    assert result.stdout == ""  # nothing written when the command refused
    assert not (inputs / "no").exists()


@pytest.mark.parametrize(
    ("argv", "code", "note"),
    [
        (("test-pattern", PATTERN, "flows.log"), 0, None),
        (("test-pattern", PATTERN, "flows.log.gz"), 0, None),
        (("test-pattern", PATTERN, "empty.log"), 1, None),
        (("test-pattern", "[a = nothing-like-this]", "flows.log"), 1, None),
        (("test-pattern", PATTERN, "latin1.log"), 0, "1 bytes were not UTF-8"),
        (("replay", "--template", "template.json", "empty.log"), 0, None),
        (("replay", "--template", "template.json", "flows.log.gz"), 0, None),
        (("replay", "--template", "template.json", "archive"), 0, None),
        (("tune", "--template", "template.json", "archive"), 0, None),
    ],
)
def test_good_input_keeps_exit_0_and_1(inputs, argv, code, note):
    result = run(inputs, *argv)
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    if note is not None:
        assert note in result.stderr


def test_unreadable_lines_are_counted_and_reported(inputs):
    text = run(inputs, "replay", "--template", "template.json", "ragged.log")
    assert text.returncode == 0
    assert "10 lines are not records of the stack's format" in text.stdout
    assert "ragged.log:101" in text.stdout
    report = json.loads(run(inputs, "replay", "--template", "template.json", "ragged.log",
                            "--format", "json").stdout)  # fmt: skip
    assert report["malformed"]["count"] == 10
    assert report["malformed"]["first"][0].endswith("ragged.log:101")
    assert len(report["malformed"]["first"]) == 5
    latin = json.loads(run(inputs, "replay", "--template", "template.json", "latin1.log",
                           "--format", "json").stdout)  # fmt: skip
    assert latin["replacedBytes"] == 1


def test_a_folder_replays_as_the_files_under_it(inputs):
    """What a user passes for an S3 archive too large for a command line."""
    folder, file = (run(inputs, "replay", "--template", "template.json", name, "--format",
                        "json") for name in ("archive", "flows.log.gz"))  # fmt: skip
    assert folder.returncode == file.returncode == 0
    report, alone = json.loads(folder.stdout), json.loads(file.stdout)
    hidden = {"count": 1, "first": [str(Path("archive") / ".DS_Store")]}
    assert (report.pop("hiddenNotRead"), alone.pop("hiddenNotRead")) == (
        hidden, {"count": 0, "first": []})  # fmt: skip
    assert report == alone
    said = "1 names starting with '.' under the folders given were not read"
    assert said in run(inputs, "replay", "--template", "template.json", "archive").stdout
    assert said in run(inputs, "tune", "--template", "template.json", "archive").stderr


def test_the_fast_and_reference_paths_count_the_same_unreadable_lines(inputs):
    from vpcwatch.replay.files import replay_files
    from vpcwatch.replay.template import load_plan

    plan = load_plan(inputs / "template.json")
    fast, slow = (replay_files(plan, [inputs / "ragged.log"], fast=f) for f in (True, False))
    assert fast.input.malformed == slow.input.malformed == 10
    assert fast.input.malformed_at == slow.input.malformed_at
    assert fast.datapoints == slow.datapoints


@pytest.mark.parametrize("command", [("sample", "--minutes", "600"),
                                     ("test-pattern", "ERROR", "big.log")])  # fmt: skip
def test_a_closed_stdout_ends_quietly(inputs, command):
    (inputs / "big.log").write_text("ERROR line\n" * 200_000)
    process = subprocess.Popen(
        [VPCWATCH, *command], cwd=inputs, env=cli_env(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout.readline()
    process.stdout.close()  # what `| head -1` does
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0 and b"Traceback" not in stderr and stderr == b""


def test_version_and_no_progress_bar_in_a_redirected_log(inputs):
    assert run(inputs, "--version").stdout.strip().startswith("vpcwatch ")
    result = run(inputs, "replay", "--template", "template.json", "flows.log")
    assert "\r" not in result.stderr and "\r" not in result.stdout


@pytest.mark.parametrize(
    ("strict", "code", "said"),
    [((), 0, "1 bytes were not UTF-8"), (("--strict",), 2, "stdin:51: bytes that are not UTF-8")],
)
def test_stdin_counts_and_refuses_bytes_that_are_not_utf8_like_a_file(inputs, strict, code, said):
    result = subprocess.run(
        [VPCWATCH, "test-pattern", PATTERN, "-", *strict], cwd=inputs, env=cli_env(),
        input=(inputs / "latin1.log").read_bytes(), capture_output=True, timeout=120,
    )  # fmt: skip
    stderr = result.stderr.decode()
    assert result.returncode == code, stderr
    assert "Traceback" not in stderr
    assert said in stderr
