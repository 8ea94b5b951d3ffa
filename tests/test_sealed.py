"""The sealed split: fresh hand-written customer-support cases that no recipe choice is made
on. These checks keep it what it claims to be: big enough, in every category, not a copy of
the cases a router was tuned on, and labelled so that the gold answers pass."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from rapidfuzz import fuzz, process

from harness.backends.mock import MockBackend, gold_replay_rows
from harness.golden import Category, GoldenCase, load_golden
from harness.runner import run_suite

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "golden" / "customer_support"
ORDER_ID = re.compile(r"ORD[- ]?(\d+)", re.I)


def _cases() -> tuple[list[GoldenCase], list[GoldenCase]]:
    (golden,) = load_golden(FOLDER)
    sealed = [c for c in golden.cases if c.split == "sealed"]
    return sealed, [c for c in golden.cases if c.split != "sealed"]


def test_sealed_split_is_its_own_file_with_every_category() -> None:
    sealed, _ = _cases()
    assert len(sealed) >= 60
    assert {c.source.rsplit(":", 1)[0] for c in sealed} == {str(FOLDER / "sealed.jsonl")}
    counts = Counter(c.category for c in sealed)
    assert set(counts) == set(Category)
    # Roughly the bundled proportions: positives under half, each no-tool kind a sixth or more.
    assert 0.35 <= counts[Category.POSITIVE] / len(sealed) <= 0.5
    for category in Category:
        assert counts[category] >= len(sealed) / 6, category
    tools = Counter(c.target.tool for c in sealed if c.category is Category.POSITIVE)
    assert len(tools) == 3 and min(tools.values()) >= 8


def test_sealed_cases_are_new() -> None:
    sealed, others = _cases()
    texts = [c.text for c in others]
    for case in sealed:
        match = process.extractOne(case.text, texts, scorer=fuzz.ratio)
        assert match is not None and match[1] < 80, (case.id, match)
    used = {m for c in others for m in ORDER_ID.findall(c.text)}
    for path in [*(ROOT / "data").glob("*.jsonl"), *(ROOT / "trainers" / "templates").glob("*")]:
        used |= set(ORDER_ID.findall(path.read_text(encoding="utf-8")))
    for case in sealed:
        # A partial id ("ORD-7...") is a case about a partial id, not a reused order.
        fresh = [n for n in ORDER_ID.findall(case.text) if len(n) >= 4]
        assert not set(fresh) & used, (case.id, fresh)


def test_gold_answers_pass_every_sealed_case(tmp_path: Path) -> None:
    golden = load_golden(FOLDER / "sealed.jsonl")
    replay = tmp_path / "gold.jsonl"
    rows = gold_replay_rows(golden)
    replay.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    results = run_suite(golden, MockBackend(str(replay)))
    assert results.metrics["sealed"].overall.n == len(golden[0].cases)
    assert results.metrics["sealed"].overall.pass_rate.value == 1.0
    assert results.metrics["holdout"].overall.n == 0
