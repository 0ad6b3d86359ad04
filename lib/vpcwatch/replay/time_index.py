"""Where in a text file of records each minute lies, from a few sampled lines.

The top records of an alarm's minutes are looked up after the scan, when the minutes
are known (in files DuckDB scanned: a polars scan's side rows name their lines
instead). Flow-log files are written roughly in time order, so reading the whole file
again for a few minutes is mostly wasted: :class:`TimeIndex` samples one line every
:data:`STRIDE` bytes (a seek and a short read each, a few milliseconds for a large
file) and :meth:`TimeIndex.ranges` names the byte ranges that should hold the wanted
minutes.

A sample is only a hint: records between two samples are assumed to start within
:data:`SLACK_SECONDS` of them. The caller checks the hint (each wanted minute must hold
as many records in the ranges as the scan counted in the whole file) and reads the
whole file when it fails, so a file out of time order is slower, never wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from vpcwatch.filterpattern.syntax import parse_number

STRIDE = 256 * 1024
"""Bytes between two sampled lines (a large file gets a few thousand samples)."""

SLACK_SECONDS = 900
"""How far before or after its neighbouring samples a record's start may lie and still be
found: a flow-log file is written in order of delivery, and records of one aggregation
interval (up to 10 minutes) arrive together."""

LARGEST_SHARE = 0.1
"""Beyond this share of the bytes, :func:`ranges_of_files` gives up and the whole file is
read. The part's records are nearly all in wanted minutes and each is read twice (to
count, then to choose), while a read of the whole file sets most lines aside on their
start field alone: measured on bench/replay.py's files, a part costs 7 to 12 ns a byte
and the whole file 1.2 to 1.7 (10M records: a 12% part took 4.5 s, the whole file
3.2 s; a day: a 6% part 0.23 s, the whole file 0.93 s)."""

SLOT_SECONDS = 60
"""A minute: the period the scan counts records in (``replay.fast`` uses this one)."""

_SAMPLE_BYTES = 8192
"""Read at each sampled offset: enough for the rest of one line and the next line."""


class TimeIndex:
    """Sampled (byte offset of a line start, that line's start time) pairs of one file.

    Build it with :meth:`of`; a start that is not a number is ``NaN`` (its neighbouring
    stretches are always read).
    """

    def __init__(self, size: int, offsets: Sequence[int], starts: Sequence[float]) -> None:
        self.size = size
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.starts = np.asarray(starts, dtype=np.float64)

    @classmethod
    def of(cls, path: Path, position: int, width: int, stride: int | None = None) -> TimeIndex:
        """Sample ``path`` (a plain text file) every ``stride`` bytes (default
        :data:`STRIDE`): the first record (``width`` fields, the start time at 0-based
        ``position``) among the few lines that start at or after each offset."""
        stride = STRIDE if stride is None else stride
        size = path.stat().st_size
        offsets: list[int] = []
        starts: list[float] = []
        with path.open("rb") as stream:
            for at in range(0, size, stride):
                stream.seek(max(at - 1, 0))
                block = stream.read(_SAMPLE_BYTES)
                # The byte before ``at`` tells whether ``at`` starts a line.
                begin = 0 if at == 0 else block.find(b"\n") + 1
                if at > 0 and begin == 0:
                    continue  # a line longer than the block: no sample here
                sample = _sample(block, begin, position, width)
                if sample is None:
                    continue
                offset = max(at - 1, 0) + sample[0]
                if offsets and offset <= offsets[-1]:
                    continue
                offsets.append(offset)
                starts.append(sample[1])
        return cls(size, offsets, starts)

    def ranges(
        self, minutes: Iterable[int], slack: int = SLACK_SECONDS, after: float = np.inf
    ) -> list[tuple[int, int]]:
        """Byte ranges (start, end), whole lines, that should hold every record whose
        minute (start time floored to :data:`SLOT_SECONDS`) is in ``minutes``.
        ``after``: the start of the record that follows the file (the next file's
        first, when files are read one after another), else any later start may
        follow. :func:`ranges_of_files` weighs them against :data:`LARGEST_SHARE`."""
        wanted = np.unique(np.fromiter(minutes, dtype=np.int64))
        if len(self.offsets) == 0 or len(wanted) == 0:
            return []
        # A stretch runs from its sample to the next one; the last, to the end of the
        # file, then ``after``.
        here, then = self.starts, np.append(self.starts[1:], after)
        unknown = np.isnan(here) | np.isnan(then)
        low = np.where(unknown, 0, np.fmin(here, then)) - slack
        high = np.where(unknown, 0, np.fmax(here, then)) + slack
        first = np.floor(low / SLOT_SECONDS) * SLOT_SECONDS
        last = np.floor(high / SLOT_SECONDS) * SLOT_SECONDS  # inf stays inf
        chosen = unknown | (
            np.searchsorted(wanted, first, "left") < np.searchsorted(wanted, last, "right")
        )
        ends = np.append(self.offsets[1:], self.size)
        ranges: list[tuple[int, int]] = []
        for begin, end in zip(self.offsets[chosen].tolist(), ends[chosen].tolist(), strict=True):
            if ranges and ranges[-1][1] == begin:
                ranges[-1] = (ranges[-1][0], end)
            else:
                ranges.append((begin, end))
        return ranges


class StartSampler:
    """A :class:`TimeIndex` built from a file's bytes as a reader passes them (a gzip
    file cannot seek): called with each chunk in order, it samples the first record
    among the few whole lines that start in the chunk, as :meth:`TimeIndex.of` samples
    at each offset."""

    def __init__(self, position: int, width: int) -> None:
        self.position, self.width = position, width
        self.size = 0
        self._line_ended = True  # before the first chunk
        self.offsets: list[int] = []
        self.starts: list[float] = []

    def __call__(self, chunk: bytes | bytearray) -> None:
        # A line starts at the chunk's first byte when the previous chunk ended one.
        begin = 0 if self._line_ended else chunk.find(b"\n") + 1
        if begin or self._line_ended:
            sample = _sample(chunk, begin, self.position, self.width)
            if sample is not None:
                self.offsets.append(self.size + sample[0])
                self.starts.append(sample[1])
        self.size += len(chunk)
        self._line_ended = chunk[-1:] == b"\n"

    def index(self) -> TimeIndex:
        return TimeIndex(self.size, self.offsets, self.starts)


def ranges_of_files(
    indexes: list[TimeIndex], minutes: Iterable[int], slack: int = SLACK_SECONDS
) -> list[list[tuple[int, int]]] | None:
    """:meth:`TimeIndex.ranges` of files read one after another (S3 delivery's, in name
    order): each file's last stretch ends with the next file's first sample. ``None``
    when they would cover more than :data:`LARGEST_SHARE` of the files' bytes."""
    minutes = list(minutes)
    firsts = [index.starts[0] if len(index.starts) else np.nan for index in indexes]
    found = [
        index.ranges(minutes, slack, np.inf if following is None else following)
        for index, following in zip(indexes, [*firsts[1:], None], strict=True)
    ]
    chosen = sum(end - begin for ranges in found for begin, end in ranges)
    if chosen > LARGEST_SHARE * sum(index.size for index in indexes):
        return None
    return found


_LINES_TRIED = 4
"""Lines tried at each sampled offset for one that is a record (past a header line)."""


def _sample(
    block: bytes | bytearray, begin: int, position: int, width: int
) -> tuple[int, float] | None:
    """The first record among the next few whole lines of ``block`` from ``begin``: (its
    offset in the block, its start). When none is, the first line, its start NaN (the
    lines skipped are no records: the lookup needs no stretch to hold them). ``None``
    when no line ends in the block."""
    first = None
    for _ in range(_LINES_TRIED):
        end = block.find(b"\n", begin)
        if end < 0:
            break
        start = _start(bytes(block[begin:end]), position, width)
        if not np.isnan(start):
            return begin, start
        first = begin if first is None else first
        begin = end + 1
    return None if first is None else (first, float("nan"))


def _start(line: bytes, position: int, width: int) -> float:
    """The start time of a sampled line, ``NaN`` when it is not a record's."""
    fields = line.split()
    if len(fields) != width:
        return float("nan")
    try:
        number = parse_number(fields[position].decode("ascii"))
    except UnicodeDecodeError:
        return float("nan")
    return float("nan") if number is None else float(number)


def copy_ranges(
    sources: Iterable[tuple[Path, list[tuple[int, int]]]], target: Path, gzipped: bool = False
) -> None:
    """The byte ranges of each source, one after another in ``target``, each file's last
    line ended by a newline. ``gzipped``: the ranges are of the decompressed bytes (read
    up to the last range's end, not beyond)."""
    with target.open("wb") as out:
        for path, ranges in sources:
            last = b"\n"
            for piece in _gunzipped_ranges(path, ranges) if gzipped else _ranges(path, ranges):
                out.write(piece)
                last = piece[-1:]
            if last != b"\n":
                out.write(b"\n")


def _ranges(path: Path, ranges: list[tuple[int, int]]) -> Iterator[bytes]:
    with path.open("rb") as source:
        for begin, end in ranges:
            source.seek(begin)
            remaining = end - begin
            while remaining and (piece := source.read(min(remaining, 1 << 20))):
                yield piece
                remaining -= len(piece)


def _gunzipped_ranges(path: Path, ranges: list[tuple[int, int]]) -> Iterator[bytes]:
    from vpcwatch.filterpattern.fast import gunzip

    if not ranges:
        return
    at, index = 0, 0  # offset of the next decompressed byte; the range under way
    for chunk in gunzip(path):
        following = at + len(chunk)
        while index < len(ranges) and ranges[index][0] < following:
            begin, end = ranges[index]
            piece = chunk[max(begin - at, 0) : min(end, following) - at]
            if piece:
                yield bytes(piece)
            if end > following:
                break  # the range goes on in the next chunk
            index += 1
        if index == len(ranges):
            return
        at = following
