"""Metrics on a worked example computed by hand, with the seed's denominators."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

from harness.catalog import NO_TOOL
from harness.golden import Category, GoldenCase, Target
from harness.metrics import (
    HEADLINE,
    RATE_NAMES,
    Rate,
    compute_metrics,
    confusion_labels,
    confusion_matrix,
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
            prompt="request",
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
