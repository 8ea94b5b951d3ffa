"""``openai:URL#MODEL``: any server that speaks the OpenAI chat-completions API.

This is how evaluation scales past one machine: serve the checkpoint on an existing engine
(vLLM, SGLang, ``transformers serve``, llama.cpp's server) and point routecheck at it, e.g.
``--checkpoint=openai:http://127.0.0.1:8000/v1#my-router``. Requests go through the
official ``openai`` SDK: greedy (``temperature=0``), ``batch_size`` in flight, retried with
backoff on 429, 5xx and connection errors, and each cut off after a total deadline (a
server that trickles one byte a second is not waited on forever). A request that still
fails stops the run with :class:`ServerError`; nothing of it is recorded or cached. The API
key, if the server wants one, is read from ``ROUTECHECK_OPENAI_API_KEY``.

In the ``openai-tools`` format the catalog goes out as ``tools`` with
``tool_choice: "auto"`` and the raw output recorded is the assistant message as JSON text,
``{"content": ..., "tool_calls": [...]}``, which :mod:`harness.formats.openai_tools` reads.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from typing import Any

from harness.backends.base import (
    Backend,
    DecodingConfig,
    Generation,
    GenerationRequest,
    ProgressCallback,
)
from harness.backends.registry import BackendEntry, register_backend
from harness.errors import CheckpointError, RoutecheckError
from harness.hashing import sha256_hex

API_KEY_ENV = "ROUTECHECK_OPENAI_API_KEY"


class ServerError(RoutecheckError, ConnectionError):
    """The server could not be reached, or kept failing, or did not answer the API."""


def _content_text(content: Any) -> str:
    """Message content as text: never a Python repr (list parts joined, else JSON)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(
        isinstance(p, dict) and isinstance(p.get("text"), str) for p in content
    ):
        return "".join(p["text"] for p in content)
    return json.dumps(content, ensure_ascii=False)


class OpenAIBackend(Backend):
    """Chat completions over HTTP, one request per case, ``batch_size`` in flight."""

    cacheable = False

    def __init__(self, spec: str, timeout: float = 120.0, max_retries: int = 3) -> None:
        self.spec = spec
        body = spec.removeprefix("openai:")
        url, _, model = body.partition("#")
        if not url.startswith(("http://", "https://")) or not model:
            raise CheckpointError(
                f"--checkpoint {spec}: expected openai:http(s)://HOST[:PORT]/v1#MODEL, "
                "e.g. openai:http://127.0.0.1:8000/v1#my-router"
            )
        self.base_url = url.rstrip("/")
        self.url = self.base_url + "/chat/completions"
        self.model = model
        self.timeout = timeout
        self.max_retries = max_retries

    def _fail(self, what: str, hint: str) -> ServerError:
        return ServerError(
            f"--checkpoint {self.spec}: the request to {self.url} for model {self.model!r} "
            f"failed after {self.max_retries + 1} attempt(s): {what}. {hint} The run stopped; "
            "no output of this request was recorded or cached."
        )

    def _payload(self, request: GenerationRequest, config: DecodingConfig) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": list(request.messages),
            "temperature": 0,
            "max_tokens": config.max_new_tokens,
        }
        if config.format == "openai-tools":
            payload["tools"] = list(request.tools or ())
            payload["tool_choice"] = "auto"
        return payload

    async def _complete(
        self, client: Any, request: GenerationRequest, config: DecodingConfig
    ) -> Generation:
        import openai

        check = (
            f"Check that the server is running at {self.base_url} and serves {self.model!r} "
            f"(GET {self.base_url}/models)."
        )
        try:
            raw = await asyncio.wait_for(
                client.chat.completions.with_raw_response.create(**self._payload(request, config)),
                timeout=self.timeout,
            )
            body = raw.http_response.text
        except TimeoutError:
            raise self._fail(f"no complete answer within {self.timeout:g} s", check) from None
        except openai.APIStatusError as exc:
            hint = (
                "The server refused the request: check the model name and, for tools, that "
                "the server has tool calling switched on (vLLM: --enable-auto-tool-choice "
                "--tool-call-parser hermes)."
                if exc.status_code < 500 and exc.status_code != 429
                else "The server kept failing or rate-limiting; check its log and load."
            )
            message = str(getattr(exc, "message", exc))[:200]
            raise self._fail(f"HTTP {exc.status_code} ({message})", hint) from None
        except openai.APIConnectionError as exc:
            raise self._fail(f"connection failed ({exc})", check) from None
        try:
            data: Any = json.loads(body)
            choice = data["choices"][0]
            message = choice["message"]
            if not isinstance(message, dict):
                raise TypeError("message is not an object")
        except (ValueError, KeyError, IndexError, TypeError):
            raise self._fail(
                f"the server did not answer a chat completion in JSON (got {body[:120]!r})",
                "Check that the URL ends at the API root (usually /v1) of an "
                "OpenAI-compatible server.",
            ) from None
        truncated = choice.get("finish_reason") == "length"
        if config.format == "openai-tools":
            recorded = {
                "content": _content_text(message.get("content")) or None,
                "tool_calls": message.get("tool_calls") or None,
            }
            text = json.dumps(recorded, ensure_ascii=False)
        else:
            text = _content_text(message.get("content"))
        return Generation(text=text, truncated=truncated)

    async def _generate_all(
        self,
        requests: Sequence[GenerationRequest],
        config: DecodingConfig,
        progress: ProgressCallback | None,
    ) -> list[Generation]:
        import openai

        client = openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=os.environ.get(API_KEY_ENV) or "routecheck",
            timeout=self.timeout,
            max_retries=self.max_retries,
        )
        limit = asyncio.Semaphore(config.batch_size)

        async def one(request: GenerationRequest) -> Generation:
            async with limit:
                result = await self._complete(client, request, config)
            if progress is not None:
                progress(1)
            return result

        tasks = [asyncio.ensure_future(one(r)) for r in requests]
        try:
            return list(await asyncio.gather(*tasks))
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await client.close()

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        config: DecodingConfig,
        progress: ProgressCallback | None = None,
    ) -> list[Generation]:
        if not requests:
            return []
        return asyncio.run(self._generate_all(requests, config, progress))

    def fingerprint(self) -> str:
        # The weights behind a server are not visible; the endpoint and model name stand in.
        return "endpoint:" + sha256_hex(f"{self.url}#{self.model}")[:16]

    def describe(self) -> dict[str, Any]:
        return {"kind": "openai", "spec": self.spec, "url": self.url, "model": self.model}


def _load(spec: str, **options: Any) -> Backend:
    return OpenAIBackend(spec)


register_backend(
    BackendEntry(
        name="openai",
        prefix="openai:",
        load=_load,
        prevalidate=_load,  # only parses the spec; no request is sent
        formats=("json", "openai-tools"),
    )
)
