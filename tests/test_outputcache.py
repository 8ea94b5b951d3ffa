"""The output cache: hits, misses, corrupt entries, and what is never cached."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from harness.backends.base import (
    Backend,
    DecodingConfig,
    Generation,
    GenerationRequest,
    ProgressCallback,
)
from harness.backends.mock import MockBackend
from harness.outputcache import OutputCache, cache_key, default_cache_dir, generate_cached


class CountingBackend(Backend):
    """Answers ``out:<id>`` and records every batch it was asked for."""

    def __init__(self, fingerprint: str = "sha256:weights") -> None:
        self.spec = "counting"
        self.batches: list[list[str]] = []
        self._fingerprint = fingerprint

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        config: DecodingConfig,
        progress: ProgressCallback | None = None,
    ) -> list[Generation]:
        self.batches.append([r.id for r in requests])
        out = [Generation(text=f"out:{r.id}", truncated=True, new_tokens=5) for r in requests]
        if progress is not None:
            progress(len(out))
        return out

    def fingerprint(self) -> str:
        return self._fingerprint


def requests(*ids: str) -> list[GenerationRequest]:
    return [GenerationRequest(id=i, messages=[{"role": "user", "content": i}]) for i in ids]


CONFIG = DecodingConfig()


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ROUTECHECK_CACHE_DIR", str(tmp_path))
    assert default_cache_dir() == tmp_path / "outputs"
    monkeypatch.delenv("ROUTECHECK_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "routecheck" / "outputs"


def test_cache_key() -> None:
    messages = [{"role": "user", "content": "hi"}]
    key = cache_key("fp", CONFIG, messages)
    assert len(key) == 64
    assert key == cache_key("fp", DecodingConfig(batch_size=1), messages)  # batch size: no
    assert key != cache_key("fp2", CONFIG, messages)
    assert key != cache_key("fp", DecodingConfig(max_new_tokens=64), messages)
    assert key != cache_key("fp", CONFIG, [{"role": "user", "content": "hi!"}])


def test_get_put_round_trip(tmp_path: Path) -> None:
    cache = OutputCache(tmp_path)
    key = "ab" + "0" * 62
    assert cache.get(key) is None
    cache.put(key, Generation(text="héllo", truncated=True, new_tokens=7))
    assert (tmp_path / "ab" / f"{key}.json").is_file()
    assert cache.get(key) == Generation(text="héllo", truncated=True, new_tokens=7)


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[1, 2]",
        "42",
        json.dumps({"key": "other", "text": "x"}),
        json.dumps({"key": "KEY", "text": 3}),
        b"\xff\xfe",
    ],
)
def test_corrupt_entry_is_discarded_with_a_warning(tmp_path: Path, content: str | bytes) -> None:
    cache = OutputCache(tmp_path)
    key = "cd" + "1" * 62
    path = tmp_path / "cd" / f"{key}.json"
    path.parent.mkdir(parents=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content.replace("KEY", key))
    with pytest.warns(UserWarning, match="discarding corrupt output-cache entry"):
        assert cache.get(key) is None
    assert not path.exists()


def test_generate_cached_hits_and_misses(tmp_path: Path) -> None:
    backend = CountingBackend()
    cache = OutputCache(tmp_path)
    ticks: list[int] = []
    outputs, cached = generate_cached(backend, requests("a", "b"), CONFIG, cache, ticks.append)
    assert [o.text for o in outputs] == ["out:a", "out:b"]
    assert cached == 0 and backend.batches == [["a", "b"]] and ticks == [2]

    ticks.clear()
    outputs, cached = generate_cached(backend, requests("b", "c", "a"), CONFIG, cache, ticks.append)
    assert [o.text for o in outputs] == ["out:b", "out:c", "out:a"]
    assert outputs[0] == Generation(text="out:b", truncated=True, new_tokens=5)
    assert cached == 2
    assert backend.batches[-1] == ["c"]  # only the miss is generated
    assert ticks == [2, 1]

    outputs, cached = generate_cached(backend, requests("a", "b", "c"), CONFIG, cache)
    assert cached == 3 and len(backend.batches) == 2


def test_other_weights_or_settings_miss(tmp_path: Path) -> None:
    cache = OutputCache(tmp_path)
    generate_cached(CountingBackend("sha256:one"), requests("a"), CONFIG, cache)
    other = CountingBackend("sha256:two")
    _, cached = generate_cached(other, requests("a"), CONFIG, cache)
    assert cached == 0 and other.batches == [["a"]]
    _, cached = generate_cached(other, requests("a"), DecodingConfig(max_new_tokens=9), cache)
    assert cached == 0


def test_no_cache_and_unknown_fingerprint_always_generate(tmp_path: Path) -> None:
    backend = CountingBackend()
    generate_cached(backend, requests("a"), CONFIG, None)
    generate_cached(backend, requests("a"), CONFIG, None)
    assert backend.batches == [["a"], ["a"]]
    unknown = CountingBackend("unknown")
    cache = OutputCache(tmp_path)
    generate_cached(unknown, requests("a"), CONFIG, cache)
    _, cached = generate_cached(unknown, requests("a"), CONFIG, cache)
    assert cached == 0 and list(tmp_path.iterdir()) == []


def test_mock_backend_is_never_cached(tmp_path: Path) -> None:
    replay = tmp_path / "outputs.jsonl"
    replay.write_text(json.dumps({"id": "a", "output": "hello"}) + "\n")
    cache = OutputCache(tmp_path / "cache")
    backend = MockBackend(replay)
    for _ in range(2):
        outputs, cached = generate_cached(backend, requests("a"), CONFIG, cache)
        assert [o.text for o in outputs] == ["hello"] and cached == 0
    assert not (tmp_path / "cache").exists()


def test_corrupt_entry_is_regenerated(tmp_path: Path) -> None:
    backend = CountingBackend()
    cache = OutputCache(tmp_path)
    generate_cached(backend, requests("a"), CONFIG, cache)
    (entry,) = tmp_path.glob("*/*.json")
    entry.write_text("garbage")
    with pytest.warns(UserWarning, match="corrupt"):
        outputs, cached = generate_cached(backend, requests("a"), CONFIG, cache)
    assert cached == 0 and outputs[0].text == "out:a" and len(backend.batches) == 2
    assert json.loads(entry.read_text())["text"] == "out:a"
