"""Content hashes: the one place files and texts are fingerprinted."""

from __future__ import annotations

import hashlib
from pathlib import Path

_CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    """``sha256:<hex>`` of a file's bytes, read in chunks so large weights fit in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def sha256_hex(data: str | bytes) -> str:
    """The bare hex sha256 of ``data``: text as UTF-8 (a lone surrogate hashes, not raises)."""
    payload = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    return hashlib.sha256(payload).hexdigest()


def short_fingerprint(data: str | bytes) -> str:
    """``sha256:<16 hex>``: the short fingerprint results files record."""
    return "sha256:" + sha256_hex(data)[:16]


def csp_hash(text: str) -> str:
    """The Content-Security-Policy source for an inline script or style: ``sha256-<b64>``."""
    import base64

    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()
