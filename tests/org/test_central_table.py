"""One FlowLogTable over a central archive that three accounts in two regions deliver
to: the Glue table's own location template and projection, read by DuckDB over files
laid out as VPC Flow Logs writes them, give each account's and region's records.

DuckDB stands in for Athena: the files a partition projection would read are found
from the table's ``storage.location.template`` and ``projection.*`` parameters (so a
wrong template finds nothing), and the named queries run as synthesized.
"""

from __future__ import annotations

import calendar
from collections import Counter
from pathlib import Path

import aws_cdk as cdk
import pytest

from support import checked_template, new_app
from vpcwatch import FlowLogFormat, FlowLogTable
from vpcwatch.detectors import default_detectors
from vpcwatch.filterpattern import compile_pattern
from vpcwatch.traffic import Lab, generate, write_archive
from vpcwatch_demo import local_athena

FMT = FlowLogFormat.all_fields()
ACCOUNTS = ("222222222222", "333333333333", "444444444444")
REGIONS = ("eu-west-1", "us-east-1")
OUTSIDER = "555555555555"  # delivers to the bucket, but the table does not project it
INCIDENTS = {
    ("222222222222", "eu-west-1"): {4: ("ssh-scan",)},
    ("333333333333", "us-east-1"): {6: ("exfiltration",)},
}
START = calendar.timegm((2026, 11, 19, 23, 30, 0))  # the archive spans midnight
DUCK_TYPES = local_athena.DUCK_TYPES


def _places() -> dict[tuple[str, str], list[str]]:
    places = {}
    for number, (account, region) in enumerate(
        [(a, r) for a in ACCOUNTS for r in REGIONS] + [(OUTSIDER, "eu-west-1")]
    ):
        lab = Lab(account_id=account, region=region)
        incidents = INCIDENTS.get((account, region), {})
        places[account, region] = list(
            generate(FMT, minutes=40, seed=number, incidents=incidents, lab=lab, start=START)
        )
    return places


PLACES = _places()


def _table(layout: str) -> dict:
    app = new_app()
    stack = cdk.Stack(app, "Security", env=cdk.Environment(account="111111111111",
                                                           region="us-east-1"))  # fmt: skip
    FlowLogTable(
        stack, "Table", archive_bucket_name="org-flow-logs", account_ids=list(ACCOUNTS),
        regions=list(REGIONS), log_format=FMT, database_name="org",
        archive_format="parquet" if layout == "hive-parquet" else "plain-text",
        archive_hive_partitions=layout == "hive-parquet",
    )  # fmt: skip
    return checked_template(stack).to_json()


def _write(root: Path, layout: str) -> None:
    parquet = layout == "hive-parquet"
    write_archive(root, FMT, PLACES, file_format="parquet" if parquet else "plain-text",
                  hive_partitions=parquet)  # fmt: skip


def _expected() -> Counter:
    expected: Counter = Counter()
    for detector in default_detectors():
        if not hasattr(detector, "pattern"):
            continue
        compiled = compile_pattern(detector.pattern(FMT))
        for (account, region), lines in PLACES.items():
            if account in ACCOUNTS:
                hits = sum(compiled.match(line) is not None for line in lines)
                if hits:
                    expected[detector.name, account, region] = hits
    return expected


@pytest.fixture(scope="module", params=["plain-text", "hive-parquet"])
def archive(request, tmp_path_factory):
    layout = request.param
    template = _table(layout)
    root = tmp_path_factory.mktemp(layout)
    _write(root, layout)
    return template, local_athena.connect(template, "org-flow-logs", root)


def test_each_account_and_region_gets_its_own_counts(archive):
    template, connection = archive
    rows = connection.execute(
        local_athena.named_queries(template)["DetectorRecordsByAccount"]
    ).fetchall()
    found = Counter({(name, account, region): n for name, account, region, n in rows})
    assert found == _expected()
    # Background scanners knock on 22 everywhere; the scan itself is in one place.
    probes = {(a, r): n for (name, a, r), n in found.items() if name == "AdminPortProbes"}
    assert max(probes, key=probes.get) == ("222222222222", "eu-west-1")
    exfiltration = {(a, r) for (name, a, r) in found if name == "Exfiltration"}
    assert exfiltration == {("333333333333", "us-east-1")}


def test_an_account_the_table_does_not_list_is_not_read(archive):
    _, connection = archive
    accounts = {row[0] for row in connection.execute(
        "SELECT DISTINCT aws_account_id FROM org.flow_logs").fetchall()}  # fmt: skip
    assert accounts == set(ACCOUNTS)


def test_partition_columns_agree_with_the_records(archive):
    _, connection = archive
    disagree = connection.execute(
        "SELECT count(*) FROM org.flow_logs WHERE account_id <> aws_account_id "
        "OR region <> aws_region"
    ).fetchone()[0]
    assert disagree == 0
    assert connection.execute("SELECT count(*) FROM org.flow_logs").fetchone()[0] == sum(
        len(lines) for (account, _), lines in PLACES.items() if account in ACCOUNTS
    )


def test_detector_queries_run_per_archive(archive):
    template, connection = archive
    queries = local_athena.named_queries(template)
    for detector in default_detectors():
        if hasattr(detector, "pattern"):
            connection.execute(queries[detector.name]).fetchall()


def test_write_archive_names_a_bad_file_format(tmp_path):
    with pytest.raises(ValueError, match="file_format must be 'plain-text' or 'parquet'"):
        write_archive(tmp_path, FMT, PLACES, file_format="csv")
