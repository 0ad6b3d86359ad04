"""The fast path: count matches of many patterns over a file in one vectorised pass.

Events whose fields are separated by single spaces (every flow-log record) are
split and tested by DuckDB with the SQL of :mod:`.sql`; the others (quotes,
brackets, tabs, runs of blanks) and the patterns that have no SQL form go
through the reference matcher, so the result is the reference's by construction.
With polars installed (the ``fast`` extra), a file of records with one field count
and regular bytes is read by :mod:`.polars_engine` instead, faster still.
DuckDB is a dependency, imported only here (not by ``import vpcwatch``); should it be
missing, :func:`count_matches` runs the reference path alone.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import NamedTuple

from vpcwatch.filterpattern import compile_pattern
from vpcwatch.filterpattern import syntax as s
from vpcwatch.filterpattern.sql import SqlCompiler, UnsupportedPattern, files_sql, literal


@cache
def not_plain_re2() -> str:
    """RE2 for lines that splitting on ' ' would read differently from Python's split():
    a quote, a bracket, a run of spaces, a leading or trailing space, or any blank other
    than the space (computed on first use: it scans every Unicode code point)."""
    others = "".join(
        f"\\x{{{ord(c):x}}}"
        for c in map(chr, range(sys.maxunicode + 1))
        if c.isspace() and c != " "
    )
    return f'["\\[{others}]|  |^ | $'


def duckdb_available() -> bool:
    try:
        import duckdb  # noqa: F401
    except ImportError:
        return False
    return True


def read_lines_sql(path: Path | list[Path], gzipped: bool = False) -> str:
    """A DuckDB relation of the file's lines (column ``line``), or of several files';
    ``.gz`` names are read transparently, ``gzipped`` forces decompression whatever the
    name."""
    compression = ", compression='gzip'" if gzipped else ""
    return (
        f"read_csv({files_sql(path)}, columns={{'line': 'VARCHAR'}}, delim='\\0', "
        f"quote='', escape='', header=false, auto_detect=false{compression})"
    )


ENGINES = ("auto", "polars", "duckdb", "reference")


def count_matches(
    path: str | Path, patterns: Mapping[str, str], *, engine: str = "auto"
) -> dict[str, int]:
    """How many events (lines) of ``path`` each pattern matches, in one pass.

    Args:
        path: a text file, one event per line (``.gz`` is read transparently by DuckDB).
        patterns: name -> filter pattern.
        engine: ``"auto"`` (polars when installed and the file suits it, else DuckDB),
            or one of them (``"polars"`` still hands a file it cannot read to DuckDB),
            or ``"reference"`` (the matcher, line by line). The counts are the same.

    Raises:
        FilterPatternError: a pattern is invalid.
        ValueError: ``engine`` is not one of :data:`ENGINES`.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    path = Path(path)
    compiled = {name: compile_pattern(text) for name, text in patterns.items()}
    if engine == "reference" or not duckdb_available():
        return _reference_counts(_read(path), compiled)
    if engine != "duckdb":
        counts = _polars_counts(path, compiled)
        if counts is not None:
            return counts
    import duckdb

    try:
        return _fast_counts(duckdb.connect(), path, compiled)
    except duckdb.Error:  # e.g. a file mixing \n and \r\n line ends, which DuckDB refuses
        return _reference_counts(_read(path), compiled)


def _polars_counts(path: Path, compiled: Mapping) -> dict[str, int] | None:
    """The counts by :mod:`.polars_engine`, or ``None`` when it does not suit the file
    (not installed, compressed, irregular bytes, a line with more fields than the first)
    or a pattern (terms and JSON go to the reference matcher, as with DuckDB)."""
    from vpcwatch.filterpattern import polars_engine

    width = _first_width(path)
    if width is None or not polars_engine.polars_available():
        return None
    spaced = {name: pattern for name, pattern in compiled.items()
              if isinstance(pattern.tree, s.SpaceDelimited)}  # fmt: skip
    if not spaced:  # terms and JSON only: the reference matcher reads the file anyway
        return None
    with ThreadPoolExecutor(max_workers=1) as pool:  # the byte check beside the scan
        regular = pool.submit(file_is_regular, path, False, width)
        try:
            counts, shorter = polars_engine.count(path, spaced, width)
        except polars_engine.EngineRefused:
            return None
        if not regular.result():
            return None
    counts = {name: counts.get(name, 0) for name in compiled}
    for name, count in _reference_counts(shorter, spaced).items():
        counts[name] += count
    others = {name: pattern for name, pattern in compiled.items() if name not in spaced}
    if others:
        counts.update(_reference_counts(_read(path), others))
    return counts


def _first_width(path: Path) -> int | None:
    """How many fields the first line has (``None`` for a compressed or empty file)."""
    if path.suffix == ".gz":
        return None
    with path.open("rb") as stream:
        first = stream.readline(1 << 20).strip()
    return len(first.split(b" ")) if first else None


def _fast_counts(connection, path: Path, compiled: Mapping) -> dict[str, int]:
    sql_patterns, other = {}, {}
    compiler = SqlCompiler("f")
    for name, pattern in compiled.items():
        try:
            sql_patterns[name] = compiler.predicate(pattern.tree)
        except UnsupportedPattern:
            other[name] = pattern
    counts = dict.fromkeys(compiled, 0)
    if sql_patterns:
        # Runs of spaces leave empty fields: those lines go to the reference matcher. Other
        # irregular bytes are rare; a file-wide check (in a thread, while DuckDB works on the
        # optimistic query) decides whether each line must be tested for them too.
        with ThreadPoolExecutor(max_workers=1) as pool:
            plain_file = pool.submit(file_is_plain, path)
            found = _run(connection, path, compiler, sql_patterns, per_line_check=False)
            if not plain_file.result():
                found = _run(connection, path, compiler, sql_patterns, per_line_check=True)
        *totals, irregular = found
        counts.update(zip(sql_patterns, totals, strict=True))
        in_sql = {name: compiled[name] for name in sql_patterns}
        for name, count in _reference_counts(irregular or (), in_sql).items():
            counts[name] += count
    if other:
        counts.update(_reference_counts(_read(path), other))
    return counts


def plain_sql(per_line_check: bool) -> str:
    """SQL that is true for a ``line`` whose ``f`` (split on ' ') is Python's split(): no
    empty field (runs of spaces, leading or trailing ones) and, when the file holds other
    irregular bytes (``per_line_check``), none of them in this line."""
    plain = "NOT list_contains(f, '')"
    if per_line_check:
        plain += f" AND NOT regexp_matches(line, {literal(not_plain_re2())})"
    return plain


def _run(connection, path: Path, compiler, predicates: Mapping[str, str], *, per_line_check: bool):
    plain = plain_sql(per_line_check)
    columns = [f"count(*) FILTER (WHERE plain AND ({p}))" for p in predicates.values()]
    columns.append("list(line) FILTER (WHERE NOT plain)")
    numbers = "".join(f", {column}" for column in compiler.shared_columns())
    query = (
        f"SELECT {', '.join(columns)} FROM (SELECT *, {plain} AS plain{numbers} FROM "
        f"(SELECT line, string_split(line, ' ') AS f FROM {read_lines_sql(path)} "
        "WHERE line IS NOT NULL))"
    )
    return connection.execute(query).fetchone()


_IRREGULAR_BYTES = (b'"', b"[", b"\t", b"\r", b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e", b"\x1f")
CHUNK_BYTES = 1 << 18
"""What the byte checks read at a time: small enough that each test of a chunk finds it
in the processor's cache (16 MB chunks made them three times slower)."""


def file_is_plain(path: Path) -> bool:
    """True when the file is ASCII with no quote, bracket or blank other than space and
    newline: then splitting a line on ' ' is Python's split(), except for runs of spaces
    (and leading or trailing ones), which leave empty fields that the query detects."""
    if path.suffix == ".gz":
        return False
    return all(_plain_bytes(chunk) for chunk, _ in file_chunks(path, gzipped=False))


def _plain_bytes(chunk: bytes | bytearray) -> bool:
    """ASCII, and none of :data:`_IRREGULAR_BYTES` (one-byte searches: fast)."""
    return chunk.isascii() and not any(needle in chunk for needle in _IRREGULAR_BYTES)


def file_is_regular(
    path: Path,
    gzipped: bool = False,
    max_fields: int | None = None,
    on_chunk: Callable[[bytes | bytearray], None] | None = None,
    fields: FieldCount | None = None,
) -> bool:
    """:func:`file_is_plain`, and no run of spaces and no space at a line's start or end:
    every line split on ' ' is then exactly Python's split(), with no empty field. Reads
    gzip too. With ``max_fields``, also no line with more fields than that. Runs beside
    a query: reading, decompression and numpy release the GIL. ``fields``, when the file
    is regular, gains the number of fields of all its lines (a cheaper test than
    ``max_fields`` for a reader that counts the lines and their shortfalls).

    The spacing test is one numpy comparison: once the bytes are plain, those up to
    b' ' are spaces and line ends (other control bytes are harmless here: they only make
    a file irregular), and no two may stand side by side (a blank line counts as
    irregular too: the caller then tests each line, which is correct and only slower).
    A line's fields are its separators, its line end included. ``on_chunk`` sees each
    chunk (the bytes of a gzip file decompressed) before it is tested; the buffer is
    reused for the next one."""
    import numpy as np

    separator = np.empty(CHUNK_BYTES, dtype=bool)
    previous = True  # a line end before the first byte
    last = 10
    since_line_end = 0  # separators after the last line end read so far
    block = INDEX_BYTES if CHUNK_BYTES % INDEX_BYTES == 0 else CHUNK_BYTES  # tiles a chunk
    at_blocks = None if fields is None else []
    if fields is not None:
        fields.block_bytes = block
        fields.at_blocks.append(at_blocks)
    for chunk, data in file_chunks(path, gzipped):
        if on_chunk is not None:
            on_chunk(chunk)
        if not _plain_bytes(chunk):
            return False
        size = len(data)
        np.less_equal(data, 32, out=separator[:size])
        if (previous and separator[0]) or (separator[1:size] & separator[: size - 1]).any():
            return False
        previous, last = bool(separator[size - 1]), chunk[-1]
        if fields is not None:
            for begin in range(0, size, block):
                at_blocks.append(fields.total)
                fields.total += int(np.count_nonzero(separator[begin : min(begin + block, size)]))
        if max_fields is not None:
            positions = np.flatnonzero(separator[:size])
            ends = np.flatnonzero(data[positions] == 10)
            if len(ends) and (
                since_line_end + ends[0] + 1 > max_fields
                or (len(ends) > 1 and np.diff(ends).max() > max_fields)
            ):
                return False
            since_line_end = (
                len(positions) - ends[-1] - 1 if len(ends) else since_line_end + len(positions)
            )
    if fields is not None and last != 10:  # the last line's last field, without a line end
        fields.total += 1
    if fields is not None:
        at_blocks.append(fields.total)
    return last != 32 and (max_fields is None or int(since_line_end) + 1 <= max_fields)


INDEX_BYTES = 1 << 15
"""The byte check notes its field count every this many bytes of a file (when that
divides its chunk; else every chunk): a lookup of lines by number then reads 32 KB
around each, not the 256 KB chunk (90 days' 4,250 lines: 0.13 s -> 0.05 s)."""


class LineIndex(NamedTuple):
    """Where lines end in plain files whose every line has the same number of fields,
    from the byte check's counts (:meth:`FieldCount.line_index`)."""

    block_bytes: int
    """The files' blocks: offsets ``k * block_bytes``."""
    ends_before: list
    """Per file, a numpy array: how many lines (of all the files, one after another) end
    before each block, and after the file (its last line counted with or without a
    line end)."""


@dataclass
class FieldCount:
    """The fields :func:`file_is_regular` counted (one per separator: a space or a line
    end), accumulated over the files it checks."""

    total: int = 0
    at_blocks: list[list[int]] = field(default_factory=list)
    """Per file checked to its end, :attr:`total` as it stood before each block of
    :attr:`block_bytes` (from the file's start), and after the file."""
    block_bytes: int = 0

    def line_index(self, width: int) -> LineIndex:
        """Where lines end, for files whose every line has ``width`` fields: the count
        before a block, divided by the width, is the lines ended before it."""
        import numpy as np

        ends = [np.asarray(totals, dtype=np.int64) // width for totals in self.at_blocks]
        return LineIndex(self.block_bytes, ends)


def file_chunks(path: Path, gzipped: bool):
    """The file's bytes, :data:`CHUNK_BYTES` at a time (at most, for gzip), each as the
    chunk and a numpy view of it. One buffer serves every chunk of a plain file: use
    each before asking for the next."""
    import numpy as np

    if gzipped:
        for piece in gunzip(path):
            yield piece, np.frombuffer(piece, dtype=np.uint8)
        return
    buffer = bytearray(CHUNK_BYTES)
    whole = np.frombuffer(buffer, dtype=np.uint8)
    with path.open("rb", buffering=0) as stream:
        while size := stream.readinto(buffer):
            if size == CHUNK_BYTES:
                yield buffer, whole
            else:
                yield buffer[:size], whole[:size]


def gunzip(path: Path):
    """The bytes of a gzip file, decompressed by zlib (which checks each member's CRC):
    a quarter less work than the gzip module, which checks it again in Python (0.69 s
    against 0.96 s of CPU for the bench's 540 MB day). Members
    follow one another, with zero bytes allowed between them, as the gzip module reads
    them; a truncated file raises EOFError, as there."""
    import zlib

    decompressor = zlib.decompressobj(31)
    started = False  # a member begun: the file may not end before its end
    with path.open("rb", buffering=0) as stream:
        pending = b""
        while True:
            if not pending:
                pending = stream.read(CHUNK_BYTES)
            if not pending and not started:
                break
            if not started:
                pending = pending.lstrip(b"\0")  # padding between members
                if not pending:
                    continue
                started = True
            # Without input, what zlib still holds (a call stopped at the size limit).
            piece = decompressor.decompress(pending, CHUNK_BYTES)
            if not pending and not piece and not decompressor.eof:
                raise EOFError(f"{path}: compressed file ended before the end-of-stream marker")
            pending = decompressor.unconsumed_tail
            if piece:
                yield piece
            if decompressor.eof:
                pending, started = decompressor.unused_data, False
                decompressor = zlib.decompressobj(31)


def _reference_counts(lines: Iterable[str], compiled: Mapping) -> dict[str, int]:
    counts = dict.fromkeys(compiled, 0)
    matchers = [(name, pattern.match) for name, pattern in compiled.items()]
    for line in lines:
        for name, match in matchers:
            if match(line) is not None:
                counts[name] += 1
    return counts


def _read(path: Path) -> Iterable[str]:
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as stream:
        for line in stream:
            line = line.rstrip("\n")
            if line:
                yield line
