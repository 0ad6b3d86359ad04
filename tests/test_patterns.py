"""The FlowFilter builder: seed patterns, operators, CIDRs, limits and every bad argument."""

from __future__ import annotations

import random

import pytest

from vpcwatch import FieldError, FlowLogFormat, PatternBuildError
from vpcwatch.filterpattern import compile_pattern, parse
from vpcwatch.patterns import FilterOperator, FlowFilter, Regex

DEFAULT = FlowLogFormat.default()
ALL = FlowLogFormat.all_fields()


def records(count: int, seed: int = 7) -> list[str]:
    """Default-format records with ports, addresses and sizes around the seeds' values."""
    rng = random.Random(seed)
    lines = []
    for _ in range(count):
        port = rng.choice([22, 80, 443, 3389, 0, 6379, "-"])
        lines.append(
            " ".join(
                map(
                    str,
                    [2, "123456789010", "eni-1235b8ca123456789",
                     rng.choice(["10.0.1.5", "203.0.113.9", "198.51.100.20", "-"]),
                     rng.choice(["10.0.1.5", "10.0.0.199", "123.123.123.123", "-"]),
                     rng.randint(1024, 65535), port, rng.choice([6, 17, 1]),
                     rng.randint(1, 50), rng.choice([60, 4249, 100_000, 150_000]),
                     1418530010, 1418530070, rng.choice(["ACCEPT", "REJECT"]),
                     rng.choice(["OK", "OK", "NODATA"])],
                )
            )
        )  # fmt: skip
    return lines


def same_meaning(pattern_a: str, pattern_b: str, lines: list[str]) -> None:
    a, b = compile_pattern(pattern_a), compile_pattern(pattern_b)
    decided = [(a.match(line) is not None, b.match(line) is not None) for line in lines]
    assert all(x == y for x, y in decided)
    assert any(x for x, _ in decided) and not all(x for x, _ in decided)


class TestSeedPatterns:
    def test_seed_001_rdp_filter_has_identical_meaning(self):
        seed = (
            '[version, account, eni, source, destination, srcport, dstport="3389", protocol, '
            "packets, bytes, windowstart, windowend, action, flowlogstatus]"
        )
        built = DEFAULT.filter().where("dstport", "=", 3389)
        assert str(built) == (
            "[version, account_id, interface_id, srcaddr, dstaddr, srcport, dstport = 3389, ...]"
        )
        same_meaning(seed, str(built), records(400))

    def test_seed_002_exfiltration_filter_has_identical_meaning(self):
        seed_format = FlowLogFormat.parse(
            "${account-id} ${action} ${az-id} ${bytes} ${dstaddr} ${dstport} ${end} "
            "${flow-direction} ${instance-id}"
        )
        seed = (
            "[account_id, action, az_id, bytes > 100000, "
            "dstaddr!=123.123.123.123 && dstaddr!=210.210.210.210, dstport, end, "
            "flow_direction = egress, ...]"
        )
        built = (
            seed_format.filter()
            .where("bytes", ">", 100_000)
            .where("dstaddr", "not in", ["123.123.123.123", "210.210.210.210"])
            .where("flow_direction", "=", "egress")
        )
        assert str(built) == (
            "[account_id, action, az_id, bytes > 100000, "
            "dstaddr != 123.123.123.123 && dstaddr != 210.210.210.210, dstport, end, "
            "flow_direction = egress, ...]"
        )
        rng = random.Random(3)
        lines = [
            f"123456789012 ACCEPT apne1-az1 {rng.choice([100, 100_000, 100_001, 150_000, '-'])} "
            f"{rng.choice(['123.123.123.123', '210.210.210.210', '198.51.100.7'])} 443 "
            f"1700000000 {rng.choice(['egress', 'ingress'])} i-0abc"
            for _ in range(300)
        ]
        same_meaning(seed, str(built), lines)


class TestRendering:
    def test_conditions_render_in_format_order_not_call_order(self):
        flt = DEFAULT.filter().where("action", "=", "REJECT").where("dstport", "=", 22)
        assert str(flt) == (
            "[version, account_id, interface_id, srcaddr, dstaddr, srcport, dstport = 22, "
            "protocol, packets, bytes, start, end, action = REJECT, ...]"
        )

    def test_trailing_fields_collapse_only_when_shorter(self):
        fmt = FlowLogFormat.of("dstport", "end")
        assert str(fmt.filter().where("dstport", "=", 22)) == "[dstport = 22, end]"
        assert str(DEFAULT.filter().where("log_status", "=", "OK")).endswith("log_status = OK]")

    def test_empty_filter(self):
        assert str(DEFAULT.filter()) == "[version, ...]"

    @pytest.mark.parametrize(
        ("op", "value", "rendered"),
        [
            ("=", 22, "dstport = 22"),
            ("!=", 22, "dstport != 22"),
            ("<", 1024, "dstport < 1024"),
            ("<=", 1024, "dstport <= 1024"),
            (">", 1024, "dstport > 1024"),
            (">=", 1024, "dstport >= 1024"),
            ("in", [22, 3389], "dstport = 22 || dstport = 3389"),
            ("not in", [22, 3389], "dstport != 22 && dstport != 3389"),
            ("IN", (22,), "dstport = 22"),
            ("==", 22, "dstport = 22"),
            (FilterOperator.NOT_IN, [0], "dstport != 0"),
        ],
    )
    def test_operators(self, op, value, rendered):
        assert rendered in str(DEFAULT.filter().where("dstport", op, value))

    def test_several_conditions_on_a_field_are_anded_in_normal_form(self):
        flt = DEFAULT.filter().where("dstport", "in", [22, 3389]).where("dstport", "!=", 0)
        slot = "dstport = 22 && dstport != 0 || dstport = 3389 && dstport != 0"
        assert slot in str(flt)

    def test_strings_are_quoted_when_they_would_read_as_numbers_or_break_the_pattern(self):
        flt = (
            DEFAULT.filter()
            .where("account_id", "=", "123456789012")
            .where("interface_id", "=", "eni-1*")
            .where("action", "in", ["ACCEPT", "a b"])
        )
        text = str(flt)
        assert 'account_id = "123456789012"' in text
        assert "interface_id = eni-1*" in text
        assert 'action = ACCEPT || action = "a b"' in text
        assert compile_pattern(text).match(
            "2 123456789012 eni-1ab x y 1 2 6 1 1 1 1 ACCEPT OK"
        ) == compile_pattern(text).match("2 123456789012 eni-1ab x y 1 2 6 1 1 1 1 ACCEPT OK")

    def test_regex_values(self):
        flt = DEFAULT.filter().where("interface_id", "=", Regex("^eni-0a"))
        assert "interface_id = %^eni-0a%" in str(flt)

    def test_cidr_blocks_become_wildcards(self):
        flt = DEFAULT.filter().where("srcaddr", "not in", ["10.0.0.0/16", "172.16.0.0/16"])
        assert "srcaddr != 10.0.* && srcaddr != 172.16.*" in str(flt)
        flt = DEFAULT.filter().where("dstaddr", "=", "203.0.113.7/32")
        assert "dstaddr = 203.0.113.7," in str(flt)

    def test_cidr_becomes_a_regex_when_much_shorter(self):
        flt = DEFAULT.filter().where("srcaddr", "in", ["10.0.0.128/25"])
        assert "srcaddr = %^10\\.0\\.0\\.12[8-9]$|" in str(flt)

    def test_regex_budget_is_spent_where_it_saves_most(self):
        flt = (
            DEFAULT.filter()
            .where("interface_id", "=", Regex("^eni-"))
            .where("srcaddr", "in", ["10.0.16.0/20"])
            .where("dstaddr", "in", ["10.0.0.128/25"])
        )
        tree = parse(str(flt))
        regexes = str(flt).count("%") // 2
        assert regexes == 2 and "dstaddr = %" in str(flt) and "srcaddr = 10.0.16.*" in str(flt)
        assert tree is not None

    def test_ipv6_blocks(self):
        flt = DEFAULT.filter().where("srcaddr", "in", ["2001:db8::/32", "10.0.0.0/8"])
        assert "srcaddr = 10.* || srcaddr = 2001:db8:*" in str(flt)

    def test_required_fields_and_rebinding(self):
        flt = DEFAULT.filter().where("action", "=", "REJECT").where("dstport", "=", 22)
        assert flt.required_fields == ("dstport", "action")
        rebound = flt.for_format(ALL)
        assert rebound.format == ALL and rebound.required_fields == ("dstport", "action")
        with pytest.raises(FieldError, match="'action' is not in this flow-log format"):
            flt.for_format(FlowLogFormat.of("dstport"))

    def test_filters_are_immutable_values(self):
        base = DEFAULT.filter()
        changed = base.where("dstport", "=", 22)
        assert base.conditions == () and changed is not base
        assert changed == DEFAULT.filter().where("dstport", "=", 22)
        with pytest.raises(AttributeError):
            changed.conditions = ()  # type: ignore[misc]
        assert repr(changed).startswith("<FlowFilter [version")

    def test_format_filter_returns_a_flow_filter(self):
        assert isinstance(DEFAULT.filter(), FlowFilter)


class TestBadArguments:
    @pytest.mark.parametrize(
        ("field", "op", "value", "error", "message"),
        [
            ("flow_direction", "=", "egress", FieldError,
             "'flow_direction' is not in this flow-log format \\(its fields: version, account_id"),
            ("nonsense", "=", 1, FieldError, "unknown flow-log field 'nonsense'"),
            ("dstport", "~", 1, PatternBuildError, "op must be one of '=', '!=', '<'"),
            ("dstport", "=", "22", PatternBuildError, "dstport is a number field: give a number"),
            ("dstport", "=", True, PatternBuildError, "dstport is a number field"),
            ("dstport", "=", float("nan"), PatternBuildError, "cannot be written"),
            ("dstport", "=", 1e30, PatternBuildError, "cannot be written"),
            ("action", "=", 1, PatternBuildError, "action is a string field: give a string"),
            ("action", ">", "A", PatternBuildError, "'>' compares numbers; action is a string"),
            ("action", "=", "", PatternBuildError, "is not allowed \\(empty, blank"),
            ("action", "=", 'a"b', PatternBuildError, "is not allowed"),
            ("action", "=", "AC*PT", PatternBuildError, "'\\*' is a wildcard only at the start"),
            ("dstport", "in", 22, PatternBuildError, "'in' on dstport takes a list of values"),
            ("action", "not in", "ACCEPT", PatternBuildError, "takes a list of values"),
            ("dstport", "in", [], PatternBuildError, "'in' on dstport needs a value"),
            ("srcaddr", "=", "10.0.0.0/33", PatternBuildError, "srcaddr: '10.0.0.0/33' is not"),
            ("srcaddr", "=", "10.0.0.1/24", PatternBuildError, "has host bits set"),
            ("srcaddr", "=", "my-laptop", PatternBuildError, "is not an IP address or CIDR"),
            ("dstport", ">", Regex("1"), PatternBuildError, "needs a number, not a Regex"),
        ],
    )  # fmt: skip
    def test_bad_where(self, field, op, value, error, message):
        with pytest.raises(error, match=message):
            DEFAULT.filter().where(field, op, value)

    def test_regex_characters_are_checked(self):
        with pytest.raises(PatternBuildError, match="no parentheses"):
            Regex("(a|b)")
        with pytest.raises(PatternBuildError, match="takes a string"):
            Regex(5)  # type: ignore[arg-type]

    def test_at_most_two_regexes(self):
        flt = DEFAULT.filter().where("action", "=", Regex("A")).where("srcaddr", "=", Regex("1"))
        with pytest.raises(PatternBuildError, match="at most 2 regexes; this one has 3"):
            flt.where("dstaddr", "=", Regex("2"))

    def test_regexes_repeated_by_the_or_of_ands_form_count(self):
        flt = (
            DEFAULT.filter()
            .where("interface_id", "=", Regex("^eni-"))
            .where("interface_id", "in", ["eni-1*", "eni-2*", "eni-3*"])
        )
        with pytest.raises(PatternBuildError, match="holds 3 regexes once its conditions"):
            str(flt)

    def test_address_regexes_give_way_when_repeated(self):
        base = DEFAULT.filter().where("srcaddr", "=", "10.0.4.0/22")
        two = base.where("srcaddr", "in", ["10.0.0.0/8", "52.0.0.0/8"])
        assert str(two).count("srcaddr = %^10\\.0\\.[4-7]\\.%") == 2  # repeated, within budget
        three = base.where("srcaddr", "in", ["10.0.0.0/8", "52.0.0.0/8", "54.0.0.0/8"])
        text = str(three)
        assert "%" not in text and "srcaddr = 10.0.4.* && srcaddr = 54.*" in text

    def test_too_long_names_the_length_and_the_condition(self):
        addresses = [f"198.51.{i}.{j * 3 + 1}" for i in range(10) for j in range(10)]
        flt = DEFAULT.filter().where("dstaddr", "not in", addresses)
        with pytest.raises(
            PatternBuildError, match=r"is \d{4} characters; AWS allows 1024.*dstaddr"
        ):
            str(flt)

    def test_an_ipv6_block_that_cannot_be_exact(self):
        flt = DEFAULT.filter().where("srcaddr", "in", ["2001:db8::/48"])
        with pytest.raises(PatternBuildError, match="compressed"):
            str(flt)
