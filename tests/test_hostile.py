"""The hostile-input corpus: bad files, bad settings and bad model text, one row each.

Every row is something a user or a model did to the harness; each must end in one clear
error (file, field, value and the fix, no traceback) or in data stored exactly, never in a
crash or a silent wrong answer. Slow end-to-end statuses live in ``test_plugin.py``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.backends.base import DecodingConfig, Generation
from harness.backends.mock import MockBackend
from harness.catalog import load_catalog
from harness.errors import (
    CatalogError,
    CheckpointError,
    GoldenFileError,
    JsonlError,
    OutputDirError,
    RoutecheckError,
    SettingsError,
)
from harness.golden import load_golden
from harness.jsonl import read_jsonl
from harness.outputcache import OutputCache, cache_key
from harness.results import read_results
from harness.session import EvaluationSession
from harness.settings import RunSettings, build_settings, read_pyproject
from tests.test_runner import CASES, OUTPUTS, make_golden, make_mock


def _project(tmp: Path) -> Path:
    make_golden(tmp)
    make_mock(tmp)
    return tmp


def _start(tmp: Path, **values: Any) -> EvaluationSession:
    settings = {
        "checkpoint": f"mock:{tmp / 'outputs.jsonl'}",
        "golden": str(tmp / "golden"),
        "reports_dir": str(tmp / "reports"),
        **values,
    }
    return EvaluationSession.start(RunSettings(**settings))


def _write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


def _golden_duplicate_key(tmp: Path) -> None:
    folder = make_golden(tmp)
    line = json.dumps(CASES[0])[:-1] + ', "split": "holdout"}'
    _write(folder / "cases.jsonl", line + "\n")
    load_golden(folder)


def _latin1_catalog(tmp: Path) -> None:
    load_catalog(_write(tmp / "catalog.json", '{"name": "caf\u00e9"}'.encode("latin-1")))


def _raising_catalog_module(tmp: Path) -> None:
    load_catalog(_write(tmp / "catalog.py", "raise RuntimeError('no network here')\n"))


def _mock_truncated_string(tmp: Path) -> None:
    MockBackend(_write(tmp / "m.jsonl", '{"id": "a", "output": "x", "truncated": "false"}\n'))


def _mock_missing_case(tmp: Path) -> None:
    _project(tmp)
    session = _start(tmp)
    session._backend = MockBackend(make_mock(tmp, {k: v for k, v in OUTPUTS.items() if k != "u1"}))
    session.check_outputs()


def _reports_dir_is_a_file(tmp: Path) -> None:
    _project(tmp)
    _start(tmp, reports_dir=str(_write(tmp / "reports.txt", "")))


def _cache_dir_is_a_file(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _project(tmp)
    monkeypatch.setenv("ROUTECHECK_CACHE_DIR", str(_write(tmp / "cache.txt", "")))
    _start(tmp)


def _empty_gguf(tmp: Path) -> None:
    _project(tmp)
    _start(tmp, checkpoint=str(_write(tmp / "router.gguf", b"")))


def _bad_openai_spec(tmp: Path) -> None:
    _project(tmp)
    _start(tmp, checkpoint="openai:localhost:8000#router")


def _pyproject(tmp: Path, body: str) -> None:
    _write(tmp / "pyproject.toml", f"[tool.routecheck]\n{body}\n")
    build_settings(read_pyproject(tmp), {})


def _jsonl(tmp: Path, data: bytes) -> None:
    read_jsonl(_write(tmp / "rows.jsonl", data))


REFUSED: list[tuple[str, Callable[..., None], type[Exception], str]] = [
    # name, what is done, the error kind, what the one paragraph must say
    (
        "golden line with a key twice",
        _golden_duplicate_key,
        GoldenFileError,
        ":1: split: the key appears twice",
    ),
    ("Latin-1 catalog.json", _latin1_catalog, CatalogError, "not UTF-8 text (byte 0xe9"),
    (
        "catalog.py that raises",
        _raising_catalog_module,
        CatalogError,
        "the catalog module raised RuntimeError: no network here",
    ),
    (
        "replay truncated as a string",
        _mock_truncated_string,
        CheckpointError,
        "m.jsonl:1: field 'truncated' is 'false'",
    ),
    (
        "replay missing a case",
        _mock_missing_case,
        CheckpointError,
        "no output for 1 case(s) (shop/u1)",
    ),
    (
        "reports dir is a file",
        _reports_dir_is_a_file,
        OutputDirError,
        "choose another folder with --rc-reports-dir. Nothing was generated",
    ),
    (
        "cache dir is a file",
        _cache_dir_is_a_file,
        OutputDirError,
        "ROUTECHECK_CACHE_DIR (or skip the cache with --rc-no-cache)",
    ),
    ("empty .gguf", _empty_gguf, CheckpointError, "not a GGUF file (it starts with b''"),
    (
        "openai spec without a scheme",
        _bad_openai_spec,
        CheckpointError,
        "expected openai:http(s)://HOST",
    ),
    (
        "fail_on_regression as a string",
        lambda t: _pyproject(t, 'fail_on_regression = "false"'),
        SettingsError,
        "fail_on_regression = 'false' is a str; it must be true or false",
    ),
    (
        "golden as a number",
        lambda t: _pyproject(t, "golden = 5"),
        SettingsError,
        "golden = 5 is a int; it must be a string",
    ),
    (
        "no_cache as a number",
        lambda t: _pyproject(t, "no_cache = 1"),
        SettingsError,
        "no_cache = 1 is a int; it must be true or false",
    ),
    (
        "gate threshold as a boolean",
        lambda t: _pyproject(t, "max_false_tool_call_rate = true"),
        SettingsError,
        "is a boolean; give a rate",
    ),
    (
        "verdict not known",
        lambda t: _pyproject(t, 'verdict = "strict"'),
        SettingsError,
        "verdict = 'strict' is not accepted",
    ),
    (
        "JSONL not UTF-8",
        lambda t: _jsonl(t, b'{"a": "\xe9"}\n'),
        JsonlError,
        "rows.jsonl: byte 7 is not UTF-8",
    ),
    (
        "JSONL key twice",
        lambda t: _jsonl(t, b'{"a": 1}\n{"a": 1, "a": 2}\n'),
        JsonlError,
        "rows.jsonl:2: bad JSON (duplicate key 'a'",
    ),
    ("JSONL is a folder", lambda t: read_jsonl(t), JsonlError, "is a folder, not a JSONL file"),
]


@pytest.mark.parametrize(
    ("action", "kind", "message"),
    [pytest.param(a, k, m, id=name) for name, a, k, m in REFUSED],
)
def test_refused_with_one_paragraph(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    action: Callable[..., None],
    kind: type[Exception],
    message: str,
) -> None:
    args: list[Any] = [tmp_path]
    if "monkeypatch" in action.__code__.co_varnames[: action.__code__.co_argcount]:
        args.append(monkeypatch)
    with pytest.raises(kind) as err:
        action(*args)
    text = str(err.value)
    assert isinstance(err.value, RoutecheckError)
    assert message in text, text
    assert "\n" not in text and "Traceback" not in text


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("\ud800", id="lone-surrogate"),
        pytest.param('{"tool": "no_tool", "reason": "\ud800"}', id="surrogate-in-a-valid-call"),
        pytest.param('{"tool": "no_tool", "reason": "\\udfff\\u0000"}', id="escaped-surrogate-nul"),
        pytest.param("\x00{\x00", id="nul"),
        pytest.param("\\ud800\ud800\\", id="backslashes-and-surrogate"),
    ],
)
def test_model_text_goes_losslessly_through_a_whole_run(tmp_path: Path, text: str) -> None:
    """From a replay file through generation, parsing, results.json and the report."""
    _project(tmp_path)
    (tmp_path / "outputs.jsonl").write_text(
        "".join(
            json.dumps({"id": k, "output": text if k == "h1" else v}) + "\n"
            for k, v in OUTPUTS.items()
        )
    )
    session = _start(tmp_path, no_cache=True)
    session.run()
    assert session.files is not None and session.files.report is not None
    assert session.files.report.is_file()
    record = read_results(session.files.results).case("shop/h1")
    assert record.raw_output() == text
    has_surrogate = any("\ud800" <= ch <= "\udfff" for ch in record.raw_output())
    assert record.output_escaped == (has_surrogate or "\\ud" in text)
    assert record.parsed.reason is None or "\ud800" not in record.parsed.reason


def test_non_text_from_a_backend_is_kept_visibly(tmp_path: Path) -> None:
    from harness.runner import _stored_text

    stored, escaped = _stored_text(Generation(text=["not", "text"]))  # type: ignore[arg-type]
    assert stored == '<non-text output: ["not", "text"]>' and not escaped


def test_a_cache_entry_with_a_string_truncated_is_discarded(tmp_path: Path) -> None:
    cache = OutputCache(tmp_path)
    key = cache_key("sha256:x", DecodingConfig(), [{"role": "user", "content": "hi"}])
    cache.put(key, Generation(text="out"))
    path = next(tmp_path.rglob("*.json"))
    path.write_text(json.dumps({"key": key, "text": "out", "truncated": "false"}))
    with pytest.warns(UserWarning, match="truncated is not a boolean"):
        assert cache.get(key) is None


def test_jsonl_splits_only_on_newlines(tmp_path: Path) -> None:
    rows = [{"t": "a\u2028b\u0085c\u2029d\x0ce"}, {"t": "f"}]
    path = _write(
        tmp_path / "rows.jsonl",
        "\r\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\r\n\n",
    )
    assert read_jsonl(path) == [(1, rows[0]), (2, rows[1])]
