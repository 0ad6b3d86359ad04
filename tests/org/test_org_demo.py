"""The organization demo (`make demo-org`): its stacks synthesize clean (cdk-nag
AwsSolutions and NIST 800-53 R5 in the synth, cfn-lint and the security invariants
here), nothing crosses an account but text, the member StackSet template runs, and
replay and Athena give per-account results."""

from __future__ import annotations

import json

import pytest
from invariants import violations

from support import cfn_lint_errors
from vpcwatch_demo import org_run
from vpcwatch_demo.org import OrgSettings

SETTINGS = OrgSettings()


@pytest.fixture(scope="module")
def organization(tmp_path_factory):
    out, archive = tmp_path_factory.mktemp("org"), tmp_path_factory.mktemp("archive")
    templates = org_run.synthesize(SETTINGS, out)
    org_run.lay_out_archive(SETTINGS, archive)
    return templates, out, archive


def _member(templates):
    return templates["member (StackSet template)"]


def test_every_template_is_lint_clean_and_keeps_the_invariants(organization):
    templates, *_ = organization
    assert set(templates) == {"LogArchive", "Security", "StackSetAssets-eu-west-1",
                              "StackSetAssets-us-east-1", "MemberStackSet",
                              "member (StackSet template)"}  # fmt: skip
    for name, template in templates.items():
        assert cfn_lint_errors(template) == [], name
        assert violations(template) == [], name


def test_no_stack_imports_another(organization):
    templates, *_ = organization
    for name, template in templates.items():
        text = json.dumps(template)
        assert "Fn::ImportValue" not in text, name
        assert "Outputs" not in template or not any(
            "Export" in o for o in template["Outputs"].values()
        ), name


def test_the_arns_given_as_text_name_what_the_other_stacks_create(organization):
    templates, *_ = organization
    member = json.dumps(_member(templates))
    (bucket,) = [r for r in templates["LogArchive"]["Resources"].values()
                 if r["Type"] == "AWS::S3::Bucket" and "BucketName" in r["Properties"]]  # fmt: skip
    assert bucket["Properties"]["BucketName"] == SETTINGS.archive_bucket_name
    assert f'"VPCWATCH_ARCHIVE_ARN": "{SETTINGS.archive_bucket_arn}"' in member
    (bus,) = [r for r in templates["Security"]["Resources"].values()
              if r["Type"] == "AWS::Events::EventBus"]  # fmt: skip
    assert bus["Properties"]["Name"] == SETTINGS.bus_name
    assert SETTINGS.central_bus_arn.endswith(f":{SETTINGS.security_account}:event-bus/"
                                             f"{SETTINGS.bus_name}")  # fmt: skip
    assert f'"Arn": "{SETTINGS.central_bus_arn}"' in member
    table = json.dumps(templates["Security"])
    assert SETTINGS.archive_bucket_name in table
    assert ",".join(SETTINGS.member_accounts) in table  # projected accounts


def test_the_stack_set_reaches_the_members_and_its_code_is_in_every_region(organization):
    templates, *_ = organization
    (stack_set,) = [r["Properties"] for r in templates["MemberStackSet"]["Resources"].values()
                    if r["Type"] == "AWS::CloudFormation::StackSet"]  # fmt: skip
    assert stack_set["PermissionModel"] == "SERVICE_MANAGED"
    assert stack_set["AutoDeployment"]["Enabled"] is True
    (group,) = stack_set["StackInstancesGroup"]
    assert group["DeploymentTargets"]["OrganizationalUnitIds"] == [SETTINGS.members_ou]
    assert group["DeploymentTargets"]["Accounts"] == list(SETTINGS.member_accounts)
    assert group["Regions"] == list(SETTINGS.regions)
    functions = [r["Properties"] for r in _member(templates)["Resources"].values()
                 if r["Type"] == "AWS::Lambda::Function"]  # fmt: skip
    assert len(functions) == 2  # the enroller and the enricher
    for region in SETTINGS.regions:
        resources = templates[f"StackSetAssets-{region}"]["Resources"].values()
        (assets,) = [r for r in resources if r["Type"] == "AWS::S3::Bucket"
                     and "BucketName" in r["Properties"]]  # fmt: skip
        for function in functions:
            separator, (prefix, _) = function["Code"]["S3Bucket"]["Fn::Join"]
            assert prefix + separator + region == assets["Properties"]["BucketName"]


def test_every_member_alarm_is_named_to_be_forwarded(organization):
    templates, *_ = organization
    names = [r["Properties"].get("AlarmName") for r in _member(templates)["Resources"].values()
             if r["Type"] == "AWS::CloudWatch::Alarm"]  # fmt: skip
    assert names and all(isinstance(n, str) and n.startswith("vpcwatch-") for n in names)


def test_replay_rings_each_account_for_its_own_incident_only(organization):
    _, out, archive = organization
    fired = org_run.replay_per_account(SETTINGS, out, archive)
    ringing = {place: names for place, names in fired.items() if names}
    assert set(ringing) == set(org_run.INCIDENTS)
    assert "AdminPortProbes" in ringing["222222222222", "eu-west-1"]
    assert "Exfiltration" in ringing["333333333333", "us-east-1"]


def test_athena_counts_per_account_and_region(organization):
    templates, _, archive = organization
    rows = org_run.athena_per_account(SETTINGS, templates, archive)
    places = {(account, region) for _, account, region, _ in rows}
    assert places == {(a, r) for a in SETTINGS.member_accounts for r in SETTINGS.regions}
    exfiltration = [(a, r) for name, a, r, _ in rows if name == "Exfiltration"]
    assert exfiltration == [("333333333333", "us-east-1")]


def test_the_readme_shows_the_topology_the_app_is_built_from():
    from support import ROOT
    from vpcwatch_demo.org_diagram import topology

    readme = (ROOT / "README.md").read_text()
    assert f"```mermaid\n{topology(SETTINGS)}```" in readme


def test_vpcwatch_replay_on_one_account_names_its_incident(organization, capsys):
    """The command line, as a member team would run it on its own prefix of the archive."""
    from vpcwatch.cli import main

    _, out, archive = organization
    (member,) = out.glob("*.stackset.template.json")
    files = [str(p) for p in org_run.member_files(SETTINGS, archive, "333333333333", "us-east-1")]
    assert files and all(name.endswith(".log.parquet") for name in files)
    assert main(["replay", "--template", str(member), "--format", "json", *files]) == 0
    report = json.loads(capsys.readouterr().out)
    fired = {s["alarm"] for s in report["summary"] if s["fired"]}
    assert fired == {"Exfiltration"}
