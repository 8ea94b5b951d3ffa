"""An on-disk cache of raw outputs, so an unchanged checkpoint on unchanged cases makes no
model call. Keyed by the checkpoint's content fingerprint, the decoding settings and the
full prompt; a corrupt entry is discarded with a warning, never trusted.
"""

from __future__ import annotations

import hashlib
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


def default_cache_dir() -> Path:
    """``$ROUTECHECK_CACHE_DIR/outputs`` or ``~/.cache/routecheck/outputs``."""
    root = os.environ.get("ROUTECHECK_CACHE_DIR") or Path.home() / ".cache" / "routecheck"
    return Path(root) / "outputs"


def cache_key(
    fingerprint: str,
    config: DecodingConfig,
    messages: Sequence[dict[str, str]],
    tools: Sequence[dict[str, Any]] | None = None,
) -> str:
    settings = {k: v for k, v in config.as_dict().items() if k != "batch_size"}
    parts: list[Any] = [fingerprint, settings, list(messages)]
    if tools is not None:  # formats that send the catalog beside the messages
        parts.append(list(tools))
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


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
            return Generation(
                text=row["text"],
                truncated=bool(row.get("truncated", False)),
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
        write_atomic(self._path(key), json.dumps(row, ensure_ascii=False))


def generate_cached(
    backend: Backend,
    requests: Sequence[GenerationRequest],
    config: DecodingConfig,
    cache: OutputCache | None,
    progress: ProgressCallback | None = None,
) -> tuple[list[Generation], int]:
    """Generate through the cache: returns the outputs in order and how many were cached.

    Backends that are not ``cacheable`` (replays, remote servers) always generate.
    """
    fingerprint = backend.fingerprint()
    if cache is None or fingerprint == "unknown" or not backend.cacheable:
        return backend.generate(requests, config, progress), 0
    keys = [cache_key(fingerprint, config, r.messages, r.tools) for r in requests]
    found: list[Generation | None] = [cache.get(k) for k in keys]
    missing = [i for i, g in enumerate(found) if g is None]
    hits = len(requests) - len(missing)
    if progress is not None and hits:
        progress(hits)
    if missing:
        fresh = backend.generate([requests[i] for i in missing], config, progress)
        for i, gen in zip(missing, fresh, strict=True):
            found[i] = gen
            cache.put(keys[i], gen)
    return [g for g in found if g is not None], hits
