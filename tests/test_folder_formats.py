"""A golden folder's own output format: declared in its catalog file, refused when unknown,
overridden by ``--rc-format`` on the command line, and honoured in a run that mixes formats
(on replays and on a tiny transformers model), with each case scored by its folder's parser."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from harness.backends.base import Backend, DecodingConfig, Generation, GenerationRequest
from harness.compare import compare_runs
from harness.errors import GoldenFileError, RoutecheckError, SettingsError
from harness.formats import get_format
from harness.formats.folder import format_label, resolve_formats, run_format
from harness.golden import load_golden
from harness.outputcache import OutputCache, cache_key
from harness.results import read_results, write_results
from harness.runner import run_suite
from harness.session import EvaluationSession
from harness.settings import RunSettings, build_settings, setting_fields
from tests.strategies import shop_catalog_dict

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parent.parent

PY_CATALOG = """from pydantic import BaseModel

from harness.catalog import catalog_from_models

{format_line}


class Track(BaseModel):
    order_id: str


CATALOG = catalog_from_models("pyshop", "You route.", {{"track_order": ("Find it.", Track)}})
"""

TRACK_CASE = {
    "id": "t1", "category": "positive", "prompt": "where is ORD-1234", "split": "dev",
    "target": {"tool": "track_order", "arguments": {"order_id": "ORD-1234"}},
}  # fmt: skip
CHAT_CASE = {
    "id": "c1", "category": "chitchat", "prompt": "hi there", "split": "holdout",
    "target": {"tool": "no_tool"},
}  # fmt: skip


def folder(root: Path, name: str, fmt: Any = None, cases: Sequence[dict[str, Any]] = ()) -> Path:
    """A golden folder ``name`` (shop's tools) whose catalog.json declares ``fmt``."""
    path = root / name
    path.mkdir(parents=True)
    catalog: dict[str, Any] = {**shop_catalog_dict(), "name": name}
    if fmt is not None:
        catalog["x-format"] = fmt
    (path / "catalog.json").write_text(json.dumps(catalog), encoding="utf-8")
    rows = cases or [TRACK_CASE, CHAT_CASE]
    (path / "cases.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def hermes_call(tool: str, arguments: dict[str, Any]) -> str:
    return "<tool_call>\n" + json.dumps({"name": tool, "arguments": arguments}) + "\n</tool_call>"


def json_call(tool: str, arguments: dict[str, Any]) -> str:
    return json.dumps({"tool": tool, "arguments": arguments})


GOLD_TRACK = ("track_order", {"order_id": "ORD-1234"})


# -- declaring and validating --------------------------------------------------------------


def test_a_catalog_json_declares_its_folders_format(tmp_path: Path) -> None:
    folder(tmp_path, "nat", "native")
    folder(tmp_path, "plain")
    sets = {s.catalog.name: s for s in load_golden(tmp_path)}
    assert sets["nat"].format == "native"
    assert sets["plain"].format is None
    # The declaration is not a tool and changes nothing else in the catalog.
    assert sets["nat"].catalog.tools == sets["plain"].catalog.tools


def test_a_catalog_py_declares_its_format_as_a_literal_constant(tmp_path: Path) -> None:
    path = tmp_path / "pyshop"
    path.mkdir()
    (path / "catalog.py").write_text(PY_CATALOG.format(format_line='FORMAT = "openai-tools"'))
    (path / "cases.jsonl").write_text(json.dumps(TRACK_CASE) + "\n")
    assert load_golden(path)[0].format == "openai-tools"


@pytest.mark.parametrize("value", ["xml", "JSON", 1, None, ["native"]])
def test_an_unknown_x_format_names_the_file_the_field_and_the_formats(
    tmp_path: Path, value: Any
) -> None:
    path = tmp_path / "shop"
    path.mkdir()
    catalog = {**shop_catalog_dict(), "x-format": value}
    (path / "catalog.json").write_text(json.dumps(catalog))
    (path / "cases.jsonl").write_text(json.dumps(TRACK_CASE) + "\n")
    with pytest.raises(GoldenFileError) as err:
        load_golden(path)
    assert str(err.value) == (
        f"{path / 'catalog.json'}: x-format: {value!r} is not an output format; use one of "
        "json, native, openai-tools (or remove it to use the run's format)"
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('FORMAT = "yaml"', "catalog.py:5: FORMAT: 'yaml' is not an output format; use one of"),
        ('FORMAT = "nat" + "ive"', "catalog.py:5: FORMAT: must be a string literal such as"),
    ],
)
def test_an_unknown_catalog_py_format_names_file_line_and_constant(
    tmp_path: Path, line: str, message: str
) -> None:
    path = tmp_path / "pyshop"
    path.mkdir()
    (path / "catalog.py").write_text(PY_CATALOG.format(format_line=line))
    (path / "cases.jsonl").write_text(json.dumps(TRACK_CASE) + "\n")
    with pytest.raises(GoldenFileError, match=message.replace("(", r"\(")):
        load_golden(path)


# -- precedence ----------------------------------------------------------------------------


def test_precedence_command_line_then_folder_then_run_format() -> None:
    declared = [("a", "native"), ("b", None)]
    assert resolve_formats(declared, "json", forced=False) == {"a": "native", "b": "json"}
    assert resolve_formats(declared, "openai-tools", forced=False) == {
        "a": "native",
        "b": "openai-tools",
    }
    assert resolve_formats(declared, "json", forced=True) == {"a": "json", "b": "json"}
    assert run_format({"a": "native", "b": "json"}, "json") == "mixed"
    assert run_format({"a": "native", "b": "native"}, "json") == "native"
    assert format_label("mixed", {"b": "json", "a": "native"}) == "mixed (a: native, b: json)"
    assert format_label("json", {"a": "json"}) == "json"


def test_only_a_command_line_format_is_forced() -> None:
    from_file = build_settings({"format": "openai-tools"}, {"format": None})
    assert (from_file.format, from_file.format_forced) == ("openai-tools", False)
    from_cli = build_settings({"format": "openai-tools"}, {"format": "json"})
    assert (from_cli.format, from_cli.format_forced) == ("json", True)
    assert "format_forced" not in [f.name for f in setting_fields()]  # not an option
    with pytest.raises(SettingsError, match="unknown key"):
        build_settings({"format_forced": True}, {})


def test_the_session_resolves_each_folders_format(tmp_path: Path) -> None:
    folder(tmp_path, "nat", "native")
    folder(tmp_path, "plain")
    sets = load_golden(tmp_path)

    def formats(file_values: dict[str, Any], cli: dict[str, Any]) -> dict[str, str]:
        return EvaluationSession(settings=build_settings(file_values, cli), sets=sets).formats()

    assert formats({}, {}) == {"nat": "native", "plain": "json"}
    assert formats({"format": "openai-tools"}, {}) == {"nat": "native", "plain": "openai-tools"}
    assert formats({"format": "openai-tools"}, {"format": "json"}) == {
        "nat": "json",
        "plain": "json",
    }


# -- a mixed run on replays ------------------------------------------------------------------


class Recorder(Backend):
    """Answers every request in the syntax of the format it was generated in; records calls."""

    spec = "recorder"

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []

    def generate(
        self, requests: Sequence[GenerationRequest], config: DecodingConfig, progress: Any = None
    ) -> list[Generation]:
        self.calls.append((config.format, [r.id for r in requests]))
        write = hermes_call if config.format == "native" else json_call
        return [Generation(text=write(*GOLD_TRACK)) for _ in requests]

    def response_parser(self) -> Any:
        from harness.formats.native import hermes_parser

        return hermes_parser()

    def fingerprint(self) -> str:
        return "sha256:recorder"


def test_requests_are_generated_format_by_format_and_json_keys_do_not_change(
    tmp_path: Path,
) -> None:
    folder(tmp_path / "g", "nat", "native", [TRACK_CASE])
    folder(tmp_path / "g", "plain", None, [TRACK_CASE])
    sets = load_golden(tmp_path / "g")
    backend = Recorder()
    cache = OutputCache(tmp_path / "cache")
    formats = {"nat": get_format("native", backend), "plain": get_format("json")}
    results = run_suite(sets, backend, cache=cache, formats=formats)
    assert backend.calls == [("native", ["nat/t1"]), ("json", ["plain/t1"])]
    assert results.format == "mixed" and results.decoding["format"] == "mixed"
    assert results.formats == {"nat": "native", "plain": "json"}
    assert [(c.key, c.format, c.passed) for c in results.cases] == [
        ("nat/t1", "native", True),
        ("plain/t1", "json", True),
    ]
    # The json case sits under the key an all-json run uses (the seed's default decoding).
    plain = results.case("plain/t1")
    key = cache_key("sha256:recorder", DecodingConfig(), plain.messages)
    assert cache.get(key) == Generation(text=json_call(*GOLD_TRACK))
    json_only = run_suite([s for s in sets if s.catalog.name == "plain"], backend, cache=cache)
    assert json_only.timing["cached_cases"] == 1.0 and len(backend.calls) == 2


def _project(root: Path) -> None:
    """A pytest project with two folders, ``nat`` (native) and ``plain``, and a replay
    file in which each folder's outputs are written in that folder's syntax."""
    folder(root / "golden", "nat", "native")
    folder(root / "golden", "plain")
    suites = root / "suites"
    suites.mkdir()
    for name in ("test_golden.py", "test_gates.py"):
        (suites / name).write_text((ROOT / "suites" / name).read_text())
    rows = [
        {"id": "nat/t1", "output": hermes_call(*GOLD_TRACK) + "<|im_end|>"},
        {"id": "nat/c1", "output": "Hello! How can I help?"},
        {"id": "plain/t1", "output": json_call(*GOLD_TRACK)},
        {"id": "plain/c1", "output": json.dumps({"tool": "no_tool", "reason": "chitchat"})},
    ]
    (root / "out.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_mixed_run_on_replays_scores_each_folder_with_its_parser(
    pytester: pytest.Pytester,
) -> None:
    _project(pytester.path)
    common = ["suites", "--rc-golden=golden", "--rc-reports-dir=reports", "-p", "no:cacheprovider"]
    mixed = pytester.runpytest_subprocess(*common, "--checkpoint=mock:out.jsonl")
    assert mixed.ret == 0, mixed.stdout.str()
    (path,) = (pytester.path / "reports").glob("*/results.json")
    results = read_results(path)
    assert (results.format, results.formats) == ("mixed", {"nat": "native", "plain": "json"})
    assert {c.key: (c.format, c.outcome.value) for c in results.cases} == {
        "nat/t1": ("native", "correct"),
        "nat/c1": ("native", "correct"),
        "plain/t1": ("json", "correct"),
        "plain/c1": ("json", "correct"),
    }
    report = (path.parent / "report.html").read_text(encoding="utf-8")
    assert "mixed (nat: native, plain: json) format" in report

    # --rc-format on the command line wins for every folder: the native answers now fail.
    forced = pytester.runpytest_subprocess(
        *common, "--checkpoint=mock:out.jsonl", "--rc-format=json", "--rc-save-baseline=forced"
    )
    assert forced.ret == 1
    (json_run,) = [
        read_results(p) for p in (pytester.path / "reports").glob("*/results.json") if p != path
    ]
    assert (json_run.format, json_run.formats) == ("json", {"nat": "json", "plain": "json"})
    assert {c.key for c in json_run.cases if not c.passed} == {"nat/t1", "nat/c1"}
    assert all(c.format == "json" for c in json_run.cases)
    warnings = compare_runs(json_run, results).warnings
    assert any(
        "output format differs: mixed (nat: native, plain: json) (baseline) -> json" in w
        for w in warnings
    )


def test_a_bad_folder_format_stops_the_run_naming_the_file(pytester: pytest.Pytester) -> None:
    _project(pytester.path)
    catalog = pytester.path / "golden" / "nat" / "catalog.json"
    catalog.write_text(json.dumps({**shop_catalog_dict(), "name": "nat", "x-format": "xml"}))
    result = pytester.runpytest_subprocess(
        "suites", "--rc-golden=golden", "--checkpoint=mock:out.jsonl", "-p", "no:cacheprovider"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*catalog.json: x-format: 'xml' is not an output format*"])


def test_mixed_results_round_trip_and_old_files_still_read(tmp_path: Path) -> None:
    folder(tmp_path / "g", "nat", "native", [TRACK_CASE])
    folder(tmp_path / "g", "plain", None, [TRACK_CASE])
    backend = Recorder()
    formats = {"nat": get_format("native", backend)}
    results = run_suite(load_golden(tmp_path / "g"), backend, formats=formats)
    back = read_results(write_results(results, tmp_path / "r.json"))
    assert back == results
    assert back.format_label == "mixed (nat: native, plain: json)"
    assert [back.format_of(c) for c in back.cases] == ["native", "json"]
    # A file written before per-folder formats: no formats map, no per-case format.
    raw = json.loads((tmp_path / "r.json").read_text())
    raw.pop("formats")
    raw["format"] = "native"
    for row in raw["cases"]:
        row.pop("format")
    (tmp_path / "old.json").write_text(json.dumps(raw))
    old = read_results(tmp_path / "old.json")
    assert old.formats == {} and old.format_label == "native"
    assert [old.format_of(c) for c in old.cases] == ["native", "native"]


# -- a mixed run on a tiny transformers model ------------------------------------------------


@pytest.fixture(scope="module")
def hermes_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scripted model that always answers track_order(ORD-1234) in <tool_call> markers."""
    pytest.importorskip("transformers")
    from tests.tinymodel import build_hermes_model

    return build_hermes_model(tmp_path_factory.mktemp("folder-formats"))


def test_mixed_run_on_a_tiny_model_decodes_and_parses_each_folder_in_its_format(
    tmp_path: Path, hermes_model: Path
) -> None:
    """The same answer, ``<tool_call>{"name": ...}</tool_call>``, passes in the native
    folder and is invalid in the json folder, whose decoding also stops at the JSON object."""
    folder(tmp_path / "g", "nat", "native", [TRACK_CASE])
    folder(tmp_path / "g", "plain", None, [TRACK_CASE])
    settings = RunSettings(
        checkpoint=str(hermes_model),
        golden=str(tmp_path / "g"),
        reports_dir=str(tmp_path / "reports"),
        max_new_tokens=8,
        no_cache=True,
    )
    session = EvaluationSession.start(settings)
    assert session.backend_format() == "native"
    results = session.run()
    assert (results.format, results.formats) == ("mixed", {"nat": "native", "plain": "json"})
    native, plain = results.case("nat/t1"), results.case("plain/t1")
    assert (native.format, native.outcome.value, native.passed) == ("native", "correct", True)
    assert native.parsed.tool == "track_order" and "</tool_call>" in native.output
    assert (plain.format, plain.passed, plain.parsed.valid) == ("json", False, False)
    assert "</tool_call>" not in plain.output  # json decoding stopped at the object's end
    assert "Respond with exactly one JSON object" in plain.messages[0]["content"]
    assert "Respond with exactly one JSON object" not in native.messages[0]["content"]


def test_a_folder_format_the_backend_cannot_produce_names_the_folder(tmp_path: Path) -> None:
    nat = folder(tmp_path / "g", "nat", "native")
    folder(tmp_path / "g", "plain")
    settings = RunSettings(
        checkpoint="openai:http://127.0.0.1:9/v1#m",
        golden=str(tmp_path / "g"),
        reports_dir=str(tmp_path / "reports"),
    )
    with pytest.raises(RoutecheckError) as err:
        EvaluationSession.start(settings)
    assert str(err.value).startswith(
        f"{nat}: the catalog declares x-format native, which this backend cannot produce "
        "(--rc-format native: the openai backend"
    )
