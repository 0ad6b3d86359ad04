"""Round trip: every filter the builder renders is parsed by the evaluator and matches
exactly the records its conditions describe (an independent oracle, using ipaddress)."""

from __future__ import annotations

import ipaddress

from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from vpcwatch import FlowLogFormat, PatternBuildError
from vpcwatch.filterpattern import compile_pattern
from vpcwatch.patterns import FilterOperator, Regex

FMT = FlowLogFormat.default()
NUMBER_FIELDS = ["dstport", "srcport", "bytes", "protocol"]
BLOCKS = ["10.0.0.0/16", "10.0.16.0/20", "203.0.113.0/25", "198.51.100.7/32", "0.0.0.0/0",
          "2001:db8::/32", "52.216.0.0/15"]  # fmt: skip

addresses = st.one_of(
    st.sampled_from(["10.0.3.4", "10.0.17.1", "10.1.0.1", "203.0.113.100", "203.0.113.200",
                     "198.51.100.7", "52.217.3.3", "2001:db8::5", "2001:db9::5", "-"]),
    st.integers(0, 2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n))),
)  # fmt: skip
numbers = st.one_of(st.integers(0, 70000).map(str), st.just("-"))
records = st.fixed_dictionaries(
    {
        "srcaddr": addresses,
        "dstaddr": addresses,
        "srcport": numbers,
        "dstport": st.one_of(st.sampled_from(["22", "3389", "0", "443"]), numbers),
        "bytes": numbers,
        "protocol": st.sampled_from(["6", "17", "1", "-"]),
        "action": st.sampled_from(["ACCEPT", "REJECT", "-"]),
        "interface_id": st.sampled_from(["eni-0abc", "eni-1def", "eni-0a"]),
    }
)

number_condition = st.tuples(
    st.sampled_from(NUMBER_FIELDS),
    st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "in", "not in"]),
    st.integers(0, 70000),
    st.lists(st.sampled_from([0, 22, 443, 3389, 6379]), min_size=1, max_size=3),
)
text_condition = st.tuples(
    st.just("action"),
    st.sampled_from(["=", "!=", "in", "not in"]),
    st.sampled_from(["ACCEPT", "REJECT", "ACC*", "*JECT", "*"]),
    st.lists(st.sampled_from(["ACCEPT", "REJECT", "*EPT"]), min_size=1, max_size=2),
)
address_condition = st.tuples(
    st.sampled_from(["srcaddr", "dstaddr"]),
    st.sampled_from(["=", "!=", "in", "not in"]),
    st.sampled_from(BLOCKS),
    st.lists(st.sampled_from(BLOCKS), min_size=1, max_size=3),
)
regex_condition = st.tuples(
    st.just("interface_id"),
    st.sampled_from(["=", "!="]),
    st.sampled_from(["^eni-0", "a$", "def"]),
    st.just([]),
)
conditions = st.lists(
    st.one_of(number_condition, text_condition, address_condition, regex_condition),
    min_size=1,
    max_size=4,
)


def _line(record: dict[str, str]) -> str:
    values = {
        **dict.fromkeys(FMT.names, "x"),
        "version": "2",
        "packets": "1",
        "start": "1",
        "end": "2",
        "log_status": "OK",
    }
    values.update(record)
    return " ".join(values[name] for name in FMT.names)


def _number(token):
    return None if token == "-" else int(token)


def _text_equal(value: str, token: str) -> bool:
    if value == "*":
        return True
    if value.startswith("*"):
        return token.endswith(value[1:])
    if value.endswith("*"):
        return token.startswith(value[:-1])
    return token == value


def _in_block(block: str, token: str) -> bool:
    try:
        address = ipaddress.ip_address(token)
    except ValueError:
        return False
    network = ipaddress.ip_network(block)
    return address.version == network.version and address in network


def _oracle(field, op, value, many, token) -> bool:
    """What the condition means, decided without any filter-pattern machinery."""
    import re

    if field == "interface_id":
        found = re.search(value, token) is not None
        return found if op == "=" else not found
    if field in NUMBER_FIELDS:
        number = _number(token)
        if number is None:
            return False
        compare = {"=": number.__eq__, "!=": number.__ne__, "<": number.__lt__,
                   "<=": number.__le__, ">": number.__gt__, ">=": number.__ge__}  # fmt: skip
        if op == "in":
            return number in many
        if op == "not in":
            return number not in many
        return compare[op](value)
    equal = _in_block if field in ("srcaddr", "dstaddr") else _text_equal
    if op == "=":
        return equal(value, token)
    if op == "!=":
        return not equal(value, token)
    if op == "in":
        return any(equal(v, token) for v in many)
    return not any(equal(v, token) for v in many)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conditions, st.lists(records, min_size=1, max_size=20))
def test_rendered_pattern_matches_exactly_what_the_conditions_describe(chosen, sample):
    flt = FMT.filter()
    for field, op, value, many in chosen:
        given_value = many if FilterOperator.of(op).takes_many else value
        if field == "interface_id":
            given_value = Regex(value)
        if field == "interface_id" and sum(f == "interface_id" for f, *_ in chosen) > 2:
            continue
        flt = flt.where(field, op, given_value)
    try:
        text = str(flt)
    except PatternBuildError as error:  # e.g. a /25 without regex budget: over 1024 characters
        assert "AWS allows 1024" in str(error)
        reject()
    compiled = compile_pattern(text)
    for record in sample:
        expected = all(
            _oracle(field, op, value, many, record[field])
            for field, op, value, many in chosen
            if not (field == "interface_id" and sum(f == "interface_id" for f, *_ in chosen) > 2)
        )
        assert (compiled.match(_line(record)) is not None) is expected, (text, record)
