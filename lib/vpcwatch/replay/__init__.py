"""Rehearse detectors offline: metric datapoints and the alarm state machine."""

from vpcwatch.replay.alarms import AlarmState, Transition, evaluate
from vpcwatch.replay.engine import (
    AlarmSpec,
    AlarmSummary,
    ReplayResult,
    replay,
    specs_from_detectors,
)
from vpcwatch.replay.metrics import INCOMING_LOG_EVENTS, MetricAggregator, MetricSpec

__all__ = [
    "INCOMING_LOG_EVENTS",
    "AlarmSpec",
    "AlarmState",
    "AlarmSummary",
    "MetricAggregator",
    "MetricSpec",
    "ReplayResult",
    "Transition",
    "evaluate",
    "replay",
    "specs_from_detectors",
]
