"""The detector catalog and model: literal patterns, consistency, tuning and bad input."""

from __future__ import annotations

import pytest

from vpcwatch import FIELDS, FlowLogFormat
from vpcwatch.detectors import (
    AlarmSettings,
    Comparison,
    Detector,
    DetectorError,
    ExtraMetric,
    MissingData,
    Severity,
    SilenceDetector,
    admin_port_probes,
    default_detectors,
    exfiltration,
    flow_log_health,
    rejected_flows,
    sensitive_port_probes,
)

DEFAULT = FlowLogFormat.default()
ALL = FlowLogFormat.all_fields()
PRIVATE_REGEX = r"%^10\.|^172\.1[6-9]\.|^172\.2\d\.|^172\.3[0-1]\.|^192\.168\.%"


def test_literal_patterns_on_the_default_format():
    rejected, (probes, accepted) = rejected_flows(), admin_port_probes()
    head = "[version, account_id, interface_id, "
    assert rejected.pattern(DEFAULT) == (
        head + "srcaddr, dstaddr, srcport, dstport, protocol, packets, bytes, start, end, "
        "action = REJECT, log_status = OK]"
    )
    assert probes.pattern(DEFAULT) == (
        head + f"srcaddr != {PRIVATE_REGEX}, dstaddr, srcport, dstport = 22 || dstport = 3389, "
        "protocol, packets, bytes, start, end, action = REJECT, ...]"
    )
    assert accepted.pattern(DEFAULT) == probes.pattern(DEFAULT).replace("REJECT", "ACCEPT")
    assert sensitive_port_probes(ports=(6379,)).pattern(DEFAULT) == (
        head + f"srcaddr != {PRIVATE_REGEX}, dstaddr, srcport, dstport = 6379, protocol, "
        "packets, bytes, start, end, action, log_status = OK]"
    )
    skipped, _ = flow_log_health()
    assert skipped.pattern(DEFAULT).endswith("action, log_status = SKIPDATA]")


def test_literal_exfiltration_pattern_on_all_fields():
    detector = exfiltration(allowed_destinations=["203.0.113.7/32"], trusted_ranges=["10.0.0.0/8"])
    assert detector.pattern(ALL) == (
        "[version, account_id, interface_id, srcaddr, "
        "dstaddr != 203.0.113.7 && dstaddr != 10.*, srcport, dstport, protocol, packets, "
        "bytes > 100000, start, end, action = ACCEPT, log_status, vpc_id, subnet_id, "
        "instance_id, tcp_flags, type, pkt_srcaddr, pkt_dstaddr, region, az_id, "
        "sublocation_type, sublocation_id, pkt_src_aws_service, pkt_dst_aws_service, "
        "flow_direction = egress, ...]"
    )


def test_catalog_consistency():
    detectors = default_detectors(allowed_destinations=["52.216.0.0/15"])
    names = [d.name for d in detectors]
    assert len(names) == len(set(names)) == 10
    for detector in detectors:
        assert set(detector.required_fields) <= set(FIELDS)
        assert detector.title and detector.description and detector.severity
        if isinstance(detector, Detector):
            assert detector.filter_for(ALL).required_fields == tuple(
                n for n in ALL.names if n in detector.required_fields
            )
            for technique in detector.mitre:
                assert technique.startswith("T")


def test_alarm_defaults_count_events():
    settings = AlarmSettings()
    assert (settings.statistic, settings.period, settings.evaluation_periods) == ("Sum", 60, 1)
    assert settings.comparison is Comparison.GREATER_THAN_OR_EQUAL
    assert settings.treat_missing_data is MissingData.NOT_BREACHING
    assert rejected_flows().alarm.threshold == 50
    assert admin_port_probes()[1].alarm.threshold == 1
    assert admin_port_probes()[1].severity is Severity.HIGH


def test_with_returns_a_tuned_copy():
    base = rejected_flows()
    tuned = base.with_(threshold=5, period=300, severity=Severity.LOW, title="Rejects")
    assert (tuned.alarm.threshold, tuned.alarm.period, tuned.severity) == (5, 300, Severity.LOW)
    assert base.alarm.threshold == 50 and tuned.name == base.name
    _, stopped = flow_log_health()
    assert stopped.with_(evaluation_periods=6, datapoints_to_alarm=6).alarm.evaluation_periods == 6


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"treshold": 5}, "unknown treshold; allowed: comparison, datapoints_to_alarm"),
        ({"period": 90}, "period must be a whole number of minutes"),
        ({"period": 30}, "period must be a whole number of minutes"),
        ({"evaluation_periods": 0}, "evaluation_periods must be an integer of 1 or more"),
        ({"datapoints_to_alarm": 2}, r"datapoints_to_alarm must be an integer from 1 to "
                                     r"evaluation_periods \(1\)"),
        ({"statistic": "p99"}, "statistic must be one of"),
        ({"threshold": "5"}, "threshold must be a finite number of 0 or more"),
        ({"comparison": ">="}, "comparison must be a Comparison"),
        ({"treat_missing_data": "ignore"}, "treat_missing_data must be a MissingData"),
        ({"period": 86400, "evaluation_periods": 8}, "at most 7 days"),
        ({"severity": "high"}, "severity must be a Severity"),
    ],
)  # fmt: skip
def test_bad_tuning_names_the_setting(changes, message):
    with pytest.raises(DetectorError, match=message):
        rejected_flows().with_(**changes)


def test_missing_fields_are_listed_with_the_suggestion():
    with pytest.raises(
        DetectorError, match=r"needs the flow-log fields flow_direction.*all_fields"
    ):
        exfiltration().filter_for(DEFAULT)


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: admin_port_probes(ports=()), "ports must be a non-empty list of ports"),
        (lambda: admin_port_probes(ports=(70000,)), "ports must be a non-empty list"),
        (lambda: admin_port_probes(exclude_sources="10.0.0.0/8"), "not one string"),
        (lambda: sensitive_port_probes(exclude_sources=["10.0.0.0/33"]), "exclude_sources: '10.0"),
        (lambda: exfiltration(allowed_destinations=["s3"]), "allowed_destinations: 's3' is not"),
        (lambda: exfiltration(min_bytes=-1), "min_bytes must be a non-negative integer"),
    ],
)
def test_bad_catalog_arguments(factory, message):
    with pytest.raises(ValueError, match=message):
        factory()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "rejected-flows"}, "name must be PascalCase"),
        ({"metric_value": "bytes"}, "metric_value must be '1', another number, or a field"),
        ({"description": "x" * 1025}, "description must be at most 1024"),
        ({"extra_metrics": (ExtraMetric("X", "$bytes", 0, {"Port": "$dstport"}),)},
         "a default value or dimensions, not both"),
        ({"extra_metrics": (ExtraMetric("X", "1", None, {"Port": "dstport"}),)},
         "dimension value must be a field reference"),
        ({"extra_metrics": (ExtraMetric("X", "1", None, {f"D{i}": "$a" for i in range(4)}),)},
         "at most 3 dimensions"),
    ],
)  # fmt: skip
def test_bad_detector_definitions(changes, message):
    import dataclasses

    with pytest.raises(DetectorError, match=message):
        dataclasses.replace(rejected_flows(), **changes)


def test_a_metric_value_field_must_be_in_the_format():
    import dataclasses

    detector = dataclasses.replace(rejected_flows(), metric_value="$tcp_flags")
    with pytest.raises(DetectorError, match="tcp_flags"):
        detector.filter_for(DEFAULT)


def test_silence_detector_validates_too():
    with pytest.raises(DetectorError, match="alarm must be an AlarmSettings"):
        SilenceDetector("Quiet", "t", "d", Severity.LOW, alarm=None)  # type: ignore[arg-type]
