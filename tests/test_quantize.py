"""The opt-in int8 load option of the transformers backend, on the tiny model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch

from harness.backends import resolve_backend
from harness.backends.base import DecodingConfig, GenerationRequest
from harness.backends.hf import HFBackend, QuantizedHFBackend, load_hf_backend
from harness.errors import CheckpointError, SettingsError
from harness.settings import RunSettings
from tests.tinymodel import build_tiny_model, build_tokenizer, toy_catalog


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: Any) -> None:
    monkeypatch.setenv("ROUTECHECK_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "rc-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("quant")
    return build_tiny_model(root / "model", build_tokenizer(root / "tokenizer"))


def _requests() -> list[GenerationRequest]:
    system = toy_catalog().system_prompt()
    return [
        GenerationRequest(
            id=str(i),
            messages=[{"role": "system", "content": system}, {"role": "user", "content": p}],
        )
        for i, p in enumerate(["Where is my order ORD-1234?", "hi", "cancel ORD-5555 please"])
    ]


def test_int8_replaces_every_linear_layer_and_is_fingerprinted_apart(model_dir: Path) -> None:
    fp32 = load_hf_backend(str(model_dir), threads=1)
    int8 = resolve_backend(str(model_dir), threads=1, quantize="int8")
    assert type(fp32) is HFBackend and isinstance(int8, QuantizedHFBackend)
    linear = [m for m in int8.model.modules() if type(m) is torch.nn.Linear]
    dynamic = [
        m for m in int8.model.modules() if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)
    ]
    # 2 layers x 7 projections, and the LM head
    assert not linear and len(dynamic) == 2 * 7 + 1
    assert int8.fingerprint() != fp32.fingerprint()
    assert int8.fingerprint().startswith("sha256:") and len(int8.fingerprint()) == 7 + 16
    assert int8.describe()["quantize"] == "int8" and "quantize" not in fp32.describe()
    # The default load is untouched: the fp32 fingerprint (the cache key) does not move.
    assert load_hf_backend(str(model_dir), threads=1, quantize="none").fingerprint() == (
        fp32.fingerprint()
    )


def test_int8_generates_through_the_batched_loop_and_is_not_cached(model_dir: Path) -> None:
    int8 = load_hf_backend(str(model_dir), threads=1, quantize="int8")
    config = DecodingConfig(max_new_tokens=8, batch_size=2)
    first = int8.generate(_requests(), config)
    assert [g.text for g in int8.generate(_requests(), config)] == [g.text for g in first]
    assert all(g.new_tokens is not None and 1 <= g.new_tokens <= 8 for g in first)
    # An activation's int8 scale spans the whole batch, so a case's output depends on its
    # batch mates: such outputs must not go to the cache.
    assert int8.cacheable is False


def test_bad_quantize_values_are_refused(model_dir: Path) -> None:
    with pytest.raises(CheckpointError, match=r"quantize 'int4' is not accepted.*none, int8"):
        load_hf_backend(str(model_dir), quantize="int4")
    with pytest.raises(CheckpointError, match="CPU only, not on cuda"):
        load_hf_backend(str(model_dir), quantize="int8", device="cuda")
    with pytest.raises(SettingsError, match="quantize = 'fp8' is not accepted"):
        RunSettings(quantize="fp8")
