"""The OpenAI-compatible backend (official SDK) against a local fault server on loopback:
answers in both formats, retries on 429/5xx, a total deadline, garbage, and a dead port."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from harness.backends import DecodingConfig, GenerationRequest, resolve_backend
from harness.backends.openai import OpenAIBackend, ServerError
from harness.errors import CheckpointError
from harness.formats import get_format
from harness.golden import load_golden
from harness.outputcache import OutputCache
from harness.runner import RunStopped, run_suite
from tests.tinymodel import toy_catalog

NAMELESS = [{"id": "c0", "type": "function", "function": {"arguments": "{}"}}]


class _Handler(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict[str, Any]]] = []
    attempts: ClassVar[dict[str, int]] = {}

    def _send(self, status: int, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:
        # The client may give up first (the deadline tests): nothing to answer then.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._answer()

    def _answer(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Handler.seen.append(body)
        user = body["messages"][-1]["content"]
        count = _Handler.attempts[user] = _Handler.attempts.get(user, 0) + 1
        message: dict[str, Any] = {"role": "assistant", "content": json.dumps({"echo": user})}
        finish = "length" if user == "long" else "stop"
        if user == "500" or (user in ("flaky", "busy") and count == 1):
            status = 429 if user == "busy" else 503
            return self._send(status, b'{"error": {"message": "overloaded"}}')
        if user == "garbage":
            return self._send(200, b"<html>not json</html>")
        if user == "hang":
            time.sleep(5)
        if user == "trickle":  # one byte at a time: each read is quick, the whole never ends
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            for _ in range(50):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.2)
            return None
        if user == "nameless":
            message = {"role": "assistant", "content": None, "tool_calls": NAMELESS}
        if user == "parts":
            message["content"] = [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
        if user == "object":
            message["content"] = {"odd": True}
        choice = {"message": message, "finish_reason": finish}
        return self._send(200, json.dumps({"choices": [choice]}).encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Handler.attempts.clear()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _req(i: int, text: str, tools: bool = False) -> GenerationRequest:
    return GenerationRequest(
        id=str(i),
        messages=[{"role": "system", "content": "s"}, {"role": "user", "content": text}],
        tools=get_format("openai-tools").tools(toy_catalog()) if tools else None,
    )


def test_generates_in_order_greedily_in_parallel_and_flags_truncation(server: str) -> None:
    backend = resolve_backend(f"openai:{server}#router")
    assert isinstance(backend, OpenAIBackend) and not backend.cacheable
    done: list[int] = []
    texts = ["a", "b", "long", "c", "parts", "object"]
    outs = backend.generate(
        [_req(i, t) for i, t in enumerate(texts)],
        DecodingConfig(max_new_tokens=7, batch_size=2),
        done.append,
    )
    assert [json.loads(o.text)["echo"] for o in outs[:4]] == ["a", "b", "long", "c"]
    assert outs[4].text == "ab" and json.loads(outs[5].text) == {"odd": True}  # no repr
    assert [o.truncated for o in outs] == [False, False, True, False, False, False]
    assert sum(done) == len(texts)
    sent = _Handler.seen[-len(texts) :]
    assert all(b["temperature"] == 0 and b["max_tokens"] == 7 for b in sent)
    assert all("tools" not in b for b in sent)
    assert backend.describe()["model"] == "router"


def test_openai_tools_sends_the_catalog_and_records_the_message(server: str) -> None:
    backend = OpenAIBackend(f"openai:{server}#router")
    out = backend.generate(
        [_req(0, "nameless", tools=True)], DecodingConfig(format="openai-tools")
    )[0]
    body = _Handler.seen[-1]
    assert body["tool_choice"] == "auto"
    assert [t["function"]["name"] for t in body["tools"]] == ["track_order", "cancel_order"]
    assert json.loads(out.text) == {"content": None, "tool_calls": NAMELESS}
    verdict = get_format("openai-tools").parse(out.text, toy_catalog())
    assert not verdict.valid and verdict.error is not None
    assert verdict.error.value == "missing_tool" and "no function name" in verdict.detail


@pytest.mark.parametrize("user", ["flaky", "busy"])
def test_429_and_5xx_are_retried(server: str, user: str) -> None:
    backend = OpenAIBackend(f"openai:{server}#router", timeout=20, max_retries=2)
    out = backend.generate([_req(0, user)], DecodingConfig())[0]
    assert json.loads(out.text) == {"echo": user} and _Handler.attempts[user] == 2


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("500", "HTTP 503"),
        ("garbage", "did not answer a chat completion in JSON"),
        ("hang", "no complete answer within 1.5 s"),
        ("trickle", "no complete answer within 1.5 s"),
    ],
)
def test_a_request_that_keeps_failing_stops_with_one_paragraph(
    server: str, user: str, expected: str
) -> None:
    backend = OpenAIBackend(f"openai:{server}#router", timeout=1.5, max_retries=1)
    started = time.monotonic()
    with pytest.raises(ServerError) as info:
        backend.generate([_req(0, user)], DecodingConfig())
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert expected in message and server in message and "'router'" in message
    assert "no output of this request was recorded or cached" in message
    assert "\n" not in message


def test_a_failing_server_stops_the_run_and_nothing_is_cached(server: str, tmp_path: Path) -> None:
    golden = tmp_path / "golden" / "toy"
    golden.mkdir(parents=True)
    (golden / "catalog.json").write_text(json.dumps(toy_catalog().model_dump(mode="json")))
    case = {"id": "x", "category": "chitchat", "prompt": "500", "target": {"tool": "no_tool"}}
    (golden / "cases.jsonl").write_text(json.dumps(case) + "\n")
    cache = OutputCache(tmp_path / "cache")
    backend = OpenAIBackend(f"openai:{server}#router", timeout=5, max_retries=0)
    with pytest.raises(RunStopped, match=r"ServerError.*HTTP 503") as info:
        run_suite(load_golden(golden), backend, cache=cache)
    assert info.value.results.cases == [] and not info.value.results.completed
    assert not (tmp_path / "cache").exists()


def test_bad_specs_and_dead_servers_are_clear_errors() -> None:
    with pytest.raises(CheckpointError, match="expected openai:http"):
        OpenAIBackend("openai:localhost:8000")
    dead = OpenAIBackend("openai:http://127.0.0.1:9/v1#m", timeout=5, max_retries=0)
    with pytest.raises(ServerError, match=r"connection failed.*Check that the server is running"):
        dead.generate([_req(0, "x")], DecodingConfig())
