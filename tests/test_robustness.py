"""The robustness suite: batched Hypothesis search, shrinking, rates, gate, files, loop."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from harness.errors import SettingsError
from harness.render.html import render_report
from harness.results import read_results, write_results
from harness.robust_results import RobustRate
from harness.session import EvaluationSession
from harness.settings import RunSettings

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
CS = ROOT / "golden" / "customer_support"
NO_ID = '{"tool": "no_tool", "reason": "no id"}'
LOWER_ID_RULE = {"match": r"\bord-\d", "output": NO_ID}
"""A replay that breaks exactly when an order id is written in lower case."""


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: Any) -> None:
    monkeypatch.setenv("ROUTECHECK_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "rc-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def _replay(folder: Path, rules: list[dict[str, str]]) -> Path:
    from harness.backends.mock import gold_replay_rows
    from harness.golden import load_golden

    rows = gold_replay_rows(load_golden(CS)) + rules
    path = folder / "replay.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _run(checkpoint: str, tmp: Path, keys: set[str], **options: Any) -> EvaluationSession:
    settings = RunSettings(
        checkpoint=checkpoint,
        golden=str(CS),
        reports_dir=str(tmp / "reports"),
        robustness=True,
        **options,
    )
    session = EvaluationSession.start(settings)
    session.selected = session.robust_selected = keys
    session.run()
    return session


def test_shrinking_finds_the_minimal_lowercase_id_on_a_replay(tmp_path: Path) -> None:
    replay = _replay(tmp_path, [LOWER_ID_RULE])
    keys = {"customer_support/pos-track-001", "customer_support/chat-001"}
    ev = _run(
        f"mock:{replay}", tmp_path, keys, robustness_examples=10, perturbations="typo,id_format"
    )
    report = ev.results.robustness  # type: ignore[union-attr]
    assert report is not None
    track = report.case("customer_support/pos-track-001")
    assert track.baseline_passed and track.fragile and 0 < track.same < track.n <= 10
    # The smallest request that still breaks the replay: one step, the id lower-cased.
    assert track.shrunk is not None
    assert track.shrunk.kinds == ["id_format"]
    assert track.shrunk.prompt == "Where is my order ord-4410?"
    assert track.shrunk.accept == {"order_id": ["ord-4410"]}
    assert track.shrunk.output == NO_ID and track.shrunk.outcome.value == "missed_call"
    assert not track.cut
    # Every sampled flip is a lower-cased id, and nothing else flips.
    assert track.flipped and all("ord-4410" in ex.prompt for ex in track.flipped)
    assert track.by_kind["typo"][0] <= track.by_kind["typo"][1]
    # "hi" has no word of four letters and no id: neither perturbation applies, and it says so.
    chat = report.case("customer_support/chat-001")
    assert chat.n == 0 and chat.skipped and "no perturbation applies" in chat.skipped
    assert "typo, id_format" in chat.skipped
    # Pooled: only the track case counted.
    assert report.overall == RobustRate.of(track.same, track.n)
    assert set(report.by_category) == {"positive", "chitchat"}
    assert report.by_category["chitchat"].n == 0


def test_a_robust_replay_keeps_every_verdict_and_runs_are_repeatable(tmp_path: Path) -> None:
    replay = _replay(tmp_path, [])
    keys = {"customer_support/pos-track-001", "customer_support/info-001"}
    opts = {"robustness_examples": 6, "perturbations": "typo,casing,polite,id_format"}
    first = _run(f"mock:{replay}", tmp_path, keys, **opts).results
    second = _run(f"mock:{replay}", tmp_path, keys, **opts).results
    assert first is not None and second is not None
    a, b = first.robustness, second.robustness
    assert a is not None and b is not None
    assert a.overall.value == 1.0 and a.overall.n > 6
    assert not any(c.fragile for c in a.cases)
    # Derandomized: the same perturbed requests every run.
    assert a.model_dump(exclude={"seconds"}) == b.model_dump(exclude={"seconds"})


def test_bad_robustness_options_are_refused_clearly() -> None:
    with pytest.raises(SettingsError, match="budget of at least 1"):
        RunSettings(robustness_examples=0)
    with pytest.raises(SettingsError, match=r"unknown perturbation\(s\) 'typoo'; known: typo, "):
        RunSettings(perturbations="casing, typoo")
    with pytest.raises(SettingsError, match="between 0 and 1"):
        RunSettings(min_robustness="1.5")
    with pytest.raises(SettingsError, match="not a rate"):
        RunSettings(min_robustness="high")
    with pytest.raises(SettingsError, match="robustness-split"):
        RunSettings(robustness_split="train")
    assert RunSettings(min_robustness="off").min_robustness == "off"


def test_results_round_trip_report_panel_and_gate(tmp_path: Path) -> None:
    replay = _replay(tmp_path, [LOWER_ID_RULE])
    keys = {"customer_support/pos-track-001"}
    ev = _run(
        f"mock:{replay}",
        tmp_path,
        keys,
        robustness_examples=10,
        perturbations="id_format",
        min_robustness="0.9",
    )
    assert ev.results is not None and ev.files is not None
    back = read_results(ev.files.results)
    assert back.robustness == ev.results.robustness
    raw = json.loads(ev.files.results.read_text(encoding="utf-8"))
    assert raw["schema_version"] == 3 and raw["robustness"]["split"] == "dev"
    gate = back.gates[-1]
    rate = back.robustness.overall  # type: ignore[union-attr]
    assert gate.metric == "robustness" and not gate.passed
    assert (gate.numerator, gate.denominator) == (rate.same, rate.n)
    assert gate.offenders == ["customer_support/pos-track-001"]
    page = render_report(back)
    panel = page.split('id="robustness"')[1]
    assert "Robustness" in panel and 'data-fragile="customer_support/pos-track-001"' in panel
    assert "ord-4410" in panel
    # A file written before the section existed still reads, with no section.
    raw["schema_version"] = 2
    del raw["robustness"]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(raw), encoding="utf-8")
    assert read_results(old).robustness is None
    assert 'id="robustness"' not in render_report(read_results(old))
    write_results(back, tmp_path / "again.json")
    assert read_results(tmp_path / "again.json") == back


def test_feedback_takes_robustness_failures_of_dev_cases_only(tmp_path: Path) -> None:
    from trainers.feedback import main as feedback

    replay = _replay(tmp_path, [LOWER_ID_RULE])
    # pos-track-001 is dev, pos-track-002 holdout: both break on a lower-cased id.
    keys = {"customer_support/pos-track-001", "customer_support/pos-track-002"}
    ev = _run(
        f"mock:{replay}",
        tmp_path,
        keys,
        robustness_examples=10,
        perturbations="id_format",
        robustness_split="all",
    )
    assert ev.files is not None
    report = ev.results.robustness  # type: ignore[union-attr]
    assert report is not None and report.case("customer_support/pos-track-002").fragile
    out = tmp_path / "fb.jsonl"
    out.write_text('{"kept": "as is"}\n', encoding="utf-8")
    assert feedback([str(ev.files.results), "--out", str(out), "--variants", "0"]) == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == '{"kept": "as is"}'
    rows = [json.loads(line) for line in lines[1:]]
    users = [r["messages"][-2]["content"] for r in rows]
    assert users and all("4410" in u for u in users)  # dev only: nothing of ORD-20931
    assert "Where is my order ord-4410?" in users
    for row in rows:
        assert row["messages"][0]["role"] == "system"
        answer = json.loads(row["messages"][-1]["content"])
        assert answer == {"tool": "track_order", "arguments": {"order_id": "ORD-4410"}}
    # Run again: nothing new is written.
    assert feedback([str(ev.files.results), "--out", str(out), "--variants", "0"]) == 0
    assert len(out.read_text(encoding="utf-8").splitlines()) == len(lines)


def _suites(pytester: pytest.Pytester) -> None:
    shutil.copytree(
        ROOT / "suites", pytester.path / "suites", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(CS, pytester.path / "golden")


def test_pytest_suite_shows_the_shrunk_request_and_gates(pytester: pytest.Pytester) -> None:
    _suites(pytester)
    _replay(pytester.path, [LOWER_ID_RULE])
    common = ["--checkpoint=mock:replay.jsonl", "--rc-golden=golden", "--rc-reports-dir=reports"]
    common += ["-p", "no:cacheprovider", "--rc-gate-split=dev"]
    pick = ["-k", "customer_support/pos-track-001 or customer_support/chat-001 or test_gate"]
    off = pytester.runpytest_subprocess("suites/", *common, *pick)
    assert off.ret == 0 and "robustness" not in off.stdout.str()
    assert off.parseoutcomes()["passed"] == 2 + 5  # two cases, five gates
    result = pytester.runpytest_subprocess(
        "suites/",
        *common,
        *pick,
        "--rc-robustness",
        "--rc-robustness-examples=10",
        "--rc-perturbations=typo,id_format",
        "--rc-min-robustness=0.95",
        "-rs",
    )
    text = result.stdout.str()
    assert result.ret == 1, text
    outcomes = result.parseoutcomes()
    # Failed: the robustness test of the track case and the robustness gate.
    assert outcomes["failed"] == 2 and outcomes["skipped"] == 1, text
    assert "smallest flip found: id_format" in text
    assert "'Where is my order ord-4410?'" in text and NO_ID.replace('"', "") in text.replace(
        '"', ""
    )
    assert "no perturbation applies to this case" in text
    assert "robustness on the dev split (2 cases" in text
    assert "FAIL robustness = " in text


def test_pytest_refuses_bad_robustness_options(pytester: pytest.Pytester) -> None:
    _suites(pytester)
    _replay(pytester.path, [])
    common = ["suites/", "--checkpoint=mock:replay.jsonl", "--rc-golden=golden"]
    zero = pytester.runpytest_subprocess(*common, "--rc-robustness", "--rc-robustness-examples=0")
    assert zero.ret == 4 and "budget of at least 1" in zero.stderr.str()
    bad = pytester.runpytest_subprocess(*common, "--rc-robustness", "--rc-perturbations=typoo")
    assert bad.ret == 4
    assert "unknown perturbation(s) 'typoo'; known: typo, casing" in bad.stderr.str()


def test_tiny_model_robustness_is_cached_and_repeatable(tmp_path: Path) -> None:
    from tests.tinymodel import build_tiny_model, build_tokenizer

    model = build_tiny_model(tmp_path / "model", build_tokenizer(tmp_path / "tok"))
    keys = {"customer_support/pos-track-001", "customer_support/info-001"}
    opts = {"robustness_examples": 2, "max_new_tokens": 6, "perturbations": "casing,polite"}
    first = _run(str(model), tmp_path, keys, **opts).results
    second = _run(str(model), tmp_path, keys, **opts).results
    assert first is not None and second is not None
    a, b = first.robustness, second.robustness
    assert a is not None and b is not None
    assert a.overall.n == sum(c.n for c in a.cases) >= 2
    assert all(c.n >= 1 for c in a.cases)
    assert a.model_dump(exclude={"seconds"}) == b.model_dump(exclude={"seconds"})
    assert second.timing["cached_cases"] == 2.0  # the unperturbed requests: from the cache


@pytest.mark.slow
def test_reference_router_robustness_on_a_few_cases(tmp_path: Path) -> None:
    router = ROOT / "routers" / "customer_support"
    if not (router / "adapter_config.json").is_file():
        pytest.skip(f"the reference router is not at {router}")
    keys = {
        "customer_support/pos-track-001",
        "customer_support/chat-001",
        "customer_support/info-001",
    }
    ev = _run(str(router), tmp_path, keys, robustness_examples=2, max_new_tokens=48)
    report = ev.results.robustness  # type: ignore[union-attr]
    assert report is not None and report.generations >= 2
    assert {c.key for c in report.cases} == keys
    assert report.overall.n == sum(c.n for c in report.cases) >= 2
    for case in report.cases:
        assert case.skipped or case.n >= 1
        if case.fragile:
            assert case.shrunk is not None or case.flipped
