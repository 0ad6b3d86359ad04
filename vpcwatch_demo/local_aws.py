"""A local AWS for the demo: moto's server on 127.0.0.1, started and stopped here.

``cdk bootstrap`` and ``cdk deploy`` run against it with the project's own CDK CLI
(dummy credentials, ``AWS_ENDPOINT_URL``), which exercises the real deploy path:
assets, change sets, the template as deployed. moto's CloudFormation accepts some
resource types without creating them; :func:`skipped_types` reads which from the
server's log so the demo can say so plainly.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ACCOUNT = "123456789012"
REGION = "us-east-1"
_SKIPPED = re.compile(r"No Moto CloudFormation support for (\S+)")


@dataclass
class LocalAws:
    """A running moto server."""

    port: int
    log_path: Path

    @property
    def endpoint(self) -> str:
        # "localhost", not 127.0.0.1: moto reads the bucket of a template URL from the
        # host name unless it contains "localhost" (toolchain notes).
        return f"http://localhost:{self.port}"

    def environment(self) -> dict[str, str]:
        """The environment for the CDK CLI and boto3 to talk to this server only (the
        project's CDK CLI and Node 22, and this virtualenv, first on PATH)."""
        root = Path(__file__).resolve().parent.parent
        path = os.pathsep.join(
            [str(root / "node_modules" / ".bin"), str(Path(sys.executable).parent),
             os.environ.get("PATH", "")]
        )  # fmt: skip
        return {
            **os.environ,
            "PATH": path,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_PROFILE": "",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "CDK_DISABLE_VERSION_CHECK": "1",
        }

    def skipped_types(self) -> list[str]:
        """Resource types moto's CloudFormation accepted without creating them."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return sorted(set(_SKIPPED.findall(text)))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def local_aws(work_dir: Path, timeout: float = 30.0) -> Iterator[LocalAws]:
    """Start ``moto_server`` on a free loopback port; stop it on exit, whatever happens."""
    work_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = work_dir / "moto-server.log"
    server_bin = Path(sys.executable).parent / "moto_server"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(server_bin), "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for(port, process, timeout)
        yield LocalAws(port, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for(port: int, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.2)
    raise RuntimeError(f"moto_server did not listen on 127.0.0.1:{port} within {timeout:g} s")


def cdk(aws: LocalAws, root: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the project's CDK CLI against the local AWS."""
    return subprocess.run(
        ["cdk", *args, "--no-notices"],
        cwd=root,
        env=aws.environment(),
        capture_output=True,
        text=True,
        timeout=600,
    )


def deploy(aws: LocalAws, root: Path, out_dir: Path) -> tuple[bool, str]:
    """``cdk bootstrap`` then ``cdk deploy`` of the demo app; (succeeded, CLI output)."""
    steps = [
        ("bootstrap", f"aws://{ACCOUNT}/{REGION}", "--output", str(out_dir)),
        ("deploy", "--require-approval", "never", "--output", str(out_dir)),
    ]
    output = []
    for step in steps:
        result = cdk(aws, root, *step)
        output.append(result.stdout + result.stderr)
        if result.returncode != 0:
            return False, "\n".join(output)
    return True, "\n".join(output)


def stack_resources(aws: LocalAws, stack_name: str) -> list[dict]:
    """The stack's resources as the local CloudFormation reports them."""
    import boto3

    client = boto3.client(
        "cloudformation",
        endpoint_url=aws.endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return client.describe_stack_resources(StackName=stack_name)["StackResources"]
