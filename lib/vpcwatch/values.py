"""Checks of plain values that several layers take (ports, CIDR lists). Pure."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

from vpcwatch import cidr


def whole_number(
    value: Any, name: str, *, minimum: int, maximum: int | None = None, allowed: str
) -> int:
    """``value`` when it is an integer (not a bool) from ``minimum`` to ``maximum``, or a
    ``ValueError`` saying ``{name} must be {allowed}``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < minimum
        or (maximum is not None and value > maximum)
    ):
        raise ValueError(f"{name} must be {allowed}; got {value!r}")
    return value


def port_list(value: Any, name: str) -> tuple[int, ...]:
    """A non-empty tuple of ports (0 to 65535), or a ``ValueError`` naming ``name``."""
    ports = (
        tuple(value) if isinstance(value, Sequence) and not isinstance(value, (str, bytes)) else ()
    )
    if not ports or not all(
        isinstance(p, int) and not isinstance(p, bool) and 0 <= p <= 65535 for p in ports
    ):
        raise ValueError(f"{name} must be a non-empty list of ports (0 to 65535); got {value!r}")
    return ports


def cidr_list(value: Any, name: str) -> tuple[str, ...]:
    """A tuple of CIDR strings (possibly empty), each parsed, or a ``ValueError``."""
    if isinstance(value, (str, bytes)):
        raise ValueError(f"{name} must be a list of CIDR blocks, not one string: {value!r}")
    blocks = tuple(value)
    for block in blocks:
        if not isinstance(block, str):
            raise ValueError(f"{name} must hold CIDR strings; got {block!r}")
        if "${Token[" in block:
            raise ValueError(
                f"{name} holds a deploy-time token ({block}): the CIDR blocks are compiled "
                "into the metric filter's pattern at synth, so they must be literal"
            )
        cidr.parse_network(block, name)
    return blocks


def refuse_everything(blocks: Sequence[str], name: str, detector: str) -> None:
    """Refuse CIDR lists that together cover every IPv4 or every IPv6 address: as an
    allow-list or an exclusion they would switch ``detector`` off (for that family)."""
    networks = [ipaddress.ip_network(block, strict=False) for block in blocks]
    for version, whole in ((4, "0.0.0.0/0"), (6, "::/0")):
        merged = ipaddress.collapse_addresses(n for n in networks if n.version == version)
        if ipaddress.ip_network(whole) in merged:
            raise ValueError(
                f"{name} covers every IPv{version} address ({', '.join(blocks)}): {detector} "
                "could never fire. List the ranges that are really trusted."
            )
