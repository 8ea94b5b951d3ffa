"""Scoring: one verdict per case, and every outcome reached."""

from __future__ import annotations

from typing import Any

import pytest

from harness.catalog import NO_TOOL
from harness.golden import Category, GoldenCase, Target
from harness.parse import ErrorKind, parse_tool_call
from harness.scoring import SILENT_CORRUPTION, CaseVerdict, Outcome, score_case
from tests.strategies import customer_support_catalog

CS = customer_support_catalog()

REFUND = GoldenCase(
    id="refund-1",
    category=Category.POSITIVE,
    prompt="Refund ORD-7, it arrived broken",
    target=Target(
        tool="request_refund", arguments={"order_id": "ORD-7", "reason": "arrived broken"}
    ),
    accept={"order_id": ["ord-7"]},
    split="holdout",
    catalog="customer_support",
)
HELLO = GoldenCase(
    id="hello",
    category=Category.CHITCHAT,
    prompt="Hi!",
    target=Target(tool=NO_TOOL),
    catalog="customer_support",
)


def score(case: GoldenCase, output: str) -> CaseVerdict:
    return score_case(case, parse_tool_call(output, CS), CS)


def refund(order_id: Any = "ORD-7", reason: Any = "Arrived broken!") -> str:
    import json

    return json.dumps(
        {"tool": "request_refund", "arguments": {"order_id": order_id, "reason": reason}}
    )


def test_correct_tool_call() -> None:
    verdict = score(REFUND, refund())
    assert verdict.outcome is Outcome.CORRECT and verdict.passed
    assert verdict.valid and verdict.tool_match and verdict.arguments_match
    assert verdict.predicted == "request_refund" and verdict.gold_tool == "request_refund"
    assert verdict.case_id == "refund-1" and verdict.catalog == "customer_support"
    assert verdict.key == "customer_support/refund-1"
    assert verdict.category is Category.POSITIVE and verdict.split == "holdout"
    assert verdict.error is None and verdict.detail == ""
    assert verdict.mismatched_arguments == ()


def test_accept_alternative_is_correct() -> None:
    assert score(REFUND, refund(order_id="ord-7")).outcome is Outcome.CORRECT


def test_correct_no_tool() -> None:
    verdict = score(HELLO, '{"tool": "no_tool", "reason": "greeting"}')
    assert verdict.outcome is Outcome.CORRECT and verdict.passed
    assert verdict.tool_match and verdict.arguments_match
    assert verdict.predicted == NO_TOOL


def test_invalid() -> None:
    verdict = score(REFUND, "I will file a refund for you.")
    assert verdict.outcome is Outcome.INVALID and not verdict.passed
    assert not verdict.valid and not verdict.tool_match and not verdict.arguments_match
    assert verdict.predicted == "invalid"
    assert verdict.error is ErrorKind.NOT_JSON and verdict.detail


def test_invalid_on_a_no_tool_case() -> None:
    verdict = score(HELLO, '{"tool": "no_tool"}')
    assert verdict.outcome is Outcome.INVALID
    assert verdict.error is ErrorKind.MISSING_REASON


def test_false_tool_call() -> None:
    verdict = score(HELLO, '{"tool": "escalate", "arguments": {"reason": "hi"}}')
    assert verdict.outcome is Outcome.FALSE_TOOL_CALL
    assert verdict.valid and not verdict.tool_match and not verdict.arguments_match
    assert verdict.predicted == "escalate" and verdict.gold_tool == NO_TOOL


def test_missed_call() -> None:
    verdict = score(REFUND, '{"tool": "no_tool", "reason": "need more details"}')
    assert verdict.outcome is Outcome.MISSED_CALL
    assert verdict.valid and not verdict.tool_match and not verdict.arguments_match
    assert verdict.predicted == NO_TOOL


def test_wrong_tool() -> None:
    verdict = score(REFUND, '{"tool": "track_order", "arguments": {"order_id": "ORD-7"}}')
    assert verdict.outcome is Outcome.WRONG_TOOL
    assert verdict.outcome in SILENT_CORRUPTION
    assert verdict.valid and not verdict.tool_match and not verdict.arguments_match


def test_wrong_arguments() -> None:
    # "ORD 7" is the request's id written another way: grounded (order_id is grounded in
    # id form), but not the gold value under the argument's exact match.
    verdict = score(REFUND, refund(order_id="ORD 7", reason="changed my mind"))
    assert verdict.outcome is Outcome.WRONG_ARGUMENTS
    assert verdict.outcome in SILENT_CORRUPTION
    assert verdict.valid and verdict.tool_match and not verdict.arguments_match
    assert verdict.mismatched_arguments == ("order_id", "reason")
    assert verdict.detail == "arguments differ: order_id, reason"


@pytest.mark.parametrize(
    ("case", "output", "outcome"),
    [
        (REFUND, refund(), Outcome.CORRECT),
        (REFUND, "", Outcome.INVALID),
        (HELLO, refund(), Outcome.FALSE_TOOL_CALL),
        (REFUND, '{"tool": "no_tool", "reason": "?"}', Outcome.MISSED_CALL),
        (REFUND, '{"tool": "escalate", "arguments": {"reason": "x"}}', Outcome.WRONG_TOOL),
        (REFUND, refund(reason="other"), Outcome.WRONG_ARGUMENTS),
        (REFUND, refund(order_id="ORD-8"), Outcome.UNGROUNDED),
    ],
)
def test_every_outcome(case: GoldenCase, output: str, outcome: Outcome) -> None:
    assert score(case, output).outcome is outcome


def test_every_outcome_is_covered_above() -> None:
    assert set(Outcome) == {
        Outcome.CORRECT,
        Outcome.INVALID,
        Outcome.FALSE_TOOL_CALL,
        Outcome.MISSED_CALL,
        Outcome.WRONG_TOOL,
        Outcome.WRONG_ARGUMENTS,
        Outcome.UNGROUNDED,
    }
    assert (
        frozenset({Outcome.WRONG_TOOL, Outcome.WRONG_ARGUMENTS, Outcome.UNGROUNDED})
        == SILENT_CORRUPTION
    )


def test_lenient_parse_scores_the_same_way() -> None:
    text = "Sure: " + refund()
    strict = score_case(REFUND, parse_tool_call(text, CS, "strict"), CS)
    lenient = score_case(REFUND, parse_tool_call(text, CS, "lenient"), CS)
    assert strict.outcome is Outcome.INVALID
    assert lenient.outcome is Outcome.CORRECT


def test_key_without_catalog() -> None:
    case = HELLO.model_copy(update={"catalog": ""})
    assert score(case, '{"tool": "no_tool", "reason": "x"}').key == "hello"


# --- parallel targets, multiple calls, per-case tools --------------------------------------

from harness.catalog import catalog_from_dict  # noqa: E402
from harness.golden import GoldCall  # noqa: E402
from harness.scoring import parse_output  # noqa: E402

TWO = GoldenCase(
    id="two",
    category=Category.POSITIVE,
    prompt="Where are ORD-1 and ORD-2?",
    target=Target(
        tool="track_order",
        calls=(
            GoldCall(tool="track_order", arguments={"order_id": "ORD-1"}),
            GoldCall(
                tool="track_order", arguments={"order_id": "ORD-2"}, accept={"order_id": ["ord-2"]}
            ),
        ),
    ),
    catalog="customer_support",
)


def call(order_id: str) -> dict[str, Any]:
    return {"tool": "track_order", "arguments": {"order_id": order_id}}


def score_output(case: GoldenCase, output: str, mode: str = "strict") -> CaseVerdict:
    return score_case(case, parse_output(output, case, CS, mode), CS)


@pytest.mark.parametrize(
    ("output", "outcome"),
    [
        ([call("ORD-1"), call("ORD-2")], Outcome.CORRECT),
        ([call("ord-2"), call("ORD-1")], Outcome.CORRECT),  # any order, accept per call
        ([call("ORD-1"), call("ORD-1")], Outcome.WRONG_ARGUMENTS),  # a multiset, not a set
        ([call("ORD-1")], Outcome.WRONG_TOOL),  # one call short
        ([call("ORD-1"), call("ORD-2"), call("ORD-3")], Outcome.WRONG_TOOL),  # one too many
        ([call("ORD-1"), {"tool": "track_order", "arguments": {}}], Outcome.INVALID),
        ({"tool": "no_tool", "reason": "?"}, Outcome.MISSED_CALL),
    ],
)
def test_parallel_target_is_a_multiset(output: Any, outcome: Outcome) -> None:
    import json

    verdict = score_output(TWO, json.dumps(output))
    assert verdict.outcome is outcome, verdict
    assert verdict.gold_tool == "track_order"


def test_parallel_invalid_call_names_its_index() -> None:
    import json

    verdict = score_output(TWO, json.dumps([call("ORD-1"), {"tool": "track_order"}]))
    assert verdict.error is ErrorKind.MISSING_ARGUMENTS
    assert verdict.detail.startswith("[1]: ")


def test_several_calls_where_one_is_expected_are_multiple_calls() -> None:
    import json

    verdict = score_output(REFUND, json.dumps([json.loads(refund()), json.loads(refund())]))
    assert verdict.outcome is Outcome.INVALID and verdict.error is ErrorKind.MULTIPLE_CALLS
    one = score_output(REFUND, json.dumps([json.loads(refund())]))
    assert one.error is ErrorKind.NOT_OBJECT  # the one-call contract is one object
    assert score_output(REFUND, refund()).outcome is Outcome.CORRECT


def test_a_case_with_its_own_tools_is_judged_against_them() -> None:
    own = catalog_from_dict(
        {"name": "customer_support/own", "tools": [{"name": "math.factorial", "parameters": {
            "type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}}]}
    )  # fmt: skip
    case = GoldenCase(
        id="own",
        category=Category.POSITIVE,
        prompt="5!",
        target=Target(tool="math.factorial", arguments={"n": 5}),
        catalog="customer_support",
        tools=own,
    )
    assert score_output(case, '{"tool": "math.factorial", "arguments": {"n": 5}}').passed
    verdict = score_output(case, refund())  # a folder tool is not offered here
    assert verdict.error is ErrorKind.UNKNOWN_TOOL
    assert verdict.catalog == "customer_support"


def test_cases_with_their_own_tools_are_counted_by_role_in_the_confusion_matrix() -> None:
    from harness.metrics import confusion_matrix
    from harness.scoring import confusion_view

    own = catalog_from_dict(
        {"name": "customer_support/own", "tools": [
            {"name": "f.a", "parameters": {"type": "object", "properties": {}}},
            {"name": "f.b", "parameters": {"type": "object", "properties": {}}}]}
    )  # fmt: skip
    case = GoldenCase(
        id="own",
        category=Category.POSITIVE,
        prompt="a",
        target=Target(tool="f.a"),
        catalog="customer_support",
        tools=own,
    )
    outputs = ['{"tool": "f.a", "arguments": {}}', '{"tool": "f.b", "arguments": {}}', "x"]
    views = [confusion_view(score_output(case, o), case) for o in outputs]
    assert confusion_matrix(views) == {
        "(the gold tool)": {"(the gold tool)": 1, "(another offered tool)": 1, "invalid": 1}
    }
    assert score_output(case, outputs[1]).predicted == "f.b"  # the case keeps the name
    plain = score_output(REFUND, refund())
    assert confusion_view(plain, REFUND) is plain
