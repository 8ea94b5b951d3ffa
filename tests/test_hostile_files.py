"""Hostile input files: shapes a JSON or TOML reader accepts but the harness did not expect.

Each one (a list where a string belongs, nesting deeper than Python can recurse, an integer
longer than Python reads, a lone surrogate, an empty file, a scalar where TOML wants a
table) must end in one error naming the file, line and field, never in a traceback, and a
command must exit with its "broken input" status.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.backends.mock import MockBackend
from harness.catalog import Catalog, Tool
from harness.cli import main
from harness.errors import (
    CheckpointError,
    GoldenFileError,
    JsonlError,
    ResultsFileError,
    SettingsError,
)
from harness.golden import MAX_DEPTH, load_golden, parse_case
from harness.jsonl import dumps_line, loads_strict, read_jsonl
from harness.results import SCHEMA_VERSION, read_results
from harness.settings import RunSettings, perturbation_names, read_pyproject
from tests.test_golden import TRACK, make_folder

DEEP = 10_000
"""Nesting the JSON decoder cannot follow (it raises RecursionError)."""
HUGE = "9" * 5000
"""An integer longer than Python converts (sys.get_int_max_str_digits(), 4300)."""


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def golden_line(tmp_path: Path, line: str) -> Path:
    """A golden folder whose cases.jsonl holds ``line``."""
    return make_folder(tmp_path, ("cases.jsonl", [line]))


def track_with(order_id: str) -> str:
    """The TRACK case with its order_id replaced by raw JSON text."""
    return json.dumps(TRACK).replace('"ORD-1"}', order_id + "}")


# Unhashable category, deep nesting and huge integers in a golden line.


@pytest.mark.parametrize("category", [["positive"], {"positive": 1}])
def test_golden_category_of_wrong_type_is_refused(tmp_path: Path, category: object) -> None:
    folder = make_folder(tmp_path, ("cases.jsonl", [{**TRACK, "category": category}]))
    with pytest.raises(GoldenFileError, match=r"cases\.jsonl:1 \(id 'track-1'\): category: "):
        load_golden(folder)


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (json.dumps({**TRACK, "target": "T"}).replace('"T"', nested(DEEP)), "target[0][0]"),
        (track_with(nested(DEEP)), "target.arguments.order_id[0]"),
    ],
    ids=["target", "argument"],
)
def test_golden_deep_nesting_is_refused_naming_the_field(
    tmp_path: Path, line: str, field: str
) -> None:
    with pytest.raises(GoldenFileError) as err:
        load_golden(golden_line(tmp_path, line))
    message = str(err.value)
    assert f"cases.jsonl:1: {field}" in message
    assert f"nested more than {MAX_DEPTH} arrays or objects deep" in message


def test_golden_nesting_limit_counts_every_level_of_the_line(tmp_path: Path) -> None:
    """The line, target and arguments objects are 3 levels: 3 + (MAX_DEPTH - 3) is read."""
    with pytest.raises(GoldenFileError, match=f"nested more than {MAX_DEPTH} arrays"):
        load_golden(golden_line(tmp_path / "a", track_with(nested(MAX_DEPTH - 2))))
    with pytest.raises(GoldenFileError, match="order_id: wrong type"):
        load_golden(golden_line(tmp_path / "b", track_with(nested(MAX_DEPTH - 3))))


def test_golden_huge_integer_is_refused_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(
        GoldenFileError,
        match=r"cases\.jsonl:1: target\.arguments\.order_id: an integer of 5000 digits",
    ):
        load_golden(golden_line(tmp_path / "a", track_with(HUGE)))
    # Only integers have Python's digit limit: a long fraction is a float, read fine.
    with pytest.raises(GoldenFileError, match="order_id: wrong type"):
        load_golden(golden_line(tmp_path / "b", track_with("1." + HUGE)))


# A golden set with no case.


def test_empty_golden_file_is_refused(tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    (folder / "cases.jsonl").write_bytes(b"")
    with pytest.raises(GoldenFileError, match=r"cases\.jsonl: no golden case in this file"):
        load_golden(folder / "cases.jsonl")
    with pytest.raises(GoldenFileError, match=r"cases\.jsonl: no golden case in this file"):
        load_golden(folder)


def test_folder_of_empty_golden_files_is_refused(tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    (folder / "a.jsonl").write_bytes(b"")
    (folder / "b.jsonl").write_bytes(b"")
    with pytest.raises(GoldenFileError, match=r"a\.jsonl, .*b\.jsonl: no golden case in these"):
        load_golden(folder)


def _routecheck_run(tmp_path: Path, golden: Path) -> subprocess.CompletedProcess[str]:
    replay = tmp_path / "replay.jsonl"
    replay.write_text(dumps_line({"id": "track-1", "output": json.dumps(TRACK["target"])}))
    args = [
        "run",
        f"--rootdir={tmp_path}",
        f"--checkpoint=mock:{replay}",
        f"--rc-golden={golden}",
        f"--rc-reports-dir={tmp_path / 'reports'}",
        "-q",
        "-p",
        "no:cacheprovider",
    ]
    code = "import sys; from harness.cli import main; sys.exit(main())"
    env = {**os.environ, "ROUTECHECK_CACHE_DIR": str(tmp_path / "cache")}
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("kind", ["empty", "category-list", "deep-target"])
def test_routecheck_run_exits_broken_input(tmp_path: Path, kind: str) -> None:
    folder = make_folder(tmp_path)
    lines = {
        "empty": "",
        "category-list": json.dumps({**TRACK, "category": ["positive"]}) + "\n",
        "deep-target": track_with(nested(DEEP)) + "\n",
    }
    (folder / "cases.jsonl").write_text(lines[kind], encoding="utf-8")
    done = _routecheck_run(tmp_path, folder)
    assert done.returncode == pytest.ExitCode.USAGE_ERROR, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert f"ERROR: routecheck: {folder / 'cases.jsonl'}" in done.stderr


# A case id UTF-8 cannot encode.


def test_golden_id_with_lone_surrogate_is_refused(tmp_path: Path) -> None:
    folder = golden_line(tmp_path, json.dumps({**TRACK, "id": "c\ud800"}))
    with pytest.raises(GoldenFileError, match=r"cases\.jsonl:1: id: holds a lone surrogate"):
        load_golden(folder)
    out = tmp_path / "replay.jsonl"
    assert main(["gold-replay", str(folder), "-o", str(out)]) == 2
    assert not out.exists()


def test_gold_replay_escapes_a_lone_surrogate_in_an_argument(tmp_path: Path) -> None:
    """Not refused at load (a model may be asked to echo one), so the writer copes."""
    value = "ORD-\ud800"
    target = {"tool": "track_order", "arguments": {"order_id": value}}
    case = {**TRACK, "prompt": f"Where is {value}?", "target": target}
    folder = make_folder(tmp_path, ("cases.jsonl", [json.dumps(case)]))
    out = tmp_path / "replay.jsonl"
    assert main(["gold-replay", str(folder), "-o", str(out)]) == 0
    generation = MockBackend(out).outputs["shop/track-1"]
    assert json.loads(generation.text)["arguments"]["order_id"] == value


# The shared JSONL reader (replays, feedback, training rows).


def test_jsonl_deep_line_is_refused_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text(
        '{"id": "a", "output": "y"}\n{"id": "x", "output": "y", "z": ' + nested(DEEP) + "}\n"
    )
    with pytest.raises(JsonlError, match=r"rows\.jsonl:2: bad JSON \(arrays or objects nested"):
        read_jsonl(path)
    with pytest.raises(CheckpointError, match=r"rows\.jsonl:2: bad JSON \(arrays or objects"):
        MockBackend(path)


def test_jsonl_huge_integer_is_refused_in_plain_words(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": ' + HUGE + "}\n")
    with pytest.raises(JsonlError, match=r"rows\.jsonl:1: bad JSON \(an integer of 5000 digits"):
        read_jsonl(path)
    assert loads_strict('{"a": -' + "9" * 4300 + "}")["a"] < 0


def test_dumps_line_round_trips_a_lone_surrogate() -> None:
    row = {"id": "x", "output": "a\ud800b", "plain": "caf\u00e9"}
    line = dumps_line(row)
    line.encode("utf-8")
    assert loads_strict(line) == row
    assert dumps_line({"plain": "caf\u00e9"}) == '{"plain": "café"}\n'


# results.json read by compare, history, feedback.


@pytest.mark.parametrize("value", [nested(DEEP), HUGE], ids=["deep", "bigint"])
def test_results_file_too_deep_or_huge_is_one_line_error(
    tmp_path: Path, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "results.json"
    path.write_text(f'{{"schema_version": {SCHEMA_VERSION}, "x": {value}}}')
    with pytest.raises(ResultsFileError, match=r"results\.json: not a valid results file"):
        read_results(path)
    assert main(["compare", str(path), str(path), "-o", str(tmp_path / "c.html")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"routecheck compare: error: {path}: not a valid results file")
    assert len(err.strip().splitlines()) == 1


# pyproject.toml with a scalar where a table belongs.


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("tool = 5\n", "tool = 5 is not a table (int); write [tool]"),
        (
            "[tool]\nroutecheck = 5\n",
            "tool.routecheck = 5 is not a table (int); write [tool.routecheck]",
        ),
        (
            "[tool]\nroutecheck = [1]\n",
            "tool.routecheck = [1] is not a table (list); write [tool.routecheck]",
        ),
        ("[[tool.routecheck]]\ngolden = 'g'\n", "tool.routecheck = [{'golden'"),
    ],
)
def test_pyproject_non_table_is_refused(tmp_path: Path, toml: str, message: str) -> None:
    (tmp_path / "pyproject.toml").write_text(toml)
    with pytest.raises(SettingsError) as err:
        read_pyproject(tmp_path)
    assert str(err.value).startswith(f"{tmp_path / 'pyproject.toml'}: {message}")


# A perturbation list of separators only.


@pytest.mark.parametrize("text", [",,", " , ", ","])
def test_perturbations_of_only_separators_are_refused(text: str) -> None:
    with pytest.raises(SettingsError, match="names no perturbation; give comma-separated names"):
        RunSettings(perturbations=text)
    # Empty still means every perturbation; a trailing comma still reads.
    assert perturbation_names("") == []
    assert perturbation_names("typo, casing,") == ["typo", "casing"]
    assert RunSettings(perturbations="typo").perturbations == "typo"


def test_a_gold_call_nested_past_what_the_output_parser_reads_is_refused(tmp_path: Path) -> None:
    """An output nested past parse.MAX_DEPTH is ``too_deep``: such a gold could never pass."""
    from harness.parse import MAX_DEPTH as OUTPUT_DEPTH

    def nested(levels: int) -> Any:
        value: Any = "x"
        for _ in range(levels):
            value = [value]
        return value

    schema = {"type": "object", "properties": {"v": {}}, "required": ["v"]}
    tool = Tool(name="put", description="store a value", parameters=schema)
    catalog = Catalog(name="deep", description="d", tools=(tool,))
    fits = {"tool": "put", "arguments": {"v": nested(OUTPUT_DEPTH - 2)}}  # 2: call, arguments
    parse_case({"id": "ok", "category": "positive", "prompt": "p", "target": fits}, catalog, "f:1")
    deep = {"tool": "put", "arguments": {"v": nested(OUTPUT_DEPTH - 1)}}
    with pytest.raises(GoldenFileError, match=r"f:1 \(id 'no'\): target: the gold call nests 33"):
        parse_case(
            {"id": "no", "category": "positive", "prompt": "p", "target": deep}, catalog, "f:1"
        )
