"""The CloudWatch filter-pattern evaluator (tests/support/cloudwatch_filter.py) against AWS's documented rules.

Cases marked "docs:" restate an example of AWS's "Filter and pattern syntax" page (log events and
which patterns match them) with our own data; the others pin down the rules and the choices the
module docstring lists where the docs are silent.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.stack import load_template
from tests.support.cloudwatch_filter import FilterSyntaxError, Pattern, matches, metric_value, parse


def line(**fields: Any) -> str:
    return json.dumps(fields)


# docs: the JSON log event of "Matching terms in JSON log events", with our own values
EVENT = line(
    eventKind="RotateKey",
    clientIp="10.20.30.40",
    tags=["first", "second one"],
    items=[{"name": "x", "id": 7}, {"name": "y", "id": 8}],
    Nothing=None,
)
# docs: the JSON object of "Using compound expressions", with our own values
TEAM = line(
    owner={"id": 5, "email": "Ana.Silva@example.org"},
    members=[{"id": 6, "email": "Ben.Okoro@example.org"}, {"id": 7, "email": "Cy.Okoro@example.org"}],
    verbs=["READ", "WRITE", "PURGE"],
    grid=[[0, 1, 2], [3, 4, 5], [6, 7, 8]],
)
# what the posting consumer logs when it parks an order (Powertools JSON, one line)
PARKED = line(
    level="WARNING",
    location="process:148",
    message="parked",
    service="intacct-sync",
    message_id="m-1",
    reason="Intacct rejected the login",
    fix="Update the Intacct credentials secret, then replay the order",
)
SETUP = '{ $.message = "parked" && ($.fix = "*Intacct credentials secret*" || $.fix = "*Intacct setup*") }'

# docs: the unstructured examples, with our own messages
WARN_301 = "[WARN 301] MOVED PERMANENTLY"
WARN_307 = "[WARN 307] TEMPORARY REDIRECT"
FAIL_502 = "[FAIL 502] BAD GATEWAY UPSTREAM"
FAIL_504 = "[FAIL 504] GATEWAY TIMEOUT UPSTREAM"

CASES = [
    # --- docs: JSON strings, numbers, arrays, IS, NOT EXISTS ---
    pytest.param('{ $.eventKind = "RotateKey" }', EVENT, True, id="docs-string-equals"),
    pytest.param("{ $.clientIp != 123.123.* }", EVENT, True, id="docs-not-equal-wildcard-unquoted"),
    pytest.param("{ $.clientIp != 10.20.* }", EVENT, False, id="not-equal-wildcard-that-matches"),
    pytest.param('{ $.tags[0] = "first" }', EVENT, True, id="docs-array-element"),
    pytest.param("{ $.items[1].id = 8 }", EVENT, True, id="docs-object-in-array"),
    pytest.param("{ $.Nothing IS NULL }", EVENT, True, id="docs-is-null"),
    pytest.param("{ $.SomethingElse NOT EXISTS }", EVENT, True, id="docs-not-exists"),
    pytest.param('{ $.eventKind = "*" && $.clientIp != 123.123.* }', EVENT, True, id="docs-dimension-example"),
    # --- docs: compound expressions and precedence () > && > || ---
    pytest.param(
        '{ ($.owner.id = 5) && ($.members[0].email = "Ben.Okoro@example.org") }', TEAM, True, id="docs-and-matches"
    ),
    pytest.param(
        '{ $.owner.email = "Ana.Silva@example.org" || $.grid[0][1] = "nonmatch" && $.verbs[2] = "nonmatch" }',
        TEAM,
        True,
        id="docs-or-matches-and-binds-tighter",
    ),
    pytest.param(
        '{ ($.owner.email = "Ana.Silva@example.org" || $.grid[0][1] = "nonmatch") && $.verbs[2] = "nonmatch" }',
        TEAM,
        False,
        id="docs-parentheses-change-grouping",
    ),
    pytest.param(
        '{ ($.owner.id = 6 && $.members[0].email = "nonmatch") || $.verbs[2] = "READ" }',
        TEAM,
        False,
        id="docs-or-no-match",
    ),
    pytest.param("{ $.grid[2][0] = 6 }", TEAM, True, id="nested-array-index"),
    pytest.param("{ $.a = 1 || $.a = 2 && $.b = 3 }", line(a=1, b=0), True, id="and-before-or"),
    pytest.param("{ ($.a = 1 || $.a = 2) && $.b = 3 }", line(a=1, b=0), False, id="parenthesised-or"),
    pytest.param("{ (($.a = 1)) }", line(a=1), True, id="nested-parentheses"),
    pytest.param("{ $.a = 9 || $.b = 0 }", line(a=1, b=0), True, id="or-right-side"),
    pytest.param("{$.a=1&&$.b!=2}", line(a=1, b=0), True, id="no-spaces"),
    # --- docs: numeric operators, signs and scientific notation ---
    pytest.param("{ $.bandwidth > 75 }", line(bandwidth=80), True, id="docs-greater"),
    pytest.param("{ $.bandwidth > 75 }", line(bandwidth=75), False, id="greater-is-strict"),
    pytest.param("{ $.latency < 50 }", line(latency=49.9), True, id="docs-less-float"),
    pytest.param("{ $.refreshRate >= 60 }", line(refreshRate=60), True, id="docs-greater-equal"),
    pytest.param("{ $.responseTime <= 5 }", line(responseTime=6), False, id="docs-less-equal"),
    pytest.param("{ $.errorCode = 400 }", line(errorCode=400), True, id="docs-number-equals"),
    pytest.param("{ $.errorCode != 500 }", line(errorCode=400), True, id="docs-number-not-equal"),
    pytest.param("{ $.errorCode != 500 }", line(errorCode=500), False, id="number-not-equal-same"),
    pytest.param("{ $.number[0] = 1e-3 }", line(number=[0.001, 1000]), True, id="docs-exponent-minus"),
    pytest.param("{ $.number[1] != 1e+3 }", line(number=[0.001, 1000]), False, id="docs-exponent-plus"),
    pytest.param("{ $.n = 1500 }", line(n=1500.0), True, id="int-equals-float"),
    pytest.param("{ $.n = 1.5E3 }", line(n=1500), True, id="exponent-equals-int"),
    pytest.param("{ $.n > -3 }", line(n=-2), True, id="negative"),
    pytest.param("{ $.n < -3 }", line(n=-2), False, id="negative-less"),
    pytest.param("{ $.n = +7 }", line(n=7), True, id="plus-sign"),
    pytest.param("{ $.n = 0.5 }", line(n=0.5), True, id="float-equals"),
    pytest.param("{ $.n = .5 }", line(n=0.5), True, id="float-no-leading-zero"),
    # --- strings: exact, case-sensitive, quoted or bare, wildcards anywhere ---
    pytest.param('{ $.message = "parked" }', line(message="parked"), True, id="string-exact"),
    pytest.param("{ $.message = parked }", line(message="parked"), True, id="string-bare-word"),
    pytest.param('{ $.message = "parked" }', line(message="Parked"), False, id="string-case-sensitive"),
    pytest.param('{ $.message = "parked" }', line(message="parked order"), False, id="string-no-substring"),
    pytest.param('{ $.message != "parked" }', line(message="posted"), True, id="string-not-equal"),
    pytest.param('{ $.message != "parked" }', line(message="parked"), False, id="string-not-equal-same"),
    pytest.param('{ $.Message = "parked" }', line(message="parked"), False, id="selector-case-sensitive"),
    pytest.param('{ $.fix = "Update*" }', PARKED, True, id="wildcard-suffix"),
    pytest.param('{ $.fix = "*the order" }', PARKED, True, id="wildcard-prefix"),
    pytest.param('{ $.fix = "Update*order" }', PARKED, True, id="wildcard-middle"),
    pytest.param('{ $.fix = "*credentials*replay*" }', PARKED, True, id="wildcard-several"),
    pytest.param('{ $.fix = "*Credentials*" }', PARKED, False, id="wildcard-case-sensitive"),
    pytest.param('{ $.fix = "Update" }', PARKED, False, id="no-wildcard-no-prefix-match"),
    pytest.param('{ $.v = "a.b*" }', line(v="axb-c"), False, id="wildcard-dot-is-literal"),
    pytest.param('{ $.v = "a.b*" }', line(v="a.b-c"), True, id="wildcard-dot-literal-matches"),
    pytest.param('{ $.v = "*" }', line(v=""), True, id="star-matches-empty-string"),
    pytest.param('{ $.v = "" }', line(v=""), True, id="empty-string"),
    pytest.param('{ $.q = "say \\"hi\\"" }', line(q='say "hi"'), True, id="escaped-quote"),
    pytest.param(
        '{ $.request-id = "r-1" && $.user_name = u }',
        line(**{"request-id": "r-1", "user_name": "u"}),
        True,
        id="hyphen-underscore-names",
    ),
    # --- docs: `{ $.latency = * }` (any value); ours: * is any string or number ---
    pytest.param("{ $.latency = * }", line(latency=50), True, id="docs-star-number"),
    pytest.param("{ $.latency = * }", line(latency="slow"), True, id="star-string"),
    pytest.param("{ $.latency = * }", line(latency=None), False, id="star-null"),
    pytest.param("{ $.latency = * }", line(latency=True), False, id="star-boolean"),
    pytest.param("{ $.latency = * }", line(latency={"ms": 5}), False, id="star-object"),
    pytest.param("{ $.latency = * }", line(other=1), False, id="star-missing"),
    pytest.param("{ $.latency != * }", line(latency=50), False, id="not-star-never"),
    pytest.param("{ $.status = 4* }", line(status=404), False, id="wildcard-not-on-numbers"),
    pytest.param("{ $.status = 4* }", line(status="404"), True, id="wildcard-on-numeric-string"),
    # --- types must agree ---
    pytest.param("{ $.code = 400 }", line(code="400"), False, id="number-vs-string-field"),
    pytest.param('{ $.code = "400" }', line(code=400), False, id="string-vs-number-field"),
    pytest.param("{ $.code != 400 }", line(code="400"), False, id="not-equal-type-mismatch"),
    pytest.param('{ $.code != "400" }', line(code=500), False, id="not-equal-string-vs-number"),
    pytest.param("{ $.code > 5 }", line(code="10"), False, id="greater-vs-string"),
    pytest.param("{ $.flag = 1 }", line(flag=True), False, id="boolean-is-not-number"),
    pytest.param("{ $.flag = true }", line(flag=True), False, id="bare-true-is-a-string"),
    pytest.param('{ $.n = "null" }', line(n=None), False, id="null-is-not-a-string"),
    # --- IS TRUE / IS FALSE / IS NULL / NOT EXISTS ---
    pytest.param("{ $.flag IS TRUE }", line(flag=True), True, id="is-true"),
    pytest.param("{ $.flag IS TRUE }", line(flag=False), False, id="is-true-on-false"),
    pytest.param("{ $.flag IS TRUE }", line(flag="true"), False, id="is-true-on-string"),
    pytest.param("{ $.flag IS TRUE }", line(flag=1), False, id="is-true-on-one"),
    pytest.param("{ $.flag IS FALSE }", line(flag=False), True, id="is-false"),
    pytest.param("{ $.flag IS FALSE }", line(other=1), False, id="is-false-on-missing"),
    pytest.param("{ $.flag IS FALSE }", line(flag=0), False, id="is-false-on-zero"),
    pytest.param("{ $.v IS NULL }", line(other=1), False, id="is-null-on-missing"),
    pytest.param("{ $.v IS NULL }", line(v=""), False, id="is-null-on-empty-string"),
    pytest.param("{ $.v NOT EXISTS }", line(v=None), False, id="null-exists"),
    pytest.param("{ $.v NOT EXISTS }", line(v="x"), False, id="present-exists"),
    pytest.param("{ $.a.b NOT EXISTS }", line(a="scalar"), True, id="not-exists-through-scalar"),
    pytest.param("{ $.list[5] NOT EXISTS }", line(list=[1]), True, id="not-exists-past-array-end"),
    # --- a missing selector: no comparison matches, != included ---
    pytest.param('{ $.fix = "x" }', line(message="parked"), False, id="missing-equals"),
    pytest.param('{ $.fix != "x" }', line(message="parked"), False, id="missing-not-equal"),
    pytest.param("{ $.n != 3 }", line(message="parked"), False, id="missing-number-not-equal"),
    pytest.param("{ $.n < 3 }", line(message="parked"), False, id="missing-less"),
    pytest.param('{ $.a.b = "x" }', line(a="x"), False, id="missing-through-scalar"),
    pytest.param('{ $.tags[9] = "x" }', EVENT, False, id="missing-past-array-end"),
    # --- docs: a selector on an array or object never matches ---
    pytest.param('{ $.tags = "first" }', EVENT, False, id="docs-selector-on-array"),
    pytest.param('{ $.tags != "first" }', EVENT, False, id="not-equal-on-array"),
    pytest.param('{ $.items[0] = "x" }', EVENT, False, id="docs-selector-on-object"),
    pytest.param('{ $.items[0] != "x" }', EVENT, False, id="not-equal-on-object"),
    # --- the event must be a JSON object ---
    pytest.param('{ $.message = "parked" }', "parked", False, id="plain-text-line"),
    pytest.param('{ $.message = "parked" }', "[1, 2]", False, id="json-array-line"),
    pytest.param('{ $.message = "parked" }', '"parked"', False, id="json-string-line"),
    pytest.param('{ $.message = "parked" }', 'INFO {"message": "parked"}', False, id="prefixed-json-line"),
    pytest.param('{ $.message = "parked" }', '{"message": "parked"', False, id="truncated-json-line"),
    pytest.param('{ $.message = "parked" }', '  {"message": "parked"}\n', True, id="surrounding-whitespace"),
    pytest.param("{ $.v NOT EXISTS }", "not json", False, id="not-exists-needs-json"),
    # --- the template's pattern against what the consumer logs ---
    pytest.param(SETUP, PARKED, True, id="template-setup-credentials"),
    pytest.param(SETUP, line(message="parked", fix="Finish the Intacct setup (entity)"), True, id="template-setup"),
    pytest.param(SETUP, line(message="parked", fix="finish the intacct setup"), False, id="template-case"),
    pytest.param(SETUP, line(message="parked", fix="Map the SKU to an item"), False, id="template-other-fix"),
    pytest.param(SETUP, line(message="parked", reason="no fix"), False, id="template-no-fix"),
    pytest.param(
        SETUP, line(message="posted", fix="Update the Intacct credentials secret"), False, id="template-other-message"
    ),
    # --- docs: unstructured patterns (terms, ?, -, phrases, match everything) ---
    pytest.param("FAIL", FAIL_502, True, id="docs-single-term"),
    pytest.param("FAIL", WARN_301, False, id="docs-single-term-absent"),
    pytest.param("FAIL UPSTREAM", FAIL_504, True, id="docs-all-terms"),
    pytest.param("FAIL TIMEOUT", FAIL_502, False, id="docs-all-terms-one-missing"),
    pytest.param("?FAIL ?MOVED", WARN_301, True, id="docs-any-term-second"),
    pytest.param("?FAIL ?MOVED", FAIL_502, True, id="docs-any-term-first"),
    pytest.param("?FAIL ?MOVED", WARN_307, False, id="docs-any-term-none"),
    pytest.param('"BAD GATEWAY"', FAIL_502, True, id="docs-phrase"),
    pytest.param('"GATEWAY BAD"', FAIL_502, False, id="phrase-order-matters"),
    pytest.param("FAIL -TIMEOUT", FAIL_502, True, id="docs-exclude-keeps"),
    pytest.param("FAIL -TIMEOUT", FAIL_504, False, id="docs-exclude-drops"),
    pytest.param("-TIMEOUT", WARN_307, True, id="exclude-only"),
    pytest.param('" "', WARN_307, True, id="docs-match-everything"),
    pytest.param('" "', "nospaces", True, id="docs-match-everything-no-spaces"),
    pytest.param("", "anything at all", True, id="empty-pattern"),
    pytest.param("   ", "x", True, id="blank-pattern"),
    pytest.param("fail", FAIL_502, False, id="term-case-sensitive"),
    pytest.param("ERROR", "Exiting with ERRORCODE: -1", True, id="docs-term-is-substring"),
    pytest.param('?"BAD GATEWAY" ?REDIRECT', WARN_307, True, id="any-of-phrases"),
    pytest.param('"[FAIL 504]"', FAIL_504, True, id="quoted-punctuation"),
    pytest.param("parked", PARKED, True, id="term-in-json-line"),
]


@pytest.mark.parametrize(("pattern", "event", "expected"), CASES)
def test_matches(pattern: str, event: str, expected: bool) -> None:
    assert matches(pattern, event) is expected


BAD_PATTERNS = [
    pytest.param('{ $.a = "x"', id="missing-closing-brace"),
    pytest.param('$.a = "x" }', id="missing-opening-brace"),
    pytest.param('{ { $.a = "x" } }', id="double-brace"),
    pytest.param('{ ($.a = "x" }', id="missing-closing-paren"),
    pytest.param('{ $.a = "x") }', id="extra-closing-paren"),
    pytest.param('{ (($.a = "x") }', id="unbalanced-nested-parens"),
    pytest.param('{ $.a == "x" }', id="double-equals"),
    pytest.param("{ $.a => 1 }", id="arrow"),
    pytest.param("{ $.a =< 1 }", id="reversed-less-equal"),
    pytest.param("{ $.a <> 1 }", id="sql-not-equal"),
    pytest.param("{ $.a ~ 1 }", id="tilde"),
    pytest.param("{ $.a ! 1 }", id="bang"),
    pytest.param("{ $.a = 1 & $.b = 2 }", id="single-ampersand"),
    pytest.param("{ $.a = 1 | $.b = 2 }", id="single-pipe"),
    pytest.param("{ $.a = 1 AND $.b = 2 }", id="word-and"),
    pytest.param("{ $.a = 1 $.b = 2 }", id="missing-connective"),
    pytest.param('{ $.a = "x" && }', id="dangling-and"),
    pytest.param('{ || $.a = "x" }', id="leading-or"),
    pytest.param('{ a = "x" }', id="missing-dollar-dot"),
    pytest.param('{ $a = "x" }', id="missing-dot"),
    pytest.param('{ $. = "x" }', id="empty-name"),
    pytest.param('{ $.* = "x" }', id="star-selector"),
    pytest.param('{ $.a.* = "x" }', id="star-member"),
    pytest.param("{ $.a[x] = 1 }", id="non-numeric-index"),
    pytest.param("{ $.a[-1] = 1 }", id="negative-index"),
    pytest.param("{ $.a[0 = 1 }", id="unclosed-index"),
    pytest.param('{ $.a@b = "x" }', id="bad-name-character"),
    pytest.param("{ $.a = }", id="missing-value"),
    pytest.param("{ $.a }", id="missing-operator"),
    pytest.param("{ $.a = $.b }", id="selector-as-value"),
    pytest.param("{ }", id="empty-braces"),
    pytest.param('{ $.a = "x" } extra', id="text-after-brace"),
    pytest.param('{ $.a = "unterminated }', id="unterminated-string"),
    pytest.param('{ $.a = "tab\\t" }', id="unsupported-escape"),
    pytest.param("{ $.a IS NOT NULL }", id="is-not-unsupported"),
    pytest.param("{ $.a EXISTS }", id="exists-unsupported"),
    pytest.param("{ $.a is null }", id="lower-case-keywords"),
    pytest.param("{ $.a IS MAYBE }", id="unknown-is"),
    pytest.param("{ $.a NOT THERE }", id="not-without-exists"),
    pytest.param('{ $.a > "x" }', id="greater-than-string"),
    pytest.param("{ $.a <= abc }", id="less-equal-word"),
    pytest.param("{ $.a > * }", id="greater-than-star"),
    pytest.param("[ip, user, status_code = 4*]", id="space-delimited-unsupported"),
    pytest.param("%ERR.R%", id="regex-unsupported"),
    pytest.param("ERROR ?WARN", id="mixed-any-and-all"),
    pytest.param("?ERROR -WARN", id="mixed-any-and-exclude"),
    pytest.param('"unterminated', id="unterminated-phrase"),
    pytest.param("ERROR!", id="unquoted-punctuation"),
    pytest.param("x" * 1025, id="longer-than-1024"),
]


@pytest.mark.parametrize("pattern", BAD_PATTERNS)
def test_syntax_errors(pattern: str) -> None:
    with pytest.raises(FilterSyntaxError):
        parse(pattern)


def test_parse_returns_a_reusable_pattern() -> None:
    pattern = parse(SETUP)
    assert isinstance(pattern, Pattern)
    assert pattern.matches(PARKED)
    assert not pattern.matches(line(message="parked"))
    assert parse("x" * 1024).matches("x" * 1024)


@pytest.mark.parametrize(
    ("value", "event", "expected"),
    [
        pytest.param("1", "not even json", 1.0, id="literal-one"),
        pytest.param("2.5", PARKED, 2.5, id="literal-float"),
        pytest.param("-1", PARKED, -1.0, id="literal-negative"),
        pytest.param("1e3", PARKED, 1000.0, id="literal-exponent"),
        pytest.param("$.latency", line(latency=50, requestType="GET"), 50.0, id="docs-latency"),
        pytest.param("$.elapsed_ms", line(elapsed_ms=12.75), 12.75, id="float-field"),
        pytest.param("$.timing.total_ms", line(timing={"total_ms": 30}), 30.0, id="nested-field"),
        pytest.param("$.samples[1]", line(samples=[1, 2, 3]), 2.0, id="array-element"),
        pytest.param("$.elapsed_ms", line(other=1), None, id="absent"),
        pytest.param("$.elapsed_ms", line(elapsed_ms="50"), None, id="numeric-string"),
        pytest.param("$.elapsed_ms", line(elapsed_ms=True), None, id="boolean"),
        pytest.param("$.elapsed_ms", line(elapsed_ms=None), None, id="null"),
        pytest.param("$.elapsed_ms", line(elapsed_ms={"ms": 1}), None, id="object"),
        pytest.param("$.elapsed_ms", "elapsed_ms=50", None, id="not-json"),
    ],
)
def test_metric_value(value: str, event: str, expected: float | None) -> None:
    assert metric_value(value, event) == expected


def test_metric_value_with_its_filter() -> None:
    # docs: `{ $.latency = * }` with MetricValue `$.latency` publishes the latency of each matching event
    event = line(latency=50, requestType="GET")
    assert matches("{ $.latency = * }", event)
    assert metric_value("$.latency", event) == 50.0


@pytest.mark.parametrize("value", ["$elapsed_ms", "elapsed_ms", "$.", "$.a b", "", "$.*", "one"])
def test_metric_value_syntax_errors(value: str) -> None:
    with pytest.raises(FilterSyntaxError):
        metric_value(value, line(elapsed_ms=1))


def test_every_template_metric_filter_parses() -> None:
    resources = load_template()["Resources"]
    filters = {name: r["Properties"] for name, r in resources.items() if r.get("Type") == "AWS::Logs::MetricFilter"}
    assert filters, "template.yaml declares no AWS::Logs::MetricFilter"
    for name, props in filters.items():
        try:
            parse(props["FilterPattern"])
            for transformation in props["MetricTransformations"]:
                metric_value(str(transformation["MetricValue"]), "{}")
        except FilterSyntaxError as exc:
            pytest.fail(f"{name}: {exc}")
