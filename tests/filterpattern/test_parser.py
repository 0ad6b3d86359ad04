"""Parser and renderer: identity on canonical patterns, and errors with positions."""

from __future__ import annotations

from pathlib import Path

import pytest

from vpcwatch.filterpattern import FilterPatternError, compile_pattern, parse, render
from vpcwatch.filterpattern import syntax as s

IDENTITY = [
    line
    for line in (Path(__file__).parent / "identity.txt").read_text().splitlines()
    if not line.startswith("#")
]


@pytest.mark.parametrize("line", IDENTITY)
def test_parse_then_render_gives_the_line_back(line):
    assert render(parse(line)) == line


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ('[version,account,eni,source,destination,srcport,dstport="3389",protocol]',
         '[version, account, eni, source, destination, srcport, dstport = "3389", protocol]'),
        ("[a=1&&a!=2]", "[a = 1 && a != 2]"),
        ("  [ a , ... ]  ", "[a, ...]"),
        ('"ERROR" - "Exiting"', '"ERROR" -"Exiting"'),
        ("{$.a=1||($.b=2)}", "{ $.a = 1 || $.b = 2 }"),
        ("{ $.a IS   NULL }", "{ $.a IS NULL }"),
    ],
)  # fmt: skip
def test_canonical_form(written, canonical):
    assert render(parse(written)) == canonical


def test_tree_shapes():
    tree = parse("[a = 1 && a != 2 || a = 3, b]")
    assert isinstance(tree, s.SpaceDelimited)
    first = tree.slots[0]
    assert isinstance(first, s.Slot) and first.condition is not None
    assert [len(group.items) for group in first.condition.items] == [2, 1]
    assert parse('[a = "22"]').slots[0].condition.items[0].items[0].value == s.Text("22", True)
    assert parse("[a = 22]").slots[0].condition.items[0].items[0].value == s.Number("22")
    assert parse("[a = 123.123.123.123]").slots[0].condition.items[0].items[0].value == s.Text(
        "123.123.123.123"
    )


@pytest.mark.parametrize(
    ("pattern", "position", "expected"),
    [
        ("[a, b = c && d = e]", 13, "a condition on 'b'"),
        ("[a =", 4, "a value"),
        ("[a = 1", 6, "',' or ']'"),
        ("[a, b] x", 7, "the end of the pattern"),
        ("[a, ..., b, ...]", 12, "at most one '...'"),
        ("[a, a]", 4, "a field name not used before"),
        ("[a > x]", 5, "a number after '>'"),
        ("[a < %x%]", 5, "a number after '<'"),
        ("[a = %x(y)%]", 7, "no parentheses"),
        ("[a = %x(y)%]", 7, "no parentheses, no multi-byte characters"),
        ("[a = %x{3,%]", 7, "a quantifier {n}, {n,} or {n,m}"),
        ("[a = %é%]", 6, "no parentheses, no multi-byte characters"),
        ("[a = %x]", 5, "a closing '%'"),
        ("[a = %[%]", 6, "a valid regex"),
        ("[a = %a%, b = %b%, c = %c%]", 23, "at most 2 regexes"),
        ('[a = "open]', 5, "a closing '\"'"),
        ("[a ~ 1]", 3, "an operator"),
        ("[-x]", 1, "a field name"),
        ("a:b", 1, "a blank between terms"),
        ("ERROR -", 7, "a term after '-' or '?'"),
        ("{ $.a = }", 8, "a value"),
        ("{ $.a = 1", 9, "'&&', '||' or '}'"),
        ("{ a = 1 }", 2, "a selector"),
        ("{ ($.a = 1 }", 11, "'&&', '||' or ')'"),
        ("{ $.a = 1 } x", 12, "the end of the pattern"),
        ("{" + "(" * 40 + "$.a = 1" + ")" * 40 + "}", 33, "at most 32 nested"),
    ],
)
def test_errors_give_position_and_expectation(pattern, position, expected):
    with pytest.raises(FilterPatternError) as raised:
        parse(pattern)
    error = raised.value
    assert error.position == position, str(error)
    assert expected in error.expected
    assert f"at position {position}" in str(error)
    assert str(error).splitlines()[-1].index("^") == position + 2  # the pointer lines up


def test_filter_pattern_error_is_a_value_error():
    assert issubclass(FilterPatternError, ValueError)


def test_non_string_pattern_is_a_type_error():
    with pytest.raises(TypeError, match="pattern must be a string"):
        parse(None)  # type: ignore[arg-type]


def test_compile_is_cached_and_reports_its_kind():
    assert compile_pattern("[a]") is compile_pattern("[a]")
    assert compile_pattern("[a]").kind == "space-delimited"
    assert compile_pattern("ERROR").kind == "terms"
    assert compile_pattern("{ $.a = 1 }").kind == "json"
