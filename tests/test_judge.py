"""The opt-in judge against a scripted (mock:) judge and a counting backend for the cache."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from harness.backends import Backend, DecodingConfig, Generation, GenerationRequest
from harness.backends.base import ProgressCallback
from harness.errors import RoutecheckError
from harness.judge import (
    JUDGE_SYSTEM,
    JUDGE_VERSION,
    Judge,
    JudgeItem,
    judge_messages,
    load_judge,
    parse_answer,
)
from harness.outputcache import OutputCache

ITEMS = [
    JudgeItem("a", "request_refund", "reason", "kettle doesn't turn on", "kettle won't switch on"),
    JudgeItem("b", "request_refund", "reason", "kettle doesn't turn on", "kettle doesn't turn off"),
    JudgeItem(
        "c", "escalate", "reason", "customer asked for a human", "live agent", ("wants a human",)
    ),
    JudgeItem("d", "escalate", "reason", "customer asked for a human", "n/a"),
]


def _mock(tmp_path: Path, answers: dict[str, str]) -> str:
    path = tmp_path / "judge.jsonl"
    rows = [json.dumps({"id": k, "output": v}) for k, v in answers.items()]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return f"mock:{path}"


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("yes", "yes"),
        ("No.", "no"),
        ("  YES, same fact", "yes"),
        ("\nno\n", "no"),
        ("maybe", "unclear"),
        ("nope", "unclear"),
        ("", "unclear"),
        ('{"tool": "escalate"}', "unclear"),
    ],
)
def test_parse_answer(text: str, answer: str) -> None:
    assert parse_answer(text) == answer


def test_question_is_fixed_versioned_and_carries_the_values() -> None:
    messages = judge_messages(ITEMS[2])
    assert messages[0] == {"role": "system", "content": JUDGE_SYSTEM}
    assert JUDGE_VERSION in messages[0]["content"]
    payload = json.loads(messages[1]["content"].split("\n\n")[0])
    assert payload["expected"] == "customer asked for a human"
    assert payload["also_accepted"] == ["wants a human"]
    assert payload["produced"] == "live agent"
    assert judge_messages(ITEMS[2]) == messages  # the same question every time


def test_mock_judge_verdicts(tmp_path: Path) -> None:
    spec = _mock(tmp_path, {"a": "Yes", "b": "no", "c": "yes.", "d": "I cannot tell"})
    verdicts = load_judge(spec, cache_dir=tmp_path / "cache").judge(ITEMS)
    assert [v.id for v in verdicts] == ["a", "b", "c", "d"]
    assert [v.match for v in verdicts] == [True, False, True, False]
    assert [v.answer for v in verdicts] == ["yes", "no", "yes", "unclear"]
    assert verdicts[3].raw == "I cannot tell"
    assert all(v.version == JUDGE_VERSION for v in verdicts)


def test_mock_judge_missing_answer_is_an_error_not_a_pass(tmp_path: Path) -> None:
    judge = load_judge(_mock(tmp_path, {"a": "yes"}), cache_dir=tmp_path / "cache")
    with pytest.raises(RoutecheckError, match="no output for case 'b'"):
        judge.judge(ITEMS[:2])


def test_repeated_item_ids_are_refused(tmp_path: Path) -> None:
    judge = load_judge(_mock(tmp_path, {"a": "yes"}), cache_dir=tmp_path / "cache")
    with pytest.raises(ValueError, match="repeated: a"):
        judge.judge([ITEMS[0], ITEMS[0]])


class CountingBackend(Backend):
    """Answers yes to everything and counts the requests it really generates."""

    spec = "counting"

    def __init__(self) -> None:
        self.generated = 0
        self.configs: list[DecodingConfig] = []

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        config: DecodingConfig,
        progress: ProgressCallback | None = None,
    ) -> list[Generation]:
        self.generated += len(requests)
        self.configs.append(config)
        return [Generation(text="yes") for _ in requests]

    def fingerprint(self) -> str:
        return "sha256:counting"


def test_answers_are_cached_like_outputs(tmp_path: Path) -> None:
    backend = CountingBackend()
    judge = Judge(backend=backend, cache=OutputCache(tmp_path))
    first = judge.judge(ITEMS)
    second = judge.judge(ITEMS)
    assert backend.generated == len(ITEMS)  # the second round came from the cache
    assert first == second
    assert backend.configs[0].as_dict()["do_sample"] is False  # greedy
    assert backend.configs[0].max_new_tokens <= 8
