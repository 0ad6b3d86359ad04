"""Demo settings from CDK context (``cdk.json`` or ``cdk synth -c key=value``)."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Any

DEFAULTS: dict[str, Any] = {
    "vpcwatch:stackName": "VpcWatchDemo",
    "vpcwatch:alertEmail": "security-alerts@example.com",
    "vpcwatch:adminCidr": "203.0.113.10/32",
    "vpcwatch:allowedDestinations": ["52.216.0.0/15", "3.5.0.0/19"],
    "vpcwatch:openSshToTheWorld": False,
    "vpcwatch:archive": False,
    "vpcwatch:thresholds": {},
}


@dataclass(frozen=True)
class DemoSettings:
    """What the demo stack needs from the user; every value has a default.

    Args:
        stack_name: the CloudFormation stack name.
        alert_email: where alarm e-mails go.
        admin_cidr: the one network allowed to reach the bastion over SSH ("My IP").
        allowed_destinations: CIDRs that data may leave for (S3 ranges by default).
        open_ssh_to_the_world: add the classic mistake (22 open to 0.0.0.0/0) to the web
            servers' group, to watch OpenIngressGuard stop the synth.
        archive: also deliver flow logs to S3, with a Glue table and Athena workgroup.
        thresholds: detector name -> threshold, as ``vpcwatch tune --format context``
            prints them (a ``cdk.json`` context block).
    """

    stack_name: str
    alert_email: str
    admin_cidr: str
    allowed_destinations: tuple[str, ...]
    open_ssh_to_the_world: bool = False
    archive: bool = False
    thresholds: tuple[tuple[str, float], ...] = ()

    @classmethod
    def from_context(cls, get: Any) -> DemoSettings:
        """Build from a context getter (``app.node.try_get_context``)."""

        def value(key: str) -> Any:
            found = get(key)
            return DEFAULTS[key] if found is None else found

        destinations = value("vpcwatch:allowedDestinations")
        if isinstance(destinations, str):  # `-c key=[...]` arrives as a string
            destinations = (
                json.loads(destinations)
                if destinations.startswith("[")
                else [d.strip() for d in destinations.split(",") if d.strip()]
            )
        thresholds = value("vpcwatch:thresholds")
        if isinstance(thresholds, str):  # `-c vpcwatch:thresholds={...}` arrives as a string
            try:
                thresholds = json.loads(thresholds)
            except ValueError:
                thresholds = None
        if not isinstance(thresholds, dict):
            raise ValueError(
                "context vpcwatch:thresholds must be a JSON object of detector name -> number "
                "(vpcwatch tune --format context prints one)"
            )
        settings = cls(
            stack_name=value("vpcwatch:stackName"),
            alert_email=value("vpcwatch:alertEmail"),
            admin_cidr=value("vpcwatch:adminCidr"),
            allowed_destinations=tuple(destinations),
            open_ssh_to_the_world=str(value("vpcwatch:openSshToTheWorld")).lower() == "true",
            archive=str(value("vpcwatch:archive")).lower() == "true",
            thresholds=tuple(thresholds.items()),
        )
        _network("context vpcwatch:adminCidr", settings.admin_cidr)
        for cidr in settings.allowed_destinations:
            _network("context vpcwatch:allowedDestinations", cidr)
        return settings


def _network(name: str, cidr: str) -> None:
    try:
        ipaddress.ip_network(cidr)
    except ValueError as error:
        raise ValueError(f"{name} must be a CIDR block like '203.0.113.10/32': {error}") from None
