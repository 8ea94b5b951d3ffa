"""The results file: a write/read round trip, and refusals with clear messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import ResultsFileError
from harness.results import (
    SCHEMA_VERSION,
    RunResults,
    escape_text,
    read_results,
    unescape_text,
    write_results,
)
from tests.test_runner import build_run


def test_round_trip(tmp_path: Path) -> None:
    results, _, _ = build_run(tmp_path)
    path = write_results(results, tmp_path / "out" / "results.json")
    assert path == tmp_path / "out" / "results.json"
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]
    again = read_results(path)
    assert again == results
    assert isinstance(again, RunResults)
    raw = json.loads(path.read_text())
    assert raw["schema_version"] == SCHEMA_VERSION == 3
    assert raw["completed"] is True and raw["cases"][0]["output_escaped"] is False
    # Enums are stored as their plain values.
    assert raw["cases"][1]["outcome"] == "invalid"
    assert raw["cases"][1]["parsed"]["error"] == "not_json"
    assert raw["metrics"]["all"]["overall"]["valid_tool_call_rate"]["numerator"] == 5


def test_round_trip_keeps_no_case_rates(tmp_path: Path) -> None:
    results, _, _ = build_run(tmp_path)
    path = write_results(results, tmp_path / "results.json")
    again = read_results(path)
    chit = again.metrics["holdout"].by_category["chitchat"]
    assert chit.n == 0 and chit.pass_rate.value is None and str(chit.pass_rate) == "no cases"


@pytest.mark.parametrize("version", [0, 4, "1", None])
def test_unsupported_schema_version(tmp_path: Path, version: object) -> None:
    results, _, _ = build_run(tmp_path)
    raw = json.loads(results.model_dump_json())
    raw["schema_version"] = version
    path = tmp_path / "results.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ResultsFileError) as err:
        read_results(path)
    assert str(err.value) == (
        f"{path}: schema_version {version!r} is not supported by this routecheck "
        "(it reads versions 1, 2, 3); re-run the suites to regenerate it"
    )


def test_missing_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text("{}")
    with pytest.raises(ResultsFileError, match="schema_version None is not supported"):
        read_results(path)
    path.write_text("[1, 2]")
    with pytest.raises(ResultsFileError, match="schema_version None is not supported"):
        read_results(path)


def test_bad_json(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text('{"schema_version": 1,')
    with pytest.raises(
        ResultsFileError, match=r"results\.json: not a valid results file \(bad JSON"
    ):
        read_results(path)
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(ResultsFileError, match="not a valid results file"):
        read_results(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ResultsFileError, match="results file not found"):
        read_results(tmp_path / "nope.json")
    with pytest.raises(ResultsFileError, match="results file not found"):
        read_results(tmp_path)


def test_invalid_content_names_the_field(tmp_path: Path) -> None:
    results, _, _ = build_run(tmp_path)
    raw = json.loads(results.model_dump_json())
    raw["cases"][2]["outcome"] = "great"
    path = tmp_path / "results.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ResultsFileError) as err:
        read_results(path)
    assert str(err.value).startswith(f"{path}: invalid results file at cases.2.outcome: ")
    del raw["cases"]
    path.write_text(json.dumps(raw))
    with pytest.raises(ResultsFileError, match="invalid results file at cases: Field required"):
        read_results(path)


def test_write_is_atomic_over_an_old_file(tmp_path: Path) -> None:
    results, _, _ = build_run(tmp_path)
    path = tmp_path / "results.json"
    path.write_text("old")
    write_results(results, path)
    assert read_results(path) == results


def test_version_1_files_still_read(tmp_path: Path) -> None:
    """A results file written before ``completed`` and ``verdict`` existed reads as complete."""
    results, _, _ = build_run(tmp_path)
    raw = json.loads(results.model_dump_json())
    raw["schema_version"] = 1
    for name in ("completed", "incomplete_reason", "verdict", "verdict_rule"):
        del raw[name]
    for case in raw["cases"]:
        del case["output_escaped"]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(raw))
    again = read_results(path)
    assert again.schema_version == SCHEMA_VERSION
    assert again.completed and again.verdict is None and again.cases == results.cases


@given(st.text())
def test_escaping_is_lossless(text: str) -> None:
    stored, changed = escape_text(text)
    stored.encode("utf-8")  # always storable
    assert (unescape_text(stored) if changed else stored) == text
    assert changed == (stored != text)


@pytest.mark.parametrize("text", ["\ud800", "a\\ud800\udfff\\", "\x00\ud800\\u0041"])
def test_unstorable_text_round_trips_through_the_file(tmp_path: Path, text: str) -> None:
    results, _, _ = build_run(tmp_path)
    stored, changed = escape_text(text)
    first = results.cases[0].model_copy(update={"output": stored, "output_escaped": changed})
    path = write_results(results.model_copy(update={"cases": [first]}), tmp_path / "r.json")
    assert read_results(path).cases[0].raw_output() == text


def test_the_writer_never_fails_on_text_it_cannot_encode(tmp_path: Path) -> None:
    results, _, _ = build_run(tmp_path)
    bad = results.model_copy(update={"incomplete_reason": "x\ud800"})
    path = write_results(bad, tmp_path / "r.json")
    assert read_results(path).incomplete_reason == "x\ud800"


def test_verdict_under_each_rule(tmp_path: Path) -> None:
    results, _, _ = build_run(tmp_path)
    assert any(not c.passed for c in results.cases)
    gates_ok = all(g.passed for g in results.gates)
    assert results.judged("gates") == ("pass" if gates_ok else "fail")
    assert results.judged("cases") == "fail"
    assert results.model_copy(update={"completed": False}).judged("gates") == "incomplete"
