"""The ``vpcwatch`` command. Thin: each subcommand parses arguments and calls the library.

vpcwatch test-pattern PATTERN [FILE|-]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TextIO

from vpcwatch.errors import FilterPatternError


def _test_pattern(args: argparse.Namespace, out: TextIO) -> int:
    """Print TestMetricFilter-shaped matches as JSON lines; 0 matched, 1 none, 2 bad pattern."""
    from vpcwatch.filterpattern import compile_pattern, match_event

    try:
        compiled = compile_pattern(args.pattern)
    except FilterPatternError as error:
        print(f"vpcwatch test-pattern: {error}", file=sys.stderr)
        return 2
    stream = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")  # noqa: SIM115
    matched = 0
    with stream:
        for number, line in enumerate(stream, start=1):
            entry = match_event(compiled, number, line.rstrip("\r\n"))
            if entry is not None:
                matched += 1
                out.write(json.dumps(entry) + "\n")
    return 0 if matched else 1


def _sample(args: argparse.Namespace, out: TextIO) -> int:
    """Generated traffic in the stack's (or the given) format, on stdout."""
    from vpcwatch.fields import FlowLogFormat
    from vpcwatch.replay.template import TemplateError, load_plan
    from vpcwatch.traffic import DEFAULT_START, INCIDENTS, generate

    try:
        if args.template is not None:
            log_format = load_plan(args.template).log_format
        elif args.log_format in ("all", "default"):
            log_format = getattr(
                FlowLogFormat,
                f"{args.log_format}_fields" if args.log_format == "all" else "default",
            )()
        else:
            log_format = FlowLogFormat.parse(args.log_format)
        if args.minutes < 1:
            raise ValueError(f"--minutes must be 1 or more; got {args.minutes}")
        incidents: dict[int, tuple[str, ...]] = {}
        for item in args.incident:
            kind, _, minute = item.partition("@")
            at = int(minute) if minute else args.minutes // 2
            if kind not in INCIDENTS or not 0 <= at < args.minutes:
                raise ValueError(
                    f"--incident {item!r}: KIND[@MINUTE] with KIND one of {', '.join(INCIDENTS)} "
                    f"and MINUTE from 0 to {args.minutes - 1}"
                )
            incidents[at] = (*incidents.get(at, ()), kind)
    except (TemplateError, ValueError) as error:
        print(f"vpcwatch sample: {error}", file=sys.stderr)
        return 2
    start = DEFAULT_START if args.start is None else args.start - args.start % 60
    for line in generate(log_format, minutes=args.minutes, seed=args.seed, incidents=incidents,
                         start=start):  # fmt: skip
        out.write(line + "\n")
    return 0


def _replay(args: argparse.Namespace, out: TextIO) -> int:
    """Replay recorded flow logs through the template's metric filters and alarms."""
    from vpcwatch.replay.files import replay_files
    from vpcwatch.replay.readers import ReplayInputError
    from vpcwatch.replay.report import as_json, as_text
    from vpcwatch.replay.template import TemplateError, load_plan

    try:
        plan = load_plan(args.template)
        start, end = _instant(args.start, "--from"), _instant(args.end, "--to")
        result = replay_files(plan, args.files, start=start, end=end, progress=True)
    except (TemplateError, ReplayInputError, ValueError, OSError) as error:
        print(f"vpcwatch replay: {error}", file=sys.stderr)
        return 2
    if args.format == "json":
        out.write(json.dumps(as_json(result, plan), indent=1) + "\n")
    else:
        out.write(as_text(result, plan) + "\n")
    if args.plot is not None:
        try:
            from vpcwatch.replay.plot import plot

            written = plot(result, plan, args.plot)
        except ImportError:
            print("vpcwatch replay: --plot needs matplotlib (pip install vpcwatch[plot])",
                  file=sys.stderr)  # fmt: skip
            return 2
        print(f"plot written to {written}", file=sys.stderr)
    return 0


def _cost(args: argparse.Namespace, out: TextIO) -> int:
    """An itemised monthly estimate of what the template switches on."""
    from vpcwatch.cost import Assumptions, estimate, gb_per_day_from_sample, load_prices, render
    from vpcwatch.replay.template import TemplateError, load_plan

    try:
        with open(args.template, encoding="utf-8") as stream:
            template = json.load(stream)
        gb = args.gb_per_day
        if args.sample is not None:
            gb = gb_per_day_from_sample(args.sample, load_plan(args.template).log_format)
            print(f"measured {gb:.3f} GB/day from {args.sample}", file=sys.stderr)
        if gb is None:
            raise ValueError("give --gb-per-day or --sample")
        assumptions = Assumptions(gb_per_day=gb, reject_share=args.reject_share)
        lines, alternatives = estimate(template, assumptions, load_prices(args.prices))
    except (OSError, ValueError, TemplateError) as error:
        print(f"vpcwatch cost: {error}", file=sys.stderr)
        return 2
    out.write(render(lines, alternatives, assumptions) + "\n")
    return 0


def _instant(value: str | None, option: str) -> int | None:
    """Unix seconds, or an ISO 8601 time (UTC unless it says otherwise)."""
    if value is None:
        return None
    if value.isdigit():
        return int(value)
    from datetime import UTC, datetime

    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{option} must be Unix seconds or an ISO 8601 time; got {value!r}"
        ) from None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


def _version() -> str:
    """The installed distribution's version (package metadata), else the package's own."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vpcwatch")
    except PackageNotFoundError:
        from vpcwatch import __version__

        return __version__


def build_parser() -> argparse.ArgumentParser:
    from vpcwatch.traffic import INCIDENTS

    parser = argparse.ArgumentParser(
        prog="vpcwatch", description="Network threat detection on VPC Flow Logs, offline."
    )
    parser.add_argument("--version", action="version", version=f"vpcwatch {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    test = commands.add_parser(
        "test-pattern",
        help="match log events against a filter pattern, as TestMetricFilter does",
        description="Print one JSON line per matching event (eventNumber, eventMessage, "
        "extractedValues). Exit 0 if anything matched, 1 if nothing did, 2 on a bad pattern.",
    )
    test.add_argument("pattern", help="a CloudWatch Logs filter pattern")
    test.add_argument("file", nargs="?", default="-", help="events, one per line (- = stdin)")
    test.set_defaults(run=_test_pattern)

    sample = commands.add_parser(
        "sample",
        help="generate realistic flow-log records with injected incidents",
        description="Background internet noise (seed 000: 5.7 REJECT/min), web traffic on "
        "80/443, and incidents at chosen minutes, one record per line on stdout.",
    )
    sample.add_argument("--minutes", type=int, default=60, help="how many minutes (default 60)")
    sample.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sample.add_argument(
        "--incident",
        action="append",
        default=[],
        metavar="KIND[@MINUTE]",
        help=f"one of {', '.join(INCIDENTS)}, at MINUTE (default: the middle); repeatable",
    )
    sample.add_argument("--template", help="write records in this stack template's format")
    sample.add_argument("--log-format", default="all",
                        help="'all', 'default' or a '${...}' format (default: all)")  # fmt: skip
    sample.add_argument("--start", type=int, help="Unix seconds of minute 0")
    sample.set_defaults(run=_sample)

    replay = commands.add_parser(
        "replay",
        help="replay recorded flow logs through a synthesized template's alarms",
        description="Evaluate the template's metric filters on recorded flow logs (plain "
        "lines, CloudWatch Logs exports, S3 delivery files, gzip or not), aggregate per "
        "period as CloudWatch does, and run each alarm. Exit 2 on unusable input.",
    )
    replay.add_argument("--template", required=True, help="cdk.out/<Stack>.template.json")
    replay.add_argument("files", nargs="+", metavar="FILE", help="recorded flow logs")
    replay.add_argument("--format", choices=("text", "json"), default="text")
    replay.add_argument("--from", dest="start", help="first time (Unix seconds or ISO 8601)")
    replay.add_argument("--to", dest="end", help="last time (Unix seconds or ISO 8601)")
    replay.add_argument("--plot", help="write a PNG of each alarm's metric and state")
    replay.set_defaults(run=_replay)

    cost = commands.add_parser(
        "cost",
        help="estimate the monthly cost of what a template switches on",
        description="Itemised: ingestion per destination and class, storage, custom metrics, "
        "alarms, Config, GuardDuty, and the cheaper alternatives.",
    )
    cost.add_argument("--template", required=True, help="cdk.out/<Stack>.template.json")
    cost.add_argument("--gb-per-day", type=float, help="flow-log volume of an ALL flow log")
    cost.add_argument("--sample", help="measure GB/day from a recorded flow-log file instead")
    cost.add_argument("--prices", help="a JSON file overriding prices (same keys)")
    cost.add_argument(
        "--reject-share", type=float, default=0.05, help="REJECT share of the volume (0.05)"
    )
    cost.set_defaults(run=_cost)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args, sys.stdout if out is None else out)


if __name__ == "__main__":
    raise SystemExit(main())
