"""The OpenAI-compatible backend against a REAL ``transformers serve`` process on a free
port, serving a tiny scripted model with the Hermes tool template: ``openai-tools`` and
``json`` runs end to end, and a refused request. Deselect with ``-m "not server"``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from harness.backends import resolve_backend
from harness.backends.base import DecodingConfig
from harness.formats import get_format
from harness.golden import load_golden
from harness.runner import RunStopped, run_suite
from tests.tinymodel import build_hermes_model, toy_catalog

pytestmark = pytest.mark.server

CASES = [
    {"id": "t1", "category": "positive", "prompt": "Where is my order ORD-1234?",
     "target": {"tool": "track_order", "arguments": {"order_id": "ORD-1234"}}},
    {"id": "t2", "category": "positive", "prompt": "Please cancel ORD-5555",
     "target": {"tool": "cancel_order", "arguments": {"order_id": "ORD-5555"}}},
    {"id": "c1", "category": "chitchat", "prompt": "hi there!", "target": {"tool": "no_tool"}},
]  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    """``(base_url, model_dir, golden_dir)`` of a running server; stopped after the module."""
    cli = Path(sys.executable).parent / "transformers"
    if not cli.is_file():
        pytest.skip("the transformers CLI is not installed beside this Python")
    root = tmp_path_factory.mktemp("serve")
    model = build_hermes_model(root)
    golden = root / "golden" / "toy"
    golden.mkdir(parents=True)
    (golden / "catalog.json").write_text(json.dumps(toy_catalog().model_dump(mode="json")))
    (golden / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in CASES))
    port = _free_port()
    log = (root / "serve.log").open("w")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
    process = subprocess.Popen(
        [str(cli), "serve", str(model), "--device", "cpu", "--host", "127.0.0.1",
         "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.fail(f"transformers serve exited: {(root / 'serve.log').read_text()}")
            try:
                with urllib.request.urlopen(url + "/health", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"transformers serve not up: {(root / 'serve.log').read_text()}")
            time.sleep(0.5)
        yield url + "/v1", model, golden
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_openai_tools_end_to_end_against_a_real_server(served: tuple[str, Path, Path]) -> None:
    url, model, golden = served
    backend = resolve_backend(f"openai:{url}#{model}")
    results = run_suite(
        load_golden(golden),
        backend,
        DecodingConfig(max_new_tokens=8, batch_size=2),
        output_format=get_format("openai-tools"),
    )
    assert results.format == "openai-tools"
    by_id = {c.id: c for c in results.cases}
    for record in by_id.values():  # the model always calls track_order(ORD-1234)
        assert record.parsed.valid and record.parsed.tool == "track_order", record
        assert json.loads(record.output)["tool_calls"][0]["function"]["name"] == "track_order"
    assert by_id["t1"].passed and not by_id["t2"].passed and not by_id["c1"].passed
    assert by_id["c1"].outcome.value == "false_tool_call"


def test_json_format_against_the_same_server(served: tuple[str, Path, Path]) -> None:
    """No tools are sent; the server still reads the call syntax, so no JSON text comes
    back: every case is a verdict (invalid), none crashes the run."""
    url, model, golden = served
    results = run_suite(
        load_golden(golden),
        resolve_backend(f"openai:{url}#{model}"),
        DecodingConfig(max_new_tokens=8, batch_size=3),
    )
    assert results.format == "json" and len(results.cases) == len(CASES)
    assert all(not c.parsed.valid and c.parsed.error is not None for c in results.cases)


def test_a_refused_request_names_the_server_and_status(served: tuple[str, Path, Path]) -> None:
    url, _, golden = served
    backend = resolve_backend(f"openai:{url}#no-such-model")
    with pytest.raises(RunStopped, match=r"ServerError.*HTTP 400.*check the model name") as info:
        run_suite(load_golden(golden), backend, DecodingConfig(max_new_tokens=4))
    assert info.value.results.cases == [] and not info.value.results.completed


def test_a_judge_served_over_http(served: tuple[str, Path, Path], tmp_path: Path) -> None:
    """The judge path through a real server: one request per argument, every answer read as
    yes or no (the tiny model's gibberish is "no"), the same answers from a second, uncached
    round, and none asked again when the cache holds them."""
    from harness.judge import Judge
    from harness.judging import RunJudge
    from harness.outputcache import OutputCache
    from tests.judgedata import write_golden, write_router

    url, model, _ = served
    golden = load_golden(write_golden(tmp_path))
    cached: list[int] = []

    def run(cache: OutputCache | None) -> list[tuple[str, str, str]]:
        judge = RunJudge(Judge(resolve_backend(f"openai:{url}#{model}"), cache))
        results = run_suite(golden, resolve_backend(write_router(tmp_path)), judge=judge)
        assert results.completed and results.judge is not None
        assert results.judge.asked == 4 and results.judge.unavailable == 0, results.judge
        cached.append(results.judge.cached)
        return [(c.key, j.answer, j.raw) for c in results.cases for j in c.judge.values()]

    cache = OutputCache(tmp_path / "cache")
    first = run(cache)
    assert len(first) == 4 and {answer for _, answer, _ in first} <= {"yes", "no"}
    assert run(None) == first  # greedy: the same answers without the cache
    assert run(cache) == first
    assert cached == [0, 0, 4]
