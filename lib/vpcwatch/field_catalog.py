"""The VPC Flow Logs record fields, as data.

One row per field of record versions 2-5, 7 and 8 (Amazon VPC user guide,
"Flow log records"; version 6 exists only for Transit Gateway flow logs).
Columns: the AWS name, the record version that introduced it, the Parquet
type AWS uses for it (which says whether it is a number), and one line on what
it holds. Order within a version is the order of the AWS documentation, which
is also the order of :meth:`FlowLogFormat.all_fields`.

Everything else (pattern names, kinds, Athena types) is derived in
:mod:`vpcwatch.fields`; edit only this table to add a field.
"""

from __future__ import annotations

# (aws name, version, parquet type, description)
FIELD_ROWS: tuple[tuple[str, int, str, str], ...] = (
    ("version", 2, "INT_32", "Record version: the highest version among the fields of the format."),
    (
        "account-id",
        2,
        "STRING",
        "AWS account that owns the interface; 'unknown' for some AWS-managed interfaces.",
    ),
    (
        "interface-id",
        2,
        "STRING",
        "ID of the network interface (eni-...) the traffic is recorded for.",
    ),
    (
        "srcaddr",
        2,
        "STRING",
        "Source address (IPv4 or IPv6) of incoming traffic, or the interface's address for outgoing.",
    ),
    (
        "dstaddr",
        2,
        "STRING",
        "Destination address of outgoing traffic, or the interface's address for incoming.",
    ),
    ("srcport", 2, "INT_32", "Source port of the traffic."),
    ("dstport", 2, "INT_32", "Destination port of the traffic."),
    ("protocol", 2, "INT_32", "IANA protocol number: 1 ICMP, 6 TCP, 17 UDP, 58 ICMPv6."),
    ("packets", 2, "INT_64", "Number of packets transferred during the aggregation window."),
    ("bytes", 2, "INT_64", "Number of bytes transferred during the aggregation window."),
    (
        "start",
        2,
        "INT_64",
        "Unix seconds of the first packet of the window; the CloudWatch event timestamp.",
    ),
    ("end", 2, "INT_64", "Unix seconds of the last packet of the window."),
    (
        "action",
        2,
        "STRING",
        "ACCEPT or REJECT: whether security groups and network ACLs allowed the traffic.",
    ),
    (
        "log-status",
        2,
        "STRING",
        "OK, NODATA (no traffic in the window) or SKIPDATA (records were skipped).",
    ),
    ("vpc-id", 3, "STRING", "ID of the VPC that contains the interface."),
    ("subnet-id", 3, "STRING", "ID of the subnet that contains the interface."),
    (
        "instance-id",
        3,
        "STRING",
        "ID of the instance the interface is attached to, when you own it.",
    ),
    (
        "tcp-flags",
        3,
        "INT_32",
        "OR of the TCP flags seen in the window: FIN 1, SYN 2, RST 4, SYN-ACK 18.",
    ),
    ("type", 3, "STRING", "Traffic type: IPv4, IPv6 or EFA."),
    (
        "pkt-srcaddr",
        3,
        "STRING",
        "Packet-level source address (differs from srcaddr behind NAT or middleboxes).",
    ),
    ("pkt-dstaddr", 3, "STRING", "Packet-level destination address."),
    ("region", 4, "STRING", "Region of the interface."),
    ("az-id", 4, "STRING", "ID of the Availability Zone of the interface."),
    ("sublocation-type", 4, "STRING", "Sublocation type: wavelength, outpost or localzone."),
    ("sublocation-id", 4, "STRING", "ID of the sublocation."),
    (
        "pkt-src-aws-service",
        5,
        "STRING",
        "AWS service of pkt-srcaddr, if any (AMAZON, S3, DYNAMODB, EC2, ...).",
    ),
    ("pkt-dst-aws-service", 5, "STRING", "AWS service of pkt-dstaddr, if any."),
    (
        "flow-direction",
        5,
        "STRING",
        "Direction of the flow relative to the interface: ingress or egress.",
    ),
    (
        "traffic-path",
        5,
        "INT_32",
        "Egress path: 1 same VPC, 2 IGW/gateway endpoint, 3 VGW, 4/5 peering, 6 LGW, 7/8 Nitro.",
    ),
    ("ecs-cluster-arn", 7, "STRING", "ARN of the ECS cluster of the task."),
    ("ecs-cluster-name", 7, "STRING", "Name of the ECS cluster of the task."),
    ("ecs-container-instance-arn", 7, "STRING", "ARN of the ECS container instance."),
    ("ecs-container-instance-id", 7, "STRING", "ID of the ECS container instance."),
    ("ecs-container-id", 7, "STRING", "Docker runtime ID of the container."),
    (
        "ecs-second-container-id",
        7,
        "STRING",
        "Docker runtime ID of a second container of the task.",
    ),
    ("ecs-service-name", 7, "STRING", "Name of the ECS service of the task."),
    ("ecs-task-definition-arn", 7, "STRING", "ARN of the ECS task definition."),
    ("ecs-task-arn", 7, "STRING", "ARN of the ECS task."),
    ("ecs-task-id", 7, "STRING", "ID of the ECS task."),
    (
        "reject-reason",
        8,
        "STRING",
        "Why traffic was rejected: BPA (VPC block public access) or '-'.",
    ),
)

# The default flow-log format (record version 2), in the order AWS writes it.
DEFAULT_FIELD_NAMES: tuple[str, ...] = (
    "version", "account-id", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport",
    "protocol", "packets", "bytes", "start", "end", "action", "log-status",
)  # fmt: skip

# Fields that hold an IP address: the builder accepts CIDR blocks on them.
ADDRESS_FIELD_NAMES: frozenset[str] = frozenset(
    {"srcaddr", "dstaddr", "pkt-srcaddr", "pkt-dstaddr"}
)

# The detection format (record version 5): the default fields plus those the detectors and
# the enricher read (flow-direction for egress detectors, instance-id for the instance
# behind an address, tcp-flags to tell a probe from a session, traffic-path for where
# egress went, vpc-id to tell VPCs apart). About 160 bytes a record against ~115 for the
# default format (measured on generated traffic): ingestion costs ~40 % more.
DETECTION_EXTRA_FIELD_NAMES: tuple[str, ...] = (
    "vpc-id", "instance-id", "tcp-flags", "flow-direction", "traffic-path",
)  # fmt: skip
