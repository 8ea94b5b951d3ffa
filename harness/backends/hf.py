"""The transformers backend's registration: local checkpoints, ``base`` and Hub ids.

The default backend: any ``--checkpoint`` no other backend claims (``hf:`` may be written
in front to make it explicit) is resolved by :func:`harness.checkpoints.resolve_checkpoint`
and loaded by :mod:`harness.backends._hf_runtime`, which imports torch and transformers
only when this backend is chosen. Its public names are importable from here.
"""

from __future__ import annotations

from typing import Any

from harness.backends.base import DTYPES, Backend
from harness.backends.registry import BackendEntry, register_backend
from harness.checkpoints import resolve_checkpoint
from harness.errors import CheckpointError

_OPTIONS = (
    "base_model",
    "threads",
    "device",
    "prefix_cache",
    "output_format",
    "chat_template",
    "dtype",
    "linear",
)


def _prevalidate(spec: str, **options: Any) -> None:
    resolve_checkpoint(spec, options.get("base_model"))
    if options.get("output_format") == "native" or options.get("chat_template"):
        from harness.backends._hf_runtime import check_tokenizer

        check_tokenizer(
            spec,
            base_model=options.get("base_model"),
            output_format=str(options.get("output_format") or "json"),
            chat_template=options.get("chat_template"),
        )


def _load(spec: str, **options: Any) -> Backend:
    try:
        from harness.backends._hf_runtime import load_hf_backend
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise CheckpointError(
            f"--checkpoint {spec}: evaluating a real model needs the model extras "
            f"(pip install 'routecheck[model]'): {exc}"
        ) from None
    return load_hf_backend(spec, **{k: v for k, v in options.items() if k in _OPTIONS})


ENTRY = register_backend(
    BackendEntry(
        name="transformers",
        prefix=None,
        load=_load,
        prevalidate=_prevalidate,
        formats=("json", "native"),
        takes_chat_template=True,
        decodings=("free", "constrained"),
        dtypes=DTYPES,
    )
)


def __getattr__(name: str) -> Any:
    """The runtime's names (``HFBackend``, ``load_hf_backend``...), imported on first use."""
    if name.startswith("__"):
        raise AttributeError(name)
    from harness.backends import _hf_runtime

    return getattr(_hf_runtime, name)
