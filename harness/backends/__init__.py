"""Backends: model runtimes behind one small interface, resolved from ``--checkpoint``.

``mock:FILE`` replays canned outputs; ``openai:URL#MODEL`` talks to any OpenAI-compatible
server; anything else (``base``, a model folder, a LoRA adapter folder, a ``.gguf`` file,
a Hub id) goes to the transformers backend, which checks its optional dependencies only
when it is chosen.
"""

from __future__ import annotations

from typing import Any

from harness.backends.base import (
    Backend,
    DecodingConfig,
    Generation,
    GenerationRequest,
    ProgressCallback,
)
from harness.errors import CheckpointError

__all__ = [
    "Backend",
    "DecodingConfig",
    "Generation",
    "GenerationRequest",
    "ProgressCallback",
    "resolve_backend",
]


def resolve_backend(spec: str, **options: Any) -> Backend:
    """Build the backend a ``--checkpoint`` value names.

    Options are passed to the backend (for the transformers backend: ``base_model`` to
    override an adapter's base, ``device``, ``threads``).
    """
    if not spec or not spec.strip():
        raise CheckpointError("--checkpoint is empty: give base, a path, or mock:FILE")
    if spec.startswith("mock:"):
        from harness.backends.mock import MockBackend

        return MockBackend(spec[len("mock:") :])
    if spec.startswith("openai:"):
        from harness.backends.openai import OpenAIBackend

        return OpenAIBackend(spec)
    try:
        from harness.backends.hf import load_hf_backend
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise CheckpointError(
            f"--checkpoint {spec}: evaluating a real model needs the model extras "
            f"(pip install 'routecheck[model]'): {exc}"
        ) from None
    return load_hf_backend(spec.removeprefix("hf:"), **options)
