"""The golden loader: one test per refusal (each names file, line and field), and loading
folders, files and roots."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from harness.catalog import NO_TOOL
from harness.errors import GoldenFileError
from harness.golden import Category, GoldenCase, Target, load_golden, load_golden_dir
from tests.strategies import REPO_ROOT, track_order_tool

PAINT_TOOL = {
    "name": "paint",
    "description": "paint a wall.",
    "parameters": {
        "type": "object",
        "properties": {
            "colour": {"type": "string", "enum": ["red", "blue"]},
            "coats": {"type": "integer", "default": 1},
        },
        "required": ["colour"],
    },
}
CATALOG = {
    "name": "shop",
    "description": "You route shop requests to tools.",
    "tools": [track_order_tool(), PAINT_TOOL],
}

TRACK = {
    "id": "track-1",
    "category": "positive",
    "prompt": "Where is ORD-1?",
    "target": {"tool": "track_order", "arguments": {"order_id": "ORD-1"}},
}
HELLO = {"id": "hello", "category": "chitchat", "prompt": "Hi!", "target": {"tool": "no_tool"}}


def make_folder(root: Path, *files: tuple[str, list[Any]], name: str = "shop") -> Path:
    """A golden folder: catalog.json plus JSONL files of the given rows (str rows verbatim)."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "catalog.json").write_text(json.dumps({**CATALOG, "name": name}))
    for filename, rows in files:
        lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows]
        (folder / filename).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def load_error(tmp_path: Path, rows: list[Any]) -> tuple[str, Path]:
    folder = make_folder(tmp_path, ("cases.jsonl", rows))
    with pytest.raises(GoldenFileError) as err:
        load_golden(folder)
    return str(err.value), folder / "cases.jsonl"


# --- one test per loader error ------------------------------------------------------------


def test_error_bad_json(tmp_path: Path) -> None:
    message, path = load_error(tmp_path, [TRACK, '{"id": "x", "category": '])
    assert message.startswith(f"{path}:2: line: bad JSON (")
    assert "column" in message


def test_error_unknown_category(tmp_path: Path) -> None:
    message, path = load_error(tmp_path, [{**TRACK, "category": "greeting"}])
    assert message.startswith(f"{path}:1 (id 'track-1'): category: unknown category 'greeting'")
    assert "positive, underspecified, info_request, chitchat" in message


def test_error_target_tool_not_in_catalog(tmp_path: Path) -> None:
    message, path = load_error(tmp_path, [HELLO, {**TRACK, "target": {"tool": "cancel"}}])
    assert message.startswith(f"{path}:2 (id 'track-1'): target.tool: 'cancel' is not in catalog")
    assert "tools: track_order, paint" in message


def test_error_positive_target_missing_required_argument(tmp_path: Path) -> None:
    row = {**TRACK, "target": {"tool": "track_order", "arguments": {}}}
    message, path = load_error(tmp_path, [row])
    assert message.startswith(
        f"{path}:1 (id 'track-1'): target.arguments.order_id: missing argument"
    )
    assert "track_order(order_id: str)" in message


def test_error_no_tool_category_with_a_tool_target(tmp_path: Path) -> None:
    row = {**HELLO, "category": "underspecified", "target": TRACK["target"]}
    message, path = load_error(tmp_path, [row])
    assert message.startswith(
        f"{path}:1 (id 'hello'): target.tool: category 'underspecified' is a no-tool "
        "category but the target is 'track_order'"
    )


def test_error_duplicate_id(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, ("a.jsonl", [TRACK]), ("b.jsonl", [HELLO, TRACK]))
    with pytest.raises(GoldenFileError) as err:
        load_golden(folder)
    first, second = folder / "a.jsonl", folder / "b.jsonl"
    assert str(err.value).startswith(f"{second}:2: id: duplicate id 'track-1' (first at {first}:1)")


def test_error_duplicate_id_in_one_file(tmp_path: Path) -> None:
    message, path = load_error(tmp_path, [TRACK, HELLO, TRACK])
    assert message.startswith(f"{path}:3: id: duplicate id 'track-1' (first at {path}:1)")


def test_error_blank_line(tmp_path: Path) -> None:
    message, path = load_error(tmp_path, [TRACK, "   ", HELLO])
    assert message.startswith(f"{path}:2: line: is blank")


def test_error_unknown_field(tmp_path: Path) -> None:
    message, path = load_error(tmp_path, [HELLO, {**TRACK, "expected": "x"}])
    assert message.startswith(f"{path}:2: expected: unknown field")
    assert "Allowed fields:" in message


def test_error_missing_prompt(tmp_path: Path) -> None:
    row = {k: v for k, v in TRACK.items() if k != "prompt"}
    message, path = load_error(tmp_path, [row])
    assert message.startswith(
        f"{path}:1 (id 'track-1'): prompt: give exactly one of prompt or messages"
    )


def test_error_bad_split(tmp_path: Path) -> None:
    message, path = load_error(tmp_path, [{**TRACK, "split": "test"}])
    assert message.startswith(f"{path}:1 (id 'track-1'): split: unknown split 'test'")


def test_error_accept_names_an_unknown_argument(tmp_path: Path) -> None:
    message, path = load_error(tmp_path, [{**TRACK, "accept": {"colour": ["red"]}}])
    assert message.startswith(
        f"{path}:1 (id 'track-1'): accept.colour: names an argument the target does not have"
    )
    assert "['order_id']" in message


# --- further refusals ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "where", "text"),
    [
        ([1, 2], "line", "is not a JSON object"),
        ({**TRACK, "id": ""}, "id", "missing or not a non-empty string"),
        ({**TRACK, "id": 7}, "id", "missing or not a non-empty string"),
        ({**TRACK, "prompt": "  "}, "prompt", "must be a non-empty string"),
        ({**TRACK, "prompt": 3}, "prompt", "must be a non-empty string"),
        (
            {**TRACK, "messages": [{"role": "user", "content": "x"}]},
            "prompt",
            "give exactly one of prompt or messages",
        ),
        ({**TRACK, "prompt": None, "messages": []}, "messages", "must be a list of"),
        (
            {**TRACK, "prompt": None, "messages": [{"role": "assistant", "content": "x"}]},
            "messages",
            "ending with a user turn",
        ),
        (
            {**TRACK, "prompt": None, "messages": [{"role": "robot", "content": "x"}]},
            "messages",
            "must be a list of",
        ),
        ({**TRACK, "target": "track_order"}, "target", "must be an object with a 'tool' name"),
        ({**TRACK, "target": {"arguments": {}}}, "target", "must be an object with a 'tool'"),
        (
            {**TRACK, "target": {**TRACK["target"], "args": {}}},
            "target.args",
            "unknown key",
        ),
        (
            {**TRACK, "target": {"tool": "track_order", "arguments": ["ORD-1"]}},
            "target.arguments",
            "must be an object",
        ),
        (
            {**HELLO, "target": {"tool": "no_tool", "arguments": {"a": 1}}},
            "target.arguments",
            "no_tool takes no arguments",
        ),
        (
            {**TRACK, "target": {"tool": "track_order", "arguments": {"order_id": 1}}},
            "target.arguments.order_id",
            "wrong type: expected string, got integer",
        ),
        (
            {**TRACK, "target": {"tool": "paint", "arguments": {"colour": "green"}}},
            "target.arguments.colour",
            "invalid value: 'green' is not one of",
        ),
        (
            {**TRACK, "target": {"tool": "no_tool"}},
            "target.tool",
            "'no_tool' is not in catalog",
        ),
        ({**TRACK, "accept": ["x"]}, "accept", "must map argument names to lists"),
        ({**TRACK, "accept": {"order_id": "x"}}, "accept", "must map argument names to lists"),
    ],
)
def test_refusals_name_line_and_field(tmp_path: Path, row: Any, where: str, text: str) -> None:
    message, path = load_error(tmp_path, [row])
    assert re.match(rf"{re.escape(str(path))}:1( \(id '[^']*'\))?: {re.escape(where)}: ", message)
    assert text in message


def test_unreadable_file(tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    (folder / "cases.jsonl").write_bytes(b'{"id": "\xff"}\n')
    with pytest.raises(GoldenFileError, match=r"cases\.jsonl: cannot read golden file"):
        load_golden(folder)


def test_bad_catalog_is_a_golden_error(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, ("cases.jsonl", [TRACK]))
    (folder / "catalog.json").write_text('{"name": "x", "tools": {}}')
    with pytest.raises(GoldenFileError, match="'tools' must be a list"):
        load_golden(folder)


def test_missing_and_wrong_paths(tmp_path: Path) -> None:
    with pytest.raises(GoldenFileError, match="golden path not found"):
        load_golden(tmp_path / "nope")
    other = tmp_path / "cases.json"
    other.write_text("{}")
    with pytest.raises(GoldenFileError, match=r"a golden file must be \.jsonl"):
        load_golden(other)
    with pytest.raises(GoldenFileError, match="no golden sets here"):
        load_golden(tmp_path)
    folder = make_folder(tmp_path / "x")
    with pytest.raises(GoldenFileError, match=r"no \*\.jsonl golden files in this folder"):
        load_golden(folder)


# --- loading ------------------------------------------------------------------------------


def test_load_folder(tmp_path: Path) -> None:
    underspecified = {
        "id": "vague",
        "category": "underspecified",
        "messages": [
            {"role": "user", "content": "I want to paint."},
            {"role": "assistant", "content": "Which colour?"},
            {"role": "user", "content": "A nice one."},
        ],
        "target": {"tool": "no_tool"},
        "split": "holdout",
    }
    paint = {
        "id": "paint-1",
        "category": "positive",
        "prompt": "Paint it red, two coats",
        "target": {"tool": "paint", "arguments": {"colour": "red", "coats": 2}},
        "accept": {"coats": [3]},
    }
    folder = make_folder(tmp_path, ("b.jsonl", [paint, underspecified]), ("a.jsonl", [TRACK]))
    (sets,) = load_golden(folder)
    assert sets.catalog.name == "shop"
    assert [c.id for c in sets.cases] == ["track-1", "paint-1", "vague"]
    assert sets.files == (str(folder / "a.jsonl"), str(folder / "b.jsonl"))
    assert sets.fingerprint.startswith("sha256:") and len(sets.fingerprint) == 23

    track, painted, vague = sets.cases
    assert track.category is Category.POSITIVE and track.category.wants_tool
    assert track.split == "dev" and track.catalog == "shop" and track.key == "shop/track-1"
    assert track.source == f"{folder / 'a.jsonl'}:1"
    assert track.target == Target(tool="track_order", arguments={"order_id": "ORD-1"})
    assert painted.accept == {"coats": [3]}
    assert vague.split == "holdout" and not vague.category.wants_tool
    assert vague.target.tool == NO_TOOL and vague.target.arguments == {}
    assert vague.text == "user: I want to paint.\nassistant: Which colour?\nuser: A nice one."
    assert track.text == "Where is ORD-1?"

    system = sets.catalog.system_prompt()
    assert track.chat(system) == [
        {"role": "system", "content": system},
        {"role": "user", "content": "Where is ORD-1?"},
    ]
    assert vague.chat(system)[0] == {"role": "system", "content": system}
    assert len(vague.chat(system)) == 4


def test_a_conversation_with_its_own_system_turn_keeps_it() -> None:
    case = GoldenCase.model_validate(
        {
            "id": "x",
            "category": "chitchat",
            "messages": [
                {"role": "system", "content": "custom"},
                {"role": "user", "content": "hi"},
            ],
            "target": {"tool": "no_tool"},
        }
    )
    assert case.chat("default") == [
        {"role": "system", "content": "custom"},
        {"role": "user", "content": "hi"},
    ]
    assert case.key == "x"


def test_load_single_file(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, ("a.jsonl", [TRACK]), ("b.jsonl", ["not json"]))
    (sets,) = load_golden(folder / "a.jsonl")
    assert [c.id for c in sets.cases] == ["track-1"]
    assert sets.files == (str(folder / "a.jsonl"),)


def test_load_root_of_folders(tmp_path: Path) -> None:
    make_folder(tmp_path, ("cases.jsonl", [TRACK]), name="zeta")
    make_folder(tmp_path, ("cases.jsonl", [TRACK, HELLO]), name="alpha")
    (tmp_path / "notes").mkdir()
    sets = load_golden(tmp_path)
    assert [s.catalog.name for s in sets] == ["alpha", "zeta"]
    # The same id in two catalogs is fine: keys differ.
    assert {c.key for s in sets for c in s.cases} == {
        "alpha/track-1",
        "alpha/hello",
        "zeta/track-1",
    }


def test_fingerprint_tracks_content(tmp_path: Path) -> None:
    folder = make_folder(tmp_path, ("cases.jsonl", [TRACK]))
    first = load_golden_dir(folder).fingerprint
    assert load_golden_dir(folder).fingerprint == first
    (folder / "cases.jsonl").write_text(json.dumps({**TRACK, "prompt": "Where is it?"}) + "\n")
    assert load_golden_dir(folder).fingerprint != first


def test_line_separators_inside_strings_do_not_split_a_case(tmp_path: Path) -> None:
    # json.dumps(..., ensure_ascii=False) leaves U+2028, U+2029 and U+0085 raw.
    prompt = "Where is\u2028my order\x85ORD-1?\u2029"
    folder = make_folder(tmp_path, ("cases.jsonl", [{**TRACK, "prompt": prompt}, HELLO]))
    assert "\u2028" in (folder / "cases.jsonl").read_text(encoding="utf-8")
    (sets,) = load_golden(folder)
    assert sets.cases[0].prompt == prompt
    assert [c.source for c in sets.cases] == [
        f"{folder / 'cases.jsonl'}:1",
        f"{folder / 'cases.jsonl'}:2",
    ]


def test_windows_line_endings(tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    text = json.dumps(TRACK) + "\r\n" + json.dumps(HELLO) + "\r\n"
    (folder / "cases.jsonl").write_bytes(text.encode())
    (sets,) = load_golden(folder)
    assert [c.id for c in sets.cases] == ["track-1", "hello"]


def test_no_trailing_newline_and_empty_file(tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    (folder / "cases.jsonl").write_text(json.dumps(TRACK))
    (folder / "empty.jsonl").write_text("")
    (sets,) = load_golden(folder)
    assert [c.id for c in sets.cases] == ["track-1"]


def test_trailing_blank_line_is_refused(tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    (folder / "cases.jsonl").write_text(json.dumps(TRACK) + "\n\n")
    with pytest.raises(GoldenFileError, match=r"cases\.jsonl:2: line: is blank"):
        load_golden(folder)


def test_python_catalog_folder(tmp_path: Path) -> None:
    folder = tmp_path / "cs"
    folder.mkdir()
    (folder / "catalog.py").write_text(
        (REPO_ROOT / "golden" / "customer_support" / "catalog.py").read_text()
    )
    row = {
        "id": "r1",
        "category": "positive",
        "prompt": "Refund ORD-9, it arrived broken",
        "target": {
            "tool": "request_refund",
            "arguments": {"order_id": "ORD-9", "reason": "arrived broken"},
        },
    }
    (folder / "cases.jsonl").write_text(json.dumps(row) + "\n")
    (sets,) = load_golden(folder)
    assert sets.catalog.name == "customer_support"
    assert sets.cases[0].key == "customer_support/r1"


def test_bundled_golden_sets_load() -> None:
    root = REPO_ROOT / "golden"
    sets = load_golden(root)
    assert {s.catalog.name for s in sets} == {"customer_support", "travel_booking"}
    (cs,) = [s for s in sets if s.catalog.name == "customer_support"]
    by_category = {
        c: [x for x in cs.cases if x.category.value == c]
        for c in ("positive", "underspecified", "info_request", "chitchat")
    }
    assert len(by_category["positive"]) >= 100
    for tool in cs.catalog.tool_names:
        assert sum(x.target.tool == tool for x in by_category["positive"]) >= 25
    for category in ("underspecified", "info_request", "chitchat"):
        assert len(by_category[category]) >= 40
    for golden_set in sets:
        for path in golden_set.files:
            cases = [x for x in golden_set.cases if x.source.startswith(path + ":")]
            assert cases, path
            assert sum(x.split != "dev" for x in cases) >= 0.25 * len(cases), path
    for golden_set in sets:
        assert golden_set.cases
        assert len({c.id for c in golden_set.cases}) == len(golden_set.cases)


# --- catalogs across folders, per-case tools, optional arguments, parallel targets --------


def test_duplicate_catalog_names_across_folders_name_both_paths(tmp_path: Path) -> None:
    first = make_folder(tmp_path, ("cases.jsonl", [TRACK]), name="a")
    second = make_folder(tmp_path, ("cases.jsonl", [TRACK]), name="b")
    (second / "catalog.json").write_text(json.dumps({**CATALOG, "name": "a"}))
    with pytest.raises(GoldenFileError) as err:
        load_golden(tmp_path)
    message = str(err.value)
    assert message.startswith(f"{second}: catalog name 'a'")
    assert str(first) in message and "rename one" in message


MATHS = [
    {"type": "function", "function": {"name": "math.factorial", "description": "n!",
     "parameters": {"type": "object", "properties": {"n": {"type": "integer"}},
                    "required": ["n"]}}},
]  # fmt: skip


def test_a_case_with_its_own_tools(tmp_path: Path) -> None:
    row = {
        "id": "fact",
        "category": "positive",
        "prompt": "5!",
        "tools": MATHS,
        "target": {"tool": "math.factorial", "arguments": {"n": 5}},
    }
    (golden_set,) = load_golden(make_folder(tmp_path, ("cases.jsonl", [row, TRACK])))
    own, folder_case = golden_set.cases
    assert own.tools is not None and own.tools.name == "shop/fact"
    assert own.catalog == "shop" and own.key == "shop/fact"  # grouped by folder
    prompt = own.chat(own.catalog_for(golden_set.catalog).system_prompt())[0]["content"]
    assert "- math.factorial(n: int): n!" in prompt and "track_order" not in prompt
    assert folder_case.catalog_for(golden_set.catalog) is golden_set.catalog
    assert golden_set.tool_labels == [
        "track_order",
        "paint",
        "(the gold tool)",
        "(another offered tool)",
    ]


def test_per_case_tools_are_checked_like_a_catalog(tmp_path: Path) -> None:
    row = {"id": "x", "category": "positive", "prompt": "5!", "tools": MATHS,
           "target": {"tool": "math.factorial", "arguments": {"n": "5"}}}  # fmt: skip
    text, _ = load_error(tmp_path, [row])
    assert "target.arguments.n: wrong type: expected integer, got string" in text
    bad = {**row, "tools": [{"name": "f", "parameters": {"type": "object",
           "properties": {"a": {"enum": "x"}}}}]}  # fmt: skip
    text, _ = load_error(tmp_path / "2", [bad])
    assert "tools: tools[0] (tool 'f').parameters.properties.a.enum" in text


def test_optional_arguments_on_a_golden_line(tmp_path: Path) -> None:
    row = {
        "id": "p",
        "category": "positive",
        "prompt": "paint it red",
        "target": {"tool": "paint", "arguments": {"colour": "red", "coats": 2}},
        "optional": ["coats"],
    }
    (golden_set,) = load_golden(make_folder(tmp_path, ("cases.jsonl", [row])))
    assert golden_set.cases[0].optional == ("coats",)
    text, _ = load_error(tmp_path / "2", [{**row, "optional": ["colour"]}])
    assert "optional.colour: is a required argument" in text
    text, _ = load_error(tmp_path / "3", [{**row, "optional": ["size"]}])
    assert "optional.size: is not an argument of 'paint'" in text


def test_parallel_target(tmp_path: Path) -> None:
    row = {
        "id": "two",
        "category": "positive",
        "prompt": "Track ORD-1 and paint it blue",
        "target": [
            {"tool": "track_order", "arguments": {"order_id": "ORD-1"}},
            {"tool": "paint", "arguments": {"colour": "blue"}, "optional": ["coats"]},
        ],
    }
    (golden_set,) = load_golden(make_folder(tmp_path, ("cases.jsonl", [row])))
    case = golden_set.cases[0]
    assert case.target.parallel and case.target.tool == "paint+track_order"
    assert [c.tool for c in case.gold_calls()] == ["track_order", "paint"]
    assert case.gold_calls()[1].optional == ("coats",)
    assert "calls" not in Target(tool="paint").model_dump()  # one-call targets unchanged
    bad = {**row, "target": [{"tool": "paint", "arguments": {"colour": "green"}}]}
    text, _ = load_error(tmp_path / "2", [bad])
    assert "target[0].arguments.colour: invalid value" in text
    text, _ = load_error(tmp_path / "3", [{**row, "accept": {}}])
    assert "accept: a parallel target takes accept/optional per call" in text


def test_duplicate_key_in_a_line_is_refused(tmp_path: Path) -> None:
    line = (
        '{"id": "a", "category": "chitchat", "prompt": "hi", "prompt": "yo", '
        '"target": {"tool": "no_tool"}}'
    )
    text, path = load_error(tmp_path, [line])
    assert text.startswith(f"{path}:1: prompt: the key appears twice")
