"""Grounded arguments: when a value occurs in a conversation, the load-time refusal of a case
that demands an invented value, scoring precedence, route(), the rate, its gate and the
results file."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.backends.mock import MockBackend
from harness.catalog import NO_TOOL, Catalog, catalog_from_dict
from harness.errors import CatalogError, GoldenFileError
from harness.gates import GateConfig, evaluate_gates
from harness.golden import Category, GoldCall, GoldenCase, Message, Target, load_golden
from harness.grounding import case_conversation, grounded_arguments, value_occurs
from harness.match import OCCURS, POLICIES, register_policy
from harness.metrics import compute_metrics
from harness.parse import parse_tool_call, parse_tool_calls
from harness.render.html import render_report
from harness.render.labels import metric_text, outcome_text
from harness.render.terminal import summary_lines
from harness.results import read_results, write_results
from harness.route import ROUTE_REQUEST_ID, route
from harness.runner import run_suite
from harness.scoring import SILENT_CORRUPTION, CaseVerdict, Outcome, score_case
from tests.strategies import customer_support_catalog

CS = customer_support_catalog()
REPO = Path(__file__).resolve().parents[1]


def shop(order_id: dict[str, Any], **more: dict[str, Any]) -> dict[str, Any]:
    """A one-tool catalog (``track_order``) whose ``order_id`` schema is given."""
    return {
        "name": "shop",
        "tools": [
            {
                "name": "track_order",
                "description": "Where an order is.",
                "parameters": {
                    "type": "object",
                    "properties": {"order_id": order_id, **more},
                    "required": ["order_id"],
                },
            },
            {
                "name": "escalate",
                "description": "A human.",
                "parameters": {"type": "object", "properties": {"reason": {"type": "string"}}},
            },
        ],
    }


# (policy, value, text, occurs): worked out by hand from each policy's form.
OCCURS_CASES = [
    ("exact", "ORD-7781", "is ORD-7781 here?", True),
    ("exact", "ORD-77", "is ORD-7781 here?", False),  # cuts a run of digits
    ("exact", "RD-7781", "is ORD-7781 here?", False),  # cuts a run of letters
    ("exact", "ORD-7711", "ORD-7781, then ORD-7718", False),
    ("exact", "ord-7781", "is ORD-7781 here?", False),
    ("exact", "東京", "我想去東京旅行", True),  # no spaces in the script: still found
    ("exact", "", "anything", True),  # an empty value invents nothing
    ("casefold", "ord-7781", "Is ORD-7781 here?", True),
    ("casefold", "ORD-77", "is ord-7781 here?", False),
    ("casefold-space", "blue  hoodie", "The Blue\nHoodie I bought", True),
    ("casefold-space", "blue_hoodie", "the blue hoodie I bought", False),
    ("text", "blue hoodie", "the blue, hoodie!", True),
    ("text", "3x - 2", "solve 3x + 2", False),
    ("contains", "Lisbon", "fly to lisbon, please", True),
    ("bfcl", "ORD-7781", "ord 7781", True),
    ("id", "ORD-5590", "look up order ORD5590 and", True),
    ("id", "ORD-8123", "Any update on ORD 8123?", True),
    ("id", "ORD-1", "can u chek my ordr status", False),
    ("id", "ORD-7711", "ORD-7781 then ORD-7718", False),
    ("id", "ORD-77", "ORD-7781", False),
    ("id", "blue_hoodie", "the blue hoodie I bought", True),  # same pieces: id form allows it
]


@pytest.mark.parametrize(("policy", "value", "text", "expected"), OCCURS_CASES)
def test_each_policy_says_when_a_value_occurs(
    policy: str, value: str, text: str, expected: bool
) -> None:
    assert OCCURS[policy](value, text) is expected
    assert value_occurs(value, text, policy) is expected


def test_every_policy_has_an_occurs_test_and_new_ones_default_to_text_form() -> None:
    assert set(OCCURS) == set(POLICIES)
    register_policy("test-always", lambda a, b: True)
    try:
        assert OCCURS["test-always"]("Blue Hoodie", "the blue, hoodie") is True
        assert OCCURS["test-always"]("red hoodie", "the blue hoodie") is False
        register_policy("test-never", lambda a, b: False, occurs=lambda v, t: False)
        assert value_occurs("x", "x", "test-never") is False
    finally:
        for name in ("test-always", "test-never"):
            POLICIES.pop(name, None)
            OCCURS.pop(name, None)


@pytest.mark.parametrize(
    ("value", "text", "expected"),
    [
        (2, "for 2 adults", True),
        (2, "for two adults", False),  # computed from words: not in the text
        (2.0, "2 nights", True),  # a whole float is also its integer
        (2.5, "2.5 stars", True),
        (True, "true", True),
        (["ORD-1", "ORD-2"], "ORD-1 and ORD-2", True),
        (["ORD-1", "ORD-3"], "ORD-1 and ORD-2", False),  # element-wise
        ({"a": "ORD-1", "b": 2}, "ORD-1, 2", True),
        (None, "nothing", True),
    ],
)
def test_values_that_are_not_strings_compare_by_their_json_text(
    value: Any, text: str, expected: bool
) -> None:
    assert value_occurs(value, text, "exact") is expected


def test_an_integer_too_long_to_print_does_not_occur_and_does_not_raise() -> None:
    assert value_occurs(10**5000, "0" * 10, "exact") is False


ANY_TEXT = st.text(
    alphabet=st.one_of(st.characters(), st.characters(categories=["Cs"])), max_size=30
)
"""Any text, lone surrogates included (a model or a server can return them)."""


@given(value=ANY_TEXT, text=ANY_TEXT, policy=st.sampled_from(sorted(POLICIES)))
def test_occurs_never_raises_on_any_unicode(value: str, text: str, policy: str) -> None:
    assert value_occurs(value, text, policy) in (True, False)
    assert value_occurs([value, {"k": value}], text, policy) in (True, False)


@given(value=ANY_TEXT, before=ANY_TEXT, after=ANY_TEXT)
def test_a_value_written_verbatim_between_spaces_occurs(
    value: str, before: str, after: str
) -> None:
    assert value_occurs(value, f"{before} {value} {after}", "exact")


def test_catalogs_check_x_grounded() -> None:
    tool = catalog_from_dict(shop({"type": "string", "x-grounded": True})).tool("track_order")
    assert tool is not None and grounded_arguments(tool) == {"order_id": "exact"}
    named = catalog_from_dict(shop({"type": "string", "x-match": "casefold", "x-grounded": "id"}))
    assert grounded_arguments(named.tools[0]) == {"order_id": "id"}
    off = catalog_from_dict(shop({"type": "string", "x-grounded": False}))
    assert grounded_arguments(off.tools[0]) == {}
    with pytest.raises(CatalogError, match=r"properties\.order_id: x-grounded must be true"):
        catalog_from_dict(shop({"type": "string", "x-grounded": "maybe"}))
    nested = {"type": "array", "items": {"type": "string", "x-grounded": True}}
    with pytest.raises(CatalogError, match=r"order_id\.items: x-grounded applies to a top-level"):
        catalog_from_dict(shop(nested))


def test_bundled_ids_are_grounded_in_id_form() -> None:
    assert {t.name: grounded_arguments(t) for t in CS.tools} == {
        "track_order": {"order_id": "id"},
        "request_refund": {"order_id": "id"},
        "escalate": {},
    }
    (travel,) = load_golden(REPO / "golden" / "travel_booking")
    assert {t.name: grounded_arguments(t) for t in travel.catalog.tools} == {
        "search_flights": {},
        "book_hotel": {},
        "cancel_booking": {"booking_id": "id"},
    }


def golden_folder(tmp_path: Path, catalog: dict[str, Any], cases: list[dict[str, Any]]) -> Path:
    folder = tmp_path / "shop"
    folder.mkdir()
    (folder / "catalog.json").write_text(json.dumps(catalog), encoding="utf-8")
    lines = "".join(json.dumps(c) + "\n" for c in cases)
    (folder / "cases.jsonl").write_text(lines, encoding="utf-8")
    return folder


def track(case_id: str, prompt: str, order_id: Any, **extra: Any) -> dict[str, Any]:
    target = {"tool": "track_order", "arguments": {"order_id": order_id}}
    return {"id": case_id, "category": "positive", "prompt": prompt, "target": target, **extra}


def test_a_case_whose_gold_value_is_not_in_its_request_is_refused(tmp_path: Path) -> None:
    catalog = shop({"type": "string", "x-grounded": True})
    ok = track("ok", "where is ORD-4410?", "ORD-4410")
    bad = track("bad", "can u chek my ordr status", "ORD-1")
    folder = golden_folder(tmp_path, catalog, [ok, bad])
    with pytest.raises(GoldenFileError) as err:
        load_golden(folder)
    assert str(err.value) == (
        f"{folder / 'cases.jsonl'}:2 (id 'bad'): target.arguments.order_id: 'order_id' of "
        "'track_order' is grounded (x-grounded), but the value 'ORD-1' does not occur in the "
        "case's conversation (under policy 'exact'). Write the value in the request, or fix "
        "the gold value; an argument the router must compute or reformat is not grounded (or "
        'is grounded under a looser policy, such as "x-grounded": "id")'
    )


@pytest.mark.parametrize(
    "case",
    [
        track("acc", "where is ORD-4410?", "ORD-4410", accept={"order_id": ["ORD-4411"]}),
        {
            "id": "par",
            "category": "positive",
            "prompt": "track ORD-1 and ORD-2",
            "target": [
                {"tool": "track_order", "arguments": {"order_id": "ORD-1"}},
                {"tool": "track_order", "arguments": {"order_id": "ORD-3"}},
            ],
        },
        {  # the id is only in the system message, which is not the conversation
            "id": "sys",
            "category": "positive",
            "messages": [
                {"role": "system", "content": "ORD-9 is the default"},
                {"role": "user", "content": "track my order"},
            ],
            "target": {"tool": "track_order", "arguments": {"order_id": "ORD-9"}},
        },
    ],
)
def test_accepted_values_parallel_calls_and_system_text_are_checked(
    tmp_path: Path, case: dict[str, Any]
) -> None:
    folder = golden_folder(tmp_path, shop({"type": "string", "x-grounded": True}), [case])
    field = {
        "acc": "accept.order_id: 'order_id' of 'track_order' is grounded (x-grounded), but "
        "the value 'ORD-4411'",
        "par": "target[1].arguments.order_id: 'order_id' of 'track_order' is grounded "
        "(x-grounded), but the value 'ORD-3'",
        "sys": "target.arguments.order_id: 'order_id' of 'track_order' is grounded "
        "(x-grounded), but the value 'ORD-9'",
    }[case["id"]]
    with pytest.raises(GoldenFileError) as err:
        load_golden(folder)
    assert str(err.value).startswith(f"{folder / 'cases.jsonl'}:1 (id {case['id']!r}): {field}")


def test_a_number_computed_from_words_cannot_be_grounded(tmp_path: Path) -> None:
    catalog = shop({"type": "string"}, guests={"type": "integer", "x-grounded": True})
    case = track("two", "ORD-5 for two guests", "ORD-5")
    case["target"]["arguments"]["guests"] = 2
    with pytest.raises(GoldenFileError, match=r"order_id|guests.*value 2 does not occur"):
        load_golden(golden_folder(tmp_path, catalog, [case]))


def test_every_bundled_golden_set_still_loads() -> None:
    sizes = {s.catalog.name: len(s.cases) for s in load_golden(REPO / "golden")}
    assert sizes == {"customer_support": 318, "travel_booking": 72}


REFUND = GoldenCase(
    id="refund",
    category=Category.POSITIVE,
    prompt="Refund ord 7, it arrived broken",
    target=Target(tool="request_refund", arguments={"order_id": "ORD-7", "reason": "broken"}),
    catalog="customer_support",
)
HELLO = GoldenCase(id="hi", category=Category.CHITCHAT, prompt="hi", target=Target(tool=NO_TOOL))


def score(case: GoldenCase, output: dict[str, Any], catalog: Catalog = CS) -> CaseVerdict:
    return score_case(case, parse_tool_call(json.dumps(output), catalog), catalog)


def refund(order_id: str, reason: str = "broken") -> dict[str, Any]:
    return {"tool": "request_refund", "arguments": {"order_id": order_id, "reason": reason}}


def test_an_invented_value_is_ungrounded_and_silent_corruption() -> None:
    assert score(REFUND, refund("ORD-7")).outcome is Outcome.CORRECT  # "ord 7" in id form
    verdict = score(REFUND, refund("ORD-8"))
    assert verdict.outcome is Outcome.UNGROUNDED and verdict.outcome in SILENT_CORRUPTION
    assert verdict.ungrounded_arguments == ("order_id",)
    assert verdict.mismatched_arguments == ("order_id",) and not verdict.arguments_match
    assert verdict.detail == "not in the conversation: order_id; arguments differ: order_id"
    # Grounded but wrong is still wrong arguments.
    wrong = score(REFUND, refund("ORD-7", reason="changed my mind"))
    assert wrong.outcome is Outcome.WRONG_ARGUMENTS and wrong.ungrounded_arguments == ()


def test_ungrounded_takes_precedence_over_matching_arguments() -> None:
    # Matched case-blind, grounded exactly: "ord-7" matches the gold but is not written.
    catalog = catalog_from_dict(
        shop({"type": "string", "x-match": "casefold", "x-grounded": "exact"})
    )
    case = GoldenCase(
        id="t",
        category=Category.POSITIVE,
        prompt="where is ORD-7",
        target=Target(tool="track_order", arguments={"order_id": "ORD-7"}),
    )
    verdict = score(case, {"tool": "track_order", "arguments": {"order_id": "ord-7"}}, catalog)
    assert verdict.outcome is Outcome.UNGROUNDED and verdict.arguments_match
    assert verdict.detail == "not in the conversation: order_id"


def test_false_calls_and_wrong_tools_keep_their_outcome_and_note_the_invention() -> None:
    false_call = score(HELLO, {"tool": "track_order", "arguments": {"order_id": "ORD-1"}})
    assert false_call.outcome is Outcome.FALSE_TOOL_CALL
    assert false_call.ungrounded_arguments == ("order_id",)
    wrong_tool = score(REFUND, {"tool": "track_order", "arguments": {"order_id": "ORD-1"}})
    assert wrong_tool.outcome is Outcome.WRONG_TOOL
    assert wrong_tool.ungrounded_arguments == ("order_id",)


def test_earlier_turns_count_and_parallel_calls_are_named_by_index() -> None:
    chat = GoldenCase(
        id="chat",
        category=Category.POSITIVE,
        messages=(
            Message(role="user", content="my order is ORD-31"),
            Message(role="assistant", content="What do you need?"),
            Message(role="user", content="where is it"),
        ),
        target=Target(tool="track_order", arguments={"order_id": "ORD-31"}),
    )
    assert case_conversation(chat) == "my order is ORD-31\nWhat do you need?\nwhere is it"
    call = {"tool": "track_order", "arguments": {"order_id": "ORD-31"}}
    assert score(chat, call).outcome is Outcome.CORRECT
    calls = [
        GoldCall(tool="track_order", arguments={"order_id": "ORD-1"}),
        GoldCall(tool="track_order", arguments={"order_id": "ORD-2"}),
    ]
    both = GoldenCase(
        id="both",
        category=Category.POSITIVE,
        prompt="track ORD-1 and ORD-2",
        target=Target(tool="track_order", calls=tuple(calls)),
    )
    text = json.dumps(
        [
            {"tool": "track_order", "arguments": {"order_id": "ORD-1"}},
            {"tool": "track_order", "arguments": {"order_id": "ORD-3"}},
        ]
    )
    verdict = score_case(both, parse_tool_calls(text, CS), CS)
    assert verdict.outcome is Outcome.UNGROUNDED
    assert verdict.ungrounded_arguments == ("[1].order_id",)


def replay(tmp_path: Path, output: dict[str, Any]) -> MockBackend:
    path = tmp_path / "replay.jsonl"
    path.write_text(json.dumps({"id": ROUTE_REQUEST_ID, "output": json.dumps(output)}) + "\n")
    return MockBackend(path)


def test_route_never_calls_a_tool_with_an_invented_value(tmp_path: Path) -> None:
    calls: list[str] = []
    tools = {"track_order": lambda order_id: calls.append(order_id)}
    invented = {"tool": "track_order", "arguments": {"order_id": "ORD-1"}}
    result = route("can u chek my ordr status", CS, replay(tmp_path, invented), tools)
    assert result.status == "ungrounded" and result.ungrounded == ("order_id",)
    assert result.tool == "track_order" and result.arguments == {"order_id": "ORD-1"}
    assert result.value is None and calls == []
    written = {"tool": "track_order", "arguments": {"order_id": "ORD-5590"}}
    result = route("where is ord5590?", CS, replay(tmp_path, written), tools)
    assert result.status == "called" and result.ungrounded == () and calls == ["ORD-5590"]


def test_the_rate_counts_valid_calls_and_its_gate_names_them() -> None:
    verdicts = [
        score(REFUND, refund("ORD-7")),  # valid call, grounded
        score(REFUND, refund("ORD-8")),  # valid call, ungrounded
        score(HELLO, refund("ORD-9")),  # valid (false) call, ungrounded
        score(HELLO, {"tool": "no_tool", "reason": "hello"}),  # not a call
        score_case(REFUND, parse_tool_call("no idea", CS), CS),  # invalid: not a call
    ]
    m = compute_metrics(verdicts)
    rate = m.ungrounded_rate
    assert (rate.numerator, rate.denominator) == (2, 3)
    assert m.ungrounded_arguments == 2
    silent = m.silent_corruption_rate
    assert (silent.numerator, silent.denominator) == (1, 5)
    assert "ungrounded_rate" not in [g[0] for g in GateConfig().gates()]
    (gate,) = evaluate_gates(m, verdicts, GateConfig(**_only(max_ungrounded_rate=0.5)))
    assert gate.metric == "ungrounded_rate" and not gate.passed
    assert gate.offenders == ["customer_support/refund", "hi"]
    assert metric_text("ungrounded_rate").label == "Ungrounded calls"
    assert outcome_text(Outcome.UNGROUNDED) == "ungrounded"


def _only(**gates: float) -> dict[str, float | None]:
    """Every gate off except those given."""
    return {name: None for name in GateConfig.option_names()} | gates


def test_results_file_round_trip_and_older_files(tmp_path: Path) -> None:
    folder = golden_folder(
        tmp_path,
        shop({"type": "string", "x-grounded": True}),
        [track("ok", "where is ORD-44?", "ORD-44"), track("inv", "and ORD-45?", "ORD-45")],
    )
    outputs = {
        "shop/ok": {"tool": "track_order", "arguments": {"order_id": "ORD-44"}},
        "shop/inv": {"tool": "track_order", "arguments": {"order_id": "ORD-46"}},
    }
    mock = tmp_path / "out.jsonl"
    mock.write_text("".join(json.dumps({"id": k, "output": json.dumps(v)}) + "\n"
                            for k, v in outputs.items()))  # fmt: skip
    results = run_suite(load_golden(folder), MockBackend(mock), gates=GateConfig(**_only()))
    assert [c.ungrounded_arguments for c in results.cases] == [[], ["order_id"]]
    assert [c.outcome for c in results.cases] == [Outcome.CORRECT, Outcome.UNGROUNDED]
    path = write_results(results, tmp_path / "results.json")
    again = read_results(path)
    assert again == results
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert raw["cases"][1]["ungrounded_arguments"] == ["order_id"]
    assert raw["metrics"]["all"]["overall"]["ungrounded_rate"]["numerator"] == 1
    assert raw["metrics"]["all"]["overall"]["ungrounded_arguments"] == 1
    page = render_report(again)
    assert "not in the conversation (ungrounded): <code>order_id</code>" in page
    assert "Ungrounded calls" in page and 'class="oc o-ungrounded"' in page
    lines = summary_lines(again)
    assert lines[0].endswith("  invented")
    assert "invented = ungrounded rate (on valid calls)" in "\n".join(lines)
    # A file written before grounded arguments existed (schema 2) reads with none.
    old = read_results(REPO / "reports" / "baselines" / "reference.json")
    assert all(c.ungrounded_arguments == [] for c in old.cases)
    assert old.metrics["all"].overall.ungrounded_rate.value is None


def test_exact_grounding_would_refuse_the_bundled_canonical_ids() -> None:
    """Why the bundled ids are grounded in id form: the gold writes them canonically."""
    refused: Counter[str] = Counter()
    for golden_set in load_golden(REPO / "golden"):
        for case in golden_set.cases:
            said = case_conversation(case)
            for call in case.gold_calls():
                for name in ("order_id", "booking_id"):
                    values = [call.arguments.get(name), *call.accept.get(name, [])]
                    assert all(value_occurs(v, said, "id") for v in values), case.key
                    if not all(value_occurs(v, said, "exact") for v in values):
                        refused[golden_set.catalog.name] += 1
    assert refused == {"customer_support": 11, "travel_booking": 2}
    # The committed reference router's calls that exact grounding would call invented.
    baseline = read_results(REPO / "reports" / "baselines" / "reference.json")
    flagged = sorted(
        (c.split, c.outcome.value)
        for c in baseline.cases
        if c.parsed.valid
        and "order_id" in (c.parsed.arguments or {})
        and not value_occurs((c.parsed.arguments or {})["order_id"], c.prompt, "exact")
    )
    assert flagged == [
        ("dev", "correct"), ("dev", "correct"), ("dev", "correct"), ("dev", "correct"),
        ("dev", "correct"), ("dev", "correct"), ("dev", "correct"), ("dev", "false_tool_call"),
        ("holdout", "correct"), ("sealed", "correct"), ("sealed", "correct"),
    ]  # fmt: skip
