"""End to end: the demo stack deploys into moto's server with the project's CDK CLI.

Marked ``deploy``: it needs the npm dependencies (``make test`` installs them) and
takes about 30 seconds. Everything runs on 127.0.0.1 and stops at the end.
"""

from __future__ import annotations

import os
import shutil

import pytest

from support import ROOT, cli_env
from vpcwatch_demo.local_aws import deploy, local_aws, stack_resources

pytestmark = pytest.mark.deploy


@pytest.fixture(autouse=True)
def _cli_on_path(monkeypatch):
    monkeypatch.setenv("PATH", cli_env()["PATH"])
    if shutil.which("cdk") is None:
        pytest.skip("the CDK CLI is not installed (run npm ci)")


def test_the_demo_stack_deploys_into_the_emulator(tmp_path):
    with local_aws(tmp_path / "aws") as aws:
        assert aws.endpoint.startswith("http://localhost:")
        ok, output = deploy(aws, ROOT, tmp_path / "cdk.out")
        assert ok, output[-3000:]
        resources = stack_resources(aws, "VpcWatchDemo")
        skipped = aws.skipped_types()
    types = {r.get("ResourceType") for r in resources}
    assert {"AWS::EC2::FlowLog", "AWS::Lambda::Function", "AWS::SNS::Topic"} <= types
    # moto accepts these without creating them; the demo says so instead of pretending.
    assert {"AWS::Logs::MetricFilter", "AWS::CloudWatch::Alarm"} <= set(skipped)
    assert "AWS_ENDPOINT_URL" not in os.environ or os.environ["AWS_ENDPOINT_URL"] != aws.endpoint
