"""``OpenIngressGuard``: a CDK Aspect that stops ``cdk synth`` when a security group
admits 0.0.0.0/0 or ::/0 to a guarded port (the first of the three layers)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_ec2 as ec2
from constructs import IConstruct

from vpcwatch.ingress import OpenRule, Unverifiable, open_ports
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

    Rules are checked in ``AWS::EC2::SecurityGroup`` (inline ingress) and
    ``AWS::EC2::SecurityGroupIngress``; a rule opens a port when its range covers it or
    its protocol is ``-1`` (all traffic). Sources that are deploy-time tokens give a
    "cannot verify" warning, never a crash.
    """

    def __init__(
        self,
        *,
        ports: Sequence[int] = DEFAULT_GUARDED_PORTS,
        allow: Mapping[Any, str] | Iterable[tuple[Any, str]] | None = None,
    ) -> None:
        self.ports = port_list(ports, "ports")
        self.allowed = _allowances(allow)
        self._covered: set[str] = set()  # paths of the stages this guard is attached to

    @classmethod
    def protect(
        cls,
        scope: IConstruct,
        *,
        ports: Sequence[int] = DEFAULT_GUARDED_PORTS,
        allow: Mapping[Any, str] | Iterable[tuple[Any, str]] | None = None,
    ) -> OpenIngressGuard:
        """Guard every stack under ``scope`` (an app, a stage or a stack), nested stages
        included; the arguments are the constructor's. Returns the guard."""
        return cls(ports=ports, allow=allow).apply_to(scope)

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
            return
        if isinstance(node, ec2.CfnSecurityGroup):
            rules = cdk.Stack.of(node).resolve(node.security_group_ingress) or []
            group_path = node.node.path
        elif isinstance(node, ec2.CfnSecurityGroupIngress):
            rules = [cdk.Stack.of(node).resolve({
                "CidrIp": node.cidr_ip, "CidrIpv6": node.cidr_ipv6,
                "IpProtocol": node.ip_protocol, "FromPort": node.from_port,
                "ToPort": node.to_port,
            })]  # fmt: skip
            group_path = _group_path(node) or node.node.path
        else:
            return
        if not isinstance(rules, list):
            _cannot_verify(node, "its ingress rules are resolved at deploy time")
            return
        for rule in rules:
            if not isinstance(rule, dict):
                _cannot_verify(node, f"rule {rule!r} is resolved at deploy time")
                continue
            try:
                found = open_ports(rule, self.ports)
            except Unverifiable as reason:
                _cannot_verify(node, str(reason))
                continue
            for opening in found:
                self._report(node, group_path, opening)

    def _report(self, node: IConstruct, group_path: str, opening: OpenRule) -> None:
        reason = self._allowance(node.node.path, group_path)
        if reason is not None:
            cdk.Annotations.of(node).add_info(
                f"OpenIngressGuard: {opening.describe()} admits port {opening.port}; "
                f"allowed: {reason}"
            )
            return
        cdk.Annotations.of(node).add_error(
            f"OpenIngressGuard: security group {group_path} admits {opening.source} to port "
            f"{opening.port} (rule: {opening.describe()}). Fix: allow the port only from a "
            "source security group (a bastion's, as in seed 004) or a /32; or, if it is "
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


def _group_path(node: ec2.CfnSecurityGroupIngress) -> str | None:
    """The path of the security group a standalone rule belongs to, when in this stack."""
    stack = cdk.Stack.of(node)
    group = stack.resolve(node.group_id)
    logical_id = None
    if isinstance(group, dict) and "Fn::GetAtt" in group:
        logical_id = group["Fn::GetAtt"][0]
    elif isinstance(group, dict) and "Ref" in group:
        logical_id = group["Ref"]
    if logical_id is None:
        return None
    for child in stack.node.find_all():
        if isinstance(child, cdk.CfnElement) and stack.resolve(child.logical_id) == logical_id:
            return child.node.path
    return None


def _cannot_verify(node: IConstruct, why: str) -> None:
    cdk.Annotations.of(node).add_warning_v2(
        "vpcwatch:ingress-cannot-verify",
        f"OpenIngressGuard cannot verify {node.node.path}: {why}",
    )
