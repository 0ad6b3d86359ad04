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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vpcwatch", description="Network threat detection on VPC Flow Logs, offline."
    )
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
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args, sys.stdout if out is None else out)


if __name__ == "__main__":
    raise SystemExit(main())
