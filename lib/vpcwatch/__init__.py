"""vpcwatch: network threat detection on VPC Flow Logs, as AWS CDK constructs.

The pure-Python layers (fields, patterns, the filter-pattern evaluator) load
instantly. The construct classes load ``aws_cdk`` (a ~5 s jsii start) only when
first used, through the module-level ``__getattr__`` below (PEP 562).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from vpcwatch.errors import FieldError, FilterPatternError, FormatError, PatternBuildError
from vpcwatch.fields import FIELDS, FieldKind, FlowLogField, FlowLogFormat
from vpcwatch.patterns import FilterOperator, FlowFilter, Regex

if TYPE_CHECKING:
    from vpcwatch.constructs.alerts import AlertTopic
    from vpcwatch.constructs.central import AlertForwarder, CentralAlertBus, CentralArchive
    from vpcwatch.constructs.enricher import AlarmEnricher
    from vpcwatch.constructs.enrollment import VpcEnrollment
    from vpcwatch.constructs.exposure import ExposureRules
    from vpcwatch.constructs.guardduty import PortProbeFindings
    from vpcwatch.constructs.ingress_guard import OpenIngressGuard
    from vpcwatch.constructs.member import MemberBaseline
    from vpcwatch.constructs.monitoring import FlowLogMonitoring
    from vpcwatch.constructs.pipeline import FlowLogPipeline, TrafficType
    from vpcwatch.constructs.table import FlowLogTable

__version__ = "0.2.0"

# public name -> module that defines it; loaded on first access.
_LAZY = {
    "AlarmEnricher": "vpcwatch.constructs.enricher",
    "AlertForwarder": "vpcwatch.constructs.central",
    "AlertTopic": "vpcwatch.constructs.alerts",
    "CentralAlertBus": "vpcwatch.constructs.central",
    "CentralArchive": "vpcwatch.constructs.central",
    "ExposureRules": "vpcwatch.constructs.exposure",
    "MemberBaseline": "vpcwatch.constructs.member",
    "OpenIngressGuard": "vpcwatch.constructs.ingress_guard",
    "PortProbeFindings": "vpcwatch.constructs.guardduty",
    "FlowLogMonitoring": "vpcwatch.constructs.monitoring",
    "FlowLogPipeline": "vpcwatch.constructs.pipeline",
    "FlowLogTable": "vpcwatch.constructs.table",
    "TrafficType": "vpcwatch.constructs.pipeline",
    "VpcEnrollment": "vpcwatch.constructs.enrollment",
}

__all__ = [
    "FIELDS",
    "AlarmEnricher",
    "AlertForwarder",
    "AlertTopic",
    "CentralAlertBus",
    "CentralArchive",
    "ExposureRules",
    "FieldError",
    "FieldKind",
    "FilterOperator",
    "FilterPatternError",
    "FlowFilter",
    "FlowLogField",
    "FlowLogFormat",
    "FlowLogMonitoring",
    "FlowLogPipeline",
    "FlowLogTable",
    "FormatError",
    "MemberBaseline",
    "OpenIngressGuard",
    "PatternBuildError",
    "PortProbeFindings",
    "Regex",
    "TrafficType",
    "VpcEnrollment",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vpcwatch' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
