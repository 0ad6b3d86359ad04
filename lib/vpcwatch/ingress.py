"""Which security-group rules open a port to the whole internet. Pure data logic.

Addresses are read as addresses, not strings (stdlib ``ipaddress``): ``0.0.0.0/1`` plus
``128.0.0.0/1`` on port 22 is the whole IPv4 space, ``0::/0`` is ``::/0``. The rules of a
group are judged together: the sources that admit a guarded port are merged, and the
port is open to the world when their union covers every IPv4 or every IPv6 address
(or, with a limit, when one of them is a public range wider than that prefix).

A rule is a mapping in CloudFormation's shape (``CidrIp``/``cidrIp``, ``IpProtocol``,
``FromPort``, ``ToPort``); keys are matched case-insensitively on their first letter
so both the template's and the CDK's resolved (camelCase) spelling work.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

WORLD = ("0.0.0.0/0", "::/0")
ALL_PROTOCOLS = ("-1", "all")
PORTED_PROTOCOLS = ("6", "tcp", "17", "udp")
_WHOLE = {4: ipaddress.ip_network("0.0.0.0/0"), 6: ipaddress.ip_network("::/0")}


@dataclass(frozen=True)
class OpenRule:
    """A rule that admits ``source`` to ``port``."""

    source: str
    port: int
    protocol: str
    from_port: int | None
    to_port: int | None

    def describe(self) -> str:
        if self.protocol in ALL_PROTOCOLS:
            return f"all traffic from {self.source}"
        span = (
            str(self.from_port)
            if self.from_port == self.to_port
            else (f"{self.from_port}-{self.to_port}")
        )
        return f"{self.protocol} {span} from {self.source}"


@dataclass(frozen=True)
class Opening:
    """A guarded ``port`` that the rules open to ``reach`` (``0.0.0.0/0``, ``::/0``, or a
    public range wider than the limit), through ``rules``."""

    port: int
    reach: str
    rules: tuple[OpenRule, ...]

    def describe(self) -> str:
        return " + ".join(rule.describe() for rule in self.rules)


class Unverifiable(ValueError):
    """A rule's source, protocol or ports are deploy-time tokens or a prefix list: the
    rule cannot be judged at synth."""


def get(rule: Mapping[str, Any], key: str) -> Any:
    """``rule[key]`` under CloudFormation (``CidrIp``) or camelCase (``cidrIp``) spelling."""
    if key in rule:
        return rule[key]
    return rule.get(key[0].lower() + key[1:])


def _text(value: Any) -> str:
    """A value as a reader wants it in a message: JSON, not a Python repr."""
    return json.dumps(value, sort_keys=True, default=str)


def _network(source: Any) -> Network:
    if not isinstance(source, str):
        raise Unverifiable(f"source {_text(source)} is resolved at deploy time")
    try:
        return ipaddress.ip_network(source.strip(), strict=False)
    except ValueError:
        raise Unverifiable(f"source {_text(source)} is not an address range") from None


def _admitted(rule: Mapping[str, Any], ports: Sequence[int]) -> list[OpenRule]:
    """The guarded ports the rule admits from its address source (none for a group or a
    prefix-list source that is not checked here).

    Raises:
        Unverifiable: a token in the source, protocol or ports, or a prefix-list source.
    """
    sources = [s for s in (get(rule, "CidrIp"), get(rule, "CidrIpv6")) if s is not None]
    if get(rule, "SourcePrefixListId") is not None:
        prefix_list = _text(get(rule, "SourcePrefixListId"))
        raise Unverifiable(f"source prefix list {prefix_list}: its entries are not known at synth")
    if not sources:
        return []  # a source security group: instances, never the internet
    networks = [_network(source) for source in sources]
    protocol = str(get(rule, "IpProtocol")).lower()
    if protocol in ALL_PROTOCOLS:
        return [OpenRule(str(n), port, protocol, None, None) for n in networks for port in ports]
    if protocol not in PORTED_PROTOCOLS:
        return []  # ICMP and other protocols carry no ports
    low, high = get(rule, "FromPort"), get(rule, "ToPort")
    if not all(isinstance(value, int) or value is None for value in (low, high)):
        raise Unverifiable(f"ports {_text(low)}-{_text(high)} are resolved at deploy time")
    low = 0 if low is None or low == -1 else low
    high = 65535 if high is None or high == -1 else high
    name = {"6": "tcp", "17": "udp"}.get(protocol, protocol)
    return [
        OpenRule(str(n), port, name, low, high)
        for n in networks
        for port in ports
        if low <= port <= high
    ]


def open_ports(rule: Mapping[str, Any], ports: Sequence[int]) -> list[OpenRule]:
    """The guarded ``ports`` that ``rule`` alone opens to the whole internet.

    Raises:
        Unverifiable: see :func:`openings`.
    """
    return [o for o in _admitted(rule, ports) if ipaddress.ip_network(o.source).prefixlen == 0]


def openings(
    rules: Iterable[Mapping[str, Any]],
    ports: Sequence[int],
    *,
    max_public_prefix: Mapping[int, int] | None = None,
) -> tuple[list[Opening], list[str]]:
    """The guarded ports that a group's rules, together, open to the world.

    Args:
        rules: every ingress rule of one security group.
        ports: the guarded ports.
        max_public_prefix: ``{4: n, 6: m}``: a source with a public address whose prefix
            is shorter than ``n`` (IPv4) or ``m`` (IPv6) also opens the port. Default:
            only the whole address space does.

    Returns:
        The openings, and the reasons some rules could not be judged (deploy-time
        tokens, prefix lists): those rules are left out of the union.
    """
    admitted: list[OpenRule] = []
    unverifiable: list[str] = []
    for rule in rules:
        try:
            admitted += _admitted(rule, ports)
        except Unverifiable as reason:
            unverifiable.append(str(reason))
    found = []
    for port in ports:
        for version, whole in _WHOLE.items():
            at_port = [
                r for r in admitted
                if r.port == port and ipaddress.ip_network(r.source).version == version
            ]  # fmt: skip
            found += _judge(port, whole, at_port, (max_public_prefix or {}).get(version))
    return found, unverifiable


def _judge(port: int, whole: Network, rules: list[OpenRule], limit: int | None) -> list[Opening]:
    networks = [ipaddress.ip_network(rule.source) for rule in rules]
    if whole in ipaddress.collapse_addresses(networks):
        return [Opening(port, str(whole), tuple(rules))]
    if limit is None:
        return []
    return [
        Opening(port, f"{network} (public, wider than /{limit})", (rule,))
        for rule, network in zip(rules, networks, strict=True)
        if network.prefixlen < limit and not network.is_private
    ]
