"""The runner end to end on the mock backend, with every number checked by hand."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from harness.backends.base import (
    Backend,
    DecodingConfig,
    Generation,
    GenerationRequest,
    ProgressCallback,
)
from harness.backends.mock import MockBackend, gold_replay_rows
from harness.errors import CheckpointError
from harness.gates import GateConfig
from harness.golden import GoldenSet, load_golden
from harness.metrics import Rate
from harness.outputcache import OutputCache
from harness.results import SCHEMA_VERSION, RunResults
from harness.runner import RunStopped, golden_fingerprint, new_run_id, run_suite, select_cases
from harness.scoring import Outcome
from tests.strategies import shop_catalog_dict

CATALOG = shop_catalog_dict()


def case(case_id: str, category: str, tool: str, split: str = "dev", **arguments: str) -> dict:
    return {
        "id": case_id,
        "category": category,
        "prompt": f"request {case_id}",
        "target": {"tool": tool, "arguments": arguments} if arguments else {"tool": tool},
        "split": split,
    }


CASES = [
    case("t1", "positive", "track_order", order_id="ORD-1"),
    case("t2", "positive", "track_order", split="holdout", order_id="ORD-2"),
    case("e1", "positive", "escalate", reason="angry customer"),
    case("h1", "chitchat", "no_tool"),
    case("i1", "info_request", "no_tool", split="holdout"),
    case("u1", "underspecified", "no_tool"),
]

TRACK_1 = '{"tool": "track_order", "arguments": {"order_id": "ORD-1"}}'
NO_TOOL = '{"tool": "no_tool", "reason": "nothing to call"}'
OUTPUTS = {
    "t1": TRACK_1,  # correct
    "t2": 'Sure: {"tool": "track_order", "arguments": {"order_id": "ORD-2"}}',  # prose: invalid
    "e1": '{"tool": "escalate", "arguments": {"reason": "Angry customer!"}}',  # correct
    "h1": TRACK_1,  # false tool call
    "i1": NO_TOOL,  # correct
    "u1": NO_TOOL,  # correct
}


def make_golden(root: Path, cases: list[dict] = CASES) -> Path:
    folder = root / "golden" / "shop"
    folder.mkdir(parents=True)
    (folder / "catalog.json").write_text(json.dumps(CATALOG))
    (folder / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    return folder


def make_mock(root: Path, outputs: dict[str, str] = OUTPUTS, prefix: str = "") -> Path:
    path = root / "outputs.jsonl"
    path.write_text(
        "".join(json.dumps({"id": prefix + k, "output": v}) + "\n" for k, v in outputs.items())
    )
    return path


def build_run(root: Path, **options: Any) -> tuple[RunResults, list[GoldenSet], Path]:
    sets = load_golden(make_golden(root))
    mock = make_mock(root)
    results = run_suite(sets, MockBackend(mock), run_id="20260101-000000-abcdef", **options)
    return results, sets, mock


def pair(rate: Rate) -> tuple[int, int]:
    return rate.numerator, rate.denominator


def test_end_to_end_metrics_by_hand(tmp_path: Path) -> None:
    results, _, _ = build_run(tmp_path)
    overall = results.metrics["all"].overall
    # n = 6; t2 is prose-wrapped, so strict parsing makes it the one invalid output.
    assert overall.n == 6
    assert pair(overall.valid_tool_call_rate) == (5, 6)
    # gold tool named: t1, e1, i1, u1 -> 4/6 (h1 named a tool, t2 is invalid)
    assert pair(overall.tool_name_accuracy) == (4, 6)
    # among the 5 valid: t1, e1 (normalized reason), i1, u1 match -> 4/5
    assert pair(overall.argument_match_accuracy) == (4, 5)
    # h1 (chitchat) called track_order -> 1/6
    assert pair(overall.false_tool_call_rate) == (1, 6)
    assert pair(overall.missed_call_rate) == (0, 6)
    assert pair(overall.silent_corruption_rate) == (0, 6)
    assert pair(overall.pass_rate) == (4, 6)
    assert overall.error_kinds == {"not_json": 1}

    dev = results.metrics["dev"].overall
    # dev: t1, e1, h1, u1
    assert dev.n == 4
    assert pair(dev.valid_tool_call_rate) == (4, 4)
    assert pair(dev.tool_name_accuracy) == (3, 4)
    assert pair(dev.argument_match_accuracy) == (3, 4)
    assert pair(dev.false_tool_call_rate) == (1, 4)
    holdout = results.metrics["holdout"].overall
    # holdout: t2 (invalid), i1 (correct)
    assert holdout.n == 2
    assert pair(holdout.valid_tool_call_rate) == (1, 2)
    assert pair(holdout.argument_match_accuracy) == (1, 1)
    assert pair(holdout.false_tool_call_rate) == (0, 2)

    by_category = results.metrics["all"].by_category
    assert by_category["positive"].n == 3 and pair(by_category["positive"].pass_rate) == (2, 3)
    assert pair(by_category["chitchat"].false_tool_call_rate) == (1, 1)
    assert results.metrics["holdout"].by_category["chitchat"].n == 0

    lenient = results.lenient_metrics["all"]
    # the lenient parser recovers t2: 6/6 valid, 5/6 tool named, 5/6 arguments right.
    assert pair(lenient.valid_tool_call_rate) == (6, 6)
    assert pair(lenient.tool_name_accuracy) == (5, 6)
    assert pair(lenient.argument_match_accuracy) == (5, 6)
    assert pair(lenient.false_tool_call_rate) == (1, 6)
    assert set(results.lenient_metrics) == {"all", "dev", "holdout", "sealed"}

    assert results.confusion == {
        "shop": {
            "track_order": {"track_order": 1, "invalid": 1},
            "escalate": {"escalate": 1},
            "no_tool": {"track_order": 1, "no_tool": 2},
        }
    }


def test_end_to_end_records(tmp_path: Path) -> None:
    results, sets, mock = build_run(tmp_path)
    assert [c.key for c in results.cases] == [
        "shop/t1",
        "shop/t2",
        "shop/e1",
        "shop/h1",
        "shop/i1",
        "shop/u1",
    ]
    t2 = results.case("shop/t2")
    assert t2.outcome is Outcome.INVALID and not t2.passed
    assert t2.lenient_outcome is Outcome.CORRECT
    assert t2.parsed.error == "not_json" and not t2.parsed.valid
    assert t2.predicted == "invalid" and t2.split == "holdout"
    assert t2.output == OUTPUTS["t2"]
    assert t2.prompt == "request t2"
    assert t2.messages == [
        {"role": "system", "content": sets[0].catalog.system_prompt()},
        {"role": "user", "content": "request t2"},
    ]
    h1 = results.case("shop/h1")
    assert h1.outcome is Outcome.FALSE_TOOL_CALL and h1.predicted == "track_order"
    assert h1.parsed.tool == "track_order" and h1.parsed.arguments == {"order_id": "ORD-1"}
    e1 = results.case("shop/e1")
    assert e1.passed and e1.mismatched_arguments == []
    with pytest.raises(KeyError):
        results.case("shop/zz")

    assert results.run_id == "20260101-000000-abcdef"
    assert results.schema_version == SCHEMA_VERSION and results.parse_mode == "strict"
    assert results.checkpoint.spec == f"mock:{mock}"
    assert results.checkpoint.fingerprint == MockBackend(mock).fingerprint()
    assert results.checkpoint.details["kind"] == "mock"
    (info,) = results.golden
    assert info.catalog == "shop" and info.n == 6
    assert info.tools == ["track_order", "escalate"]
    assert info.fingerprint == sets[0].fingerprint
    assert results.golden_fingerprint == golden_fingerprint(sets)
    assert results.decoding == DecodingConfig().as_dict()
    assert results.timing["cases"] == 6.0 and results.timing["cached_cases"] == 0.0
    assert set(results.timing) == {
        "generate_seconds",
        "cases",
        "cached_cases",
        "cases_per_second",
    }
    assert datetime.fromisoformat(results.created_at).tzinfo is not None


def test_end_to_end_gates(tmp_path: Path) -> None:
    results, _, _ = build_run(tmp_path)
    assert results.gate_split == "all"
    gates = {g.metric: g for g in results.gates}
    assert not gates["false_tool_call_rate"].passed  # 1/6 > 0.02
    assert gates["false_tool_call_rate"].offenders == ["shop/h1"]
    assert not gates["valid_tool_call_rate"].passed  # 5/6 < 0.98
    assert gates["valid_tool_call_rate"].offenders == ["shop/t2"]
    assert gates["silent_corruption_rate"].passed  # 0/6

    dev, _, _ = build_run(tmp_path / "dev", gate_split="dev")
    dev_gates = {g.metric: g for g in dev.gates}
    # On dev only: 4/4 valid outputs.
    assert dev_gates["valid_tool_call_rate"].passed
    assert (
        dev_gates["false_tool_call_rate"].numerator,
        dev_gates["false_tool_call_rate"].denominator,
    ) == (1, 4)

    lax, _, _ = build_run(
        tmp_path / "lax",
        gates=GateConfig(
            max_false_tool_call_rate=0.2,
            min_valid_tool_call_rate=0.8,
            min_tool_name_accuracy=0.6,
            min_argument_match_accuracy=0.8,
            max_silent_corruption_rate=0.0,
        ),
    )
    assert all(g.passed for g in lax.gates)


def test_gold_replay_is_a_perfect_router(tmp_path: Path) -> None:
    sets = load_golden(make_golden(tmp_path))
    mock = tmp_path / "gold.jsonl"
    mock.write_text("".join(json.dumps(r) + "\n" for r in gold_replay_rows(sets)))
    results = run_suite(sets, MockBackend(mock))
    assert results.metrics["all"].overall.pass_rate.value == 1.0
    assert all(g.passed for g in results.gates)


def test_selected_keys(tmp_path: Path) -> None:
    sets = load_golden(make_golden(tmp_path))
    mock = make_mock(tmp_path, {"u1": NO_TOOL})
    results = run_suite(sets, MockBackend(mock), keys={"shop/u1"})
    assert [c.key for c in results.cases] == ["shop/u1"]
    assert results.metrics["all"].overall.n == 1
    assert results.metrics["holdout"].overall.n == 0
    assert [c.id for c in select_cases(sets, {"shop/u1", "shop/t1"})] == ["t1", "u1"]
    assert len(select_cases(sets)) == 6


def test_mock_file_missing_a_case(tmp_path: Path) -> None:
    sets = load_golden(make_golden(tmp_path))
    outputs = {k: v for k, v in OUTPUTS.items() if k != "e1"}
    backend = MockBackend(make_mock(tmp_path, outputs))
    with pytest.raises(CheckpointError, match=r"no output for 1 case\(s\) \(shop/e1\)"):
        run_suite(sets, backend)


def test_mock_ids_may_be_full_keys(tmp_path: Path) -> None:
    sets = load_golden(make_golden(tmp_path))
    results = run_suite(sets, MockBackend(make_mock(tmp_path, prefix="shop/")))
    assert results.metrics["all"].overall.pass_rate.numerator == 4


class ShortBackend(Backend):
    spec = "short"

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        config: DecodingConfig,
        progress: ProgressCallback | None = None,
    ) -> list[Generation]:
        return [Generation(text=NO_TOOL)]


def test_backend_returning_too_few_outputs(tmp_path: Path) -> None:
    sets = load_golden(make_golden(tmp_path))
    with pytest.raises(RunStopped, match="backend 'short' failed after 0 of 6 cases") as err:
        run_suite(sets, ShortBackend())
    assert isinstance(err.value, RuntimeError)
    assert not err.value.results.completed and err.value.results.cases == []


class ScriptedBackend(Backend):
    spec = "scripted"

    def __init__(self) -> None:
        self.generated = 0

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        config: DecodingConfig,
        progress: ProgressCallback | None = None,
    ) -> list[Generation]:
        self.generated += len(requests)
        if progress is not None:
            progress(len(requests))
        return [Generation(text=OUTPUTS[r.id.split("/")[1]]) for r in requests]

    def fingerprint(self) -> str:
        return "sha256:scripted"


def test_cache_and_progress(tmp_path: Path) -> None:
    sets = load_golden(make_golden(tmp_path))
    backend = ScriptedBackend()
    cache = OutputCache(tmp_path / "cache")
    first = run_suite(sets, backend, cache=cache, progress=True)
    second = run_suite(sets, backend, cache=cache, progress=True)
    assert backend.generated == 6
    assert first.timing["cached_cases"] == 0.0 and second.timing["cached_cases"] == 6.0
    assert second.timing["cases_per_second"] == 0.0
    assert second.metrics == first.metrics
    assert first.run_id != second.run_id


def test_no_cases_fail_every_gate(tmp_path: Path) -> None:
    sets = load_golden(make_golden(tmp_path))
    results = run_suite(sets, ScriptedBackend(), keys=set())
    assert results.cases == [] and results.metrics["all"].overall.n == 0
    assert results.gates and not any(g.passed for g in results.gates)


def test_new_run_id() -> None:
    run_id = new_run_id(datetime(2026, 11, 22, 10, 15, 0, tzinfo=UTC))
    assert re.fullmatch(r"20261122-101500-[0-9a-f]{6}", run_id)
    assert re.fullmatch(r"\d{8}-\d{6}-[0-9a-f]{6}", new_run_id())


def test_golden_fingerprint_is_order_free(tmp_path: Path) -> None:
    a = load_golden(make_golden(tmp_path / "a"))[0]
    b = a.model_copy(update={"catalog": a.catalog.model_copy(update={"name": "other"})})
    assert golden_fingerprint([a, b]) == golden_fingerprint([b, a])
    assert golden_fingerprint([a]) != golden_fingerprint([a, b])


class FailingBackend(ScriptedBackend):
    """Answers its first ``good`` calls, then fails like a server that went away."""

    spec = "failing"

    def __init__(self, good: int) -> None:
        super().__init__()
        self.good = good
        self.calls = 0

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        config: DecodingConfig,
        progress: ProgressCallback | None = None,
    ) -> list[Generation]:
        self.calls += 1
        if self.calls > self.good:
            raise ConnectionError("connection reset by peer")
        return super().generate(requests, config, progress)


def test_a_failed_run_keeps_finished_outputs_and_resumes(tmp_path: Path) -> None:
    """Batch size 1 and a save every 4 batches: the first part is cached before the failure,
    the partial results score it and say the run is incomplete, and a re-run generates
    only the rest."""
    sets = load_golden(make_golden(tmp_path))
    cache = OutputCache(tmp_path / "cache")
    decoding = DecodingConfig(batch_size=1)
    failing = FailingBackend(good=1)
    with pytest.raises(RunStopped, match=r"failed after 4 of 6 cases \(ConnectionError") as err:
        run_suite(sets, failing, decoding, cache=cache)
    partial = err.value.results
    assert not partial.completed and "connection reset" in (partial.incomplete_reason or "")
    assert len(partial.cases) == 4 and partial.metrics["all"].overall.n == 4
    resumed = ScriptedBackend()
    again = run_suite(sets, resumed, decoding, cache=cache)
    assert resumed.generated == 2 and again.completed and len(again.cases) == 6
    assert again.timing["cached_cases"] == 4.0


class SurrogateBackend(ScriptedBackend):
    def generate(
        self,
        requests: Sequence[GenerationRequest],
        config: DecodingConfig,
        progress: ProgressCallback | None = None,
    ) -> list[Generation]:
        # A raw lone surrogate, one as a JSON escape, and NUL as a JSON escape: valid JSON.
        reply = '{"tool": "no_tool", "reason": "\ud800 \\ud800 \\u0000"}'
        return [Generation(text=reply) for _ in requests]


def test_unstorable_model_text_is_cached_scored_and_kept_exactly(tmp_path: Path) -> None:
    sets = load_golden(make_golden(tmp_path))
    cache = OutputCache(tmp_path / "cache")
    results = run_suite(sets, SurrogateBackend(), cache=cache)
    again = run_suite(sets, SurrogateBackend(), cache=cache)
    assert again.timing["cached_cases"] == 6.0
    for record in again.cases:
        assert record.output_escaped and record.raw_output().endswith('"\ud800 \\ud800 \\u0000"}')
        assert record.parsed.valid and record.parsed.reason == "\\ud800 \\ud800 \x00"
        record.model_dump_json()  # storable as it is
    assert results.cases == again.cases
