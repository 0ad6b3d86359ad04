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

# The guide's JSON sample event: its first four fields on every page and revision; the
# archived guide adds SomeObject and ThisFlag, the current one SomeObject and cluster.name,
# the metric-filter page nothing.
TRAIL_EVENT = {
    "eventType": "UpdateTrail",
    "sourceIPAddress": "111.111.111.111",
    "arrayKey": ["value", "another value"],
    "objectList": [{"name": "a", "id": 1}, {"name": "b", "id": 2}],
}
GUIDE_JSON = json.dumps({**TRAIL_EVENT, "SomeObject": None, "ThisFlag": True})
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


# -- the current guide, every example ------------------------------------------------------
# Sources, read in full from the copies in c2hans/aws-docs (each file names its source_url):
# SYNTAX = "Filter pattern syntax for metric filters, subscription filters, filter log events,
#   and Live Tail", https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html
#   (docs/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.md, commit 5605cb0);
# METRIC = "Filter pattern syntax for metric filters",
#   https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntaxForMetricFilters.html
#   (docs/AmazonCloudWatch/latest/logs/FilterAndPatternSyntaxForMetricFilters.md, commit 9a3d9b4).
# Each case: (page and section, pattern, events, the events the guide says match). Where the
# guide lists only what an expression "can match", the events it names are the matches and
# one event it excludes, or an obvious non-match, is added.

SYNTAX_REGEX = "SYNTAX, Supported regular expressions (regex) syntax"
SYNTAX_TERMS = "SYNTAX, Using filter patterns to match terms in unstructured log events"
SYNTAX_JSON = "SYNTAX, Using filter patterns to match terms in JSON log events"
SYNTAX_SPACE = "SYNTAX, Using filter patterns to match terms in space-delimited log events"
METRIC_DIMENSIONS = (
    "METRIC, Publishing dimensions with metrics from values in JSON or space-delimited log events"
)
METRIC_VALUES = "METRIC, Using values in log events to increment a metric's value"

UNSTRUCTURED = [
    "[ERROR 400] BAD REQUEST",
    "[ERROR 401] UNAUTHORIZED REQUEST",
    "[ERROR 419] MISSING ARGUMENTS",
    "[ERROR 420] INVALID ARGUMENTS",
]
CURRENT_JSON = json.dumps({**TRAIL_EVENT, "SomeObject": None, "cluster.name": "c"})
INDEX_HTML = '127.0.0.1 Prod frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534'
PATTERN_MATCHING = [
    "INFO 09/25/2014 12:00:00 GET /service/resource/67 1200",
    "INFO 09/25/2014 12:00:01 POST /service/resource/67/part/111 1310",
    "WARNING 09/25/2014 12:00:02 Invalid user request",
    "ERROR 09/25/2014 12:00:02 Failed to process request",
]

CURRENT_GUIDE = [
    # Usage of supported operators
    (SYNTAX_REGEX, "%^[hc]at%", ["hat", "cat", "a hat"], [1, 2]),
    (SYNTAX_REGEX, "%[hc]at$%", ["hat", "cat", "hats"], [1, 2]),
    (SYNTAX_REGEX, "%colou?r%", ["color", "colour", "colr"], [1, 2]),
    (SYNTAX_REGEX, "%[abc]%", ["a", "b", "c", "d"], [1, 2, 3]),
    (SYNTAX_REGEX, "%[a-z]%", ["a", "q", "z", "A", "1"], [1, 2, 3]),
    (SYNTAX_REGEX, "%[abcx-z]%", ["a", "b", "c", "x", "y", "z", "d", "w"], [1, 2, 3, 4, 5, 6]),
    (SYNTAX_REGEX, "%a{3,5}%", ["aa", "aaa", "aaaa", "aaaaa"], [2, 3, 4]),
    (SYNTAX_REGEX, "%gra|ey%", ["gray", "grey", "gruy"], [1, 2]),
    (SYNTAX_REGEX, "%^starting|^initializing|^shutting down%",
     ["starting ...", "initializing ...", "shutting down", "skipping initializing ..."], [1, 2, 3]),
    (SYNTAX_REGEX, "%abcc|ab[^c]$%", ["abcc ...", "aba", "aac ..."], [1, 2]),
    (SYNTAX_REGEX, "%\\[.\\]%", ["[a]", "[b]", "[7]", "[@]", "[]]", "[ ]", "[ab]"],
     [1, 2, 3, 4, 5, 6]),
    (SYNTAX_REGEX, "%10\\.10\\.0\\.1%", ["10.10.0.1", "10010,051"], [1]),
    (SYNTAX_REGEX, "%ab*c%", ["ac", "abc", "abbbc", "ab"], [1, 2, 3]),
    (SYNTAX_REGEX, "%ab[0-9]*%", ["ab", "ab0", "ab129", "a"], [1, 2, 3]),
    (SYNTAX_REGEX, "%ab+c%", ["abc", "abbc", "abbbc", "ac"], [1, 2, 3]),
    (SYNTAX_REGEX, "%.at%", ["hat", "cat", "bat", "4at", "#at", " at", "at"], [1, 2, 3, 4, 5, 6]),
    (SYNTAX_REGEX, "%10.10.0.1%", ["10010,051"], [1]),  # the unescaped dot's surprise
    (SYNTAX_REGEX, "%\\d%", ["a1", "ab"], [1]),
    (SYNTAX_REGEX, "%[0-9]%", ["a1", "ab"], [1]),
    (SYNTAX_REGEX, "%\\D%", ["12", "1a"], [2]),
    (SYNTAX_REGEX, "%[^0-9]%", ["12", "1a"], [2]),
    (SYNTAX_REGEX, "%\\s%", ["a\tb", "a b", "ab"], [1, 2]),
    (SYNTAX_REGEX, "%\\S%", [" ", "a"], [2]),
    (SYNTAX_REGEX, "%\\w%", ["_", "-"], [1]),
    (SYNTAX_REGEX, "%[a-zA-Z_0-9]%", ["_", "-"], [1]),
    (SYNTAX_REGEX, "%\\W%", ["_", "-"], [2]),
    (SYNTAX_REGEX, "%[^a-zA-Z_0-9]%", ["_", "-"], [2]),
    (SYNTAX_REGEX, "%\\x3A%", ["a:b", "ab"], [1]),
    (SYNTAX_REGEX, "%\\x28%", ["f(x)", "fx"], [1]),
    ("SYNTAX, Using filter patterns to match terms with a regular expression (regex)",
     "%AUTHORIZED%", ["[ERROR 401] UNAUTHORIZED REQUEST", "[SUCCESS 200] AUTHORIZED REQUEST"],
     [1, 2]),
    # Unstructured log events
    (SYNTAX_TERMS, "ERROR", UNSTRUCTURED, [1, 2, 3, 4]),
    (SYNTAX_TERMS, "ERROR ARGUMENTS", UNSTRUCTURED, [3, 4]),
    (SYNTAX_TERMS, "?ERROR ?ARGUMENTS", UNSTRUCTURED, [1, 2, 3, 4]),
    (SYNTAX_TERMS, "?ERROR ?ARGUMENTS REQUEST",  # the ? terms are ignored
     ["[INFO] REQUEST FAILED", "[WARN] UNAUTHORIZED REQUEST", "[ERROR] 400 BAD REQUEST",
      "[ERROR 419] MISSING ARGUMENTS"], [1, 2, 3]),
    (SYNTAX_TERMS, '"INTERNAL SERVER ERROR"',
     ["[ERROR 500] INTERNAL SERVER ERROR", "[ERROR 500] INTERNAL ERROR"], [1]),
    (SYNTAX_TERMS, "ERROR -ARGUMENTS", UNSTRUCTURED, [1, 2]),
    (SYNTAX_TERMS, '" "', [*UNSTRUCTURED, "x"], [1, 2, 3, 4, 5]),
    # JSON log events: the sample event and its examples
    (SYNTAX_JSON, '{ $.eventType = "UpdateTrail" }', [CURRENT_JSON], [1]),
    (SYNTAX_JSON, "{ $.sourceIPAddress != 123.123.* }", [CURRENT_JSON], [1]),
    (SYNTAX_JSON, '{ $.arrayKey[0] = "value" }', [CURRENT_JSON], [1]),
    (SYNTAX_JSON, "{ $.eventType = %Trail% }", [CURRENT_JSON], [1]),
    (SYNTAX_JSON, "{ $.arrayKey[*] = %val.{2}% }", [CURRENT_JSON], [1]),
    (SYNTAX_JSON, "{ $.* = %111\\.111\\.111\\.1[0-9]{1,2}% }", [CURRENT_JSON], [1]),
    (SYNTAX_JSON, "{ $.['cluster.name'] = \"c\" }", [CURRENT_JSON], [1]),
    (SYNTAX_JSON, "{ $.SomeObject IS NULL }", [CURRENT_JSON], [1]),
    (SYNTAX_JSON, "{ $.SomeOtherObject NOT EXISTS }", [CURRENT_JSON], [1]),
    # JSON compound expressions, on the guide's second object
    (SYNTAX_JSON, '{ ($.user.id = 1) && ($.users[0].email = "John.Doe@example.com") }',
     [COMPOUND_JSON], [1]),
    (SYNTAX_JSON, '{ $.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = "nonmatch"'
     ' && $.actions[2] = "nonmatch" }', [COMPOUND_JSON], [1]),
    (SYNTAX_JSON, '{ ($.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = '
     '"nonmatch") && $.actions[2] = "nonmatch" }', [COMPOUND_JSON], []),
    (SYNTAX_JSON, '{ ($.user.id = 2 && $.users[0].email = "nonmatch") || $.actions[2] = "GET" }',
     [COMPOUND_JSON], []),
    # Space-delimited log events
    (SYNTAX_SPACE, "[ip=%127\\.0\\.0\\.[1-9]%, user, username, timestamp, request =*.html*, "
     "status_code = 4*, bytes]", [INDEX_HTML], [1]),
    (SYNTAX_SPACE, "[..., request =*.html*, status_code = 4*, bytes]", [INDEX_HTML], [1]),
    (SYNTAX_SPACE, "[ip, user, username, timestamp, request =*.html*, status_code = 404 || "
     "status_code = 410, bytes]", [INDEX_HTML], [1]),
    (SYNTAX_SPACE, "[w1=ERROR, w2]", PATTERN_MATCHING, [4]),
    (SYNTAX_SPACE, "[w1=ERROR || w1=WARNING, w2]", PATTERN_MATCHING, [3, 4]),
    (SYNTAX_SPACE, "[w1!=ERROR && w1!=WARNING, w2]", PATTERN_MATCHING, [1, 2]),
    (SYNTAX_SPACE, "[logLevel, date, time, method, url=%/service/resource/[0-9]+$%, "
     "response_time]", PATTERN_MATCHING, [1]),
    (SYNTAX_SPACE, "[logLevel, date, time, method, url=%/service/resource/[0-9]+/part/[0-9]+$%, "
     "response_time]", PATTERN_MATCHING, [2]),
    # The metric-filter page
    (METRIC_DIMENSIONS, '{ $.eventType = "*" && $.sourceIPAddress != 123.123.* }',
     [json.dumps(TRAIL_EVENT)], [1]),
    (METRIC_DIMENSIONS, "[ip, server, username, timestamp, request, status_code, bytes > 1000]",
     [INDEX_HTML], [1]),
    (METRIC_DIMENSIONS, "[w1=ERROR || w1=%WARN%, w2]", PATTERN_MATCHING, [3, 4]),
    (METRIC_VALUES, "{ $.latency = * }", ['{"latency": 50, "requestType": "GET"}'], [1]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("section", "pattern", "events", "expected"),
    CURRENT_GUIDE,
    ids=[f"{case[0].split(',')[0]}: {case[1]}" for case in CURRENT_GUIDE],
)
def test_current_guide_example(section, pattern, events, expected):
    assert _matching(pattern, events) == expected, section


@pytest.mark.parametrize(
    "pattern",
    ["{ $.bandwidth > 75 }", "{ $.latency < 50 }", "{ $.refreshRate >= 60 }",
     "{ $.responseTime <= 5 }", "{ $.errorCode = 400}", "{ $.errorCode != 500 }",
     "{ $.number[0] = 1e+3 }", "{ $.number[0] != 1e-3 }"],
)  # fmt: skip
def test_current_guide_numeric_json_examples_are_valid(pattern):
    """SYNTAX, JSON log events, "Writing filter patterns that match numeric values": the
    examples have no event; each is a valid pattern, true of a value that fits it."""
    selector, op, number = pattern.strip("{} ").split(" ", 2)
    compile_pattern(pattern)
    key, index = selector[2:].split("[")[0], "[" in selector
    value = {">": 76, "<": 49, ">=": 60, "<=": 5, "=": float(number), "!=": 7}[op]
    event = json.dumps({key: [value] if index else value})
    assert _matching(pattern, [event]) == [1]


@pytest.mark.parametrize("pattern", ["%something!%", "%(a)%", "%a|(b)%"])
def test_current_guide_refuses_what_regexes_may_not_hold(pattern):
    """SYNTAX, regex: '!' is not a supported symbol ("%something!% would be rejected");
    the ( and ) operators are not supported."""
    with pytest.raises(FilterPatternError):
        compile_pattern(pattern)


def test_current_guide_extracted_values_and_dimensions():
    """METRIC, "Publishing dimensions with metrics from space-delimited log events": the
    fields and values the guide lists, and the dimension "server" whose value is "Prod";
    and from JSON log events, the dimension "eventType" whose value is "UpdateTrail"."""
    from vpcwatch.filterpattern.matcher import select

    (match,) = test_metric_filter(
        "[ip, server, username, timestamp, request, status_code, bytes > 1000]", [INDEX_HTML]
    )
    assert match["extractedValues"] == {
        "$bytes": "1534", "$status_code": "404", "$request": "GET /index.html HTTP/1.0",
        "$timestamp": "10/Oct/2000:13:25:15 -0700", "$username": "frank", "$server": "Prod",
        "$ip": "127.0.0.1",
    }  # fmt: skip
    assert select(json.loads(CURRENT_JSON), "$.eventType") == ["UpdateTrail"]


def test_current_guide_metric_value_from_the_event():
    """METRIC, "Using values in log events to increment a metric's value": { $.latency = * }
    with metric value $.latency publishes 50 (ruling R19)."""
    from vpcwatch.replay.metrics import MetricAggregator, MetricSpec

    aggregator = MetricAggregator(
        [MetricSpec("N", "myMetric", "{ $.latency = * }", "$.latency", 0)]
    )
    aggregator.add(0, '{"latency": 50, "requestType": "GET"}')
    assert aggregator.datapoints(("N", "myMetric"), "Sum", 60) == {0: 50.0}


def test_current_guide_last_field_holds_the_rest_as_written():
    """SYNTAX, space-delimited, "Match terms in order" (ruling R2, revised): w2 is the
    "blank indicator" after w1, and holds the rest of the event."""
    (match,) = test_metric_filter("[w1=ERROR, w2]", PATTERN_MATCHING[3:])
    assert match["extractedValues"] == {
        "$w1": "ERROR", "$w2": "09/25/2014 12:00:02 Failed to process request"}  # fmt: skip
    (match,) = test_metric_filter("[ip, user, rest]", APACHE[:1])
    assert match["extractedValues"]["$rest"] == (
        'frank [10/Oct/2000:13:25:15 -0700] "GET /apache_pb.gif HTTP/1.0" 200 1534'
    )
    # A condition on the last field compares the whole rest.
    assert _matching("[w1, w2 = 09*]", PATTERN_MATCHING) == [1, 2, 3, 4]
    assert _matching('[w1, w2 = "09/25/2014 12:00:02 Invalid user request"]', PATTERN_MATCHING) == [
        3
    ]
    # A line with fewer fields than the pattern does not match.
    assert _matching("[a, b, c, d, e, f, g, h]", PATTERN_MATCHING) == []


def test_current_guide_multi_byte_characters_are_not_supported_in_a_regex():
    """SYNTAX, regex: multi-byte characters are not supported."""
    with pytest.raises(FilterPatternError, match="no multi-byte characters"):
        compile_pattern("%caf\u00e9%")


def test_current_guide_json_dotted_key_is_not_a_path():
    """SYNTAX, JSON: bracket notation selects a key that holds a period; the dotted path
    still selects nested keys."""
    cluster = json.dumps({"cluster.name": "c", "cluster": {"name": "d"}})
    assert _matching("{ $.['cluster.name'] = \"c\" }", [cluster]) == [1]
    assert _matching('{ $.cluster.name = "d" }', [cluster]) == [1]
    assert _matching('{ $.cluster.name = "c" }', [cluster]) == []
