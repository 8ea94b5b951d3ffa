"""An on-disk cache of raw outputs, so an unchanged checkpoint on unchanged cases makes no
model call. Keyed by the checkpoint's content fingerprint, the decoding settings and the
full prompt; a corrupt entry is discarded with a warning, never trusted.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.atomic import write_atomic
from harness.backends.base import (
    Backend,
    DecodingConfig,
    Generation,
    GenerationRequest,
    ProgressCallback,
)
from harness.errors import OutputDirError, RunIncompleteError
from harness.hashing import sha256_hex

SAVE_EVERY_BATCHES = 4
"""Outputs are handed to the cache every this many batches, so a killed run loses at most
that much work (and the backend still sees batches big enough to keep it busy)."""


class GenerationStopped(RunIncompleteError):
    """The backend failed part-way; ``outputs`` holds what finished (``None`` for the rest)."""

    def __init__(self, message: str, outputs: list[Generation | None]) -> None:
        super().__init__(message)
        self.outputs = outputs


def check_writable(folder: str | Path, what: str, option: str) -> None:
    """Create ``folder`` if needed and prove a file can be written there, before any work."""
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".routecheck-write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputDirError(
            f"{what} {path} cannot be written ({exc.strerror or exc}); fix its permissions or "
            f"choose another folder with {option}. Nothing was generated."
        ) from None


def default_cache_dir() -> Path:
    """``$ROUTECHECK_CACHE_DIR/outputs`` or ``~/.cache/routecheck/outputs``."""
    root = os.environ.get("ROUTECHECK_CACHE_DIR") or Path.home() / ".cache" / "routecheck"
    return Path(root) / "outputs"


def cache_key(
    fingerprint: str,
    config: DecodingConfig,
    messages: Sequence[dict[str, str]],
    tools: Sequence[dict[str, Any]] | None = None,
    output_schema: dict[str, Any] | None = None,
) -> str:
    # batch size and lookup drafts change how fast outputs come, not what they are
    fast = ("batch_size", "lookup", "lookup_tree", "lookup_tree_first")
    settings = {k: v for k, v in config.as_dict().items() if k not in fast}
    if settings.get("mode") == "free":  # keys from before constrained decoding stay valid
        del settings["mode"]
    parts: list[Any] = [fingerprint, settings, list(messages)]
    if tools is not None:  # formats that send the catalog beside the messages
        parts.append(list(tools))
    if output_schema is not None:  # constrained decoding: the grammar decides the output too
        parts.append({"output_schema": output_schema})
    return sha256_hex(json.dumps(parts, sort_keys=True, ensure_ascii=False))


class OutputCache:
    """One JSON file per output under a two-level folder tree."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> Generation | None:
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            row = json.loads(path.read_text(encoding="utf-8"))
            if row.get("key") != key or not isinstance(row.get("text"), str):
                raise ValueError("key or text missing")
            if not isinstance(row.get("truncated", False), bool):
                raise ValueError("truncated is not a boolean")
            return Generation(
                text=row["text"],
                truncated=row.get("truncated", False),
                new_tokens=row.get("new_tokens"),
            )
        except (ValueError, OSError, UnicodeDecodeError, AttributeError) as exc:
            warnings.warn(f"discarding corrupt output-cache entry {path}: {exc}", stacklevel=2)
            path.unlink(missing_ok=True)
            return None

    def put(self, key: str, generation: Generation) -> None:
        row = {
            "key": key,
            "text": generation.text,
            "truncated": generation.truncated,
            "new_tokens": generation.new_tokens,
        }
        # ASCII escapes keep any text (a lone surrogate too) exactly, and always encode.
        write_atomic(self._path(key), json.dumps(row))


def generate_cached(
    backend: Backend,
    requests: Sequence[GenerationRequest],
    config: DecodingConfig,
    cache: OutputCache | None,
    progress: ProgressCallback | None = None,
) -> tuple[list[Generation], int]:
    """Generate through the cache: returns the outputs in order and how many were cached.

    Requests go to the backend :data:`SAVE_EVERY_BATCHES` batches at a time and each part is
    cached as soon as it returns, so a killed or failed run resumes where it stopped.
    Backends that are not ``cacheable`` (replays, remote servers) always generate. A backend
    failure raises :class:`GenerationStopped` carrying the outputs that did finish.
    """
    fingerprint = backend.fingerprint()
    use_cache = cache is not None and fingerprint != "unknown" and backend.cacheable
    keys = (
        [cache_key(fingerprint, config, r.messages, r.tools, r.output_schema) for r in requests]
        if use_cache
        else []
    )
    found: list[Generation | None] = (
        [cache.get(k) for k in keys] if use_cache and cache is not None else [None] * len(requests)
    )
    missing = [i for i, g in enumerate(found) if g is None]
    hits = len(requests) - len(missing)
    if progress is not None and hits:
        progress(hits)
    step = config.batch_size * SAVE_EVERY_BATCHES
    for lo in range(0, len(missing), step):
        part = missing[lo : lo + step]
        try:
            fresh = backend.generate([requests[i] for i in part], config, progress)
            if len(fresh) != len(part):
                raise RuntimeError(f"it returned {len(fresh)} outputs for {len(part)} requests")
        except Exception as exc:
            done = sum(g is not None for g in found)
            raise GenerationStopped(
                f"the backend {backend.spec!r} failed after {done} of {len(requests)} cases "
                f"({type(exc).__name__}: {exc})",
                found,
            ) from exc
        for i, gen in zip(part, fresh, strict=True):
            found[i] = gen
            if use_cache and cache is not None:
                cache.put(keys[i], gen)
    return [g for g in found if g is not None], hits
