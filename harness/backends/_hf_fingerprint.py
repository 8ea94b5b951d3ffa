"""Checkpoint fingerprints: a file's sha256, remembered across runs so a large
checkpoint is hashed once per change, not once per run."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from harness.atomic import write_atomic
from harness.basemodel import cache_root
from harness.hashing import sha256_file


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
        digest = sha256_file(path).removeprefix("sha256:")
        # Forget entries for files that changed or vanished, then save atomically.
        known = {
            k: v
            for k, v in known.items()
            if isinstance(v, str) and not k.startswith(f"{path.resolve()}|")
        }
        known[key] = digest
        with contextlib.suppress(OSError):  # a read-only cache only costs a re-hash next run
            write_atomic(store, json.dumps(known, indent=1, sort_keys=True))
    _MEMO[key] = digest
    return digest
