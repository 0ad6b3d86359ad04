"""Helpers for construct tests: every synthesized template is checked by cdk-nag, cfn-lint
and the project's security invariants (tests/invariants.py).

``new_app()`` registers cdk-nag's AwsSolutions pack on the app, so
``Template.from_stack`` raises on any unacknowledged finding; ``checked_template``
adds a cfn-lint run over the result.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import invariants
from aws_cdk import assertions
from cfnlint.api import ManualArgs, lint
from syrupy.extensions.json import JSONSnapshotExtension

from vpcwatch_demo.stack import add_aws_solutions_checks

# Demo settings come from cdk.json in `cdk synth`; tests give them explicitly.
DEMO_CONTEXT = {
    "vpcwatch:stackName": "VpcWatchDemo",
    "vpcwatch:alertEmail": "security-alerts@example.com",
    "vpcwatch:adminCidr": "203.0.113.10/32",
    "vpcwatch:allowedDestinations": ["52.216.0.0/15", "3.5.0.0/19"],
}


CDK_NAG_3 = hasattr(cdk, "Acknowledgment")
"""cdk-nag 3 (aws-cdk-lib >= 2.257) is a validation plugin; cdk-nag 2, which the floor
test environment runs beside aws-cdk-lib 2.251, is an Aspect that annotates."""


def new_app(context: dict[str, Any] | None = None) -> cdk.App:
    """An app with cdk-nag AwsSolutions registered: its unacknowledged errors fail
    :func:`checked_template` (cdk-nag 3 makes the synth raise; cdk-nag 2's error
    annotations are checked there)."""
    app = cdk.App(context=context or {})
    add_aws_solutions_checks(app)
    return app


def cfn_lint_errors(template: dict[str, Any]) -> list[str]:
    """cfn-lint errors (not warnings) for a template, as readable strings."""
    matches = lint(
        json.dumps(template),
        regions=["us-east-1"],
        config=ManualArgs(regions=["us-east-1"]),
    )
    return [str(match) for match in matches if match.rule.severity == "error"]


def checked_template(stack: cdk.Stack) -> assertions.Template:
    """Synthesize ``stack`` (cdk-nag runs), then assert cfn-lint finds no error."""
    template = assertions.Template.from_stack(stack)
    if not CDK_NAG_3:
        nag = assertions.Annotations.from_stack(stack).find_error(
            "*", assertions.Match.string_like_regexp("AwsSolutions-.*")
        )
        assert nag == [], "cdk-nag errors:\n" + "\n".join(str(m) for m in nag)
    errors = cfn_lint_errors(template.to_json())
    assert errors == [], "cfn-lint errors:\n" + "\n".join(errors)
    broken = invariants.violations(template.to_json())
    assert broken == [], "security invariants broken:\n" + "\n".join(broken)
    return template


_ASSET_HASH = re.compile(r"[0-9a-f]{64}")


class TemplateSnapshot(JSONSnapshotExtension):
    """JSON snapshots with asset hashes replaced, so they change only with behaviour."""

    def serialize(self, data: Any, **kwargs: Any) -> str:
        text = json.dumps(data, indent=1, sort_keys=True)
        return super().serialize(json.loads(_ASSET_HASH.sub("<asset-hash>", text)), **kwargs)


ROOT = Path(__file__).resolve().parent.parent


def cli_env() -> dict[str, str]:
    """The environment for `cdk` and `vpcwatch` subprocesses: this interpreter's
    virtualenv and the project's Node 22 first on PATH, whoever started pytest."""
    path = os.pathsep.join(
        [str(Path(sys.executable).parent), str(ROOT / "node_modules" / ".bin"), os.environ["PATH"]]
    )
    return {**os.environ, "PATH": path, "CDK_DISABLE_VERSION_CHECK": "1"}
