"""The decoding paths the inference benchmark times, all on the same loaded model.

Each path takes the backend (for its model and tokenizer), the requests and a progress
callback, and returns one raw output text per request. ``STOPS`` says when each path ends
a sequence, so the report can say which numbers are comparable:

* ``eos``: at EOS or ``max_new_tokens`` (what ``model.generate`` and continuous batching do
  on their own; the recipe's loop);
* ``json``: also as soon as the top-level JSON object closes (the routecheck backend; a
  :class:`JsonClosed` stopping criterion gives ``model.generate`` the same rule).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from transformers import GenerationConfig, StoppingCriteria, StoppingCriteriaList

from harness.backends._hf_speed import stock_attention, stock_kernels
from harness.backends.base import DecodingConfig, GenerationRequest
from harness.backends.hf import HFBackend, json_object_end

Progress = Callable[[int], None]
PathRunner = Callable[[HFBackend, Sequence[GenerationRequest], DecodingConfig, Progress], list[str]]


class JsonClosed(StoppingCriteria):
    """Stop a row of ``model.generate`` once its top-level JSON object has closed, the rule
    the routecheck backend applies (finished rows are padded until the batch ends)."""

    def __init__(self, tokenizer: Any, prompt_width: int) -> None:
        self.tokenizer = tokenizer
        self.prompt_width = prompt_width

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        new = input_ids[:, self.prompt_width :].tolist()
        closed = [
            json_object_end(self.tokenizer.decode(row, skip_special_tokens=True)) is not None
            for row in new
        ]
        return torch.tensor(closed, dtype=torch.bool, device=input_ids.device)


def _greedy(backend: HFBackend, config: DecodingConfig, **extra: Any) -> GenerationConfig:
    return GenerationConfig(  # type: ignore[no-untyped-call]
        **extra,
        do_sample=False,
        max_new_tokens=config.max_new_tokens,
        eos_token_id=backend.eos_ids,
        pad_token_id=backend.pad_id,
    )


def seed_loop(
    backend: HFBackend,
    requests: Sequence[GenerationRequest],
    config: DecodingConfig,
    progress: Progress,
) -> list[str]:
    """The recipe's inference: one prompt at a time, to EOS or ``max_new_tokens``, on the
    model as transformers runs it (none of the backend's kernel savings)."""
    tokenizer, model = backend.tokenizer, backend.model
    texts = []
    with stock_kernels(model):
        for request in requests:
            inputs = tokenizer.apply_chat_template(
                list(request.messages),
                add_generation_prompt=True,
                return_tensors="pt",
                return_dict=True,
            )
            out = model.generate(**inputs, max_new_tokens=config.max_new_tokens, do_sample=False)
            texts.append(
                tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
            )
            progress(1)
    return texts


def backend_path(
    backend: HFBackend,
    requests: Sequence[GenerationRequest],
    config: DecodingConfig,
    progress: Progress,
) -> list[str]:
    """The hand-written loop of the routecheck backend (stops at the JSON close)."""
    plain = dataclasses.replace(config, lookup=0)
    return [g.text for g in backend.generate(requests, plain, progress)]


def backend_lookup_path(
    backend: HFBackend,
    requests: Sequence[GenerationRequest],
    config: DecodingConfig,
    progress: Progress,
) -> list[str]:
    """The same loop with lookup decoding (``--lookup`` draft tokens a step, drafted from
    the prompts and the ``--lookup-corpus`` answers): what ``--rc-lookup`` saves."""
    drafted = config if config.lookup else dataclasses.replace(config, lookup=4)
    return [g.text for g in backend.generate(requests, drafted, progress)]


def backend_constrained_path(
    backend: HFBackend,
    requests: Sequence[GenerationRequest],
    config: DecodingConfig,
    progress: Progress,
) -> list[str]:
    """The same loop under constrained decoding with jump-forward (each request's grammar
    from its catalog): what ``--rc-decoding=constrained`` costs or saves."""
    constrained = dataclasses.replace(config, mode="constrained", lookup=0)
    return [g.text for g in backend.generate(requests, constrained, progress)]


def backend_constrained_lookup_path(
    backend: HFBackend,
    requests: Sequence[GenerationRequest],
    config: DecodingConfig,
    progress: Progress,
) -> list[str]:
    """Constrained decoding with jump-forward and lookup decoding together."""
    constrained = dataclasses.replace(config, mode="constrained", lookup=config.lookup or 4)
    return [g.text for g in backend.generate(requests, constrained, progress)]


def backend_no_prefix_path(
    backend: HFBackend,
    requests: Sequence[GenerationRequest],
    config: DecodingConfig,
    progress: Progress,
) -> list[str]:
    """The same loop with the system-prompt cache off (what that cache saves)."""
    plain = HFBackend(backend.checkpoint, backend.model, backend.tokenizer, backend.threads, False)
    undrafted = dataclasses.replace(config, lookup=0)
    return [g.text for g in plain.generate(requests, undrafted, progress)]


def backend_eos_path(
    backend: HFBackend,
    requests: Sequence[GenerationRequest],
    config: DecodingConfig,
    progress: Progress,
) -> list[str]:
    """The same loop without the JSON stop (to EOS or ``max_new_tokens``), so it compares
    with continuous batching on equal terms. The ``native`` format's rule is only used for
    its stop: the prompts stay the ``json`` ones (no tools are passed)."""
    eos_config = dataclasses.replace(config, format="native", lookup=0)
    return [g.text for g in backend.generate(requests, eos_config, progress)]


def _generate_path(cache_implementation: str | None) -> PathRunner:
    """``model.generate`` on left-padded batches, shortest prompts first, greedy, with the
    JSON-close stop; ``cache_implementation`` picks transformers' cache (``None``: dynamic)."""

    def run(
        backend: HFBackend,
        requests: Sequence[GenerationRequest],
        config: DecodingConfig,
        progress: Progress,
    ) -> list[str]:
        encoded = [backend.encode(r.messages, r.tools) for r in requests]
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        texts: list[str] = [""] * len(encoded)
        extra = {"cache_implementation": cache_implementation} if cache_implementation else {}
        for start in range(0, len(order), config.batch_size):
            chunk = order[start : start + config.batch_size]
            width = max(len(encoded[i]) for i in chunk)
            ids = [[backend.pad_id] * (width - len(encoded[i])) + encoded[i] for i in chunk]
            mask = [[0] * (width - len(encoded[i])) + [1] * len(encoded[i]) for i in chunk]
            input_ids = torch.tensor(ids, dtype=torch.long, device=backend.device)
            out = backend.model.generate(
                input_ids=input_ids,
                attention_mask=torch.tensor(mask, dtype=torch.long, device=backend.device),
                generation_config=_greedy(backend, config, **extra),
                stopping_criteria=StoppingCriteriaList([JsonClosed(backend.tokenizer, width)]),
            )
            for row, index in zip(out[:, width:].tolist(), chunk, strict=True):
                texts[index] = backend.tokenizer.decode(row, skip_special_tokens=True)
            progress(len(chunk))
        return texts

    return run


def continuous_batching_path(page_size: int = 32) -> PathRunner:
    """transformers' continuous batching (``generate_batch``): paged cache, prompts sharing
    full pages (the system prompt) share their key/values. It has no custom stopping rule,
    so rows run to EOS or ``max_new_tokens``. The cache is sized here for ``batch_size``
    concurrent requests: left to itself it sizes for a GPU and takes long to set up."""

    def run(
        backend: HFBackend,
        requests: Sequence[GenerationRequest],
        config: DecodingConfig,
        progress: Progress,
    ) -> list[str]:
        from transformers.generation.configuration_utils import ContinuousBatchingConfig

        encoded = [backend.encode(r.messages, r.tools) for r in requests]
        longest = max(len(ids) for ids in encoded) + config.max_new_tokens
        blocks = config.batch_size * math.ceil(longest / page_size) + 1
        cb_config = ContinuousBatchingConfig(
            page_size=page_size,
            num_blocks=blocks,
            max_batch_tokens=max(longest, 1024),
            max_requests_per_batch=config.batch_size,
        )
        with stock_attention(backend.model):  # continuous batching takes only its own
            results = backend.model.generate_batch(
                inputs=encoded,
                generation_config=_greedy(backend, config),
                continuous_batching_config=cb_config,
                warmup=False,
            )
        progress(len(requests))
        outputs = list(results.values())
        if len(outputs) != len(requests):
            raise RuntimeError(f"continuous batching returned {len(outputs)} of {len(requests)}")
        return [
            backend.tokenizer.decode(o.generated_tokens, skip_special_tokens=True) for o in outputs
        ]

    return run


PATHS: dict[str, tuple[PathRunner, str, str]] = {
    "seed": (seed_loop, "eos", "the recipe's loop: one model.generate call per case"),
    "backend": (backend_path, "json", "the routecheck backend (hand-written batched loop)"),
    "backend-constrained": (
        backend_constrained_path,
        "json",
        "the backend with constrained decoding and jump-forward",
    ),
    "backend-lookup": (
        backend_lookup_path,
        "json",
        "the backend with lookup decoding (n-gram drafts verified in one pass)",
    ),
    "backend-constrained-lookup": (
        backend_constrained_lookup_path,
        "json",
        "the backend with constrained, jump-forward and lookup decoding",
    ),
    "backend-noprefix": (backend_no_prefix_path, "json", "the backend without its prefix cache"),
    "backend-eos": (backend_eos_path, "eos", "the routecheck backend without its JSON stop"),
    "generate": (_generate_path(None), "json", "model.generate, left-padded batches"),
    "static": (_generate_path("static"), "json", "model.generate with a static cache"),
    "offloaded": (_generate_path("offloaded"), "json", "model.generate, offloaded cache"),
    "cb": (continuous_batching_path(), "eos", "transformers continuous batching"),
}
"""name: (runner, stop rule, description)."""
