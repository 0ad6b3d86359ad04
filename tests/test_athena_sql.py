"""Detectors compiled to Athena SQL select exactly what the metric filter matches.

DuckDB stands in for Athena's Trino: the SQL keeps to what both share, and
``regexp_like`` (Trino's) is defined here as a macro over DuckDB's
``regexp_matches`` (the same search semantics).
"""

from __future__ import annotations

import itertools
import random

import duckdb
import pytest

from vpcwatch import FlowLogFormat, Regex
from vpcwatch.detectors import S3_US_EAST_1, default_detectors
from vpcwatch.filterpattern import compile_pattern
from vpcwatch.queries import athena_columns, athena_query
from vpcwatch.traffic import DEFAULT_START, TrafficGenerator, generate

FMT = FlowLogFormat.all_fields()
DUCK_TYPES = {"int": "INTEGER", "bigint": "BIGINT", "string": "VARCHAR"}


def _lines() -> list[str]:
    incidents = {m: ("ssh-scan", "rdp-accepted", "exfiltration", "allowed-upload",
                     "skipdata", "port-scan") for m in (3, 11)}  # fmt: skip
    lines = list(itertools.islice(generate(FMT, minutes=15, seed=21, incidents=incidents), 4000))
    generator, rng = TrafficGenerator(FMT, seed=5), random.Random(5)
    for minute in range(15):  # odd values: internal sources, IPv6, big numbers, wildcards
        for _ in range(20):
            record = generator.record(
                minute,
                srcaddr=rng.choice(["10.1.2.3", "172.20.0.9", "2001:db8::7", "52.217.1.1"]),
                dstport=str(rng.choice([0, 22, 3389, 6379, 65535])),
                bytes=str(rng.choice([0, 99_999, 100_000, 100_001, 2**40])),
                action=rng.choice(["ACCEPT", "REJECT"]),
                flow_direction=rng.choice(["ingress", "egress"]),
            )
            lines.append(generator.line(record))
    return lines


LINES = _lines()


@pytest.fixture(scope="module")
def table():
    connection = duckdb.connect()
    columns = ", ".join(f'"{n}" {DUCK_TYPES[t]}' for n, t in athena_columns(FMT))
    connection.execute(f"CREATE TABLE flow_logs (id INTEGER, {columns})")
    rows = []
    for number, line in enumerate(LINES):
        values = [None if token == "-" else token for token in line.split()]
        rows.append([number, *values])
    placeholders = ", ".join("?" for _ in range(len(FMT) + 1))
    connection.executemany(f"INSERT INTO flow_logs VALUES ({placeholders})", rows)
    connection.execute("CREATE MACRO regexp_like(s, p) AS regexp_matches(s, p)")
    return connection


def _selected(connection, sql: str) -> set[int]:
    return {
        row[0] for row in connection.execute(sql.replace("SELECT *", "SELECT id", 1)).fetchall()
    }


def _matched(pattern: str) -> set[int]:
    compiled = compile_pattern(pattern)
    return {number for number, line in enumerate(LINES) if compiled.match(line) is not None}


@pytest.mark.parametrize(
    "detector",
    [d for d in default_detectors(allowed_destinations=S3_US_EAST_1) if hasattr(d, "pattern")],
    ids=lambda d: d.name,
)
def test_detector_sql_selects_what_the_metric_filter_matches(table, detector):
    expected = _matched(detector.pattern(FMT))
    assert _selected(table, detector.to_athena_sql(FMT, "flow_logs")) == expected
    assert expected or detector.name == "AdminPortAccepted" or detector.name == "SkippedRecords"


FILTERS = [
    FMT.filter().where("interface_id", "=", "eni-0a*").where("dstport", "<=", 1024),
    FMT.filter().where("action", "!=", "*EPT").where("bytes", ">=", 100_000),
    FMT.filter().where("srcaddr", "in", ["2001:db8::/32", "10.0.0.0/8"]),
    FMT.filter().where("srcaddr", "not in", ["172.16.0.0/12"]).where("type", "=", "IPv*"),
    FMT.filter().where("region", "=", "*east*").where("tcp_flags", "!=", 18),
    FMT.filter().where("interface_id", "=", Regex("60001$")).where("dstport", "not in", [443]),
    FMT.filter().where("dstaddr", "=", "10.0.0.128/25").where("log_status", "=", "OK"),
]


@pytest.mark.parametrize("flow_filter", FILTERS, ids=str)
def test_builder_filters_agree_in_sql(table, flow_filter):
    assert _selected(table, athena_query(flow_filter, "flow_logs")) == _matched(str(flow_filter))


def test_time_bounds(table):
    detector = default_detectors()[0]
    start, end = DEFAULT_START + 180, DEFAULT_START + 240
    in_window = {
        n for n in _matched(detector.pattern(FMT)) if start <= int(LINES[n].split()[10]) < end
    }
    assert _selected(table, detector.to_athena_sql(FMT, "flow_logs", start, end)) == in_window
    assert in_window


@pytest.mark.parametrize(
    ("table_name", "start", "message"),
    [("flow logs", None, "table must be an identifier"), ("t", "soon", "Unix seconds")],
)
def test_bad_arguments(table_name, start, message):
    with pytest.raises(ValueError, match=message):
        default_detectors()[0].to_athena_sql(FMT, table_name, start)


def test_insights_query_of_a_detector():
    from vpcwatch.detectors import admin_port_probes

    query = admin_port_probes()[1].to_insights_query(FlowLogFormat.default())
    assert query.splitlines()[1] == (
        '| parse @message "* * * * * * * * * * * * * *" as version, account_id, interface_id, '
        "srcaddr, dstaddr, srcport, dstport, protocol, packets, bytes, start, end, action, "
        "log_status"
    )
    assert query.splitlines()[2] == (
        r"| filter ((not (srcaddr like /^10\.|^172\.1[6-9]\.|^172\.2\d\.|^172\.3[0-1]\.|"
        r"^192\.168\./))) and ((dstport like /^[+-]?\d+(\.\d+)?([eE][+-]?\d+)?$/ and dstport "
        r"= 22) or (dstport like /^[+-]?\d+(\.\d+)?([eE][+-]?\d+)?$/ and dstport = 3389)) and "
        r'((action = "ACCEPT"))'
    )


def test_insights_wildcards_and_regexes():
    from vpcwatch.filterpattern import parse
    from vpcwatch.filterpattern.insights import insights_filter

    tree = parse('[a = *x.y, b = p/q*, c = *mid*, d != "exact", e = %^eni-%, f = *]')
    assert insights_filter(tree) == (
        r"((a like /x\.y$/)) and ((b like /^p\/q/)) and ((c like /mid/)) and "
        r'((not (d = "exact"))) and ((e like /^eni-/)) and ((ispresent(f)))'
    )
    assert insights_filter(parse("[a, b]")) == "true"
