"""CloudWatch Logs Insights queries built from the flow-log format.

Logs Insights discovers the fields of the default flow-log format only; for any
other format the fields are parsed from ``@message`` with a ``parse`` statement
generated from the format, so every query names fields exactly as filters do.
A saved investigation exists only when the format holds the fields it needs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from vpcwatch.fields import FieldKind, FlowLogFormat
from vpcwatch.filterpattern.athena import athena_where
from vpcwatch.filterpattern.insights import insights_filter
from vpcwatch.patterns import FlowFilter
from vpcwatch.timeformat import parse_instant


def parse_statement(log_format: FlowLogFormat) -> str:
    """``parse @message "* * ..." as version, account_id, ...`` for ``log_format``."""
    globs = " ".join("*" for _ in log_format.names)
    return f'parse @message "{globs}" as {", ".join(log_format.names)}'


@dataclass(frozen=True)
class Investigation:
    """A saved query: a name, what it answers, the fields it needs, and its body."""

    name: str
    description: str
    required_fields: tuple[str, ...]
    body: str

    def query(self, log_format: FlowLogFormat) -> str:
        return f"fields @timestamp, @message\n| {parse_statement(log_format)}\n| {self.body}"


INVESTIGATIONS: tuple[Investigation, ...] = (
    Investigation(
        "RejectedPerMinute",
        "REJECT records per minute (about 5.7 a minute on a closed port, in the 0.0.0.0 "
        "flow-log study).",
        ("action",),
        'filter action = "REJECT"\n| stats count(*) as rejected by bin(1m)',
    ),
    Investigation(
        "TopRejectedPorts",
        "Destination ports of rejected traffic (22, 0, 6379 on top in the 0.0.0.0 flow-log study).",
        ("action", "dstport"),
        'filter action = "REJECT"\n| stats count(*) as flows by dstport\n'
        "| sort flows desc\n| limit 20",
    ),
    Investigation(
        "SshSourcesByPackets",
        "Sources on port 22 by packets (the GuardDuty SSH-scanner test's Athena query).",
        ("dstport", "packets", "srcaddr", "dstaddr"),
        "filter dstport = 22\n| stats sum(packets) as packetcount by srcaddr, dstaddr\n"
        "| sort packetcount desc\n| limit 20",
    ),
    Investigation(
        "FlowsToRdpWithInstance",
        "Flows to port 3389 and the instance behind each destination (the "
        "incident-response exercise).",
        ("dstport", "srcaddr", "dstaddr", "action", "interface_id", "instance_id"),
        "filter dstport = 3389\n| stats count(*) as flows by srcaddr, dstaddr, instance_id, "
        "interface_id, action\n| sort flows desc\n| limit 50",
    ),
    Investigation(
        "FlowsToRdp",
        "Flows to port 3389 and the interface behind each destination (the "
        "incident-response exercise).",
        ("dstport", "srcaddr", "dstaddr", "action", "interface_id"),
        "filter dstport = 3389\n| stats count(*) as flows by srcaddr, dstaddr, interface_id, "
        "action\n| sort flows desc\n| limit 50",
    ),
)


def investigations(log_format: FlowLogFormat) -> dict[str, str]:
    """``{name: query}`` for the investigations the format can answer (the richer of the
    two RDP queries when the format has ``instance_id``)."""
    found = {
        item.name: item.query(log_format)
        for item in INVESTIGATIONS
        if not log_format.missing(item.required_fields)
    }
    if "FlowsToRdpWithInstance" in found:
        found.pop("FlowsToRdp", None)
    return found


def filter_query(flow_filter: FlowFilter) -> str:
    """The records ``flow_filter`` matches, as a Logs Insights query."""
    fmt = flow_filter.format
    return (
        f"fields @timestamp, @message\n| {parse_statement(fmt)}\n"
        f"| filter {insights_filter(flow_filter.tree())}"
    )


ENRICHMENT_GROUPING = ("srcaddr", "dstaddr", "dstport", "interface_id", "action")
"""The fields an alarm's enrichment groups matching flows by (those the format has)."""


def enrichment_query(flow_filter: FlowFilter, max_rows: int) -> str:
    """Top talkers among the records ``flow_filter`` matches: flows, bytes and packets
    per source, destination, port, interface and action, at most ``max_rows`` rows."""
    fmt = flow_filter.format
    by = [name for name in ENRICHMENT_GROUPING if name in fmt]
    sums = [f"sum({name}) as {name}" for name in ("bytes", "packets") if name in fmt]
    stats = ", ".join(["count(*) as flows", *sums])
    return (
        f"{filter_query(flow_filter)}\n| stats {stats} by {', '.join(by)}\n"
        f"| sort flows desc\n| limit {max_rows}"
    )


ATHENA_TYPES = {"INT_32": "int", "INT_64": "bigint", "STRING": "string"}
"""Glue/Athena column type of each Parquet type of the field catalog."""

_TABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")
_TOKEN = re.compile(r"\$\{Token\[[A-Za-z0-9_.-]+\]\}")
"""A CDK token in a name (a database name CloudFormation resolves): taken as one word."""


def athena_columns(log_format: FlowLogFormat) -> list[tuple[str, str]]:
    """(column, type) for every field, numbers typed as numbers (``-`` reads as NULL)."""
    return [(f.name, ATHENA_TYPES[f.parquet_type]) for f in log_format.fields]


def athena_query(
    flow_filter: FlowFilter, table: str, start: int | None = None, end: int | None = None
) -> str:
    """The records ``flow_filter`` matches, as Athena SQL over a table of the format.

    Args:
        table: ``table`` or ``database.table``.
        start: first second of the records' ``start``, inclusive: Unix seconds or an ISO
            8601 time (:mod:`vpcwatch.timeformat`). Default: none.
        end: last second, exclusive, likewise. Default: none.

    Raises:
        ValueError: a table name that is not an identifier, or times that are not integers.
    """
    if not isinstance(table, str) or not _TABLE.fullmatch(_TOKEN.sub("token", table)):
        raise ValueError(f"table must be an identifier such as 'db.flow_logs'; got {table!r}")
    fmt = flow_filter.format
    numeric = {f.name: f.kind is FieldKind.NUMBER for f in fmt.fields}
    where = [athena_where(flow_filter.tree(), numeric)]
    for bound, operator in ((start, ">="), (end, "<")):
        if bound is not None:
            try:
                seconds = parse_instant(bound)
            except ValueError:
                raise ValueError(
                    f"start and end must be Unix seconds or ISO 8601 times; got {bound!r}"
                ) from None
            fmt.index("start")
            where.append(f'"start" {operator} {seconds}')
    quoted = ".".join(f'"{part}"' for part in table.split("."))
    return f"SELECT * FROM {quoted}\nWHERE " + "\n  AND ".join(where)


def athena_counts_by_partition(
    named_queries: Sequence[tuple[str, str]], partitions: Sequence[str]
) -> str:
    """How many records each ``(name, SELECT * ...)`` query selects, per value of the
    ``partitions`` columns (a central archive's account and region): one query, one
    row per name and partition, most records first."""
    columns = ", ".join(f'"{p}"' for p in partitions)
    parts = [
        f"SELECT '{name}' AS detector, {columns}, COUNT(*) AS records FROM (\n{sql}\n) "
        f"GROUP BY {columns}"
        for name, sql in named_queries
    ]
    return "\nUNION ALL\n".join(parts) + "\nORDER BY records DESC, detector"
