"""An offline evaluator of CloudWatch Logs filter patterns.

``compile_pattern(text).match(message)`` returns the extracted values of a matching
event (``{"$dstport": "22", ...}``; ``{}`` for term and JSON patterns) or ``None``.
``test_metric_filter`` mirrors the TestMetricFilter API. Stages: :mod:`.parser`
(text -> :mod:`.syntax` tree), :mod:`.render` (tree -> text), :mod:`.matcher`
(tree -> predicate), :mod:`.sql` (tree -> SQL, the vectorised fast path).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from vpcwatch.errors import FilterPatternError
from vpcwatch.filterpattern import syntax
from vpcwatch.filterpattern.matcher import JsonMatcher, SpaceDelimitedMatcher, TermsMatcher
from vpcwatch.filterpattern.parser import parse
from vpcwatch.filterpattern.render import render

__all__ = [
    "CompiledPattern",
    "FilterPatternError",
    "compile_pattern",
    "parse",
    "render",
    "test_metric_filter",
]

MAX_TEST_MESSAGES = 50
"""TestMetricFilter takes 1 to 50 messages."""

MAX_PATTERN_LENGTH = 1024
"""PutMetricFilter and TestMetricFilter refuse longer filter patterns."""


@dataclass(frozen=True)
class CompiledPattern:
    """A parsed filter pattern, ready to match log events.

    Attributes:
        pattern: the text it was compiled from.
        tree: its syntax tree.
    """

    pattern: str
    tree: syntax.Pattern
    _matcher: Any = field(repr=False, compare=False)

    @property
    def kind(self) -> str:
        """``"space-delimited"``, ``"terms"`` or ``"json"``."""
        return {
            syntax.SpaceDelimited: "space-delimited",
            syntax.Terms: "terms",
            syntax.Json: "json",
        }[type(self.tree)]

    def match(self, message: str) -> dict[str, str] | None:
        """The extracted values if ``message`` matches, else ``None``."""
        return self._matcher.match(message)


_MATCHERS = {
    syntax.SpaceDelimited: SpaceDelimitedMatcher,
    syntax.Terms: TermsMatcher,
    syntax.Json: JsonMatcher,
}


@lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> CompiledPattern:
    """Parse and compile a filter pattern.

    Raises:
        FilterPatternError: the pattern is invalid (or longer than 1,024 characters); the
            message gives the position and what was expected.
    """
    if isinstance(pattern, str) and len(pattern) > MAX_PATTERN_LENGTH:
        raise FilterPatternError(
            pattern[: MAX_PATTERN_LENGTH + 10] + "...",
            MAX_PATTERN_LENGTH,
            f"at most {MAX_PATTERN_LENGTH} characters, as PutMetricFilter and "
            f"TestMetricFilter take (this pattern has {len(pattern)})",
        )
    tree = parse(pattern)
    return CompiledPattern(pattern, tree, _MATCHERS[type(tree)](tree))


def match_event(compiled: CompiledPattern, number: int, message: str) -> dict[str, Any] | None:
    """One TestMetricFilter ``matches[]`` entry, or ``None`` when the message does not match."""
    extracted = compiled.match(message)
    if extracted is None:
        return None
    return {"eventNumber": number, "eventMessage": message, "extractedValues": extracted}


def test_metric_filter(pattern: str, messages: Iterable[str]) -> list[dict[str, Any]]:
    """What the TestMetricFilter API returns as ``matches``, computed offline.

    Args:
        pattern: the filter pattern.
        messages: 1 to 50 log event messages, as the API takes.

    Returns:
        One dict per matching message: ``eventNumber`` (1-based), ``eventMessage``,
        ``extractedValues``.

    Raises:
        FilterPatternError: the pattern is invalid.
        ValueError: not 1 to 50 messages.
    """
    messages = list(messages)
    if not 1 <= len(messages) <= MAX_TEST_MESSAGES:
        raise ValueError(
            f"messages must hold 1 to {MAX_TEST_MESSAGES} log events (as TestMetricFilter "
            f"takes), got {len(messages)}"
        )
    compiled = compile_pattern(pattern)
    found = (match_event(compiled, n, m) for n, m in enumerate(messages, start=1))
    return [entry for entry in found if entry is not None]


test_metric_filter.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
