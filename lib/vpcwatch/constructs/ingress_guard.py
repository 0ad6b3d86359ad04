"""``OpenIngressGuard``: a CDK Aspect that stops ``cdk synth`` when a security group
admits 0.0.0.0/0 or ::/0 to a guarded port (the first of the three layers)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_ec2 as ec2
from constructs import IConstruct

from vpcwatch.ingress import Opening, openings
from vpcwatch.values import port_list

DEFAULT_GUARDED_PORTS = (22, 3389)


@jsii.implements(cdk.IAspect)
class OpenIngressGuard:
    """Errors for security-group rules open to the world on guarded ports.

    Example (after the app's stacks and stages are built, before ``app.synth()``)::

        OpenIngressGuard.protect(app, ports=(22, 3389),
                                 allow={bastion_group: "SSH open by design (MFA + keys)"})

    CDK does not carry an aspect of the app into a ``cdk.Stage`` (CDK Pipelines deploys
    stages): :meth:`protect` attaches the guard to the scope and to every stage inside
    it. A stage that the guard does not cover (added after ``protect``, or an app guarded
    with ``cdk.Aspects.of(app).add(...)``) makes the synth fail with its path, never a
    silent pass.

    Args:
        ports: the guarded ports. Default: 22 and 3389.
        allow: construct paths or constructs (a security group, or any parent) whose open
            rules are accepted, each with its reason: a mapping ``{target: reason}`` or a
            list of ``(target, reason)`` pairs. Default: none.
        max_public_prefix_ipv4: also refuse a source with public addresses wider than
            this prefix (``8`` refuses ``0.0.0.0/1`` and ``52.0.0.0/6``). Default: ``None``,
            only the whole IPv4 space.
        max_public_prefix_ipv6: the same for IPv6 sources. Default: ``None``.

    The rules of a group (its inline ``SecurityGroupIngress`` and the
    ``AWS::EC2::SecurityGroupIngress`` resources attached to it) are judged together,
    with addresses read by ``ipaddress``: sources that together cover every IPv4 or
    every IPv6 address on a guarded port (``0.0.0.0/1`` + ``128.0.0.0/1``, ``0::/0``)
    open it to the world. A rule opens a port when its range covers it or its protocol
    is ``-1`` (all traffic). Sources that are deploy-time tokens or prefix lists give a
    "cannot verify" warning, never a crash; a source security group admits instances,
    not the internet.
    """

    def __init__(
        self,
        *,
        ports: Sequence[int] = DEFAULT_GUARDED_PORTS,
        allow: Mapping[Any, str] | Iterable[tuple[Any, str]] | None = None,
        max_public_prefix_ipv4: int | None = None,
        max_public_prefix_ipv6: int | None = None,
    ) -> None:
        self.ports = port_list(ports, "ports")
        self.allowed = _allowances(allow)
        self.max_public_prefix = {
            version: _prefix(f"max_public_prefix_ipv{version}", value, bits)
            for version, value, bits in ((4, max_public_prefix_ipv4, 32),
                                         (6, max_public_prefix_ipv6, 128))
            if value is not None
        }  # fmt: skip
        self._covered: set[str] = set()  # paths of the stages this guard is attached to

    @classmethod
    def protect(
        cls,
        scope: IConstruct,
        *,
        ports: Sequence[int] = DEFAULT_GUARDED_PORTS,
        allow: Mapping[Any, str] | Iterable[tuple[Any, str]] | None = None,
        max_public_prefix_ipv4: int | None = None,
        max_public_prefix_ipv6: int | None = None,
    ) -> OpenIngressGuard:
        """Guard every stack under ``scope`` (an app, a stage or a stack), nested stages
        included; the arguments are the constructor's. Returns the guard."""
        guard = cls(ports=ports, allow=allow, max_public_prefix_ipv4=max_public_prefix_ipv4,
                    max_public_prefix_ipv6=max_public_prefix_ipv6)  # fmt: skip
        return guard.apply_to(scope)

    def apply_to(self, scope: IConstruct) -> OpenIngressGuard:
        """Attach this guard to ``scope`` and to every ``cdk.Stage`` inside it (call it
        once the stages exist). Returns the guard."""
        for node in [scope, *scope.node.find_all()]:
            if node is scope or isinstance(node, cdk.Stage):
                cdk.Aspects.of(node).add(self)
                self._covered.add(node.node.path)
        return self

    def visit(self, node: IConstruct) -> None:
        if isinstance(node, cdk.Stage):
            self._refuse_unguarded_stages(node)
        elif isinstance(node, ec2.CfnSecurityGroup):
            # A group's inline rules and the standalone rules attached to it, together.
            inline = cdk.Stack.of(node).resolve(node.security_group_ingress) or []
            if not isinstance(inline, list):
                _cannot_verify(node, "its ingress rules are resolved at deploy time")
                inline = []
            rules = [(node, rule) for rule in inline]
            rules += [(rule, _rule_of(rule)) for rule in _standalone_rules(node)]
            self._judge(node, node.node.path, rules)
        elif isinstance(node, ec2.CfnSecurityGroupIngress) and _group_of(node) is None:
            # A rule on a group outside this stack: judged alone.
            self._judge(node, node.node.path, [(node, _rule_of(node))])

    def _judge(self, node: IConstruct, group_path: str, rules: list[tuple[Any, Any]]) -> None:
        """Report the openings of ``rules`` (each with the construct that holds it, which
        gets the "cannot verify" warning when its rule cannot be judged)."""
        judged = []
        for holder, rule in rules:
            if not isinstance(rule, dict):
                _cannot_verify(holder, f"rule {_text(rule)} is resolved at deploy time")
                continue
            for reason in openings([rule], self.ports)[1]:
                _cannot_verify(holder, reason)
            judged.append(rule)
        found, _ = openings(judged, self.ports, max_public_prefix=self.max_public_prefix)
        for opening in found:
            self._report(node, group_path, opening)

    def _report(self, node: IConstruct, group_path: str, opening: Opening) -> None:
        reason = self._allowance(node.node.path, group_path)
        if reason is not None:
            cdk.Annotations.of(node).add_info(
                f"OpenIngressGuard: {opening.describe()} admits port {opening.port}; "
                f"allowed: {reason}"
            )
            return
        cdk.Annotations.of(node).add_error(
            f"OpenIngressGuard: security group {group_path} admits {opening.reach} to port "
            f"{opening.port} (rules: {opening.describe()}). Fix: allow the port only from a "
            "source security group (a bastion's) or a /32; or, if it is "
            f"intended, pass allow={{'{group_path}': '<reason>'}} to OpenIngressGuard."
        )

    def _refuse_unguarded_stages(self, stage: cdk.Stage) -> None:
        """Stages synthesize before their parent's aspects run, so a guard found on the
        parent but not on a nested stage never saw that stage's groups: fail loudly."""
        unguarded = [
            node.node.path
            for node in stage.node.find_all()
            if isinstance(node, cdk.Stage) and node is not stage
            and node.node.path not in self._covered
        ]  # fmt: skip
        if unguarded:
            raise RuntimeError(
                f"OpenIngressGuard does not cover the stage(s) {', '.join(unguarded)}: CDK does "
                "not carry an app's aspects into a cdk.Stage. Use "
                "OpenIngressGuard.protect(app, ...) after every stage has been added."
            )

    def _allowance(self, *paths: str) -> str | None:
        for allowed, reason in self.allowed:
            if any(path == allowed or path.startswith(allowed + "/") for path in paths):
                return reason
        return None


def _prefix(name: str, value: Any, bits: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= bits:
        raise ValueError(f"{name} must be a prefix length from 1 to {bits} or None; got {value!r}")
    return value


def _allowances(allow: Any) -> list[tuple[str, str]]:
    if allow is None:
        return []
    pairs = list(allow.items()) if isinstance(allow, Mapping) else list(allow)
    result = []
    for pair in pairs:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise ValueError(f"allow must map targets to reasons; got {pair!r}")
        target, reason = pair
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError(f"allow: every allowance needs a reason; {target!r} has none")
        if isinstance(target, str):
            path = target.strip("/")
        elif hasattr(target, "node"):
            path = target.node.path
        else:
            raise ValueError(f"allow: a target is a construct path or a construct, got {target!r}")
        result.append((path, reason))
    return result


def _group_logical_id(node: ec2.CfnSecurityGroupIngress) -> str | None:
    group = cdk.Stack.of(node).resolve(node.group_id)
    if isinstance(group, dict) and "Fn::GetAtt" in group:
        return group["Fn::GetAtt"][0]
    if isinstance(group, dict) and "Ref" in group:
        return group["Ref"]
    return None


def _group_of(node: ec2.CfnSecurityGroupIngress) -> ec2.CfnSecurityGroup | None:
    """The security group a standalone rule belongs to, when it is in the same stack."""
    stack = cdk.Stack.of(node)
    logical_id = _group_logical_id(node)
    for child in stack.node.find_all():
        if (
            isinstance(child, ec2.CfnSecurityGroup)
            and stack.resolve(child.logical_id) == logical_id
        ):
            return child
    return None


def _standalone_rules(group: ec2.CfnSecurityGroup) -> list[ec2.CfnSecurityGroupIngress]:
    stack = cdk.Stack.of(group)
    logical_id = stack.resolve(group.logical_id)
    return [
        child
        for child in stack.node.find_all()
        if isinstance(child, ec2.CfnSecurityGroupIngress) and _group_logical_id(child) == logical_id
    ]


def _rule_of(node: ec2.CfnSecurityGroupIngress) -> Any:
    return cdk.Stack.of(node).resolve({
        "CidrIp": node.cidr_ip, "CidrIpv6": node.cidr_ipv6,
        "SourcePrefixListId": node.source_prefix_list_id,
        "SourceSecurityGroupId": node.source_security_group_id,
        "IpProtocol": node.ip_protocol, "FromPort": node.from_port, "ToPort": node.to_port,
    })  # fmt: skip


def _text(value: Any) -> str:
    """A value as a reader wants it in a message: JSON, not a Python repr."""
    return json.dumps(value, sort_keys=True, default=str)


def _cannot_verify(node: IConstruct, why: str) -> None:
    cdk.Annotations.of(node).add_warning_v2(
        "vpcwatch:ingress-cannot-verify",
        f"OpenIngressGuard cannot verify {node.node.path}: {why}",
    )
