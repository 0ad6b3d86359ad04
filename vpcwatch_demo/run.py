"""`make demo`: the main job, as a list of steps.

Each step is a function that takes the shared :class:`DemoRun` and prints what it
did. Later steps (local deploy, traffic replay) are appended to ``STEPS``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class DemoRun:
    """State shared by the demo steps."""

    out_dir: Path = ROOT / "cdk.out"
    stack_id: str = "Demo"
    facts: dict = field(default_factory=dict)

    @property
    def template_path(self) -> Path:
        return self.out_dir / f"{self.stack_id}.template.json"

    def template(self) -> dict:
        return json.loads(self.template_path.read_text())


def synth(run: DemoRun) -> None:
    """`cdk synth` of the demo stack with the project's own CDK CLI (cdk-nag runs too)."""
    print("== cdk synth (with cdk-nag AwsSolutions checks)")
    result = subprocess.run(
        ["cdk", "synth", "--quiet", "--no-notices", "--output", str(run.out_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        raise SystemExit(f"cdk synth failed (exit {result.returncode})")


def summary(run: DemoRun) -> None:
    """Resources by type, the flow-log format, and where the template is."""
    template = run.template()
    resources = template["Resources"]
    counts = Counter(resource["Type"] for resource in resources.values())
    print(f"== {run.stack_id}: {len(resources)} resources")
    for resource_type, count in sorted(counts.items()):
        print(f"  {count:3d}  {resource_type}")
    for name, resource in resources.items():
        if resource["Type"] == "AWS::EC2::FlowLog":
            props = resource["Properties"]
            fields = props["LogFormat"].split()
            print(
                f"== flow log {name}: {props['ResourceType']}, traffic {props['TrafficType']}, "
                f"{props['MaxAggregationInterval']} s windows, {len(fields)} fields"
            )
            print("  " + " ".join(fields))
    alarms = [r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    filters = [r for r in resources.values() if r["Type"] == "AWS::Logs::MetricFilter"]
    print(f"== {len(filters)} metric filters, {len(alarms)} alarms:")
    for alarm in sorted(alarms, key=lambda a: a["Properties"]["MetricName"]):
        props = alarm["Properties"]
        print(
            f"  {props['MetricName']:<22} {props['Statistic']} over {props['Period']} s "
            f"{_OPERATORS[props['ComparisonOperator']]} {props['Threshold']:g}"
        )
    print(f"== template: {run.template_path.relative_to(ROOT)}")


_OPERATORS = {
    "GreaterThanOrEqualToThreshold": ">=",
    "GreaterThanThreshold": ">",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}


STEPS: list[Callable[[DemoRun], None]] = [synth, summary]


def main() -> None:
    run = DemoRun()
    for step in STEPS:
        step(run)


if __name__ == "__main__":
    main()
