"""The pytest side of the robustness suite: its tests, its gate and its failure message.

Kept beside :mod:`harness.plugin`, which wires these into its hooks; the search itself is
:mod:`harness.robustness`.
"""

from __future__ import annotations

import json

import pytest

from harness.golden import GoldenCase
from harness.results import RunResults
from harness.robust_results import RobustCase, RobustExample
from harness.settings import RunSettings, robustness_threshold

OFF_MARK = "robustness-off"
"""The id of the placeholder test a run without ``--rc-robustness`` drops."""


def robustness_params(settings: RunSettings, cases: list[GoldenCase]) -> list[object]:
    """One test per case of the robustness split, or a placeholder to drop when it is off."""
    if not settings.robustness:
        return [pytest.param(None, id=OFF_MARK)]
    split = settings.robustness_split
    return [
        pytest.param(
            c.key,
            id=c.key,
            marks=[getattr(pytest.mark, c.category.value), getattr(pytest.mark, c.split)],
        )
        for c in cases
        if split == "all" or c.split == split
    ]


def drop_robustness_placeholders(items: list[pytest.Item]) -> None:
    """Without ``--rc-robustness`` the suite is not part of the run at all (not even skipped)."""
    items[:] = [i for i in items if not i.name.endswith(f"[{OFF_MARK}]")]


def robustness_keys(items: list[pytest.Item]) -> set[str]:
    """The case keys of the robustness tests that were collected."""
    return {
        str(item.callspec.params["robustness_case"])
        for item in items
        if isinstance(item, pytest.Function)
        and hasattr(item, "callspec")
        and item.callspec.params.get("robustness_case") is not None
    }


def robustness_gate_names(settings: RunSettings) -> list[str]:
    """``["robustness"]`` when the robustness gate is on."""
    on = settings.robustness and robustness_threshold(settings.min_robustness) is not None
    return ["robustness"] if on else []


@pytest.fixture
def robustness_case(request: pytest.FixtureRequest) -> str:
    key: str = request.param
    return key


def _example(label: str, ex: RobustExample) -> list[str]:
    gold = json.dumps({"arguments": ex.arguments, "accept": ex.accept}, ensure_ascii=False)
    return [
        f"  {label}: {' + '.join(ex.kinds)} ({'; '.join(ex.steps)})",
        f"    prompt : {ex.prompt!r}",
        f"    gold   : {gold}",
        f"    output : {ex.output!r}",
        f"    outcome: {ex.outcome.value}",
    ]


def format_fragile(case: RobustCase, prompt: str) -> str:
    """Why a case is fragile: its rate, the shrunk request and the output it got."""
    was = "passes" if case.baseline_passed else "fails"
    lines = [
        f"{case.key} [{case.category.value}, {case.split}]: {case.n - case.same} of {case.n} "
        f"perturbed requests changed the verdict (the request as written {was})",
        f"  request: {prompt!r}",
    ]
    if case.shrunk is not None:
        lines += _example(
            "smallest flip found" + (" (search cut short)" if case.cut else ""), case.shrunk
        )
    for ex in case.flipped[:2]:
        if ex != case.shrunk:
            lines += _example("also flipped", ex)
    return "\n".join(lines)


def check_robustness(results: RunResults, key: str) -> None:
    """Fail with the shrunk request and its output when perturbations change the verdict;
    skip, saying why, a case no perturbation can change."""
    __tracebackhide__ = True
    report = results.robustness
    if report is None:
        pytest.fail("routecheck: the robustness suite did not run", pytrace=False)
    case = report.case(key)
    if case.skipped:
        pytest.skip(f"{key}: {case.skipped}")
    if case.fragile:
        pytest.fail(format_fragile(case, results.case(key).prompt), pytrace=False)
