"""The wheel is the product: built here, installed into a fresh virtualenv, used from a
directory outside the repository by an app that touches every public construct, and its
``vpcwatch`` command run as a user runs it.

The wheel is built without a build index (``--no-build-isolation``: the pinned
setuptools of requirements-dev.txt). The test's virtualenv gets vpcwatch from the wheel
only; its dependencies (aws-cdk-lib and friends, the same pinned versions) come from this
interpreter's site-packages through a ``.pth`` line, which adds that folder to
``sys.path`` without running its own ``.pth`` files, so the checkout's editable install
stays invisible. Installing aws-cdk-lib again per run would add a 40 MB download and a
minute; the floor test (tests/floor) installs dependencies from the registry instead.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import textwrap
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

from support import cli_env

ROOT = Path(__file__).resolve().parent.parent

CONSUMER_APP = textwrap.dedent(
    """
    import json
    import aws_cdk as cdk
    from aws_cdk import aws_ec2 as ec2
    import vpcwatch
    from vpcwatch import (AlarmEnricher, AlertTopic, ExposureRules, FlowLogMonitoring,
                          FlowLogPipeline, FlowLogTable, MemberBaseline, OpenIngressGuard,
                          PortProbeFindings, VpcEnrollment)

    app = cdk.App(outdir="cdk.out")
    stack = cdk.Stack(app, "Consumer")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=1, nat_gateways=0)
    pipeline = FlowLogPipeline(stack, "FlowLogs", vpc=vpc, destinations=("cloudwatch", "s3"))
    alerts = AlertTopic(stack, "Alerts", emails=["secops@example.com"])
    monitoring = FlowLogMonitoring(stack, "Monitoring", pipeline=pipeline, alerts=alerts)
    AlarmEnricher(stack, "Enricher", monitoring=monitoring, alerts=alerts)
    ExposureRules(stack, "Exposure", alerts=alerts, remediation=True, remediation_vpcs=[vpc],
                  create_recorder=True)
    PortProbeFindings(stack, "PortProbes", alerts=alerts, enable_detector=True)
    FlowLogTable(stack, "Table", pipeline=pipeline)
    VpcEnrollment(stack, "Enrollment", pipeline=pipeline)
    member = cdk.Stack(app, "Member")  # the StackSet shape: no env, no VPC
    MemberBaseline(member, "Vpcwatch",
                   central_bus_arn="arn:aws:events:us-east-1:111111111111:event-bus/b",
                   archive_bucket_arn="arn:aws:s3:::org-flow-logs")
    OpenIngressGuard.protect(app)
    assembly = app.synth()
    artifact = assembly.get_stack_by_name("Consumer")
    errors = [m.entry.data for m in artifact.messages if m.level.name == "ERROR"]
    types = sorted({r["Type"] for r in artifact.template["Resources"].values()})
    print(json.dumps({"module": vpcwatch.__file__, "types": types, "errors": errors,
                      "template": artifact.template_full_path}))
    """
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-qq", "--no-deps", "--no-build-isolation",
         "-w", str(out), str(ROOT)],
        check=True, cwd=out, env=cli_env(),
    )  # fmt: skip
    (built,) = out.glob("vpcwatch-*.whl")
    return built


@pytest.fixture(scope="module")
def consumer(wheel, tmp_path_factory) -> Path:
    """A fresh virtualenv holding the wheel; returns its bin directory."""
    home = tmp_path_factory.mktemp("consumer-venv")
    venv.create(home, with_pip=False, symlinks=True)
    python = home / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    Path(purelib, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-qq", "--no-deps",
         "--no-index", str(wheel)],
        check=True, env=cli_env(),
    )  # fmt: skip
    return home / "bin"


def _run(bin_dir: Path, cwd: Path, *argv: str, stdin: str | None = None, deprecated: str = ""):
    env = {**cli_env(), "PATH": f"{bin_dir}{os.pathsep}{cli_env()['PATH']}"}
    if deprecated:
        env["JSII_DEPRECATED"] = deprecated
    env.pop("PYTHONPATH", None)
    return subprocess.run(
        list(argv), cwd=cwd, env=env, capture_output=True, text=True, input=stdin, timeout=300
    )


def test_the_wheel_carries_the_lambda_code_and_no_byte_code(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "vpcwatch/py.typed" in names
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    for function in ("enricher", "enroller"):
        source = (ROOT / "lambda" / function / "handler.py").read_bytes()
        inside = f"vpcwatch/functions/{function}/handler.py"
        assert inside in names and zipfile.ZipFile(wheel).read(inside) == source


def test_pyproject_lists_every_package():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ])  # fmt: skip
    found = {
        ".".join(path.parent.relative_to(ROOT / "lib").parts)
        for path in (ROOT / "lib").rglob("__init__.py")
    } | {"vpcwatch.functions"} | {
        "vpcwatch.functions." + path.parent.name for path in (ROOT / "lambda").glob("*/handler.py")
    }  # fmt: skip
    assert listed == found


@pytest.fixture(scope="module")
def synthesized(consumer, tmp_path_factory):
    work = tmp_path_factory.mktemp("consumer-app")
    (work / "app.py").write_text(CONSUMER_APP)
    # JSII_DEPRECATED=fail: a deprecated aws-cdk-lib API anywhere in vpcwatch fails here.
    result = _run(consumer, work, str(consumer / "python"), "app.py", deprecated="fail")
    assert result.returncode == 0, result.stderr[-3000:]
    return work, json.loads(result.stdout.strip().splitlines()[-1])


def test_an_app_outside_the_repository_synthesizes_every_construct(synthesized, consumer):
    work, report = synthesized
    assert report["module"].startswith(str(consumer.parent)), report["module"]
    assert report["errors"] == []
    for resource_type in ("AWS::EC2::FlowLog", "AWS::Logs::MetricFilter", "AWS::Lambda::Function",
                          "AWS::Config::ConfigRule", "AWS::Glue::Table", "AWS::SNS::Topic",
                          "AWS::Events::Rule"):  # fmt: skip
        assert resource_type in report["types"]
    handlers = sorted(path.read_bytes() for path in (work / "cdk.out").glob("asset.*/handler.py"))
    assert handlers == sorted(
        (ROOT / "lambda" / function / "handler.py").read_bytes()
        for function in ("enricher", "enroller")
    )


def test_the_installed_command(synthesized, consumer):
    work, report = synthesized
    vpcwatch = str(consumer / "vpcwatch")
    version = _run(consumer, work, vpcwatch, "--version")
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert version.returncode == 0 and version.stdout.strip() == f"vpcwatch {declared}"
    template = report["template"]
    sample = _run(consumer, work, vpcwatch, "sample", "--minutes", "20", "--template", template,
                  "--incident", "ssh-scan@5", "--incident", "exfiltration@12")  # fmt: skip
    assert sample.returncode == 0, sample.stderr
    (work / "traffic.log").write_text(sample.stdout)
    replay = _run(consumer, work, vpcwatch, "replay", "--template", template, "traffic.log",
                  "--format", "json")  # fmt: skip
    assert replay.returncode == 0, replay.stderr
    fired = {s["alarm"] for s in json.loads(replay.stdout)["summary"] if s["fired"]}
    assert {"AdminPortProbes", "Exfiltration"} <= fired
    cost = _run(consumer, work, vpcwatch, "cost", "--template", template, "--gb-per-day", "5")
    assert cost.returncode == 0 and "total" in cost.stdout


def test_the_wheel_metadata_is_what_a_registry_expects(wheel):
    metadata = (
        zipfile.ZipFile(wheel)
        .read(next(n for n in zipfile.ZipFile(wheel).namelist() if n.endswith("/METADATA")))
        .decode()
    )
    for field in ("Requires-Python: >=3.11", "License-Expression: Apache-2.0",
                  "Classifier: Topic :: Security", "Author: The vpcwatch developers",
                  "Requires-Dist: aws-cdk-lib<3,>=2.251.0", "Provides-Extra: fast"):  # fmt: skip
        assert field in metadata, field
    assert any(n.endswith("licenses/LICENSE") for n in zipfile.ZipFile(wheel).namelist())
    changelog = (ROOT / "CHANGELOG.md").read_text()
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert f"## {declared}" in changelog
