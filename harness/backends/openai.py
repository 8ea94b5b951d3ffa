"""``openai:URL#MODEL``: any server that speaks the OpenAI chat-completions API.

This is how evaluation scales past one machine: serve the checkpoint on an existing engine
(vLLM, TGI, llama.cpp's server) and point routecheck at it, e.g.
``--checkpoint=openai:http://127.0.0.1:8000/v1#my-router``. Greedy decoding
(``temperature=0``); requests go out in parallel, ``batch_size`` at a time. The API key, if
the server wants one, is read from ``ROUTECHECK_OPENAI_API_KEY``.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from harness.backends.base import (
    Backend,
    DecodingConfig,
    Generation,
    GenerationRequest,
    ProgressCallback,
)
from harness.errors import CheckpointError


class OpenAIBackend(Backend):
    """Chat completions over HTTP, one request per case, ``batch_size`` in flight."""

    cacheable = False

    def __init__(self, spec: str, timeout: float = 60.0) -> None:
        self.spec = spec
        body = spec.removeprefix("openai:")
        url, _, model = body.partition("#")
        if not url.startswith(("http://", "https://")) or not model:
            raise CheckpointError(
                f"--checkpoint {spec}: expected openai:http(s)://HOST[:PORT]/v1#MODEL, "
                "e.g. openai:http://127.0.0.1:8000/v1#my-router"
            )
        self.url = url.rstrip("/") + "/chat/completions"
        self.model = model
        self.timeout = timeout

    def _complete(self, request: GenerationRequest, config: DecodingConfig) -> Generation:
        payload = {
            "model": self.model,
            "messages": list(request.messages),
            "temperature": 0,
            "max_tokens": config.max_new_tokens,
        }
        headers = {"Content-Type": "application/json"}
        key = os.environ.get("ROUTECHECK_OPENAI_API_KEY")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        req = urllib.request.Request(
            self.url, data=json.dumps(payload).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as response:
                data: Any = json.loads(response.read().decode("utf-8"))
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise CheckpointError(f"--checkpoint {self.spec}: request failed: {exc}") from None
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"{self.url}: the server did not answer JSON: {exc}") from None
        try:
            choice = data["choices"][0]
            text = choice["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise CheckpointError(
                f"{self.url}: not a chat-completions answer: {str(data)[:200]}"
            ) from None
        return Generation(text=str(text), truncated=choice.get("finish_reason") == "length")

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        config: DecodingConfig,
        progress: ProgressCallback | None = None,
    ) -> list[Generation]:
        def one(request: GenerationRequest) -> Generation:
            result = self._complete(request, config)
            if progress is not None:
                progress(1)
            return result

        with ThreadPoolExecutor(max_workers=config.batch_size) as pool:
            return list(pool.map(one, requests))

    def fingerprint(self) -> str:
        # The weights behind a server are not visible; the endpoint and model name stand in.
        blob = f"{self.url}#{self.model}".encode()
        return "endpoint:" + hashlib.sha256(blob).hexdigest()[:16]

    def describe(self) -> dict[str, Any]:
        return {"kind": "openai", "spec": self.spec, "url": self.url, "model": self.model}
