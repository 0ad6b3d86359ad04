"""The exceptions vpcwatch raises.

Every error caused by bad input subclasses :class:`ValueError`, so callers that
only care about "the input was wrong" can catch that, and tests can match the
message. Nothing here imports anything: every layer may use it.
"""

from __future__ import annotations


class FieldError(ValueError):
    """A flow-log field name is unknown, duplicated, or missing from a format."""


class FormatError(ValueError):
    """A flow-log format string, field list or record does not fit the rules."""


class PatternBuildError(ValueError):
    """A filter built with :class:`vpcwatch.patterns.FlowFilter` is not valid."""


class FilterPatternError(ValueError):
    """A CloudWatch Logs filter pattern cannot be parsed.

    Attributes:
        pattern: the pattern text.
        position: 0-based character offset where the problem was found.
        expected: what the parser expected at that position.
    """

    def __init__(self, pattern: str, position: int, expected: str) -> None:
        self.pattern = pattern
        self.position = position
        self.expected = expected
        pointer = " " * position + "^"
        super().__init__(
            f"invalid filter pattern at position {position}: expected {expected}\n"
            f"  {pattern}\n  {pointer}"
        )
