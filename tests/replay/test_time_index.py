"""The sampled time index: which stretches of a file the top-records lookup reads, and
that a wrong hint costs a second read, never a record."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_fast_replay import FMT, detector_template

from vpcwatch.replay import fast, time_index
from vpcwatch.replay.files import replay_files
from vpcwatch.replay.template import load_plan
from vpcwatch.replay.time_index import StartSampler, TimeIndex, copy_ranges, ranges_of_files
from vpcwatch.traffic import generate

START = FMT.index("start")


def record(start: int) -> str:
    """One all-fields record starting at ``start``, padded so lines differ in length."""
    fields = ["x"] * len(FMT)
    fields[START] = str(start)
    fields[0] = "y" * (start % 7 + 1)
    return " ".join(fields)


def write(path, starts, header: str | None = None) -> None:
    lines = ([header] if header is not None else []) + [record(s) for s in starts]
    path.write_text("\n".join(lines) + "\n")


def minutes_in(path, ranges) -> list[int]:
    """The start of every record inside ``ranges`` of ``path``."""
    data = path.read_bytes()
    found = []
    for begin, end in ranges:
        for line in data[begin:end].decode().splitlines():
            fields = line.split()
            if len(fields) == len(FMT) and fields[START].isdigit():
                found.append(int(fields[START]))
    return found


def test_samples_are_records_at_line_starts(tmp_path):
    path = tmp_path / "flows.log"
    write(path, range(1_000_000, 1_000_000 + 600 * 60, 60), header="version start")
    index = TimeIndex.of(path, START, len(FMT), stride=4096)
    data = path.read_bytes()
    assert index.offsets[0] == len("version start\n")  # the header is passed over
    assert len(index.offsets) > 5
    for offset, start in zip(index.offsets, index.starts, strict=True):
        assert data[offset - 1 : offset] == b"\n"
        line = data[offset:].split(b"\n", 1)[0].split()
        assert int(line[START]) == start


def test_the_sampler_of_a_stream_samples_as_the_seeking_index(tmp_path):
    path = tmp_path / "flows.log"
    write(path, range(1_000_000, 1_000_000 + 600 * 60, 60), header="version start")
    data = path.read_bytes()
    sampler = StartSampler(START, len(FMT))
    for at in range(0, len(data), 4096):
        sampler(data[at : at + 4096])
    index, seeking = sampler.index(), TimeIndex.of(path, START, len(FMT), stride=4096)
    assert index.size == seeking.size == len(data)
    np.testing.assert_array_equal(index.offsets, seeking.offsets)
    np.testing.assert_array_equal(index.starts, seeking.starts)


def test_the_ranges_hold_the_wanted_minutes_and_little_else(tmp_path):
    path = tmp_path / "flows.log"
    starts = list(range(1_000_000, 1_000_000 + 3000 * 60, 60))
    write(path, starts)
    index = TimeIndex.of(path, START, len(FMT), stride=4096)
    wanted = {1_000_000 + 2000 * 60 - 1_000_000 % 60}
    ranges = index.ranges(wanted, slack=0)
    assert ranges is not None and len(ranges) == 1
    inside = minutes_in(path, ranges)
    assert 1_000_000 + 2000 * 60 in inside
    assert len(inside) < 100  # a stretch or two, not the file


def test_a_stretch_next_to_a_sample_that_is_no_record_is_always_read(tmp_path):
    path = tmp_path / "flows.log"
    starts = list(range(1_000_000, 1_000_000 + 3000 * 60, 60))
    write(path, starts, header="\n".join(["not a record"] * 5))
    index = TimeIndex.of(path, START, len(FMT), stride=4096)
    assert index.offsets[0] == 0 and np.isnan(index.starts[0])
    ranges = index.ranges({starts[-1] - starts[-1] % 60}, slack=0)
    assert ranges[0][0] == 0  # the unknown stretch
    assert starts[-1] in minutes_in(path, ranges)


def test_ranges_past_the_largest_share_give_up(tmp_path):
    path = tmp_path / "flows.log"
    starts = list(range(1_000_000, 1_000_000 + 3000 * 60, 60))
    write(path, starts)
    index = TimeIndex.of(path, START, len(FMT), stride=4096)
    every = {s - s % 60 for s in starts}
    assert ranges_of_files([index], every, slack=0) is None
    assert ranges_of_files([index], set(), slack=0) == [[]]


@settings(max_examples=60, deadline=None)
@given(
    gaps=st.lists(st.integers(0, 200), min_size=1, max_size=400),
    wanted=st.sets(st.integers(0, 400), max_size=5),
    stride=st.sampled_from([512, 1024, 4096]),
)
def test_in_a_file_in_time_order_no_record_of_a_wanted_minute_is_left_out(
    tmp_path_factory, gaps, wanted, stride
):
    path = tmp_path_factory.mktemp("sorted") / "flows.log"
    starts, at = [], 1_000_000
    for gap in gaps:
        at += gap
        starts.append(at)
    write(path, starts)
    minutes = sorted({s - s % 60 for s in starts})
    chosen = {minutes[i % len(minutes)] for i in wanted}
    ranges = TimeIndex.of(path, START, len(FMT), stride=stride).ranges(chosen, slack=0)
    inside = minutes_in(path, ranges)
    assert sorted(s for s in inside if s - s % 60 in chosen) == sorted(
        s for s in starts if s - s % 60 in chosen
    )


def test_copied_ranges_end_each_file_with_a_newline(tmp_path):
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    first.write_bytes(b"one\ntwo")
    second.write_bytes(b"three\nfour\n")
    target = tmp_path / "out.log"
    copy_ranges([(first, [(0, 7)]), (second, [(6, 11)])], target)
    assert target.read_bytes() == b"one\ntwo\nfour\n"


# The lookup in replay: the stretches when the hint holds, the whole file when not. For
# files DuckDB scanned; the rows polars keeps beside its scan name the lines to read
# instead (test_polars_scan).


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    path = tmp_path_factory.mktemp("plan") / "template.json"
    path.write_text(json.dumps(detector_template()))
    return load_plan(path)


@pytest.fixture
def duckdb_scans(monkeypatch, scans) -> list[str]:
    """Plain text scanned by DuckDB (as without the ``fast`` extra), and the scans run."""
    monkeypatch.setattr(fast, "polars_available", lambda: False)
    return scans


@pytest.fixture
def lookups(monkeypatch):
    """Small strides, and what each lookup from stretches returned (``None``: the
    whole file was read)."""
    monkeypatch.setattr(time_index, "STRIDE", 8192)
    results = []
    original = fast.FileScan._from_stretches

    def spy(self, read, by_index):
        results.append(original(self, read, by_index))
        return results[-1]

    monkeypatch.setattr(fast.FileScan, "_from_stretches", spy)
    return results


def traffic(minutes: int, incidents: dict) -> list[str]:
    return list(generate(FMT, minutes=minutes, seed=5, incidents=incidents))


def assert_same_top_records(path, plan, **window):
    quick = replay_files(plan, [path], fast=True, **window)
    reference = replay_files(plan, [path], fast=False, **window)
    alarms = {(t.alarm, t.time) for t in reference.transitions if t.new.value == "ALARM"}
    assert alarms
    assert {key: quick.contributors[key] for key in alarms} == {
        key: reference.contributors[key] for key in alarms
    }


@pytest.mark.parametrize("window", [False, True])
def test_top_records_of_a_file_in_time_order_come_from_its_stretches(
    tmp_path, plan, lookups, window, duckdb_scans
):
    path = tmp_path / "flows.log"
    lines = traffic(480, {460: ("ssh-scan",)})
    path.write_text("\n".join(lines) + "\n")
    # --from and --to cut the incident's minute in two: the part is read in the window.
    first = int(lines[0].split()[START])
    bounds = {"start": first + 100 * 60, "end": first + 460 * 60 + 30} if window else {}
    assert_same_top_records(path, plan, **bounds)
    assert lookups and all(rows is not None for rows in lookups)
    assert set(duckdb_scans) == {"duckdb"}


def test_a_record_far_from_its_time_makes_the_lookup_read_the_whole_file(
    tmp_path, plan, lookups, duckdb_scans
):
    lines = traffic(120, {100: ("ssh-scan",)})
    path = tmp_path / "flows.log"
    path.write_text("\n".join(lines) + "\n")
    first = min(t.time for t in replay_files(plan, [path], fast=False).transitions
                if t.new.value == "ALARM")  # fmt: skip
    minute = first - 60  # a minute every lookup wants: the newest of the first ALARM's
    moved = next(n for n, line in enumerate(lines) if int(line.split()[START]) // 60 * 60 == minute)
    lines.insert(1, lines.pop(moved))  # far from its stretch: the hint misses it
    path.write_text("\n".join(lines) + "\n")
    lookups.clear()
    duckdb_scans.clear()
    assert_same_top_records(path, plan)
    assert lookups and None in lookups
    assert duckdb_scans == ["duckdb"]


def test_top_records_of_gzip_deliveries_come_from_the_files_that_hold_them(
    tmp_path, plan, lookups, duckdb_scans
):
    """S3 delivery: gzip files of a few minutes each, with a header. The time index of
    each is sampled as the byte check decompresses it; the lookup reads only the files
    that hold the alarm's minutes (here the last few)."""
    import gzip

    lines = traffic(400, {395: ("ssh-scan",)})
    header = " ".join(field.aws_name for field in FMT.fields)
    paths = []
    for number in range(40):
        part = lines[number * len(lines) // 40 : (number + 1) * len(lines) // 40]
        path = tmp_path / f"delivery-{number}.log.gz"
        path.write_bytes(gzip.compress(("\n".join([header, *part]) + "\n").encode()))
        paths.append(path)
    quick = replay_files(plan, paths, fast=True)
    reference = replay_files(plan, paths, fast=False)
    alarms = {(t.alarm, t.time) for t in reference.transitions if t.new.value == "ALARM"}
    assert alarms
    assert {key: quick.contributors[key] for key in alarms} == {
        key: reference.contributors[key] for key in alarms
    }
    assert lookups and all(rows is not None for rows in lookups)
    assert duckdb_scans == ["duckdb"]


@settings(max_examples=60, deadline=None)
@given(
    data=st.binary(min_size=1, max_size=5000),
    cuts=st.lists(st.integers(0, 5000), max_size=8),
    chunk=st.sampled_from([5, 64, 1 << 18]),
)
def test_ranges_of_a_gzip_file_are_those_of_its_bytes(tmp_path_factory, data, cuts, chunk):
    import gzip

    from vpcwatch.filterpattern import fast as byte_checks

    folder = tmp_path_factory.mktemp("gz")
    plain, packed = folder / "a.log", folder / "a.log.gz"
    plain.write_bytes(data)
    packed.write_bytes(gzip.compress(data))
    bounds = sorted({min(cut, len(data)) for cut in cuts})
    ranges = [(a, b) for a, b in itertools.pairwise(bounds)][::2]
    original = byte_checks.CHUNK_BYTES
    byte_checks.CHUNK_BYTES = chunk  # (not monkeypatch: hypothesis reuses the fixture)
    try:
        copy_ranges([(packed, ranges)], folder / "from-gzip", gzipped=True)
    finally:
        byte_checks.CHUNK_BYTES = original
    copy_ranges([(plain, ranges)], folder / "from-plain")
    assert (folder / "from-gzip").read_bytes() == (folder / "from-plain").read_bytes()


def test_a_periods_top_records_are_looked_up_in_the_minutes_that_hold_them():
    from vpcwatch.replay.files import _record_minutes

    slots = np.array([0, 60, 120, 180, 240, 300])
    counts = np.array([0.0, 1.0, 0.0, 1.0, 5.0, 2.0])
    assert _record_minutes(range(0, 360, 60), (slots, counts)) == [60, 180, 240]
    assert _record_minutes(range(0, 360, 60), None) == [0, 60, 120, 180, 240, 300]
    assert _record_minutes(range(300, 360, 60), (slots, counts)) == [300]


def test_minutes_no_stretch_holds_are_found_empty_without_a_read(
    tmp_path, plan, lookups, monkeypatch, duckdb_scans
):
    """Wanted minutes outside the file's time (an alarm that breaches on missing data):
    no stretch should hold them, the scan counted none, and nothing is copied or read."""
    from vpcwatch.replay.files import aggregate_files

    path = tmp_path / "flows.log"
    path.write_text("\n".join(traffic(30, {})) + "\n")
    _, _, scans = aggregate_files(plan, [path])

    def no_copy(*args, **kwargs):
        raise AssertionError("copied")

    monkeypatch.setattr(fast, "copy_ranges", no_copy)
    key = plan.metrics[0].key
    early = 1_000_000_020  # 2001: before every record
    assert scans[0].contributors({key: {early, early + 60}}) == {}
    assert lookups == [[]]
