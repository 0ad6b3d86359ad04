"""Which rules open a guarded port to the world (pure logic, both key spellings)."""

from __future__ import annotations

import pytest

from vpcwatch.ingress import Unverifiable, open_ports

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
