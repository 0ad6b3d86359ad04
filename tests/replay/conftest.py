"""Fixtures shared by the replay tests."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest


def record_scans(monkeypatch) -> list[str]:
    """The scans of plain text from now on, in order: "polars", "duckdb", or "polars
    declined" (polars handed the files to DuckDB)."""
    from vpcwatch.replay import fast

    used: list[str] = []
    for engine, name in (("polars", "_scan_polars"), ("duckdb", "_scan")):
        original = getattr(fast, name)

        def spy(*args, _original=original, _engine=engine, **kwargs):
            result = _original(*args, **kwargs)
            used.append(_engine if result is not None else f"{_engine} declined")
            return result

        monkeypatch.setattr(fast, name, spy)
    return used


@pytest.fixture
def scans(monkeypatch) -> list[str]:
    """:func:`record_scans` for one test."""
    return record_scans(monkeypatch)


@dataclass
class ScanEngines:
    """The engine a test asked to scan plain text, and the scans that ran
    (:func:`record_scans`)."""

    asked: str
    used: list[str] = field(default_factory=list)


@pytest.fixture(params=["polars", "duckdb"])
def scan_engine(request, monkeypatch) -> ScanEngines:
    """Plain text scanned by polars (installed, as with the ``fast`` extra) or by DuckDB
    (as without it)."""
    from vpcwatch.replay import fast

    if request.param == "duckdb":
        monkeypatch.setattr(fast, "polars_available", lambda: False)
    else:
        pytest.importorskip("polars")
    return ScanEngines(request.param, record_scans(monkeypatch))
