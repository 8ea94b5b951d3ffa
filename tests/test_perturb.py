"""Perturbations keep the answer-carrying parts of every bundled golden case intact."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.golden import GoldenCase, load_golden
from harness.perturb import PERTURBATIONS, CaseView, PerturbationError, perturbed, select

ROOT = Path(__file__).resolve().parent.parent


def _views() -> list[CaseView]:
    views = []
    for golden in load_golden(ROOT / "golden"):
        tools = tuple(t.name for t in golden.catalog.tools)
        for case in golden.cases:
            views.append(_view(case, tools))
    return views


def _view(case: GoldenCase, tools: tuple[str, ...]) -> CaseView:
    prompt = case.prompt if case.prompt is not None else case.messages[-1].content  # type: ignore[index]
    return CaseView(
        prompt=prompt,
        tool=case.target.tool,
        arguments=dict(case.target.arguments),
        accept={k: list(v) for k, v in case.accept.items()},
        wants_tool=case.category.wants_tool,
        tools=tools,
    )


VIEWS = _views()


@pytest.mark.parametrize("name", sorted(PERTURBATIONS))
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_perturbations_never_touch_the_answer(name: str, data: st.DataObject) -> None:
    kind = PERTURBATIONS[name]
    applied = 0
    for view in VIEWS:
        if not kind.applies(view):
            continue
        applied += 1
        out = data.draw(perturbed(view, [kind], max_steps=1), label=view.prompt[:40])
        assert out.kinds == (name,) and out.steps
        assert out.prompt != view.prompt or name in ("whitespace", "punctuation", "casing")
        if kind.effect == "invariant":
            assert out.arguments == view.arguments
            for s, e in view.protected():
                assert view.prompt[s:e] in out.prompt, (name, view.prompt, out.prompt)
        else:
            # A transform keeps every id of the gold literally in the new request.
            for value in out.arguments.values():
                if isinstance(value, str) and value in view.ids():
                    assert value in out.prompt or any(
                        a in out.prompt for vs in out.accept.values() for a in vs
                    )
        for arg, values in view.accept.items() if name != "id_swap" else ():
            assert set(map(str, values)) <= set(map(str, out.accept.get(arg, [])))
    assert applied, f"{name} applies to no bundled case"


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_id_swap_changes_request_and_gold_together(data: st.DataObject) -> None:
    view = CaseView(
        "please refund ORD-4410, it broke",
        "request_refund",
        {"order_id": "ORD-4410", "reason": "it broke"},
        {},
        True,
    )
    out = data.draw(perturbed(view, select(["id_swap"]), max_steps=1))
    new = out.arguments["order_id"]
    assert out.prompt == view.prompt.replace("ORD-4410", new)
    assert out.arguments["reason"] == "it broke"


def test_id_spellings_the_gold_accepts() -> None:
    view = CaseView("where is ORD-4410", "track_order", {"order_id": "ORD-4410"}, {}, True)

    @settings(max_examples=40, deadline=None)
    @given(out=perturbed(view, select(["id_format"]), max_steps=1))
    def check(out) -> None:  # type: ignore[no-untyped-def]
        written = out.prompt.removeprefix("where is ")
        if written in ("ord-4410", "ORD 4410"):
            assert out.accept["order_id"] == [written]
        else:
            assert written in ("#ORD-4410", '"ORD-4410"') and not out.accept.get("order_id")
        assert out.arguments == {"order_id": "ORD-4410"}

    check()


def test_unknown_names_and_hopeless_cases_are_refused() -> None:
    with pytest.raises(PerturbationError, match=r"unknown perturbation.*'typoo'.*known: typo"):
        select(["typoo"])
    view = CaseView("ORD-1", "track_order", {"order_id": "ORD-1"}, {}, True)
    with pytest.raises(PerturbationError, match="no perturbation applies"):

        @given(perturbed(view, select(["typo", "second_id"])))
        def never(_: object) -> None:
            pass

        never()
