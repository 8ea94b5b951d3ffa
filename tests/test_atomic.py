"""Atomic writes: the old file or the new one, never half of one, and no temp files left."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest

import harness.atomic as atomic
from harness.atomic import append_locked, write_atomic


def test_write_text_and_bytes(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    assert write_atomic(target, "héllo") == target
    assert target.read_text(encoding="utf-8") == "héllo"
    write_atomic(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_write_creates_parent_folders(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "c.txt"
    write_atomic(str(target), "x")
    assert target.read_text() == "x"


def test_failed_replace_keeps_old_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "results.json"
    target.write_text("old")

    def broken_replace(src: Any, dst: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(atomic.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_failed_write_keeps_old_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "results.json"
    target.write_text("old")

    def broken_fsync(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.os, "fsync", broken_fsync)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_temp_file_is_in_the_target_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, str]] = []
    real_replace = os.replace

    def spy(src: Any, dst: Any) -> None:
        seen.append((str(src), str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", spy)
    write_atomic(tmp_path / "f.txt", "x")
    ((src, dst),) = seen
    assert Path(src).parent == tmp_path and Path(src).name.startswith(".f.txt.")
    assert dst == str(tmp_path / "f.txt")


def test_append(tmp_path: Path) -> None:
    target = tmp_path / "log.jsonl"
    append_locked(target, "a\n")
    append_locked(target, "b\n")
    assert target.read_text() == "a\nb\n"


def test_append_adds_a_missing_newline(tmp_path: Path) -> None:
    target = tmp_path / "log.jsonl"
    target.write_text("a")
    append_locked(target, "b\n")
    assert target.read_text() == "a\nb\n"
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    append_locked(empty, "x\n")
    assert empty.read_text() == "x\n"


def test_append_never_rewrites_the_file(tmp_path: Path) -> None:
    """Appending keeps the same file (inode) and its bytes: nothing is renamed over it."""
    target = tmp_path / "log.jsonl"
    target.write_text("old\n")
    before = target.stat().st_ino
    append_locked(target, "new\n")
    assert target.stat().st_ino == before
    assert target.read_bytes() == b"old\nnew\n"


def _append_rows(path: str, writer: int, count: int) -> None:
    for i in range(count):
        append_locked(path, json.dumps({"writer": writer, "row": i}) + "\n")


def test_parallel_appenders_keep_every_row(tmp_path: Path) -> None:
    """Four processes append 50 rows each to one file: all 200 rows arrive, none torn."""
    target = tmp_path / "rows.jsonl"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append_rows, args=(str(target), w, 50)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    rows = [json.loads(line) for line in target.read_text().split("\n") if line]
    assert len(rows) == 200
    assert {(r["writer"], r["row"]) for r in rows} == {(w, i) for w in range(4) for i in range(50)}
