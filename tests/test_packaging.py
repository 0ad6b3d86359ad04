"""Another CDK app can install vpcwatch from a built wheel and synthesize a FlowLogPipeline."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CONSUMER_APP = textwrap.dedent(
    """
    import sys
    import aws_cdk as cdk
    from aws_cdk import aws_ec2 as ec2
    import vpcwatch

    assert "{target}" in vpcwatch.__file__, vpcwatch.__file__
    app = cdk.App(outdir="cdk.out")
    stack = cdk.Stack(app, "Consumer")
    vpcwatch.FlowLogPipeline(stack, "FlowLogs", vpc=ec2.Vpc(stack, "Vpc"),
                             log_format=vpcwatch.FlowLogFormat.all_fields())
    template = app.synth().get_stack_by_name("Consumer").template
    print(sum(r["Type"] == "AWS::EC2::FlowLog" for r in template["Resources"].values()))
    """
)


def test_a_consumer_app_installs_the_wheel_and_synthesizes(tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-qq", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(ROOT)],
        check=True,
    )  # fmt: skip
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    (consumer / "app.py").write_text(CONSUMER_APP.format(target=target))
    # The consumer sees the installed wheel first, and not the source tree (-P: no cwd).
    env_path = f"{target}"
    result = subprocess.run(
        [sys.executable, "-P", "app.py"],
        cwd=consumer,
        env={**_env(), "PYTHONPATH": env_path},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "1"


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
