"""Every example with a stated outcome in the CloudWatch Logs filter-pattern guide.

Source: the CloudWatch Logs user guide, "Filter and pattern syntax" (archived as
awsdocs/amazon-cloudwatch-logs-user-guide, doc_source/FilterAndPatternSyntax.md),
plus the seed articles' flow-log filters. Each case: pattern, message, and the
expected extracted values (``None``: no match). Where the guide contradicts itself,
the case says so and follows the ruling in docs/filter-patterns.md.
"""

from __future__ import annotations

import json

import pytest

from vpcwatch.filterpattern import FilterPatternError, compile_pattern, test_metric_filter

APACHE = [
    '127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 200 1534',
    '127.0.0.1 - frank [10/Oct/2000:13:35:22 -0700] "GET /apache_pb.gif HTTP/1.0" 500 5324',
    '127.0.0.1 - frank [10/Oct/2000:13:50:35 -0700] "GET /apache_pb.gif HTTP/1.0" 200 4355',
]
APACHE_FIELDS = "[ip, user, username, timestamp, request, status_code, bytes"
OR_EVENTS = ["ERROR WARN message", "ERROR message", "WARN message"]

GUIDE_JSON = json.dumps(
    {
        "eventType": "UpdateTrail",
        "sourceIPAddress": "111.111.111.111",
        "arrayKey": ["value", "another value"],
        "objectList": [{"name": "a", "id": 1}, {"name": "b", "id": 2}],
        "SomeObject": None,
        "ThisFlag": True,
    }
)
COMPOUND_JSON = json.dumps(
    {
        "user": {"id": 1, "email": "John.Stiles@example.com"},
        "users": [
            {"id": 2, "email": "John.Doe@example.com"},
            {"id": 3, "email": "Jane.Doe@example.com"},
        ],
        "actions": ["GET", "PUT", "DELETE"],
        "coordinates": [[0, 1, 2], [4, 5, 6], [7, 8, 9]],
    }
)

# Example flow-log records of the Amazon VPC guide.
ACCEPTED_SSH = (
    "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 "
    "1418530010 1418530070 ACCEPT OK"
)
REJECTED_RDP = (
    "2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 "
    "1418530010 1418530070 REJECT OK"
)
SEED_001 = (
    '[version, account, eni, source, destination, srcport, dstport="3389", protocol, '
    "packets, bytes, windowstart, windowend, action, flowlogstatus]"
)


def _matching(pattern: str, messages: list[str]) -> list[int]:
    return [m["eventNumber"] for m in test_metric_filter(pattern, messages)]


# -- term patterns -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "messages", "expected"),
    [
        # Example 1: a single term matches anywhere, also inside a word.
        ("ERROR", ["[ERROR] A fatal exception has occurred", "Exiting with ERRORCODE: -1"], [1, 2]),
        # Example 2: include a term and exclude a term.
        ('"ERROR" - "Exiting"', ["[ERROR] A fatal exception has occurred",
                                 "Exiting with ERRORCODE: -1"], [1]),
        # Example 3: multiple terms, all must appear.
        ("ERROR Exception", ["[ERROR] Caught IllegalArgumentException",
                             "[ERROR] Unhandled Exception", "[ERROR] Unhandled"], [1, 2]),
        ("Failed to process the request", ["[WARN] Failed to process the request",
                                           "[ERROR] Unable to continue: Failed to process the "
                                           "request", "[WARN] Failed"], [1, 2]),
        # OR pattern matching.
        ("ERROR", OR_EVENTS, [1, 2]),
        ("?ERROR ?WARN", OR_EVENTS, [1, 2, 3]),
        ("ERROR WARN", OR_EVENTS, [1]),
        ("ERROR -WARN", OR_EVENTS, [2]),
        # Space-delimited OR; w2 takes the rest of the line (R2, revised: the current guide).
        ("[w1=ERROR, w2]", OR_EVENTS, [1, 2]),
        ("[w1=ERROR || w1=WARN, w2]", OR_EVENTS, [1, 2, 3]),
        # Quoted phrase: the exact phrase.
        ('"INTERNAL SERVER ERROR"', ["500 INTERNAL SERVER ERROR", "INTERNAL ERROR SERVER"], [1]),
        # Case sensitive.
        ("ERROR", ["error", "Error", "ERROR"], [3]),
    ],
)  # fmt: skip
def test_term_and_or_examples(pattern, messages, expected):
    assert _matching(pattern, messages) == expected


def test_guide_contradiction_on_negated_space_delimited_example_is_rejected():
    """The guide shows '[w1=!ERROR&&w1=!WARN, w2]' and says it matches lines holding both
    words: '=!' is no operator and the statement contradicts the field-count rule. We
    reject the pattern rather than guess."""
    with pytest.raises(FilterPatternError):
        compile_pattern("[w1=!ERROR&&w1=!WARN, w2]")


# -- JSON patterns -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern",
    [
        '{ $.eventType = "UpdateTrail" }',
        "{ $.sourceIPAddress != 123.123.* }",
        '{ $.arrayKey[0] = "value" }',
        "{ $.objectList[1].id = 2 }",
        "{ $.SomeObject IS NULL }",
        "{ $.SomeOtherObject NOT EXISTS }",
        "{ $.ThisFlag IS TRUE }",
    ],
)
def test_json_examples_that_match(pattern):
    assert compile_pattern(pattern).match(GUIDE_JSON) == {}


@pytest.mark.parametrize(
    "pattern",
    [
        "{ $.ThisFlag IS FALSE }",
        "{ $.SomeObject NOT EXISTS }",
        "{ $.eventType IS NULL }",
        '{ $.arrayKey[5] = "value" }',
        "{ $.eventType[0] = UpdateTrail }",  # not an array: false
        "{ $.objectList[0].missing = 1 }",
    ],
)
def test_json_examples_that_do_not_match(pattern):
    assert compile_pattern(pattern).match(GUIDE_JSON) is None


@pytest.mark.parametrize(
    ("pattern", "matches"),
    [
        ('{ ($.user.id = 1) && ($.users[0].email = "John.Doe@example.com") }', True),
        ('{ ($.user.id = 2 && $.users[0].email = "nonmatch") || $.actions[2] = "GET" }', False),
        ('{ $.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = nonmatch '
         "&& $.actions[2] = nomatch }", True),
        ('{ ($.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = nonmatch) '
         "&& $.actions[2] = nomatch }", False),
    ],
)  # fmt: skip
def test_json_compound_examples(pattern, matches):
    assert (compile_pattern(pattern).match(COMPOUND_JSON) is not None) is matches


def test_json_or_examples():
    events = ['{"foo": "bar"}', '{"foo": "baz"}']
    assert _matching("{$.foo = bar}", events) == [1]
    assert _matching("{$.foo = baz }", events) == [2]
    assert _matching("{$.foo = bar || $.foo = baz }", events) == [1, 2]


def test_json_selector_on_an_array_never_matches():
    event = '{"users": [1, 2, 3]}'
    assert compile_pattern("{$.users = 1}").match(event) is None
    assert compile_pattern("{$.users != 1}").match(event) is None


@pytest.mark.parametrize(
    ("pattern", "event", "matches"),
    [
        ("{ $.latency >= 500 }", '{"latency": 500}', True),
        ("{ $.numbers[0] < 10e3 }", '{"numbers": [9999]}', True),
        ("{ $.numbers[0] < 10e-3 }", '{"numbers": [0.02]}', False),
        ("{ $.processes[4].averageRuntime <= 55.5 }",
         '{"processes": [{}, {}, {}, {}, {"averageRuntime": 55.5}]}', True),
        ("{ $.errorCode = 400 }", '{"errorCode": 400}', True),
        ("{ $.errorCode != 500 }", '{"errorCode": 400}', True),
        ("{ $.latency > +1000 }", '{"latency": 1000}', False),
        ("{ $.latency = * }", '{"latency": 12}', True),
        ('{ $.eventName = *Event }', '{"eventName": "PutEvent"}', True),
        ('{ $.eventName = Event* }', '{"eventName": "EventId"}', True),
        # "Ev*ent will only match the actual string Ev*ent".
        ('{ $.eventName = "Ev*ent" }', '{"eventName": "Event"}', False),
        ('{ $.eventName = "Ev*ent" }', '{"eventName": "Ev*ent"}', True),
    ],
)  # fmt: skip
def test_json_numeric_and_wildcard_examples(pattern, event, matches):
    assert (compile_pattern(pattern).match(event) is not None) is matches


# -- space-delimited patterns ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (APACHE_FIELDS + "]", [1, 2, 3]),
        ("[..., status_code, bytes]", [1, 2, 3]),
        ("[ip, user, ..., status_code, bytes]", [1, 2, 3]),
        ("[ip, user, ...]", [1, 2, 3]),
        (APACHE_FIELDS + " > 1000]", [1, 2, 3]),
        (APACHE_FIELDS + " > 5000]", [2]),
        ("[ip, user, username, timestamp, request, status_code = 200, bytes]", [1, 3]),
        ("[ip, user, username, timestamp, request, status_code = 4*, bytes]", []),
        ("[ip, user, username, timestamp, request, status_code = 5*, bytes]", [2]),
        ("[ip, user, username, timestamp, request = *html*, status_code = 4*, bytes]", []),
        ("[ip, user, username, timestamp, request = *gif*, status_code, bytes]", [1, 2, 3]),
        ("[ip, user, username, timestamp, request, status_code = 2* && status_code != 200, "
         "bytes]", []),
        ("[ip, user, username, timestamp, request, status_code = 4* && status_code != 403, "
         "bytes]", []),
        # Six names over seven fields: the last takes the rest of the line (R2, revised).
        ("[ip, user, username, request, status_code, bytes]", [1, 2, 3]),
    ],
)  # fmt: skip
def test_space_delimited_examples(pattern, expected):
    assert _matching(pattern, APACHE) == expected


def test_extracted_values_example():
    """The guide's example: '...' and the unnamed trailing slot are extracted by position.

    (The guide prints the event with escaped quotes and '$request' as
    'GET /products/index.html HTTP/1.0', which its event does not hold; we use the event.)
    """
    event = '127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534'
    assert test_metric_filter("[..., request=*.html*, status_code=4*,]", [event]) == [
        {
            "eventNumber": 1,
            "eventMessage": event,
            "extractedValues": {
                "$1": "127.0.0.1",
                "$2": "-",
                "$3": "frank",
                "$4": "10/Oct/2000:13:25:15 -0700",
                "$request": "GET /index.html HTTP/1.0",
                "$status_code": "404",
                "$7": "1534",
            },
        }
    ]


def test_guide_example_with_conditions_across_fields_is_rejected():
    """The guide's '[..., status_code = 4* && bytes > 1000]' tests two fields in one slot;
    AWS rejects it (awsdocs guide issue #21), so must we, with the reason."""
    with pytest.raises(FilterPatternError, match="a slot may only test its own field"):
        compile_pattern(
            "[ip, user, username, timestamp, request, status_code = 4* && bytes > 1000]"
        )


# -- the seeds' flow-log filters ---------------------------------------------------------------


def test_seed_001_rdp_filter():
    assert _matching(SEED_001, [ACCEPTED_SSH, REJECTED_RDP]) == [2]
    extracted = compile_pattern(SEED_001).match(REJECTED_RDP)
    assert extracted["$source"] == "172.31.9.69" and extracted["$destination"] == "172.31.9.12"


def test_seed_002_exfiltration_filter():
    pattern = (
        "[account_id, action, az_id, bytes > 100000, "
        "dstaddr!=123.123.123.123 && dstaddr!=210.210.210.210, dstport, end, "
        "flow_direction = egress, ...]"
    )
    base = "123456789012 ACCEPT apne1-az1 {bytes} {dst} 443 1700000060 {direction} 6 x y"
    events = [
        base.format(bytes=150_000, dst="198.51.100.7", direction="egress"),
        base.format(bytes=150_000, dst="123.123.123.123", direction="egress"),
        base.format(bytes=99_999, dst="198.51.100.7", direction="egress"),
        base.format(bytes=150_000, dst="198.51.100.7", direction="ingress"),
        base.format(bytes="-", dst="198.51.100.7", direction="egress"),
    ]
    assert _matching(pattern, events) == [1]


def test_test_metric_filter_takes_1_to_50_messages():
    with pytest.raises(ValueError, match="1 to 50 log events"):
        test_metric_filter("ERROR", [])
    with pytest.raises(ValueError, match="got 51"):
        test_metric_filter("ERROR", ["ERROR"] * 51)
    assert len(test_metric_filter("ERROR", ["ERROR"] * 50)) == 50


# -- the current guide: the last field takes the rest of the line (ruling R2, revised) ---------
# Source: CloudWatch Logs user guide, "Filter pattern syntax for metric filters, subscription
# filters, filter log events, and Live Tail", section "Using filter patterns to match terms
# in space-delimited log events": [w1=ERROR, w2] returns the six-word event below, and w2
# is the "blank indicator" that must follow w1. The other three events are modeled on the
# guide's example set (one per log level).

GUIDE_LEVELS = [
    "ERROR 09/25/2014 12:00:02 Failed to process request",
    "WARNING 09/25/2014 12:00:03 Retrying request",
    "INFO 09/25/2014 12:00:04 Request processed",
    "DEBUG 09/25/2014 12:00:05 Request details",
]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("[w1=ERROR, w2]", [1]),
        ("[w1=ERROR || w1=WARNING, w2]", [1, 2]),
        ("[w1!=ERROR && w1!=WARNING, w2]", [3, 4]),
    ],
)
def test_current_guide_space_delimited_or_and(pattern, expected):
    assert _matching(pattern, GUIDE_LEVELS) == expected


def test_the_last_field_holds_the_rest_as_written():
    (match,) = test_metric_filter("[w1=ERROR, w2]", GUIDE_LEVELS[:1])
    assert match["extractedValues"] == {
        "$w1": "ERROR", "$w2": "09/25/2014 12:00:02 Failed to process request"}  # fmt: skip
    (match,) = test_metric_filter("[ip, user, rest]", APACHE[:1])
    assert match["extractedValues"]["$rest"] == (
        'frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 200 1534'
    )
    # A condition on the last field compares the whole rest.
    assert _matching("[w1, w2 = 09*]", GUIDE_LEVELS) == [1, 2, 3, 4]
    assert _matching('[w1, w2 = "09/25/2014 12:00:04 Request processed"]', GUIDE_LEVELS) == [3]
    # A line with fewer fields than the pattern does not match.
    assert _matching("[a, b, c, d, e, f, g, h]", GUIDE_LEVELS) == []


# -- more examples of the current guide (each cites its section) ------------------------------
# Source: CloudWatch Logs user guide, "Filter pattern syntax for metric filters, subscription
# filters, filter log events, and Live Tail".


def test_current_guide_regex_term_example():
    """Section "Supported regular expressions": %AUTHORIZED% returns both events."""
    events = ["[ERROR 401] UNAUTHORIZED REQUEST", "[SUCCESS 200] AUTHORIZED REQUEST"]
    assert _matching("%AUTHORIZED%", events) == [1, 2]


def test_current_guide_regex_with_a_blank():
    """Section "Supported regular expressions": a blank inside %...% is allowed."""
    events = ["shutting down", "skipping initializing and shutting off", "starting up"]
    assert _matching("%^starting|^initializing|^shutting down%", events) == [1, 3]


def test_current_guide_json_any_field_and_bracket_notation():
    """Section "Using filter patterns to match terms in JSON log events": $.* and keys
    that hold a period."""
    assert _matching(r"{ $.* = %111\.111\.111\.1[0-9]{1,2}% }", [GUIDE_JSON]) == [1]
    cluster = json.dumps({"cluster.name": "c", "cluster": {"name": "d"}})
    assert _matching("{ $.['cluster.name'] = \"c\" }", [cluster]) == [1]
    assert _matching('{ $.cluster.name = "d" }', [cluster]) == [1]


def test_current_guide_multi_byte_characters_are_not_supported_in_a_regex():
    """Section "Supported regular expressions": multi-byte characters are not supported."""
    with pytest.raises(FilterPatternError, match="no multi-byte characters"):
        compile_pattern("%caf\u00e9%")
