"""The backend registry: which backend a ``--checkpoint`` value goes to, and what it supports.

Each backend module registers itself (``register_backend``) with the spec prefix it claims,
a cheap ``prevalidate`` that refuses a bad spec before any model is loaded, a ``load`` that
imports its heavy dependencies only when chosen, and the output formats it can produce.
Every public module of ``harness.backends`` is imported on first lookup, so adding a
backend is one file; a backend module must therefore be cheap to import.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import CheckpointError, RoutecheckError

if TYPE_CHECKING:
    from harness.backends.base import Backend

_NOT_BACKENDS = frozenset({"base", "registry"})


@dataclass(frozen=True)
class BackendEntry:
    """One backend: how a spec is recognized, checked early, loaded, and what it emits."""

    name: str
    load: Callable[..., Backend]
    """``load(spec, **options)``; options a backend does not use are ignored."""
    prefix: str | None = None
    """The spec prefix it claims (``mock:``); ``None`` for the default (paths, ``base``)."""
    prevalidate: Callable[..., Backend | None] | None = None
    """``prevalidate(spec, **options)``: refuse a spec that names nothing (or a tokenizer
    that cannot serve the format) before any model is loaded; may return the backend when
    building it is cheap."""
    formats: tuple[str, ...] = ("json",)
    """Output formats (``harness.formats``) this backend can produce."""
    takes_chat_template: bool = False
    """Whether ``--rc-chat-template`` means anything to it (the template is applied here)."""
    decodings: tuple[str, ...] = ("free",)
    """``--rc-decoding`` modes it can do (``constrained`` needs the model's logits)."""
    dtypes: tuple[str, ...] = ("float32",)
    """``--rc-dtype`` values it honours; ``float32`` alone means the weights are not its to
    choose (a server's, or none at all)."""


_REGISTRY: dict[str, BackendEntry] = {}
_discovered = False


def register_backend(entry: BackendEntry) -> BackendEntry:
    """Add (or replace, by name) a backend; called at import time by each backend module."""
    _REGISTRY[entry.name] = entry
    return entry


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    _discovered = True
    # The package's own folder, read without importing the package (no import cycle).
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if not module.name.startswith("_") and module.name not in _NOT_BACKENDS:
            importlib.import_module(f"harness.backends.{module.name}")


def backend_entries() -> list[BackendEntry]:
    """Every registered backend, default last."""
    _discover()
    return sorted(_REGISTRY.values(), key=lambda e: (e.prefix is None, e.name))


def find_backend(spec: str) -> BackendEntry:
    """The backend a spec belongs to: the one whose prefix it starts with, else the default."""
    if not spec or not spec.strip():
        raise CheckpointError(
            "--checkpoint is empty: give base, a model or adapter folder, a .gguf file, "
            "a Hub id, openai:URL#MODEL or mock:FILE.jsonl"
        )
    entries = backend_entries()
    for entry in entries:
        if entry.prefix is not None and spec.startswith(entry.prefix):
            return entry
    for entry in entries:
        if entry.prefix is None:
            return entry
    raise CheckpointError(f"--checkpoint {spec}: no backend is registered for it")


def prevalidate(spec: str, **options: Any) -> Backend | None:
    """Check a spec without loading a model; returns the backend when building it was cheap."""
    entry = find_backend(spec)
    return entry.prevalidate(spec, **options) if entry.prevalidate is not None else None


def check_format(spec: str, output_format: str, chat_template: str | None = None) -> None:
    """Refuse a format the spec's backend cannot produce, naming the ones it can, and a
    chat template for a backend that applies none (a server applies its own)."""
    entry = find_backend(spec)
    if chat_template and not entry.takes_chat_template:
        takers = [e.name for e in backend_entries() if e.takes_chat_template]
        raise RoutecheckError(
            f"--rc-chat-template {chat_template}: the {entry.name} backend (--checkpoint "
            f"{spec}) applies no chat template here, so it would change nothing; give the "
            f"template to the server that runs the model, or use the {', '.join(takers)} "
            "backend"
        )
    if output_format not in entry.formats:
        others = [e.name + " (" + ", ".join(e.formats) + ")" for e in backend_entries()]
        raise RoutecheckError(
            f"--rc-format {output_format}: the {entry.name} backend (--checkpoint {spec}) "
            f"supports {', '.join(entry.formats)}; backends and their formats: "
            f"{'; '.join(others)}"
        )


def check_dtype(spec: str, dtype: str) -> None:
    """Refuse ``--rc-dtype`` for a backend that cannot change its weights, naming those that can."""
    entry = find_backend(spec)
    if dtype not in entry.dtypes:
        takers = [e.name for e in backend_entries() if dtype in e.dtypes]
        raise RoutecheckError(
            f"--rc-dtype {dtype}: the {entry.name} backend (--checkpoint {spec}) does not load "
            f"weights it could cast, so it would change nothing; "
            f"{', '.join(takers) or 'no backend'} can run {dtype} weights"
        )


def resolve_backend(spec: str, **options: Any) -> Backend:
    """Build the backend a ``--checkpoint`` value names."""
    return find_backend(spec).load(spec, **options)
