"""trainers.feedback: dev failures become rows; holdout never does; the file only grows."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from harness.backends.mock import MockBackend
from harness.golden import load_golden
from harness.results import read_results, write_results
from harness.runner import run_suite
from trainers import feedback

ROOT = Path(__file__).resolve().parents[1]
CATALOG = ROOT / "golden" / "customer_support" / "catalog.py"

CASES = [
    # id, category, prompt, target, split, model output
    (
        "t1",
        "positive",
        "Where is ORD-4410 right now?",
        {"tool": "track_order", "arguments": {"order_id": "ORD-4410"}},
        "dev",
        '{"tool":"escalate","arguments":{"reason":"where"}}',
    ),
    (
        "r1",
        "positive",
        "refund ord-7715 please, the blender doesn't work",
        {
            "tool": "request_refund",
            "arguments": {"order_id": "ORD-7715", "reason": "blender doesn't work"},
        },
        "dev",
        '{"tool":"no_tool","reason":"?"}',
    ),
    (
        "u1",
        "underspecified",
        "Refund ORD-2020 now.",
        {"tool": "no_tool"},
        "dev",
        '{"tool":"request_refund","arguments":{"order_id":"ORD-2020","reason":"none given"}}',
    ),
    (
        "c1",
        "chitchat",
        "ORD-1111 arrived, lovely",
        {"tool": "no_tool"},
        "dev",
        '{"tool":"track_order","arguments":{"order_id":"ORD-1111"}}',
    ),
    (
        "ok",
        "positive",
        "track ORD-5555",
        {"tool": "track_order", "arguments": {"order_id": "ORD-5555"}},
        "dev",
        '{"tool":"track_order","arguments":{"order_id":"ORD-5555"}}',
    ),
    (
        "h1",
        "positive",
        "status of ORD-9090 please",
        {"tool": "track_order", "arguments": {"order_id": "ORD-9090"}},
        "holdout",
        "not json",
    ),
    (
        "h2",
        "info_request",
        "what does escalate do?",
        {"tool": "no_tool"},
        "holdout",
        '{"tool":"escalate","arguments":{"reason":"x"}}',
    ),
]


@pytest.fixture()
def results_file(tmp_path: Path) -> Path:
    golden = tmp_path / "golden" / "customer_support"
    golden.mkdir(parents=True)
    shutil.copy(CATALOG, golden / "catalog.py")
    lines, replay = [], []
    for cid, category, prompt, target, split, output in CASES:
        lines.append(
            json.dumps(
                {
                    "id": cid,
                    "category": category,
                    "prompt": prompt,
                    "target": target,
                    "split": split,
                }
            )
        )
        replay.append(json.dumps({"id": cid, "output": output}))
    (golden / "cases.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "replay.jsonl").write_text("\n".join(replay) + "\n", encoding="utf-8")
    results = run_suite(load_golden(golden), MockBackend(tmp_path / "replay.jsonl"))
    return write_results(results, tmp_path / "results.json")


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _user(row: dict) -> str:
    return row["messages"][-2]["content"]


def _answer(row: dict) -> dict:
    return json.loads(row["messages"][-1]["content"])


def test_holdout_is_never_emitted_and_the_count_is_reported(results_file, tmp_path, capsys):
    out = tmp_path / "feedback.jsonl"
    assert feedback.main([str(results_file), "--out", str(out), "--variants", "3"]) == 0
    printed = capsys.readouterr().out
    assert "2 failing holdout case(s) left out" in printed
    assert "4 failing dev case(s)" in printed
    text = out.read_text(encoding="utf-8").lower()
    assert "9090" not in text and "what does escalate do" not in text
    users = [_user(r) for r in _rows(out)]
    assert "track ORD-5555" not in users  # passing cases are not emitted
    for row in _rows(out):
        assert row["messages"][0]["role"] == "system"
        assert row["messages"][0]["content"].startswith("You route customer-support requests")
    assert len(_rows(out)) == 4 * (1 + 3)


def test_gold_answers_and_no_tool_reasons(results_file, tmp_path):
    out = tmp_path / "feedback.jsonl"
    assert feedback.main([str(results_file), "--out", str(out), "--variants", "0"]) == 0
    answers = {_user(r): _answer(r) for r in _rows(out)}
    assert answers["Where is ORD-4410 right now?"] == {
        "tool": "track_order",
        "arguments": {"order_id": "ORD-4410"},
    }
    assert answers["refund ord-7715 please, the blender doesn't work"]["arguments"] == {
        "order_id": "ORD-7715",
        "reason": "blender doesn't work",
    }
    assert answers["Refund ORD-2020 now."] == {
        "tool": "no_tool",
        "reason": "need reason before request_refund",
    }
    assert answers["ORD-1111 arrived, lovely"] == {
        "tool": "no_tool",
        "reason": "small talk, no action needed",
    }
    assert all(", " not in r["messages"][-1]["content"][:12] for r in _rows(out))  # compact


def test_variants_change_ids_consistently_in_prompt_and_target(results_file, tmp_path):
    out = tmp_path / "feedback.jsonl"
    assert feedback.main([str(results_file), "--out", str(out), "--variants", "4"]) == 0
    rows = _rows(out)
    changed = 0
    for row in rows:
        answer = _answer(row)
        ids = re.findall(r"ord[- ]?(\d{4})", _user(row), flags=re.I)
        if "order_id" in answer.get("arguments", {}):
            assert ids, row
            assert answer["arguments"]["order_id"] == f"ORD-{ids[0]}"
            changed += ids[0] not in ("4410", "7715")
        if answer.get("arguments", {}).get("reason") == "blender doesn't work":
            assert "blender doesn't work" in _user(row).lower()
    assert changed >= 4
    users = [_user(r) for r in rows]
    assert len(users) == len(set(users))


def test_rows_are_deduplicated_against_the_existing_file(results_file, tmp_path, capsys):
    out = tmp_path / "feedback.jsonl"
    argv = [str(results_file), "--out", str(out), "--seed", "5"]
    assert feedback.main(argv) == 0
    first = out.read_bytes()
    capsys.readouterr()
    assert feedback.main(argv) == 0  # same seed: the very same rows again
    assert out.read_bytes() == first
    assert "0 new row(s)" in capsys.readouterr().out
    keys = [json.dumps(r["messages"]) for r in _rows(out)]
    assert len(keys) == len(set(keys))


def test_append_keeps_existing_lines_byte_identical(results_file, tmp_path):
    out = tmp_path / "feedback.jsonl"
    existing = (
        b'{"messages": [{"role": "user", "content": "keep me \\u00e9"}]}\n'
        b"not even json, but it is not ours to drop\n"
        b'{"messages":[],"extra":  1}'  # no final newline
    )
    out.write_bytes(existing)
    assert feedback.main([str(results_file), "--out", str(out), "--variants", "1"]) == 0
    data = out.read_bytes()
    assert data.startswith(existing + b"\n")
    assert len(data.splitlines()) == 3 + 4 * 2
    before = read_results(results_file)
    assert len(before.cases) == len(CASES)  # the results file is only read


def test_a_missing_results_file_is_a_clear_error(tmp_path, capsys):
    assert feedback.main([str(tmp_path / "nope.json")]) == 2
    assert "results file not found" in capsys.readouterr().err


def _feedback_in_process(results: str, out: str, seed: int, log: str) -> None:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = feedback.main([results, "--out", out, "--seed", str(seed), "--variants", "3"])
    Path(log).write_text(f"{code}\n{buf.getvalue()}", encoding="utf-8")


def test_parallel_runs_keep_every_row(results_file, tmp_path):
    """Three runs at once append what three runs one after the other would, and every row
    a run reports as appended is in the file."""
    import multiprocessing

    sequential = tmp_path / "sequential.jsonl"
    for seed in (1, 2, 3):
        assert (
            feedback.main([str(results_file), "--out", str(sequential), "--seed", str(seed)]) == 0
        )
    out = tmp_path / "parallel.jsonl"
    ctx = multiprocessing.get_context("spawn")
    logs = [tmp_path / f"log{seed}.txt" for seed in (1, 2, 3)]
    procs = [
        ctx.Process(target=_feedback_in_process, args=(str(results_file), str(out), seed, str(log)))
        for seed, log in zip((1, 2, 3), logs, strict=True)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    reported = 0
    for log in logs:
        code, text = log.read_text(encoding="utf-8").split("\n", 1)
        assert code == "0"
        match = re.search(r"-> (\d+) new row", text)
        assert match is not None
        reported += int(match.group(1))
    rows = _rows(out)
    assert len(rows) == reported
    assert sorted(map(json.dumps, rows)) == sorted(map(json.dumps, _rows(sequential)))


def test_out_pointing_at_a_folder_is_one_paragraph(results_file, tmp_path, capsys):
    assert feedback.main([str(results_file), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is a folder" in err and "Traceback" not in err and err.count("\n") == 1


def test_rows_with_a_line_separator_train(results_file, tmp_path):
    """Rows holding U+2028 or U+0085 (written raw) are read back by the trainer's reader."""
    from trainers.sft import read_rows

    out = tmp_path / "feedback.jsonl"
    row = {
        "messages": [
            {"role": "system", "content": "s"},
            {"role": "user", "content": "line\u2028two\u0085three"},
            {"role": "assistant", "content": '{"tool":"no_tool","reason":"x"}'},
        ]
    }
    out.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    assert feedback.main([str(results_file), "--out", str(out), "--variants", "0"]) == 0
    rows = read_rows([str(out)])
    assert rows[0]["prompt"][1]["content"] == "line\u2028two\u0085three"
    assert len(rows) == 1 + 4
