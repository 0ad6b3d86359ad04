"""Replay feeds each filter only what the stack's CloudWatch flow log delivers.

A REJECT-only flow log never delivers the ACCEPT records of an accepted RDP session or an
exfiltration: replaying a recording of ALL traffic through such a template must not
pretend that AdminPortAccepted or Exfiltration could fire (issue: the cost-saving recipe
switched them off without a word).
"""

from __future__ import annotations

import itertools
import json

import pytest
from test_fast_replay import FMT, detector_template

from vpcwatch.cli import main
from vpcwatch.replay.files import replay_files
from vpcwatch.replay.template import load_plan
from vpcwatch.traffic import generate

INCIDENTS = {5: ("rdp-accepted",), 9: ("exfiltration",), 14: ("ssh-scan",)}


def _template(tmp_path, traffic_type: str | None):
    template = detector_template()
    if traffic_type is not None:
        template["Resources"]["FlowLog"]["Properties"]["TrafficType"] = traffic_type
    path = tmp_path / f"template-{traffic_type}.json"
    path.write_text(json.dumps(template))
    return path


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    lines = list(itertools.islice(generate(FMT, minutes=20, seed=3, incidents=INCIDENTS), 4000))
    path = tmp_path_factory.mktemp("traffic") / "flows.log"
    path.write_text("\n".join(lines) + "\n")
    return path, lines


def test_all_traffic_fires_the_accept_detectors(tmp_path, recording):
    path, _ = recording
    plan = load_plan(_template(tmp_path, "ALL"))
    assert plan.traffic_type == "ALL" and not plan.filters_actions
    result = replay_files(plan, [path])
    assert {"AdminPortAccepted", "Exfiltration"} <= result.fired()
    assert result.undelivered == 0


@pytest.mark.parametrize("fast", [True, False])
def test_reject_only_flow_logs_deliver_no_accept_records(tmp_path, recording, fast):
    path, lines = recording
    plan = load_plan(_template(tmp_path, "REJECT"))
    assert plan.traffic_type == "REJECT"
    result = replay_files(plan, [path], fast=fast)
    action = FMT.index("action")
    accepted = sum(line.split()[action] == "ACCEPT" for line in lines)
    assert result.undelivered == accepted > 0
    assert result.events == len(lines) - accepted
    assert not {"AdminPortAccepted", "Exfiltration"} & result.fired()
    assert {"RejectedFlows"} <= result.fired() or "AdminPortProbes" in result.fired()


def test_both_paths_agree_on_a_reject_only_template(tmp_path, recording):
    path, _ = recording
    plan = load_plan(_template(tmp_path, "REJECT"))
    fast, slow = (replay_files(plan, [path], fast=f) for f in (True, False))
    assert fast.datapoints == slow.datapoints
    assert fast.undelivered == slow.undelivered


def test_the_cli_says_what_was_not_delivered(tmp_path, recording, capsys):
    path, _ = recording
    template = _template(tmp_path, "REJECT")
    assert main(["replay", "--template", str(template), str(path), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["trafficType"] == "REJECT" and report["undelivered"] > 0
    assert main(["replay", "--template", str(template), str(path)]) == 0
    assert "record REJECT traffic only" in capsys.readouterr().out


def test_s3_flow_logs_do_not_set_the_traffic_type(tmp_path):
    template = detector_template()
    template["Resources"]["Archive"] = {
        "Type": "AWS::EC2::FlowLog",
        "Properties": {"LogFormat": FMT.log_format, "TrafficType": "REJECT",
                       "LogDestinationType": "s3"},
    }  # fmt: skip
    path = tmp_path / "t.json"
    path.write_text(json.dumps(template))
    assert load_plan(path).traffic_type == "ALL"
