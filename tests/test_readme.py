"""The README runs: every Python block of README.md and docs/ executes as written, and
every shell command in them runs and exits 0, in a folder outside the repository.

Python blocks run in one interpreter (one jsii start), each in a namespace of its
own, so a block that leans on a name another block defined fails here as it would for
a reader. Shell commands run in README order in one folder holding the demo's
``cdk.out/VpcWatchDemo.template.json`` (what ``make synth`` writes). The few commands a test
cannot run from here are listed in ``RUN_ELSEWHERE`` with the test that runs them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from support import DEMO_CONTEXT, cli_env

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)

RUN_ELSEWHERE = {
    "make demo-org": "tests/org/test_org_demo.py runs its steps (vpcwatch_demo.org_run)",
    "make demo": "the demo itself: CI's clean-clone check runs it (vpcwatch_demo.run)",
    "make test": "CI runs it (.ci/run)",
    "pip install": "tests/test_packaging.py installs the built wheel into a new virtualenv",
}


def blocks(language: str) -> list[tuple[str, int, str]]:
    """(document, line, code) of every fenced block in ``language``."""
    found = []
    for document in DOCUMENTS:
        text = document.read_text()
        for match in _BLOCK.finditer(text):
            if match.group(1) == language:
                line = text.count("\n", 0, match.start()) + 2
                found.append((document.name, line, match.group(2)))
    return found


def shell_commands() -> list[tuple[str, str]]:
    """(where, command) for every command line of the shell blocks, comments removed."""
    commands = []
    for document, line, code in blocks("sh"):
        for offset, text in enumerate(code.splitlines()):
            command = text.split("  #")[0].strip()
            if command and not command.startswith("#"):
                commands.append((f"{document}:{line + offset}", command))
    return commands


RUNNER = textwrap.dedent(
    """
    import json, sys, traceback
    failures = []
    for where, code in json.load(sys.stdin):
        try:
            exec(compile(code, where, "exec"), {"__name__": "__readme__"})
        except Exception:
            failures.append(where + "\\n" + traceback.format_exc(limit=3))
    print(json.dumps(failures))
    """
)


def test_there_are_blocks_to_run():
    assert len(blocks("python")) >= 9 and len(shell_commands()) >= 8


def test_every_python_block_runs_as_written(tmp_path):
    code = [(f"{document}:{line}", text) for document, line, text in blocks("python")]
    result = subprocess.run(
        [sys.executable, "-P", "-c", RUNNER], input=json.dumps(code), cwd=tmp_path,
        env=cli_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    failures = json.loads(result.stdout.strip().splitlines()[-1])
    assert failures == [], "\n".join(failures)


@pytest.fixture(scope="module")
def demo_folder(tmp_path_factory):
    """A folder outside the repository with the demo's synthesized template in cdk.out/."""
    from support import new_app
    from vpcwatch_demo.settings import DemoSettings
    from vpcwatch_demo.stack import DemoStack

    app = new_app(DEMO_CONTEXT)
    stack = DemoStack(app, "Demo", settings=DemoSettings.from_context(app.node.try_get_context))
    folder = tmp_path_factory.mktemp("readme")
    template = app.synth().get_stack_by_name(stack.stack_name).template
    (folder / "cdk.out").mkdir()
    (folder / "cdk.out" / "VpcWatchDemo.template.json").write_text(json.dumps(template))
    return folder


def test_every_shell_command_runs_and_exits_0(demo_folder):
    ran = 0
    for where, command in shell_commands():
        if any(command.startswith(prefix) for prefix in RUN_ELSEWHERE):
            continue
        result = subprocess.run(
            ["bash", "-c", command], cwd=demo_folder, env=cli_env(), capture_output=True,
            text=True, timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, f"{where}: {command}\n{result.stderr[-2000:]}"
        ran += 1
    assert ran >= 8


def test_the_exempt_commands_are_in_the_readme():
    """An exemption for a command the README no longer shows is dead: remove it."""
    commands = [command for _, command in shell_commands()]
    for prefix in RUN_ELSEWHERE:
        assert any(command.startswith(prefix) for command in commands), prefix
