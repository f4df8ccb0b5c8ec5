"""A small evaluator of CloudWatch Logs filter patterns, so tests can check template.yaml's metric filters.

Followed: AWS's "Filter and pattern syntax" page of the CloudWatch Logs User Guide
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html), read in its
Markdown source, the last revision of doc_source/FilterAndPatternSyntax.md in
github.com/awsdocs/amazon-cloudwatch-logs-user-guide (2022, before that repository was archived):
sections "Using filter patterns to match terms in log events", "Using metric filters to match terms and
extract values from JSON log events", "Matching terms in JSON log events", "Using compound expressions"
and "Using values in log events to increment a metric's value". Its JSON part now lives at
https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/matching-terms-json-log-events.html, whose
intro still gives `{ $.eventType = "UpdateTrail" }` and `{ $.sourceIPAddress != 123.123.* }`. The
1024-character limit is the `FilterPattern` shape of the CloudWatch Logs API model (botocore's
logs/2014-03-28/service-2.json).

What the docs say, as implemented:

- JSON patterns are `{ SELECTOR OPERATOR VALUE }` joined by `&&` and `||`, with parentheses;
  precedence `()` > `&&` > `||`.
- Selectors start with `$.`; names are alphanumerics, `-` and `_`; `[N]` indexes arrays (zero-based).
  A selector that lands on an array or an object never matches.
- Strings: `=` / `!=`; double-quoted, or bare (the docs ask for quotes beyond alphanumerics and `_`,
  yet their own `123.123.*` is bare, so any bare word is accepted); `*` is a wildcard; comparison is
  case-sensitive.
- Numbers: `=`, `!=`, `<`, `>`, `<=`, `>=`; signs, decimals and scientific notation (`1e-3`, `1e+3`).
- `IS TRUE`, `IS FALSE`, `IS NULL`, `NOT EXISTS`; `IS NOT` and `EXISTS` are not supported.
- Unstructured patterns: terms are case-sensitive; several terms must all appear; `?term` makes them
  alternatives; `-term` excludes; `"a phrase"` is matched as is; `" "` matches everything.
- MetricValue: a number, or `$.selector` for the value found in a JSON event (`{ $.latency = * }`
  with MetricValue `$.latency` publishes 50 for `{"latency": 50}`).

Where the docs say nothing, the choice made here (each has a test):

- A selector missing from the event matches no comparison, `!=` included (only `NOT EXISTS` is true).
  Users report CloudWatch behaving so (github.com/DataBiosphere/azul/issues/5884: `$.a != "x"` did
  not match an event without `a` in the console's "Test pattern").
- Types must agree: a quoted value, or a bare word that is not a number, only compares with JSON
  strings; a number only with JSON numbers (booleans are not numbers). A type mismatch fails `!=`
  too. The bare `*` (quoted or not) means "any string or number" (the docs' `{ $.latency = * }`).
  Other wildcard values compare with strings only.
- `<`, `>`, `<=`, `>=` with a value that is not a number is a syntax error, as are lower-case
  keywords (`is null`), unknown operators (`==`, `=>`, `<>`, single `&` or `|`), `$.*`, and unquoted
  terms with non-alphanumeric characters in unstructured patterns (the docs require quotes).
- In double-quoted strings only `\\"` and `\\\\` are escapes; any other backslash is an error.
- Unstructured terms are substring matches (`ERROR` matches `ERRORCODE`, as an older edition of the
  same page showed with "Exiting with ERRORCODE: -1"). Mixing `?term` with
  plain or `-term` terms is an error: the docs don't define it.
- A line that isn't a JSON object never matches a JSON pattern; unstructured patterns match the raw
  line (JSON or not).
- Not supported (FilterSyntaxError): regex `%...%`, space-delimited `[...]`, `$.*` selectors, and
  named MetricValues of space-delimited patterns (`$bytes`).
- metric_value only reads JSON numbers: a numeric string ("50") gives None.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, cast

MAX_PATTERN_LENGTH = 1024

__all__ = ["FilterSyntaxError", "Pattern", "matches", "metric_value", "parse"]


class FilterSyntaxError(ValueError):
    """A pattern CloudWatch would reject (or one this evaluator does not support)."""


# --- the pattern tree ----------------------------------------------------------------------------

Selector = tuple[str | int, ...]
CompareOp = Literal["=", "!=", "<", ">", "<=", ">="]
CheckKind = Literal["TRUE", "FALSE", "NULL", "NOT EXISTS"]


@dataclass(frozen=True)
class Compare:
    selector: Selector
    op: CompareOp
    value: str | float  # str: a string (maybe with wildcards); float: a number
    any_value: bool = False  # the bare `*`


@dataclass(frozen=True)
class Check:
    selector: Selector
    kind: CheckKind


@dataclass(frozen=True)
class And:
    left: JsonExpr
    right: JsonExpr


@dataclass(frozen=True)
class Or:
    left: JsonExpr
    right: JsonExpr


JsonExpr = Compare | Check | And | Or


@dataclass(frozen=True)
class Terms:
    """An unstructured pattern: every `include` and no `exclude` appears, or any of `any_of` does."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pattern:
    source: str
    body: JsonExpr | Terms

    def matches(self, line: str) -> bool:
        if isinstance(self.body, Terms):
            return _match_terms(self.body, line)
        event = _load_object(line)
        return event is not None and _evaluate(self.body, event)


# --- tokenizer for JSON patterns -----------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # "{", "}", "(", ")", "&&", "||", "op", "selector", "string", "word" or "end"
    text: str
    pos: int
    selector: Selector = ()


_OPERATORS = ("&&", "||", "!=", "<=", ">=", "=", "<", ">")
_WORD_STOP = set('{}()"=!<>&|') | {" ", "\t", "\r", "\n"}
_NAME = re.compile(r"[A-Za-z0-9_-]+")
_INDEX = re.compile(r"\[(\d+)\]")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def _tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "{}()":
            tokens.append(Token(ch, ch, i))
            i += 1
        elif op := next((o for o in _OPERATORS if text.startswith(o, i)), None):
            tokens.append(Token(op if op in ("&&", "||") else "op", op, i))
            i += len(op)
        elif ch in "!&|":
            raise FilterSyntaxError(f"unknown operator {text[i : i + 2]!r} at {i}")
        elif ch == '"':
            value, end = _read_string(text, i)
            tokens.append(Token("string", value, i))
            i = end
        elif ch == "$":
            selector, end = _read_selector(text, i)
            tokens.append(Token("selector", text[i:end], i, selector))
            i = end
        else:
            end = i
            while end < len(text) and text[end] not in _WORD_STOP:
                end += 1
            tokens.append(Token("word", text[i:end], i))
            i = end
    tokens.append(Token("end", "", len(text)))
    return tokens


def _read_string(text: str, start: int) -> tuple[str, int]:
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == '"':
            return "".join(out), i + 1
        if ch == "\\":
            if i + 1 >= len(text) or text[i + 1] not in '"\\':
                raise FilterSyntaxError(f"unsupported escape {text[i : i + 2]!r} at {i}")
            out.append(text[i + 1])
            i += 2
            continue
        out.append(ch)
        i += 1
    raise FilterSyntaxError(f"unterminated string starting at {start}")


def _read_selector(text: str, start: int) -> tuple[Selector, int]:
    if not text.startswith("$.", start):
        raise FilterSyntaxError(f"a selector starts with '$.' (at {start})")
    i = start + 1
    parts: list[str | int] = []
    while i < len(text):
        if text[i] == ".":
            name = _NAME.match(text, i + 1)
            if name is None:
                raise FilterSyntaxError(f"expected a property name after '.' at {i} (`$.*` is not supported)")
            parts.append(name.group())
            i = name.end()
        elif text[i] == "[":
            index = _INDEX.match(text, i)
            if index is None:
                raise FilterSyntaxError(f"expected an array index like [0] at {i}")
            parts.append(int(index.group(1)))
            i = index.end()
        else:
            break
    if not parts or not isinstance(parts[0], str):
        raise FilterSyntaxError(f"a selector starts with '$.' and a property name (at {start})")
    return tuple(parts), i


# --- recursive-descent parser for JSON patterns ---------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.i = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self, kind: str, what: str | None = None) -> Token:
        token = self.peek()
        if token.kind != kind:
            found = token.text or "the end of the pattern"
            raise FilterSyntaxError(f"expected {what or repr(kind)} at {token.pos}, found {found!r}")
        self.i += 1
        return token

    def pattern(self) -> JsonExpr:
        self.take("{")
        expr = self.disjunction()
        self.take("}", "'}' (or '&&', '||')")
        self.take("end", "nothing after '}'")
        return expr

    def disjunction(self) -> JsonExpr:
        expr = self.conjunction()
        while self.peek().kind == "||":
            self.i += 1
            expr = Or(expr, self.conjunction())
        return expr

    def conjunction(self) -> JsonExpr:
        expr = self.primary()
        while self.peek().kind == "&&":
            self.i += 1
            expr = And(expr, self.primary())
        return expr

    def primary(self) -> JsonExpr:
        if self.peek().kind == "(":
            self.i += 1
            expr = self.disjunction()
            self.take(")", "')' (or '&&', '||')")
            return expr
        return self.condition()

    def condition(self) -> JsonExpr:
        selector = self.take("selector", "a selector like $.field").selector
        token = self.peek()
        if token.kind == "word" and token.text == "IS":
            self.i += 1
            what = self.take("word", "TRUE, FALSE or NULL after IS")
            if what.text in ("TRUE", "FALSE", "NULL"):
                return Check(selector, cast(CheckKind, what.text))
            if what.text == "NOT":
                raise FilterSyntaxError(f"IS NOT is not supported by CloudWatch (at {what.pos})")
            raise FilterSyntaxError(f"expected TRUE, FALSE or NULL after IS at {what.pos}, found {what.text!r}")
        if token.kind == "word" and token.text == "NOT":
            self.i += 1
            self.take_word("EXISTS")
            return Check(selector, "NOT EXISTS")
        op = cast(CompareOp, self.take("op", "an operator (=, !=, <, >, <=, >=, IS, NOT EXISTS)").text)
        value = self.peek()
        if value.kind not in ("string", "word"):
            raise FilterSyntaxError(f"expected a value at {value.pos}, found {value.text or 'the end'!r}")
        self.i += 1
        if value.text == "*":
            if op not in ("=", "!="):
                raise FilterSyntaxError(f"'*' only goes with = or != (at {value.pos})")
            return Compare(selector, op, "*", any_value=True)
        if value.kind == "word" and _NUMBER.fullmatch(value.text):
            return Compare(selector, op, float(value.text))
        if op not in ("=", "!="):
            raise FilterSyntaxError(f"{op} needs a number, found {value.text!r} at {value.pos}")
        return Compare(selector, op, value.text)

    def take_word(self, word: str) -> None:
        token = self.take("word", word)
        if token.text != word:
            raise FilterSyntaxError(f"expected {word} at {token.pos}, found {token.text!r}")


# --- unstructured (term) patterns ----------------------------------------------------------------

_TERM = re.compile(r'\s*([?-]?)(?:"((?:[^"\\]|\\.)*)"|([^\s"]+))')
_BARE_TERM = re.compile(r"[A-Za-z0-9_]+")


def _parse_terms(text: str) -> Terms:
    include: list[str] = []
    exclude: list[str] = []
    any_of: list[str] = []
    pos = 0
    while text[pos:].strip():
        found = _TERM.match(text, pos)
        if found is None:
            raise FilterSyntaxError(f"unterminated quote or stray character at {pos}")
        prefix, quoted, bare = found.groups()
        if quoted is not None:
            term, _ = _read_string(f'"{quoted}"', 0)
        elif _BARE_TERM.fullmatch(bare):
            term = bare
        elif bare.startswith("$") or "}" in bare:
            raise FilterSyntaxError(f"a JSON pattern goes inside {{ }}: {bare!r} at {found.start(3)}")
        else:
            raise FilterSyntaxError(f"quote terms with characters other than letters, digits and _: {bare!r}")
        {"": include, "-": exclude, "?": any_of}[prefix].append(term)
        pos = found.end()
    if any_of and (include or exclude):
        raise FilterSyntaxError("mixing ?term with plain or -term terms is not defined by the docs")
    if not (include or exclude or any_of):
        return Terms()
    if include and all(not t.strip() for t in include) and not exclude:
        return Terms()  # the docs' `" "`: match everything
    return Terms(tuple(include), tuple(exclude), tuple(any_of))


def _match_terms(terms: Terms, line: str) -> bool:
    if terms.any_of:
        return any(t in line for t in terms.any_of)
    return all(t in line for t in terms.include) and not any(t in line for t in terms.exclude)


# --- evaluation ----------------------------------------------------------------------------------

_MISSING = object()
type JsonValue = bool | int | float | str | list[JsonValue] | dict[str, JsonValue] | None


def _load_object(line: str) -> dict[str, JsonValue] | None:
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


def _resolve(event: dict[str, JsonValue], selector: Selector) -> JsonValue | object:
    node: JsonValue = event
    for part in selector:
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            node = node[part]
            continue
        if isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            continue
        return _MISSING
    return node


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _wildcard_match(pattern: str, value: str) -> bool:
    if "*" not in pattern:
        return pattern == value
    regex = ".*".join(re.escape(piece) for piece in pattern.split("*"))
    return re.fullmatch(regex, value, re.DOTALL) is not None


def _compare(cond: Compare, found: JsonValue | object) -> bool:
    if cond.any_value:  # `= *`: any string or number; `!= *` can never hold
        return cond.op == "=" and (isinstance(found, str) or _is_number(found))
    if isinstance(cond.value, str):
        if not isinstance(found, str):
            return False
        equal = _wildcard_match(cond.value, found)
        return equal if cond.op == "=" else not equal
    if not _is_number(found):
        return False
    actual = float(cast(float, found))
    wanted = cond.value
    match cond.op:
        case "=":
            return actual == wanted
        case "!=":
            return actual != wanted
        case "<":
            return actual < wanted
        case ">":
            return actual > wanted
        case "<=":
            return actual <= wanted
        case ">=":
            return actual >= wanted
    raise AssertionError(cond.op)


def _evaluate(expr: JsonExpr, event: dict[str, JsonValue]) -> bool:
    match expr:
        case And(left, right):
            return _evaluate(left, event) and _evaluate(right, event)
        case Or(left, right):
            return _evaluate(left, event) or _evaluate(right, event)
        case Check(selector, kind):
            found = _resolve(event, selector)
            if kind == "NOT EXISTS":
                return found is _MISSING
            return found is {"TRUE": True, "FALSE": False, "NULL": None}[kind]
        case Compare(selector=selector):
            found = _resolve(event, selector)
            if found is _MISSING or isinstance(found, dict | list):
                return False
            return _compare(expr, found)
    raise AssertionError(expr)


# --- the API -------------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def parse(pattern: str) -> Pattern:
    """Parse a filter pattern; FilterSyntaxError if CloudWatch would reject it (or it is unsupported)."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise FilterSyntaxError(f"a filter pattern is at most {MAX_PATTERN_LENGTH} characters")
    text = pattern.strip()
    if text.startswith("{"):
        return Pattern(pattern, _Parser(text).pattern())
    if text.startswith("["):
        raise FilterSyntaxError("space-delimited patterns ([...]) are not supported here")
    if text.startswith("%"):
        raise FilterSyntaxError("regex patterns (%...%) are not supported here")
    return Pattern(pattern, _parse_terms(text))


def matches(pattern: str, line: str) -> bool:
    """Whether the log event `line` (one line of text) matches the filter pattern."""
    return parse(pattern).matches(line)


def metric_value(transformation_value: str, line: str) -> float | None:
    """The value a MetricTransformation publishes for a matching event; None when it publishes nothing.

    `transformation_value` is a number ("1") or a JSON selector ("$.elapsed_ms"). The caller checks
    the filter pattern first: this only reads the value.
    """
    text = transformation_value.strip()
    if _NUMBER.fullmatch(text):
        return float(text)
    if not text.startswith("$."):
        raise FilterSyntaxError(f"MetricValue must be a number or a $.selector, not {transformation_value!r}")
    selector, end = _read_selector(text, 0)
    if end != len(text):
        raise FilterSyntaxError(f"unexpected {text[end:]!r} after the selector in {transformation_value!r}")
    event = _load_object(line)
    found = None if event is None else _resolve(event, selector)
    return float(cast(float, found)) if _is_number(found) else None
