"""Detectors as data: the model (:mod:`.model`) and the catalog (:mod:`.catalog`)."""

from vpcwatch.detectors.catalog import (
    ADMIN_PORTS,
    PRIVATE_RANGES,
    S3_US_EAST_1,
    SENSITIVE_PORTS,
    SERVED_PORTS,
    admin_port_probes,
    default_detectors,
    egress_volume,
    exfiltration,
    flow_log_health,
    rejected_flows,
    sensitive_port_probes,
)
from vpcwatch.detectors.model import (
    AlarmSettings,
    Comparison,
    Detector,
    DetectorError,
    ExtraMetric,
    MissingData,
    Severity,
    SilenceDetector,
)

__all__ = [
    "ADMIN_PORTS",
    "PRIVATE_RANGES",
    "S3_US_EAST_1",
    "SENSITIVE_PORTS",
    "SERVED_PORTS",
    "AlarmSettings",
    "Comparison",
    "Detector",
    "DetectorError",
    "ExtraMetric",
    "MissingData",
    "Severity",
    "SilenceDetector",
    "admin_port_probes",
    "default_detectors",
    "egress_volume",
    "exfiltration",
    "flow_log_health",
    "rejected_flows",
    "sensitive_port_probes",
]
