"""trainers.datagen: the no-tool share, the printed mix, the golden guard, determinism."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.catalog import NO_TOOL, load_catalog
from harness.match import normalize_text
from harness.parse import parse_tool_call
from trainers import datagen

ROOT = Path(__file__).resolve().parents[1]
CS = ROOT / "golden" / "customer_support"
TRAVEL = ROOT / "golden" / "travel_booking"


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _answers(path: Path) -> list[dict]:
    return [json.loads(r["messages"][2]["content"]) for r in _rows(path)]


def _small_world(tmp_path: Path, golden_prompts: list[str]) -> tuple[Path, Path]:
    """A golden folder with the real customer-support catalog and the given prompts, and a
    tiny template file for it."""
    golden = tmp_path / "golden" / "customer_support"
    golden.mkdir(parents=True)
    shutil.copy(CS / "catalog.py", golden / "catalog.py")
    lines = [
        json.dumps(
            {
                "id": f"chat-{i:03d}",
                "category": "chitchat",
                "prompt": p,
                "target": {"tool": "no_tool"},
                "split": "holdout" if i % 2 else "dev",
            }
        )
        for i, p in enumerate(golden_prompts, start=1)
    ]
    (golden / "chitchat.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    templates = {
        "catalog": "customer_support",
        "ids": {
            "id": {
                "canonical": "ORD-{n}",
                "digits": [4, 4],
                "spellings": [{"format": "ORD-{n}"}, {"format": "ord{n}"}],
            }
        },
        "noise": {},
        "slots": {"why": ["the lid is cracked", "it's the wrong colour"]},
        "kinds": [
            {
                "name": "track",
                "category": "positive",
                "tool": "track_order",
                "arguments": {"order_id": "{id}"},
                "templates": ["where is {id}", "status of {id}"],
            },
            {
                "name": "refund",
                "category": "positive",
                "tool": "request_refund",
                "arguments": {"order_id": "{id}", "reason": "{why}"},
                "templates": ["refund {id}, {why}"],
            },
            {
                "name": "hello",
                "category": "chitchat",
                "reason": "greeting, no action needed",
                "templates": ["Hello there, friend", "good day to you"],
            },
        ],
    }
    path = tmp_path / "customer_support.json"
    path.write_text(json.dumps(templates), encoding="utf-8")
    return golden, path


def test_share_is_exact_and_mix_is_printed(tmp_path, capsys):
    out = tmp_path / "rows.jsonl"
    argv = ["--catalog", str(CS), "--out", str(out), "--rows", "200", "--seed", "3"]
    assert datagen.main(argv) == 0
    printed = capsys.readouterr()
    answers = _answers(out)
    assert len(answers) == 200
    assert sum(a["tool"] == NO_TOOL for a in answers) == 30  # 15% of 200, the default
    for word in ("by category:", "positive", "underspecified", "info_request", "chitchat"):
        assert word in printed.out
    assert "no_tool share: 15.0%" in printed.out
    assert "warning" not in printed.err


def test_share_outside_recommended_range_warns_and_is_honoured(tmp_path, capsys):
    out = tmp_path / "rows.jsonl"
    argv = ["--catalog", str(CS), "--out", str(out), "--rows", "100", "--no-tool-share", "0.4"]
    assert datagen.main(argv) == 0
    assert "warning: --no-tool-share 0.40 is outside the recommended 10%-20%" in (
        capsys.readouterr().err
    )
    assert sum(a["tool"] == NO_TOOL for a in _answers(out)) == 40


@pytest.mark.parametrize("share", ["-0.1", "1.5"])
def test_share_outside_unit_interval_is_refused(tmp_path, capsys, share):
    out = tmp_path / "rows.jsonl"
    argv = ["--catalog", str(CS), "--out", str(out), "--rows", "50", "--no-tool-share", share]
    assert datagen.main(argv) == 2
    assert "--no-tool-share must be within [0, 1]" in capsys.readouterr().err
    assert not out.exists()


def test_collision_with_a_golden_prompt_is_an_error_listing_the_cases(tmp_path, capsys):
    golden, templates = _small_world(tmp_path, ["HELLO   there, friend", "unrelated words"])
    out = tmp_path / "rows.jsonl"
    argv = [
        "--catalog",
        str(golden),
        "--templates",
        str(templates),
        "--out",
        str(out),
        "--rows",
        "4",
        "--no-tool-share",
        "0.5",
        "--seed",
        "1",
    ]
    assert datagen.main(argv) == 2
    err = capsys.readouterr().err
    assert "equal golden prompts" in err
    assert "customer_support/chat-001" in err
    assert "Hello there, friend" in err
    assert not out.exists()  # nothing is written, nothing is dropped silently


def test_check_collisions_lists_every_collision():
    catalog = load_catalog(CS)
    rows = [
        datagen.Row("k", datagen.Category.CHITCHAT, "  Hi ", "{}", catalog.system_prompt()),
        datagen.Row("k", datagen.Category.CHITCHAT, "fine", "{}", catalog.system_prompt()),
        datagen.Row("k", datagen.Category.CHITCHAT, "OK", "{}", catalog.system_prompt()),
    ]
    with pytest.raises(datagen.GoldenCollisionError) as info:
        datagen.check_collisions(rows, datagen.golden_prompts(ROOT / "golden"))
    assert [p for p, _ in info.value.collisions] == ["  Hi ", "OK"]
    assert "customer_support/chat-001" in str(info.value)


def test_same_seed_same_bytes_other_seed_other_rows(tmp_path):
    paths = []
    for name, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        out = tmp_path / f"{name}.jsonl"
        argv = ["--catalog", str(CS), "--out", str(out), "--rows", "150", "--seed", seed]
        assert datagen.main(argv) == 0
        paths.append(out)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()


def test_rows_are_in_the_seed_shape_and_valid_calls(tmp_path):
    out = tmp_path / "rows.jsonl"
    assert datagen.main(["--catalog", str(CS), "--out", str(out), "--rows", "300"]) == 0
    catalog = load_catalog(CS)
    prompts = set()
    for row in _rows(out):
        system, user, assistant = row["messages"]
        assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
        assert system["content"] == catalog.system_prompt()
        assert "\n" not in assistant["content"] and ", " not in assistant["content"][:20]
        parsed = parse_tool_call(assistant["content"], catalog, "strict")
        assert parsed.valid, assistant["content"]
        if parsed.tool == "request_refund" or parsed.tool == "escalate":
            reason = parsed.arguments["reason"]
            if not reason.startswith("customer asked for"):
                # The reason is the user's own words, copied from the request.
                assert normalize_text(reason) in normalize_text(user["content"]), row
        if parsed.tool in ("track_order", "request_refund"):
            assert parsed.arguments["order_id"].startswith("ORD-")
            digits = parsed.arguments["order_id"][4:]
            assert digits in user["content"]
        prompts.add(datagen.normalize_prompt(user["content"]))
    assert len(prompts) == 300  # no duplicate prompts


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bundled_templates_never_produce_a_golden_prompt(tmp_path, seed):
    for folder in (CS, TRAVEL):
        if not (folder / "catalog.json").is_file() and not (folder / "catalog.py").is_file():
            continue
        catalog = load_catalog(folder)
        if not datagen.default_templates_path(catalog).is_file():
            continue
        out = tmp_path / f"{catalog.name}.jsonl"
        argv = [
            "--catalog",
            str(folder),
            "--out",
            str(out),
            "--rows",
            "1000",
            "--seed",
            str(seed),
            "--no-tool-share",
            "0.4",
        ]
        assert datagen.main(argv) == 0


def test_an_argument_the_prompt_does_not_carry_is_refused(tmp_path):
    _, templates = _small_world(tmp_path, ["x"])
    data = json.loads(templates.read_text())
    data["kinds"][1]["templates"].append("refund {id} please")  # no {why}: reason unknown
    templates.write_text(json.dumps(data))
    with pytest.raises(datagen.DatagenError, match="does not say it"):
        datagen.load_templates(templates, load_catalog(CS))


def test_strip_reason_keeps_the_users_words():
    prefixes = ("it's the ", "the ", "i ")
    assert datagen.strip_reason("It's the wrong colour.", prefixes) == "wrong colour"
    assert datagen.strip_reason("the lid is cracked", prefixes) == "lid is cracked"
    assert datagen.strip_reason("I bought it by mistake", prefixes) == "bought it by mistake"
