"""`make demo-org`: vpcwatch across an organization, with no AWS account needed.

1. Synthesize the organization app (vpcwatch_demo/org.py): log-archive, security, one
   asset bucket per region and the member StackSet; cdk-nag AwsSolutions and NIST
   800-53 R5 fail the synth on any unacknowledged finding.
2. Lay out a central archive as VPC Flow Logs would fill it: three member accounts in two
   regions, an SSH scan in one place and data leaving from another.
3. Replay each account's and region's records through the member template's alarms
   (what each member account's CloudWatch would do).
4. Query the whole archive through the security account's Athena table, with DuckDB
   standing in for Athena: each detector's records per account and region.
"""

from __future__ import annotations

import calendar
import json
import shutil
from collections import Counter
from pathlib import Path

import aws_cdk as cdk

from vpcwatch.replay.files import replay_files
from vpcwatch.replay.template import load_plan
from vpcwatch.traffic import Lab, archive_prefix, generate, write_archive
from vpcwatch_demo import local_athena
from vpcwatch_demo.org import OrgSettings, build_org_app

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "demo-output" / "org"
ARCHIVE = ROOT / "demo-output" / "org-archive"
START = calendar.timegm((2026, 11, 20, 9, 0, 0))
INCIDENTS = {  # (account, region): {minute: incidents}
    ("222222222222", "eu-west-1"): {30: ("ssh-scan",)},
    ("333333333333", "us-east-1"): {45: ("exfiltration",)},
}


def synthesize(settings: OrgSettings, out: Path = OUT) -> dict[str, dict]:
    print("== synth: the organization app (cdk-nag AwsSolutions and NIST 800-53 R5)")
    shutil.rmtree(out, ignore_errors=True)
    app = cdk.App(outdir=str(out))
    stacks = build_org_app(app, settings)
    assembly = app.synth()  # raises on any unacknowledged cdk-nag finding
    templates = {name: assembly.get_stack_by_name(s.stack_name).template
                 for name, s in stacks.items()}  # fmt: skip
    (member,) = out.glob("*.stackset.template.json")
    templates["member (StackSet template)"] = json.loads(member.read_text())
    for name, template in templates.items():
        stack = stacks.get(name)
        where = f"{stack.account} {stack.region}" if stack is not None else "every member"
        kinds = Counter(r["Type"].split("::")[1] for r in template["Resources"].values())
        print(f"  {name:28} {where:26} {sum(kinds.values()):3} resources "
              f"({', '.join(f'{k} {n}' for k, n in kinds.most_common(4))}, ...)")  # fmt: skip
    print(
        f"  StackSet: service-managed, OU {settings.members_ou} (accounts "
        f"{', '.join(settings.member_accounts)}), regions {', '.join(settings.regions)}"
    )
    return templates


def lay_out_archive(settings: OrgSettings, archive: Path = ARCHIVE) -> None:
    print(f"\n== a central archive as VPC Flow Logs fills it: {archive}")
    shutil.rmtree(archive, ignore_errors=True)
    places = {}
    for number, (account, region) in enumerate(
        (a, r) for a in settings.member_accounts for r in settings.regions
    ):
        lab = Lab(account_id=account, region=region)
        places[account, region] = list(generate(
            settings.log_format, minutes=90, seed=number, start=START, lab=lab,
            incidents=INCIDENTS.get((account, region), {}),
        ))  # fmt: skip
    files = write_archive(
        archive / settings.archive_bucket_name, settings.log_format, places,
        file_format=settings.archive_format, hive_partitions=settings.archive_hive_partitions,
    )  # fmt: skip
    print(f"  {sum(len(v) for v in places.values()):,} records in {len(files)} files "
          f"({settings.archive_format}, under "
          f"{archive_prefix('<account>', '<region>', hive_partitions=True)}/...), incidents: "
          + "; ".join(f"{', '.join(k for ks in i.values() for k in ks)} in {a} {r}"
                      for (a, r), i in INCIDENTS.items()))  # fmt: skip


def member_files(settings: OrgSettings, archive: Path, account: str, region: str) -> list[Path]:
    """One account's and region's files in the archive."""
    prefix = archive_prefix(account, region, hive_partitions=settings.archive_hive_partitions)
    return sorted(p for p in (archive / settings.archive_bucket_name / prefix).rglob("*")
                  if p.is_file())  # fmt: skip


def replay_per_account(
    settings: OrgSettings, out: Path = OUT, archive: Path = ARCHIVE
) -> dict[tuple[str, str], set[str]]:
    print("\n== replay: each member account's alarms on its own records")
    (member,) = out.glob("*.stackset.template.json")
    plan = load_plan(member)
    fired = {}
    for account in settings.member_accounts:
        for region in settings.regions:
            files = member_files(settings, archive, account, region)
            result = replay_files(plan, files)
            fired[account, region] = result.fired()
            names = ", ".join(sorted(n.removeprefix("vpcwatch-member-") for n in
                                     result.fired())) or "none"  # fmt: skip
            print(f"  {account} {region:10} {result.events:6,} records  ALARM: {names}")
    return fired


def athena_per_account(
    settings: OrgSettings, templates: dict[str, dict], archive: Path = ARCHIVE
) -> list[tuple]:
    print("\n== Athena (DuckDB standing in) over the archive: records per detector, "
          "account and region")  # fmt: skip
    security = templates["Security"]
    connection = local_athena.connect(
        security, settings.archive_bucket_name, archive / settings.archive_bucket_name
    )
    query = local_athena.named_queries(security)["DetectorRecordsByAccount"]
    rows = connection.execute(query).fetchall()
    most: dict[str, tuple] = {}
    for row in rows:  # most records first: the first row of a detector is its top place
        most.setdefault(row[0], row)
    for detector, account, region, records in most.values():
        total = sum(r[3] for r in rows if r[0] == detector)
        print(f"  {detector:20} most in {account} {region:10} {records:6,} of {total:6,}")
    print(f"  ({len(rows)} rows in all: named query vpcwatch/DetectorRecordsByAccount)")
    return rows


def main() -> None:
    settings = OrgSettings()
    templates = synthesize(settings)
    lay_out_archive(settings)
    replay_per_account(settings)
    athena_per_account(settings, templates)
    print(
        "\nDeploy order: LogArchive and Security, the StackSetAssets-<region> stacks, "
        "then MemberStackSet (README, 'Many accounts')."
    )


if __name__ == "__main__":
    main()
