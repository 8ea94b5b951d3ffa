"""The judge in runs, against scripted (mock:) judges: which verdict decides, the fallback
without a judge, a failing judge, the results file, the report and the command line.

The golden set (tests/judgedata.py) is hand-labelled: r1's reason is a fair paraphrase the
policy misses, r2's the wrong fact, r3's identical, e1's contains the gold phrase. The
scripted judge says yes to r1 and no to the rest, so it disagrees with the policy on r1,
r3 and e1.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from harness.backends import resolve_backend
from harness.backends.base import (
    Backend,
    DecodingConfig,
    Generation,
    GenerationRequest,
    ProgressCallback,
)
from harness.catalog import catalog_from_dict
from harness.errors import CatalogError, CheckpointError, SettingsError
from harness.golden import load_golden
from harness.judge import JUDGE_DECODING, JUDGE_VERSION, Judge, JudgeItem, judge_messages
from harness.judging import RunJudge
from harness.match import arguments_match, values_match
from harness.outputcache import OutputCache, cache_key
from harness.render.html import render_report
from harness.render.terminal import summary_lines
from harness.results import RunResults, read_results, write_results
from harness.runner import run_suite
from harness.session import EvaluationSession
from harness.settings import RunSettings, build_settings
from tests.judgedata import CATALOG, write_golden, write_judge, write_router


def _run(tmp_path: Path, judge: str | None, decides: str = "judge") -> RunResults:
    golden = write_golden(tmp_path)
    router = resolve_backend(write_router(tmp_path))
    run_judge = None
    if judge is not None:
        backend = resolve_backend(judge)
        run_judge = RunJudge(Judge(backend, OutputCache(tmp_path / "cache")), decides)
    return run_suite(load_golden(golden), router, judge=run_judge)


def _passed(results: RunResults) -> dict[str, bool]:
    return {c.id: c.passed for c in results.cases}


def test_the_judge_decides_x_match_judge_arguments_and_is_recorded_elsewhere(
    tmp_path: Path,
) -> None:
    results = _run(tmp_path, write_judge(tmp_path))
    # r1: judge yes beats the policy's no; r3: judge no beats an identical value;
    # e1 (contains-or-similar): the judge's no is recorded only.
    assert _passed(results) == {"r1": True, "r2": False, "r3": False, "e1": True, "n1": True}
    r1, r3, e1 = results.case("shop/r1"), results.case("shop/r3"), results.case("shop/e1")
    assert r1.judge["reason"].model_dump() == {
        "answer": "yes",
        "deterministic": False,
        "counted": "judge",
        "raw": "Yes",
    }
    assert r3.judge["reason"].answer == "no" and r3.judge["reason"].deterministic
    assert r3.mismatched_arguments == ["reason"]
    assert e1.judge["reason"].counted == "deterministic" and e1.judge["reason"].raw == "no."
    assert results.case("shop/n1").judge == {}  # no_tool: nothing to ask
    info = results.judge
    assert info is not None and info.spec == write_judge(tmp_path)
    assert (info.version, info.decides, info.asked, info.unavailable) == (
        JUDGE_VERSION,
        "judge",
        4,
        0,
    )
    assert info.disagreements == 3 and info.fallback_arguments == 0 and info.error is None
    assert "judge_seconds" in results.timing


def test_judge_decides_similar_upgrades_the_scored_policies(tmp_path: Path) -> None:
    results = _run(tmp_path, write_judge(tmp_path), decides="similar")
    assert _passed(results) == {"r1": True, "r2": False, "r3": False, "e1": False, "n1": True}
    assert results.case("shop/e1").judge["reason"].counted == "judge"
    assert results.judge is not None and results.judge.decides == "similar"


def test_without_a_judge_the_fallback_decides_and_the_run_says_so_once(tmp_path: Path) -> None:
    results = _run(tmp_path, None)
    # contains-or-similar at 0.85: r1's paraphrase and r2's wrong fact fail, r3 passes.
    assert _passed(results) == {"r1": False, "r2": False, "r3": True, "e1": True, "n1": True}
    assert all(c.judge == {} for c in results.cases)
    assert results.judge is not None and results.judge.spec is None
    assert results.judge.fallback_arguments == 3  # r1, r2, r3 (e1 is not x-match judge)
    lines = [line for line in summary_lines(results) if "judge" in line]
    assert lines == [
        "judge: not run (no --rc-judge): 3 x-match judge argument(s) were decided by their "
        "x-judge-fallback policy"
    ]


def test_a_run_with_no_judge_argument_and_no_judge_records_nothing(tmp_path: Path) -> None:
    catalog = copy.deepcopy(CATALOG)
    catalog["tools"][0]["parameters"]["properties"]["reason"]["x-match"] = "contains"
    golden = write_golden(tmp_path)
    (golden / "catalog.json").write_text(json.dumps(catalog))
    results = run_suite(load_golden(golden), resolve_backend(write_router(tmp_path)))
    assert results.judge is None
    assert not [line for line in summary_lines(results) if "judge" in line]


def test_an_unanswered_question_leaves_verdicts_unavailable_and_the_policy_decides(
    tmp_path: Path,
) -> None:
    judge = write_judge(tmp_path, {"r2#reason": "no"})  # the replay cannot answer r1
    results = _run(tmp_path, judge)
    assert _passed(results) == _passed(_run(tmp_path / "plain", None))
    assert {c.judge["reason"].answer for c in results.cases if c.judge} == {"unavailable"}
    assert all(c.judge["reason"].counted == "deterministic" for c in results.cases if c.judge)
    info = results.judge
    assert info is not None and info.unavailable == 4 and info.fallback_arguments == 3
    assert info.error is not None and "r1#reason" in info.error
    assert info.disagreements == 0
    warning = [line for line in summary_lines(results) if line.startswith("warning:")]
    assert len(warning) == 1 and "4 verdict(s) are unavailable" in warning[0]
    assert results.completed


class _Broken(Backend):
    """A judge whose server is down: every request fails."""

    spec = "openai:http://127.0.0.1:9/v1#gone"

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        config: DecodingConfig,
        progress: ProgressCallback | None = None,
    ) -> list[Generation]:
        raise ConnectionError("connection refused")

    def fingerprint(self) -> str:
        return "endpoint:gone"


def test_a_judge_that_is_down_does_not_stop_the_run(tmp_path: Path) -> None:
    golden = write_golden(tmp_path)
    router = resolve_backend(write_router(tmp_path))
    judge = RunJudge(Judge(_Broken(), OutputCache(tmp_path / "cache")))
    results = run_suite(load_golden(golden), router, judge=judge)
    assert results.completed and results.judge is not None
    assert results.judge.unavailable == 4 and "connection refused" in (results.judge.error or "")
    assert not list((tmp_path / "cache").rglob("*.json"))  # failures are never cached


def test_an_answer_that_is_neither_yes_nor_no_is_no(tmp_path: Path) -> None:
    answers = {"r1#reason": "Maybe?", "r2#reason": "no", "r3#reason": "", "e1#reason": "no"}
    results = _run(tmp_path, write_judge(tmp_path, answers))
    r1, r3 = results.case("shop/r1").judge["reason"], results.case("shop/r3").judge["reason"]
    assert (r1.answer, r1.raw, r3.answer, r3.raw) == ("no", "Maybe?", "no", "")
    assert not results.case("shop/r1").passed and not results.case("shop/r3").passed


def test_results_round_trip_and_old_files_still_read(tmp_path: Path) -> None:
    results = _run(tmp_path, write_judge(tmp_path))
    path = write_results(results, tmp_path / "results.json")
    assert read_results(path) == results
    raw = json.loads(path.read_text())
    del raw["judge"]
    for case in raw["cases"]:
        del case["judge"]
    path.write_text(json.dumps(raw))
    old = read_results(path)
    assert old.judge is None and all(c.judge == {} for c in old.cases)
    assert not [line for line in summary_lines(old) if "judge" in line]


def test_the_report_shows_the_judge_beside_the_policy(tmp_path: Path) -> None:
    html = render_report(_run(tmp_path, write_judge(tmp_path)))
    assert "<dt>Judge</dt>" in html and "3 disagree with the deterministic verdict" in html
    assert "shop/r3</a> <code>reason</code> (judge no, policy match)" in html
    # r3 failed on the judge's word: its diff shows both verdicts.
    assert (
        '<span class="judge" data-judge="no" data-counted="judge"' in html
        and "judge: no · policy: match · judge decided" in html
    )
    lines = summary_lines(_run(tmp_path / "again", write_judge(tmp_path)))
    assert any(line.startswith("judge disagreements: shop/r1 reason (judge yes") for line in lines)


def _catalog(reason: dict[str, Any], nested: bool = False) -> Any:
    prop: dict[str, Any] = {"type": "string", **reason}
    if nested:
        prop = {"type": "array", "items": prop}
    return catalog_from_dict(
        {
            "name": "c",
            "tools": [
                {
                    "name": "refund",
                    "description": "Refund.",
                    "parameters": {"type": "object", "properties": {"reason": prop}},
                }
            ],
        }
    )


@pytest.mark.parametrize(
    ("reason", "nested", "message"),
    [
        ({"x-match": "judge"}, True, "x-match judge applies to a tool's own arguments"),
        ({"x-judge-fallback": "contains"}, False, "only beside x-match judge"),
        ({"x-match": "judge", "x-judge-fallback": "judge"}, False, "x-judge-fallback must be"),
        ({"x-match": "judge", "x-judge-fallback": "fuzzy"}, False, "x-judge-fallback must be"),
        (
            {"x-match": "judge", "x-judge-fallback": "contains", "x-threshold": 0.8},
            False,
            "x-threshold applies only",
        ),
    ],
)
def test_judge_keys_are_checked_at_load(reason: dict[str, Any], nested: bool, message: str) -> None:
    with pytest.raises(CatalogError, match=message):
        _catalog(reason, nested)


def test_the_fallback_policy_and_its_threshold_decide_without_a_verdict() -> None:
    default = _catalog({"x-match": "judge", "x-threshold": 0.5}).tool("refund")
    contains = _catalog({"x-match": "judge", "x-judge-fallback": "contains"}).tool("refund")
    assert default is not None and contains is not None
    schema = contains.properties["reason"]
    assert values_match("it fell apart after one wash", "fell apart", "judge", schema, contains)
    assert not values_match("fell apart", "fell apart after one wash", "judge", schema, contains)
    gold = {"reason": "fell apart after one wash"}
    assert not arguments_match({"reason": "broke"}, gold, contains)[0]
    assert arguments_match({"reason": "broke"}, gold, contains, decided={"reason": True})[0]
    assert arguments_match({"reason": "fell apart after one wash"}, gold, default)[0]


def test_judge_settings() -> None:
    settings = build_settings({"judge": "mock:j.jsonl"}, {"judge_decides": "similar"})
    assert (settings.judge, settings.judge_decides) == ("mock:j.jsonl", "similar")
    with pytest.raises(SettingsError, match="judge-decides = 'all'"):
        RunSettings(judge_decides="all")


def test_a_judge_spec_that_cannot_be_resolved_stops_the_run_before_it_starts(
    tmp_path: Path,
) -> None:
    settings = RunSettings(
        checkpoint=write_router(tmp_path),
        golden=str(write_golden(tmp_path)),
        reports_dir=str(tmp_path / "reports"),
        judge=f"mock:{tmp_path / 'nowhere.jsonl'}",
        no_cache=True,
    )
    with pytest.raises(CheckpointError, match=r"^--rc-judge mock:.*nowhere.jsonl: replay file"):
        EvaluationSession.start(settings)


def test_routecheck_run_with_a_judge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.cli import main

    monkeypatch.setenv("ROUTECHECK_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    common = [
        "run",
        f"--checkpoint={write_router(tmp_path)}",
        f"--rc-golden={write_golden(tmp_path)}",
        f"--rc-reports-dir={tmp_path / 'reports'}",
        "-q",
        "-p",
        "no:cacheprovider",
    ]
    assert main([*common, f"--rc-judge=mock:{tmp_path / 'nowhere.jsonl'}"]) == 4
    assert not (tmp_path / "reports").exists() or not list((tmp_path / "reports").iterdir())
    assert main([*common, f"--rc-judge={write_judge(tmp_path)}"]) == 1  # r2 and r3 fail
    (results_file,) = (tmp_path / "reports").glob("*/results.json")
    results = read_results(results_file)
    assert results.judge is not None and results.judge.disagreements == 3
    assert _passed(results) == {"r1": True, "r2": False, "r3": False, "e1": True, "n1": True}


class _Remote(Backend):
    """Looks like a server to the output cache (not cacheable) and counts requests."""

    spec = "openai:http://judge/v1#m"
    cacheable = False

    def __init__(self) -> None:
        self.requests = 0

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        config: DecodingConfig,
        progress: ProgressCallback | None = None,
    ) -> list[Generation]:
        self.requests += len(requests)
        return [Generation(text="yes") for _ in requests]

    def fingerprint(self) -> str:
        return "endpoint:judge"


ITEM = JudgeItem(id="a", tool="refund", argument="reason", gold="broken", predicted="bust")


def test_a_remote_judge_is_cached_under_its_fingerprint_and_the_question_version(
    tmp_path: Path,
) -> None:
    backend = _Remote()
    judge = Judge(backend, OutputCache(tmp_path))
    assert judge.judge([ITEM]) == judge.judge([ITEM]) and backend.requests == 1
    messages = judge_messages(ITEM)
    assert JUDGE_VERSION in messages[0]["content"]
    key = cache_key("endpoint:judge", JUDGE_DECODING, messages)
    assert (tmp_path / key[:2] / f"{key}.json").is_file()
    other = [{**messages[0], "content": messages[0]["content"].replace(JUDGE_VERSION, "v0")}]
    assert cache_key("endpoint:judge", JUDGE_DECODING, [*other, messages[1]]) != key
    assert cache_key("endpoint:other", JUDGE_DECODING, messages) != key
