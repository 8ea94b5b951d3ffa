"""trainers.datagen: the no-tool share, the printed mix, the golden guard, determinism."""

from __future__ import annotations

import json
import re
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


def _with_twins(tmp_path: Path, share: float = 1.0) -> tuple[datagen.TemplateSet, Path]:
    golden, templates = _small_world(tmp_path, ["x"])
    data = json.loads(templates.read_text())
    data["slots"]["vague"] = ["my order", "it", "my parcel", "the package", "my purchase"]
    data["kinds"][2]["weight"] = 0.01  # few greetings: the no-tool places go to no_id
    data["kinds"][0]["templates"] = ["where is order {id}", "status of {id}", "track my {id}"]
    data["kinds"][0]["twin"] = {"slot": "id", "as": "no_id", "share": share, "vague": "@vague"}
    data["kinds"].append(
        {
            "name": "no_id",
            "category": "underspecified",
            "reason": "need order_id before track_order",
            "templates": ["where is my stuff", "any news on my delivery"],
        }
    )
    templates.write_text(json.dumps(data))
    return datagen.load_templates(templates, load_catalog(CS)), golden


def test_twins_say_the_same_request_without_the_id(tmp_path):
    templates, _ = _with_twins(tmp_path)
    rows = datagen.generate(templates, load_catalog(CS), rows=40, no_tool_share=0.25, seed=4)
    assert sum(r.output.startswith('{"tool":"no_tool"') for r in rows) == 10  # still exact
    twins = [r for r in rows if r.twin_of]
    assert twins and all(r.twin_of == "track" and r.kind == "no_id" for r in twins)
    tracked = {normalize_text(r.prompt) for r in rows if r.kind == "track"}
    for twin in twins:
        assert twin.output == '{"tool":"no_tool","reason":"need order_id before track_order"}'
        assert "ord" not in twin.prompt.lower().replace("order", "")  # no id left
        assert "order order" not in twin.prompt.lower() and "my my" not in twin.prompt.lower()
        # Its partner is a tracked row that says the id (and "order"/"my" before it)
        # where the twin says the vague words.
        said = normalize_text(twin.prompt)
        assert any(
            re.sub(r"(?:my |order )?ord ?\d+", normalize_text(vague), t) == said
            for t in tracked
            for vague in ("my order", "it", "my parcel", "the package", "my purchase")
        ), twin.prompt
    mix = datagen.mix_table(rows)
    assert f"vague-id twins (counted in their no-tool kinds): track {len(twins)}" in mix


def test_twins_only_take_free_places_and_keep_the_seed_reproducible(tmp_path):
    templates, _ = _with_twins(tmp_path)
    catalog = load_catalog(CS)
    rows = datagen.generate(templates, catalog, rows=60, no_tool_share=0.1, seed=4)
    # 6 no-tool places, all taken by twins before no_id's own templates are drawn; the
    # other tracked rows get no twin.
    assert sum(r.kind == "no_id" for r in rows) == 6
    assert sum(bool(r.twin_of) for r in rows) == 6
    again = datagen.generate(templates, catalog, rows=60, no_tool_share=0.1, seed=4)
    assert [r.prompt for r in rows] == [r.prompt for r in again]


@pytest.mark.parametrize(
    ("twin", "message"),
    [
        ({"slot": "id", "as": "hello", "share": 0.0, "vague": ["it"]}, "share"),
        ({"slot": "id", "as": "nope", "share": 0.5, "vague": ["it"]}, "no-tool kind"),
        ({"slot": "id", "as": "refund", "share": 0.5, "vague": ["it"]}, "no-tool kind"),
        ({"slot": "why", "as": "hello", "share": 0.5, "vague": ["it"]}, "every template"),
        ({"slot": "id", "share": 0.5}, "twin needs"),
    ],
)
def test_bad_twins_are_refused(tmp_path, twin, message):
    _, templates = _small_world(tmp_path, ["x"])
    data = json.loads(templates.read_text())
    data["kinds"][0]["twin"] = twin
    templates.write_text(json.dumps(data))
    with pytest.raises(datagen.DatagenError, match=message):
        datagen.load_templates(templates, load_catalog(CS))


def test_native_rows_carry_tools_and_read_back_as_the_json_rows(tmp_path):
    """--format native writes the same rows as tool calls: rendered with the Hermes template
    and read back by the native parser, each gives the json row's verdict."""
    from harness.formats.native import HERMES_TEMPLATE, NativeFormat, hermes_parser

    transformers = pytest.importorskip("transformers")
    from tests.tinymodel import build_tokenizer

    plain, native = tmp_path / "plain.jsonl", tmp_path / "native.jsonl"
    args = ["--catalog", str(CS), "--rows", "60", "--seed", "3"]
    assert datagen.main([*args, "--out", str(plain)]) == 0
    assert datagen.main([*args, "--out", str(native), "--format", "native"]) == 0
    catalog = load_catalog(CS)
    tokenizer = transformers.AutoTokenizer.from_pretrained(build_tokenizer(tmp_path / "tok"))
    tokenizer.chat_template = HERMES_TEMPLATE
    fmt = NativeFormat(hermes_parser())
    for json_row, native_row in zip(_rows(plain), _rows(native), strict=True):
        assert [t["function"]["name"] for t in native_row["tools"]] == catalog.tool_names
        assert native_row["messages"][1] == json_row["messages"][1]
        prompt = tokenizer.apply_chat_template(
            native_row["messages"][:-1], tools=native_row["tools"], tokenize=False
        )
        full = tokenizer.apply_chat_template(
            native_row["messages"], tools=native_row["tools"], tokenize=False
        )
        assert full.startswith(prompt)
        answer = full[len(prompt) :].removeprefix("<|im_start|>assistant\n")
        expected = parse_tool_call(json_row["messages"][-1]["content"], catalog)
        got = fmt.parse(answer, catalog)
        assert got.valid and got.tool == expected.tool, answer
        if expected.tool == NO_TOOL:
            assert got.reason == expected.reason
        else:
            assert got.arguments == expected.arguments
