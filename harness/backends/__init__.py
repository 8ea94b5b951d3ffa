"""Backends: model runtimes behind one small interface, resolved from ``--checkpoint``.

``mock:FILE`` replays canned outputs; ``openai:URL#MODEL`` talks to any OpenAI-compatible
server; anything else (``base``, a model folder, a LoRA adapter folder, a ``.gguf`` file,
a Hub id) goes to the transformers backend, which checks its optional dependencies only
when it is chosen. Each backend registers itself in its own module (see
:mod:`harness.backends.registry`).
"""

from __future__ import annotations

from harness.backends.base import (
    Backend,
    DecodingConfig,
    Generation,
    GenerationRequest,
    ProgressCallback,
)
from harness.backends.registry import (
    BackendEntry,
    backend_entries,
    check_format,
    find_backend,
    prevalidate,
    register_backend,
    resolve_backend,
)

__all__ = [
    "Backend",
    "BackendEntry",
    "DecodingConfig",
    "Generation",
    "GenerationRequest",
    "ProgressCallback",
    "backend_entries",
    "check_format",
    "find_backend",
    "prevalidate",
    "register_backend",
    "resolve_backend",
]
