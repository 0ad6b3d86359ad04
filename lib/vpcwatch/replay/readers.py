"""Log events from flow-log records: the CloudWatch event timestamp is the record's ``start``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from vpcwatch.fields import FlowLogFormat
from vpcwatch.filterpattern.syntax import parse_number


def flow_log_events(lines: Iterable[str], log_format: FlowLogFormat) -> Iterator[tuple[int, str]]:
    """``(timestamp, line)`` for every record whose ``start`` is a number; blank lines are
    skipped. (Records without a start, which flow logs do not write, cannot be placed in
    time and are dropped.)"""
    position = log_format.index("start")
    for line in lines:
        fields = line.split()
        if len(fields) <= position:
            continue
        start = parse_number(fields[position])
        if start is not None:
            yield int(start), line
