"""`make demo`: the main job, as a list of steps.

Each step is a function that takes the shared :class:`DemoRun` and prints what it
did. Later steps (local deploy, traffic replay) are appended to ``STEPS``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class DemoRun:
    """State shared by the demo steps."""

    out_dir: Path = ROOT / "cdk.out"
    work_dir: Path = ROOT / "demo-output"
    stack_id: str = "VpcWatchDemo"  # the construct id is the stack name: one name
    stack_name: str = "VpcWatchDemo"
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
    acknowledged = _acknowledgments()
    rules = {a.split(":")[0].split("[")[0] for a in acknowledged}
    print(
        "  cdk-nag AwsSolutions on every stack: 0 unacknowledged errors (the synth fails on "
        f"any); {len(acknowledged)} acknowledgments of {len(rules)} rules, each with its "
        "reason (the NIST 800-53 R5 ones included)"
    )


def _acknowledgments() -> list[str]:
    """Every acknowledgment vpcwatch made in the demo app (``pack-rule: reason``), read
    from the construct tree of the same app built in this process (cdk-nag keeps them
    out of the cloud assembly)."""
    import aws_cdk as cdk

    from vpcwatch.constructs._validation import ACKNOWLEDGED
    from vpcwatch_demo.stack import build_app

    context = json.loads((ROOT / "cdk.json").read_text()).get("context", {})
    # Asset staging writes into the outdir while the app is built: keep it out of the
    # checkout (the cloud assembly the demo uses is out_dir, written by the CLI).
    with tempfile.TemporaryDirectory() as outdir:
        stack = build_app(cdk.App(context=context, outdir=outdir))
        return [
            entry.data
            for node in stack.node.find_all()
            for entry in node.node.metadata
            if entry.type == ACKNOWLEDGED
        ]


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
    from vpcwatch.replay.template import load_plan
    from vpcwatch.textable import table

    plan = load_plan(run.template_path)
    alarms = [r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    filters = [r for r in resources.values() if r["Type"] == "AWS::Logs::MetricFilter"]
    print(f"== {len(filters)} metric filters, {len(alarms)} alarms (by detector):")
    rows = []
    for alarm in sorted(plan.alarms, key=lambda a: a.name):
        settings = alarm.settings
        metric = alarm.metric[1]
        rows.append((
            alarm.name, alarm.severity,
            f"{settings.statistic} of {alarm.unit} over {settings.period // 60} min "
            f"{_OPERATORS[settings.comparison.value]} {settings.threshold:g}"
            + (f" ({settings.datapoints_to_alarm} of {settings.evaluation_periods})"
               if settings.evaluation_periods > 1 else "")
            + (f", metric {metric}" if metric != alarm.name else ""),
        ))  # fmt: skip
    simulated = {alarm.name for alarm in plan.alarms}
    for props in (a["Properties"] for a in alarms):
        name = str(props.get("AlarmName", "")).rsplit("-", 1)[-1]
        if name and name not in simulated:
            rows.append((name, "high", f"{props['MetricName']} of the alarm enricher >= 1"))
    print("\n".join(table(rows, right=(False, False, False))))
    print(f"== template: {run.template_path.relative_to(ROOT)}")


_OPERATORS = {
    "GreaterThanOrEqualToThreshold": ">=",
    "GreaterThanThreshold": ">",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}


def local_deploy(run: DemoRun) -> None:
    """Bootstrap and deploy the demo stack into moto's server on 127.0.0.1."""
    from vpcwatch_demo.local_aws import deploy, local_aws, stack_resources

    print("== cdk bootstrap + cdk deploy into a local AWS emulator (moto_server, 127.0.0.1)")
    with local_aws(run.work_dir) as aws:
        ok, output = deploy(aws, ROOT, run.work_dir / "cdk.out.deploy")
        if not ok:
            sys.stderr.write(output[-4000:])
            raise SystemExit("cdk deploy into the emulator failed")
        resources = stack_resources(aws, run.stack_name)
        skipped = aws.skipped_types()
    # moto reports the types it skipped without a ResourceType.
    counts = Counter(r["ResourceType"] for r in resources if "ResourceType" in r)
    created = {t: n for t, n in counts.items() if t not in skipped}
    print(
        f"  deployed {run.stack_name}: {len(resources)} resources reported, "
        f"{sum(created.values())} of them created by the emulator:"
    )
    for resource_type, count in sorted(created.items()):
        print(f"  {count:5d}  {resource_type}")
    if skipped:
        print("  the emulator reported these types COMPLETE without creating them (moto has")
        print("  no CloudFormation support for them; a real account creates them):")
        print("    " + ", ".join(skipped))


def rehearsal(run: DemoRun) -> None:
    """An hour of sample traffic with four incidents, replayed through the template."""
    from vpcwatch.replay.files import replay_files
    from vpcwatch.replay.plot import plot
    from vpcwatch.replay.report import as_text
    from vpcwatch.replay.template import load_plan
    from vpcwatch.traffic import generate

    print(
        "== rehearsal: an hour of traffic; a slow scan from minute 5 (4 probes a minute), an "
        "SSH scan at 20, an upload in 90 KB pieces from 25, an exfiltration at 41"
    )
    plan = load_plan(run.template_path)
    traffic = run.work_dir / "traffic.log"
    incidents = {5: ("slow-scan",), 20: ("ssh-scan",), 25: ("chunked-exfil",),
                 41: ("exfiltration",)}  # fmt: skip
    with traffic.open("w") as out:
        for line in generate(plan.log_format, minutes=60, seed=7, incidents=incidents):
            out.write(line + "\n")
    result = replay_files(plan, [traffic])
    print("\n".join("  " + line for line in as_text(result, plan, top=1).splitlines()))
    image = plot(result, plan, run.work_dir / "alarms.png")
    print(f"== traffic: {traffic.relative_to(ROOT)}; plot: {image.relative_to(ROOT)}")
    print(
        f"   replay it yourself: .venv/bin/vpcwatch replay --template "
        f"{run.template_path.relative_to(ROOT)} {traffic.relative_to(ROOT)}"
    )


def tuning(run: DemoRun) -> None:
    """Thresholds from history: a day of background traffic (no incident) through
    ``vpcwatch tune``, as a user would run it on a day of their own flow logs."""
    from vpcwatch.replay.files import aggregate_files
    from vpcwatch.replay.template import load_plan
    from vpcwatch.replay.tune import as_context, as_rows, tune
    from vpcwatch.textable import table
    from vpcwatch.traffic import generate

    plan = load_plan(run.template_path)
    background = run.work_dir / "background.log"
    with background.open("w") as out:
        for line in generate(plan.log_format, minutes=1440, seed=3):
            out.write(line + "\n")
    print(f"== vpcwatch tune --template {run.template_path.relative_to(ROOT)} "
          f"{background.relative_to(ROOT)}  (a day of background, no incident)")  # fmt: skip
    aggregator, _, _ = aggregate_files(plan, [background])
    tunings = tune(aggregator, plan.alarms, start=aggregator.first, end=aggregator.last)
    right = (False,) + (True,) * 9 + (False,)
    print("\n".join(table(as_rows(tunings), right=right)))
    rejected = as_context(tunings)["vpcwatch:thresholds"]["RejectedFlows"]
    print("   --format context prints a cdk.json block the demo app reads, e.g. "
          f'{{"vpcwatch:thresholds": {{"RejectedFlows": {rejected}, ...}}}}; the suggestions '
          "are floors (quiet over this history): keep a margin")  # fmt: skip


def cost(run: DemoRun) -> None:
    """What the demo stack would cost a month at 20 GB/day of flow logs."""
    from vpcwatch.cost import Assumptions, estimate, load_prices, render

    assumptions = Assumptions(gb_per_day=20)
    lines, alternatives = estimate(run.template(), assumptions, load_prices(None))
    print(f"== vpcwatch cost --template {run.template_path.relative_to(ROOT)} --gb-per-day 20")
    print("\n".join("  " + line for line in render(lines, alternatives, assumptions).splitlines()))


STEPS: list[Callable[[DemoRun], None]] = [
    synth, summary, cost, local_deploy, rehearsal, tuning,
]  # fmt: skip


def main() -> None:
    run = DemoRun()
    run.work_dir.mkdir(exist_ok=True)
    for step in STEPS:
        step(run)


if __name__ == "__main__":
    main()
