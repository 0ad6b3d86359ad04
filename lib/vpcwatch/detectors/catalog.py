"""The detector catalog: the manual recipes of the articles in
docs/sources.md as parameterised detectors.

Each factory returns detectors with sensible defaults; tune one with
``detector.with_(threshold=...)`` and drop one by leaving it out of the list.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vpcwatch.detectors.contributors import ContributorDetector, contributor_filter
from vpcwatch.detectors.model import (
    AlarmSettings,
    Comparison,
    Detector,
    MissingData,
    Severity,
    SilenceDetector,
)
from vpcwatch.fields import FlowLogFormat
from vpcwatch.patterns import FlowFilter
from vpcwatch.values import cidr_list, port_list, refuse_everything, whole_number

PRIVATE_RANGES: tuple[str, ...] = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
"""RFC 1918: the default "inside" for probes and the default trusted side of egress."""

ADMIN_PORTS: tuple[int, ...] = (22, 3389)
SENSITIVE_PORTS: tuple[int, ...] = (0, 23, 445, 1433, 3306, 5432, 6379, 9200, 27017)
S3_US_EAST_1: tuple[str, ...] = ("52.216.0.0/15", "3.5.0.0/19")
"""Examples of an allowed destination (some of S3's us-east-1 ranges); pass your own."""


def rejected_flows(*, threshold: int = 50) -> Detector:
    """REJECT records per minute. A closed security group saw 5.7/min of background noise
    (the 0.0.0.0 flow-log study, docs/sources.md); that must not alarm, a storm must.

    Args:
        threshold: REJECT records in one minute that raise the alarm. Default: 50.
    """
    return Detector(
        name="RejectedFlows",
        title="Storm of rejected flows",
        description=(
            "More rejected flows than the threshold in one minute: a scan or a flood against "
            "the VPC, or a broken security group blocking real traffic. Respond: run the "
            "'REJECT per minute' and 'top rejected ports' saved queries, find the sources, "
            "and block them in a network ACL if the scan goes on."
        ),
        severity=Severity.MEDIUM,
        mitre=("T1046", "T1595"),
        required_fields=("action", "log_status"),
        build_filter=lambda fmt: (
            fmt.filter().where("action", "=", "REJECT").where("log_status", "=", "OK")
        ),
        alarm=AlarmSettings(threshold=threshold),
    )


def admin_port_probes(
    *, ports: Sequence[int] = ADMIN_PORTS, exclude_sources: Sequence[str] = PRIVATE_RANGES
) -> tuple[Detector, Detector]:
    """Ingress to administration ports (SSH, RDP) from outside, in two flavours.

    ``AdminPortProbes``: rejected attempts, internet noise (low severity, high
    threshold). ``AdminPortAccepted``: an accepted connection from outside, meaning a
    security group admits the world: high severity, threshold 1.

    Args:
        ports: the administration ports. Default: 22 and 3389.
        exclude_sources: CIDRs that are "inside" (your VPC, your office). Default: RFC 1918.
    """
    ports, exclude = port_list(ports, "ports"), cidr_list(exclude_sources, "exclude_sources")
    refuse_everything(exclude, "exclude_sources", "AdminPortProbes/AdminPortAccepted")

    def probes(action: str):
        def build(fmt: FlowLogFormat) -> FlowFilter:
            flt = fmt.filter().where("dstport", "in", ports).where("action", "=", action)
            return flt.where("srcaddr", "not in", exclude) if exclude else flt

        return build

    port_names = "/".join(str(p) for p in ports)
    rejected = Detector(
        name="AdminPortProbes",
        title=f"Probes on admin ports {port_names} from outside",
        description=(
            f"Rejected connection attempts on {port_names} from addresses outside "
            f"{', '.join(exclude) or 'anywhere'}. Internet scanners do this all day; a rise "
            "means a targeted scan. Respond: check that no security group admits these "
            "ports from 0.0.0.0/0 (the AdminPortAccepted alarm fires if one does)."
        ),
        severity=Severity.LOW,
        mitre=("T1046", "T1110"),
        required_fields=("dstport", "action", "srcaddr"),
        build_filter=probes("REJECT"),
        alarm=AlarmSettings(threshold=30),
    )
    accepted = Detector(
        name="AdminPortAccepted",
        title=f"Accepted connection on admin ports {port_names} from outside",
        description=(
            f"A connection on {port_names} from outside {', '.join(exclude) or 'anywhere'} was "
            "ACCEPTED: a security group admits administration from the internet. Respond: "
            "find the destination address and its instance, narrow the rule to a /32 or to "
            "a bastion's security group, and check the instance's logins."
        ),
        severity=Severity.HIGH,
        mitre=("T1133", "T1021"),
        required_fields=("dstport", "action", "srcaddr"),
        build_filter=probes("ACCEPT"),
        alarm=AlarmSettings(threshold=1),
    )
    return rejected, accepted


def sensitive_port_probes(
    *,
    ports: Sequence[int] = SENSITIVE_PORTS,
    exclude_sources: Sequence[str] = PRIVATE_RANGES,
    threshold: int = 20,
) -> Detector:
    """Flows to database, cache and file-sharing ports from outside (the mix a closed group sees:
    port 0, Redis 6379, ...), accepted or not.

    Args:
        ports: the ports. Default: 0, 23, 445, 1433, 3306, 5432, 6379, 9200, 27017.
        exclude_sources: CIDRs that are "inside". Default: RFC 1918.
        threshold: flows in one minute that raise the alarm. Default: 20.
    """
    ports, exclude = port_list(ports, "ports"), cidr_list(exclude_sources, "exclude_sources")
    refuse_everything(exclude, "exclude_sources", "SensitivePortProbes")

    def build(fmt: FlowLogFormat) -> FlowFilter:
        flt = fmt.filter().where("dstport", "in", ports).where("log_status", "=", "OK")
        return flt.where("srcaddr", "not in", exclude) if exclude else flt

    return Detector(
        name="SensitivePortProbes",
        title="Probes on database and service ports from outside",
        description=(
            "Flows from outside to ports that must never face the internet (databases, "
            "Redis, SMB, telnet, port 0). Respond: confirm every such flow was REJECTED; an "
            "ACCEPT means a security group is open to the world."
        ),
        severity=Severity.MEDIUM,
        mitre=("T1046",),
        required_fields=("dstport", "log_status", "srcaddr"),
        build_filter=build,
        alarm=AlarmSettings(threshold=threshold),
    )


def exfiltration(
    *,
    allowed_destinations: Sequence[str] = (),
    min_bytes: int = 100_000,
    trusted_ranges: Sequence[str] = PRIVATE_RANGES,
) -> Detector:
    """Egress over ``min_bytes`` in one flow record to a destination outside the allowed
    list (:func:`egress_volume` sums the bytes of every such flow, large or small).

    Args:
        allowed_destinations: CIDRs data may leave for (S3 ranges, partners). Default: none.
        min_bytes: bytes in one flow record that count. Default: 100,000.
        trusted_ranges: destinations inside your network, never counted. Default: RFC 1918.
    """
    whole_number(min_bytes, "min_bytes", minimum=0, allowed="a non-negative integer")
    allowed = _outside(allowed_destinations, trusted_ranges, "Exfiltration")

    def build(fmt: FlowLogFormat) -> FlowFilter:
        flt = (
            fmt.filter()
            .where("flow_direction", "=", "egress")
            .where("action", "=", "ACCEPT")
            .where("bytes", ">", min_bytes)
        )
        return flt.where("dstaddr", "not in", allowed) if allowed else flt

    return Detector(
        name="Exfiltration",
        title="Large upload to an unlisted destination",
        description=(
            f"A flow sent more than {min_bytes:,} bytes to an address that is neither "
            "internal nor on the allowed list. GuardDuty does not catch an insider copying "
            "data out. Respond: identify the instance and the process, compare with change "
            "tickets, and add legitimate destinations to allowed_destinations."
        ),
        severity=Severity.HIGH,
        mitre=("T1048", "T1041"),
        required_fields=("flow_direction", "action", "bytes", "dstaddr"),
        build_filter=build,
        alarm=AlarmSettings(threshold=1),
        internal_address="srcaddr",  # egress: the sender is ours
    )


SERVED_PORTS: tuple[int, ...] = (80, 443)
"""Ports the VPC serves the internet on: egress from them is answers, not uploads."""


def egress_volume(
    *,
    threshold_bytes: int = 10_000_000,
    period_minutes: int = 60,
    allowed_destinations: Sequence[str] = (),
    trusted_ranges: Sequence[str] = PRIVATE_RANGES,
    served_ports: Sequence[int] = SERVED_PORTS,
) -> Detector:
    """Bytes of every accepted egress flow to a destination outside the trusted and
    allowed ranges, summed over a sliding window (no per-flow minimum): data leaving in
    pieces that :func:`exfiltration`'s per-flow threshold never sees (150 uploads of 90 KB
    in 30 minutes, 13.5 MB, raise it after about 23 minutes). Its metric is the volume
    that ``ExfiltrationBytes`` measured for large flows only (replaced by this one:
    CloudWatch Logs allows 5 filters with a regex per log group).

    Args:
        threshold_bytes: bytes in one window that raise the alarm. Default: 10,000,000.
        period_minutes: the window, in minutes (the alarm's period; CloudWatch evaluates
            it every minute). Default: 60.
        allowed_destinations: CIDRs data may leave for. Default: none.
        trusted_ranges: destinations inside your network. Default: RFC 1918.
        served_ports: source ports of the services you offer to the internet: egress
            from them is answers to visitors, not counted (an empty list counts them).
            Default: 80 and 443.
    """
    whole_number(threshold_bytes, "threshold_bytes", minimum=1, allowed="a positive integer")
    whole_number(period_minutes, "period_minutes", minimum=1, allowed="a positive integer")
    if period_minutes > 1440:
        raise ValueError(f"period_minutes must be 1440 (one day) or less; got {period_minutes}")
    allowed = _outside(allowed_destinations, trusted_ranges, "EgressVolume")
    served = _served(served_ports)

    def build(fmt: FlowLogFormat) -> FlowFilter:
        flt = fmt.filter().where("flow_direction", "=", "egress").where("action", "=", "ACCEPT")
        if served:
            flt = flt.where("srcport", "not in", served)
        return flt.where("dstaddr", "not in", allowed) if allowed else flt

    return Detector(
        name="EgressVolume",
        title="Data leaving in small pieces",
        description=(
            f"More than {threshold_bytes:,} bytes in {period_minutes} minutes left for "
            "addresses that are neither internal nor on the allowed list, however small each "
            "flow (answers from the served ports not counted). Respond: run the 'top talkers' "
            "saved query for the window, find the instance, and compare with its normal "
            "traffic; add legitimate destinations to allowed_destinations."
        ),
        severity=Severity.HIGH,
        mitre=("T1030", "T1048"),
        required_fields=("flow_direction", "action", "srcport", "dstaddr"),
        build_filter=build,
        metric_value="$bytes",
        alarm=AlarmSettings(threshold=threshold_bytes, period=60 * period_minutes),
        internal_address="srcaddr",
    )


SCANNED_PORTS: tuple[int, ...] = (22, 3389, 23, 445, 1433, 3306, 5432, 6379, 9200, 27017)
"""The admin and sensitive ports a slow scan is watched on (10: a rule's ``In`` limit)."""


def slow_scan_sources(
    *, threshold: int = 30, window_minutes: int = 60, ports: Sequence[int] = SCANNED_PORTS
) -> ContributorDetector:
    """One source address with many rejected probes on admin and sensitive ports over a
    long window: a slow scan stays under every per-minute count (one probe every 15
    seconds is 240 an hour), while the internet's background is many sources probing
    once or twice each (the 0.0.0.0 study: 5.7 a minute, from everywhere).

    Args:
        threshold: rejected probes from one address in the window. Default: 30.
        window_minutes: the window (the alarm's period). Default: 60.
        ports: the destination ports watched (1 to 10). Default: :data:`SCANNED_PORTS`.
    """
    ports = port_list(ports, "ports")
    if len(ports) > 10:
        raise ValueError(f"ports must hold at most 10 ports (a Contributor Insights 'In' "
                         f"filter); got {len(ports)}")  # fmt: skip
    _check_window(window_minutes)
    return ContributorDetector(
        name="SlowScanSources",
        title="One address probing for a long time",
        description=(
            f"One source address had {threshold} or more rejected flows to ports "
            f"{'/'.join(map(str, ports))} within {window_minutes} minutes: a scan paced to "
            "stay under per-minute thresholds. Respond: open the rule's top contributors, "
            "block the address in a network ACL, and check that no security group admits "
            "these ports from 0.0.0.0/0."
        ),
        severity=Severity.MEDIUM,
        mitre=("T1046", "T1595.001"),
        keys=("srcaddr",),
        filters=(
            contributor_filter("action", "In", ["REJECT"]),
            contributor_filter("dstport", "In", ports),
        ),
        alarm=AlarmSettings(threshold=threshold, period=60 * window_minutes),
    )


def egress_top_talkers(
    *,
    threshold_bytes: int = 5_000_000,
    window_minutes: int = 60,
    served_ports: Sequence[int] = SERVED_PORTS,
) -> ContributorDetector:
    """One (internal source, destination) pair sending many bytes to the internet over a
    long window, however small each flow: the per-contributor view of
    :func:`egress_volume`. "To the internet" is ``traffic_path`` 2 or 8 (an internet
    gateway; gateway endpoints to S3 and DynamoDB are 7), as a rule's filters cannot
    exclude CIDR blocks.

    Args:
        threshold_bytes: bytes from one pair in the window. Default: 5,000,000.
        window_minutes: the window (the alarm's period). Default: 60.
        served_ports: source ports whose egress is answers to visitors, not counted
            (at most 10; an empty list counts them). Default: 80 and 443.
    """
    whole_number(threshold_bytes, "threshold_bytes", minimum=1, allowed="a positive integer")
    _check_window(window_minutes)
    served = _served(served_ports)
    filters = [
        contributor_filter("flow_direction", "In", ["egress"]),
        contributor_filter("action", "In", ["ACCEPT"]),
        contributor_filter("traffic_path", "In", ["2", "8"]),
    ]
    if served:
        filters.append(contributor_filter("srcport", "NotIn", served))
    return ContributorDetector(
        name="EgressTopTalkers",
        title="One pair sending much to the internet",
        description=(
            f"One internal address sent {threshold_bytes:,} bytes or more to one internet "
            f"address within {window_minutes} minutes (answers from the served ports not "
            "counted). Respond: open the rule's top contributors, identify the instance and "
            "the destination, and compare with change tickets."
        ),
        severity=Severity.HIGH,
        mitre=("T1030", "T1048", "T1041"),
        keys=("srcaddr", "dstaddr"),
        filters=tuple(filters),
        value_of="bytes",
        alarm=AlarmSettings(threshold=threshold_bytes, period=60 * window_minutes),
    )


def _check_window(window_minutes: int) -> None:
    whole_number(window_minutes, "window_minutes", minimum=1, maximum=1440,
                 allowed="an integer from 1 to 1440")  # fmt: skip


def _outside(allowed_destinations: Any, trusted_ranges: Any, detector: str) -> tuple[str, ...]:
    """The destinations that are not "outside": allowed and trusted, refused when together
    they cover every address (``detector`` could never fire)."""
    allowed = cidr_list(allowed_destinations, "allowed_destinations") + cidr_list(
        trusted_ranges, "trusted_ranges"
    )
    refuse_everything(allowed, "allowed_destinations with trusted_ranges", detector)
    return allowed


def _served(served_ports: Any) -> tuple[int, ...]:
    """The served ports (an empty list: none, so answers count too)."""
    return () if not tuple(served_ports) else port_list(served_ports, "served_ports")


def flow_log_health() -> tuple[Detector, SilenceDetector]:
    """``SkippedRecords``: SKIPDATA records (flow logs lost records to capacity limits);
    ``FlowLogsStopped``: the log group received no events for about 17 minutes (15
    one-minute datapoints, and the 2 more that CloudWatch's evaluation range retrieves
    must be silent too: with 5-minute datapoints that wait was 25 minutes)."""
    skipped = Detector(
        name="SkippedRecords",
        title="Flow logs skipped records",
        description=(
            "A SKIPDATA record: flow logs could not capture some records (internal capacity "
            "or errors), so detection has a blind spot for that window. Respond: check the "
            "interface's traffic volume and the flow log's status."
        ),
        severity=Severity.MEDIUM,
        mitre=("T1562.008",),
        required_fields=("log_status",),
        build_filter=lambda fmt: fmt.filter().where("log_status", "=", "SKIPDATA"),
        alarm=AlarmSettings(threshold=1),
    )
    stopped = SilenceDetector(
        name="FlowLogsStopped",
        title="Flow logs stopped arriving",
        description=(
            "The flow-log group received no events for about 17 minutes (15 one-minute "
            "datapoints; CloudWatch's evaluation range waits for 2 more): the flow log was "
            "deleted or its role broken, and every detector is blind. Respond: check the "
            "flow log's status and its delivery role."
        ),
        severity=Severity.HIGH,
        mitre=("T1562.008",),
        alarm=AlarmSettings(
            period=60,
            evaluation_periods=15,
            datapoints_to_alarm=15,
            comparison=Comparison.LESS_THAN,
            threshold=1,
            treat_missing_data=MissingData.BREACHING,
        ),
    )
    return skipped, stopped


def default_detectors(
    *, allowed_destinations: Sequence[str] = ()
) -> tuple[Detector | ContributorDetector | SilenceDetector, ...]:
    """The whole catalog with default settings.

    Args:
        allowed_destinations: passed to :func:`exfiltration` and :func:`egress_volume`.
            Default: none.
    """
    return (
        rejected_flows(),
        *admin_port_probes(),
        sensitive_port_probes(),
        exfiltration(allowed_destinations=allowed_destinations),
        egress_volume(allowed_destinations=allowed_destinations),
        slow_scan_sources(),
        egress_top_talkers(),
        *flow_log_health(),
    )
