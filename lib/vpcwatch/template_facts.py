"""Facts read back from a synthesized template, shared by replay and the cost estimate
(pure Python: no ``aws_cdk``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ENROLLED_FLOW_LOGS = "vpcwatch:enrolledFlowLogs"
"""Template metadata of ``VpcEnrollment``'s function: the properties of the flow logs it
creates at run time (``LogDestinationType``, ``LogFormat``, ``TrafficType``,
``DestinationOptions``), so a template without a VPC of its own still tells what it
records."""


def flow_log_properties(resources: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The properties of every flow log a template makes: its ``AWS::EC2::FlowLog``
    resources, and those an enrolment creates at run time (marked ``"enrolled": True``)."""
    found = [
        dict(r.get("Properties") or {})
        for r in resources.values()
        if r.get("Type") == "AWS::EC2::FlowLog"
    ]
    for resource in resources.values():
        enrolled = (resource.get("Metadata") or {}).get(ENROLLED_FLOW_LOGS)
        if isinstance(enrolled, list):
            found += [{**item, "enrolled": True} for item in enrolled if isinstance(item, dict)]
    return found
