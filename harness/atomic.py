"""File writes that lose nothing: atomic replacement, and appends under a file lock.

A reader sees the old file or the new one, never half of one; two appenders never drop
each other's rows.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from filelock import FileLock

LOCK_TIMEOUT_SECONDS = 120.0
"""How long an appender waits for another one before giving up with a clear error."""


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        # mkstemp creates 0600; give the file the mode a plain open() would (or keep the old).
        mode = target.stat().st_mode & 0o777 if target.exists() else 0o644
        os.chmod(tmp, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def file_lock(path: str | Path) -> FileLock:
    """The lock every writer of ``path`` takes: ``<path>.lock`` beside it.

    Hold it around a read-then-append (e.g. skip rows already in the file) so that a
    concurrent writer cannot slip in between the read and the write.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(f"{target}.lock", timeout=LOCK_TIMEOUT_SECONDS)


def append_text(path: str | Path, data: str) -> Path:
    """Append ``data`` in place (existing bytes untouched) and fsync; the caller holds the lock.

    A last line without its newline gets one first, so a new row never joins an old one.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "a+b") as handle:
        handle.seek(0, os.SEEK_END)
        prefix = b""
        if handle.tell() > 0:
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":
                prefix = b"\n"
            handle.seek(0, os.SEEK_END)
        handle.write(prefix + data.encode("utf-8"))
        handle.flush()
        os.fsync(handle.fileno())
    return target


def append_locked(path: str | Path, data: str) -> Path:
    """Append under :func:`file_lock`: concurrent appenders all keep their rows."""
    with file_lock(path):
        return append_text(path, data)
