"""``routecheck import bfcl`` on a small sample of BFCL: the schema dialect, the answers,
the manifest, replays of every acceptable value, and where routecheck judges differently."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from harness.backends.mock import MockBackend
from harness.bfcl import convert_schema, main, replay_variants
from harness.golden import Category, GoldenCase, GoldenSet, load_golden
from harness.parse import ErrorKind
from harness.runner import run_suite
from harness.scoring import CaseVerdict, Outcome, parse_output, score_case

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "data" / "bfcl_sample"


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bfcl") / "golden"
    assert main([str(SAMPLE), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def sets(imported: Path) -> dict[str, GoldenSet]:
    return {s.catalog.name: s for s in load_golden(imported)}


def case_of(sets: dict[str, GoldenSet], case_id: str) -> tuple[GoldenCase, GoldenSet]:
    for golden_set in sets.values():
        for case in golden_set.cases:
            if case.id == case_id:
                return case, golden_set
    raise KeyError(case_id)


def judge(sets: dict[str, GoldenSet], case_id: str, output: Any) -> CaseVerdict:
    case, golden_set = case_of(sets, case_id)
    text = output if isinstance(output, str) else json.dumps(output)
    return score_case(case, parse_output(text, case, golden_set.catalog), golden_set.catalog)


def test_every_sample_case_imports_or_is_listed_with_a_reason(imported: Path) -> None:
    manifest = json.loads((imported / "manifest.json").read_text())
    counts = {c: (e["imported"], len(e["refused"])) for c, e in manifest["categories"].items()}
    assert counts == {
        "simple_python": (7, 0),
        "multiple": (3, 0),
        "parallel": (2, 0),
        "parallel_multiple": (2, 1),
        "irrelevance": (3, 0),
    }
    (refused,) = manifest["categories"]["parallel_multiple"]["refused"]
    assert refused["id"] == "parallel_multiple_21"
    assert "BFCL's answer contradicts its schema" in refused["reason"]
    assert "data['sales']" in refused["reason"]


def test_manifest_names_file_id_and_sha256_of_every_case(imported: Path) -> None:
    manifest = json.loads((imported / "manifest.json").read_text())
    entry = manifest["categories"]["simple_python"]
    source = SAMPLE / "BFCL_v4_simple_python.json"
    assert entry["questions"]["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    lines = source.read_bytes().split(b"\n")
    for case in entry["cases"]:
        name, lineno = case["source"].rsplit(":", 1)
        assert name == source.name
        raw = lines[int(lineno) - 1]
        assert case["sha256"] == hashlib.sha256(raw).hexdigest()
        assert json.loads(raw)["id"] == case["id"]


def test_schema_dialect_becomes_json_schema() -> None:
    notes: list[str] = []
    bfcl = {
        "type": "dict",
        "properties": {
            "x": {"type": "float", "default": "1.5"},
            "point": {"type": "tuple", "items": {"type": "float"}},
            "data": {"type": "any", "description": "anything"},
            "flag": {"type": "boolean", "default": "false", "optional": True},
            "years": {"type": "integer", "default": "5 years"},
            "opts": {"type": "dict", "description": "free-form"},
        },
        "required": ["x"],
        "optional": [],
    }
    assert convert_schema(bfcl, "f", notes) == {
        "type": "object",
        "properties": {
            "x": {"type": "number", "default": 1.5},
            "point": {"type": "array", "items": {"type": "number"}},
            "data": {"description": "anything"},
            "flag": {"type": "boolean", "default": False},
            "years": {"type": "integer"},
            "opts": {
                "type": "object",
                "description": "free-form",
                "properties": {},
                "additionalProperties": True,
            },
        },
        "required": ["x"],
    }
    assert "f.years: default '5 years' dropped (not a integer)" in notes


def test_dotted_names_are_kept_and_tools_are_per_case(sets: dict[str, GoldenSet]) -> None:
    case, golden_set = case_of(sets, "simple_python_83")
    assert case.tools is not None
    assert case.tools.tool_names == ["calculate_distance"]
    assert case.catalog == "bfcl_simple_python" and golden_set.catalog.tools == ()
    case, _ = case_of(sets, "multiple_0")
    assert case.tools is not None and "triangle_properties.get" in case.tools.tool_names


def test_no_answer_value_reaches_the_prompt(sets: dict[str, GoldenSet]) -> None:
    # The prompt is BFCL's question and BFCL's functions: a default shown in a signature
    # is one the function's doc wrote, never one taken from the answers.
    source: dict[str, dict[str, Any]] = {}
    questions: dict[str, str] = {}
    for path in SAMPLE.glob("BFCL_v4_*.json"):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            source[row["id"]] = {f["name"]: f for f in row["function"]}
            questions[row["id"]] = row["question"][0][-1]["content"]
    checked = 0
    for golden_set in sets.values():
        for case in golden_set.cases:
            assert case.prompt == questions[case.id] and case.tools is not None
            for tool in case.tools.tools:
                raw = source[case.id][tool.name]["parameters"]["properties"]
                for name, prop in tool.properties.items():
                    if "default" in prop:
                        assert "default" in raw[name], (case.id, tool.name, name)
                        checked += 1
                    assert prop.get("description", "") == raw[name].get("description", "")
    assert checked >= 3


def test_answers_become_target_accept_and_optional(sets: dict[str, GoldenSet]) -> None:
    case, _ = case_of(sets, "parallel_multiple_3")
    first, second = case.gold_calls()
    assert first.arguments == {"perimeter": 14, "area": 15, "property": "width"}
    assert first.optional == ("tolerance",)  # [""]: left out, and only left out
    assert second.arguments["tolerance"] == 0.1 and second.optional == ("tolerance",)
    case, _ = case_of(sets, "simple_python_89")
    conditions = [case.target.arguments["conditions"], *case.accept["conditions"]]
    assert {"department": "Science", "school": "Bluebird HS"} in conditions


def test_every_acceptable_value_replayed_passes(imported: Path) -> None:
    golden = load_golden(imported)
    variants = replay_variants(imported)
    assert len(variants) >= 2
    for k, rows in enumerate(variants):
        path = imported.parent / f"replay_{k}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        results = run_suite(golden, MockBackend(path))
        failed = [(c.key, c.outcome, c.parsed.detail) for c in results.cases if not c.passed]
        assert not failed, (k, failed)
        assert len(results.cases) == 17


def test_imported_sets_run_under_pytest_suites(pytester: pytest.Pytester) -> None:
    out = pytester.path / "golden"
    assert main([str(SAMPLE), "--out", str(out), "--replays", str(pytester.path / "r")]) == 0
    suites = pytester.path / "suites"
    suites.mkdir()
    for name in ("test_golden.py", "test_gates.py"):
        (suites / name).write_text((ROOT / "suites" / name).read_text())
    result = pytester.runpytest_subprocess(
        "suites",
        "--checkpoint=mock:r/replay_1.jsonl",
        "--rc-golden=golden",
        "--rc-reports-dir=reports",
        "-p",
        "no:cacheprovider",
    )
    result.assert_outcomes(passed=17 + 5)


def test_irrelevance_cases_are_no_tool_cases(sets: dict[str, GoldenSet]) -> None:
    case, _ = case_of(sets, "irrelevance_0")
    assert case.category is Category.INFO_REQUEST and case.target.tool == "no_tool"
    call = {"tool": "determine_body_mass_index", "arguments": {"weight": 70, "height": 1.8}}
    assert judge(sets, "irrelevance_0", call).outcome is Outcome.FALSE_TOOL_CALL


def test_refusals_and_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path), "--out", str(tmp_path / "o"), "--category", "parallel"]) == 2
    assert "BFCL_v4_parallel.json: not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(SAMPLE), "--string-match", "nope"])


# --- where routecheck and BFCL judge differently (one test per class) --------------------


def test_disagreement_case_in_enums(sets: dict[str, GoldenSet], imported: Path) -> None:
    # BFCL compares strings case-insensitively even where the schema has an enum;
    # routecheck refuses a value the API does not declare, and drops it from accept.
    base = {"tool": "sculpture.create_custom", "arguments": {"item": "horse", "size": 12}}
    ok = {**base, "arguments": {**base["arguments"], "material": "Bronze"}}
    low = {**base, "arguments": {**base["arguments"], "material": "bronze"}}
    assert judge(sets, "multiple_76", ok).passed
    verdict = judge(sets, "multiple_76", low)
    assert verdict.outcome is Outcome.INVALID and verdict.error is ErrorKind.INVALID_VALUE
    notes = json.loads((imported / "manifest.json").read_text())["categories"]["multiple"]
    assert any("'bronze' dropped" in n["note"] for n in notes["notes"])


def test_disagreement_strings_inside_arrays(sets: dict[str, GoldenSet]) -> None:
    # Both now normalize strings inside arrays (routecheck under the argument's policy).
    case, _ = case_of(sets, "simple_python_89")
    call = {"tool": "db_fetch_records", "arguments": dict(case.target.arguments)}
    call["arguments"]["conditions"] = {"department": "SCIENCE", "school": "bluebird hs"}
    assert judge(sets, "simple_python_89", call).passed


def test_disagreement_whole_numbers_in_float_arrays(sets: dict[str, GoldenSet]) -> None:
    # A whole number is accepted where the schema says number, at any depth (BFCL makes
    # that allowance at the top level of an argument only).
    case, _ = case_of(sets, "simple_python_83")
    coords = case.target.arguments
    whole = {k: [int(v) if float(v).is_integer() else v for v in vs] for k, vs in coords.items()
             if isinstance(vs, list)}  # fmt: skip
    call = {"tool": "calculate_distance", "arguments": {**coords, **whole}}
    assert judge(sets, "simple_python_83", call).passed


def test_disagreement_operators(tmp_path: Path) -> None:
    # BFCL drops , . / - _ * ^ before comparing: "3/4" equals "34", "x^2" equals "x2".
    # routecheck's text policy never drops an operator or a sign; the bfcl policy does.
    from harness.match import values_match

    for a, b in (("3/4", "34"), ("x^2", "x2"), ("2*x", "2x"), ("10-20", "1020")):
        assert values_match(a, b, "bfcl")
        assert not values_match(a, b, "text")
    assert not values_match("3x + 2", "3x - 2", "text")


def test_disagreement_optional_omitted(sets: dict[str, GoldenSet]) -> None:
    # "" in BFCL's list: the argument may be left out. routecheck agrees, and also fills
    # schema defaults: giving the documented default where BFCL says "leave it out"
    # passes here and fails in BFCL.
    case, _ = case_of(sets, "parallel_multiple_88")
    search, reserve = case.gold_calls()
    assert "genre" in search.optional
    calls = [
        {"tool": "library.search_book", "arguments": dict(search.arguments)},
        {"tool": "library.reserve_book", "arguments": dict(reserve.arguments)},
    ]
    calls[0]["arguments"].pop("genre", None)
    assert judge(sets, "parallel_multiple_88", calls).passed
    calls[0]["arguments"]["genre"] = "Horror"
    assert judge(sets, "parallel_multiple_88", calls).outcome is Outcome.WRONG_ARGUMENTS


def test_imports_ground_no_argument(sets: dict[str, GoldenSet]) -> None:
    """BFCL answers are often computed from the question (units, sums), so an import never
    marks an argument grounded: its cases load and score as they did."""
    from harness.grounding import grounded_arguments

    tools = [t for s in sets.values() for c in s.cases for t in s.catalog_for(c).tools]
    assert tools and not any(grounded_arguments(t) for t in tools)
