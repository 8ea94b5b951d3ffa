"""``routecheck import bfcl`` on hostile source files: every bad line or case is refused
with a note naming file, line, id and field; nothing crashes; no output folder is left
half-written; and whatever is reported imported loads with the golden loader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.bfcl import main
from harness.golden import load_golden

QUESTION: dict[str, Any] = {
    "id": "simple_python_0",
    "question": [[{"role": "user", "content": "Find the area of a triangle, base 10, height 5."}]],
    "function": [
        {
            "name": "calc_area",
            "description": "Area of a triangle.",
            "parameters": {
                "type": "dict",
                "properties": {
                    "base": {"type": "integer", "description": "the base"},
                    "height": {"type": "integer", "description": "the height"},
                },
                "required": ["base", "height"],
            },
        }
    ],
}
ANSWER: dict[str, Any] = {
    "id": "simple_python_0",
    "ground_truth": [{"calc_area": {"base": [10], "height": [5]}}],
}
GOOD_ID = "simple_python_1"


def _line(obj: dict[str, Any], **changes: Any) -> str:
    return json.dumps({**obj, **changes})


def _good() -> tuple[str, str]:
    """A case that imports, so that the folder is written and must load."""
    return _line(QUESTION, id=GOOD_ID), _line(ANSWER, id=GOOD_ID)


def _source(
    tmp_path: Path,
    questions: list[str],
    answers: list[str] | None = None,
    category: str = "simple_python",
) -> Path:
    src = tmp_path / "src"
    (src / "possible_answer").mkdir(parents=True)
    (src / f"BFCL_v4_{category}.json").write_text("\n".join(questions) + "\n")
    if answers is not None:
        (src / "possible_answer" / f"BFCL_v4_{category}.json").write_text("\n".join(answers) + "\n")
    return src


def _import(src: Path, out: Path, category: str = "simple_python") -> int:
    return main([str(src), "--category", category, "--out", str(out)])


def _refused(out: Path, category: str = "simple_python") -> list[dict[str, Any]]:
    manifest = json.loads((out / "manifest.json").read_text())
    refused: list[dict[str, Any]] = manifest["categories"][category]["refused"]
    return refused


def _assert_only_good_loads(out: Path) -> None:
    (golden_set,) = load_golden(out)
    assert [c.id for c in golden_set.cases] == [GOOD_ID]


def _refuse_one(tmp_path: Path, question: str, answer: str, *needles: str) -> dict[str, Any]:
    """Import ``question`` (id simple_python_0) beside a good case: it is refused, naming
    its source line, id and every needle; the good case alone loads."""
    good_q, good_a = _good()
    out = tmp_path / "out"
    assert _import(_source(tmp_path, [question, good_q], [answer, good_a]), out) == 0
    (refusal,) = _refused(out)
    assert refusal["id"] == "simple_python_0"
    assert refusal["source"] == "BFCL_v4_simple_python.json:1"
    for needle in needles:
        assert needle in refusal["reason"]
    _assert_only_good_loads(out)
    return refusal


# --- lone surrogates: refused per case, never a UnicodeEncodeError --------------------


def test_lone_surrogate_in_question_is_refused(tmp_path: Path) -> None:
    text = json.dumps(QUESTION).replace("Find the area", "Find \\ud800 the area")
    _refuse_one(tmp_path, text, json.dumps(ANSWER), "question[0][0].content", "surrogate")


def test_lone_surrogate_in_irrelevance_question_is_refused(tmp_path: Path) -> None:
    bad = json.dumps({**QUESTION, "id": "irrelevance_0"}).replace('"Find', '"\\udc80Find')
    good = json.dumps({**QUESTION, "id": "irrelevance_1"})
    out = tmp_path / "out"
    src = _source(tmp_path, [bad, good], category="irrelevance")
    assert _import(src, out, "irrelevance") == 0
    (refusal,) = _refused(out, "irrelevance")
    assert refusal["id"] == "irrelevance_0"
    assert "question[0][0].content" in refusal["reason"]
    (golden_set,) = load_golden(out)
    assert [c.id for c in golden_set.cases] == ["irrelevance_1"]


def test_lone_surrogate_in_an_answer_is_refused(tmp_path: Path) -> None:
    answer = _line(ANSWER, ground_truth=[{"calc_area": {"base": ["\ud800"], "height": [5]}}])
    _refuse_one(tmp_path, json.dumps(QUESTION), answer, "ground_truth[0].calc_area.base[0]")


def test_a_category_with_no_case_leaves_no_half_written_folder(tmp_path: Path) -> None:
    text = json.dumps(QUESTION).replace("Find the area", "Find \\ud800 the area")
    out = tmp_path / "out"
    stale = out / "bfcl_simple_python"
    stale.mkdir(parents=True)
    (stale / "catalog.json").write_text("{}")  # an earlier import's, now out of date
    (stale / "cases.jsonl").write_text("{}\n")
    assert _import(_source(tmp_path, [text], [json.dumps(ANSWER)]), out) == 0
    assert not stale.exists()  # the golden loader refuses a set without cases
    assert len(_refused(out)) == 1


def test_a_missing_file_stops_the_import_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good_q, good_a = _good()
    src = _source(tmp_path, [good_q], [good_a])
    out = tmp_path / "out"
    argv = [str(src), "--category", "simple_python", "--category", "multiple", "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "BFCL_v4_multiple.json: not found" in err and len(err.splitlines()) == 1
    assert not out.exists()


# --- too deep, too long: refused, never a RecursionError or ValueError ----------------


def test_deeply_nested_question_line_is_refused(tmp_path: Path) -> None:
    text = '{"id": "simple_python_0", "question": ' + "[" * 50000 + "]" * 50000 + "}"
    _refuse_one(tmp_path, text, json.dumps(ANSWER), "nested deeper")


def test_deeply_nested_answer_line_is_refused(tmp_path: Path) -> None:
    answer = json.dumps(ANSWER).replace("[10]", "[" + "[" * 5000 + "]" * 5000 + "]")
    refusal = _refuse_one(tmp_path, json.dumps(QUESTION), answer, "nested deeper")
    assert "possible_answer/BFCL_v4_simple_python.json:1" in refusal["reason"]


def test_deeply_nested_schema_is_refused(tmp_path: Path) -> None:
    deep: dict[str, Any] = {"type": "integer"}
    for _ in range(300):
        deep = {"type": "dict", "properties": {"a": deep}}
    params = {"type": "dict", "properties": {"base": deep}}
    question = _line(QUESTION, function=[{**QUESTION["function"][0], "parameters": params}])
    _refuse_one(tmp_path, question, json.dumps(ANSWER), "function[0].parameters", "nested")


def test_huge_integer_is_refused(tmp_path: Path) -> None:
    text = '{"id": "simple_python_0", "x": ' + "9" * 5000 + "}"
    _refuse_one(tmp_path, text, json.dumps(ANSWER), "5000 digits")


# --- malformed schemas and answers: refused naming the field ----------------------------


def test_properties_as_a_list_is_refused(tmp_path: Path) -> None:
    fn = {"name": "f", "description": "d", "parameters": {"type": "dict", "properties": [1]}}
    question = _line(QUESTION, function=[fn])
    answer = _line(ANSWER, ground_truth=[{"f": {}}])
    _refuse_one(tmp_path, question, answer, "function.f.properties")


def test_required_as_a_string_is_refused(tmp_path: Path) -> None:
    question = json.dumps(QUESTION).replace('"required": ["base", "height"]', '"required": "base"')
    _refuse_one(tmp_path, question, json.dumps(ANSWER), "function.calc_area.required")


def test_answer_arguments_as_a_list_are_refused(tmp_path: Path) -> None:
    answer = _line(ANSWER, ground_truth=[{"calc_area": [1]}])
    _refuse_one(tmp_path, json.dumps(QUESTION), answer, "ground_truth[0].calc_area")


# --- what the golden loader would refuse is refused at import ---------------------------


@pytest.mark.parametrize(
    ("messages", "field"),
    [
        ([{"role": "user", "content": 5}], "question[0][0].content"),
        ([{"role": "user", "content": ""}], "question[0][0].content"),
        ([{"role": "robot", "content": "x"}, {"role": "user", "content": "y"}], "[0][0].role"),
        (["hello"], "question[0][0]"),
    ],
    ids=["content_int", "content_empty", "role_bad", "message_not_object"],
)
def test_messages_the_loader_refuses_are_refused(
    tmp_path: Path, messages: list[Any], field: str
) -> None:
    question = _line(QUESTION, question=[messages])
    _refuse_one(tmp_path, question, json.dumps(ANSWER), field)


def test_duplicate_question_ids_are_all_refused(tmp_path: Path) -> None:
    good_q, good_a = _good()
    out = tmp_path / "out"
    src = _source(tmp_path, [json.dumps(QUESTION), json.dumps(QUESTION), good_q], [
        json.dumps(ANSWER), good_a])  # fmt: skip
    assert _import(src, out) == 0
    refused = _refused(out)
    assert [r["source"] for r in refused] == [
        "BFCL_v4_simple_python.json:1",
        "BFCL_v4_simple_python.json:2",
    ]
    assert all(r["id"] == "simple_python_0" and "id:" in r["reason"] for r in refused)
    _assert_only_good_loads(out)


def test_duplicate_answer_ids_are_refused_not_last_wins(tmp_path: Path) -> None:
    other = json.dumps(ANSWER).replace("[10]", "[11]")
    good_q, good_a = _good()
    out = tmp_path / "out"
    src = _source(tmp_path, [json.dumps(QUESTION), good_q], [json.dumps(ANSWER), other, good_a])
    assert _import(src, out) == 0
    (refusal,) = _refused(out)
    assert refusal["id"] == "simple_python_0" and "ambiguous" in refusal["reason"]
    _assert_only_good_loads(out)


def test_a_bad_json_line_is_refused_not_the_whole_file(tmp_path: Path) -> None:
    good_q, good_a = _good()
    out = tmp_path / "out"
    assert _import(_source(tmp_path, ['{"id": "x", oops', good_q], [good_a]), out) == 0
    (refusal,) = _refused(out)
    assert refusal["source"] == "BFCL_v4_simple_python.json:1"
    assert refusal["id"] == "x" and "line: not JSON" in refusal["reason"]
    _assert_only_good_loads(out)


def test_an_answer_line_without_id_is_refused_by_line(tmp_path: Path) -> None:
    good_q, good_a = _good()
    out = tmp_path / "out"
    src = _source(tmp_path, [json.dumps(QUESTION), good_q], ["[1, 2]", good_a])
    assert _import(src, out) == 0
    line, case = _refused(out)
    assert line == {
        "id": None,
        "source": "possible_answer/BFCL_v4_simple_python.json:1",
        "reason": "line: not a JSON object",
    }
    assert case["id"] == "simple_python_0" and "no possible answer" in case["reason"]
    _assert_only_good_loads(out)
