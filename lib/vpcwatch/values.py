"""Checks of plain values that several layers take (ports, CIDR lists). Pure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vpcwatch import cidr


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
        cidr.parse_network(block, name)
    return blocks
