"""The hand-written batched decoding against transformers' own ``model.generate``.

The backend promises that batching, left padding between the shared system prompt and the
request, the prefix cache and early stopping change no output. Here every prompt is run
alone through ``model.generate(do_sample=False)`` (no padding, no shared cache: the
reference), and the backend's tokens must equal the reference's, token for token, cut by
the backend's own rule: at EOS (kept), or at the first token after which the top-level JSON
object has closed, or at ``max_new_tokens``.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch

from harness.backends.base import DecodingConfig, Generation, GenerationRequest
from harness.backends.hf import HFBackend, json_object_end, load_hf_backend
from tests.tinymodel import build_tiny_model, build_tokenizer, offline_cache, toy_catalog

ROOT = Path(__file__).resolve().parent.parent
ROUTER = ROOT / "routers" / "customer_support"
ORIGINAL_CACHE_DIR = os.environ.get("ROUTECHECK_CACHE_DIR")


class RecordingBackend(HFBackend):
    """The backend, keeping each request's generated token ids as it finishes them."""

    tokens: dict[int, list[int]]

    def _result(self, row: Any, config: DecodingConfig) -> Generation:
        self.tokens[row.index] = list(row.tokens)
        return super()._result(row, config)


def recording(backend: HFBackend, prefix_cache: bool) -> RecordingBackend:
    rec = RecordingBackend(
        backend.checkpoint, backend.model, backend.tokenizer, backend.threads, prefix_cache
    )
    rec.tokens = {}
    rec.add_lookup_sequences(backend._lookup_corpus)  # lookup decoding drafts from the same
    return rec


def reference_tokens(
    backend: HFBackend, request: GenerationRequest, config: DecodingConfig
) -> list[int]:
    """``model.generate`` on the prompt alone, cut where the backend's rule stops."""
    ids = backend.encode(request.messages)
    prompt = torch.tensor([ids], dtype=torch.long)
    with torch.inference_mode():
        out = backend.model.generate(
            input_ids=prompt,
            attention_mask=torch.ones_like(prompt),
            do_sample=False,
            max_new_tokens=config.max_new_tokens,
        )
    new = out[0, len(ids) :].tolist()
    for k, token in enumerate(new, start=1):
        if token in backend.eos_set:
            return new[:k]
        text = backend.tokenizer.decode(new[:k], skip_special_tokens=True)
        if config.format == "json" and json_object_end(text) is not None:
            return new[:k]
    return new


def assert_parity(
    backend: HFBackend, requests: Sequence[GenerationRequest], config: DecodingConfig
) -> None:
    """Same tokens as the reference for every request, with the prefix cache on and off."""
    expected = [reference_tokens(backend, r, config) for r in requests]
    for prefix_cache in (True, False):
        rec = recording(backend, prefix_cache)
        outs = rec.generate(requests, config)
        got = [rec.tokens[i] for i in range(len(requests))]
        for request, want, have, out in zip(requests, expected, got, outs, strict=True):
            assert have == want, (
                f"{request.id} (prefix cache {'on' if prefix_cache else 'off'}): "
                f"backend {have} != model.generate {want}"
            )
            assert out.new_tokens == len(want)


# -- the tiny model (CI) -------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: Any) -> None:
    offline_cache(monkeypatch, tmp_path_factory)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> HFBackend:
    """The tiny random model, with one more stop token: one it writes early in some answers
    and late or never in others, so rows finish at different steps, leave the batch, and
    queued requests join it mid-way (a random model never closes a JSON object)."""
    root = tmp_path_factory.mktemp("parity")
    model = build_tiny_model(root / "model", build_tokenizer(root / "tokenizer"))
    return with_mid_stop(load_hf_backend(str(model), threads=1))


def with_mid_stop(plain: HFBackend) -> HFBackend:
    """``plain`` with one more stop token: the one its answers write about half the time."""
    answers = [
        reference_tokens(plain, r, DecodingConfig(max_new_tokens=24)) for r in tiny_requests()
    ]
    seen = Counter(t for tokens in answers for t in set(tokens[2:16]))
    stop = min(seen, key=lambda t: (abs(seen[t] - len(answers) / 2), t))
    plain.model.generation_config.eos_token_id = [*plain.eos_ids, stop]
    return HFBackend(plain.checkpoint, plain.model, plain.tokenizer, 1)


def tiny_requests() -> list[GenerationRequest]:
    """Prompts from 2 to about 20 words behind one system prompt, and one without it."""
    system = toy_catalog().system_prompt()
    prompts = [
        "hi",
        "Where is my order ORD-1234?",
        "Please cancel ORD-5555, I changed my mind and do not want it any more, thanks.",
        "track ORD-9",
        "What is your return policy? How long does shipping take to Canada, and what for?",
    ]
    chats = [
        [{"role": "system", "content": system}, {"role": "user", "content": p}] for p in prompts
    ]
    chats.append([{"role": "user", "content": "The quick brown fox jumps over the lazy dog"}])
    return [GenerationRequest(id=f"r{i}", messages=m) for i, m in enumerate(chats)]


@pytest.mark.parametrize("batch_size", [2, 6])
@pytest.mark.parametrize("output_format", ["json", "native"])
def test_tiny_backend_matches_model_generate_token_for_token(
    tiny: HFBackend, batch_size: int, output_format: str
) -> None:
    # batch_size 2 makes rows leave and queued requests join mid-batch; 6 runs all at once.
    config = DecodingConfig(max_new_tokens=24, batch_size=batch_size, format=output_format)
    lengths = {len(reference_tokens(tiny, r, config)) for r in tiny_requests()}
    assert len(lengths) >= 3, lengths  # rows really finish at different steps
    assert_parity(tiny, tiny_requests(), config)


def test_reference_tokens_stop_where_the_backend_does(tiny: HFBackend) -> None:
    """The reference cut itself: at most max_new_tokens, EOS only ever last."""
    config = DecodingConfig(max_new_tokens=24)
    for request in tiny_requests():
        tokens = reference_tokens(tiny, request, config)
        assert 1 <= len(tokens) <= 24
        assert not any(t in tiny.eos_set for t in tokens[:-1])


# -- the reference router (slow) -----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(
    not (ROUTER / "adapter_model.safetensors").is_file(), reason="reference router not present"
)
def test_reference_router_matches_model_generate_token_for_token(monkeypatch: Any) -> None:
    from harness.golden import load_golden

    if ORIGINAL_CACHE_DIR is None:  # the converted base model lives in the user's cache
        monkeypatch.delenv("ROUTECHECK_CACHE_DIR")
    else:
        monkeypatch.setenv("ROUTECHECK_CACHE_DIR", ORIGINAL_CACHE_DIR)
    router = load_hf_backend(str(ROUTER), threads=None)
    (golden,) = load_golden(ROOT / "golden" / "customer_support")
    dev = [c for c in golden.cases if c.split == "dev"]
    picked = [dev[int(i * len(dev) / 6)] for i in range(6)]  # every category
    requests = [
        GenerationRequest(id=c.key, messages=c.chat(golden.catalog.system_prompt())) for c in picked
    ]
    assert_parity(router, requests, DecodingConfig(max_new_tokens=128, batch_size=4))
    # route()'s lookup decoding: tree drafts from the request and the trained answers
    from harness.backends._hf_lookup import read_lookup_examples
    from harness.route import ROUTE_LOOKUP, ROUTE_LOOKUP_TREE, ROUTE_LOOKUP_TREE_FIRST

    examples = read_lookup_examples(str(ROOT / "data" / "customer_support_round1.jsonl"))
    router.add_lookup_corpus([a for _, a in examples], [s for s, _ in examples])
    tree = DecodingConfig(
        max_new_tokens=128,
        batch_size=1,
        lookup=ROUTE_LOOKUP,
        lookup_tree=ROUTE_LOOKUP_TREE,
        lookup_tree_first=ROUTE_LOOKUP_TREE_FIRST,
    )
    assert_parity(router, requests, tree)


def test_requests_each_with_its_own_system_prompt_decode_together(tiny: HFBackend) -> None:
    """Per-case tools give every request its own system prompt: no prefix is shared, so the
    requests are batched as whole prompts (not one at a time), with the same tokens."""
    base = tiny_requests()[:5]
    requests = [
        GenerationRequest(
            id=r.id,
            messages=[
                {"role": "system", "content": f"{r.messages[0]['content']} Case {i}."},
                r.messages[1],
            ],
        )
        for i, r in enumerate(base)
    ]
    config = DecodingConfig(max_new_tokens=12, batch_size=5)
    assert_parity(tiny, requests, config)
    before = tiny.forward_passes
    tiny.generate(requests, config)
    passes = tiny.forward_passes - before
    assert passes <= 12  # one batch: a prefill and at most 11 steps, not 5 x 12 passes
