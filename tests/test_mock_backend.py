"""The mock backend (replay file), the backend seam and backend resolution."""

from __future__ import annotations

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
from harness.backends.mock import MockBackend
from harness.errors import CheckpointError


def write_rows(path: Path, rows: list[Any]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def request(case_id: str) -> GenerationRequest:
    return GenerationRequest(id=case_id, messages=[{"role": "user", "content": "x"}])


def test_replays_by_id_and_by_key(tmp_path: Path) -> None:
    path = write_rows(
        tmp_path / "out.jsonl",
        [
            {"id": "a", "output": "one"},
            "",
            {"id": "shop/b", "output": "two", "truncated": True},
        ],
    )
    backend = MockBackend(path)
    ticks: list[int] = []
    outputs = backend.generate(
        [request("shop/a"), request("shop/b"), request("a")], DecodingConfig(), ticks.append
    )
    assert outputs == [
        Generation(text="one"),
        Generation(text="two", truncated=True),
        Generation(text="one"),
    ]
    assert ticks == [3]
    assert backend.generate([], DecodingConfig()) == []


def test_missing_case_is_an_error(tmp_path: Path) -> None:
    backend = MockBackend(write_rows(tmp_path / "out.jsonl", [{"id": "a", "output": "x"}]))
    with pytest.raises(CheckpointError, match=r"no output for case 'shop/zz'"):
        backend.generate([request("shop/zz")], DecodingConfig())


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="replay file not found"):
        MockBackend(tmp_path / "nope.jsonl")


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (["{bad"], r"out\.jsonl:1: bad JSON"),
        ([{"id": "a", "output": "x"}, ["a"]], r"out\.jsonl:2: each line needs string fields"),
        ([{"id": 1, "output": "x"}], "each line needs string fields 'id' and 'output'"),
        ([{"id": "a"}], "each line needs string fields"),
        ([{"id": "a", "output": "x"}, {"id": "a", "output": "y"}], r":2: duplicate id 'a'"),
        ([{"id": "a", "output": "x", "truncated": "false"}], r":1: field 'truncated' is 'false'"),
        ([{"id": "a", "output": "x", "truncated": 1}], r"must be JSON true or false"),
        (['{"id": "a", "output": "x", "output": "y"}'], r":1: bad JSON \(duplicate key 'output'"),
    ],
)
def test_bad_replay_files(tmp_path: Path, rows: list[Any], expected: str) -> None:
    with pytest.raises(CheckpointError, match=expected):
        MockBackend(write_rows(tmp_path / "out.jsonl", rows))


def test_non_utf8_replay_file(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"id": "a", "output": "\xff"}\n')
    with pytest.raises(CheckpointError, match="not UTF-8"):
        MockBackend(path)


def test_line_separators_inside_outputs(tmp_path: Path) -> None:
    text = 'a\u2028b\x85c\u2029{"tool": "no_tool"}'
    path = write_rows(
        tmp_path / "out.jsonl", [{"id": "a", "output": text}, {"id": "b", "output": ""}]
    )
    backend = MockBackend(path)
    assert backend.generate([request("a"), request("b")], DecodingConfig())[0].text == text


def test_fingerprint_and_describe(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "out.jsonl", [{"id": "a", "output": "x"}])
    backend = MockBackend(path)
    assert backend.fingerprint().startswith("sha256:") and len(backend.fingerprint()) == 23
    assert backend.fingerprint() == MockBackend(path).fingerprint()
    assert backend.describe() == {"kind": "mock", "spec": f"mock:{path}", "path": str(path)}
    write_rows(path, [{"id": "a", "output": "y"}])
    assert MockBackend(path).fingerprint() != backend.fingerprint()


def test_resolve_backend(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "out.jsonl", [{"id": "a", "output": "x"}])
    backend = resolve_backend(f"mock:{path}")
    assert isinstance(backend, MockBackend) and backend.spec == f"mock:{path}"
    for spec in ("", "   "):
        with pytest.raises(CheckpointError, match="--checkpoint is empty"):
            resolve_backend(spec)
    with pytest.raises(CheckpointError, match="replay file not found"):
        resolve_backend(f"mock:{tmp_path / 'missing.jsonl'}")


def test_decoding_config() -> None:
    config = DecodingConfig()
    assert config.as_dict() == {
        "do_sample": False,
        "max_new_tokens": 128,
        "batch_size": 16,
        "format": "json",
        "mode": "free",
        "lookup": 0,
        "lookup_tree": 0,
        "lookup_tree_first": 0,
    }
    with pytest.raises(ValueError, match="max_new_tokens must be >= 1"):
        DecodingConfig(max_new_tokens=0)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        DecodingConfig(batch_size=0)


def test_backend_defaults() -> None:
    class Echo(Backend):
        def generate(
            self,
            requests: Sequence[GenerationRequest],
            config: DecodingConfig,
            progress: ProgressCallback | None = None,
        ) -> list[Generation]:
            return [Generation(text=r.id) for r in requests]

    echo = Echo()
    assert echo.fingerprint() == "unknown"
    assert echo.describe() == {"kind": "Echo", "spec": ""}
    assert echo.generate([request("q")], DecodingConfig()) == [Generation(text="q")]


def test_a_missing_case_with_a_slash_in_its_id_is_not_answered_by_a_suffix(
    tmp_path: Path,
) -> None:
    """``shop/a/b`` is case ``a/b``: the output of case ``b`` must not stand in for it."""
    backend = MockBackend(write_rows(tmp_path / "out.jsonl", [{"id": "b", "output": "bee"}]))
    assert backend.bind_cases([("shop/a/b", "a/b"), ("shop/b", "b")]) == ["shop/a/b"]
    with pytest.raises(CheckpointError, match=r"no output for case 'shop/a/b'"):
        backend.generate([request("shop/a/b")], DecodingConfig())
    assert backend.generate([request("shop/b")], DecodingConfig())[0].text == "bee"


def test_unbound_lookup_strips_only_the_first_segment(tmp_path: Path) -> None:
    backend = MockBackend(write_rows(tmp_path / "out.jsonl", [{"id": "b", "output": "bee"}]))
    with pytest.raises(CheckpointError, match="no output"):
        backend.generate([request("shop/a/b")], DecodingConfig())


def test_truncated_false_reads_as_false(tmp_path: Path) -> None:
    backend = MockBackend(
        write_rows(tmp_path / "out.jsonl", [{"id": "a", "output": "x", "truncated": False}])
    )
    assert backend.generate([request("a")], DecodingConfig())[0].truncated is False
