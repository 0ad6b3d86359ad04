"""Each detector fires on its attack, at the minute of the attack, and only there.

Generated traffic (seed 000's 5.7 REJECT/min of internet noise and ordinary web
traffic) runs through the offline evaluator and the alarm simulation, with the
detectors' default settings.
"""

from __future__ import annotations

import pytest

from vpcwatch import FlowLogFormat
from vpcwatch.detectors import S3_US_EAST_1, default_detectors
from vpcwatch.replay import replay, specs_from_detectors
from vpcwatch.replay.readers import flow_log_events
from vpcwatch.traffic import DEFAULT_START, generate

FMT = FlowLogFormat.all_fields()
DETECTORS = default_detectors(allowed_destinations=S3_US_EAST_1)
METRICS, ALARMS, INSIGHTS = specs_from_detectors(DETECTORS, FMT, "VpcWatch")
MINUTES = 40
ATTACK_MINUTE = 15


def run(incidents, seed=11):
    lines = generate(FMT, minutes=MINUTES, seed=seed, incidents=incidents)
    return replay(
        flow_log_events(lines, FMT),
        METRICS,
        ALARMS,
        INSIGHTS,
        start=DEFAULT_START,
        end=DEFAULT_START + MINUTES * 60 - 1,
    )


def minute_end(minute: int) -> int:
    return DEFAULT_START + (minute + 1) * 60


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_normal_traffic_raises_no_alarm(seed):
    result = run({}, seed=seed)
    assert result.fired() == set()
    rejected = result.datapoints["RejectedFlows"]
    average = sum(rejected.values()) / len(rejected)
    assert 3 < average < 9  # seed 000's 5.7 a minute, give or take


@pytest.mark.parametrize(
    ("incident", "detectors"),
    [
        ("ssh-scan", {"RejectedFlows", "AdminPortProbes", "SlowScanSources"}),
        ("port-scan", {"SensitivePortProbes", "SlowScanSources"}),
        ("rdp-accepted", {"AdminPortAccepted"}),
        ("exfiltration", {"Exfiltration"}),
        ("allowed-upload", set()),
        ("skipdata", {"SkippedRecords"}),
    ],
)
def test_each_attack_fires_its_detectors_at_its_minute_only(incident, detectors):
    result = run({ATTACK_MINUTE: (incident,)})
    assert result.fired() == detectors
    for name in detectors:
        assert result.alarm_times(name) == [minute_end(ATTACK_MINUTE)]
        if name == "SlowScanSources":  # an hour's window: the scanner stays in it
            continue
        # ... and the alarm is back to OK the minute after.
        assert any(
            t.alarm == name and t.new.value == "OK" and t.time == minute_end(ATTACK_MINUTE + 1)
            for t in result.transitions
        )


def test_flow_logs_stopping_fires_the_silence_detector_after_17_minutes():
    result = run({minute: ("outage",) for minute in range(10, 30)})
    assert result.fired() == {"FlowLogsStopped"}
    # 15 one-minute datapoints, and the evaluation range retrieves 2 more: the alarm goes
    # off when all 17 are silent, at the end of minute 26 of the outage (minutes 10-29),
    # 1700000040 + 27 * 60. At the end of 25 the range still holds minute 9's events.
    assert result.alarm_times("FlowLogsStopped") == [1_700_001_660]


def test_the_exfiltration_byte_volume_is_published():
    result = run({ATTACK_MINUTE: ("exfiltration",)})
    transition = next(
        t for t in result.transitions if t.alarm == "Exfiltration" and t.new.value == "ALARM"
    )
    (record,) = result.contributors[("Exfiltration", transition.time)]
    assert "198.51.100.77" in record and " 150000 " in record
    # The upload's bytes reach EgressVolume's hourly sum, far under its threshold.
    assert max(result.datapoints["EgressVolume"].values()) == 150_000
    assert "EgressVolume" not in result.fired()


def test_an_upload_in_small_pieces_fires_the_volume_detectors_only():
    """150 uploads of 90 KB over 30 minutes (13.5 MB): no flow reaches Exfiltration's
    100 KB; the hourly sum crosses 10 MB in the 23rd minute (23 x 450 KB), and the
    one pair's 5 MB in the 12th (12 x 450 KB), naming the pair."""
    result = run({5: ("chunked-exfil",)})
    assert result.fired() == {"EgressVolume", "EgressTopTalkers"}
    assert result.alarm_times("EgressVolume") == [minute_end(5 + 22)]
    assert result.alarm_times("EgressTopTalkers") == [minute_end(5 + 11)]
    (top,) = result.contributors[("EgressTopTalkers", minute_end(5 + 11))]
    assert "10.0.0.199 198.51.100.77" in top and "5,400,000 bytes" in top
    transition = next(
        t for t in result.transitions if t.alarm == "EgressVolume" and t.new.value == "ALARM"
    )
    records = result.contributors[("EgressVolume", transition.time)]
    assert records and all("198.51.100.77" in r and " 90000 " in r for r in records)


def test_answers_from_served_ports_and_allowed_uploads_are_not_egress_volume():
    web_only = run({})
    assert "EgressVolume" not in web_only.datapoints or not any(
        web_only.datapoints["EgressVolume"].values()
    )
    allowed = run({ATTACK_MINUTE: ("allowed-upload",)})
    assert not any(allowed.datapoints.get("EgressVolume", {}).values())


def test_a_week_of_background_raises_no_alarm(tmp_path):
    """Seven days at seed 000's rate (noise, web traffic), through the replay engine's
    DuckDB path: no default detector fires."""
    import json

    from replay.test_fast_replay import detector_template

    from vpcwatch.replay.files import replay_files
    from vpcwatch.replay.template import load_plan

    template = tmp_path / "template.json"
    template.write_text(json.dumps(detector_template()))
    traffic = tmp_path / "week.log"
    with traffic.open("w") as out:
        for line in generate(FMT, minutes=7 * 1440, seed=5):
            out.write(line + "\n")
    result = replay_files(load_plan(template), [traffic])
    assert result.events > 7 * 1440 * 10
    assert result.fired() == set()


def test_lasting_incidents_go_on_from_their_minute_within_the_trace():
    lines = list(generate(FMT, minutes=200, seed=3, incidents={100: ("slow-scan",)}))
    probes = [line.split() for line in lines if " 45.155.205.233 " in line]
    minutes = {(int(f[FMT.index("start")]) - DEFAULT_START) // 60 for f in probes}
    assert minutes == set(range(100, 200))  # 120 minutes from 100, cut at the trace's end
    assert len(probes) == 4 * 100 and all(f[FMT.index("dstport")] == "22" for f in probes)


def test_a_slow_scan_is_caught_by_its_source_only():
    """One SSH probe every 15 seconds from one address: 4 a minute stays under every
    per-minute threshold; the source's hourly count reaches 30 in the 8th minute."""
    result = run({2: ("slow-scan",)})
    assert result.fired() == {"SlowScanSources"}
    assert result.alarm_times("SlowScanSources") == [minute_end(2 + 7)]
    (top,) = result.contributors[("SlowScanSources", minute_end(2 + 7))]
    assert "45.155.205.233" in top and "32 records in 60 min" in top
