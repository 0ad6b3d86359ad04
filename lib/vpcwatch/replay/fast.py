"""The DuckDB path of replay: metric statistics per minute for a whole file in one scan.

The file is read as CSV with one text column per field of the stack's format (DuckDB's
parallel reader, no per-line splitting in SQL), the patterns compile to predicates over
those columns (:mod:`vpcwatch.filterpattern.sql`; each regex matched in place, after
the cheaper conditions, inside ``CASE WHEN``), and one ``GROUP BY`` minute gives every
metric's sum, count, minimum and maximum (a constant-valued metric's from its count of
matches: :mod:`.constant_metrics`), the delivered and undelivered counts, and the rules'
contributions. Same semantics as :class:`~vpcwatch.replay.metrics.MetricAggregator`:

- A Python scan of the bytes (beside the query, in a thread) tells whether every line
  splits on ' ' as Python splits it; if not (tabs, quotes, runs of spaces ...), the
  query runs again with a check per line.
- Lines that are not records of the format (wrong field count, a ``start`` that is not
  a number, the irregular ones) are left out of the statistics, and only when there are
  some, read once more and passed to the reference aggregator.

Used for plain or S3-delivery files in the stack's format (gzip too); anything else
returns ``None`` and the caller streams the file through the reference path. With
polars installed (the ``fast`` extra), text (gzip through decompressed parts, each
scanned while the next is decompressed) is scanned by :mod:`.polars_scan` into the same
table, faster, and DuckDB takes over wherever polars cannot read the files exactly; the
rows polars keeps beside its scan then name the lines of the top records
(:meth:`FileScan.contributors`) and give the rules' contributions, grouped in numpy
(:func:`_group_contributions`).
"""

from __future__ import annotations

import os
import re
import tempfile
import zlib
from collections.abc import Callable, Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import NamedTuple

import numpy as np

from vpcwatch.actions import ACTIONS
from vpcwatch.filterpattern import compile_pattern
from vpcwatch.filterpattern import syntax as s
from vpcwatch.filterpattern.fast import (
    FieldCount,
    LineIndex,
    duckdb_available,
    file_is_regular,
    not_plain_re2,
    plain_sql,
    read_lines_sql,
)
from vpcwatch.filterpattern.polars_engine import polars_available
from vpcwatch.filterpattern.sql import (
    NUMBER_RE2,
    SqlCompiler,
    UnsupportedPattern,
    files_sql,
    literal,
)
from vpcwatch.filterpattern.syntax import parse_number
from vpcwatch.replay.constant_metrics import add_statistics, constant_metrics
from vpcwatch.replay.insights import InsightSpec
from vpcwatch.replay.memory import release_free_memory
from vpcwatch.replay.metrics import KEPT_RECORDS, MetricAggregator, MinuteSeries
from vpcwatch.replay.parquet import INTEGER_TYPES as PARQUET_INTEGER_TYPES
from vpcwatch.replay.parquet import MAGIC as PARQUET_MAGIC
from vpcwatch.replay.parquet import column_sql as parquet_column
from vpcwatch.replay.parquet import columns_of_files as parquet_columns_of_files
from vpcwatch.replay.parquet import integer_columns as parquet_integer_columns
from vpcwatch.replay.parquet import lines_sql as parquet_lines_sql
from vpcwatch.replay.parquet import text_columns_sql as parquet_text_columns
from vpcwatch.replay.readers import (
    MAX_LISTED,
    InputStats,
    TextInput,
    detect_shape,
    plain_record,
    read_events,
)
from vpcwatch.replay.template import ReplayPlan
from vpcwatch.replay.time_index import (
    SLOT_SECONDS,
    StartSampler,
    TimeIndex,
    copy_ranges,
    ranges_of_files,
)


def _minute_sql(time: str) -> str:
    """SQL of the minute holding ``time`` (an integer expression), floored for any sign."""
    return f"{time} - (({time} % {SLOT_SECONDS}) + {SLOT_SECONDS}) % {SLOT_SECONDS}"


_SLOT = _minute_sql("ts")
"""The minute holding ``ts``, as Python's ``ts - ts % 60`` (floored, for any sign)."""


class _Unsupported(Exception):
    """This file or plan has no SQL form; use the reference path."""


class FileScan:
    """Files DuckDB or polars aggregated, and how to find the records behind chosen
    minutes (with the engine that scanned them)."""

    def __init__(
        self,
        queries: _Queries,
        checked: bool,
        slots,
        lines,
        indexes: list | None = None,
        polars_side: PolarsSide | None = None,
        files: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        self._queries, self._checked = queries, checked
        self._polars_side: PolarsSide | None = polars_side
        """For files polars scanned, the rows it wrote beside the scan and where the
        files' lines lie (the folder is removed with this object)."""
        self._indexes = indexes
        """The time index of each gzip file, sampled as it was read (``None``: not
        sampled, or a plain file, which is sampled when needed)."""
        order = np.argsort(slots)
        self._slots, self._lines = slots[order], lines[order]
        """Every minute the scan counted records in, sorted, and how many."""
        self._files = None if files is None else (files[0][order], files[1][order])
        """For several Parquet files (:attr:`_Queries.tracks_files`), the first and last
        of them (by place) holding each minute's records, in the order of ``_slots``."""

    def contributors(
        self, wanted: dict[tuple[str, str], set[int]]
    ) -> dict[tuple[tuple[str, str], int], list[str]]:
        """Up to :data:`KEPT_RECORDS` matching records for each (metric key, minute start)
        in ``wanted``: for files polars scanned, from the rows it kept beside the scan and
        the lines they name (:func:`.polars_scan.first_records`); else (or if the files
        changed since) in one more scan of the file, or of the stretches of it that hold
        those minutes (see :class:`~vpcwatch.replay.time_index.TimeIndex`)."""
        import duckdb

        by_index = {
            self._queries.matching[key]: slots
            for key, slots in wanted.items()
            if key in self._queries.matching and slots
        }
        if not by_index:
            return {}
        keys = {index: key for key, index in self._queries.matching.items()}
        found: dict[tuple[tuple[str, str], int], list[str]] = {}
        try:
            rows = self._lookup(by_index, SCAN_MEMORY_LIMIT)
        except duckdb.OutOfMemoryException:  # as the scan: again, without the limit
            rows = self._lookup(by_index, None)
        for index, slot, line in rows:
            found.setdefault((keys[index], slot), []).append(line)
        return found

    def _lookup(self, by_index: dict[int, set[int]], limit: str | None) -> list:
        import duckdb

        # The rows polars kept beside its scan name the lines to read: no stretch is
        # read again (a day in time order: 0.03 s, against 0.2 s by its stretches), and
        # no DuckDB connection is opened (0.013 s).
        if self._polars_side is not None:
            rows = self._first_records_polars(by_index)
            if rows is not None:
                return rows
        with duckdb.connect() as connection:
            _limit_memory(connection, limit)
            checked = self._checked
            queries = self._queries

            def read_part(paths: list[Path], by_index: dict[int, set[int]]):
                reader = _Queries(paths, queries.plan, queries.start, queries.end, False)
                counted = connection.execute(reader.minute_counts(_all_minutes(by_index), checked))
                return dict(counted.fetchall()), lambda: connection.execute(
                    reader.records_from_rows(by_index, checked)
                ).fetchall()

            rows = self._from_stretches(read_part, by_index)
            if rows is None:  # the whole files (or the Parquet files holding the
                # minutes), within DuckDB's memory limit
                reader = self._holding(_all_minutes(by_index))
                if reader is None:
                    return []
                rows = connection.execute(reader.records(by_index, checked)).fetchall()
        return rows

    def _holding(self, slots: set[int]) -> _Queries | None:
        """The queries over the files that hold records of ``slots``: for several Parquet
        files, only those from each minute's first file to its last (a lookup in 21,036
        files of 90 days read every footer again: 7.3 s); ``None`` if none holds any."""
        queries = self._queries
        if self._files is None:
            return queries
        at = self._at(np.fromiter(slots, dtype=np.int64))
        at = at[at >= 0]
        if len(at) == 0:
            return None
        first, last = self._files
        edges = np.zeros(len(queries.paths) + 1, dtype=np.int64)
        np.add.at(edges, first[at], 1)
        np.add.at(edges, last[at] + 1, -1)
        held = np.flatnonzero(np.cumsum(edges[:-1]) > 0)
        if len(held) == len(queries.paths):
            return queries
        paths = [queries.paths[index] for index in held.tolist()]
        return _Queries(paths, queries.plan, queries.start, queries.end, False,
                        queries.parquet_names)  # fmt: skip

    def _first_records_polars(self, by_index: dict[int, set[int]]) -> list | None:
        """:func:`.polars_scan.first_records` from the rows polars kept; ``None`` if it
        cannot read them."""
        from vpcwatch.filterpattern.polars_engine import EngineRefused
        from vpcwatch.replay import polars_scan

        queries = self._queries
        side = self._polars_side
        start = queries.plan.log_format.index("start")
        try:
            return polars_scan.first_records(_side_files(side.folder), queries.paths,
                                             queries.gzipped, by_index, KEPT_RECORDS, start,
                                             side.line_index)  # fmt: skip
        except (EngineRefused, OSError):
            return None

    def _at(self, minutes: np.ndarray) -> np.ndarray:
        """Each of ``minutes``' place in ``_slots``, or -1 where the scan counted no record."""
        if len(self._slots) == 0:
            return np.full(len(minutes), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self._slots, minutes), len(self._slots) - 1)
        return np.where(self._slots[at] == minutes, at, -1)

    def _counted(self, minutes: np.ndarray) -> np.ndarray:
        """How many records the scan counted in each of these minutes."""
        at = self._at(minutes)
        held = at >= 0
        counted = np.zeros(len(minutes), dtype=np.int64)
        counted[held] = self._lines[at[held]]
        return counted

    def _from_stretches(self, read, by_index: dict[int, set[int]]) -> list | None:
        """The records on a copy of the stretches of the files that should hold the wanted
        minutes (:meth:`_stretches`), by ``read(paths, by_index)``: the wanted minutes'
        counts of records in ``paths``, counted as the scan counts them, and a function
        giving their records. ``None`` when there is no such copy (Parquet, a part larger
        than :data:`~vpcwatch.replay.time_index.LARGEST_SHARE`) or it misses a record of a
        wanted minute (its count of each minute's records is not the scan's)."""
        queries = self._queries
        if queries.parquet_names is not None:
            return None
        slots = _all_minutes(by_index)
        wanted = np.fromiter(slots, dtype=np.int64)
        expected = self._counted(wanted)
        sources = self._stretches(slots)
        if sources is None:
            return None
        if not sources:  # by the hint; right if the scan counted none either
            return None if expected.any() else []
        with tempfile.TemporaryDirectory(prefix="vpcwatch-") as folder:
            part = Path(folder) / "stretches.log"
            copy_ranges(sources, part, queries.gzipped)
            # The part read as the scan read the files (the same rows, counted the same way).
            counts, records = read([part], by_index)
            if any(
                counts.get(slot, 0) != count
                for slot, count in zip(wanted.tolist(), expected.tolist(), strict=True)
            ):
                return None
            return records()

    def _stretches(self, slots: set[int]) -> list[tuple[Path, list[tuple[int, int]]]] | None:
        """(file, byte ranges) of the scanned files' stretches that should hold ``slots``
        (of the decompressed bytes, for gzip), files without any left out; ``None`` when
        they would be too much of the files
        (:data:`~vpcwatch.replay.time_index.LARGEST_SHARE`)."""
        queries = self._queries
        if queries.gzipped and self._indexes is None:
            return None
        if queries.gzipped:  # sampled as the byte check decompressed them
            indexes = self._indexes
        else:
            position = queries.plan.log_format.index("start")
            indexes = [TimeIndex.of(path, position, queries.width) for path in queries.paths]
        found = ranges_of_files(indexes, slots)
        if found is None:
            return None
        return [(path, ranges) for path, ranges in zip(queries.paths, found, strict=True)
                if ranges]  # fmt: skip


def file_kind(path: Path, plan: ReplayPlan) -> tuple | None:
    """What one scan of several files needs them to share: Parquet with the same
    columns, or text records with the same compression and header; ``None`` for any
    other shape (the reference path reads it)."""
    return file_kinds([path], plan)[0]


def file_kinds(paths: list[Path], plan: ReplayPlan) -> list[tuple | None]:
    """:func:`file_kind` of each file, the Parquet files' columns read together
    (:func:`~.parquet.columns_of_files`)."""
    starts = [_first_bytes(path) for path in paths]  # each file opened once to tell it
    parquet = [path for path, begins in zip(paths, starts, strict=True) if begins == PARQUET_MAGIC]
    columns = dict(zip(parquet, parquet_columns_of_files(parquet), strict=True))
    kinds = []
    for path, begins in zip(paths, starts, strict=True):
        if path in columns:
            found = columns[path]  # None: the reference path says what is wrong with it
            if found is not None and tuple(name for name, _ in found) == plan.log_format.names:
                kinds.append(("parquet", tuple(found)))
            else:  # the reference path names the difference
                kinds.append(None)
            continue
        plain, header = _plain_shape(path, plan)
        kinds.append(("text", begins[:2] == GZIP_MAGIC, header) if plain else None)
    return kinds


GZIP_MAGIC = b"\x1f\x8b"


def _first_bytes(path: Path) -> bytes:
    """The first four bytes of a file (what tells Parquet and gzip), or none if it
    cannot be read (the reference path then says why)."""
    try:
        with path.open("rb") as probe:
            return probe.read(len(PARQUET_MAGIC))
    except OSError:
        return b""


def aggregate_paths(
    paths: list[Path],
    plan: ReplayPlan,
    aggregator: MetricAggregator,
    stats: InputStats,
    start: int | None,
    end: int | None,
    on_progress: Callable[[float], None] | None = None,
    kind: tuple | None = None,
) -> FileScan | None:
    """Aggregate files of one :func:`file_kind` into ``aggregator`` in one scan (many
    small files, as an archive holds them, cost one query, not one each); ``None``
    when they must be read one by one (a file with lines the scan sets aside, or with
    bytes Python splits differently, is read alone or by the reference path)."""
    if not duckdb_available():
        return None
    import duckdb

    if kind is None:
        kind = file_kind(paths[0], plan)
        if kind is None:
            return None
    several = len(paths) > 1
    indexes = None
    polars_side = None
    try:
        if kind[0] == "parquet":  # columns, not lines: nothing splits differently
            queries = _Queries(paths, plan, start, end, False, list(kind[1]))
            scanned, checked = _scan(queries, False, 0, on_progress), False
        else:
            _, gzipped, header = kind
            headers = len(paths) if header is not None else 0
            queries = _Queries(paths, plan, start, end, gzipped)
            found = None
            if gzipped and polars_available():
                found = _scan_gzip_with_polars(queries, headers, on_progress)
            if found is _IRREGULAR:  # as the check found it: DuckDB checks each line
                if several:
                    return None  # read one by one: each file checked on its own
                found = (_scan(queries, True, headers, None), True, None, None)
            if found is None:
                found = _scan_text(queries, headers, several, on_progress)
            if found is None:
                return None  # read one by one, or by the reference path
            scanned, checked, indexes, polars_side = found
    except (_Unsupported, duckdb.Error):
        return None
    columns, irregular, contributions = scanned  # merged now: a failed query leaves no trace
    scanned = found = None  # ``columns`` is let go once merged (below)
    if irregular and several:
        return None  # which file each set-aside line came from matters: one by one
    add_statistics(columns, queries.constants)
    rows = _minute_rows(columns)
    _merge(rows, plan, aggregator, stats)
    slots, column = rows
    counted = column("lines").astype(np.int64)
    files = None
    if queries.tracks_files:
        files = column("first_file").astype(np.int64), column("last_file").astype(np.int64)
    del columns, rows, column  # before the grouping takes its memory
    if isinstance(contributions, _Grouping):  # grouped beside the alarms
        contributions.start()
        aggregator.merge_contributions_later(lambda: _as_parts(contributions()))
    else:
        for rule, part in _as_parts(contributions).items():
            aggregator.merge_contributions(rule, *part)
    if irregular:
        header = kind[2] if kind[0] == "text" else None
        _aggregate_irregular(irregular, paths[0], plan, aggregator, stats, start, end, header)
    stats.bytes_read += sum(p.stat().st_size for p in paths)
    return FileScan(queries, checked, slots, counted, indexes, polars_side, files)


def _as_parts(contributions: dict) -> dict[str, tuple]:
    """Each rule's contributions as :meth:`MetricAggregator.merge_contributions` takes
    them (the contributors' names split into their keys)."""
    separator = chr(31)
    return {
        rule: ([tuple(name.split(separator)) for name in names], slots, values, ids)
        for rule, (names, slots, ids, values) in contributions.items()
    }


def _scan_text(queries: _Queries, headers: int, several: bool, on_progress):
    """Text files scanned by polars (plain text, when installed) or DuckDB, the bytes
    checked beside: (scanned, checked, time indexes, :class:`PolarsSide` or ``None``), or
    ``None`` when they must be read one by one or by the reference path."""
    paths, plan, gzipped = queries.paths, queries.plan, queries.gzipped
    indexes = polars_side = None
    fmt = plan.log_format
    # Plain text goes to polars when it is installed. Polars may drop a line's
    # extra fields without a word, so the check totals every line's fields.
    with_polars = not gzipped and polars_available()
    fields = FieldCount()
    if with_polars:
        checks = [_Checked(_shares(paths, on_progress), fields) for _ in paths]
    else:  # a gzip file cannot seek: its time index is sampled as it is checked
        checks = [_Checked(StartSampler(fmt.index("start"), len(fmt)) if gzipped
                           else None, None) for _ in paths]  # fmt: skip
    with ThreadPoolExecutor(max_workers=1) as pool:
        regular = pool.submit(lambda: all(
            file_is_regular(p, gzipped, on_chunk=check.on_chunk, fields=check.fields)
            for p, check in zip(paths, checks, strict=True)
        ))  # fmt: skip
        scanned, polars_lines, side = None, None, None
        if with_polars:
            scanned, polars_lines, side = _scan_polars(queries, headers) or (None,) * 3
        else:
            scanned = _scan(queries, False, headers, on_progress)
        try:
            checked = not regular.result()
        except (OSError, EOFError, zlib.error):  # corrupt gzip DuckDB let pass:
            return None  # the reference path says what is wrong
        # No line is short (polars counts those): a total off the mark is a long one.
        if polars_lines is not None and fields.total != polars_lines * len(fmt):
            scanned = None
        if gzipped and not checked:  # sampled to the end
            indexes = [check.on_chunk.index() for check in checks]
        if checked and several:
            return None  # read one by one: each file checked on its own
        if checked or scanned is None:  # checked: a line Python splits otherwise
            scanned = _scan(queries, checked, headers, None)
        elif side is not None:
            # Polars scanned: every line has the format's fields, so the check's counts
            # say where each line ends.
            polars_side = PolarsSide(side, fields.line_index(len(fmt)))
    return scanned, checked, indexes, polars_side


def _scan_gzip_with_polars(queries: _Queries, headers: int, on_progress):
    """Gzip files read by polars, which cannot stream them: a thread decompresses them
    once into temporary plain parts of about :data:`PART_BYTES`, cut at line ends (the
    byte check reads the same chunks, and the time index samples them), and polars scans
    each part while the next is decompressed; each part goes once scanned (the top
    records are read from the gzip files again). As :func:`_scan_text` returns;
    :data:`_IRREGULAR` when the byte check refuses a file, ``None`` when the parts cannot
    be written (the temporary folder has less than :data:`DECOMPRESSED_ROOM` times the
    size the gzip trailers state; a trailer understating it is caught when a write
    fails) or polars declines them (DuckDB then reads the files)."""
    import shutil

    paths, fmt = queries.paths, queries.plan.log_format
    try:
        expected = sum(_decompressed_size(path) for path in paths)
        if shutil.disk_usage(tempfile.gettempdir()).free < DECOMPRESSED_ROOM * expected:
            return None
    except OSError:
        return None
    samplers = [StartSampler(fmt.index("start"), len(fmt)) for _ in paths]
    fields = FieldCount()
    parts = _DecompressedParts(paths, samplers, fields, expected, on_progress)
    try:
        found = _scan_polars(queries, headers, parts)
    finally:
        outcome = parts.close()
    if outcome is not True:  # _IRREGULAR, or None: the parts could not all be written
        return outcome
    if found is None:
        return None
    scanned, lines, side = found
    if fields.total != lines * len(fmt):  # no line is short: one is long
        return None
    return scanned, False, [sampler.index() for sampler in samplers], PolarsSide(side, None)


PART_BYTES = 64 << 20
"""How much decompressed text polars scans at a time from gzip files
(:class:`_DecompressedParts`): the first scan waits for this much, the next parts are
decompressed while it runs."""


class _DecompressedParts:
    """The gzip files ``paths`` decompressed, in a thread, into plain parts in a temporary
    folder (each about :data:`PART_BYTES`, ending at a line end; a file's last line
    always ends one). Iterating gives each part's path when it is complete, and removes
    the one before; :meth:`close` waits for the thread (its work stopped early if the
    parts are not all read) and says how it ended: ``True`` (all written and checked
    regular by :func:`file_is_regular`, which counted their fields into ``fields`` and
    fed ``samplers``), :data:`_IRREGULAR` or ``None`` (a write or a file failed)."""

    def __init__(self, paths, samplers, fields: FieldCount, expected: int, on_progress):
        import queue
        import threading

        self._folder = tempfile.TemporaryDirectory(prefix="vpcwatch-")
        self._ready: queue.Queue = queue.Queue(maxsize=2)  # parts on disk: at most 3 or so
        self._stop = threading.Event()
        self._outcome = None
        self._thread = threading.Thread(
            target=self._run, args=(paths, samplers, fields, expected, on_progress), daemon=True
        )
        self._thread.start()

    def _run(self, paths, samplers, fields, expected, on_progress) -> None:
        outcome = None
        try:
            outcome = self._write(paths, samplers, fields, expected, on_progress)
        except (OSError, EOFError, zlib.error):  # a full disk, a corrupt file: DuckDB's
            outcome = None
        finally:
            self._ready.put(_Finished(outcome))

    def _write(self, paths, samplers, fields, expected, on_progress):
        folder = Path(self._folder.name)
        number, written, size = 0, 0, 0
        out = (folder / "part-0.log").open("wb")
        try:
            for path, sampler in zip(paths, samplers, strict=True):
                last = 10

                def keep(chunk, sampler=sampler):
                    nonlocal out, number, written, size, last
                    if self._stop.is_set():
                        raise _Stopped
                    if not chunk:
                        return
                    sampler(chunk)
                    cut = chunk.rfind(b"\n") + 1 if size + len(chunk) >= PART_BYTES else 0
                    if cut:  # this part is complete at a line end: the next one begins
                        out.write(chunk[:cut])
                        out.close()
                        self._ready.put(folder / f"part-{number}.log")
                        number += 1
                        out = (folder / f"part-{number}.log").open("wb")
                        size = 0
                    out.write(chunk[cut:])
                    size += len(chunk) - cut
                    last = chunk[-1]
                    written += len(chunk)
                    if on_progress is not None:
                        on_progress(min(written / max(expected, 1), 1.0) / 2)

                try:
                    if not file_is_regular(path, True, on_chunk=keep, fields=fields):
                        return _IRREGULAR
                except _Stopped:
                    return None
                if last != 10:  # the next file's first line is a line of its own
                    out.write(b"\n")
                    size += 1
        finally:
            out.close()
        if size:
            self._ready.put(folder / f"part-{number}.log")
        return True

    def __iter__(self):
        previous = None
        while True:
            item = self._ready.get()
            if previous is not None:
                previous.unlink(missing_ok=True)
            if isinstance(item, _Finished):
                self._outcome = item.outcome
                self._ready.put(item)  # for close(), and any later iteration
                return
            previous = item
            yield [item]

    @property
    def complete(self) -> bool:
        """Whether every part came (once iterated to the end)."""
        return self._outcome is True

    def close(self):
        """Stop the thread, wait for it, remove the parts; how it ended (see above)."""
        self._stop.set()
        while True:  # unblock the thread, to its end marker
            item = self._ready.get()
            if isinstance(item, _Finished):
                self._outcome = item.outcome
                break
        self._thread.join()
        self._folder.cleanup()
        return self._outcome


class _Finished(NamedTuple):
    """The end of :class:`_DecompressedParts`' thread, and how it ended."""

    outcome: object


class _Stopped(Exception):
    """Raised inside the byte check when the parts' reader has stopped reading them."""


_IRREGULAR = object()
"""What :func:`_scan_gzip_with_polars` returns for bytes Python splits otherwise."""


def _decompressed_size(path: Path) -> int:
    """A gzip file's size once decompressed, as its last member's trailer states it
    (modulo 4 GiB: exact for one member under 4 GiB, as S3 delivery files are)."""
    with path.open("rb") as stream:
        stream.seek(-4, os.SEEK_END)
        return int.from_bytes(stream.read(4), "little")


DECOMPRESSED_ROOM = 2.0
"""How many times the decompressed size (:func:`_decompressed_size`) the temporary
folder must have free before polars reads gzip files through decompressed parts there
(:class:`_DecompressedParts`). Set for one whole copy, as they were first read; the parts
hold at most about four :data:`PART_BYTES` at a time (one being scanned, two waiting,
one being written), so this asks for more room than they use."""


class _Checked(NamedTuple):
    """How the byte check reads one file: what sees each chunk (a time index's sampler, a
    progress count, or nothing) and what counts its fields (or nothing)."""

    on_chunk: Callable[[bytes | bytearray], None] | None
    fields: FieldCount | None


def _shares(paths: list[Path], on_progress) -> Callable[[bytes | bytearray], None] | None:
    """A chunk counter that reports the share of ``paths``' bytes read so far (the byte
    check's, beside polars, which reports none of its own)."""
    if on_progress is None:
        return None
    total = max(sum(p.stat().st_size for p in paths), 1)
    read = [0]

    def count(chunk: bytes | bytearray) -> None:
        read[0] += len(chunk)
        on_progress(min(read[0] / total, 1.0))

    return count


class PolarsSide(NamedTuple):
    """What a polars scan leaves for the top-records lookup."""

    folder: tempfile.TemporaryDirectory
    """Its temporary folder, holding the rows written beside the scan (:func:`_side_files`)."""
    line_index: LineIndex | None
    """For plain files, where their lines end (every line has the format's fields):
    :meth:`~vpcwatch.filterpattern.fast.FieldCount.line_index`. The lookup reads only
    the blocks that hold its lines. ``None`` for gzip (read from the start)."""


def _side_files(folder) -> list[Path]:
    """The files of rows the polars scan wrote beside it (:func:`.polars_scan.scan`), one
    per part it scanned, in its temporary ``folder``."""
    return sorted(Path(folder.name).glob("side-*.parquet"))


def _scan_polars(queries: _Queries, headers: int, parts: Iterable[list[Path]] | None = None):
    """The scan's table by :mod:`.polars_scan`, the rules' contributions (a
    :class:`_Grouping`, grouped in a thread once the caller starts it), how
    many lines polars read and its temporary folder; ``None`` when polars cannot read the
    files or the patterns, or when it set aside lines besides the ``headers`` or read a
    line short of fields (DuckDB then scans, and reads those lines again). ``parts``: what polars
    scans, one part after another (by default the files of ``queries``, as one part;
    for gzip files, their decompressed parts); the lines are numbered across parts."""
    from vpcwatch.filterpattern.polars_engine import EngineRefused
    from vpcwatch.replay import polars_scan

    plan = queries.plan
    folder = tempfile.TemporaryDirectory(prefix="vpcwatch-")  # removed with the FileScan
    tables, lines = [], 0
    try:
        codes = polars_scan.ContributorCodes()  # one numbering for every part's side file
        for number, part in enumerate([queries.paths] if parts is None else parts):
            side = Path(folder.name) / f"side-{number}.parquet"
            table = polars_scan.scan(part, plan, queries.start, queries.end, side, lines,
                                     codes)  # fmt: skip
            tables.append(table)
            lines += int(table["lines"].sum())
    except (UnsupportedPattern, EngineRefused):
        return None
    if not tables or (isinstance(parts, _DecompressedParts) and not parts.complete):
        return None  # no part came, or not all did (the check refused one, a write failed)
    columns = polars_scan.columns_of(polars_scan.merge_minutes(tables))
    if columns["short"].sum() or columns["aside"].sum() > headers:
        return None
    if not plan.insights:
        return (columns, [], {}), lines, folder
    return (columns, [], _Grouping(queries, headers, folder, codes)), lines, folder


class _Grouping:
    """The rules' contributions from the rows a polars scan wrote beside it, grouped in
    a thread (:func:`_group_contributions`) from :meth:`start` on, beside what the
    caller does next; calling the object waits for them (or, if the grouping failed,
    has DuckDB scan the files for them). The caller starts it once the minutes are
    merged: their copies are gone before the grouping takes its memory (10M records
    over 90 days peaked 20 to 40 MB higher with both at once)."""

    def __init__(self, queries: _Queries, headers: int, folder, codes) -> None:
        self._queries, self._headers, self._folder = queries, headers, folder
        self._codes = codes
        self._grouping = None

    def start(self) -> None:
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vpcwatch-grouping")
        # The folder goes with the thread too: the side files outlive the FileScan if need be.
        folder = self._folder
        self._grouping = pool.submit(_group_contributions, _side_files(folder),
                                     self._queries.plan, folder, self._codes)  # fmt: skip
        pool.shutdown(wait=False)

    def __call__(self) -> dict:
        from vpcwatch.filterpattern.polars_engine import EngineRefused

        if self._grouping is None:
            self.start()
        try:
            return self._grouping.result()
        except (OSError, EngineRefused):  # as if polars had not scanned:
            return _scan(self._queries, False, self._headers, None)[2]  # DuckDB scans


def _group_contributions(side: list[Path], plan: ReplayPlan, folder, codes) -> dict:
    """Each rule's contributions from the rows :func:`.polars_scan.scan` wrote to the
    ``side`` files (contributors numbered by ``codes``, a
    :class:`~.polars_scan.ContributorCodes`), as :func:`_fetch_contributions` gives them
    (``folder``, holding ``side``, is kept until then). Polars reads a rule's rows as
    (code, minute from the first) pairs of 32-bit integers where they fit, and numpy
    groups them (:func:`_grouped`).

    Raises:
        EngineRefused: polars cannot read the files, a code is not one it gave, or a
            rule's (contributor, minute) pairs are too many for one 64-bit key.
    """
    import polars as pl

    from vpcwatch.filterpattern.polars_engine import EngineRefused

    found = {}
    for index, rule in enumerate(plan.insights):
        key = f"k{index}"
        rows = pl.scan_parquet([str(path) for path in side], glob=False)
        rows = rows.filter(pl.col(key).is_not_null())
        try:
            slot = pl.col("slot")
            low, high = (
                rows.select(slot.min().alias("low"), slot.max().alias("high")).collect().row(0)
            )
            if low is None:
                empty = np.empty(0, dtype=np.int64)
                found[rule.name] = [], empty, empty, np.empty(0, dtype=np.float64)
                continue
            minutes = (high - low) // SLOT_SECONDS + 1
            minute = (slot - low) // SLOT_SECONDS
            minute = minute.cast(pl.Int32 if minutes < 2**31 else pl.Int64)
            value = [] if rule.value_of is None else [pl.col(f"v{index}")]
            frame = rows.select(pl.col(key), minute.alias("minute"), *value).collect()
        except pl.exceptions.PolarsError as error:
            raise EngineRefused(str(error).splitlines()[0]) from None
        found[rule.name] = _grouped(
            frame[key].to_numpy(), frame["minute"].to_numpy(), low, minutes,
            None if rule.value_of is None else frame[f"v{index}"].to_numpy(), codes,
        )  # fmt: skip
        del frame
    release_free_memory()  # the grouping's, before the rules' alarms use the result
    return found


GROUP_KEY_LIMIT = 2**63
"""A rule's (contributor, minute) pairs must number fewer than this to be grouped by one
integer key (:func:`_grouped`); DuckDB groups them otherwise."""


def _grouped(codes, minutes, low: int, span: int, values, numbering) -> tuple:
    """A rule's rows (contributor code, minute: its start's minutes after ``low``, fewer
    than ``span``[, value]) grouped as :func:`_fetch_contributions` gives them: the
    contributors once, in DuckDB's order of names, and per (contributor, minute) its
    rows counted (``values`` ``None``) or their values summed (in the rows' order, as
    the reference path adds them), by contributor id, then minute. One integer key per
    row, (id, minute), 32 bits where it fits, sorted in place by numpy: 2M records over
    90 days, 0.06-0.1 s of CPU where DuckDB's grouping took 0.29 s (on two threads,
    beside the alarms). 10M records over 90 days peak at 415-449 MB, with freed memory
    handed back between the phases (:mod:`.memory`; 488-514 MB without).

    Raises:
        EngineRefused: the pairs are :data:`GROUP_KEY_LIMIT` or more.
    """
    from vpcwatch.filterpattern.polars_engine import EngineRefused

    present = np.flatnonzero(np.bincount(codes))
    names, ids_of_present = _ids_by_name(present, numbering)
    if len(names) * span >= GROUP_KEY_LIMIT:
        raise EngineRefused(f"{len(names)} contributors over {span} minutes: too many pairs")
    kind = np.int32 if len(names) * span < 2**31 else np.int64
    by_code = np.zeros(int(present[-1]) + 1, dtype=kind)
    by_code[present] = ids_of_present
    keys = by_code[codes]
    keys *= span
    keys += minutes
    if values is None:  # sorted in place, each run of a key counted: no copy of the rows
        keys.sort()
        new = np.empty(len(keys), dtype=bool)
        new[0] = True
        np.not_equal(keys[1:], keys[:-1], out=new[1:])
        starts = np.flatnonzero(new)
        del new
        totals = np.diff(starts, append=len(keys)).astype(np.float64)
        keys = keys[starts]
        del starts
    else:
        keys, rows = np.unique(keys, return_inverse=True)
        totals = np.bincount(rows, weights=values, minlength=len(keys))
        del rows
    ids, offsets = np.divmod(keys.astype(np.int64), span)
    del keys
    offsets *= SLOT_SECONDS
    offsets += low
    return names, offsets, ids, totals


def _scan(queries: _Queries, checked: bool, headers: int, on_progress):
    """The per-minute columns, and the lines the table set aside, read again only when
    there are some besides the ``headers`` header lines. DuckDB works within
    :data:`SCAN_MEMORY_LIMIT` (its aggregates spill to disk beyond it); what cannot
    spill and needs more runs again without the limit, not on the slow path."""
    import duckdb

    try:
        return _scan_within(queries, checked, headers, on_progress, SCAN_MEMORY_LIMIT)
    except duckdb.OutOfMemoryException:
        return _scan_within(queries, checked, headers, None, None)


def _scan_within(queries: _Queries, checked: bool, headers: int, on_progress, limit):
    import duckdb

    with duckdb.connect() as connection:
        _limit_memory(connection, limit)
        if not queries.lists_contributions:  # one Parquet file: the contributions'
            # queries read its footer again; several files' are read once (a cache of
            # 21,036 footers held 100 MB more, and took longer)
            connection.execute("SET parquet_metadata_cache = true")
        _run_with_progress(connection, queries.minutes(checked=checked), on_progress)
        columns = connection.execute(f"SELECT {queries.numeric_columns} FROM minutes").fetchnumpy()
        rejected = (
            0
            if queries.parquet_names is not None
            else connection.execute("SELECT count(*) FROM reject_errors").fetchone()[0]
        )
        slot = columns["slot"]
        aside = int(np.ma.filled(columns["lines"], 0)[np.ma.getmaskarray(slot)].sum())
        contributions = {
            rule.name: _fetch_contributions(connection, queries.contributions(index))
            for index, rule in enumerate(queries.plan.insights)
        }
        irregular = []
        if rejected or aside > headers:
            query = queries.irregular(checked)
            irregular = [line for (line,) in connection.execute(query).fetchall()]
    return columns, irregular, contributions


SCAN_MEMORY_LIMIT = "200MB"
"""What DuckDB may hold while scanning or looking up top records (its default is 80% of
the machine)."""


def _ids_by_name(present: np.ndarray, numbering) -> tuple[list[str], np.ndarray]:
    """The contributors of the codes ``present`` by name (``numbering.names``), in the
    order DuckDB sorts names (byte order: the rows come out as when DuckDB grouped the
    names themselves), and each code's id in that order."""
    names = numbering.names(present)
    by_name = sorted(range(len(names)), key=names.__getitem__)
    ids = np.empty(len(names), dtype=np.int64)
    ids[by_name] = np.arange(len(names))
    return [names[i] for i in by_name], ids


def _limit_memory(connection, limit: str | None) -> None:
    """``limit`` for DuckDB on this connection (``None``: its default), spilling to the
    system's temporary folder, not the current one."""
    if limit is not None:
        spill = Path(tempfile.gettempdir()) / f"vpcwatch-duckdb-{os.getpid()}"
        connection.execute(f"SET temp_directory = {literal(str(spill))}")
        connection.execute(f"SET memory_limit = '{limit}'")


def _fetch_contributions(connection, query: str):
    """A rule's (slot, contributor, value) rows as arrays: the distinct contributors once
    (as DuckDB sorts them) and an id per row, not one Python tuple per row (a long
    sparse span has millions of rows)."""
    connection.execute(
        f"CREATE OR REPLACE TEMP TABLE contributed AS SELECT * FROM ({query}) t(slot, k, v)"
    )
    # Ids numbered on the distinct names, then joined: a dense_rank() over every row
    # took three times as long (0.17 s for a day's 375,000 rows).
    connection.execute(
        "CREATE OR REPLACE TEMP TABLE contributor_ids AS SELECT k, CAST(row_number() "
        "OVER (ORDER BY k) - 1 AS BIGINT) AS id FROM (SELECT DISTINCT k FROM contributed)"
    )
    names = [row[0] for row in connection.execute(
        "SELECT k FROM contributor_ids ORDER BY id"
    ).fetchall()]  # fmt: skip
    # Ordered by DuckDB, within its memory limit.
    columns = connection.execute(
        "SELECT slot, id, CAST(v AS DOUBLE) AS v FROM contributed c JOIN contributor_ids i "
        "ON c.k IS NOT DISTINCT FROM i.k ORDER BY id, slot"  # as Contributions keeps them
    ).fetchnumpy()
    connection.execute("DROP TABLE contributed")
    connection.execute("DROP TABLE contributor_ids")
    return names, columns["slot"], columns["id"], columns["v"]


def _merge(rows: tuple, plan: ReplayPlan, aggregator: MetricAggregator, stats: InputStats):
    """The query's per-minute rows (:func:`_minute_rows`: not the row of the lines set
    aside) into the aggregator."""
    slots, column = rows
    events = column("events").astype(np.int64)
    stats.events += int(events.sum())
    stats.undelivered += int(column("undelivered").sum())
    if events.any():
        delivered = events > 0
        aggregator.merge_events(int(events.sum()), int(column("low")[delivered].min()),
                                int(column("high")[delivered].max()))  # fmt: skip
    for index, spec in enumerate(plan.metrics):
        count = column(f"n{index}")
        has = count > 0
        aggregator.merge_series(spec.key, MinuteSeries.of(
            slots[has], column(f"t{index}")[has], count[has],
            column(f"lo{index}", np.inf)[has], column(f"hi{index}", -np.inf)[has],
        ))  # fmt: skip


def _minute_rows(columns: dict) -> tuple[np.ndarray, Callable[..., np.ndarray]]:
    """The minutes table's rows of records (not the row of the lines set aside, whose
    ``slot`` is NULL), by minute: their minutes, and a reader of any column on those
    rows (``column(name, fill=0.0)``, NULLs filled, as floats). In order once here, each
    metric's series need not sort its own (eight sorts were half of merging 90 days)."""
    rows = np.flatnonzero(~np.ma.getmaskarray(columns["slot"]))
    slots = np.ma.filled(columns["slot"], 0)[rows].astype(np.int64)
    order = np.argsort(slots, kind="stable")
    rows, slots = rows[order], slots[order]

    def column(name: str, fill: float = 0.0) -> np.ndarray:
        return np.ma.filled(columns[name], fill)[rows].astype(np.float64)

    return slots, column


def _aggregate_irregular(
    lines: list[str],
    path: Path,
    plan: ReplayPlan,
    aggregator: MetricAggregator,
    stats: InputStats,
    start: int | None,
    end: int | None,
    header: str | None,
) -> None:
    """The lines the query set aside, through the reference aggregator (as the
    reference path reads them: stripped, the header skipped, the rest counted)."""
    malformed = 0
    start_of = start_reader(plan)
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        timestamp = start_of(line)
        if timestamp is None:
            malformed += line != header
            continue
        if (start is None or timestamp >= start) and (end is None or timestamp <= end):
            if plan.filters_actions and not plan.delivers(line):
                stats.undelivered += 1
                continue
            aggregator.add(timestamp, line)
            stats.events += 1
    if malformed:
        _count_malformed(path, plan, stats)


def start_reader(plan: ReplayPlan) -> Callable[[str], int | None]:
    """A function giving a line's record start, or ``None`` when the line is not a record
    of the format; the field's place is found once (finding it per line was a third of
    the top records' sorting over 90 days)."""
    width, position = len(plan.log_format), plan.log_format.index("start")

    def start_of(line: str) -> int | None:
        fields = line.split()
        if len(fields) != width:
            return None
        start = parse_number(fields[position])
        return None if start is None else int(start)

    return start_of


def _count_malformed(path: Path, plan: ReplayPlan, stats: InputStats) -> None:
    """The unreadable lines the query set aside, counted with their line numbers as the
    reference path reads them (one more pass, only when there are some)."""
    counted = InputStats()
    for _ in read_events([path], plan.log_format, counted):
        pass
    stats.malformed += counted.malformed
    stats.malformed_at += counted.malformed_at[: MAX_LISTED - len(stats.malformed_at)]


def _run_with_progress(connection, query: str, on_progress: Callable[[float], None] | None):
    """Run ``query``; meanwhile report DuckDB's progress (0 to 1) twice a second."""
    if on_progress is None:
        return connection.execute(query).fetchall()
    # DuckDB tracks progress only with its bar enabled; ours draws it, DuckDB's stays quiet.
    connection.execute("SET enable_progress_bar = true")
    connection.execute("SET enable_progress_bar_print = false")
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(lambda: connection.execute(query).fetchall())
        while True:
            try:
                return future.result(timeout=0.5)
            except FutureTimeout:
                on_progress(max(connection.query_progress(), 0.0) / 100)


def _plain_shape(path: Path, plan: ReplayPlan) -> tuple[bool, str | None]:
    """Plain records in the stack's format, with or without an S3 header line (returned,
    to be told from an unreadable line); a file that does not fit the format raises
    here, as in the reference path."""
    for number, line in enumerate(TextInput(path), start=1):
        if line.strip():
            extract, is_header = detect_shape(path, number, line.strip(), plan.log_format)
            return extract is plain_record, line.strip() if is_header else None
    return False, None


class _Queries:
    """The SQL of one file's scan: the per-minute table, the records behind chosen
    minutes, and the lines the table sets aside."""

    def __init__(
        self,
        paths: list[Path],
        plan: ReplayPlan,
        start: int | None,
        end: int | None,
        gzipped: bool,
        parquet_names: list[tuple[str, str]] | None = None,
    ) -> None:
        self.paths, self.plan, self.start, self.end = list(paths), plan, start, end
        self.gzipped = gzipped
        self.parquet_names = parquet_names
        """The columns of a Parquet file, (name, type) (read as text columns, and integer
        columns as numbers), or ``None`` for text."""
        self.width = len(plan.log_format)
        self.constants = constant_metrics(plan)
        """The metrics whose statistics the scan counts (:mod:`.constant_metrics`)."""
        names = ["slot", "lines", "events", "undelivered", "low", "high"]
        if self.tracks_files:
            names += ["first_file", "last_file"]
        for index in range(len(plan.metrics)):
            constant = self.constants.get(index)
            if constant is None:
                names += [f"t{index}", f"n{index}", f"lo{index}", f"hi{index}"]
            elif constant.matched:
                names.append(f"matches{index}")
        self.numeric_columns = ", ".join(names)
        self.matching: dict[tuple[str, str], int] = {}
        """Metric key -> index of its ``m<index>`` column (true where a record published
        a value because it matched: the records a timeline shows)."""
        for spec in plan.metrics:
            if spec.pattern is not None:
                self.matching[spec.key] = len(self.matching)
        typed = None if parquet_names is None else parquet_integer_columns(parquet_names)
        self._compiler = SqlCompiler("c", self.width, typed, shared_regexes=False)
        self._columns = _MetricSql(plan, self._compiler)
        self._line = "concat_ws(' ', " + ", ".join(f"c{i}" for i in range(1, self.width + 1)) + ")"

    @property
    def lists_contributions(self) -> bool:
        """Whether the minutes table gathers the rules' contributions as lists: for text,
        and for several Parquet files, whose footers each query reads again (21,036
        files of 90 days: 6.7 + 8.1 s for two rules read apart, against 0.4 s more in
        the scan); one Parquet file's typed columns are read again (:meth:`contributions`)."""
        return self.parquet_names is None or len(self.paths) > 1

    @property
    def tracks_files(self) -> bool:
        """Whether the minutes table keeps each minute's first and last file (by its
        place in :attr:`paths`, DuckDB's virtual column ``file_index``: the files'
        columns are the format's fields, none of that name), so that a lookup reads only
        the files holding the wanted minutes: for several Parquet files."""
        return self.parquet_names is not None and len(self.paths) > 1

    def _rows(
        self,
        checked: bool,
        minutes: set[int] | None = None,
        *,
        values: Collection[int] | None = None,
        matches: bool = True,
    ) -> str:
        """Every line as a row: its fields ``c1``..., ``ts``, ``slot`` (NULL for a line set
        aside), ``delivered``, the metric values ``v<i>`` and matches ``m<i>``.
        ``checked``: test every line for what splits differently in Python (an empty
        field, a tab, a quote ...); unchecked, only the columns the patterns use are
        read (DuckDB's projection pushdown). ``minutes``: a superset of the rows of those
        minutes will do (see :meth:`_source`). ``values``, ``matches``: which of the
        ``v<i>`` and whether the ``m<i>`` (:meth:`_MetricSql.projections`)."""
        width = self.width
        metric = self._columns
        regular = f"{metric.ts_number} IS NOT NULL"
        if checked:  # the file has runs of spaces (empty fields) or other irregular bytes
            every = " AND ".join(f"c{i} IS NOT NULL" for i in range(1, width + 1))
            regular += (
                f" AND {every} AND NOT regexp_matches({self._line}, {literal(not_plain_re2())})"
            )
        window = self._window()
        columns = metric.projections(values, matches)
        source = self._source(minutes)
        keep = f"NOT regular OR (true{window})"
        return (
            f"SELECT *{columns} FROM (SELECT *, {metric.delivered} AS delivered FROM "
            f"(SELECT *, CASE WHEN regular THEN {_SLOT} END AS slot FROM (SELECT *, "
            f"CAST(trunc({metric.ts_number}) AS BIGINT) AS ts, {regular} AS regular FROM "
            f"(SELECT *{metric.shared} FROM {source})"
            f")) WHERE {keep})"
        )

    def _source(self, minutes: set[int] | None = None) -> str:
        """The file as text columns ``c1``...: DuckDB's CSV reader on the lines, or the
        Parquet file's columns as the text record writes them. ``minutes``: only rows of
        those minutes are wanted; a Parquet file whose ``start`` is an integer column is
        then filtered on it before any text is built (its row groups outside the minutes'
        range are skipped): the lookup of a day's top records, 0.4 s -> 0.08 s."""
        if self.parquet_names is not None:
            where = None if minutes is None else self._parquet_minutes(minutes)
            return parquet_text_columns(self.paths, self.parquet_names, where,
                                        file_index=self.tracks_files)  # fmt: skip
        width = self.width
        return (
            f"read_csv({files_sql(self.paths)}, delim=' ', header=false, quote='', "
            f"escape='', auto_detect=false, columns={{"
            + ", ".join(f"'c{i}': 'VARCHAR'" for i in range(1, width + 1))
            + "}, ignore_errors=true, store_rejects=true"
            + (", compression='gzip'" if self.gzipped else "")
            + ")"
        )

    def _parquet_minutes(self, minutes: set[int]) -> str | None:
        """A condition on the Parquet file's integer ``start`` column that holds for every
        row the scan counts in ``minutes`` (``None`` if it has no such column). Exact for
        starts below 2**53, where the scan's reading of the number (as a DOUBLE) is the
        integer; minutes near that bound get no condition at all."""
        position = self.plan.log_format.index("start")
        name, kind = self.parquet_names[position]
        if kind not in PARQUET_INTEGER_TYPES or not minutes:
            return None
        if max(abs(minute) for minute in minutes) >= 2**53 - 2 * SLOT_SECONDS:
            return None
        start = parquet_column(name)
        return (
            f"{start} BETWEEN {min(minutes)} AND {max(minutes) + SLOT_SECONDS - 1} AND "
            f"{_minute_sql(start)} IN ({_listed(minutes)})"
        )

    def _lines(self) -> str:
        """The file as whole lines (column ``line``)."""
        if self.parquet_names is None:
            return read_lines_sql(self.paths, self.gzipped)
        return parquet_lines_sql(self.paths, self.parquet_names)

    def _window(self) -> str:
        """`` AND ...`` conditions on ``ts`` for --from and --to (empty without them)."""
        window = ""
        if self.start is not None:
            window += f" AND ts >= {int(self.start)}"
        if self.end is not None:
            window += f" AND ts <= {int(self.end)}"
        return window

    def minutes(self, *, checked: bool) -> str:
        """CREATE TABLE minutes: one row per minute of records (``slot`` NULL for the lines
        set aside, counted in ``lines``)."""
        statistics = ""
        summed = []  # the metrics whose values the table sums, not counts
        matched = iter(self._columns.matched)  # of the metrics with a pattern, in order
        for i, spec in enumerate(self.plan.metrics):
            match = None if spec.pattern is None else next(matched)
            constant = self.constants.get(i)
            if constant is None:
                summed.append(i)
                statistics += (f", sum(v{i}) AS t{i}, count(v{i}) AS n{i}, min(v{i}) AS lo{i}"
                               f", max(v{i}) AS hi{i}")  # fmt: skip
            elif constant.matched:  # a CASE: its regexes run after the cheaper conditions
                statistics += f", count(CASE WHEN {match} THEN 1 END) AS matches{i}"
        if self.lists_contributions:
            for index, rule in enumerate(self.plan.insights):
                statistics += f", {self._rule_aggregate(rule)} AS r{index}"
        return (
            "CREATE TABLE minutes AS SELECT slot, count(*) AS lines, "
            "count(*) FILTER (WHERE delivered) AS events, "
            "count(*) FILTER (WHERE NOT delivered) AS undelivered, "
            "min(ts) FILTER (WHERE delivered) AS low, max(ts) FILTER (WHERE delivered) AS high"
            f"{', min(fi) AS first_file, max(fi) AS last_file' if self.tracks_files else ''}"
            f"{statistics} FROM ({self._rows(checked, values=summed, matches=False)}) "
            "GROUP BY slot"
        )

    def _rule_aggregate(self, rule: InsightSpec) -> str:
        """A rule's contributions in one minute, gathered in the same scan: its contributors
        (``Count``) or their (contributor, value) pairs (``Sum``), one per record, summed
        per minute by :meth:`contributions`."""
        condition, key, amount = self._rule_terms(rule)
        # CASE: the key is built only for the records that pass (a FILTER alone builds it
        # for every record).
        key = f"CASE WHEN {condition} THEN {key} END"
        if amount is None:  # a histogram here costs 10% more of the scan
            return f"list({key}) FILTER (WHERE {condition})"
        return f"list(struct_pack(k := {key}, v := {amount})) FILTER (WHERE {condition})"

    def _rule_terms(self, rule: InsightSpec) -> tuple[str, str, str | None]:
        """A rule as SQL over :meth:`_rows`: whether a record passes, its contributor (its
        key values joined by U+001F, never in a regular record) and its value (``None``
        for a ``Count`` rule)."""
        conditions = ["regular", "delivered"]
        for position, op, value in rule.filters:
            column = f"c{position + 1}"
            if op in ("In", "NotIn"):
                typed = self._compiler.typed.get(column)
                inside = None if typed is None else _typed_in(typed, value)
                if inside is None:
                    listed = ", ".join(literal(v) for v in value)
                    conditions.append(f"{column} {'NOT ' if op == 'NotIn' else ''}IN ({listed})")
                else:  # a Parquet integer column: its numbers, not their text
                    conditions.append(inside if op == "In" else f"NOT ({inside})")
            elif op == "StartsWith":
                conditions.append(
                    "(" + " OR ".join(f"starts_with({column}, {literal(v)})" for v in value) + ")"
                )
            else:
                sign = {"GreaterThan": ">", "LessThan": "<", "EqualTo": "=", "NotEqualTo": "<>"}
                conditions.append(
                    f"coalesce({self._compiler.number_sql(column)} {sign[op]} "
                    f"{float(value)!r}, false)"
                )
        amount = None
        if rule.value_of is not None:
            amount = self._compiler.number_sql(f"c{rule.value_of + 1}")
            conditions.append(f"{amount} IS NOT NULL")
        columns = [f"c{position + 1}" for position in rule.keys]
        key = columns[0] if len(columns) == 1 else f"concat_ws(chr(31), {', '.join(columns)})"
        return " AND ".join(conditions), key, amount

    def contributions(self, index: int) -> str:
        """Rule ``index``'s (minute, contributor, value) rows: from the minutes table, or
        for one Parquet file, grouped from its rows in a second read (its typed columns
        read again cost less than the lists of a day's contributors in the minutes:
        0.52-0.56 s -> 0.43-0.52 s for both)."""
        rule = self.plan.insights[index]
        if not self.lists_contributions:
            condition, key, amount = self._rule_terms(rule)
            total = "count(*)" if amount is None else f"sum({amount})"
            return (
                f"SELECT slot, {key}, {total} FROM ({self._rows(False, values=(), matches=False)}) "
                f"WHERE {condition} "
                "GROUP BY ALL"
            )
        if rule.value_of is None:
            return (
                f"SELECT slot, k, count(*) FROM (SELECT slot, unnest(r{index}) AS k FROM "
                f"minutes WHERE slot IS NOT NULL AND r{index} IS NOT NULL) GROUP BY ALL"
            )
        return (
            f"SELECT slot, e.k, sum(e.v) FROM (SELECT slot, unnest(r{index}) AS e FROM minutes "
            f"WHERE slot IS NOT NULL AND r{index} IS NOT NULL) GROUP BY ALL"
        )

    def records(self, wanted: dict[int, set[int]], checked: bool) -> str:
        """Up to :data:`KEPT_RECORDS` matching records (earliest first) per metric (by its
        ``m`` index) and minute in ``wanted``. One more read of the file, as whole lines
        (no columns to build): a cheap superset of the wanted minutes is chosen first
        from the ``start`` field, and only those lines are split and tested."""
        if self.parquet_names is not None:
            return self.records_from_rows(wanted, checked)
        rows = self._chosen_lines(_all_minutes(wanted), checked, self._lines())
        return _first_records(rows, wanted, "line")

    def records_from_rows(self, wanted: dict[int, set[int]], checked: bool) -> str:
        """:meth:`records` from the scan's own rows (as the scan reads them: its columns,
        Parquet's typed numbers) of the wanted minutes; a line is built only for the
        matching ones. For Parquet, and for a small part of a text file."""
        minutes = _all_minutes(wanted)
        chosen = (
            f"SELECT * FROM ({self._rows(checked, minutes, values=())}) "
            f"WHERE slot IN ({_listed(minutes)})"
        )
        return _first_records(chosen, wanted, self._line)

    def minute_counts(self, slots: set[int], checked: bool) -> str:
        """(minute, records) of the minutes ``slots``, counted as the scan counts them
        (its ``lines``)."""
        return (
            f"SELECT slot, count(*) FROM ({self._rows(checked, values=(), matches=False)}) "
            f"WHERE slot IN ({_listed(slots)}) "
            "GROUP BY slot"
        )

    def _chosen_lines(self, slots: set[int], checked: bool, lines: str) -> str:
        """The regular records of the minutes ``slots`` among ``lines`` (SQL of a relation
        of lines): ``slot``, ``ts``, ``line`` and every matching metric's ``m<i>``."""
        listed = _listed(slots)
        metric = _MetricSql(self.plan, SqlCompiler("f"))
        position = self.plan.log_format.index("start") + 1
        # DOUBLE reads every number the grammar reads, with the same value (and more):
        # no record of a wanted minute is dropped by this first test.
        # The start field as split_part(line, ' ', position) reads it (a regex is faster).
        start_text = f"regexp_extract(line, '^(?:[^ ]* ){{{position - 1}}}([^ ]*)', 1)"
        superset = (
            f"CAST(floor(TRY_CAST({start_text} AS DOUBLE) / "
            f"{SLOT_SECONDS}) AS BIGINT) * {SLOT_SECONDS} IN ({listed})"
        )
        window = self._window()
        # Only what the lookup reads is kept (not the split fields: a tenth of a long
        # file's lines can be chosen).
        matches = "".join(f", m{index}" for index in range(len(metric.matched)))
        return (
            f"SELECT slot, ts, line{matches} FROM (SELECT *{metric.projections(values=())} FROM "
            f"(SELECT *, {metric.delivered} AS delivered, "
            f"{_SLOT} AS slot FROM "
            f"(SELECT *, CAST(trunc({metric.ts_number}) AS BIGINT) AS ts FROM (SELECT *, "
            f"{plain_sql(checked)} AS plain{metric.shared} FROM (SELECT line, "
            f"string_split(line, ' ') AS f FROM {lines} "
            f"WHERE line IS NOT NULL AND {superset})) WHERE plain AND len(f) = {self.width} "
            f"AND ts IS NOT NULL{window})) WHERE slot IN ({listed}))"
        )

    def irregular(self, checked: bool) -> str:
        """The lines the table left out: not ``fields`` fields split on ' ', a ``start``
        that is not a number, or (``checked``) a line Python splits differently."""
        source = self._lines()
        start_field = f"f[{self.plan.log_format.index('start') + 1}]"
        return (
            f"SELECT line FROM (SELECT line, string_split(line, ' ') AS f FROM {source} "
            f"WHERE line IS NOT NULL) WHERE NOT ({plain_sql(checked)}) "
            f"OR len(f) <> {self.width} "
            f"OR NOT coalesce(regexp_full_match({start_field}, {literal(NUMBER_RE2)}), false)"
        )


class _MetricSql:
    """Each metric's value ``v<i>`` and, for those with a pattern, match ``m<i>`` (in the
    order of :attr:`_Queries.matching`), as SQL over one compiler's fields (columns for
    the scan, a list for the lines read again)."""

    def __init__(self, plan: ReplayPlan, compiler: SqlCompiler) -> None:
        self.values: list[str] = []
        self.matched: list[str] = []
        for spec in plan.metrics:
            if spec.pattern is None:
                self.values.append("CASE WHEN delivered THEN CAST(1 AS DOUBLE) END")
                continue
            tree = compile_pattern(spec.pattern).tree
            try:
                predicate = compiler.predicate(tree)
            except UnsupportedPattern:
                raise _Unsupported(spec.name) from None
            value = _value_sql(spec.value, tree, compiler)
            default = "NULL" if spec.default_value is None else repr(float(spec.default_value))
            self.values.append(
                f"CAST(CASE WHEN NOT delivered THEN NULL WHEN {predicate} THEN {value} "
                f"ELSE {default} END AS DOUBLE)"
            )
            self.matched.append(f"delivered AND ({predicate}) AND ({value}) IS NOT NULL")
        fmt = plan.log_format
        start_token, action_token = _tokens(compiler, fmt.index("start"), fmt.index("action"))
        self.ts_number = compiler.number(start_token)
        self.shared = "".join(f", {column}" for column in compiler.shared_columns())
        self.delivered = _delivered_sql(plan, action_token)

    def projections(self, values: Collection[int] | None = None, matches: bool = True) -> str:
        """`` , <value> AS v<i>`` of the metrics ``values`` (default: all), then each
        ``m<i>`` unless not ``matches``. Only what a query reads: DuckDB prunes an unread
        column but not the join it made of a list of numbers in it (a day's scan over
        Parquet ran two where one was read)."""
        return "".join(
            f", {v} AS v{i}" for i, v in enumerate(self.values) if values is None or i in values
        ) + ("".join(f", {m} AS m{i}" for i, m in enumerate(self.matched)) if matches else "")


def _tokens(compiler: SqlCompiler, *positions: int) -> tuple[str, ...]:
    """The SQL of the fields at these 0-based positions, in the compiler's form."""
    if compiler.width is None:
        return tuple(f"{compiler.fields}[{p + 1}]" for p in positions)
    return tuple(f"{compiler.fields}{p + 1}" for p in positions)


def _delivered_sql(plan: ReplayPlan, action: str) -> str:
    """True for the records the CloudWatch flow logs deliver (see ``ReplayPlan.delivers``),
    with ``action`` the SQL of the record's action field."""
    if not plan.filters_actions:
        return "true"
    kept = ", ".join(literal(a) for a in sorted(plan.delivered_actions))
    every = ", ".join(literal(a) for a in ACTIONS)
    return f"({action} NOT IN ({every}) OR {action} IN ({kept}))"


def _value_sql(value: str, tree: s.SpaceDelimited, compiler: SqlCompiler) -> str:
    if not value.startswith("$"):
        return repr(float(value))
    tokens = {slot.name: token for slot, token in compiler.tokens(tree) if slot.name}
    token = tokens.get(value[1:])
    if token is None:
        raise _Unsupported(value)
    return compiler.number(token)


def _first_records(chosen: str, wanted: dict[int, set[int]], line: str) -> str:
    """(metric, slot, line): the first :data:`KEPT_RECORDS` records by (``ts``, line) of
    each wanted metric (its ``m`` index) and minute among the rows ``chosen`` selects,
    read once; ``line`` is the SQL of a row's whole line, built only for the matches.
    Only rows that some wanted metric matched in one of its minutes are held."""
    minutes = {index: _listed(slots) for index, slots in wanted.items()}
    held = " OR ".join(f"(m{index} AND slot IN ({listed}))" for index, listed in minutes.items())
    branches = [
        f"SELECT {index} AS metric, slot, line FROM (SELECT slot, ts, {line} AS line "
        f"FROM chosen WHERE m{index} AND slot IN ({listed}))"
        f" QUALIFY row_number() OVER (PARTITION BY slot ORDER BY ts, line) <= {KEPT_RECORDS}"
        for index, listed in minutes.items()
    ]
    return (
        f"WITH chosen AS MATERIALIZED (SELECT * FROM ({chosen}) WHERE {held}) "
        + " UNION ALL ".join(branches)
    )


def _typed_in(column: str, texts: Iterable[str]) -> str | None:
    """Whether an integer ``column`` (a Parquet file's, whose text is its decimal, or
    ``-`` where NULL) has one of ``texts`` as its text, compared as integers (a day's
    contributions over Parquet: 0.10 -> 0.08 s for a rule on a port list); ``None`` for
    a number beyond 64 bits (the text is compared). A text that no integer prints as
    (``022``, ``+5``, ``x``) matches no row."""
    numbers = sorted({int(text) for text in texts
                      if _DECIMAL.fullmatch(text) and str(int(text)) == text})  # fmt: skip
    if numbers and not (numbers[0] >= -(2**63) and numbers[-1] < 2**64):
        return None
    held = [f"coalesce({column} IN ({', '.join(map(str, numbers))}), false)"] if numbers else []
    if "-" in texts:
        held.append(f"{column} IS NULL")
    return " OR ".join(held) if held else "false"


_DECIMAL = re.compile(r"-?[0-9]+", re.ASCII)


def _listed(slots: Iterable[int]) -> str:
    """Minute starts as an SQL list's items, in order."""
    return ", ".join(map(str, sorted(slots)))


def _all_minutes(wanted: dict[int, set[int]]) -> set[int]:
    """Every minute some metric in ``wanted`` wants."""
    return set().union(*wanted.values())
