"""CIDR blocks as wildcard terms and regexes: exactly the block's addresses (vs ipaddress)."""

from __future__ import annotations

import ipaddress
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vpcwatch.cidr import address_regex, address_terms
from vpcwatch.errors import PatternBuildError
from vpcwatch.filterpattern.matcher import wildcard_predicate


def _wildcards_match(terms, text):
    return any(wildcard_predicate(term)(text) for term in terms)


@pytest.mark.parametrize(
    ("block", "terms"),
    [
        ("10.0.0.0/16", ("10.0.*",)),
        ("10.0.0.0/8", ("10.*",)),
        ("203.0.113.7/32", ("203.0.113.7",)),
        ("0.0.0.0/0", ("*.*",)),
        ("52.216.0.0/15", ("52.216*", "52.217*")),
        ("10.0.0.0/23", ("10.0.0*", "10.0.1.*")),
        ("10.0.0.0/31", ("10.0.0.0", "10.0.0.1")),
        ("2001:db8::/32", ("2001:db8:*",)),
        ("2001:db8::1/128", ("2001:db8::1",)),
        ("::/0", ("*:*",)),
    ],
)
def test_known_blocks(block, terms):
    assert address_terms([ipaddress.ip_network(block)]) == terms


def test_a_20_needs_sixteen_terms_or_a_short_regex():
    block = [ipaddress.ip_network("10.0.16.0/20")]
    assert len(address_terms(block)) == 16
    assert address_regex(block) == r"^10\.0\.1[6-9]\.|^10\.0\.2\d\.|^10\.0\.3[0-1]\."


def test_adjacent_blocks_are_merged_first():
    blocks = [ipaddress.ip_network(b) for b in ("10.0.0.0/9", "10.128.0.0/9")]
    assert address_terms(blocks) == ("10.*",)


@pytest.mark.parametrize("block", ["2001:db8:0:0::/64", "2001::/20", "2001:db8::/48"])
def test_ipv6_blocks_that_compression_would_break_are_refused(block):
    with pytest.raises(PatternBuildError, match="compressed"):
        address_terms([ipaddress.ip_network(block)])


def _ipv4_block_and_candidates():
    prefix = st.integers(min_value=0, max_value=32)
    base = st.integers(min_value=0, max_value=2**32 - 1)
    return st.tuples(base, prefix, st.lists(st.integers(0, 2**32 - 1), max_size=40))


@settings(max_examples=300, deadline=None)
@given(_ipv4_block_and_candidates(), st.integers(0, 6))
def test_ipv4_terms_and_regex_match_exactly_the_block(case, spread):
    base, prefix, randoms = case
    block = ipaddress.ip_network((base, prefix), strict=False)
    terms, regex = address_terms([block]), re.compile(address_regex([block]))
    # Addresses near the block (its supernet a few bits wider), plus random ones.
    outer = block.supernet(prefixlen_diff=min(spread, prefix))
    near = [outer.network_address + (r % outer.num_addresses) for r in randoms]
    edges = [block.network_address, block.broadcast_address]
    low, high = int(block.network_address) - 1, int(block.broadcast_address) + 1
    edges += [ipaddress.IPv4Address(a) for a in (low, high) if 0 <= a < 2**32]
    for address in {*near, *edges, *(ipaddress.IPv4Address(r) for r in randoms)}:
        inside = address in block
        assert _wildcards_match(terms, str(address)) is inside, (block, address, terms)
        assert bool(regex.search(str(address))) is inside, (block, address, regex.pattern)
    assert not _wildcards_match(terms, "-") and not regex.search("-")


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 2**32 - 1), st.integers(8, 32)), min_size=1, max_size=4),
    st.lists(st.integers(0, 2**32 - 1), max_size=30),
)
def test_ipv4_unions_match_exactly(blocks, randoms):
    networks = [ipaddress.ip_network(b, strict=False) for b in blocks]
    terms, regex = address_terms(networks), re.compile(address_regex(networks))
    candidates = [n.network_address + (r % n.num_addresses) for n in networks for r in randoms]
    candidates += [ipaddress.IPv4Address(r) for r in randoms]
    for address in candidates:
        inside = any(address in n for n in networks)
        assert _wildcards_match(terms, str(address)) is inside
        assert bool(regex.search(str(address))) is inside


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 2**128 - 1),
    st.sampled_from([16, 20, 24, 28, 32, 40, 44, 48, 56, 64, 100, 112, 120, 124, 128]),
    st.lists(st.integers(0, 2**128 - 1), max_size=20),
    st.integers(0, 8),
)
def test_ipv6_terms_match_exactly_the_block_or_refuse(base, prefix, randoms, spread):
    block = ipaddress.ip_network((base, prefix), strict=False)
    try:
        terms = address_terms([block])
    except PatternBuildError:
        return
    outer = block.supernet(prefixlen_diff=min(spread, prefix))
    near = [outer.network_address + (r % outer.num_addresses) for r in randoms]
    near += [block.network_address + (r % block.num_addresses) for r in randoms]
    near += [block.network_address, block.broadcast_address]
    for address in near:
        assert _wildcards_match(terms, address.compressed) is (address in block), (block, address)
    assert not _wildcards_match(terms, "10.0.0.1")
