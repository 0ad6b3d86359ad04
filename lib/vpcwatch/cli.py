"""The ``vpcwatch`` command. Thin: each subcommand parses arguments and calls the library.

Exit codes, for every subcommand: 0 success; 1 where a command defines it ("nothing
matched" for test-pattern); 2 bad input or usage, with one line on stderr that names
the problem, never a Python traceback. A closed stdout (``vpcwatch sample | head``)
ends the command quietly.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn, TextIO

from vpcwatch.errors import FilterPatternError


class InputError(ValueError):
    """Bad input or arguments: the command prints the message and exits 2."""


def _test_pattern(args: argparse.Namespace, out: TextIO) -> int:
    """Print TestMetricFilter-shaped matches as JSON lines; 0 matched, 1 none."""
    from vpcwatch.filterpattern import compile_pattern, match_event
    from vpcwatch.replay.readers import InputStats, TextInput

    try:
        compiled = compile_pattern(args.pattern)
    except FilterPatternError as error:
        raise InputError(" ".join(str(error).split("\n", 1)[0].split())) from None
    stats = InputStats()
    if args.file != "-":
        lines = TextInput(Path(args.file), stats, strict=args.strict)
    elif hasattr(sys.stdin, "buffer"):
        lines = TextInput(Path("stdin"), stats, strict=args.strict, stream=sys.stdin.buffer)
    else:  # a text stdin put in place by a caller: already decoded
        lines = sys.stdin
    matched = 0
    # Matches are held (in memory, then on disk past 8 MB) until the whole input has been
    # read: a file that turns out unreadable half-way writes nothing.
    with tempfile.SpooledTemporaryFile(max_size=8 << 20, mode="w+") as held:
        for number, line in enumerate(lines, start=1):
            entry = match_event(compiled, number, line.rstrip("\r\n"))
            if entry is not None:
                matched += 1
                held.write(json.dumps(entry) + "\n")
        held.seek(0)
        shutil.copyfileobj(held, out)
    for note in stats.notes():  # bytes replaced (lines are not split into fields here)
        _note(note)
    return 0 if matched else 1


def _sample(args: argparse.Namespace, out: TextIO) -> int:
    """Generated traffic in the stack's (or the given) format, on stdout."""
    from vpcwatch.fields import FlowLogFormat
    from vpcwatch.replay.template import template_format
    from vpcwatch.traffic import DEFAULT_START, INCIDENTS, generate

    if args.template is not None:
        log_format = template_format(args.template)
    elif args.log_format in ("all", "default"):
        log_format = (
            FlowLogFormat.all_fields() if args.log_format == "all" else FlowLogFormat.default()
        )
    else:
        log_format = FlowLogFormat.parse(args.log_format)
    if args.minutes < 1:
        raise InputError(f"--minutes must be 1 or more; got {args.minutes}")
    if args.start is not None and args.start < 0:
        raise InputError(f"--start must be Unix seconds (0 or more); got {args.start}")
    incidents: dict[int, tuple[str, ...]] = {}
    for item in args.incident:
        kind, _, minute = item.partition("@")
        at = int(minute) if minute.isdigit() else (args.minutes // 2 if not minute else -1)
        if kind not in INCIDENTS or not 0 <= at < args.minutes:
            raise InputError(
                f"--incident {item!r}: KIND[@MINUTE] with KIND one of {', '.join(INCIDENTS)} "
                f"and MINUTE from 0 to {args.minutes - 1}"
            )
        incidents[at] = (*incidents.get(at, ()), kind)
    start = DEFAULT_START if args.start is None else args.start - args.start % 60
    for line in generate(log_format, minutes=args.minutes, seed=args.seed, incidents=incidents,
                         start=start):  # fmt: skip
        out.write(line + "\n")
    return 0


def _replay(args: argparse.Namespace, out: TextIO) -> int:
    """Replay recorded flow logs through the template's metric filters and alarms."""
    from vpcwatch.replay.files import replay_files
    from vpcwatch.replay.report import as_json, as_text
    from vpcwatch.replay.template import load_plan

    plan = load_plan(args.template)
    start, end = _instant(args.start, "--from"), _instant(args.end, "--to")
    if start is not None and end is not None and start > end:
        raise InputError(f"--from ({args.start}) is after --to ({args.end})")
    if args.plot is not None:
        _writable(args.plot, "--plot")
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise InputError("--plot needs matplotlib (pip install vpcwatch[plot])") from None
    result = replay_files(plan, args.files, start=start, end=end, progress=True,
                          strict=args.strict)  # fmt: skip
    if args.format == "json":
        out.write(json.dumps(as_json(result, plan), indent=1) + "\n")
    else:
        out.write(as_text(result, plan) + "\n")
    if args.plot is not None:
        from vpcwatch.replay.plot import plot

        _note(f"plot written to {plot(result, plan, args.plot)}")
    return 0


def _tune(args: argparse.Namespace, out: TextIO) -> int:
    """Each alarm's metric over recorded history, and the threshold it suggests."""
    from vpcwatch.replay.files import aggregate_files
    from vpcwatch.replay.template import load_plan
    from vpcwatch.replay.tune import as_context, as_json, as_python, as_rows, tune
    from vpcwatch.textable import table

    plan = load_plan(args.template)
    if args.alarms_per_week < 0:
        raise InputError(f"--alarms-per-week must be 0 or more; got {args.alarms_per_week:g}")
    aggregator, stats, _ = aggregate_files(plan, args.files, progress=True)
    for note in stats.notes():  # what replay's report says, on stderr
        _note(note)
    if aggregator.first is None or aggregator.last is None:
        raise InputError("the files hold no record of the template's format to tune on")
    tunings = tune(aggregator, plan.alarms, start=aggregator.first, end=aggregator.last,
                   alarms_per_week=args.alarms_per_week)  # fmt: skip
    seconds = aggregator.last - aggregator.first
    days = seconds / 86400
    span = f"{days:.1f} days" if days >= 1 else f"{seconds / 3600:.1f} hours"
    if args.format == "json":
        out.write(json.dumps({"days": round(days, 3), "events": stats.events,
                              "alarms": as_json(tunings)}, indent=1) + "\n")  # fmt: skip
    elif args.format == "context":
        out.write(json.dumps(as_context(tunings), indent=1) + "\n")
    elif args.format == "python":
        out.write("\n".join(as_python(tunings)) + "\n")
    else:
        out.write(
            f"{stats.events:,} events over {span}; suggested: the lowest threshold "
            f"with at most {args.alarms_per_week:g} alarms a week over this history\n"
        )
        right = (False,) + (True,) * 9 + (False,)
        out.write("\n".join(table(as_rows(tunings), right=right)) + "\n")
    return 0


def _cost(args: argparse.Namespace, out: TextIO) -> int:
    """An itemised monthly estimate of what the template switches on."""
    from vpcwatch.cost import Assumptions, estimate, gb_per_day_from_sample, load_prices, render
    from vpcwatch.replay.template import read_template, template_format

    template = read_template(args.template)
    gb = args.gb_per_day
    if args.sample is not None:
        gb = gb_per_day_from_sample(args.sample, template_format(args.template))
        _note(f"measured {gb:.3f} GB/day from {args.sample}")
    if gb is None:
        raise InputError("give --gb-per-day or --sample")
    _finite(gb, "--gb-per-day")
    _finite(args.reject_share, "--reject-share")
    assumptions = Assumptions(gb_per_day=gb, reject_share=args.reject_share)
    lines, alternatives = estimate(template, assumptions, load_prices(args.prices))
    out.write(render(lines, alternatives, assumptions) + "\n")
    return 0


def _finite(value: float, option: str) -> None:
    if not math.isfinite(value) or value < 0:
        raise InputError(f"{option} must be a finite number of 0 or more; got {value}")


def _writable(path: str, option: str) -> None:
    """Refuse an output path that cannot be written, before any work is done."""
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise InputError(f"{option} {path}: is a directory")
    if not folder.is_dir():
        raise InputError(f"{option} {path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise InputError(f"{option} {path}: not writable")


def _instant(value: str | None, option: str) -> int | None:
    """Unix seconds, or an ISO 8601 time (UTC unless it says otherwise)."""
    if value is None:
        return None
    from vpcwatch.timeformat import parse_instant

    try:
        return parse_instant(value)
    except ValueError:
        raise InputError(
            f"{option} must be Unix seconds or an ISO 8601 time; got {value!r}"
        ) from None


def _note(text: str) -> None:
    print(f"vpcwatch: {text}", file=sys.stderr)


def _version() -> str:
    """The installed distribution's version (package metadata), else the package's own."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("vpcwatch")
    except PackageNotFoundError:
        from vpcwatch import __version__

        return __version__


class _Parser(argparse.ArgumentParser):
    """Usage errors in one line (argparse prints the whole usage first), exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


FILES_HELP = "recorded flow logs, or a folder of them (every file under it, by path)"


def build_parser() -> argparse.ArgumentParser:
    from vpcwatch.traffic import INCIDENTS

    parser = _Parser(
        prog="vpcwatch", description="Network threat detection on VPC Flow Logs, offline."
    )
    parser.add_argument("--version", action="version", version=f"vpcwatch {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    test = commands.add_parser(
        "test-pattern",
        help="match log events against a filter pattern, as TestMetricFilter does",
        description="Print one JSON line per matching event (eventNumber, eventMessage, "
        "extractedValues). Exit 0 if anything matched, 1 if nothing did, 2 on a bad pattern "
        "or file.",
    )
    test.add_argument("pattern", help="a CloudWatch Logs filter pattern")
    test.add_argument("file", nargs="?", default="-", help="events, one per line (- = stdin)")
    test.add_argument("--strict", action="store_true", help="refuse bytes that are not UTF-8")
    test.set_defaults(run=_test_pattern)

    sample = commands.add_parser(
        "sample",
        help="generate realistic flow-log records with injected incidents",
        description="Background internet noise (5.7 REJECT/min, as a closed security group "
        "saw it), web traffic on 80/443, and incidents at chosen minutes, one record per line "
        "on stdout.",
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
        "lines, CloudWatch Logs exports, S3 delivery files in text or Parquet, gzip or not), "
        "aggregate per "
        "period as CloudWatch does, and run each alarm. Exit 2 on unusable input.",
    )
    replay.add_argument("--template", required=True, help="cdk.out/<Stack>.template.json")
    replay.add_argument("files", nargs="+", metavar="FILE", help=FILES_HELP)
    replay.add_argument("--format", choices=("text", "json"), default="text")
    replay.add_argument("--from", dest="start", help="first time (Unix seconds or ISO 8601)")
    replay.add_argument("--to", dest="end", help="last time (Unix seconds or ISO 8601)")
    replay.add_argument("--plot", help="write a PNG of each alarm's metric and state")
    replay.add_argument(
        "--strict",
        action="store_true",
        help="refuse lines that are not records of the format and bytes that are not UTF-8 "
        "(default: count, report and skip them)",
    )
    replay.set_defaults(run=_replay)

    tune = commands.add_parser(
        "tune",
        help="thresholds from recorded history: each alarm's metric and the lowest quiet one",
        description="Replay recorded flow logs through the template's metric filters and "
        "rules, and for each alarm report its values (median, p99, maximum), how often the "
        "current threshold fires, and the lowest threshold that fires at most N times a "
        "week. --format context prints a cdk.json context block the demo app reads; python "
        "prints the with_() calls. Exit 2 on unusable input.",
    )
    tune.add_argument("--template", required=True, help="cdk.out/<Stack>.template.json")
    tune.add_argument("files", nargs="+", metavar="FILE", help=FILES_HELP)
    tune.add_argument(
        "--alarms-per-week", type=float, default=0,
        help="alarms a week the suggestion may raise over the history (default 0)",
    )  # fmt: skip
    tune.add_argument("--format", choices=("table", "json", "context", "python"),
                      default="table")  # fmt: skip
    tune.set_defaults(run=_tune)

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
    stream = sys.stdout if out is None else out
    try:
        return args.run(args, stream)
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except (ValueError, OSError) as error:  # every input error subclasses ValueError
        print(f"vpcwatch {args.command}: {_one_line(error)}", file=sys.stderr)
        return 2
    except Exception as error:  # never a traceback; VPCWATCH_DEBUG=1 shows one
        if os.environ.get("VPCWATCH_DEBUG"):
            raise
        print(
            f"vpcwatch {args.command}: unexpected {type(error).__name__}: {_one_line(error)} "
            "(set VPCWATCH_DEBUG=1 for the traceback, and please report it)",
            file=sys.stderr,
        )
        return 2


def _one_line(error: BaseException) -> str:
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.filename}: {error.strerror or type(error).__name__}"
    return " ".join(str(error).split()) or type(error).__name__


def _quiet_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's final flush
    does not raise again (the Python documentation's recipe)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    raise SystemExit(main())
