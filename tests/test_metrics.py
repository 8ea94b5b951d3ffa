"""Metrics on a worked example computed by hand, with the seed's denominators."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

from harness.catalog import NO_TOOL
from harness.golden import Category, GoldenCase, Target
from harness.metrics import (
    HEADLINE,
    LOWER_IS_BETTER,
    METRICS,
    RATE_NAMES,
    Metrics,
    Rate,
    compute_metrics,
    confusion_labels,
    confusion_matrix,
    metric_hint,
    metric_label,
    metric_spec,
    metrics_by_category,
)
from harness.parse import parse_tool_call
from harness.scoring import CaseVerdict, Outcome, score_case
from tests.strategies import customer_support_catalog

CS = customer_support_catalog()


def call(tool: str, **arguments: str) -> str:
    return json.dumps({"tool": tool, "arguments": arguments})


NO = '{"tool": "no_tool", "reason": "nothing to do"}'

# (id, category, gold tool, gold arguments, raw output, expected outcome)
WORKED = [
    ("c1", "positive", "track_order", {"order_id": "A"}, call("track_order", order_id="A"),
     Outcome.CORRECT),
    ("c2", "positive", "escalate", {"reason": "angry"}, call("escalate", reason="Angry!"),
     Outcome.CORRECT),
    ("c3", "positive", "track_order", {"order_id": "B"}, NO, Outcome.MISSED_CALL),
    ("c4", "positive", "request_refund", {"order_id": "C", "reason": "late"},
     call("request_refund", order_id="D", reason="late"), Outcome.WRONG_ARGUMENTS),
    ("c5", "positive", "track_order", {"order_id": "E"}, call("escalate", reason="x"),
     Outcome.WRONG_TOOL),
    ("c6", "positive", "escalate", {"reason": "r"}, "Let me escalate that.", Outcome.INVALID),
    ("c7", "chitchat", NO_TOOL, {}, NO, Outcome.CORRECT),
    ("c8", "chitchat", NO_TOOL, {}, call("track_order", order_id="A"), Outcome.FALSE_TOOL_CALL),
    ("c9", "info_request", NO_TOOL, {}, '{"tool": "no_tool"}', Outcome.INVALID),
    ("c10", "underspecified", NO_TOOL, {}, NO, Outcome.CORRECT),
]  # fmt: skip


def worked_verdicts() -> list[CaseVerdict]:
    verdicts = []
    for case_id, category, tool, arguments, output, outcome in WORKED:
        case = GoldenCase(
            id=case_id,
            category=Category(category),
            prompt="request A B C D E",  # every order id is in it: grounded
            target=Target(tool=tool, arguments=arguments),
            split="holdout" if case_id in ("c6", "c10") else "dev",
            catalog="customer_support",
        )
        verdict = score_case(case, parse_tool_call(output, CS), CS)
        assert verdict.outcome is outcome, case_id
        verdicts.append(verdict)
    return verdicts


def fraction(rate: Rate) -> Fraction:
    return Fraction(rate.numerator, rate.denominator)


def test_worked_example_by_hand() -> None:
    m = compute_metrics(worked_verdicts())
    assert m.n == 10
    # valid outputs: all but the two invalid ones (c6, c9) -> 8 of n = 10.
    assert (m.valid_tool_call_rate.numerator, m.valid_tool_call_rate.denominator) == (8, 10)
    assert m.valid_tool_call_rate.value == 8 / 10
    # gold tool named: c1, c2, c4 (right tool, wrong arguments), c7, c10 -> 5 of n = 10.
    assert (m.tool_name_accuracy.numerator, m.tool_name_accuracy.denominator) == (5, 10)
    # right tool and arguments among the 8 valid: c1, c2 (reason matched normalized),
    # c7, c10 (a correct no_tool has no arguments to get wrong) -> 4 of valid = 8.
    # (The seed's own loop would count only c1 and c2 here: 2/8; same denominator.)
    assert (m.argument_match_accuracy.numerator, m.argument_match_accuracy.denominator) == (4, 8)
    assert fraction(m.argument_match_accuracy) == Fraction(1, 2)
    # gold no_tool but a real tool was called: c8 -> 1 of n = 10.
    assert (m.false_tool_call_rate.numerator, m.false_tool_call_rate.denominator) == (1, 10)
    # gold tool but the model said no_tool: c3 -> 1 of 10.
    assert (m.missed_call_rate.numerator, m.missed_call_rate.denominator) == (1, 10)
    # valid calls of the wrong tool (c5) or with wrong arguments (c4) -> 2 of 10.
    assert (m.silent_corruption_rate.numerator, m.silent_corruption_rate.denominator) == (2, 10)
    # outcome correct: c1, c2, c7, c10 -> 4 of 10.
    assert (m.pass_rate.numerator, m.pass_rate.denominator) == (4, 10)
    assert m.error_kinds == {"missing_reason": 1, "not_json": 1}


def test_worked_example_intervals() -> None:
    m = compute_metrics(worked_verdicts())
    rate = m.valid_tool_call_rate
    assert rate.low == pytest.approx(0.4902, abs=1e-4)
    assert rate.high == pytest.approx(0.9433, abs=1e-4)
    assert str(rate) == "0.800 [0.490, 0.943] (8/10)"
    assert str(m.argument_match_accuracy) == "0.500 [0.215, 0.785] (4/8)"


def test_worked_example_by_category() -> None:
    by = metrics_by_category(worked_verdicts())
    assert list(by) == ["positive", "underspecified", "info_request", "chitchat"]
    pos = by["positive"]
    # c1..c6: valid c1-c5 (5/6); tool named c1, c2, c4 (3/6); arguments right c1, c2 (2/5);
    # missed c3 (1/6); silent corruption c4, c5 (2/6); no false tool calls (0/6).
    assert pos.n == 6
    assert fraction(pos.valid_tool_call_rate) == Fraction(5, 6)
    assert (pos.tool_name_accuracy.numerator, pos.tool_name_accuracy.denominator) == (3, 6)
    assert (pos.argument_match_accuracy.numerator, pos.argument_match_accuracy.denominator) == (
        2,
        5,
    )
    assert pos.missed_call_rate.numerator == 1
    assert pos.silent_corruption_rate.numerator == 2
    assert pos.false_tool_call_rate.value == 0.0
    chit = by["chitchat"]
    # c7 correct, c8 a false tool call: 1/2 each.
    assert (chit.false_tool_call_rate.numerator, chit.false_tool_call_rate.denominator) == (1, 2)
    assert chit.pass_rate.value == 0.5
    info = by["info_request"]
    # c9 invalid: no valid output, so argument-match accuracy has no cases.
    assert info.valid_tool_call_rate.value == 0.0
    assert info.argument_match_accuracy.value is None
    assert str(info.argument_match_accuracy) == "no cases"
    assert by["underspecified"].pass_rate.value == 1.0


def test_empty_category_is_present_and_empty() -> None:
    verdicts = [v for v in worked_verdicts() if v.category is Category.POSITIVE]
    by = metrics_by_category(verdicts)
    assert by["chitchat"].n == 0
    assert by["chitchat"].pass_rate.value is None


def test_no_cases() -> None:
    m = compute_metrics([])
    assert m.n == 0
    for name in RATE_NAMES:
        rate = m.rate(name)
        assert rate.value is None and rate.low is None and rate.high is None
        assert rate.denominator == 0 and rate.numerator == 0
        assert str(rate) == "no cases"
    assert m.error_kinds == {}


def test_rate_of() -> None:
    assert Rate.of(0, 0).value is None
    rate = Rate.of(0, 10)
    assert rate.value == 0.0
    assert rate.low == 0.0
    assert rate.high == pytest.approx(0.2775, abs=1e-4)
    assert Rate.of(10, 10).high == 1.0
    with pytest.raises(ValueError):
        Rate.of(11, 10)


def test_rate_lookup() -> None:
    m = compute_metrics(worked_verdicts())
    assert m.rate("pass_rate") is m.pass_rate
    with pytest.raises(KeyError, match="unknown metric 'n'"):
        m.rate("n")
    with pytest.raises(KeyError, match="unknown metric 'bogus'"):
        m.rate("bogus")
    assert RATE_NAMES[:4] == HEADLINE


def test_confusion_matrix() -> None:
    assert confusion_matrix(worked_verdicts()) == {
        "track_order": {"track_order": 1, NO_TOOL: 1, "escalate": 1},
        "escalate": {"escalate": 1, "invalid": 1},
        "request_refund": {"request_refund": 1},
        NO_TOOL: {NO_TOOL: 2, "track_order": 1, "invalid": 1},
    }
    assert confusion_matrix([]) == {}
    assert confusion_labels(["a", "b"]) == ["a", "b", NO_TOOL, "invalid"]


def test_the_table_and_the_metrics_model_name_the_same_rates() -> None:
    rate_fields = [
        name for name, f in Metrics.model_fields.items() if f.annotation in (Rate, "Rate")
    ]
    assert sorted(rate_fields) == sorted(RATE_NAMES)
    assert len(set(RATE_NAMES)) == len(METRICS)
    assert HEADLINE == (
        "valid_tool_call_rate",
        "tool_name_accuracy",
        "argument_match_accuracy",
        "false_tool_call_rate",
    )
    assert {
        "false_tool_call_rate",
        "missed_call_rate",
        "silent_corruption_rate",
        "false_call_attempt_rate",
        "ungrounded_rate",
    } == LOWER_IS_BETTER


def test_labels_and_hints_come_from_the_table() -> None:
    assert metric_label("false_tool_call_rate") == "false-tool-call rate"
    assert metric_label("false_call_attempt_rate") == "false-call-attempt rate"
    assert metric_label("regressions") == "regressions"
    assert metric_hint("argument_match_accuracy") == "valid outputs, right arguments"
    assert metric_spec("pass_rate").direction == "higher"
    with pytest.raises(KeyError, match="unknown metric 'bogus'; known: valid_tool_call_rate"):
        metric_spec("bogus")


def test_offenders_are_the_cases_that_pull_a_rate_the_wrong_way() -> None:
    vs = worked_verdicts()
    offends = {s.name: [v.case_id for v in vs if s.offends(v)] for s in METRICS}
    assert offends["valid_tool_call_rate"] == ["c6", "c9"]
    assert offends["tool_name_accuracy"] == ["c3", "c5", "c6", "c8", "c9"]
    # Only valid outputs are in argument-match accuracy's denominator.
    assert offends["argument_match_accuracy"] == ["c3", "c4", "c5", "c8"]
    assert offends["false_tool_call_rate"] == ["c8"]
    assert offends["missed_call_rate"] == ["c3"]
    assert offends["silent_corruption_rate"] == ["c4", "c5"]
    assert offends["pass_rate"] == ["c3", "c4", "c5", "c6", "c8", "c9"]
    assert offends["false_call_attempt_rate"] == ["c8"]


# (output on a no-tool case, does it count as a false call attempt)
ATTEMPTS = [
    (call("track_order", order_id="ORD-1"), True),  # a valid call: a false tool call too
    (call("cancel_order", order_id="ORD-1"), True),  # unknown tool
    (call("request_refund", order_id="ORD-1"), True),  # a required argument missing
    ('{"tool": "escalate", "arguments": {"reason": 7}}', True),  # wrong type
    ('Sure! {"tool": "escalate", "arguments": {"reason": "x"}}', True),  # prose around it
    ('{"tool": "request_refund", "arguments": {"order_id": "ORD-', True),  # cut off
    ('{"tool": "track_order", "arguments": {}, "tool": "track_order"}', True),  # duplicate key
    ('{"tool": "re\\"fund", "arguments": {}}', True),  # an escaped quote in the name
    ('{"tool": "no_tool"}', False),  # a no_tool without its reason: invalid, no attempt
    ('{"tool": "no_tool", "reason": "not sure"}', False),
    ("I cannot help with that.", False),
    ('{"tool": 5}', False),
    ("", False),
]


@pytest.mark.parametrize(("output", "attempt"), ATTEMPTS)
def test_false_call_attempts_on_no_tool_cases(output: str, attempt: bool) -> None:
    case = GoldenCase(id="n1", category=Category.CHITCHAT, prompt="hi", target=Target(tool=NO_TOOL))
    verdict = score_case(case, parse_tool_call(output, CS), CS)
    m = compute_metrics([verdict])
    assert (m.false_call_attempt_rate.numerator, m.false_call_attempt_rate.denominator) == (
        int(attempt),
        1,
    )
    # The seed's false-tool-call rate counts the valid call alone.
    assert m.false_tool_call_rate.numerator == int(verdict.outcome is Outcome.FALSE_TOOL_CALL)
    assert m.false_call_attempt_rate.numerator >= m.false_tool_call_rate.numerator


def test_the_attempted_tool_is_read_from_the_raw_text() -> None:
    assert parse_tool_call('{"tool": "re\\"fund"}', CS).attempted_tool == 're"fund'
    assert parse_tool_call('{"tool": "' + "x" * 80 + '"}', CS).attempted_tool == "x" * 57 + "..."
    assert parse_tool_call(call("track_order", order_id="A"), CS).attempted_tool is None  # valid
    assert parse_tool_call('{"tool": "a', CS).attempted_tool is None  # the name is cut off


def test_attempts_on_cases_that_want_a_tool_are_not_false() -> None:
    case = GoldenCase(
        id="p1",
        category=Category.POSITIVE,
        prompt="where is ORD-1",
        target=Target(tool="track_order", arguments={"order_id": "ORD-1"}),
    )
    verdict = score_case(case, parse_tool_call(call("cancel_order", order_id="ORD-1"), CS), CS)
    assert verdict.call_attempt and verdict.outcome is Outcome.INVALID
    assert compute_metrics([verdict]).false_call_attempt_rate.numerator == 0


def test_worked_example_false_call_attempts() -> None:
    m = compute_metrics(worked_verdicts())
    # c8 called a real tool on a chitchat case; c9's invalid no_tool is no attempt: 1/10.
    assert (m.false_call_attempt_rate.numerator, m.false_call_attempt_rate.denominator) == (1, 10)


def test_results_written_before_the_attempt_rate_still_read() -> None:
    old = compute_metrics(worked_verdicts()).model_dump()
    del old["false_call_attempt_rate"]
    m = Metrics.model_validate(old)
    assert m.false_call_attempt_rate.value is None and str(m.false_call_attempt_rate) == "no cases"
