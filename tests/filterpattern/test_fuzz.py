"""Any text is either a pattern or a FilterPatternError; no pattern crashes on any message."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vpcwatch.filterpattern import FilterPatternError, compile_pattern, parse, render

PATTERN_ALPHABET = st.sampled_from([*'[]{}(),.=!<>&|"%$*?-_ :\\\taZ09', "...", "IS NULL"])
pattern_like = st.lists(PATTERN_ALPHABET, max_size=40).map("".join)
messages = st.one_of(
    st.text(max_size=60),
    st.lists(st.sampled_from(['"', "[", "]", " ", "a", "1", "-", "{", "}", ":", ","])).map("".join),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
        max_leaves=8,
    ).map(lambda value: __import__("json").dumps(value)),
)

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _compile_or_none(text):
    try:
        return compile_pattern(text)
    except FilterPatternError:
        return None


@FUZZ
@given(st.one_of(st.text(), pattern_like), messages)
def test_any_text_compiles_or_raises_the_documented_error(text, message):
    compiled = _compile_or_none(text)
    if compiled is not None:
        result = compiled.match(message)
        assert result is None or isinstance(result, dict)


@FUZZ
@given(st.one_of(st.text(), pattern_like))
def test_what_parses_renders_to_text_that_parses_to_the_same_tree(text):
    try:
        tree = parse(text)
    except FilterPatternError:
        return
    assert parse(render(tree)) == tree
