"""Checkpoint fingerprints: a file's sha256, remembered across runs so a large
checkpoint is hashed once per change, not once per run."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from harness.basemodel import cache_root


def _fingerprint_store() -> Path:
    return cache_root() / "fingerprints.json"


_MEMO: dict[str, str] = {}


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, remembered per path, mtime and size across runs."""
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_mtime_ns}|{stat.st_size}"
    if key in _MEMO:
        return _MEMO[key]
    store = _fingerprint_store()
    try:
        known = json.loads(store.read_text(encoding="utf-8"))
        if not isinstance(known, dict):
            known = {}
    except (OSError, ValueError):
        known = {}
    digest = known.get(key)
    if not isinstance(digest, str):
        h = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        digest = h.hexdigest()
        # Forget entries for files that changed or vanished, then save atomically.
        known = {
            k: v
            for k, v in known.items()
            if isinstance(v, str) and not k.startswith(f"{path.resolve()}|")
        }
        known[key] = digest
        try:
            store.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".fingerprints.", dir=store.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(known, fh, indent=1, sort_keys=True)
            os.replace(tmp, store)
        except OSError:
            pass  # a read-only cache only costs a re-hash next run
    _MEMO[key] = digest
    return digest
