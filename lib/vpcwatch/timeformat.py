"""Times as vpcwatch reads and writes them, the same in the library and the CLI.

Read: Unix seconds (an integer, or its digits) or ISO 8601 (``2026-11-17``,
``2026-11-17T00:00Z``, ``2026-11-17T09:00:00+09:00``), UTC unless it says otherwise.
Written: ISO 8601 in UTC with a ``Z`` (``2026-11-17T00:00:00Z``).
"""

from __future__ import annotations

from datetime import UTC, datetime


def parse_instant(value: int | str) -> int:
    """Unix seconds of ``value``.

    Raises:
        ValueError: neither Unix seconds nor an ISO 8601 time, with the value quoted.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a time: {value!r}")
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        raise ValueError(f"not a time: {value!r} (Unix seconds or ISO 8601)")
    text = value.strip()
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"not a time: {value!r} (Unix seconds or ISO 8601)") from None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


def iso(seconds: int) -> str:
    """``2026-11-17T00:00:00Z``."""
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
