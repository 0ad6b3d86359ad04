"""OpenIngressGuard: every rule shape, tokens, allowances, and a synth that fails."""

from __future__ import annotations

import subprocess
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk.assertions import Annotations, Match

from support import cli_env
from vpcwatch import OpenIngressGuard

ROOT = Path(__file__).resolve().parents[2]


def _annotations(build, **guard):
    app = cdk.App()
    stack = cdk.Stack(app, "Guarded")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=1, nat_gateways=0, subnet_configuration=[])
    build(stack, vpc)
    cdk.Aspects.of(stack).add(OpenIngressGuard(**guard))
    return Annotations.from_stack(stack)


def _errors(annotations):
    return [
        e.entry.data
        for e in annotations.find_error("*", Match.string_like_regexp("OpenIngressGuard.*"))
    ]


def _group(stack, vpc, name="Web"):
    return ec2.SecurityGroup(stack, name, vpc=vpc, allow_all_outbound=False)


@pytest.mark.parametrize(
    ("peer", "port", "message"),
    [
        (ec2.Peer.any_ipv4(), ec2.Port.tcp(22), "admits 0.0.0.0/0 to port 22 (rules: tcp 22 from"),
        (ec2.Peer.any_ipv6(), ec2.Port.tcp(3389), "admits ::/0 to port 3389"),
        (ec2.Peer.any_ipv4(), ec2.Port.tcp_range(20, 25), "port 22 (rules: tcp 20-25 from"),
        (ec2.Peer.any_ipv4(), ec2.Port.all_traffic(), "port 22 (rules: all traffic from 0.0.0.0/0"),
        (ec2.Peer.any_ipv6(), ec2.Port.all_tcp(), "admits ::/0 to port 22"),
    ],
)
def test_inline_rules_open_to_the_world(peer, port, message):
    def build(stack, vpc):
        _group(stack, vpc).add_ingress_rule(peer, port)

    errors = _errors(_annotations(build))
    assert any(message in e for e in errors), errors
    assert all("Guarded/Web" in e and "source security group" in e for e in errors)


def test_standalone_ingress_names_its_group():
    def build(stack, vpc):
        group = _group(stack, vpc)
        ec2.CfnSecurityGroupIngress(stack, "Raw", group_id=group.security_group_id,
                                    ip_protocol="tcp", from_port=3389, to_port=3389,
                                    cidr_ip="0.0.0.0/0")  # fmt: skip

    (error,) = _errors(_annotations(build))
    assert "security group Guarded/Web/Resource admits 0.0.0.0/0 to port 3389" in error


@pytest.mark.parametrize(
    ("peer", "port"),
    [
        (ec2.Peer.ipv4("203.0.113.10/32"), ec2.Port.tcp(22)),
        (ec2.Peer.any_ipv4(), ec2.Port.tcp(443)),
        (ec2.Peer.any_ipv4(), ec2.Port.icmp_ping()),
    ],
)
def test_safe_rules_pass(peer, port):
    def build(stack, vpc):
        _group(stack, vpc).add_ingress_rule(peer, port)

    assert _errors(_annotations(build)) == []


def test_a_source_security_group_passes_seed_004():
    def build(stack, vpc):
        bastion = _group(stack, vpc, "Bastion")
        _group(stack, vpc).add_ingress_rule(bastion, ec2.Port.tcp(22))

    assert _errors(_annotations(build)) == []


def test_tokens_warn_cannot_verify_and_never_crash():
    def build(stack, vpc):
        group = _group(stack, vpc)
        ec2.CfnSecurityGroupIngress(stack, "Token", group_id=group.security_group_id,
                                    ip_protocol="tcp", from_port=22, to_port=22,
                                    cidr_ip=vpc.vpc_cidr_block)  # fmt: skip

    annotations = _annotations(build)
    assert _errors(annotations) == []
    annotations.has_warning("/Guarded/Token", Match.string_like_regexp(".*cannot verify.*"))


@pytest.mark.parametrize("by_path", [True, False])
def test_allowed_groups_pass_with_their_reason(by_path):
    holder = {}

    def build(stack, vpc):
        group = _group(stack, vpc)
        group.add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(22))
        holder["group"] = group

    app = cdk.App()
    stack = cdk.Stack(app, "Guarded")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=1, nat_gateways=0, subnet_configuration=[])
    build(stack, vpc)
    target = "Guarded/Web" if by_path else holder["group"]
    cdk.Aspects.of(stack).add(OpenIngressGuard(allow=[(target, "a honeypot, open on purpose")]))
    annotations = Annotations.from_stack(stack)
    assert _errors(annotations) == []
    annotations.has_info("/Guarded/Web/Resource", Match.string_like_regexp(".*a honeypot.*"))


def test_ports_are_configurable():
    def build(stack, vpc):
        _group(stack, vpc).add_ingress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(6379))

    assert _errors(_annotations(build)) == []
    assert _errors(_annotations(build, ports=(6379,)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ports": "22"}, "ports must be a non-empty list of ports"),
        ({"ports": (70000,)}, "ports must be a non-empty list of ports"),
        ({"ports": ()}, "ports must be a non-empty list of ports"),
        ({"allow": {"Stack/Group": ""}}, "every allowance needs a reason"),
        ({"allow": [("Stack/Group",)]}, "allow must map targets to reasons"),
        ({"allow": {42: "why"}}, "a target is a construct path or a construct"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        OpenIngressGuard(**kwargs)


@pytest.mark.deploy
def test_cdk_synth_of_the_demo_fails_on_ssh_open_to_the_world(tmp_path):
    """The real CLI path: an error annotation makes `cdk synth` exit non-zero."""
    result = subprocess.run(
        ["cdk", "synth", "--quiet", "--no-notices", "--output", str(tmp_path / "out"),
         "-c", "vpcwatch:openSshToTheWorld=true"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=cli_env(),
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    expected = "security group VpcWatchDemo/WebSecurityGroup/Resource admits 0.0.0.0/0 to port 22"
    assert f"OpenIngressGuard: {expected}" in output


def test_split_sources_across_inline_and_standalone_rules_are_one_opening():
    """0.0.0.0/1 inline plus 128.0.0.0/1 as a standalone rule: the whole IPv4 space."""

    def build(stack, vpc):
        group = _group(stack, vpc)
        group.add_ingress_rule(ec2.Peer.ipv4("0.0.0.0/1"), ec2.Port.tcp(22))
        ec2.CfnSecurityGroupIngress(stack, "Half", group_id=group.security_group_id,
                                    ip_protocol="tcp", from_port=22, to_port=22,
                                    cidr_ip="128.0.0.0/1")  # fmt: skip

    (error,) = _errors(_annotations(build))
    assert "admits 0.0.0.0/0 to port 22" in error
    assert "tcp 22 from 0.0.0.0/1 + tcp 22 from 128.0.0.0/1" in error


def test_zero_colon_colon_slash_zero_is_the_ipv6_world():
    def build(stack, vpc):
        _group(stack, vpc).add_ingress_rule(ec2.Peer.ipv6("0::/0"), ec2.Port.tcp(3389))

    (error,) = _errors(_annotations(build))
    assert "admits ::/0 to port 3389" in error


def test_prefix_list_sources_cannot_be_verified():
    def build(stack, vpc):
        _group(stack, vpc).add_ingress_rule(ec2.Peer.prefix_list("pl-0123abcd"), ec2.Port.tcp(22))

    annotations = _annotations(build)
    assert _errors(annotations) == []
    annotations.has_warning("*", Match.string_like_regexp('.*prefix list "pl-0123abcd".*'))


def test_a_wide_public_range_with_a_limit():
    def build(stack, vpc):
        _group(stack, vpc).add_ingress_rule(ec2.Peer.ipv4("52.0.0.0/6"), ec2.Port.tcp(22))

    assert _errors(_annotations(build)) == []
    (error,) = _errors(_annotations(build, max_public_prefix_ipv4=8))
    assert "admits 52.0.0.0/6 (public, wider than /8) to port 22" in error


@pytest.mark.parametrize("value", [0, 33, "8", True])
def test_bad_prefix_limits(value):
    with pytest.raises(ValueError, match="max_public_prefix_ipv4 must be a prefix length"):
        OpenIngressGuard(max_public_prefix_ipv4=value)
