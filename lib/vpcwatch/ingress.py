"""Which security-group rules open a port to the whole internet. Pure data logic.

A rule is a mapping in CloudFormation's shape (``CidrIp``/``cidrIp``, ``IpProtocol``,
``FromPort``, ``ToPort``); keys are matched case-insensitively on their first letter
so both the template's and the CDK's resolved (camelCase) spelling work.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

WORLD = ("0.0.0.0/0", "::/0")
ALL_PROTOCOLS = ("-1", "all")
PORTED_PROTOCOLS = ("6", "tcp", "17", "udp")


@dataclass(frozen=True)
class OpenRule:
    """A rule that admits ``source`` (``0.0.0.0/0`` or ``::/0``) to ``port``."""

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


class Unverifiable(ValueError):
    """A rule's source, protocol or ports are deploy-time tokens: cannot be judged."""


def get(rule: Mapping[str, Any], key: str) -> Any:
    """``rule[key]`` under CloudFormation (``CidrIp``) or camelCase (``cidrIp``) spelling."""
    if key in rule:
        return rule[key]
    return rule.get(key[0].lower() + key[1:])


def open_ports(rule: Mapping[str, Any], ports: tuple[int, ...]) -> list[OpenRule]:
    """The guarded ``ports`` that ``rule`` opens to the world (empty if none).

    Raises:
        Unverifiable: the source is not a literal string, or the protocol or ports of a
            rule from the world are not literal.
    """
    sources = [get(rule, "CidrIp"), get(rule, "CidrIpv6")]
    if any(source is not None and not isinstance(source, str) for source in sources):
        raise Unverifiable(f"source {sources} is resolved at deploy time")
    world = [source for source in sources if source in WORLD]
    if not world:
        return []
    protocol = str(get(rule, "IpProtocol")).lower()
    if protocol in ALL_PROTOCOLS:
        return [OpenRule(world[0], port, protocol, None, None) for port in ports]
    if protocol not in PORTED_PROTOCOLS:
        return []  # ICMP and other protocols carry no ports
    low, high = get(rule, "FromPort"), get(rule, "ToPort")
    if not all(isinstance(value, int) or value is None for value in (low, high)):
        raise Unverifiable(f"ports {low}-{high} are resolved at deploy time")
    low = 0 if low is None or low == -1 else low
    high = 65535 if high is None or high == -1 else high
    name = {"6": "tcp", "17": "udp"}.get(protocol, protocol)
    return [OpenRule(world[0], port, name, low, high) for port in ports if low <= port <= high]
