"""Flow-log events from recorded files, in the three shapes people have them.

- plain lines in the stack's format;
- CloudWatch Logs exports: one event per line, optionally prefixed with the ISO
  timestamp (and log stream) that ``aws logs`` prints, or JSON lines with a
  ``message``;
- S3 plain-text delivery files (often gzip) whose first line names the fields.

The event timestamp is the record's ``start`` (what CloudWatch Logs uses for flow
logs). A file whose records do not fit the stack's format is refused with a
:class:`ReplayInputError` that says how they differ.
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import re
import zlib
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from vpcwatch.errors import FieldError, FormatError
from vpcwatch.fields import FlowLogFormat
from vpcwatch.filterpattern.syntax import parse_number
from vpcwatch.replay.parquet import is_parquet, parquet_lines

_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?")


class ReplayInputError(ValueError):
    """A recorded file does not fit the stack's flow-log format."""


MAX_LISTED = 5
"""How many line numbers of unreadable records a report lists."""


@dataclass
class InputStats:
    """What the readers saw: events read, bytes read, records the flow log's traffic type
    would not have delivered, lines that are not records of the format (wrong field
    count, no readable start: counted, and the first few ``file:line`` kept), and bytes
    that were not UTF-8 (replaced by U+FFFD), and the names starting with ``.`` under the
    folders given, not read (counted, the first few kept)."""

    events: int = 0
    bytes_read: int = 0
    undelivered: int = 0
    malformed: int = 0
    malformed_at: list[str] = field(default_factory=list)
    replaced: int = 0
    hidden: int = 0
    hidden_at: list[str] = field(default_factory=list)

    def unreadable(self, path: Path, number: int) -> None:
        self.malformed += 1
        if len(self.malformed_at) < MAX_LISTED:
            self.malformed_at.append(f"{path}:{number}")

    def not_read(self, path: Path) -> None:
        """A file or folder under a folder given that is not read (its name starts with
        ``.``)."""
        self.hidden += 1
        if len(self.hidden_at) < MAX_LISTED:
            self.hidden_at.append(str(path))

    def notes(self) -> list[str]:
        """What the readers left out or changed, one sentence each (none if nothing): the
        replay report's, and on stderr for ``tune`` and ``test-pattern``."""
        notes = []
        if self.malformed:
            notes.append(
                f"{self.malformed:,} lines are not records of the stack's format (wrong field "
                f"count or no start time) and were skipped; first: {', '.join(self.malformed_at)}"
            )
        if self.replaced:
            notes.append(f"{self.replaced:,} bytes were not UTF-8 and were replaced (U+FFFD)")
        if self.hidden:
            notes.append(
                f"{self.hidden:,} names starting with '.' under the folders given were not "
                f"read; first: {', '.join(self.hidden_at)}"
            )
        return notes


def flow_log_events(lines: Iterable[str], log_format: FlowLogFormat) -> Iterator[tuple[int, str]]:
    """``(timestamp, line)`` for plain records; blank lines and records without a
    readable ``start`` are dropped (the scenario tests' generated traffic)."""
    position = log_format.index("start")
    for line in lines:
        fields = line.split()
        if len(fields) <= position:
            continue
        start = parse_number(fields[position])
        if start is not None:
            yield int(start), line


class TextInput:
    """The lines of a recorded file, gunzipped when it is gzip (by content, not by name),
    decoded as UTF-8. Bytes that are not UTF-8 are replaced by U+FFFD and counted in
    ``stats.replaced``, or refused with ``strict``. Every way a file can fail to be read
    (missing, a directory, no permission, a truncated or corrupt gzip) is a
    :class:`ReplayInputError` naming the file, never a traceback.

    ``stream``: an open binary stream to read instead of opening ``path`` (stdin); it
    is decoded and counted the same way (not gunzipped), and ``path`` only names it.
    """

    def __init__(
        self,
        path: Path,
        stats: InputStats | None = None,
        *,
        strict: bool = False,
        stream: BinaryIO | None = None,
    ):
        self.path, self.strict, self.stream = Path(path), strict, stream
        self.stats = InputStats() if stats is None else stats

    def __iter__(self) -> Iterator[str]:
        if self.stream is None and self.path.is_file() and is_parquet(self.path):
            yield from self._parquet()
            return
        number = 0
        try:
            with self._open() as stream:
                for number, raw in enumerate(stream, start=1):
                    self.stats.bytes_read += len(raw)
                    yield self._decode(raw, number)
        except (EOFError, zlib.error, gzip.BadGzipFile) as error:
            raise ReplayInputError(
                f"{self.path}: corrupt or truncated gzip after line {number} ({error})"
            ) from None
        except OSError as error:
            raise ReplayInputError(f"{self.path}: cannot read it ({_reason(error)})") from None

    def _parquet(self) -> Iterator[str]:
        import duckdb

        try:
            for line in parquet_lines(self.path):
                self.stats.bytes_read += len(line) + 1
                yield line
        except duckdb.Error as error:
            first = str(error).splitlines()[0]
            raise ReplayInputError(f"{self.path}: unreadable Parquet ({first})") from None

    def _open(self):
        if self.stream is not None:
            return nullcontext(self.stream)  # not ours to close
        if self.path.is_dir():
            raise ReplayInputError(f"{self.path}: is a directory, not a file")
        try:
            with self.path.open("rb") as probe:
                gzipped = probe.read(2) == b"\x1f\x8b"
        except OSError as error:
            raise ReplayInputError(f"{self.path}: cannot read it ({_reason(error)})") from None
        return gzip.open(self.path, "rb") if gzipped else self.path.open("rb")

    def _decode(self, raw: bytes, number: int) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            if self.strict:
                raise ReplayInputError(
                    f"{self.path}:{number}: bytes that are not UTF-8 (--strict refuses them)"
                ) from None
            escaped = raw.decode("utf-8", errors="surrogateescape")  # a bad byte -> U+DCxx
            bad = _ESCAPED.findall(escaped)
            self.stats.replaced += len(bad)
            return _ESCAPED.sub("\ufffd", escaped)


_ESCAPED = re.compile("[\udc80-\udcff]")


def _reason(error: OSError) -> str:
    return error.strerror or type(error).__name__


def open_text(path: Path) -> io.TextIOBase:
    """A text stream of ``path``, gunzipped when it is gzip (for a quick look at its
    first lines; :class:`TextInput` is the careful reader)."""
    with path.open("rb") as probe:
        gzipped = probe.read(2) == b"\x1f\x8b"
    if gzipped:
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="replace")
    return path.open(encoding="utf-8", errors="replace")


def read_events(
    paths: Iterable[str | Path],
    log_format: FlowLogFormat,
    stats: InputStats | None = None,
    *,
    strict: bool = False,
) -> Iterator[tuple[int, str]]:
    """Every event of every file, in file order, as ``(timestamp, record line)``.

    Raises:
        ReplayInputError: a file cannot be read, or its header or records do not fit
            ``log_format``.
    """
    stats = InputStats() if stats is None else stats
    for path in map(Path, paths):
        yield from _events(path, TextInput(path, stats, strict=strict), log_format, stats)


def _events(
    path: Path, lines: Iterable[str], fmt: FlowLogFormat, stats: InputStats
) -> Iterator[tuple[int, str]]:
    position, width = fmt.index("start"), len(fmt)
    extract = None
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line:
            continue
        if extract is None:
            extract, is_header = detect_shape(path, number, line, fmt)
            if is_header:
                continue
        record = extract(line)
        fields = record.split() if record is not None else []
        start = parse_number(fields[position]) if len(fields) == width else None
        if start is None:
            stats.unreadable(path, number)
            continue
        stats.events += 1
        yield int(start), record


def detect_shape(path: Path, number: int, line: str, fmt: FlowLogFormat):
    """How to get the record out of each line of this file, and whether ``line`` is a
    header to skip."""
    tokens = line.split()
    if tokens and all(re.fullmatch(r"[a-z][a-z0-9-]*", t) for t in tokens) and "start" in tokens:
        try:
            header = _header_format(tuple(tokens))
        except (FieldError, FormatError) as error:
            raise ReplayInputError(
                f"{path}: the header line names unknown fields: {error}"
            ) from None
        if header != fmt:
            raise ReplayInputError(
                f"{path}: the file's fields ({' '.join(header.names)}) are not the stack's "
                f"flow-log format ({' '.join(fmt.names)})"
            )
        return plain_record, True
    if line.startswith("{"):
        return _json_message, False
    if tokens and _ISO.fullmatch(tokens[0]):
        extra = len(tokens) - 1 - len(fmt)
        if extra not in (0, 1):
            _mismatch(path, number, len(tokens) - 1, fmt)
        return (lambda text: " ".join(text.split()[1 + extra :])), False
    if len(tokens) != len(fmt):
        _mismatch(path, number, len(tokens), fmt)
    return plain_record, False


@functools.lru_cache(maxsize=16)
def _header_format(tokens: tuple[str, ...]) -> FlowLogFormat:
    """The format a header line names (an archive's files repeat one header: 21,036
    files of S3 delivery, 0.65 s of parsing the same names -> once)."""
    return FlowLogFormat.of(*tokens)


def plain_record(line: str) -> str:
    return line


def _json_message(line: str) -> str | None:
    try:
        message = json.loads(line).get("message")
    except (ValueError, AttributeError):
        return None
    return message.strip() if isinstance(message, str) else None


def _mismatch(path: Path, number: int, count: int, fmt: FlowLogFormat) -> None:
    raise ReplayInputError(
        f"{path}:{number}: records have {count} fields; the stack's flow-log format has "
        f"{len(fmt)} ({fmt.log_format})"
    )
