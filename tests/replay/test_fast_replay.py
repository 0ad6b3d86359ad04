"""Replay's DuckDB path gives what the reference path gives, datapoint for datapoint."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from vpcwatch import FlowLogFormat
from vpcwatch.detectors import S3_US_EAST_1, ContributorDetector, default_detectors
from vpcwatch.replay.files import replay_files
from vpcwatch.replay.template import load_plan
from vpcwatch.traffic import generate

FMT = FlowLogFormat.all_fields()


def detector_template() -> dict:
    """A template like FlowLogMonitoring's, written by hand from the catalog."""
    resources = {"FlowLog": {"Type": "AWS::EC2::FlowLog",
                             "Properties": {"LogFormat": FMT.log_format}}}  # fmt: skip
    for detector in default_detectors(allowed_destinations=S3_US_EAST_1):
        settings = detector.alarm
        if isinstance(detector, ContributorDetector):
            resources[f"{detector.name}Rule"] = {
                "Type": "AWS::CloudWatch::InsightRule",
                "Properties": {"RuleName": detector.name, "RuleState": "ENABLED",
                               "RuleBody": json.dumps(detector.rule_body(FMT, "flow-logs"))},
            }  # fmt: skip
            expression = f'INSIGHT_RULE_METRIC("{detector.name}", "MaxContributorValue")'
            resources[f"{detector.name}Alarm"] = {"Type": "AWS::CloudWatch::Alarm", "Properties": {
                "AlarmName": detector.name,
                "Metrics": [{"Id": "expr_1", "Expression": expression,
                             "Period": settings.period, "ReturnData": True}],
                "EvaluationPeriods": settings.evaluation_periods,
                "DatapointsToAlarm": settings.datapoints_to_alarm,
                "Threshold": settings.threshold,
                "ComparisonOperator": settings.comparison.value,
                "TreatMissingData": settings.treat_missing_data.value,
            }}  # fmt: skip
            continue
        alarm = {
            "MetricName": detector.name, "Namespace": "VpcWatch", "Statistic": "Sum",
            "Period": settings.period, "EvaluationPeriods": settings.evaluation_periods,
            "DatapointsToAlarm": settings.datapoints_to_alarm, "Threshold": settings.threshold,
            "ComparisonOperator": settings.comparison.value,
            "TreatMissingData": settings.treat_missing_data.value,
        }  # fmt: skip
        if hasattr(detector, "metric_value"):
            for name, value, default in [
                (detector.name, detector.metric_value, detector.default_value),
                *[(m.name, m.value, m.default_value) for m in detector.extra_metrics],
            ]:
                resources[f"{name}Filter"] = {
                    "Type": "AWS::Logs::MetricFilter",
                    "Properties": {
                        "FilterPattern": detector.pattern(FMT),
                        "MetricTransformations": [{"MetricName": name,
                                                   "MetricNamespace": "VpcWatch",
                                                   "MetricValue": value,
                                                   "DefaultValue": default}],
                    },
                }  # fmt: skip
        else:
            alarm.update(MetricName="IncomingLogEvents", Namespace="AWS/Logs")
        resources[f"{detector.name}Alarm"] = {"Type": "AWS::CloudWatch::Alarm",
                                              "Properties": alarm}  # fmt: skip
    return {"Resources": resources}


def bursts_on_days(burst: Iterable[str], days: Iterable[int]) -> list[str]:
    """The burst's records again on each of ``days`` (their start and end shifted by
    whole days): a long, sparse span."""
    start, end = FMT.index("start"), FMT.index("end")
    burst = [line.split(" ") for line in burst]
    lines = []
    for day in days:
        for fields in burst:
            shifted = fields.copy()
            shifted[start] = str(int(fields[start]) + day * 86400)
            shifted[end] = str(int(fields[end]) + day * 86400)
            lines.append(" ".join(shifted))
    return lines


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    path = tmp_path_factory.mktemp("plan") / "template.json"
    path.write_text(json.dumps(detector_template()))
    return load_plan(path)


@pytest.mark.parametrize("irregular", [False, True, "spaces only"])
def test_duckdb_and_reference_paths_agree(tmp_path, plan, irregular, scan_engine):
    incidents = {5: ("ssh-scan",), 9: ("exfiltration", "skipdata"), 14: ("port-scan",),
                 17: ("rdp-accepted",)}  # fmt: skip
    lines = list(itertools.islice(generate(FMT, minutes=25, seed=4, incidents=incidents), 5000))
    malformed = 0
    if irregular:  # double spaces and a tab: these lines take the reference path
        lines[10] = lines[10].replace(" ", "  ", 2)
        if irregular is True:  # with "spaces only", the byte scan alone must see them
            lines[20] = lines[20].replace(" ", "\t", 1)
        # One field short, with a doubled space where it was: the CSV reader sees the
        # right number of columns (one empty); Python sees a malformed line.
        lines[30] = lines[30].rsplit(" ", 1)[0].replace(" ", "  ", 1)
        malformed = 1
    path = tmp_path / "flows.log"
    path.write_text("\n".join(lines) + "\n")
    fast = replay_files(plan, [path], fast=True)
    if irregular:  # after one scan without (polars declines), DuckDB checks each line
        assert len(scan_engine.used) == 2 and scan_engine.used[1] == "duckdb"
        assert scan_engine.used[0].startswith(scan_engine.asked)
    else:
        assert scan_engine.used == [scan_engine.asked]
    slow = replay_files(plan, [path], fast=False)
    assert fast.events == slow.events == len(lines) - malformed
    assert fast.input.malformed == slow.input.malformed == malformed
    assert fast.datapoints == slow.datapoints
    assert [(t.alarm, t.time, t.new) for t in fast.transitions] == [
        (t.alarm, t.time, t.new) for t in slow.transitions
    ]
    assert fast.fired() >= {"RejectedFlows", "Exfiltration", "AdminPortAccepted"}
    alarms = {(t.alarm, t.time) for t in slow.transitions if t.new.value == "ALARM"}
    assert alarms
    for key in alarms:  # the top records of every ALARM, the same on both paths
        assert fast.contributors[key] == slow.contributors[key]
        assert slow.contributors[key]


def test_top_records_over_lines_both_paths_read_are_the_first_of_all(tmp_path, plan, scan_engine):
    """A line the scan leaves to the reference path (doubled spaces: Python still reads
    a record), matching in an alarm's minute but later than that minute's first
    records: the top records are the first by (start, line) over the records of both
    paths, not the reference path's first."""
    from vpcwatch.filterpattern import compile_pattern

    incidents = {3: ("ssh-scan",), 6: ("exfiltration",), 8: ("port-scan",)}
    lines = list(generate(FMT, minutes=10, seed=5, incidents=incidents))
    path = tmp_path / "flows.log"
    path.write_text("\n".join(lines) + "\n")
    regular = replay_files(plan, [path], fast=False)
    start = FMT.index("start")
    metrics = {spec.key: spec for spec in plan.metrics}
    chosen = None
    for transition in regular.transitions:
        alarm = next(a for a in plan.alarms if a.name == transition.alarm)
        kept = regular.contributors.get((transition.alarm, transition.time), [])
        if transition.new.value != "ALARM" or alarm.metric not in metrics or not kept:
            continue
        match = compile_pattern(metrics[alarm.metric].pattern).match
        last = int(kept[-1].split(" ")[start])
        minute = last - last % 60
        later = [i for i, line in enumerate(lines) if line not in kept and match(line)
                 and last < int(line.split(" ")[start]) < minute + 60]  # fmt: skip
        if later:
            chosen = later[0]
            break
    assert chosen is not None
    lines[chosen] = lines[chosen].replace(" ", "  ", 1)
    path.write_text("\n".join(lines) + "\n")
    fast = replay_files(plan, [path])
    assert scan_engine.used[-1] == "duckdb"  # checked line by line
    slow = replay_files(plan, [path], fast=False)
    assert fast.datapoints == slow.datapoints
    alarms = [(t.alarm, t.time) for t in slow.transitions if t.new.value == "ALARM"]
    assert [fast.contributors.get(key) for key in alarms] == [
        slow.contributors.get(key) for key in alarms
    ]


def test_both_paths_agree_over_a_long_sparse_span(tmp_path, plan, scan_engine):
    """Bursts of traffic scattered over 60 days, gzipped: the vectorised scan and
    evaluation against the reference, transition for transition (polars reads a
    decompressed copy)."""
    import gzip

    incidents = {3: ("ssh-scan",), 7: ("exfiltration",)}
    lines = bursts_on_days(generate(FMT, minutes=10, seed=8, incidents=incidents),
                           (0, 1, 9, 30, 59))  # fmt: skip
    path = tmp_path / "flows.log.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    fast = replay_files(plan, [path], fast=True)
    assert scan_engine.used == [scan_engine.asked]
    slow = replay_files(plan, [path], fast=False)
    assert fast.events == slow.events == len(lines)
    assert fast.datapoints == slow.datapoints
    assert fast.transitions == slow.transitions
    assert fast.last_evaluation == slow.last_evaluation
    assert len({t.time // 86400 for t in fast.transitions}) >= 5  # every burst is evaluated
    alarms = [(t.alarm, t.time) for t in slow.transitions if t.new.value == "ALARM"]
    assert [fast.contributors.get(key) for key in alarms] == [
        slow.contributors.get(key) for key in alarms
    ]


@pytest.mark.parametrize("quick", [True, False])
def test_alarms_evaluated_in_threads_give_what_one_thread_gives(tmp_path, plan, monkeypatch, quick):
    """Over a span of PARALLEL_MINUTES or more, the alarms run in threads: the result is
    the same, in the same order (summaries, transitions, top records and contributors),
    as over a shorter span, where only the rules' alarms have a thread (beside the
    lookup)."""
    import threading

    from vpcwatch.replay import engine

    incidents = {3: ("ssh-scan", "port-scan"), 7: ("exfiltration",)}
    lines = bursts_on_days(generate(FMT, minutes=10, seed=8, incidents=incidents), (0, 20, 40))
    path = tmp_path / "flows.log"
    path.write_text("\n".join(lines) + "\n")
    threads = []
    evaluate_alarm = engine._evaluate_alarm
    monkeypatch.setattr(engine, "_evaluate_alarm", lambda *args: (
        threads.append(threading.current_thread().name), evaluate_alarm(*args))[1])  # fmt: skip
    monkeypatch.setattr(engine.os, "cpu_count", lambda: 2)
    in_threads = replay_files(plan, [path], fast=quick)
    assert {name.startswith("vpcwatch-alarms") for name in threads} == {True}
    threads.clear()
    monkeypatch.setattr(engine, "PARALLEL_MINUTES", 10**9)
    alone = replay_files(plan, [path], fast=quick)
    # Alone: the metric alarms in this thread, the rules' in one beside the top records'
    # lookup (when files were scanned: a lookup to run beside them).
    rules = sum(alarm.metric[0] == engine.INSIGHT_NAMESPACE for alarm in plan.alarms)
    beside = [name.startswith("vpcwatch-alarms") for name in threads]
    assert beside == [False] * (len(plan.alarms) - rules) + [quick] * rules
    assert set(threads) - {threading.current_thread().name} == ({threads[-1]} if quick else set())
    assert in_threads.summaries == alone.summaries
    assert in_threads.transitions == alone.transitions
    assert list(in_threads.datapoints) == [alarm.name for alarm in plan.alarms]
    assert in_threads.datapoints == alone.datapoints
    assert list(in_threads.contributors.items()) == list(alone.contributors.items())
    assert in_threads.last_evaluation == alone.last_evaluation
    assert {t.alarm for t in alone.transitions if t.new.value == "ALARM"} >= {
        "AdminPortProbes", "SlowScanSources"}  # fmt: skip


@pytest.mark.parametrize("days", [(0,), (0, 20, 40)])
def test_top_records_are_looked_up_beside_the_rules_alarms(tmp_path, plan, monkeypatch, days):
    """The lookup needs only the alarms on metrics: it runs while the rules'
    contributions may still be grouped in a thread, and beside their alarms (a day and 40
    days alike). Each rule alarm here waits until the lookup has begun: a lookup after
    them would leave them waiting in vain."""
    import threading

    from vpcwatch.replay import engine, files

    incidents = {3: ("ssh-scan", "port-scan"), 7: ("exfiltration",)}
    lines = bursts_on_days(generate(FMT, minutes=10, seed=8, incidents=incidents), days)
    path = tmp_path / "flows.log"
    path.write_text("\n".join(lines) + "\n")
    looking, waited = threading.Event(), []
    top_records, evaluate_rule = files._top_records, engine._evaluate_rule
    monkeypatch.setattr(files, "_top_records", lambda *args: (
        looking.set(), top_records(*args))[1])  # fmt: skip
    monkeypatch.setattr(engine, "_evaluate_rule", lambda *args: (
        waited.append(looking.wait(timeout=5)), evaluate_rule(*args))[1])  # fmt: skip
    result = replay_files(plan, [path])
    rules = sum(alarm.metric[0] == engine.INSIGHT_NAMESPACE for alarm in plan.alarms)
    assert waited == [True] * rules
    alarms = [(t.alarm, t.time) for t in result.transitions if t.new.value == "ALARM"]
    assert any(result.contributors.get(key) for key in alarms)


def test_a_callback_that_is_no_function_is_refused_by_name():
    from vpcwatch.replay.engine import evaluate_alarms
    from vpcwatch.replay.metrics import MetricAggregator

    with pytest.raises(TypeError, match="on_metric_alarms must be a function .* got 'look up'"):
        evaluate_alarms(MetricAggregator([]), [], on_metric_alarms="look up")


def test_a_parquet_archive_replays_as_its_text_records(tmp_path, plan):
    """S3 delivery in Parquet (the archive's default): both paths read the columns as
    the text records CloudWatch Logs holds, and give what the same records in text give,
    top records included, over the whole span and within --from and --to. An archive's
    many small files are scanned at once."""
    from vpcwatch.traffic import _write_parquet, write_archive

    incidents = {5: ("ssh-scan",), 9: ("exfiltration",), 17: ("rdp-accepted",)}
    lines = list(generate(FMT, minutes=25, seed=4, incidents=incidents))
    places = {("123456789012", "us-east-1"): lines}
    # Hive prefixes (aws-region=..., year=...): read as the file's own columns only.
    parquet = write_archive(tmp_path / "parquet", FMT, places, file_format="parquet",
                            hive_partitions=True)  # fmt: skip
    text = write_archive(tmp_path / "text", FMT, places)
    assert all(p.name.endswith(".log.parquet") for p in parquet)
    single = tmp_path / "all.log.parquet"  # one file: its rules read in a second query
    _write_parquet(single, FMT, lines)
    expected = replay_files(plan, text, fast=False)
    for files, fast in ((parquet, True), (parquet, False), (text, True), ([single], True)):
        found = replay_files(plan, files, fast=fast)
        assert found.events == expected.events == len(lines)
        assert found.datapoints == expected.datapoints
        assert found.transitions == expected.transitions
        assert found.contributors.keys() == expected.contributors.keys()  # ALARMs only
        alarms = {(t.alarm, t.time) for t in expected.transitions if t.new.value == "ALARM"}
        for key in alarms:  # records of every ALARM (ties of one second in either order)
            assert len(found.contributors[key]) == len(expected.contributors[key]) > 0
            records = [r for r in found.contributors[key] if not r.startswith("top contributor")]
            assert set(records) <= set(lines)
    assert expected.fired() >= {"Exfiltration", "AdminPortAccepted"}
    start = int(lines[0].split(" ")[FMT.index("start")])
    window = {"start": start + 7 * 60, "end": start + 19 * 60}  # --from and --to
    within = replay_files(plan, text, fast=False, **window)
    for files in (parquet, [single]):
        found = replay_files(plan, files, **window)
        assert (found.events, found.datapoints, found.transitions) == (
            within.events, within.datapoints, within.transitions)  # fmt: skip
        assert found.contributors.keys() == within.contributors.keys()
        alarms = {(t.alarm, t.time) for t in within.transitions if t.new.value == "ALARM"}
        assert alarms and all(
            len(found.contributors[key]) == len(within.contributors[key]) > 0 for key in alarms
        )
    from vpcwatch.replay.files import aggregate_files

    for files in (parquet, text):  # one DuckDB scan for all the files: none fell back
        *_, scans = aggregate_files(plan, files)
        assert len(files) > 1 and len(scans) == 1


def test_a_folder_replays_as_the_files_under_it_in_order_of_their_path(tmp_path, plan):
    """A folder (a copy of an S3 archive) stands for every file under it, by path, but
    for names and folders that start with ``.`` (counted for the report); one without
    such a file, or with a dangling link, is refused by name."""
    from vpcwatch.replay.files import files_of
    from vpcwatch.replay.readers import ReplayInputError
    from vpcwatch.traffic import write_archive

    lines = list(generate(FMT, minutes=25, seed=4, incidents={5: ("ssh-scan",)}))
    places = {("123456789012", "us-east-1"): lines[::2], ("210987654321", "eu-west-1"): lines[1::2]}
    root = tmp_path / "bucket"
    files = write_archive(root, FMT, places, file_format="parquet", hive_partitions=True)
    (root / ".DS_Store").write_bytes(b"not a flow log")
    (root / ".sync").mkdir()
    (root / ".sync" / "partial.log").write_text("not a flow log either\n")
    assert files_of([root]) == files_of(files) == files  # by account, region, then time
    whole, listed = replay_files(plan, [root]), replay_files(plan, files)
    assert whole.events == listed.events == len(lines)
    assert (whole.input.hidden, listed.input.hidden) == (2, 0)  # counted, not read
    assert whole.input.hidden_at == [str(root / ".DS_Store"), str(root / ".sync")]
    assert (whole.datapoints, whole.transitions) == (listed.datapoints, listed.transitions)
    assert whole.fired() and whole.contributors == listed.contributors
    plain = tmp_path / "plain"  # a folder's files before the next folder's
    for folder, name in (("b", "1.log"), ("a", "2.log"), ("a/z", "0.log"), ("a-b", "3.log")):
        (plain / folder).mkdir(parents=True, exist_ok=True)
        (plain / folder / name).write_text(lines[0] + "\n")
    assert [str(path.relative_to(plain)) for path in files_of([plain])] == [
        "a/2.log", "a/z/0.log", "a-b/3.log", "b/1.log"]  # fmt: skip
    (tmp_path / "empty" / ".hidden").mkdir(parents=True)
    for empty in (tmp_path / "empty", tmp_path / "missing"):
        with pytest.raises(ReplayInputError, match=f"^{empty}: "):
            files_of([root, empty])
    (plain / "a" / "gone.log").symlink_to(tmp_path / "nowhere.log")  # not skipped unsaid
    with pytest.raises(ReplayInputError, match=f"^{plain / 'a' / 'gone.log'}: not a file"):
        files_of([plain])


@pytest.mark.parametrize("out_of_memory", [False, True])
def test_a_parquet_scan_or_lookup_out_of_memory_runs_again_without_the_limit(
    tmp_path, plan, monkeypatch, out_of_memory
):
    """The scan and the top-records lookup each run within DuckDB's memory limit; one
    that runs out of memory there runs again without the limit, with the same
    results."""
    import duckdb

    from vpcwatch.replay import fast
    from vpcwatch.traffic import write_archive

    incidents = {5: ("ssh-scan",), 9: ("exfiltration",)}
    lines = list(generate(FMT, minutes=15, seed=6, incidents=incidents))
    files = write_archive(tmp_path, FMT, {("123456789012", "us-east-1"): lines},
                          file_format="parquet")  # fmt: skip
    expected = replay_files(plan, files, fast=False)
    limits = []
    limit_memory = fast._limit_memory
    monkeypatch.setattr(fast, "_limit_memory", lambda connection, limit: (
        limits.append(limit), limit_memory(connection, limit))[1])  # fmt: skip
    if out_of_memory:  # the first scan and the first lookup
        for owner, name in ((fast, "_run_with_progress"), (fast._Queries, "records")):
            failed, original = [], getattr(owner, name)

            def once(*args, failed=failed, original=original, **kwargs):
                if not failed:
                    failed.append(True)
                    raise duckdb.OutOfMemoryException("out of memory")
                return original(*args, **kwargs)

            monkeypatch.setattr(owner, name, once)
    found = replay_files(plan, files)
    assert limits == [fast.SCAN_MEMORY_LIMIT, *[None] * out_of_memory] * 2
    assert (found.events, found.datapoints, found.transitions) == (
        expected.events, expected.datapoints, expected.transitions)  # fmt: skip
    alarms = {(t.alarm, t.time) for t in expected.transitions if t.new.value == "ALARM"}
    assert alarms and all(
        len(found.contributors[key]) == len(expected.contributors[key]) > 0 for key in alarms
    )


@pytest.mark.parametrize("late", ["earlier", "later"])
def test_a_lookup_in_parquet_deliveries_reads_only_the_files_holding_its_minutes(
    tmp_path, plan, monkeypatch, late
):
    """Over several Parquet files the scan keeps each minute's first and last file, and
    the top-records lookup reads only the files between them: the same records as a
    lookup in every file, though half of each minute's records (its earlier half: the top
    records are in its last file; or its later half: in its first) was delivered two
    files late."""
    from vpcwatch.replay import fast
    from vpcwatch.traffic import _write_parquet

    incidents = {5: ("ssh-scan",), 27: ("exfiltration",), 49: ("rdp-accepted",)}
    lines = list(generate(FMT, minutes=60, seed=4, incidents=incidents))
    start = FMT.index("start")
    batches: dict[int, list[str]] = {}
    minutes: dict[int, list[str]] = {}
    for line in lines:
        at = int(line.split(" ")[start])
        batches.setdefault(at // 300, []).append(line)
        minutes.setdefault(at // 60, []).append(line)
    order = sorted(batches)
    moved = set()
    for minute, held in minutes.items():  # half of it two deliveries late, where there
        later = order.index(minute // 5) + 2  # is one
        held.sort(key=lambda line: (int(line.split(" ")[start]), line))
        half = held[: len(held) // 2] if late == "earlier" else held[len(held) // 2 :]
        for line in half if later < len(order) else ():
            batches[minute // 5].remove(line)
            batches[order[later]].append(line)
            moved.add(line)
    files = []
    for number, interval in enumerate(order):
        files.append(tmp_path / f"{number:02d}.log.parquet")
        _write_parquet(files[-1], FMT, batches[interval])
    read = []
    records = fast._Queries.records
    monkeypatch.setattr(fast._Queries, "records", lambda self, *args: (
        read.append(len(self.paths)), records(self, *args))[1])  # fmt: skip
    found = replay_files(plan, files)
    assert read and max(read) < len(files)  # not every file
    monkeypatch.setattr(fast._Queries, "tracks_files", False)
    everywhere = replay_files(plan, files)
    assert max(read) == len(files)
    expected = replay_files(plan, files, fast=False)
    assert (found.events, found.datapoints, found.transitions) == (
        expected.events, expected.datapoints, expected.transitions)  # fmt: skip
    assert list(found.contributors.items()) == list(everywhere.contributors.items())
    alarms = {(t.alarm, t.time) for t in found.transitions if t.new.value == "ALARM"}
    assert alarms and all(found.contributors[key] for key in alarms)
    shown = {line for key in alarms for line in found.contributors[key]}
    assert shown & (moved if late == "earlier" else set(lines) - moved)  # the minute's first


def test_a_rules_contributions_once_merged_are_its_only_part(plan):
    """Parts from several scans (each numbering its contributors its own way, its rows
    in any order) merge into one table by contributor, then minute, with a minute's
    values added; the rule then keeps that table's arrays as its only part (the parts
    let go, not copied), and reads it again the same."""
    import numpy as np

    from vpcwatch.replay.metrics import MetricAggregator

    aggregator = MetricAggregator(plan.metrics, insights=plan.insights)
    rule = plan.insights[0].name
    aggregator.merge_contributions(rule, [("b",), ("a",)], np.array([60, 0, 0]),
                                   np.array([1.0, 2.0, 3.0]), np.array([0, 0, 1]))  # fmt: skip
    aggregator.merge_contributions(rule, [("a",), ("c",)], np.array([0, 120]),
                                   np.array([4.0, 5.0]), np.array([0, 1]))  # fmt: skip
    merged = aggregator.contributions(rule)
    assert merged.names == (("b",), ("a",), ("c",))
    assert merged.ids.tolist() == [0, 0, 1, 2] and merged.slots.tolist() == [0, 60, 0, 120]
    assert merged.values.tolist() == [2.0, 1.0, 7.0, 5.0]
    ((names, *arrays),) = aggregator._contribution_parts[rule]
    assert names == merged.names
    own = (merged.slots, merged.values, merged.ids)
    assert all(kept is array for kept, array in zip(arrays, own, strict=True))
    again = aggregator.contributions(rule)
    assert again.names == merged.names
    for own, read in zip((merged.ids, merged.slots, merged.values),
                         (again.ids, again.slots, again.values), strict=True):  # fmt: skip
        assert np.shares_memory(own, read) and (own == read).all()


def test_two_alarms_on_one_rule_merge_its_contributions_one_at_a_time(plan, monkeypatch):
    """Two alarms on one rule may run in two threads: the rule's parts are merged and
    replaced by one of them at a time (else the second could read the parts before the
    first replaced them and the reference path's cells after it cleared them)."""
    import threading
    import time

    import numpy as np

    from vpcwatch.replay.insights import Contributions
    from vpcwatch.replay.metrics import MetricAggregator

    aggregator = MetricAggregator(plan.metrics, insights=plan.insights)
    rule = plan.insights[0].name
    aggregator.merge_contributions(rule, [("a",)], np.array([0]), np.array([1.0]), np.array([0]))
    aggregator._cells[rule][(60, ("b",))] += 2.0  # as the reference path adds a record
    merge, inside, most = Contributions.of.__func__, [0], [0]

    def slowly(cls, parts):
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        time.sleep(0.2)  # the other alarm's thread has started by then
        inside[0] -= 1
        return merge(cls, parts)

    monkeypatch.setattr(Contributions, "of", classmethod(slowly))
    found = []
    threads = [threading.Thread(target=lambda: found.append(aggregator.contributions(rule)))
               for _ in range(2)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == [1]
    assert [table.values.tolist() for table in found] == [[1.0, 2.0]] * 2


def test_each_query_builds_only_the_metric_columns_it_reads(tmp_path, plan):
    """DuckDB prunes a column no one reads but not the join it made of a list of
    numbers in it: the per-minute table builds the values it sums (no match column),
    the rules' second read and the counts of records build none, the lookup only the
    matches."""
    import re

    from vpcwatch.replay import parquet
    from vpcwatch.replay.fast import _Queries
    from vpcwatch.traffic import _write_parquet

    path = tmp_path / "one.log.parquet"
    _write_parquet(path, FMT, list(generate(FMT, minutes=2, seed=1)))
    queries = _Queries([path], plan, None, None, False, parquet.columns(path))

    def built(sql: str) -> set[str]:
        return set(re.findall(r" AS ([vm][0-9]+)\b", sql))

    summed = {f"v{i}" for i in range(len(plan.metrics)) if i not in queries.constants}
    assert summed and built(queries.minutes(checked=False)) == summed
    assert built(queries.contributions(0)) == built(queries.minute_counts({60}, False)) == set()
    looked_up = built(queries.records({0: {60}}, False))
    assert looked_up == {f"m{i}" for i in range(len(queries.matching))}


def test_no_field_is_named_as_the_virtual_column_that_tells_parquet_files_apart():
    """The scan of several Parquet files keeps each minute's files by DuckDB's virtual
    column ``file_index``; a column of the files' own of that name would hide it, and
    their columns are the format's fields."""
    from vpcwatch.fields import FIELDS

    assert "file_index" not in {name.lower() for name in FIELDS}


@pytest.mark.parametrize("batch", [512, 2])
def test_parquet_files_columns_are_read_together(tmp_path, monkeypatch, batch):
    """Many Parquet files (an archive's deliveries): their schemas read in one query
    per batch, and one file's columns per distinct schema across batches; each file
    gets its own columns (or ``None`` when DuckDB cannot read it), as when read one by
    one."""
    import duckdb

    from vpcwatch.replay import parquet

    monkeypatch.setattr(parquet, "SCHEMA_BATCH", batch)

    files = []
    for number, columns in enumerate(["1 AS a, 'x' AS b", "2 AS a, 'y' AS b", "'3' AS a, 'z' AS b",
                                      "4 AS b, 5 AS a", "6 AS a, 'w' AS b",
                                      "'v' AS b, 7 AS a"]):  # fmt: skip
        path = tmp_path / f"{number}.parquet"
        duckdb.execute(f"COPY (SELECT {columns}) TO '{path}' (FORMAT PARQUET)")
        files.append(path)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(parquet.MAGIC + b"\0" * 20)
    files.insert(2, broken)
    alone = [parquet._columns_or_none(path) for path in files]
    assert alone[2] is None and alone[0] == alone[1] != alone[3] != alone[4]
    assert sorted(alone[6]) == sorted(alone[0]) and alone[6] != alone[0]  # in another order
    read = []
    monkeypatch.setattr(parquet, "columns", lambda path, _read=parquet.columns: (
        read.append(path), _read(path))[1])  # fmt: skip
    assert parquet.columns_of_files(files) == alone  # the broken file: one by one
    read.clear()
    assert parquet.columns_of_files(files[:2] + files[3:]) == alone[:2] + alone[3:]
    assert read == [files[0], files[3], files[4], files[6]]  # a file per distinct schema


_INTEGER_TEXTS = st.one_of(
    st.integers(-(2**63), 2**63 - 1).map(str),
    st.sampled_from(["-", "022", "+5", "-0", "0", "x", "", "1.0", "18446744073709551615",
                     "18446744073709551616", "\u0663"]),
)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1),
                              st.sampled_from([0, 22, -5])), min_size=1, max_size=12),
    texts=st.lists(_INTEGER_TEXTS, min_size=1, max_size=6),
    negated=st.booleans(),
)  # fmt: skip
@example(values=[22, None, 5], texts=["022", "-", "+5"], negated=False)
def test_a_rule_filter_on_a_parquet_integer_column_compares_numbers_as_their_text(
    values, texts, negated
):
    """A rule's In/NotIn on a Parquet integer column is tested on its numbers: the rows
    where the column's text (its decimal, ``-`` for NULL) is among the texts."""
    import duckdb

    from vpcwatch.replay.fast import _typed_in

    inside = _typed_in("t", texts)
    if any(text.lstrip("-").isascii() and text.lstrip("-").isdigit()
           and not -(2**63) <= int(text) < 2**64 for text in texts):  # fmt: skip
        assert inside is None  # beyond 64 bits: the caller compares the text
        return
    condition = inside if not negated else f"NOT ({inside})"
    listed = ", ".join("'" + text + "'" for text in texts)
    with duckdb.connect() as connection:
        connection.execute("CREATE TABLE v (t BIGINT)")
        connection.executemany("INSERT INTO v VALUES (?)", [[value] for value in values])
        got, expected = connection.execute(
            f"SELECT count(*) FILTER (WHERE {condition}), count(*) FILTER (WHERE "
            f"coalesce(CAST(t AS VARCHAR), '-') {'NOT ' if negated else ''}IN ({listed})) FROM v"
        ).fetchone()
    assert got == expected


@settings(max_examples=40, deadline=None)
@given(
    starts=st.lists(
        st.one_of(
            st.integers(-(10**6), 10**6),
            st.integers(2**53 - 300, 2**53 + 300),
            st.integers(2**60, 2**62),
            st.integers(-(2**62), -(2**60)),
        ),
        min_size=1,
        max_size=20,
    ),
    chosen=st.one_of(st.none(), st.lists(st.integers(0, 19), min_size=1)),
    extra=st.lists(st.integers(-(10**6), 10**6)),
)
@example(starts=[5, 2**61 + 12345], chosen=None, extra=[])  # a DOUBLE's start: another minute
@example(starts=[2**53 + 27, 7], chosen=[0], extra=[])
def test_a_parquet_lookup_filters_on_start_and_keeps_every_row_of_its_minutes(
    tmp_path_factory, plan, starts, chosen, extra
):
    """The top-records lookup in a Parquet file first keeps the rows whose integer start
    falls in a wanted minute (``chosen`` among the rows' minutes, all by default, and
    ``extra`` ones): exactly the rows the scan counts there, negative, huge (read as a
    DOUBLE by the scan: no filter then) or not."""
    import duckdb

    from vpcwatch.replay.fast import _Queries

    path = tmp_path_factory.mktemp("parquet") / "starts.parquet"
    names = [(field.name.replace("-", "_"), "VARCHAR") for field in FMT]
    names[FMT.index("start")] = ("start", "BIGINT")
    with duckdb.connect() as connection:
        connection.execute(f"COPY (SELECT unnest({starts}::BIGINT[]) AS start) TO '{path}'")
        ts = "CAST(trunc(CAST(start AS DOUBLE)) AS BIGINT)"  # as the scan reads it
        query = f"SELECT {ts} - (({ts} % 60) + 60) % 60 FROM '{path}'"
        slots = [row[0] for row in connection.execute(query).fetchall()]
        minutes = set(slots) if chosen is None else {slots[i % len(slots)] for i in chosen}
        minutes |= {minute // 60 * 60 for minute in extra}
        condition = _Queries([path], plan, None, None, False, names)._parquet_minutes(minutes)
        if max(abs(minute) for minute in minutes) < 2**53 - 120:
            assert condition is not None
        if condition is None:
            return
        kept = connection.execute(f"SELECT start FROM '{path}' WHERE {condition}").fetchall()
    assert len(kept) == len([slot for slot in slots if slot in minutes])


def test_a_parquet_file_of_another_format_is_named(tmp_path, plan):
    from vpcwatch.replay.readers import ReplayInputError
    from vpcwatch.traffic import write_archive

    default = FlowLogFormat.default()
    places = {("123456789012", "us-east-1"): list(generate(default, minutes=2))}
    (path, *_) = write_archive(tmp_path, default, places, file_format="parquet")
    with pytest.raises(ReplayInputError, match="are not the stack's flow-log format"):
        replay_files(plan, [path])
    path.write_bytes(b"PAR1 not really")
    with pytest.raises(ReplayInputError, match="unreadable Parquet"):
        replay_files(plan, [path])


def test_a_group_with_an_odd_file_falls_back_to_one_by_one(tmp_path, plan, scan_engine):
    """Several small files scanned at once, one of them with a malformed line and one
    with a doubled space: the results, counts and line numbers are the reference's."""
    lines = list(generate(FMT, minutes=12, seed=6, incidents={4: ("ssh-scan",)}))
    thirds = [lines[: len(lines) // 3], lines[len(lines) // 3 : 2 * len(lines) // 3],
              lines[2 * len(lines) // 3 :]]  # fmt: skip
    thirds[1][5] = "not a record"
    thirds[2][7] = thirds[2][7].replace(" ", "  ", 1)
    paths = []
    for number, part in enumerate(thirds):
        path = tmp_path / f"part{number}.log"
        path.write_text("\n".join(part) + "\n")
        paths.append(path)
    fast = replay_files(plan, paths, fast=True)
    assert scan_engine.asked in scan_engine.used
    slow = replay_files(plan, paths, fast=False)
    assert fast.events == slow.events == len(lines) - 1
    assert fast.input.malformed == slow.input.malformed == 1
    assert fast.input.malformed_at == slow.input.malformed_at
    assert fast.datapoints == slow.datapoints
    assert fast.transitions == slow.transitions


def test_top_records_past_the_first_alarms_are_counted_and_said(tmp_path, plan, monkeypatch):
    """Beyond the first ALARM transitions of an alarm, top records are not looked up
    (a long file's ALARMs would make that read cover most of it): counted, reported."""
    from vpcwatch.replay import files
    from vpcwatch.replay.report import as_json, as_text

    monkeypatch.setattr(files, "LOOKED_UP_PER_ALARM", 1)
    incidents = {m: ("ssh-scan",) for m in (3, 20, 37)}
    path = tmp_path / "flows.log"
    path.write_text("\n".join(generate(FMT, minutes=50, seed=2, incidents=incidents)) + "\n")
    result = replay_files(plan, [path])
    alarms = [t for t in result.transitions if t.alarm == "AdminPortProbes"
              and t.new.value == "ALARM"]  # fmt: skip
    assert len(alarms) >= 2
    assert result.records_not_looked_up["AdminPortProbes"] == len(alarms) - 1
    assert result.contributors[("AdminPortProbes", alarms[0].time)]
    assert not result.contributors.get(("AdminPortProbes", alarms[1].time))
    assert "AdminPortProbes: top records shown for its first ALARM transitions only" in (
        as_text(result, plan)
    )
    assert as_json(result, plan)["topRecordsNotLookedUp"]["AdminPortProbes"] == len(alarms) - 1


def test_a_scan_that_needs_more_than_the_memory_limit_runs_again_without_it(
    tmp_path, plan, monkeypatch, scan_engine
):
    """Not on the slow path: the same results, from DuckDB (the scan, or the lookup of
    top records)."""
    from vpcwatch.replay import fast
    from vpcwatch.replay.files import aggregate_files

    lines = list(generate(FMT, minutes=20, seed=3, incidents={5: ("ssh-scan",)}))
    path = tmp_path / "flows.log"
    path.write_text("\n".join(lines) + "\n")
    expected = replay_files(plan, [path])
    monkeypatch.setattr(fast, "SCAN_MEMORY_LIMIT", "1MB")
    _, _, scans = aggregate_files(plan, [path])
    assert len(scans) == 1  # not the reference path
    limits = []
    lookup = fast.FileScan._lookup
    monkeypatch.setattr(fast.FileScan, "_lookup", lambda self, wanted, limit: (
        limits.append(limit), lookup(self, wanted, limit))[1])  # fmt: skip
    again = replay_files(plan, [path])
    assert again.datapoints == expected.datapoints and again.transitions == expected.transitions
    # The top records' lookup in the whole file too: over the limit, then again without
    # (after polars, the rows it kept name the lines: no DuckDB query to exceed it).
    assert limits == (["1MB"] if scan_engine.asked == "polars" else ["1MB", None])
    assert again.contributors == expected.contributors and again.contributors


@pytest.mark.parametrize("file_format", ["text", "parquet"])
def test_a_file_name_with_glob_characters_is_that_file(tmp_path, plan, file_format):
    """DuckDB reads a name as a glob: "flows[1].log" would have read "flows1.log"."""
    lines = list(itertools.islice(generate(FMT, minutes=10, seed=3), 1500))
    path = tmp_path / "flows[1].log"
    (tmp_path / "flows1.log").write_text("\n".join(lines[:10]) + "\n")  # the decoy
    path.write_text("\n".join(lines) + "\n")
    if file_format == "parquet":
        import duckdb

        parquet = tmp_path / "flows[1].parquet"
        (tmp_path / "flows1.parquet").write_bytes(b"")
        columns = "{" + ", ".join(f"'{f.name}': 'VARCHAR'" for f in FMT) + "}"
        duckdb.connect().execute(
            f"COPY (SELECT * FROM read_csv('{tmp_path}/flows[[]1].log', delim=' ', "
            f"header=false, auto_detect=false, columns={columns})) TO '{parquet}' (FORMAT PARQUET)"
        )
        path = parquet
    fast = replay_files(plan, [path], fast=True)
    assert fast.events == len(lines)
    slow = replay_files(plan, [path], fast=False)
    assert fast.datapoints == slow.datapoints


def test_a_gzip_file_the_byte_check_cannot_read_goes_to_the_reference_path(
    tmp_path, plan, monkeypatch
):
    """DuckDB may read a damaged gzip file that Python's zlib refuses: the scan's result
    is then not used, and the reference path reads the file (and names any fault)."""
    import gzip
    import zlib

    from vpcwatch.replay import fast, files

    lines = list(generate(FMT, minutes=5, seed=2, incidents={2: ("ssh-scan",)}))
    path = tmp_path / "flows.log.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))

    def refuse(*args, **kwargs):
        raise zlib.error("invalid stored block lengths")

    monkeypatch.setattr(fast, "file_is_regular", refuse)
    monkeypatch.setattr(files, "aggregate_paths", _spy_result(fast.aggregate_paths, results := []))
    quick = replay_files(plan, [path], fast=True)
    assert results == [None]  # given up, not merged
    assert quick.datapoints == replay_files(plan, [path], fast=False).datapoints


def _spy_result(function, results):
    def spy(*args, **kwargs):
        results.append(function(*args, **kwargs))
        return results[-1]

    return spy


@pytest.mark.parametrize("m_of_n", [(2, 3), (3, 5)])
def test_both_paths_agree_on_m_of_n_alarms_with_every_missing_data_rule(
    tmp_path, m_of_n, scan_engine
):
    """The default detectors' alarms made M of N, each with another missing-data rule,
    over bursts days apart: the scan and the vectorised evaluation against the
    reference path, transition for transition, top records included."""
    template = detector_template()
    rules = itertools.cycle(["missing", "breaching", "notBreaching", "ignore"])
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            properties = resource["Properties"]
            properties["DatapointsToAlarm"], properties["EvaluationPeriods"] = m_of_n
            properties["TreatMissingData"] = next(rules)
    (tmp_path / "template.json").write_text(json.dumps(template))
    plan = load_plan(tmp_path / "template.json")
    incidents = {2: ("ssh-scan",), 3: ("ssh-scan",), 6: ("exfiltration",)}
    lines = bursts_on_days(generate(FMT, minutes=10, seed=6, incidents=incidents), (0, 2, 7))
    path = tmp_path / "flows.log"
    path.write_text("\n".join(lines) + "\n")
    fast = replay_files(plan, [path], fast=True)
    assert scan_engine.used == [scan_engine.asked]
    slow = replay_files(plan, [path], fast=False)
    assert fast.datapoints == slow.datapoints
    assert fast.transitions == slow.transitions
    assert fast.last_evaluation == slow.last_evaluation
    alarms = [(t.alarm, t.time) for t in slow.transitions if t.new.value == "ALARM"]
    assert alarms
    assert [fast.contributors.get(key) for key in alarms] == [
        slow.contributors.get(key) for key in alarms
    ]
