"""Address ranges as filter-pattern terms: CloudWatch Logs has no CIDR support.

A block becomes wildcard terms that match exactly its addresses *as flow logs write
them* (IPv4 dotted decimal; IPv6 in RFC 5952 compressed form, as ``ipaddress``
prints it): ``10.0.0.0/16`` -> ``10.0.*``; ``10.0.0.0/23`` -> ``10.0.0.*``,
``10.0.1.*``. Within the octet (or IPv6 group) where the prefix ends, a term
``<prefix><digits>*`` stands for every value whose decimal (hex) text starts with
those digits, so the values are a trie; the fewest terms come from a walk of that
trie (a subtree inside the block is one term, else recurse). For IPv4,
:func:`address_regex` gives the same set as one regex, which the builder uses when
it is shorter and the two-regex budget allows.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from vpcwatch.errors import PatternBuildError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class _Radix:
    """How one unit of an address is written: octets in decimal, IPv6 groups in hex."""

    version: int
    base: int
    bits: int
    separator: str
    units: int

    @property
    def maximum(self) -> int:
        return (1 << self.bits) - 1

    def text(self, value: int) -> str:
        return str(value) if self.base == 10 else format(value, "x")


_IPV4 = _Radix(4, 10, 8, ".", 4)
_IPV6 = _Radix(6, 16, 16, ":", 8)


def parse_network(value: str, argument: str = "value") -> Network:
    """A CIDR block or a single address (as a /32 or /128), strictly parsed."""
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError as error:
        raise PatternBuildError(
            f"{argument}: {value!r} is not an IP address or CIDR block ({error})"
        ) from None


def address_terms(networks: Iterable[Network]) -> tuple[str, ...]:
    """The fewest wildcard terms matching exactly the addresses of ``networks``.

    Raises:
        PatternBuildError: an IPv6 block whose text may be compressed (``::``) inside its
            prefix, so no wildcard term can match it exactly.
    """
    blocks = _collapse(networks)
    terms = [b.network_address.compressed for b in blocks if _is_single(b)]
    for radix in (_IPV4, _IPV6):
        ranges = [b for b in blocks if b.version == radix.version and not _is_single(b)]
        for prefix, intervals in _grouped(ranges, radix).items():
            terms.extend(_terms_for(prefix, intervals, radix))
    return tuple(terms)


def address_regex(networks: Iterable[Network]) -> str | None:
    """One regex (no parentheses) matching exactly the IPv4 addresses of ``networks``;
    ``None`` when there are IPv6 blocks."""
    blocks = list(networks)
    if any(n.version == 6 for n in blocks):
        return None
    alternatives = []
    for prefix, intervals in _grouped(_collapse(blocks), _IPV4).items():
        head = "^" + "".join(re.escape(f"{unit}.") for unit in prefix)
        tail = r"\." if len(prefix) < 3 else "$"
        if intervals is None and len(prefix) == 4:  # one address
            alternatives.append(head[: -len(r"\.")] + "$")
        elif intervals is None:  # a whole-octet prefix; 0.0.0.0/0 is "digits and a dot"
            alternatives.append(head if prefix else r"^\d+\.")
        else:
            for low, high in _merged(intervals):
                alternatives.extend(head + piece + tail for piece in _range_regex(low, high))
    return "|".join(alternatives)


def _collapse(networks: Iterable[Network]) -> list[Network]:
    """Merged blocks, none inside another; IPv4 first (collapse_addresses takes one version)."""
    blocks = list(networks)
    merged: list[Network] = []
    for version in (4, 6):
        merged.extend(ipaddress.collapse_addresses(b for b in blocks if b.version == version))
    return merged


def _is_single(block: Network) -> bool:
    return block.prefixlen == block.max_prefixlen


# -- grouping blocks by the units they fix -----------------------------------------------------

Intervals = list[tuple[int, int]]


def _grouped(blocks: list[Network], radix: _Radix) -> dict[tuple[int, ...], Intervals | None]:
    """``{fixed leading units: value intervals of the next unit}`` (``None``: any value).

    ``blocks`` are collapsed (none contains another), so a whole-unit prefix never
    shares its key with narrower blocks.
    """
    groups: dict[tuple[int, ...], Intervals | None] = {}
    for block in blocks:
        units = _units(block.network_address, radix)
        full, rest = divmod(block.prefixlen, radix.bits)
        prefix = tuple(units[:full])
        if rest == 0:
            groups[prefix] = None
            continue
        low = units[full]
        intervals = groups.setdefault(prefix, [])
        assert intervals is not None
        intervals.append((low, low + (1 << (radix.bits - rest)) - 1))
    return groups


def _units(address: ipaddress.IPv4Address | ipaddress.IPv6Address, radix: _Radix) -> list[int]:
    packed = address.packed
    size = radix.bits // 8
    return [int.from_bytes(packed[i : i + size], "big") for i in range(0, len(packed), size)]


def _terms_for(prefix: tuple[int, ...], intervals: Intervals | None, radix: _Radix) -> list[str]:
    if radix is _IPV6:
        _check_ipv6_prefix(prefix, intervals)
    head = "".join(radix.text(unit) + radix.separator for unit in prefix)
    if intervals is None:
        return [head + "*"] if prefix else [f"*{radix.separator}*"]
    last_unit = len(prefix) == radix.units - 1
    terms = []
    for digits, whole_subtree in _cover(intervals, radix):
        if whole_subtree and (_is_leaf(digits, radix) and last_unit):
            terms.append(head + digits)  # one value of the last unit: the exact address
        elif whole_subtree:
            terms.append(head + digits + "*")
        elif last_unit:
            terms.append(head + digits)
        else:
            terms.append(head + digits + radix.separator + "*")
    return terms


def _check_ipv6_prefix(prefix: tuple[int, ...], intervals: Intervals | None) -> None:
    """Refuse blocks whose addresses RFC 5952 may print with '::' inside the prefix.

    A zero group is safe only between two non-zero fixed groups (a run of one zero is
    never compressed); the last fixed group and the values of a partial group must
    not be zero, or a zero run may start there and swallow the prefix's end.
    """
    for index, unit in enumerate(prefix):
        if unit != 0:
            continue
        before = prefix[index - 1] if index > 0 else 1
        after = prefix[index + 1] if index + 1 < len(prefix) else 0
        if before == 0 or after == 0:
            break
    else:
        if intervals is None or all(low > 0 for low, _ in intervals):
            return
    raise PatternBuildError(
        "IPv6 block whose prefix ends in, or holds a run of, zero groups: flow logs print "
        "such addresses compressed ('::'), so no wildcard term matches them exactly; "
        "list the addresses or use a block with non-zero groups"
    )


# -- the trie walk -----------------------------------------------------------------------------


def _subtree_intervals(digits: str, radix: _Radix) -> Intervals:
    """The values whose text starts with ``digits``, as intervals."""
    value = int(digits, radix.base)
    if value == 0:
        return [(0, 0)]
    spans, scale = [], 1
    while value * scale <= radix.maximum:
        spans.append((value * scale, min((value + 1) * scale - 1, radix.maximum)))
        scale *= radix.base
    return spans


def _is_leaf(digits: str, radix: _Radix) -> bool:
    """True when no longer text starts with ``digits`` (its subtree is the value alone)."""
    value = int(digits, radix.base)
    return value == 0 or value * radix.base > radix.maximum


def _inside(span: tuple[int, int], intervals: Intervals) -> bool:
    return any(low <= span[0] and span[1] <= high for low, high in intervals)


def _overlaps(span: tuple[int, int], intervals: Intervals) -> bool:
    return any(low <= span[1] and span[0] <= high for low, high in intervals)


def _cover(intervals: Intervals, radix: _Radix) -> list[tuple[str, bool]]:
    """(digits, whole subtree?) pairs: the fewest subtrees and single values covering
    exactly the union of ``intervals``."""
    intervals = _merged(intervals)
    found: list[tuple[str, bool]] = []

    def walk(digits: str) -> None:
        spans = _subtree_intervals(digits, radix)
        if not any(_overlaps(span, intervals) for span in spans):
            return
        if all(_inside(span, intervals) for span in spans):
            found.append((digits, True))
            return
        value = int(digits, radix.base)
        if _inside((value, value), intervals):
            found.append((digits, False))
        for digit in range(radix.base):
            child = digits + radix.text(digit)
            if int(child, radix.base) <= radix.maximum:
                walk(child)

    for first in range(radix.base):
        walk(radix.text(first))
    return found


def _merged(intervals: Intervals) -> Intervals:
    merged: Intervals = []
    for low, high in sorted(intervals):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return merged


# -- decimal ranges as regex pieces ------------------------------------------------------------


def _range_regex(low: int, high: int) -> list[str]:
    """Regex pieces (no groups) for the decimal integers ``low..high`` (0..255)."""
    pieces = []
    for start, stop in _split_range(low, high):
        a, b = str(start), str(stop)
        piece = ""
        for da, db in zip(a, b, strict=True):
            if da == db:
                piece += da
            elif da == "0" and db == "9":
                piece += r"\d"
            else:
                piece += f"[{da}-{db}]"
        pieces.append(piece)
    return pieces


def _split_range(low: int, high: int) -> list[tuple[int, int]]:
    """Split ``low..high`` into ranges that read ``<common digits>[a-b]<\\d...>``."""
    if len(str(low)) != len(str(high)):
        boundary = 10 ** len(str(low)) - 1
        return _split_range(low, boundary) + _split_range(boundary + 1, high)
    ranges = []
    start = low
    while start <= high:
        scale = 1  # the largest aligned block size that fits from `start`
        while start % (scale * 10) == 0 and start + scale * 10 - 1 <= high:
            scale *= 10
        parent_end = start - start % (scale * 10) + scale * 10 - 1
        blocks = (min(high, parent_end) - start + 1) // scale
        ranges.append((start, start + blocks * scale - 1))
        start += blocks * scale
    return ranges
