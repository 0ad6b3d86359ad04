"""Synthetic flow-log traffic in any format: the lab of the articles in
docs/sources.md, minute by minute.

Background internet noise at the rate the 0.0.0.0 flow-log study measured (5.7 REJECT
records a minute;
destination ports 22 about 33 %, 0 about 16 %, 6379 about 10 %), ordinary web
traffic on 80/443, and incidents injected at chosen minutes (an SSH scan, an
accepted RDP session from the internet, an exfiltration upload, an allowed upload,
a SKIPDATA record; a slow scan and an upload in small pieces, which go on for hours or
half an hour). Deterministic for a seed. Used by the scenario tests, the
benchmarks and ``vpcwatch sample``.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import random
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vpcwatch.fields import FlowLogFormat

DEFAULT_START = 1_700_000_040  # a whole minute (Unix seconds)
NOISE_PER_MINUTE = 5.7
NOISE_PORTS = ((22, 0.33), (0, 0.158), (6379, 0.105), (23, 0.08), (445, 0.07), (3389, 0.07),
               (3306, 0.05), (5432, 0.04), (9200, 0.03), (27017, 0.03), (8080, 0.037))  # fmt: skip
INCIDENTS = (
    "ssh-scan", "port-scan", "rdp-accepted", "exfiltration", "allowed-upload", "skipdata", "outage",
    "slow-scan", "chunked-exfil",
)  # fmt: skip
LASTING = {"slow-scan": 120, "chunked-exfil": 30}
"""Incidents that go on for minutes from the one they are given at: an attacker staying
under per-minute thresholds. ``slow-scan``: one SSH probe every 15 seconds from one
address for two hours. ``chunked-exfil``: 5 uploads of 90 KB a minute to an unlisted
address for 30 minutes (13.5 MB; no flow over ``Exfiltration``'s 100 KB)."""
CHUNK_BYTES = 90_000
SENSITIVE_SCAN_PORTS = ("0", "23", "445", "1433", "3306", "5432", "6379", "9200", "27017")
EXFILTRATION_BYTES = 150_000

Record = dict[str, str]

# First octets whose whole /8 is public unicast (no 10/8, 100.64/10, 127/8, 169.254/16,
# 172.16/12, 192.168/16, 198.18/15, or 224/4 and above).
_PUBLIC_FIRST_OCTETS = tuple(
    octet for octet in range(1, 224)
    if octet not in (10, 100, 127, 169, 172, 192, 198)
)  # fmt: skip


@dataclass
class Lab:
    """The network the traffic runs in: a VPC with a web server and a bastion."""

    vpc_cidr: str = "10.0.0.0/16"
    account_id: str = "123456789012"
    region: str = "us-east-1"
    web_server: str = "10.0.0.199"
    bastion: str = "10.0.1.10"
    allowed_destination: str = "52.216.8.21"  # an S3 address: on the allowed list
    unlisted_destination: str = "198.51.100.77"
    slow_scanner: str = "45.155.205.233"  # one address, probing for hours
    interfaces: Mapping[str, str] = field(
        default_factory=lambda: {"10.0.0.199": "eni-0a1b2c3d4e5f60001",
                                 "10.0.1.10": "eni-0a1b2c3d4e5f60002"}
    )  # fmt: skip


class TrafficGenerator:
    """Records as ``{pattern name: text}`` and lines in a given format.

    Args:
        log_format: the format lines are written in. Default: all fields.
        seed: the random seed. Default: 0.
        start: Unix seconds of minute 0. Default: ``DEFAULT_START``.
        lab: the network. Default: :class:`Lab`.
    """

    def __init__(
        self,
        log_format: FlowLogFormat | None = None,
        *,
        seed: int = 0,
        start: int = DEFAULT_START,
        lab: Lab | None = None,
    ) -> None:
        self.format = FlowLogFormat.all_fields() if log_format is None else log_format
        self.random = random.Random(seed)
        self.start = start
        self.lab = Lab() if lab is None else lab

    # -- one minute of traffic ---------------------------------------------------------------

    def minute(self, minute: int, incidents: tuple[str, ...] = ()) -> list[Record]:
        """Background noise, web traffic, and the given incidents, for one minute (nothing
        at all during an ``outage``)."""
        records = self.noise(minute) + self.web(minute)
        if "outage" in incidents:
            return []
        for incident in incidents:
            records += self.incident(incident, minute)
        self.random.shuffle(records)
        return records

    def noise(self, minute: int) -> list[Record]:
        """Internet scanners knocking on the closed security group (REJECT, ingress)."""
        ports, weights = zip(*NOISE_PORTS, strict=True)
        return [
            self.record(minute, srcaddr=self._internet(), dstaddr=self.lab.web_server,
                        dstport=str(self.random.choices(ports, weights)[0]), action="REJECT",
                        packets="1", bytes="40", tcp_flags="2", flow_direction="ingress")
            for _ in range(_poisson(self.random, NOISE_PER_MINUTE))
        ]  # fmt: skip

    def web(self, minute: int) -> list[Record]:
        """Visitors on 80/443 and the server's answers."""
        records = []
        for _ in range(self.random.randint(3, 8)):
            client, port = self._internet(), self.random.choice(["80", "443", "443"])
            size = str(self.random.randint(600, 20_000))
            records.append(
                self.record(
                    minute,
                    srcaddr=client,
                    dstaddr=self.lab.web_server,
                    dstport=port,
                    bytes=size,
                    flow_direction="ingress",
                )
            )
            records.append(self.record(minute, srcaddr=self.lab.web_server, dstaddr=client,
                                       srcport=port, dstport=str(self.random.randint(1024, 65535)),
                                       bytes=str(int(size) * 3), flow_direction="egress",
                                       traffic_path="2"))  # fmt: skip
        return records

    def incident(self, kind: str, minute: int) -> list[Record]:
        """The records of one incident (one of ``INCIDENTS``)."""
        lab = self.lab
        if kind == "ssh-scan":  # many probes on 22 within a minute
            scanner = self._internet()
            return [self.record(minute, srcaddr=scanner, dstaddr=lab.web_server, dstport="22",
                                action="REJECT", packets="2", bytes="80", tcp_flags="2",
                                flow_direction="ingress") for _ in range(60)]  # fmt: skip
        if kind == "port-scan":  # the noise's ports, swept quickly by one scanner
            scanner = self._internet()
            return [self.record(minute, srcaddr=scanner, dstaddr=lab.web_server, dstport=port,
                                action="REJECT", packets="1", bytes="40", tcp_flags="2",
                                flow_direction="ingress")
                    for port in SENSITIVE_SCAN_PORTS for _ in range(4)]  # fmt: skip
        if kind == "outage":  # flow logs stop: the minute() caller drops everything
            return []
        if kind == "rdp-accepted":  # 3389 open to 0.0.0.0/0
            return [self.record(minute, srcaddr="203.0.113.66", dstaddr=lab.web_server,
                                dstport="3389", packets="40", bytes="9000",
                                flow_direction="ingress")]  # fmt: skip
        if kind in ("exfiltration", "allowed-upload"):  # data leaving
            target = lab.unlisted_destination if kind == "exfiltration" else lab.allowed_destination
            return [self.record(minute, srcaddr=lab.web_server, dstaddr=target, dstport="443",
                                packets="120", bytes=str(EXFILTRATION_BYTES),
                                flow_direction="egress", traffic_path="2")]  # fmt: skip
        if kind == "slow-scan":  # 4 probes a minute on 22, always from the same address
            return [self.record(minute, srcaddr=lab.slow_scanner, dstaddr=lab.web_server,
                                dstport="22", action="REJECT", packets="1", bytes="40",
                                tcp_flags="2", flow_direction="ingress")
                    for _ in range(4)]  # fmt: skip
        if kind == "chunked-exfil":  # the instance uploads in pieces (it is the client)
            return [self.record(minute, srcaddr=lab.web_server,
                                dstaddr=lab.unlisted_destination, dstport="443", packets="70",
                                bytes=str(CHUNK_BYTES), flow_direction="egress",
                                traffic_path="2")
                    for _ in range(5)]  # fmt: skip
        if kind == "skipdata":
            return [self.record(minute, **dict.fromkeys(
                ("srcaddr", "dstaddr", "srcport", "dstport", "protocol", "packets", "bytes",
                 "action", "tcp_flags", "pkt_srcaddr", "pkt_dstaddr", "flow_direction",
                 "traffic_path"), "-"), log_status="SKIPDATA")]  # fmt: skip
        raise ValueError(f"incident must be one of {', '.join(INCIDENTS)}; got {kind!r}")

    # -- records and lines -------------------------------------------------------------------

    def record(self, minute: int, **values: str) -> Record:
        """A record with every catalog field; ``values`` override the defaults."""
        lab = self.lab
        start = self.start + 60 * minute + self.random.randint(0, 50)
        server = values.get("dstaddr") if values.get("flow_direction") == "ingress" else None
        server = server or values.get("srcaddr", lab.web_server)
        record = {
            "version": str(self.format.version),
            "account_id": lab.account_id,
            "interface_id": lab.interfaces.get(server, "eni-0a1b2c3d4e5f60009"),
            "srcaddr": self._internet(),
            "dstaddr": lab.web_server,
            "srcport": str(self.random.randint(1024, 65535)),
            "dstport": "443",
            "protocol": "6",
            "packets": str(self.random.randint(1, 30)),
            "bytes": str(self.random.randint(40, 5000)),
            "start": str(start),
            "end": str(start + self.random.randint(1, 9)),
            "action": "ACCEPT",
            "log_status": "OK",
            "vpc_id": "vpc-0a1b2c3d4e5f60001",
            "subnet_id": "subnet-0a1b2c3d4e5f60001",
            "instance_id": "i-0a1b2c3d4e5f60001",
            "tcp_flags": "18",
            "type": "IPv4",
            "region": lab.region,
            "az_id": "use1-az1",
            "flow_direction": "ingress",
            "traffic_path": "-",
            "reject_reason": "-",
        }
        record.update(values)
        record.setdefault("pkt_srcaddr", record["srcaddr"])
        record.setdefault("pkt_dstaddr", record["dstaddr"])
        return record

    def line(self, record: Record) -> str:
        """The record as a plain-text line of this generator's format (``-`` for no value)."""
        return " ".join(record.get(name, "-") for name in self.format.names)

    def _internet(self) -> str:
        """A random address outside private, shared, loopback and multicast ranges."""
        rest = self.random.getrandbits(24)
        first = self.random.choice(_PUBLIC_FIRST_OCTETS)
        return f"{first}.{rest >> 16}.{(rest >> 8) & 255}.{rest & 255}"


def generate(
    log_format: FlowLogFormat | None = None,
    *,
    minutes: int = 60,
    seed: int = 0,
    incidents: Mapping[int, tuple[str, ...]] | None = None,
    start: int = DEFAULT_START,
    lab: Lab | None = None,
) -> Iterator[str]:
    """Lines for ``minutes`` minutes of traffic, incidents at the given minutes (the
    :data:`LASTING` ones start there and go on, within ``minutes``), in ``lab`` (its
    account and region fill those fields). Default lab: :class:`Lab`."""
    generator = TrafficGenerator(log_format, seed=seed, start=start, lab=lab)
    incidents = {} if incidents is None else incidents
    for unknown in {kind for kinds in incidents.values() for kind in kinds} - set(INCIDENTS):
        raise ValueError(f"incident must be one of {', '.join(INCIDENTS)}; got {unknown!r}")
    incidents = _spread(incidents)
    for minute in range(minutes):
        for record in sorted(generator.minute(minute, incidents.get(minute, ())),
                             key=lambda r: int(r["start"])):  # fmt: skip
            yield generator.line(record)


def archive_key(
    account_id: str,
    region: str,
    at: int,
    *,
    flow_log_id: str = "fl-0123456789abcdef0",
    file_format: str = "plain-text",
    hive_partitions: bool = False,
    per_hour_partitions: bool = False,
) -> str:
    """The S3 key VPC Flow Logs gives a file delivered at Unix second ``at`` (AWS's layout,
    "Flow log files" in the VPC user guide): ``AWSLogs/<account>/vpcflowlogs/<region>/
    <yyyy>/<mm>/<dd>/[<hh>/]<account>_vpcflowlogs_<region>_<flow log>_<time>_<hash>``,
    ``.log.gz`` or ``.log.parquet``; with Hive prefixes, ``aws-account-id=<account>/...``."""
    moment = time.gmtime(at)
    parts = [("year", "%Y"), ("month", "%m"), ("day", "%d")]
    parts += [("hour", "%H")] if per_hour_partitions else []
    prefix = [archive_prefix(account_id, region, hive_partitions=hive_partitions)]
    if hive_partitions:
        prefix += [f"{name}={time.strftime(code, moment)}" for name, code in parts]
    else:
        prefix += [time.strftime(code, moment) for _, code in parts]
    digest = hashlib.sha256(f"{account_id}{region}{flow_log_id}{at}".encode()).hexdigest()[:8]
    suffix = "parquet" if file_format == "parquet" else "gz"
    name = (
        f"{account_id}_vpcflowlogs_{region}_{flow_log_id}_"
        f"{time.strftime('%Y%m%dT%H%MZ', moment)}_{digest}.log.{suffix}"
    )
    return "/".join([*prefix, name])


def archive_prefix(account_id: str, region: str, *, hive_partitions: bool = False) -> str:
    """The key prefix of one account's and region's flow-log files in an archive:
    ``AWSLogs/<account>/vpcflowlogs/<region>`` (or its Hive form)."""
    if hive_partitions:
        return (f"AWSLogs/aws-account-id={account_id}/aws-service=vpcflowlogs/"
                f"aws-region={region}")  # fmt: skip
    return f"AWSLogs/{account_id}/vpcflowlogs/{region}"


def write_archive(
    root: str | Path,
    log_format: FlowLogFormat,
    places: Mapping[tuple[str, str], Iterable[str]],
    *,
    files_per_hour: int = 12,
    file_format: str = "plain-text",
    hive_partitions: bool = False,
) -> list[Path]:
    """Write lines as VPC Flow Logs delivers them to S3: under ``root``, one file per
    account, region and delivery interval (every 5 minutes by default), keys from
    :func:`archive_key`. Plain text is gzip opened by the header line of field names;
    Parquet (written with DuckDB) has one column per field, named as Athena's columns,
    typed as AWS types them, ``-`` as NULL.

    Args:
        root: the folder standing for the bucket.
        log_format: the lines' format (it names the header's fields, the columns).
        places: ``{(account id, region): lines}``.
        files_per_hour: delivery intervals per hour. Default: 12 (AWS's 5 minutes).
        file_format: ``"plain-text"`` or ``"parquet"``. Default: ``"plain-text"``.
        hive_partitions: Hive-compatible prefixes. Default: ``False``.

    Returns:
        The files written, in key order.
    """
    if file_format not in ("plain-text", "parquet"):
        raise ValueError(f"file_format must be 'plain-text' or 'parquet'; got {file_format!r}")
    header = " ".join(f.aws_name for f in log_format.fields) + "\n"
    start = log_format.index("start")
    interval = 3600 // files_per_hour
    written: list[Path] = []
    for (account_id, region), lines in places.items():
        batches: dict[int, list[str]] = {}
        for line in lines:
            at = int(line.split(" ", start + 1)[start])
            batches.setdefault(at - at % interval + interval, []).append(line)
        for at, batch in sorted(batches.items()):
            path = Path(root) / archive_key(account_id, region, at, file_format=file_format,
                                            hive_partitions=hive_partitions)  # fmt: skip
            path.parent.mkdir(parents=True, exist_ok=True)
            if file_format == "parquet":
                _write_parquet(path, log_format, batch)
            else:
                with gzip.open(path, "wt", encoding="utf-8") as out:
                    out.write(header)
                    out.writelines(line + "\n" for line in batch)
            written.append(path)
    return sorted(written)


_PARQUET_TYPES = {"INT_32": "INTEGER", "INT_64": "BIGINT", "STRING": "VARCHAR"}


def _write_parquet(path: Path, log_format: FlowLogFormat, lines: list[str]) -> None:
    import tempfile

    import duckdb

    columns = {f.name: _PARQUET_TYPES[f.parquet_type] for f in log_format.fields}
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8") as text:
        text.writelines(line + "\n" for line in lines)
        text.flush()
        source = (f"read_csv('{text.name}', delim=' ', header=false, nullstr='-', "
                  f"auto_detect=false, columns={columns!r})")  # fmt: skip
        with duckdb.connect() as connection:
            connection.execute(
                f"COPY (SELECT * FROM {source}) TO '{path}' (FORMAT PARQUET, COMPRESSION GZIP)"
            )


def _spread(incidents: Mapping[int, tuple[str, ...]]) -> dict[int, tuple[str, ...]]:
    """Each :data:`LASTING` incident repeated over the minutes it lasts."""
    spread: dict[int, tuple[str, ...]] = {}
    for minute, kinds in sorted(incidents.items()):
        for kind in kinds:
            for at in range(minute, minute + LASTING.get(kind, 1)):
                spread[at] = (*spread.get(at, ()), kind)
    return spread


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: fine for small means such as 5.7."""
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count
