"""The DuckDB fast path agrees with the reference matcher, line for line."""

from __future__ import annotations

import gzip
import itertools
import zlib

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from vpcwatch import FlowLogFormat
from vpcwatch.filterpattern import compile_pattern, fast
from vpcwatch.filterpattern.sql import SqlCompiler, UnsupportedPattern
from vpcwatch.patterns import Regex
from vpcwatch.traffic import generate

FMT = FlowLogFormat.all_fields()
PATTERNS = {
    "rejected": str(FMT.filter().where("action", "=", "REJECT")),
    "ssh_or_rdp": str(FMT.filter().where("dstport", "in", [22, 3389]).where("action", "!=", "-")),
    "outside": str(FMT.filter().where("srcaddr", "not in", ["10.0.0.0/16", "52.216.0.0/15"])),
    "egress_big": str(
        FMT.filter().where("flow_direction", "=", "egress").where("bytes", ">=", 9000)
    ),
    "regex": str(FMT.filter().where("interface_id", "=", Regex("1$"))),
    "wildcards": "[..., flow_direction = *gress, traffic_path = *, type = IPv*, region = *-east-*]",
    "count_rule": "[version, account_id, ...]",
    "tail": "[..., a = *, b = -]",
    "terms": "REJECT -SKIPDATA",
    "json": "{ $.a = 1 }",
}
IRREGULAR = [
    'a "b c" [d e] f',
    "tab\tseparated\tline",
    "double  space x",
    " leading",
    "trailing ",
    "ünïcode - x",
    "2 x x 10.0.0.1 - 1 +22 6 1 1.0e3 1 2 REJECT OK",
    '{"a": 1}',
    "1_000 inf nan .5 1. 0x10 -",
]


@pytest.fixture(params=["duckdb", "polars"])
def engine(request):
    """Each fast-path test runs on both engines (polars hands what it cannot read to
    DuckDB, so the polars runs also cover those hand-overs)."""
    return request.param


@pytest.fixture(scope="module")
def traffic_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("fast") / "flows.log"
    incidents = {
        m: ("ssh-scan", "rdp-accepted", "exfiltration", "skipdata") for m in range(0, 40, 7)
    }
    lines = list(itertools.islice(generate(FMT, minutes=40, seed=5, incidents=incidents), 3000))
    path.write_text("\n".join(lines) + "\n")
    return path, lines


def reference(lines):
    compiled = {name: compile_pattern(p) for name, p in PATTERNS.items()}
    return {name: sum(c.match(line) is not None for line in lines) for name, c in compiled.items()}


def test_fast_path_equals_reference_on_flow_logs(traffic_file, engine):
    path, lines = traffic_file
    expected = reference(lines)
    assert fast.count_matches(path, PATTERNS, engine=engine) == expected
    assert expected["rejected"] > 100 and expected["ssh_or_rdp"] > 10 and expected["terms"] > 100


def test_fast_path_routes_irregular_lines_to_the_reference(tmp_path, traffic_file, engine):
    _, lines = traffic_file
    mixed = lines[:200] + IRREGULAR + lines[200:400]
    path = tmp_path / "mixed.log"
    path.write_text("\n".join(mixed) + "\n\n")
    assert not fast.file_is_plain(path)
    assert fast.count_matches(path, PATTERNS, engine=engine) == reference(mixed)


@pytest.mark.parametrize("spacing", ["double  space", " leading", "trailing ", "a  b  c "])
def test_runs_of_spaces_in_an_otherwise_plain_file(tmp_path, traffic_file, spacing, engine):
    _, lines = traffic_file
    odd = lines[0].replace(" ", "  ", 3) if spacing == "double  space" else spacing
    mixed = [*lines[:100], odd, " " + lines[1], lines[2] + " ", *lines[3:100]]
    path = tmp_path / "spaces.log"
    path.write_text("\n".join(mixed) + "\n")
    assert fast.file_is_plain(path)  # only spaces are irregular here
    assert fast.count_matches(path, PATTERNS, engine=engine) == reference(mixed)


def test_numbers_and_wildcards_on_odd_tokens(tmp_path, engine):
    lines = ["1_000 x", "inf x", "+22 x", "22.0 x", "1e3 x", "- x", ".5 x", "1. x", "0x10 x"]
    patterns = {
        "eq22": "[n = 22, t]",
        "gt": "[n > 10, t]",
        "ne": "[n != 22, t]",
        "star": "[n = *0, t]",
    }
    path = tmp_path / "odd.log"
    path.write_text("\n".join(lines) + "\n")
    expected = {name: sum(compile_pattern(p).match(line) is not None for line in lines)
                for name, p in patterns.items()}  # fmt: skip
    assert fast.count_matches(path, patterns, engine=engine) == expected
    assert expected == {"eq22": 2, "gt": 3, "ne": 1, "star": 3}


def test_gzip_and_mixed_line_ends_and_no_duckdb(tmp_path, traffic_file, monkeypatch):
    _, lines = traffic_file
    expected = reference(lines[:500])
    gz = tmp_path / "flows.log.gz"
    with gzip.open(gz, "wt") as out:
        out.write("\n".join(lines[:500]) + "\n")
    assert fast.count_matches(gz, PATTERNS) == expected
    crlf = tmp_path / "crlf.log"
    crlf.write_bytes(("\r\n".join(lines[:250]) + "\n" + "\n".join(lines[250:500]) + "\n").encode())
    assert fast.count_matches(crlf, PATTERNS) == expected  # DuckDB refuses: reference path
    monkeypatch.setattr(fast, "duckdb_available", lambda: False)
    plain = tmp_path / "plain.log"
    plain.write_text("\n".join(lines[:500]) + "\n")
    assert fast.count_matches(plain, PATTERNS) == expected


def test_term_and_json_patterns_have_no_sql_form():
    with pytest.raises(UnsupportedPattern):
        SqlCompiler().predicate(compile_pattern("ERROR").tree)


# -- the last field takes the rest of the line (R2), and RE2 regexes, on both paths -------------

REST_LINES = [
    "ERROR 09/25/2014 12:00:02 Failed to process request",
    "ERROR message",
    "WARN one two",
    "single",
    "1 2 3",
    "1 22 3",
    "a b",
]


@pytest.mark.parametrize(
    "pattern",
    ["[w1=ERROR, w2]", "[w1, w2 = 09*]", "[a, b = 2*]", "[a, b = 2]", "[a, b, c]",
     "[a, b = %^2 %]", '[w1, w2 = "one two"]', "[a, b > 1]"],
)  # fmt: skip
def test_rest_of_line_on_both_paths(tmp_path, pattern, engine):
    path = tmp_path / "events.log"
    path.write_text("\n".join(REST_LINES) + "\n")
    compiled = compile_pattern(pattern)
    expected = sum(compiled.match(line) is not None for line in REST_LINES)
    assert fast.count_matches(path, {"p": pattern}, engine=engine) == {"p": expected}


_REGEX_ATOMS = st.sampled_from(
    ["a", "b", "1", ".", "\\d", "\\w", "\\s", "[ab]", "[^a]", "x", " ", "-", ":", "\\.", "^",
     "$"]
)  # fmt: skip
_QUANTIFIERS = st.sampled_from(["", "", "*", "+", "?", "{2}", "{1,}", "{0,2}"])


@st.composite
def regexes(draw):
    pieces = draw(st.lists(st.tuples(_REGEX_ATOMS, _QUANTIFIERS), min_size=1, max_size=5))
    body = "".join(atom + (q if atom not in "^$" else "") for atom, q in pieces)
    if draw(st.booleans()):
        body += "|" + draw(_REGEX_ATOMS)
    return body


_LINE_TEXT = st.text(alphabet="ab1 x.:-", min_size=0, max_size=12)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@pytest.mark.parametrize("engine", ["duckdb", "polars"])
@given(regexes(), st.lists(_LINE_TEXT, min_size=1, max_size=8))
def test_fuzz_generated_regexes_agree_on_both_paths(tmp_path, engine, regex, texts):
    """The reference matcher (google-re2), DuckDB's SQL (RE2) and polars (Rust's regex
    crate) on the same lines."""
    from vpcwatch.errors import FilterPatternError

    pattern = f"[a = %{regex}%, b]"
    try:
        compiled = compile_pattern(pattern)
    except FilterPatternError:
        return
    lines = [f"{text.replace(' ', '_') or 'e'} tail {i}" for i, text in enumerate(texts)]
    path = tmp_path / "fuzz.log"
    path.write_text("\n".join(lines) + "\n")
    expected = sum(compiled.match(line) is not None for line in lines)
    assert fast.count_matches(path, {"p": pattern}, engine=engine) == {"p": expected}


@pytest.mark.parametrize(
    ("text", "regular"),
    [
        (b"a b c\nd e f\n", True),
        (b"a b c\nd e f", True),  # no final line end
        (b"a  b c\n", False),  # a run of spaces
        (b" a b\n", False),  # a space at a line's start
        (b"a b \nc d\n", False),  # ... and at its end
        (b"a b\nc d ", False),  # ... at the file's end
        (b"a b\n\nc d\n", False),  # a blank line: tested line by line, which is only slower
        (b"a\tb\n", False),
        (b'a "b"\n', False),
        (b"a [b]\n", False),
        ("a \u00e9\n".encode(), False),
    ],
)
@pytest.mark.parametrize("gzipped", [False, True])
def test_file_is_regular(tmp_path, monkeypatch, text, regular, gzipped):
    """Every case also straddles two chunks, at each byte of the text."""
    path = tmp_path / "lines.log"
    path.write_bytes(gzip.compress(text) if gzipped else text)
    assert fast.file_is_regular(path, gzipped) is regular
    for size in range(1, len(text) + 1):
        monkeypatch.setattr(fast, "CHUNK_BYTES", size)
        assert fast.file_is_regular(path, gzipped) is regular, size


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    members=st.lists(st.binary(max_size=3000), min_size=1, max_size=3),
    padding=st.lists(st.integers(0, 3), min_size=3, max_size=3),
    cut=st.none() | st.floats(0.0, 1.0, exclude_max=True),
    chunk=st.sampled_from([7, 1000, 1 << 18]),
)
def test_gzip_bytes_are_the_gzip_modules(tmp_path, monkeypatch, members, padding, cut, chunk):
    """Members one after another, zero bytes between them, a truncated file: the byte
    checks read what the gzip module reads, and fail where it fails (the replay then
    hands the file to the reference path, which names the fault)."""
    data = b"".join(gzip.compress(m) + b"\0" * n for m, n in zip(members, padding, strict=False))
    if cut is not None:
        data = data[: int(cut * len(data))]
    path = tmp_path / "lines.log.gz"
    path.write_bytes(data)
    monkeypatch.setattr(fast, "CHUNK_BYTES", chunk)
    try:
        expected = gzip.decompress(data)
    except (OSError, EOFError):
        expected = "fails"  # the replay's check gives the file to the reference path
    try:
        got = b"".join(bytes(piece) for piece, _ in fast.file_chunks(path, gzipped=True))
    except (OSError, EOFError, zlib.error):
        got = "fails"
    assert got == expected


# -- the polars engine: when it runs, and what it hands to DuckDB --------------------------


@pytest.fixture
def polars_runs(monkeypatch):
    """Records each call of the polars engine and what became of it."""
    from vpcwatch.filterpattern import polars_engine

    calls = []
    original = polars_engine.count

    def spy(*args):
        try:
            result = original(*args)
        except polars_engine.EngineRefused:
            calls.append("refused")
            raise
        calls.append("counted")
        return result

    monkeypatch.setattr(polars_engine, "count", spy)
    return calls


def test_polars_counts_a_file_of_records(traffic_file, polars_runs):
    path, lines = traffic_file
    assert fast.count_matches(path, PATTERNS) == reference(lines)  # "auto"
    assert polars_runs == ["counted"]


@pytest.mark.parametrize("name", ["flows[1].log", "flows*.log", "flows?.log"])
def test_a_file_name_is_not_a_pattern(tmp_path, traffic_file, engine, name):
    """Both engines read a file whose name holds glob characters (polars read none)."""
    _, lines = traffic_file
    path = tmp_path / name
    path.write_text("\n".join(lines[:200]) + "\n")
    (tmp_path / "flows1.log").write_text("")  # what "flows[1].log" would match as a glob
    assert fast.count_matches(path, PATTERNS, engine=engine) == reference(lines[:200])


def test_polars_hands_shorter_lines_to_the_reference(tmp_path, traffic_file, polars_runs):
    _, lines = traffic_file
    mixed = [*lines[:50], "1 2 3 REJECT", " ".join(lines[50].split()[:-1]), *lines[51:100]]
    path = tmp_path / "short.log"
    path.write_text("\n".join(mixed) + "\n")
    assert fast.count_matches(path, PATTERNS, engine="polars") == reference(mixed)
    assert polars_runs == ["counted"]


@pytest.mark.parametrize(
    ("case", "make_lines", "patterns"),
    [
        # polars may drop the extra field without a word: the byte check counts fields
        ("a longer line", lambda lines: [*lines[:50], lines[50] + " extra", *lines[51:]], PATTERNS),
        # RE2 syntax that Rust's regex crate refuses
        (
            "\\C and \\Q",
            lambda lines: lines,
            {"c": "[v, a = %\\C%, ...]", "q": "[v = %\\Q2\\E%, ...]"},
        ),
    ],
)
def test_polars_hands_what_it_cannot_read_to_duckdb(
    tmp_path, traffic_file, monkeypatch, case, make_lines, patterns
):
    _, lines = traffic_file
    changed = make_lines(lines[:300])
    path = tmp_path / "handed.log"
    path.write_text("\n".join(changed) + "\n")
    compiled = {key: compile_pattern(p) for key, p in patterns.items()}
    expected = {
        key: sum(c.match(line) is not None for line in changed) for key, c in compiled.items()
    }
    duckdb_runs = []
    original = fast._fast_counts
    monkeypatch.setattr(fast, "_fast_counts", lambda *a: duckdb_runs.append(1) or original(*a))
    assert fast.count_matches(path, patterns, engine="polars") == expected
    assert duckdb_runs == [1], case


def test_polars_is_optional(traffic_file, monkeypatch, polars_runs):
    from vpcwatch.filterpattern import polars_engine

    monkeypatch.setattr(polars_engine, "polars_available", lambda: False)
    path, lines = traffic_file
    assert fast.count_matches(path, PATTERNS) == reference(lines)
    assert polars_runs == []


def test_engine_is_checked(traffic_file):
    path, _ = traffic_file
    with pytest.raises(ValueError, match="engine must be one of auto, polars, duckdb, reference"):
        fast.count_matches(path, PATTERNS, engine="fast")
    assert fast.count_matches(path, {"r": PATTERNS["rejected"]}, engine="reference")["r"] > 100


@pytest.mark.parametrize(
    ("text", "max_fields", "regular"),
    [
        (b"a b c\nd e f\n", 3, True),
        (b"a b c\nd e f\n", 2, False),
        (b"a b\nd e f\n", 2, False),  # the longer line second
        (b"a b c\nd e", 2, False),
        (b"a b\nd e f", 2, False),  # the longer line last, with no line end
        (b"a\nb c\nd\n", 2, True),  # shorter lines are the engine's to hand back
    ],
)
def test_file_is_regular_counts_fields(tmp_path, monkeypatch, text, max_fields, regular):
    path = tmp_path / "lines.log"
    path.write_bytes(text)
    for size in range(1, len(text) + 1):  # every way two chunks can split a line
        monkeypatch.setattr(fast, "CHUNK_BYTES", size)
        assert fast.file_is_regular(path, max_fields=max_fields) is regular, size


@given(
    lines=st.lists(st.lists(st.text("ab1", min_size=1, max_size=3), min_size=1, max_size=5),
                   min_size=1, max_size=8),
    line_end=st.booleans(),
    size=st.integers(1, 12),
)  # fmt: skip
def test_file_is_regular_totals_the_fields_of_a_regular_file(tmp_path_factory, lines, line_end,
                                                             size):  # fmt: skip
    """One field per separator, the last line's last field counted with or without a
    line end after it, however the chunks cut the lines (a reader that sees each line's
    shortfall can then tell that no line is longer)."""
    path = tmp_path_factory.mktemp("fields") / "lines.log"
    path.write_bytes(("\n".join(" ".join(fields) for fields in lines)
                      + ("\n" if line_end else "")).encode())  # fmt: skip
    counted = fast.FieldCount()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fast, "CHUNK_BYTES", size)
        assert fast.file_is_regular(path, fields=counted)
    assert counted.total == sum(len(fields) for fields in lines)


_TOKENS = st.sampled_from(["22", "022", "+22", "22.5", "1e3", "-", "x", "xa", "ax", "axa", "7"])
_NUMBER_TESTS = st.tuples(st.sampled_from(["=", "!=", "<", ">", "<=", ">="]),
                          st.sampled_from(["22", "7", "1000", "22.5", "-1"]))  # fmt: skip
_TEXT_TESTS = st.tuples(st.sampled_from(["=", "!="]),
                        st.sampled_from(["x", "x*", "*x", "*x*", "*", "xa", '"a x"']))  # fmt: skip


_REGEX_TESTS = st.tuples(st.sampled_from(["=", "!="]),
                         st.sampled_from(["%^x%", "%a$%", "%2%", "%^[0-9]+$%"]))  # fmt: skip


@st.composite
def space_delimited_patterns(draw, with_regexes: bool = False):
    """``[a ..., b ..., c ..., d ...]`` with conditions on numbers and text (and regexes),
    ``||`` and ``&&``, and sometimes ``...`` in place of a field."""
    slots = []
    kinds = [_NUMBER_TESTS, _TEXT_TESTS] + ([_REGEX_TESTS] if with_regexes else [])
    for name in "abcd":
        tests = draw(st.lists(st.one_of(*kinds), max_size=2))
        joiner = draw(st.sampled_from([" || ", " && "]))
        slots.append(name + "".join(
            (joiner if i else "") + f" {name} {op} {value}" if i else f" {op} {value}"
            for i, (op, value) in enumerate(tests)
        ))  # fmt: skip
    if draw(st.booleans()):
        slots[draw(st.integers(0, 3))] = "..."
    return "[" + ", ".join(slots) + "]"


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    space_delimited_patterns(),
    st.lists(st.lists(_TOKENS, min_size=3, max_size=5), min_size=1, max_size=8),
)
def test_fuzz_generated_patterns_agree_on_both_engines(tmp_path, engine, pattern, rows):
    """Numbers, text, wildcards, ``||``/``&&`` and ``...`` over lines of 3 to 5 fields
    (the first line's count is the polars engine's width: others are handed on)."""
    from vpcwatch.errors import FilterPatternError

    try:
        compiled = compile_pattern(pattern)
    except FilterPatternError:
        return
    lines = [" ".join(row) for row in rows]
    path = tmp_path / "generated.log"
    path.write_text("\n".join(lines) + "\n")
    expected = sum(compiled.match(line) is not None for line in lines)
    assert fast.count_matches(path, {"p": pattern}, engine=engine) == {"p": expected}, lines


@pytest.mark.parametrize("shared_regexes", [True, False])
@settings(max_examples=60, deadline=None)
@given(
    space_delimited_patterns(with_regexes=True),
    st.lists(st.lists(_TOKENS, min_size=4, max_size=4), min_size=1, max_size=8),
)
def test_regexes_matched_in_place_mean_what_shared_ones_mean(shared_regexes, pattern, rows):
    """A predicate whose regexes are matched where they stand, after the other
    conditions (``shared_regexes=False``), in a ``CASE WHEN`` (where DuckDB stops at the
    first false condition): the reference matcher's count, as with shared columns."""
    import duckdb

    from vpcwatch.errors import FilterPatternError

    try:
        compiled = compile_pattern(pattern)
    except FilterPatternError:
        return
    compiler = SqlCompiler("c", 4, shared_regexes=shared_regexes)
    predicate = compiler.predicate(compiled.tree)
    shared = "".join(f", {column}" for column in compiler.shared_columns())
    assert ("regexp_matches" in predicate) == (not shared_regexes and "%" in pattern)
    values = ", ".join("(" + ", ".join(f"'{token}'" for token in row) + ")" for row in rows)
    with duckdb.connect() as connection:
        counted = connection.execute(
            f"SELECT count(CASE WHEN {predicate} THEN 1 END) FROM (SELECT *{shared} FROM "
            f"(VALUES {values}) t(c1, c2, c3, c4))"
        ).fetchone()[0]
    expected = sum(compiled.match(" ".join(row)) is not None for row in rows)
    assert counted == expected, (pattern, rows)


_LISTED_TESTS = st.tuples(st.sampled_from(["=", "!=", "=", "!=", ">"]),
                         st.sampled_from(["22", "7", "1000", "22.5", "1e3"]))  # fmt: skip


@pytest.mark.parametrize("engine", ["duckdb", "polars"])
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.lists(_LISTED_TESTS, min_size=1, max_size=3), min_size=2, max_size=4),
    st.lists(
        st.sampled_from(["22", "7", "1000", "1e3", "22.5", "022", "-", "x"]),
        min_size=4,
        max_size=12,
    ),
)
@example([[("!=", "22"), ("!=", "7")]], ["7", "22", "1000", "x"])
@example([[("=", "22")], [("=", "7")], [(">", "1e3")]], ["7", "22", "1000", "x"])
def test_numbers_compiled_as_lists_mean_each_comparison(tmp_path, engine, groups, tokens):
    """A field's ``= n || = m`` compiled as one list (SQL's ``IN``, polars' ``is_in``) and
    its ``!= n && != m`` as one negated list: the reference matcher's count (false where
    the field is no number, ``x`` and ``-``)."""
    condition = " || ".join(" && ".join(f"a {op} {value}" for op, value in group)
                            for group in groups)  # fmt: skip
    pattern = f"[{condition}, b]"
    compiled = compile_pattern(pattern)
    lines = [f"{token} x" for token in tokens]
    path = tmp_path / "numbers.log"
    path.write_text("\n".join(lines) + "\n")
    expected = sum(compiled.match(line) is not None for line in lines)
    assert fast.count_matches(path, {"p": pattern}, engine=engine) == {"p": expected}, lines


def test_a_fields_numbers_are_tested_as_lists():
    """One ``IN`` for the numbers a field may equal, one ``NOT IN`` for those a branch
    must differ from; a lone number stays a comparison."""
    tree = compile_pattern("[a = 22 || a = 7 || a != 1 && a != 2 && a > 0, b = 3]").tree
    predicate = SqlCompiler("c", 2).predicate(tree)
    assert "n0 IN (22.0, 7.0)" in predicate
    assert "n0 NOT IN (1.0, 2.0)" in predicate
    assert "n1 = 3.0" in predicate


def test_a_predicates_regexes_come_last():
    """Conditions on a field without a regex are tested first (in a ``CASE WHEN`` DuckDB
    then matches the regex only where they hold)."""
    tree = compile_pattern("[a = %^x%, b = 22, c = y]").tree
    predicate = SqlCompiler("c", 3, shared_regexes=False).predicate(tree)
    assert predicate.index("regexp_matches(c1") > max(predicate.index("n0"), predicate.index("c3"))


@pytest.mark.parametrize(
    ("first_line", "reads"),
    [
        ("header", [True]),  # field names are no numbers: read once, by the integer cast
        ("decimal", [True, False]),  # 22.0 may be a number the cast misses: read again
    ],
)
def test_polars_reads_numbers_by_the_grammar_only_when_a_field_needs_it(
    tmp_path, traffic_file, monkeypatch, first_line, reads
):
    from vpcwatch.filterpattern import polars_engine

    path, lines = traffic_file
    if first_line == "header":
        first = " ".join(field.aws_name for field in FMT.fields)
    else:
        fields = lines[0].split(" ")
        fields[FMT.index("dstport")] = "22.0"
        first = " ".join(fields)
    mixed = [first, *lines[1:]]
    path = tmp_path / "first.log"
    path.write_text("\n".join(mixed) + "\n")
    seen = []
    original = polars_engine.PolarsCompiler.__init__

    def spy(self, width, *, integers=False):
        seen.append(integers)
        original(self, width, integers=integers)

    monkeypatch.setattr(polars_engine.PolarsCompiler, "__init__", spy)
    assert fast.count_matches(path, PATTERNS, engine="polars") == reference(mixed)
    assert seen == reads
