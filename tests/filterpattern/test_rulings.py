"""One test (or more) per ruling of docs/filter-patterns.md, named after its id."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vpcwatch.filterpattern import FilterPatternError, compile_pattern, test_metric_filter
from vpcwatch.filterpattern.matcher import tokenize

DOC = Path(__file__).resolve().parents[2] / "docs" / "filter-patterns.md"


def matches(pattern: str, message: str) -> bool:
    return compile_pattern(pattern).match(message) is not None


def test_every_ruling_in_the_doc_has_a_test():
    rulings = set(re.findall(r"^\| (R\d+) \|", DOC.read_text(), re.MULTILINE))
    tested = {name.split("_")[1].upper() for name in globals() if re.match(r"test_r\d+_", name)}
    assert rulings and rulings == tested


def test_r1_one_ellipsis_without_condition():
    with pytest.raises(FilterPatternError, match="at most one '...'"):
        compile_pattern("[..., a, ...]")
    with pytest.raises(FilterPatternError, match="',' or ']'"):
        compile_pattern("[... = 1, a]")


def test_r2_the_last_field_takes_the_rest_of_the_line():
    assert matches("[w1=ERROR, w2]", "ERROR WARN message")  # revised: the current guide
    assert compile_pattern("[w1=ERROR, w2]").match("ERROR  WARN   message  ") == {
        "$w1": "ERROR",
        "$w2": "WARN   message",
    }  # as written, trailing blanks dropped
    assert matches("[w1=ERROR, w2]", "ERROR message")
    assert not matches("[a, b]", "one")  # fewer fields than the pattern
    assert not matches("[a, b = 2]", "1 2 3")  # the rest, '2 3', is not 2
    assert matches("[a, b = 2*]", "1 2 3")


def test_r3_ellipsis_is_zero_or_more_fields_anywhere():
    assert matches("[a, ...]", "x")
    assert matches("[..., a]", "x")
    assert matches("[a, ..., b]", "x y")
    assert matches("[a, ..., b]", "x 1 2 3 y")
    assert not matches("[a, ..., b]", "x")


def test_r4_numeric_only_for_unquoted_numbers():
    assert matches("[port = 22]", "22.0")  # numeric: 22.0 == 22
    assert not matches('[port = "22"]', "22.0")  # string comparison
    assert matches('[port = "22"]', "22")
    assert matches("[n = +3, m = 10e-3]", "3 0.01")
    assert matches("[addr = 123.123.123.123]", "123.123.123.123")  # a string, not a number
    assert not matches("[addr = 123.123.123.123]", "123.123.123.1230")
    with pytest.raises(FilterPatternError, match="a number after '>'"):
        compile_pattern('[n > "5"]')


def test_r5_numeric_comparison_on_non_numbers_is_false_even_for_not_equal():
    assert not matches("[bytes != 0]", "-")
    assert not matches("[bytes > 0]", "-")
    assert matches("[bytes != 0]", "1")
    assert matches("[n = 9007199254740993]", "9007199254740993")
    assert not matches("[n = 9007199254740993]", "9007199254740992")  # exact integers


def test_r6_and_binds_tighter_than_or():
    pattern = "[a = 1 || a = 2 && a = 3]"  # 1 || (2 && 3)
    assert matches(pattern, "1")
    assert not matches(pattern, "2")
    json_pattern = "{ $.a = 1 || $.a = 2 && $.b = 3 }"
    assert matches(json_pattern, '{"a": 1, "b": 0}')
    assert not matches(json_pattern, '{"a": 2, "b": 0}')
    assert not matches("{ ($.a = 1 || $.a = 2) && $.b = 3 }", '{"a": 1, "b": 0}')


def test_r7_conditions_only_on_the_slots_own_field():
    with pytest.raises(FilterPatternError, match="a slot may only test its own field"):
        compile_pattern("[a = 1 && b = 2, b]")


def test_r8_star_is_a_wildcard_only_at_either_end():
    assert matches("[a = 4*]", "404")
    assert matches("[a = *html*]", "/index.html?x")
    assert matches("[a = *.html]", "index.html")
    assert not matches("[a = Ev*ent]", "Event")
    assert matches("[a = Ev*ent]", "Ev*ent")
    assert matches('[a = "4*"]', "404")  # quoted values too
    assert matches("[a = *]", "-")
    assert matches("[a = 10.0.*]", "10.0.3.4") and not matches("[a = 10.0.*]", "10.00.3.4")


def test_r9_regex_is_searched_and_limited():
    assert matches("[a = %ERR%]", "xERRx")
    assert not matches("[a = %^ERR$%]", "xERRx")
    assert matches("[a != %^ERR$%]", "xERRx")
    with pytest.raises(FilterPatternError, match="at most 2 regexes"):
        compile_pattern("[a = %x%, b = %y%, c = %z%]")
    with pytest.raises(FilterPatternError, match="no parentheses"):
        compile_pattern("[a = %(x)%]")
    with pytest.raises(FilterPatternError, match="a number after '<='"):
        compile_pattern("[a <= %1%]")


def test_r10_tokenizing():
    assert tokenize('a  "b c" [d e] f') == ["a", "b c", "d e", "f"]
    assert tokenize('a "b c') == ["a", '"b', "c"]  # never closed: ordinary
    assert tokenize('a b"c d"') == ["a", 'b"c', 'd"']  # a quote inside a field
    assert tokenize('"x"y z') == ["x", "y", "z"]
    assert tokenize("\ta\t b \n") == ["a", "b"]


def test_r11_empty_slot_is_one_unnamed_field():
    assert compile_pattern("[a, , b]").match("1 2 3") == {"$a": "1", "$2": "2", "$b": "3"}
    assert not matches("[a, , b]", "1 3")


def test_r12_names_are_unique_and_plain():
    with pytest.raises(FilterPatternError, match="not used before"):
        compile_pattern("[a, b, a]")
    with pytest.raises(FilterPatternError, match="'-' is not allowed"):
        compile_pattern("[account-id]")


def test_r13_term_semantics():
    assert matches("ERROR", "ERRORS")
    assert not matches("ERROR", "error")
    assert matches("?ERROR ?WARN", "WARN only")
    assert matches("INFO ?ERROR", "INFO only")  # ? ignored when mixed
    assert matches("", "anything") and matches('" "', "anything")
    assert matches("- ERROR", "all fine") and not matches("- ERROR", "ERROR")
    assert not matches('"a*b"', "ab") and matches('"a*b"', "a*b")


def test_r14_json_selectors():
    assert not matches("{ $.a != 1 }", "{}")  # missing: false, also for !=
    assert matches("{ $.a[*].b = 2 }", '{"a": [{"b": 1}, {"b": 2}]}')
    assert matches("{ $.flag = true }", '{"flag": true}')
    assert not matches("{ $.flag = 1 }", '{"flag": true}')  # a boolean is not a number
    assert matches("{ $.n = 12 }", '{"n": 12}') and matches('{ $.n = "12" }', '{"n": 12}')
    assert not matches("{ $.a = 1 }", "not json") and not matches("{ $.a = 1 }", "12")


def test_r15_test_metric_filter_message_count():
    with pytest.raises(ValueError, match="1 to 50"):
        test_metric_filter("x", [])


def test_r9_blanks_in_a_regex_and_the_guides_example():
    pattern = "%^starting|^initializing|^shutting down%"
    assert matches(pattern, "shutting down")
    assert not matches(pattern, "skipping initializing and shutting off")
    with pytest.raises(FilterPatternError, match="no multi-byte characters"):
        compile_pattern("%caf\u00e9%")


def test_r14_any_field_bracket_notation_and_wildcard_quotas():
    event = '{"eventType": "UpdateTrail", "sourceIPAddress": "111.111.111.111"}'
    assert matches(r"{ $.* = %111\.111\.111\.1[0-9]{1,2}% }", event)
    assert not matches(r"{ $.* = %^222% }", event)
    assert matches("{ $.['cluster.name'] = \"c\" }", '{"cluster.name": "c"}')
    assert not matches('{ $.cluster.name = "c" }', '{"cluster.name": "c"}')
    with pytest.raises(FilterPatternError, match="at most 1 wildcard .* in one selector"):
        compile_pattern("{ $.coordinates[*][*] = 4 }")
    with pytest.raises(FilterPatternError, match="at most 3 wildcard selectors"):
        compile_pattern("{ $.a[*] = 1 && $.b[*] = 1 && $.c[*] = 1 && $.d[*] = 1 }")
    assert matches(
        "{ $.a[*] = 1 && $.b[*] = 1 && $.c.* = 1 }", '{"a": [1], "b": [1], "c": {"x": 1}}'
    )


def test_r16_a_brace_opens_a_quantifier():
    for bad in ("%a{3,%", "%a{%", "%a{x}%", "%a{3,1}%"):
        with pytest.raises(FilterPatternError, match="a quantifier"):
            compile_pattern(bad)
    assert matches("%a{3}%", "xaaay") and not matches("%a{3}%", "xaay")
    assert matches("%a{2,}%", "aaaa") and matches("%a{1,2}b%", "ab")
    assert matches("%\\{x%", "{x") and matches("%[{]x%", "{x")


def test_r17_regexes_run_in_linear_time():
    import time

    line = "a" * 100_000
    began = time.perf_counter()
    for pattern in ("%a*a*b%", "%a*a*a*b%", "[f = %(a|aa)*b%]".replace("(a|aa)", "a")):
        assert not matches(pattern, line)
    assert time.perf_counter() - began < 1.0  # Python's re took minutes on the first two


def test_r18_patterns_over_1024_characters_are_refused():
    long = "[a = " + "x" * 1020 + "]"
    assert len(long) == 1026
    with pytest.raises(FilterPatternError, match="at most 1024 characters.*has 1026"):
        compile_pattern(long)
    with pytest.raises(FilterPatternError, match="has 1025"):
        test_metric_filter("x" * 1025, ["x"])
    assert compile_pattern("x" * 1024)


def test_r19_a_json_metric_value_reads_the_number_at_its_selector():
    from vpcwatch.replay.metrics import MetricAggregator, MetricSpec

    aggregator = MetricAggregator([MetricSpec("N", "Latency", "{ $.latency = * }", "$.latency", 0)])
    for timestamp, event in [
        (0, '{"latency": 50, "requestType": "GET"}'),  # the guide's example: 50
        (1, '{"latency": 7.5}'),
        (60, '{"latency": "50"}'),  # a string: no value, and not the default either
        (61, '{"latency": true}'),
        (120, '{"other": 1}'),  # no match: the default value
        (180, '{"latency": [3, 4]}'),  # an array never matches (R14): the default
    ]:
        aggregator.add(timestamp, event)
    assert aggregator.datapoints(("N", "Latency"), "Sum", 60) == {0: 57.5, 120: 0.0, 180: 0.0}
    assert aggregator.datapoints(("N", "Latency"), "SampleCount", 60) == {0: 2, 120: 1, 180: 1}
    wildcard = MetricAggregator(
        [MetricSpec("N", "First", "{ $.items[*].ms > 0 }", "$.items[*].ms")]
    )
    wildcard.add(0, '{"items": [{"ms": "x"}, {"ms": 3}, {"ms": 9}]}')
    assert wildcard.datapoints(("N", "First"), "Sum", 60) == {0: 3.0}
