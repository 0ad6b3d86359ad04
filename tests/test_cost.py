"""vpcwatch cost: tiers, the template's items, alternatives, overrides and samples."""

from __future__ import annotations

import io
import json

import pytest

from vpcwatch.cli import main
from vpcwatch.cost import DEFAULT_PRICES, Assumptions, estimate, tiered

TEMPLATE = {
    "Resources": {
        "FlowLog": {"Type": "AWS::EC2::FlowLog", "Properties": {"TrafficType": "ALL",
                    "LogDestinationType": "cloud-watch-logs",
                    "LogFormat": "${start} ${dstport}"}},
        "Group": {"Type": "AWS::Logs::LogGroup",
                  "Properties": {"LogGroupName": "/vpcwatch/flowlogs/x", "RetentionInDays": 30}},
        "F1": {"Type": "AWS::Logs::MetricFilter", "Properties": {"FilterPattern": "[a]",
               "MetricTransformations": [{"MetricNamespace": "N", "MetricName": "A"}]}},
        "F2": {"Type": "AWS::Logs::MetricFilter", "Properties": {"FilterPattern": "[a]",
               "MetricTransformations": [{"MetricNamespace": "N", "MetricName": "B"}]}},
        "A1": {"Type": "AWS::CloudWatch::Alarm", "Properties": {}},
        "R1": {"Type": "AWS::Config::ConfigRule", "Properties": {}},
        "G": {"Type": "AWS::GuardDuty::Detector", "Properties": {}},
    }
}  # fmt: skip


def test_tiers():
    tiers = [[10, 1.0], [10, 0.5], [None, 0.1]]
    assert tiered(5, tiers) == 5
    assert tiered(25, tiers) == 10 + 5 + 0.5
    assert tiered(600, DEFAULT_PRICES["logs_ingestion_standard"]) == 300


def test_estimate_lines_follow_the_template():
    lines, alternatives = estimate(TEMPLATE, Assumptions(gb_per_day=20), DEFAULT_PRICES)
    by_item = {line.item.split(" (")[0]: line.usd for line in lines}
    assert by_item["flow logs to CloudWatch Logs, Standard"] == 300
    assert by_item["CloudWatch Logs storage at 30-day retention"] == pytest.approx(18)
    assert by_item["custom metrics from metric filters"] == pytest.approx(0.6)
    assert by_item["standard alarms"] == pytest.approx(0.1)
    assert by_item["Config rule evaluations"] == pytest.approx(1.0)
    assert by_item["GuardDuty flow and DNS log analysis"] == pytest.approx(500 + 100 * 0.5)
    split = next(a for a in alternatives if a.item.startswith("REJECT-only"))
    assert split.usd == pytest.approx(30 * 0.5 + 600 * 0.25 - 300)
    assert split.gives_up == ()  # the filters here need no ACCEPT record


def test_s3_parquet_destination():
    template = {
        "Resources": {
            "FlowLog": {
                "Type": "AWS::EC2::FlowLog",
                "Properties": {
                    "LogDestinationType": "s3",
                    "DestinationOptions": {"FileFormat": "parquet"},
                },
            }
        }
    }
    lines, alternatives = estimate(template, Assumptions(gb_per_day=10), DEFAULT_PRICES)
    assert lines[0].usd == pytest.approx(300 * 0.25 + 300 * 0.03)
    assert alternatives == []  # fmt: skip


def test_flow_logs_an_enrolment_creates_are_priced_too():
    """A member template has no AWS::EC2::FlowLog (every VPC is enrolled at run time):
    leaving its ingestion out would understate the bill by most of it."""
    enrolled = [
        {"LogDestinationType": "cloud-watch-logs", "TrafficType": "ALL"},
        {"LogDestinationType": "s3", "TrafficType": "ALL",
         "DestinationOptions": {"FileFormat": "parquet"}},
    ]  # fmt: skip
    template = {"Resources": {"Enroller": {
        "Type": "AWS::Lambda::Function", "Properties": {},
        "Metadata": {"vpcwatch:enrolledFlowLogs": enrolled},
    }}}  # fmt: skip
    lines, _ = estimate(template, Assumptions(gb_per_day=10), DEFAULT_PRICES)
    by_item = {line.item: line.usd for line in lines}
    assert by_item["flow logs to CloudWatch Logs, Standard (ALL, every VPC enrolled)"] == 150
    assert by_item["flow logs to S3 (ALL, Parquet, every VPC enrolled)"] == pytest.approx(
        300 * 0.25 + 300 * 0.03
    )


def test_cli_with_price_overrides_and_a_sample(tmp_path):
    template = tmp_path / "t.json"
    template.write_text(json.dumps(TEMPLATE))
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"standard_alarm_per_month": 1.0}))
    out = io.StringIO()
    assert main(["cost", "--template", str(template), "--gb-per-day", "1",
                 "--prices", str(prices)], out=out) == 0  # fmt: skip
    assert "standard alarms" in out.getvalue() and "$1.00" in out.getvalue()
    sample = tmp_path / "flows.log"
    sample.write_text("".join(f"{1_700_000_000 + 60 * i} 22\n" for i in range(1440)))
    out = io.StringIO()
    assert main(["cost", "--template", str(template), "--sample", str(sample)], out=out) == 0
    assert "Monthly estimate for 2.016e-05 GB/day" in out.getvalue()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--gb-per-day", "-1"], "--gb-per-day must be a finite number of 0 or more"),
        (["--gb-per-day", "nan"], "--gb-per-day must be a finite number of 0 or more; got nan"),
        ([], "give --gb-per-day or --sample"),
        (["--gb-per-day", "1", "--reject-share", "2"], "reject_share must be from 0 to 1"),
    ],
)
def test_bad_input_exits_2(tmp_path, capsys, argv, message):
    template = tmp_path / "t.json"
    template.write_text(json.dumps(TEMPLATE))
    assert main(["cost", "--template", str(template), *argv], out=io.StringIO()) == 2
    assert message in capsys.readouterr().err


def test_unknown_price_keys(tmp_path, capsys):
    template, prices = tmp_path / "t.json", tmp_path / "p.json"
    template.write_text(json.dumps(TEMPLATE))
    prices.write_text(json.dumps({"alarm": 1}))
    assert main(["cost", "--template", str(template), "--gb-per-day", "1",
                 "--prices", str(prices)], out=io.StringIO()) == 2  # fmt: skip
    assert "unknown price keys ['alarm']" in capsys.readouterr().err


def _with_filter(pattern: str, name: str, template: dict = TEMPLATE) -> dict:
    template = json.loads(json.dumps(template))
    template["Resources"][f"{name}Filter"] = {
        "Type": "AWS::Logs::MetricFilter",
        "Properties": {"FilterPattern": pattern,
                       "MetricTransformations": [{"MetricNamespace": "N", "MetricName": name}]},
    }  # fmt: skip
    return template


def test_alternatives_say_which_detectors_they_switch_off():
    template = _with_filter("[start, action = ACCEPT, dstport = 3389]", "AdminPortAccepted")
    template = _with_filter("[start, action = REJECT, dstport]", "RejectedFlows", template)
    template = _with_filter("[x]", "Z", template)
    _, alternatives = estimate(template, Assumptions(gb_per_day=20), DEFAULT_PRICES)
    by_item = {a.item.split(" (")[0]: a for a in alternatives}
    split = by_item["REJECT-only flow log to CloudWatch + ALL to S3"]
    assert split.gives_up == ("AdminPortAccepted",)  # RejectedFlows still fires
    infrequent = by_item["CloudWatch ingestion in Infrequent Access"]
    assert set(infrequent.gives_up) == {"A", "B", "AdminPortAccepted", "RejectedFlows", "Z"}


def test_render_proposes_only_alternatives_that_keep_every_detector():
    from vpcwatch.cost import render

    template = _with_filter("[start, action = ACCEPT, dstport = 3389]", "AdminPortAccepted")
    template["Resources"]["Group"]["Properties"]["RetentionInDays"] = 365
    assumptions = Assumptions(gb_per_day=20)
    lines, alternatives = estimate(template, assumptions, DEFAULT_PRICES)
    text = render(lines, alternatives, assumptions)
    proposed, refused = text.split("Not proposed")
    assert "CloudWatch retention 30 days + ALL to S3" in proposed
    assert "REJECT-only" not in proposed and "Infrequent Access" not in proposed
    assert "REJECT-only" in refused and "gives up: AdminPortAccepted" in refused
    retention = next(a for a in alternatives if a.item.startswith("CloudWatch retention"))
    # 20 GB/day kept 335 fewer days at $0.03, against 600 GB to S3 at $0.25 + Parquet $0.03
    assert retention.usd == pytest.approx(600 * 0.28 - 20 * 335 * 0.03)
    assert retention.gives_up == ()
