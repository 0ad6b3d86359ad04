"""Pattern text -> syntax tree. Every error is a :class:`FilterPatternError` with a position.

The kind of pattern is chosen by its first non-blank character: ``[`` space-delimited,
``{`` JSON, anything else a term pattern. Rulings where the AWS documentation is
silent are listed in ``docs/filter-patterns.md``.
"""

from __future__ import annotations

import re

import re2

from vpcwatch.errors import FilterPatternError
from vpcwatch.filterpattern import syntax as s

MAX_REGEXES = 2
"""AWS accepts at most two ``%regex%`` values in one pattern."""

MAX_NESTING = 32
"""Deepest parenthesis nesting accepted in a JSON pattern (keeps the parser's recursion bounded)."""

_NAME = re.compile(r"[A-Za-z0-9_]+")
_OPERATOR = re.compile(r"!=|<=|>=|=|<|>")
# Unquoted values stop at blanks and at the pattern's own punctuation.
_BARE_VALUE = re.compile(r"[^\s,\[\]\"&|(){}=!<>]+")
_BARE_TERM = re.compile(r"[A-Za-z0-9_]+")
# A JSON selector: $.key, $.* (any field), [n], [*], and ['key.with.dots'] (bracket
# notation, after a dot or not), as the current guide writes them.
_SELECTOR = re.compile(r"\$(?:\.[A-Za-z0-9_@\-]+|\.\*|\.?\[(?:[0-9]+|\*|'[^']*'|\"[^\"]*\")\])*")
MAX_SELECTOR_WILDCARDS = 1
"""Wildcard selectors ([*] or .*) in one property selector (the guide's quota)."""
MAX_PATTERN_WILDCARDS = 3
"""Wildcard selectors in one compound JSON pattern (the guide's quota)."""
# Regex: alphanumerics, ': _ # = @ / ; , -', blanks (the guide's own example holds one:
# %^starting|^initializing|^shutting down%), the operators '^ $ ? [ ] { } | \ * + .', and
# escapes such as \d \s \w \xhh (which the backslash and alphanumerics already cover).
# ASCII only: the guide says multi-byte characters are not supported.
_REGEX_SOURCE = re.compile(r"[A-Za-z0-9:_#=@/;,\-^$?\[\]{}|\\*+. ]*")
# A '{' opens a quantifier, as in RE2 and Java: {n}, {n,} or {n,m} (ruling R16).
_QUANTIFIER = re.compile(r"\{([0-9]+)(,([0-9]*))?\}")


class _Scanner:
    """A cursor over the pattern text that reports errors with the cursor's position."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.regexes = 0
        self.depth = 0
        self.wildcards = 0

    def error(self, expected: str, pos: int | None = None) -> FilterPatternError:
        return FilterPatternError(self.text, self.pos if pos is None else pos, expected)

    def skip_blanks(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def startswith(self, literal: str) -> bool:
        return self.text.startswith(literal, self.pos)

    def take(self, literal: str) -> bool:
        if self.startswith(literal):
            self.pos += len(literal)
            return True
        return False

    def expect(self, literal: str, what: str | None = None) -> None:
        if not self.take(literal):
            raise self.error(what or repr(literal))

    def match(self, pattern: re.Pattern[str]) -> str | None:
        found = pattern.match(self.text, self.pos)
        if found is None or not found.group(0):
            return None
        self.pos = found.end()
        return found.group(0)

    def expect_end(self, what: str) -> None:
        self.skip_blanks()
        if not self.at_end():
            raise self.error(what)

    # -- values shared by space-delimited and JSON conditions --------------------------------

    def operator(self) -> s.Operator:
        found = self.match(_OPERATOR)
        if found is None:
            raise self.error("an operator (=, !=, <, <=, >, >=)")
        return s.Operator(found)

    def value(self, op: s.Operator) -> s.Value:
        start = self.pos
        if self.startswith('"'):
            value: s.Value = s.Text(self.quoted(), quoted=True)
        elif self.startswith("%"):
            value = self.regex()
        else:
            bare = self.match(_BARE_VALUE)
            if bare is None:
                raise self.error('a value (a number, a word, a "quoted string" or a %regex%)')
            value = s.Number(bare) if s.NUMBER.fullmatch(bare) else s.Text(bare)
        if not op.is_equality and not isinstance(value, s.Number):
            raise self.error(f"a number after '{op.value}' (only = and != compare text)", start)
        return value

    def quoted(self) -> str:
        start = self.pos
        self.expect('"')
        chars = []
        while not self.at_end():
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                chars.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            self.pos += 1
            if char == '"':
                return "".join(chars)
            chars.append(char)
        raise self.error("a closing '\"' for the string opened here", start)

    def regex(self) -> s.Regex:
        start = self.pos
        self.expect("%")
        end = self.text.find("%", self.pos)
        if end < 0:
            raise self.error("a closing '%' for the regex opened here", start)
        source = self.text[self.pos : end]
        valid = _REGEX_SOURCE.fullmatch(source)
        if not source or valid is None:
            bad = next((i for i, c in enumerate(source) if not _REGEX_SOURCE.fullmatch(c)), 0)
            raise self.error(
                "a regex of alphanumerics, blanks, ': _ # = @ / ; , -' and "
                "'^ $ ? [ ] { } | \\ * + .' (no parentheses, no multi-byte characters)",
                self.pos + bad,
            )
        brace = _bad_brace(source)
        if brace is not None:
            raise self.error(
                "a quantifier {n}, {n,} or {n,m} after '{' (RE2 and Java refuse a lone '{'; "
                "write \\{ for the character)",
                self.pos + brace,
            )
        try:
            re2.compile(source)
        except re2.error as error:
            raise self.error(f"a valid regex ({error})", self.pos) from None
        self.regexes += 1
        if self.regexes > MAX_REGEXES:
            raise self.error(f"at most {MAX_REGEXES} regexes in one pattern", start)
        self.pos = end + 1
        return s.Regex(source)


def _bad_brace(source: str) -> int | None:
    """The offset of a '{' that does not open a valid quantifier (outside a character
    class and not escaped), or ``None``."""
    index, in_class = 0, False
    while index < len(source):
        char = source[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if source[index + 1 : index + 2] == "]":
                index += 1  # '[]...]': a ']' first in a class is a character
        elif char == "{":
            found = _QUANTIFIER.match(source, index)
            if found is None or (found.group(3) and int(found.group(3)) < int(found.group(1))):
                return index
            index = found.end()
            continue
        index += 1
    return None


def wildcard_count(selector: str) -> int:
    """How many wildcard steps (``[*]``, ``.*``) a selector holds, quoted keys aside."""
    unquoted = re.sub(r"\[(?:'[^']*'|\"[^\"]*\")\]", "", selector)
    return unquoted.count("[*]") + unquoted.count(".*")


def parse_regex(source: str) -> s.Regex:
    """Validate a regex as a filter pattern's ``%regex%`` value.

    Raises:
        FilterPatternError: a character AWS does not allow, or an invalid expression.
    """
    return _Scanner(f"%{source}%").regex()


def parse(pattern: str) -> s.Pattern:
    """Parse a filter pattern into its syntax tree.

    Raises:
        FilterPatternError: the pattern is not valid; the message gives the position.
    """
    if not isinstance(pattern, str):
        raise TypeError(f"pattern must be a string, got {type(pattern).__name__}")
    scanner = _Scanner(pattern)
    scanner.skip_blanks()
    if scanner.startswith("["):
        return _space_delimited(scanner)
    if scanner.startswith("{"):
        return _json(scanner)
    return _terms(scanner)


# -- space-delimited ---------------------------------------------------------------------------


def _space_delimited(scanner: _Scanner) -> s.SpaceDelimited:
    scanner.expect("[")
    slots: list[s.Slot | s.Ellipsis_] = []
    while True:
        scanner.skip_blanks()
        start = scanner.pos
        if scanner.take("..."):
            if any(isinstance(slot, s.Ellipsis_) for slot in slots):
                raise scanner.error("at most one '...' in a pattern", start)
            slots.append(s.ELLIPSIS)
        else:
            slot = _slot(scanner)
            if slot.name and any(isinstance(o, s.Slot) and o.name == slot.name for o in slots):
                raise scanner.error(f"a field name not used before ({slot.name!r} is)", start)
            slots.append(slot)
        scanner.skip_blanks()
        if scanner.take("]"):
            break
        if not scanner.take(","):
            raise scanner.error("',' or ']'")
    scanner.expect_end("the end of the pattern after ']'")
    return s.SpaceDelimited(tuple(slots))


def _slot(scanner: _Scanner) -> s.Slot:
    name = scanner.match(_NAME)
    if name is None:
        if scanner.at_end() or scanner.text[scanner.pos] in ",]":
            return s.Slot("")  # an unnamed field, as in the guide's '[..., a, b,]'
        raise scanner.error("a field name (letters, digits, '_') or '...'")
    if scanner.startswith("-"):
        raise scanner.error("letters, digits or '_' in a field name ('-' is not allowed)")
    scanner.skip_blanks()
    if scanner.at_end() or scanner.text[scanner.pos] in ",]":
        return s.Slot(name)
    groups: list[list[s.Comparison]] = [[_comparison(scanner, name)]]
    while True:
        scanner.skip_blanks()
        if scanner.take("&&"):
            groups[-1].append(_next_comparison(scanner, name))
        elif scanner.take("||"):
            groups.append([_next_comparison(scanner, name)])
        else:
            break
    return s.Slot(name, s.AnyOf(tuple(s.AllOf(tuple(group)) for group in groups)))


def _next_comparison(scanner: _Scanner, slot_name: str) -> s.Comparison:
    scanner.skip_blanks()
    start = scanner.pos
    name = scanner.match(_NAME)
    if name is None:
        raise scanner.error(f"the field name {slot_name!r} after '&&' or '||'")
    if name != slot_name:
        raise scanner.error(
            f"a condition on {slot_name!r}: a slot may only test its own field "
            f"(AWS rejects {name!r} here; give {name!r} its own slot)",
            start,
        )
    return _comparison(scanner, name)


def _comparison(scanner: _Scanner, name: str) -> s.Comparison:
    scanner.skip_blanks()
    op = scanner.operator()
    scanner.skip_blanks()
    return s.Comparison(name, op, scanner.value(op))


# -- terms -------------------------------------------------------------------------------------


def _terms(scanner: _Scanner) -> s.Terms:
    terms: list[s.Term] = []
    while True:
        scanner.skip_blanks()
        if scanner.at_end():
            return s.Terms(tuple(terms))
        mode = s.TermMode.REQUIRED
        if scanner.take("-"):
            mode = s.TermMode.EXCLUDED
        elif scanner.take("?"):
            mode = s.TermMode.OPTIONAL
        if mode is not s.TermMode.REQUIRED:
            scanner.skip_blanks()  # the guide writes both '-"Exiting"' and '- "Exiting"'
            if scanner.at_end():
                raise scanner.error("a term after '-' or '?'")
        if scanner.startswith('"'):
            text = scanner.quoted()
            if text.strip():  # '" "' alone means "everything": blank phrases test nothing
                terms.append(s.Term(s.Text(text, quoted=True), mode))
        elif scanner.startswith("%"):
            terms.append(s.Term(scanner.regex(), mode))
        else:
            word = scanner.match(_BARE_TERM)
            if word is None:
                raise scanner.error(
                    "a term of letters, digits and '_' (quote terms with other characters)"
                )
            terms.append(s.Term(s.Text(word), mode))
        if not scanner.at_end() and not scanner.text[scanner.pos].isspace():
            raise scanner.error("a blank between terms (quote terms with other characters)")


# -- JSON --------------------------------------------------------------------------------------


def _json(scanner: _Scanner) -> s.Json:
    scanner.expect("{")
    expression = _json_or(scanner)
    scanner.skip_blanks()
    scanner.expect("}", "'&&', '||' or '}'")
    scanner.expect_end("the end of the pattern after '}'")
    return s.Json(expression)


def _json_or(scanner: _Scanner) -> s.JsonExpression:
    items = [_json_and(scanner)]
    while True:
        scanner.skip_blanks()
        if not scanner.take("||"):
            break
        items.append(_json_and(scanner))
    return items[0] if len(items) == 1 else s.JsonOr(tuple(items))


def _json_and(scanner: _Scanner) -> s.JsonExpression:
    items = [_json_primary(scanner)]
    while True:
        scanner.skip_blanks()
        if not scanner.take("&&"):
            break
        items.append(_json_primary(scanner))
    return items[0] if len(items) == 1 else s.JsonAnd(tuple(items))


def _json_primary(scanner: _Scanner) -> s.JsonExpression:
    scanner.skip_blanks()
    if scanner.take("("):
        scanner.depth += 1
        if scanner.depth > MAX_NESTING:
            raise scanner.error(f"at most {MAX_NESTING} nested parentheses", scanner.pos - 1)
        inner = _json_or(scanner)
        scanner.skip_blanks()
        scanner.expect(")", "'&&', '||' or ')'")
        scanner.depth -= 1
        return inner
    start = scanner.pos
    selector = scanner.match(_SELECTOR)
    if selector is None:
        raise scanner.error("a selector such as $.field, $.list[0] or $.list[*].field, or '('")
    wildcards = wildcard_count(selector)
    if wildcards > MAX_SELECTOR_WILDCARDS:
        raise scanner.error(
            f"at most {MAX_SELECTOR_WILDCARDS} wildcard ([*] or .*) in one selector "
            f"({selector} has {wildcards})",
            start,
        )
    scanner.wildcards += wildcards
    if scanner.wildcards > MAX_PATTERN_WILDCARDS:
        raise scanner.error(
            f"at most {MAX_PATTERN_WILDCARDS} wildcard selectors ([*] or .*) in one pattern",
            start,
        )
    scanner.skip_blanks()
    for test in s.JsonTest:
        if _take_words(scanner, test):
            return s.JsonIs(selector, test)
    op = scanner.operator()
    scanner.skip_blanks()
    return s.JsonComparison(selector, op, scanner.value(op))


_KEYWORDS = {
    test: re.compile(r"\s+".join(test.value.split()) + r"(?![A-Za-z0-9_])") for test in s.JsonTest
}


def _take_words(scanner: _Scanner, test: s.JsonTest) -> bool:
    """Take a keyword phrase such as ``IS NULL`` (any blanks between the words)."""
    found = _KEYWORDS[test].match(scanner.text, scanner.pos)
    if found is None:
        return False
    scanner.pos = found.end()
    return True
