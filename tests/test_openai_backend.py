"""The OpenAI-compatible backend against a real HTTP server on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from harness.backends import DecodingConfig, GenerationRequest, resolve_backend
from harness.backends.openai import OpenAIBackend
from harness.errors import CheckpointError


class _Handler(BaseHTTPRequestHandler):
    seen: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Handler.seen.append(body)
        user = body["messages"][-1]["content"]
        if user == "garbage":
            payload = b"not json"
        else:
            answer = {"tool": "no_tool", "reason": f"echo {user}"}
            finish = "length" if user == "long" else "stop"
            payload = json.dumps(
                {"choices": [{"message": {"content": json.dumps(answer)}, "finish_reason": finish}]}
            ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _req(i: int, text: str) -> GenerationRequest:
    return GenerationRequest(
        id=str(i), messages=[{"role": "system", "content": "s"}, {"role": "user", "content": text}]
    )


def test_generates_in_order_greedily_and_flags_truncation(server: str) -> None:
    backend = resolve_backend(f"openai:{server}#router")
    assert isinstance(backend, OpenAIBackend) and not backend.cacheable
    done: list[int] = []
    outs = backend.generate(
        [_req(i, t) for i, t in enumerate(["a", "b", "long", "c"])],
        DecodingConfig(max_new_tokens=7, batch_size=2),
        done.append,
    )
    assert [json.loads(o.text)["reason"] for o in outs] == [
        "echo a",
        "echo b",
        "echo long",
        "echo c",
    ]
    assert [o.truncated for o in outs] == [False, False, True, False]
    assert sum(done) == 4
    assert all(b["temperature"] == 0 and b["max_tokens"] == 7 for b in _Handler.seen[-4:])
    assert backend.describe()["model"] == "router"


def test_bad_answers_and_bad_specs_are_clear_errors(server: str) -> None:
    backend = OpenAIBackend(f"openai:{server}#router")
    with pytest.raises(CheckpointError, match="did not answer JSON"):
        backend.generate([_req(0, "garbage")], DecodingConfig())
    with pytest.raises(CheckpointError, match="expected openai:http"):
        OpenAIBackend("openai:localhost:8000")
    dead = OpenAIBackend("openai:http://127.0.0.1:9/v1#m", timeout=2)
    with pytest.raises(CheckpointError, match="request failed"):
        dead.generate([_req(0, "x")], DecodingConfig())
