"""Which rules open a guarded port to the world (pure logic, both key spellings)."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vpcwatch.ingress import Unverifiable, open_ports, openings

PORTS = (22, 3389)


@pytest.mark.parametrize(
    ("rule", "opened"),
    [
        ({"CidrIp": "0.0.0.0/0", "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22}, [22]),
        ({"cidrIp": "0.0.0.0/0", "ipProtocol": "tcp", "fromPort": 20, "toPort": 25}, [22]),
        ({"CidrIpv6": "::/0", "IpProtocol": "6", "FromPort": 0, "ToPort": 65535}, [22, 3389]),
        ({"CidrIp": "0.0.0.0/0", "IpProtocol": "-1"}, [22, 3389]),
        ({"cidrIpv6": "::/0", "ipProtocol": "-1", "fromPort": -1, "toPort": -1}, [22, 3389]),
        ({"CidrIp": "0.0.0.0/0", "IpProtocol": "udp", "FromPort": 3389, "ToPort": 3389}, [3389]),
        ({"CidrIp": "0.0.0.0/0", "IpProtocol": "tcp", "FromPort": 80, "ToPort": 80}, []),
        ({"CidrIp": "203.0.113.10/32", "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22}, []),
        ({"CidrIp": "0.0.0.0/0", "IpProtocol": "icmp", "FromPort": -1, "ToPort": -1}, []),
        ({"SourceSecurityGroupId": "sg-1", "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22}, []),
    ],
)
def test_open_ports(rule, opened):
    assert [o.port for o in open_ports(rule, PORTS)] == opened


def test_description():
    (opening,) = open_ports(
        {"CidrIp": "0.0.0.0/0", "IpProtocol": "tcp", "FromPort": 20, "ToPort": 25}, PORTS
    )
    assert opening.describe() == "tcp 20-25 from 0.0.0.0/0"
    (everything, _) = open_ports({"CidrIpv6": "::/0", "IpProtocol": "-1"}, PORTS)
    assert everything.describe() == "all traffic from ::/0"


@pytest.mark.parametrize(
    "rule",
    [
        {"CidrIp": {"Fn::GetAtt": ["X", "Cidr"]}, "IpProtocol": "tcp", "FromPort": 22},
        {"CidrIp": "0.0.0.0/0", "IpProtocol": "tcp", "FromPort": {"Ref": "Port"}, "ToPort": 22},
    ],
)
def test_tokens_cannot_be_verified(rule):
    with pytest.raises(Unverifiable):
        open_ports(rule, PORTS)


# -- addresses, not strings: the rules of a group together -----------------------------------


def _rule(source: str, port: int = 22) -> dict:
    key = "CidrIpv6" if ":" in source else "CidrIp"
    return {key: source, "IpProtocol": "tcp", "FromPort": port, "ToPort": port}


@st.composite
def splits(draw, whole: str):
    """The whole space cut into pieces: a piece is replaced by its two halves, again and
    again, so the pieces always cover every address exactly once."""
    pieces = [ipaddress.ip_network(whole)]
    for _ in range(draw(st.integers(1, 12))):
        index = draw(st.integers(0, len(pieces) - 1))
        piece = pieces.pop(index)
        if piece.prefixlen == piece.max_prefixlen:
            pieces.append(piece)
            continue
        pieces += list(piece.subnets(prefixlen_diff=1))
    return draw(st.permutations([str(p) for p in pieces]))


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["0.0.0.0/0", "::/0"]).flatmap(lambda whole: splits(whole)))
def test_sources_that_together_cover_the_world_open_the_port(pieces):
    found, unverifiable = openings([_rule(p) for p in pieces], (22,))
    assert unverifiable == []
    assert [(o.port, o.reach) for o in found] == [(22, "::/0" if ":" in pieces[0] else "0.0.0.0/0")]
    assert {r.source for r in found[0].rules} == {str(ipaddress.ip_network(p)) for p in pieces}


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(["0.0.0.0/0", "::/0"]).flatmap(lambda whole: splits(whole)), st.data())
def test_a_missing_piece_leaves_the_port_closed(pieces, data):
    if len(pieces) < 2:
        return
    kept = list(pieces)
    kept.pop(data.draw(st.integers(0, len(kept) - 1)))
    assert openings([_rule(p) for p in kept], (22,)) == ([], [])


@pytest.mark.parametrize(
    ("sources", "opened"),
    [
        (["0.0.0.0/1", "128.0.0.0/1"], True),  # the split: no longer passes
        (["0::/0"], True),  # ::/0 written another way
        (["0.0.0.0/1"], False),
        (["0.0.0.0/1", "128.0.0.0/2", "192.0.0.0/2"], True),
        (["10.0.0.0/8", "0.0.0.0/1", "128.0.0.0/1"], True),
    ],
)
def test_address_unions(sources, opened):
    found, _ = openings([_rule(s) for s in sources], (22,))
    assert bool(found) is opened


def test_other_ports_do_not_join_the_union():
    rules = [_rule("0.0.0.0/1", 22), _rule("128.0.0.0/1", 23)]
    assert openings(rules, (22, 23)) == ([], [])


def test_a_public_range_wider_than_the_limit():
    found, _ = openings([_rule("52.0.0.0/6")], (22,), max_public_prefix={4: 8})
    assert [o.reach for o in found] == ["52.0.0.0/6 (public, wider than /8)"]
    assert openings([_rule("10.0.0.0/8")], (22,), max_public_prefix={4: 16}) == ([], [])
    assert openings([_rule("52.0.0.0/6")], (22,)) == ([], [])


def test_prefix_lists_and_tokens_cannot_be_verified():
    rules = [
        {"SourcePrefixListId": "pl-0123", "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22},
        {"CidrIp": {"Fn::ImportValue": "AdminCidr"}, "IpProtocol": "tcp", "FromPort": 22},
    ]
    found, unverifiable = openings(rules, (22,))
    assert found == []
    assert unverifiable == [
        'source prefix list "pl-0123": its entries are not known at synth',
        'source {"Fn::ImportValue": "AdminCidr"} is resolved at deploy time',
    ]
