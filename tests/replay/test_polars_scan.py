"""Replay's polars scan gives what the reference path gives, and hands DuckDB what it
cannot read exactly (the equivalence tests of test_fast_replay run on both engines)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_fast_replay import FMT, detector_template

from vpcwatch.replay import fast, polars_scan
from vpcwatch.replay.constant_metrics import constant_metrics
from vpcwatch.replay.files import replay_files
from vpcwatch.replay.template import load_plan
from vpcwatch.traffic import generate

pytest.importorskip("polars")

INCIDENTS = {3: ("ssh-scan",), 6: ("exfiltration", "skipdata"), 8: ("port-scan",)}


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    path = tmp_path_factory.mktemp("plan") / "template.json"
    path.write_text(json.dumps(detector_template()))
    return load_plan(path)


def records(minutes: int = 10, seed: int = 5) -> list[str]:
    return list(generate(FMT, minutes=minutes, seed=seed, incidents=INCIDENTS))


def assert_same(plan, paths, **window):
    fast_result = replay_files(plan, paths, **window)
    slow = replay_files(plan, paths, fast=False, **window)
    assert fast_result.events == slow.events
    assert fast_result.input.malformed == slow.input.malformed
    assert fast_result.input.malformed_at == slow.input.malformed_at
    assert fast_result.datapoints == slow.datapoints
    assert fast_result.transitions == slow.transitions
    alarms = [(t.alarm, t.time) for t in slow.transitions if t.new.value == "ALARM"]
    assert [fast_result.contributors.get(key) for key in alarms] == [
        slow.contributors.get(key) for key in alarms
    ]
    return fast_result


@pytest.mark.parametrize(
    ("change", "gzipped", "expected"),
    [
        ("a field too many", False, ["polars", "duckdb"]),
        ("a field too many", True, ["polars", "duckdb"]),
        ("a field short", False, ["polars declined", "duckdb"]),
    ],
)
def test_a_line_not_of_the_formats_width_is_left_to_duckdb(
    tmp_path, plan, scans, change, gzipped, expected
):
    """Polars reads the first fields of a longer line as a record and drops the rest
    without a word; the byte check's field count tells, and DuckDB scans instead. A
    shorter line polars sets aside itself. Either way the line is malformed, as the
    reference path says."""
    lines = records()
    if change == "a field too many":
        lines[40] += " 443"
    else:
        lines[40] = lines[40].rsplit(" ", 1)[0]
    if gzipped:
        paths = gzip_deliveries(tmp_path, lines, 1)
    else:
        paths = [tmp_path / "flows.log"]
        paths[0].write_text("\n".join(lines) + "\n")
    result = assert_same(plan, paths)
    assert scans == expected
    assert result.input.malformed == 1


def test_plain_deliveries_with_header_lines_are_one_polars_scan(tmp_path, plan, scans):
    """S3 delivery's header line is set aside, once per file, not read as a record; a
    file's last line without a line end is still its own."""
    header = " ".join(field.aws_name for field in FMT.fields)
    lines = records(minutes=12)
    paths = []
    for number, start in enumerate(range(0, len(lines), len(lines) // 3 + 1)):
        path = tmp_path / f"part{number}.log"
        text = "\n".join([header, *lines[start : start + len(lines) // 3 + 1]])
        path.write_text(text if number == 1 else text + "\n")
        paths.append(path)
    result = assert_same(plan, paths)
    assert scans == ["polars"]
    assert result.events == len(lines)


def test_from_and_to_leave_out_the_records_outside(tmp_path, plan, scans):
    lines = records(minutes=12)
    path = tmp_path / "flows.log"
    path.write_text("\n".join(lines) + "\n")
    starts = sorted(int(line.split(" ")[FMT.index("start")]) for line in lines)
    window = {"start": starts[len(starts) // 4] + 7, "end": starts[3 * len(starts) // 4] - 5}
    result = assert_same(plan, [path], **window)
    assert scans == ["polars"]
    assert 0 < result.events < len(lines)


def test_a_template_without_rules_needs_no_contributions(tmp_path, scans):
    template = detector_template()
    resources = template["Resources"]
    rules = {name for name, r in resources.items() if r["Type"] == "AWS::CloudWatch::InsightRule"}
    for name in rules:
        del resources[name]
        del resources[name.removesuffix("Rule") + "Alarm"]
    (tmp_path / "template.json").write_text(json.dumps(template))
    plan = load_plan(tmp_path / "template.json")
    assert not plan.insights
    path = tmp_path / "flows.log"
    path.write_text("\n".join(records()) + "\n")
    assert_same(plan, [path])
    assert scans == ["polars"]


def test_polars_reads_small_chunks_unless_the_environment_says(tmp_path, plan, monkeypatch):
    path = tmp_path / "flows.log"
    path.write_text("\n".join(records(minutes=2)) + "\n")
    monkeypatch.delenv("POLARS_CSV_CHUNK_SIZE", raising=False)
    polars_scan.scan([path], plan, None, None, tmp_path / "side.parquet")
    assert os.environ["POLARS_CSV_CHUNK_SIZE"] == str(polars_scan.CSV_CHUNK_BYTES)
    monkeypatch.setenv("POLARS_CSV_CHUNK_SIZE", "1048576")
    polars_scan.scan([path], plan, None, None, tmp_path / "side.parquet")
    assert os.environ["POLARS_CSV_CHUNK_SIZE"] == "1048576"


def test_progress_beside_polars_is_the_share_of_bytes_checked(tmp_path):
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    first.write_bytes(b"x" * 300)
    second.write_bytes(b"y" * 100)
    shares: list[float] = []
    count = fast._shares([first, second], shares.append)
    for chunk in (b"x" * 300, b"y" * 50, b"y" * 50):
        count(chunk)
    assert shares == [0.75, 0.875, 1.0]
    assert fast._shares([first], None) is None


@pytest.fixture
def stretches_read(monkeypatch) -> list:
    """Each lookup of top records by the stretches of a file (DuckDB's way)."""
    read = []
    original = fast.FileScan._from_stretches
    monkeypatch.setattr(fast.FileScan, "_from_stretches", lambda self, *args: (
        read.append(args), original(self, *args))[1])  # fmt: skip
    return read


@pytest.mark.parametrize("chunk", [None, 700])
@pytest.mark.parametrize("shuffled", [False, True])
@pytest.mark.parametrize("window", [False, True])
def test_top_records_come_from_the_rows_polars_kept(
    tmp_path, plan, scans, monkeypatch, window, shuffled, stretches_read, chunk
):
    """In time order or not, the rows polars wrote beside the scan name the lines
    (numbered across files, their header lines included), read in one pass that skips
    to the blocks holding them (small blocks: many skipped); no stretch of the files is
    scanned again."""
    import random

    from vpcwatch.filterpattern import fast as byte_check

    if chunk is not None:  # blocks of half a chunk
        monkeypatch.setattr(byte_check, "CHUNK_BYTES", chunk)
        monkeypatch.setattr(byte_check, "INDEX_BYTES", chunk // 2)

    header = " ".join(field.aws_name for field in FMT.fields)
    lines = records(minutes=12)
    if shuffled:
        random.Random(3).shuffle(lines)
    paths = []
    for number in range(3):
        path = tmp_path / f"part{number}.log"
        path.write_text("\n".join([header, *lines[number::3]]) + ("\n" if number else ""))
        paths.append(path)
    calls = []
    first_records = polars_scan.first_records
    monkeypatch.setattr(polars_scan, "first_records", lambda *args: (
        calls.append(args[2]), first_records(*args))[1])  # fmt: skip
    starts = sorted(int(line.split(" ")[FMT.index("start")]) for line in lines)
    bounds = {"start": starts[len(starts) // 3] + 7, "end": starts[-5] - 5} if window else {}
    read_again = []  # DuckDB's read of the whole files, were polars' lines not found
    records_sql = fast._Queries.records
    monkeypatch.setattr(fast._Queries, "records", lambda self, *args: (
        read_again.append(args), records_sql(self, *args))[1])  # fmt: skip
    assert_same(plan, paths, **bounds)
    assert scans == ["polars"] and calls and not stretches_read and not read_again


@pytest.mark.parametrize("moved", ["gone", "another record"])
def test_a_line_no_longer_where_polars_read_it_sends_the_lookup_to_duckdb(
    tmp_path, plan, scans, monkeypatch, moved
):
    """The files changed between the scan and the lookup: a line polars named is gone,
    or holds a record of another time. DuckDB reads the files again."""
    lines = records(minutes=12)
    lines.reverse()  # out of time order: the whole file is looked up
    path = tmp_path / "flows.log"
    path.write_text("\n".join(lines) + "\n")
    lines_at = polars_scan.lines_at
    if moved == "gone":
        monkeypatch.setattr(polars_scan, "lines_at", lambda paths, numbers, *rest: {})
    else:
        monkeypatch.setattr(polars_scan, "lines_at", lambda paths, numbers, *rest: {
            number: lines[(number + 7) % len(lines)]
            for number in lines_at(paths, numbers, *rest)})  # fmt: skip
    asked = []
    records_sql = fast._Queries.records
    monkeypatch.setattr(fast._Queries, "records", lambda self, *args: (
        asked.append(args), records_sql(self, *args))[1])  # fmt: skip
    assert_same(plan, [path])
    assert scans == ["polars"] and asked


@given(
    files=st.lists(st.lists(st.text("ab ", max_size=6), max_size=6), min_size=1, max_size=4),
    ends=st.lists(st.booleans(), min_size=4, max_size=4),
    chunk=st.integers(1, 9),
    gzipped=st.booleans(),
    data=st.data(),
)
def test_lines_at_are_the_lines_of_the_files_read_one_after_another(
    tmp_path_factory, files, ends, chunk, gzipped, data
):
    """However the chunks cut them, plain or gzip."""
    import gzip

    from vpcwatch.filterpattern import fast as byte_check

    folder = tmp_path_factory.mktemp("lines")
    every, paths = [], []
    for number, lines in enumerate(files):
        lines = [line for line in lines if line]  # a blank line is never a record here
        text = ("\n".join(lines) + ("\n" if lines and ends[number] else "")).encode()
        path = folder / f"{number}.log"
        path.write_bytes(gzip.compress(text) if gzipped else text)
        paths.append(path)
        every += lines
    numbers = sorted(data.draw(st.sets(st.integers(0, max(len(every) - 1, 0)))) if every else [])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(byte_check, "CHUNK_BYTES", chunk)
        found = polars_scan.lines_at(paths, numbers, gzipped)
    assert found == {n: every[n] for n in numbers}


@settings(max_examples=200, deadline=None)
@given(
    width=st.integers(1, 3),
    files=st.lists(st.lists(st.lists(st.text("ab", min_size=1, max_size=4), min_size=3,
                                     max_size=3), max_size=8), min_size=1, max_size=4),
    ends=st.lists(st.booleans(), min_size=4, max_size=4),
    chunk=st.integers(1, 12),
    block=st.integers(1, 12),
    data=st.data(),
)  # fmt: skip
def test_lines_at_by_the_byte_checks_counts_skip_to_the_blocks_they_need(
    tmp_path_factory, width, files, ends, chunk, block, data
):
    """Plain files whose every line has ``width`` fields: with the blocks' line counts
    the byte check gives (blocks of a chunk, or the chunk), the same lines, and only
    blocks that hold part of a wanted line (or a file's last) are read."""
    from vpcwatch.filterpattern import fast as byte_check

    folder = tmp_path_factory.mktemp("indexed")
    every, paths = [], []
    for number, lines in enumerate(files):
        lines = [" ".join(fields[:width]) for fields in lines]
        text = ("\n".join(lines) + ("\n" if lines and ends[number] else "")).encode()
        path = folder / f"{number}.log"
        path.write_bytes(text)
        paths.append(path)
        every += lines
    numbers = sorted(data.draw(st.sets(st.integers(0, max(len(every) - 1, 0)))) if every else [])
    read = set()  # (file, chunk)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(byte_check, "CHUNK_BYTES", chunk)
        patch.setattr(byte_check, "INDEX_BYTES", block)
        counted = byte_check.FieldCount()
        assert all(byte_check.file_is_regular(path, fields=counted) for path in paths)
        blocks_toward = polars_scan._blocks_toward

        def spy(path, *args):
            for piece in blocks_toward(path, *args):
                read.add((paths.index(path), piece[0]))
                yield piece

        patch.setattr(polars_scan, "_blocks_toward", spy)
        index = counted.line_index(width)
        found = polars_scan.lines_at(paths, numbers, False, index)
    assert found == {n: every[n] for n in numbers}
    assert index.block_bytes == (block if chunk % block == 0 else chunk)
    chunk = index.block_bytes
    # Needed: from the block of the line end before a wanted line to that of its end.
    needed, first = set(), 0
    for number, path in enumerate(paths):
        text = path.read_bytes()
        lines = text.count(b"\n") + (text[-1:] not in (b"", b"\n"))
        starts = [0] + [at + 1 for at, byte in enumerate(text) if byte == 10]
        for line in range(lines):
            if first + line in numbers:
                end = text.find(b"\n", starts[line])
                end = len(text) if end < 0 else end
                needed.update((number, k) for k in range(
                    (starts[line] - 1) // chunk if line else 0, end // chunk + 1))  # fmt: skip
        needed.add((number, (len(text) - 1) // chunk))  # a file's last: read once past it
        first += lines
    assert read <= needed


def gzip_deliveries(tmp_path, lines, parts, *, last_line_end=True, shuffled=False):
    """``lines`` as gzip files with S3's header line each (the middle one without a final
    line end unless ``last_line_end``)."""
    import gzip
    import random

    header = " ".join(field.aws_name for field in FMT.fields)
    lines = list(lines)
    if shuffled:
        random.Random(5).shuffle(lines)
    paths = []
    for number in range(parts):
        part = lines[number * len(lines) // parts : (number + 1) * len(lines) // parts]
        text = "\n".join([header, *part])
        text += "" if number == parts // 2 and not last_line_end else "\n"
        path = tmp_path / f"delivery-{number}.log.gz"
        path.write_bytes(gzip.compress(text.encode()))
        paths.append(path)
    return paths


@pytest.mark.parametrize("part_bytes", [fast.PART_BYTES, 20_000])
@pytest.mark.parametrize("shuffled", [False, True])
def test_gzip_deliveries_are_scanned_by_polars_through_decompressed_parts(
    tmp_path, plan, scans, number_reads, monkeypatch, shuffled, part_bytes, stretches_read
):
    """The group decompressed into parts (one, or with small parts, several, cut at line
    ends: a part may end inside a file or at its end), each scanned by polars and
    removed once scanned, the lines numbered across them; the top records are read by
    line number from the gzip files themselves."""
    import tempfile

    lines = records(minutes=12)
    paths = gzip_deliveries(tmp_path, lines, 5, last_line_end=False, shuffled=shuffled)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "temporary"))
    monkeypatch.setattr(fast, "PART_BYTES", part_bytes)
    (tmp_path / "temporary").mkdir()
    found = []  # the by-number lookups that found their lines (numbered across parts)
    first_records = polars_scan.first_records
    monkeypatch.setattr(polars_scan, "first_records", lambda *args: (
        first_records(*args), found.append(args[2]))[0])  # fmt: skip
    result = assert_same(plan, paths)
    assert scans == ["polars"]
    expected_parts = 1 if part_bytes == fast.PART_BYTES else len("\n".join(lines)) // part_bytes
    assert len(number_reads) >= expected_parts
    assert found and not stretches_read
    assert result.events == len(lines)
    assert not list((tmp_path / "temporary").rglob("part-*.log"))


def test_gzip_is_left_to_duckdb_without_room_for_its_parts(tmp_path, plan, scans, monkeypatch):
    monkeypatch.setattr(fast, "DECOMPRESSED_ROOM", 1e12)
    assert_same(plan, gzip_deliveries(tmp_path, records(), 3))
    assert scans == ["duckdb"]


@pytest.mark.parametrize("at", ["the first part", "a later part"])
def test_gzip_with_irregular_bytes_is_checked_line_by_line_by_duckdb(
    tmp_path, plan, scans, number_reads, monkeypatch, at
):
    """The check refuses the bytes before the part holding them is scanned; parts
    before it may have been: their tables are dropped, and DuckDB checks every line."""
    lines = records()
    # Past the records the lookup reads: a line the check refuses is read by the
    # reference path, whose top records the lookup's join (a case of its own).
    where = 20 if at == "the first part" else len(lines) - 5
    lines[where] = lines[where].replace(" ", "  ", 1)
    monkeypatch.setattr(fast, "PART_BYTES", 20_000)
    result = assert_same(plan, gzip_deliveries(tmp_path, lines, 1))
    assert scans == ["polars declined", "duckdb"]
    if at == "a later part":  # parts scanned before the check refused: dropped
        assert number_reads
    assert result.input.malformed == 0


@pytest.mark.parametrize("failing", [0, 2])
def test_gzip_parts_that_cannot_be_written_are_left_to_duckdb(
    tmp_path, plan, scans, number_reads, monkeypatch, failing
):
    """A full disk while decompressing (the size in the trailer understated), in the
    first part or a later one: DuckDB reads."""
    original = Path.open

    def full(self, mode="r", *args, **kwargs):
        if self.name == f"part-{failing}.log":
            raise OSError(28, "No space left on device")
        return original(self, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", full)
    monkeypatch.setattr(fast, "PART_BYTES", 20_000)
    assert_same(plan, gzip_deliveries(tmp_path, records(), 2))
    assert scans == ["polars declined", "duckdb"]
    assert (number_reads == []) == (failing == 0)


@pytest.fixture
def number_reads(monkeypatch) -> list[bool]:
    """Each read of the polars scan: True when it read numbers by the integer cast."""
    reads: list[bool] = []
    original = polars_scan._scan_once

    def spy(paths, table, *args):
        reads.append(table.compiler.integers)
        return original(paths, table, *args)

    monkeypatch.setattr(polars_scan, "_scan_once", spy)
    return reads


@pytest.mark.parametrize(
    ("rewrite", "expected"),
    [
        ("nothing", [True]),
        ("bytes as decimals", [True, False]),
        ("a port with a sign", [True]),
        ("an integer past 64 bits", [True, False]),
    ],
)
def test_numbers_are_read_as_integers_unless_a_field_holds_another_number(
    tmp_path, plan, scans, number_reads, rewrite, expected
):
    """The integer cast reads exactly the grammar's integers; a field the patterns read
    as a number that holds another number ("150000.0", a 20-digit integer) sends the
    scan round again with the grammar's regex, and the results are the reference's.
    Header lines and "-" fields are not numbers the cast misreads."""
    lines = [line.split(" ") for line in records()]
    position, port = FMT.index("bytes"), FMT.index("dstport")
    for fields in lines:
        if rewrite == "bytes as decimals" and fields[position] != "-":
            fields[position] = f"{int(fields[position])}.0"
        elif rewrite == "a port with a sign" and fields[port] in ("22", "3389"):
            fields[port] = "+" + fields[port]
    if rewrite == "an integer past 64 bits":
        lines[7][position] = "9" * 20
    header = " ".join(field.aws_name for field in FMT.fields)
    path = tmp_path / "flows.log"
    path.write_text("\n".join([header, *(" ".join(fields) for fields in lines)]) + "\n")
    assert_same(plan, [path])
    assert scans == ["polars"]
    assert number_reads == expected


def flow_files(tmp_path, gzipped: bool) -> list[Path]:
    """:func:`records` as two gzip deliveries, or as one plain file."""
    if gzipped:
        return gzip_deliveries(tmp_path, records(), 2)
    path = tmp_path / "flows.log"
    path.write_text("\n".join(records()) + "\n")
    return [path]


@pytest.mark.parametrize("gzipped", [False, True])
def test_a_grouping_that_fails_beside_the_alarms_leaves_the_contributions_to_duckdb(
    tmp_path, plan, scans, monkeypatch, gzipped
):
    """The rules' rows polars wrote are grouped in a thread while the alarms start; if
    that fails (a side file gone, say), DuckDB scans the files (not the gzip files'
    decompressed parts, gone by then) for the contributions, and the results are the
    reference path's."""

    def fail(side, plan, folder, codes):
        raise OSError(2, "No such file or directory")

    monkeypatch.setattr(fast, "_group_contributions", fail)
    paths = flow_files(tmp_path, gzipped)
    result = assert_same(plan, paths)
    assert scans == ["polars", "duckdb"]
    assert any(t.alarm in {rule.name for rule in plan.insights} for t in result.transitions)


@pytest.mark.parametrize("gzipped", [False, True])
def test_contributors_are_grouped_by_polars_numbers_or_else_by_duckdb(
    tmp_path, plan, scans, monkeypatch, gzipped
):
    """The side files hold each contributor as polars numbered it (one numbering for
    every part of a scan), and the grouping names them back; if polars lost the numbering
    (an empty one in its place here), DuckDB scans the files for the contributions, and
    the results are the reference path's either way."""
    import polars as pl

    paths = flow_files(tmp_path, gzipped)
    result = assert_same(plan, paths)
    assert scans == ["polars"]
    assert any(t.alarm in {rule.name for rule in plan.insights} for t in result.transitions)

    scans.clear()
    names = polars_scan.ContributorCodes.names

    def lost(self, codes):
        self._categories = pl.Categories.random()  # as if polars had dropped it
        return names(self, codes)

    monkeypatch.setattr(polars_scan.ContributorCodes, "names", lost)
    assert_same(plan, paths)
    assert scans == ["polars", "duckdb"]


def test_contributor_minute_pairs_beyond_one_key_are_grouped_by_duckdb(
    tmp_path, plan, scans, monkeypatch
):
    """A rule's (contributor, minute) pairs too many for one 64-bit key (starts spread
    over more than 2**63 minutes' worth of pairs): the grouping refuses them and DuckDB
    scans the files for the contributions; the results are the reference path's."""
    monkeypatch.setattr(fast, "GROUP_KEY_LIMIT", 2)
    assert_same(plan, flow_files(tmp_path, False))
    assert scans == ["polars", "duckdb"]


def test_freed_memory_goes_back_between_the_phases(tmp_path, plan, monkeypatch):
    """What the metric alarms, the lookup and the grouping freed is handed back to the
    system before the next phase takes its own (glibc keeps it otherwise): around the
    top records' lookup, and when the grouping is done."""
    from vpcwatch.replay import files, memory

    calls = []
    for module, place in ((files, "files"), (fast, "grouping")):
        monkeypatch.setattr(module, "release_free_memory", lambda place=place: calls.append(place))
    lookup = files._top_records
    monkeypatch.setattr(files, "_top_records", lambda *args: (
        calls.append("lookup"), lookup(*args))[1])  # fmt: skip
    replay_files(plan, flow_files(tmp_path, False))
    assert calls.count("grouping") == 1
    assert [c for c in calls if c != "grouping"] == ["files", "lookup", "files"]

    memory.release_free_memory()  # the C library's own, where it has one
    trimmed = []
    monkeypatch.setattr(memory, "_malloc_trim", lambda: trimmed.append)
    memory.release_free_memory()
    monkeypatch.setattr(memory, "_malloc_trim", lambda: None)  # no malloc_trim: nothing
    memory.release_free_memory()
    assert trimmed == [0]


def test_a_code_polars_did_not_give_is_refused():
    import polars as pl

    from vpcwatch.filterpattern.polars_engine import EngineRefused

    codes = polars_scan.ContributorCodes()
    pl.Series(["b", "a", "b"]).cast(codes.dtype)
    assert codes.names(np.array([1, 0, 1])) == ["a", "b", "a"]
    with pytest.raises(EngineRefused, match="beyond the 2"):
        codes.names(np.array([0, 2]))


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.one_of(st.integers(0, 30), st.integers(-(2**50), 2**50)),  # 32- or 64-bit keys
            st.integers(0, 12),
            st.integers(1, 5),
        ),
        max_size=80,
    ),
    names=st.lists(
        st.text("ab.:-\x1f0", min_size=1, max_size=4), min_size=13, max_size=13, unique=True
    ),
    summed=st.booleans(),
)
def test_numbered_contributors_are_grouped_as_duckdb_groups_their_names(
    tmp_path_factory, rows, names, summed
):
    """The grouping of a side file's (minute, number[, value]) rows gives what
    :func:`fast._fetch_contributions` gives for the same rows by name: each contributor
    once in DuckDB's order of names, the rows by contributor, then minute, counted or
    summed."""
    import duckdb

    class Numbering:
        def names(self, codes):
            return [names[code] for code in codes.tolist()]

    class Rule:
        name, value_of = "rule", (9 if summed else None)

    class Plan:
        insights = (Rule(),)

    side = tmp_path_factory.mktemp("side") / "side-0.parquet"
    with duckdb.connect() as connection:
        connection.execute("CREATE TABLE t (slot BIGINT, k0 UINTEGER, v0 DOUBLE, k VARCHAR)")
        for minute, code, value in rows:
            connection.execute("INSERT INTO t VALUES (?, ?, ?, ?)",
                               [60 * minute, code, value, names[code]])  # fmt: skip
        connection.execute(f"COPY (SELECT slot, k0, v0 FROM t) TO '{side}' (FORMAT PARQUET)")
        amount = "sum(v0)" if summed else "count(*)"
        expected = fast._fetch_contributions(
            connection, f"SELECT slot, k, {amount} FROM t GROUP BY ALL"
        )
    got = fast._group_contributions([side], Plan(), None, Numbering())["rule"]
    assert list(got[0]) == list(expected[0])
    for ours, theirs in zip(got[1:], expected[1:], strict=True):
        assert np.array_equal(np.asarray(ours), np.asarray(theirs))


@pytest.mark.parametrize(
    ("value", "default"),
    [("1", 0), ("1", None), ("5", 2), ("2", 7), ("-3", None), ("3", -1), ("0.5", 0)],
)
def test_statistics_of_a_constant_value_are_those_of_every_record(
    tmp_path, scan_engine, value, default
):
    """A metric of a constant value (and default) gets its per-minute total, count,
    minimum and maximum from counts of its matches and delivered records (by polars or
    DuckDB, in text or Parquet); a value that is not a small integer (0.5) is summed as
    before. Either way the reference path's."""
    from vpcwatch.replay.files import aggregate_files
    from vpcwatch.traffic import write_archive

    template = detector_template()
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Logs::MetricFilter":
            continue
        transformation = resource["Properties"]["MetricTransformations"][0]
        if transformation["MetricValue"] == "1":
            transformation["MetricValue"] = value
            transformation.pop("DefaultValue", None)
            if default is not None:
                transformation["DefaultValue"] = default
    (tmp_path / "template.json").write_text(json.dumps(template))
    plan = load_plan(tmp_path / "template.json")
    derived = constant_metrics(plan)
    assert len(derived) == 1 + (value != "0.5") * sum(
        spec.pattern is not None and spec.value == value for spec in plan.metrics
    )
    path = tmp_path / "flows.log"
    lines = records(minutes=12)
    path.write_text("\n".join(lines) + "\n")
    reference = aggregate_files(plan, [path], fast=False)[0]
    parquet = write_archive(tmp_path / "parquet", FMT, {("123456789012", "us-east-1"): lines},
                            file_format="parquet")  # fmt: skip
    for files in ([path], parquet):
        quick = aggregate_files(plan, files)[0]
        for spec in plan.metrics:
            got, expected = quick.series(spec.key), reference.series(spec.key)
            for name in ("slots", "total", "count", "minimum", "maximum"):
                np.testing.assert_array_equal(getattr(got, name), getattr(expected, name), name)
    assert scan_engine.used == [scan_engine.asked, "duckdb"]  # the text, then Parquet
