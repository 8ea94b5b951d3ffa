"""route(): one request through a (replayed) model, dispatched to the caller's functions."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from harness.backends.base import DecodingConfig, Generation, GenerationRequest, ProgressCallback
from harness.backends.mock import MockBackend
from harness.catalog import catalog_from_dict
from harness.parse import ErrorKind
from harness.route import ROUTE_REQUEST_ID, RouteResult, route

CATALOG = catalog_from_dict(
    {
        "name": "shop",
        "description": "You route shop requests.",
        "tools": [
            {
                "name": "track_order",
                "description": "Where an order is.",
                "parameters": {
                    "type": "object",
                    "properties": {"order_id": {"type": "string"}},
                    "required": ["order_id"],
                },
            },
            {
                "name": "cancel_order",
                "description": "Cancel an order.",
                "parameters": {
                    "type": "object",
                    "properties": {"order_id": {"type": "string"}},
                    "required": ["order_id"],
                },
            },
        ],
    }
)


def replay(tmp_path: Path, output: str) -> MockBackend:
    path = tmp_path / "replay.jsonl"
    path.write_text(json.dumps({"id": ROUTE_REQUEST_ID, "output": output}) + "\n")
    return MockBackend(path)


def test_a_valid_call_runs_the_tool(tmp_path: Path) -> None:
    backend = replay(tmp_path, '{"tool": "track_order", "arguments": {"order_id": "ORD-1"}}')
    calls: list[str] = []

    def track_order(order_id: str) -> str:
        calls.append(order_id)
        return f"{order_id} is in transit"

    result = route("Where is ORD-1?", CATALOG, backend, {"track_order": track_order})
    assert isinstance(result, RouteResult)
    assert result.status == "called" and result.tool == "track_order"
    assert result.arguments == {"order_id": "ORD-1"}
    assert result.value == "ORD-1 is in transit" and calls == ["ORD-1"]
    assert result.parse.valid and result.raw.startswith("{")


def test_no_tool_goes_to_answer_directly(tmp_path: Path) -> None:
    backend = replay(tmp_path, '{"tool": "no_tool", "reason": "small talk"}')
    result = route("hi!", CATALOG, backend, {}, answer_directly=lambda r: f"answer: {r}")
    assert result.status == "no_tool" and result.value == "answer: small talk"
    assert result.tool is None and result.parse.reason == "small talk"
    assert route("hi!", CATALOG, backend, {}).value is None  # no answer_directly given


@pytest.mark.parametrize(
    ("output", "kind"),
    [
        ("Sure! I will track it.", ErrorKind.NOT_JSON),
        ('{"tool": "delete_everything", "arguments": {}}', ErrorKind.UNKNOWN_TOOL),
        ('{"tool": "track_order", "arguments": {}}', ErrorKind.MISSING_ARGUMENT),
    ],
)
def test_invalid_output_is_returned_not_called(
    tmp_path: Path, output: str, kind: ErrorKind
) -> None:
    def explode(**kwargs: Any) -> None:
        raise AssertionError("an invalid output must call nothing")

    tools = {"track_order": explode, "cancel_order": explode}
    result = route("do it", CATALOG, replay(tmp_path, output), tools, answer_directly=explode)
    assert result.status == "invalid" and result.value is None
    assert result.parse.error == kind and result.parse.detail
    assert result.raw == output


def test_a_tool_without_a_function_is_a_key_error(tmp_path: Path) -> None:
    backend = replay(tmp_path, '{"tool": "cancel_order", "arguments": {"order_id": "ORD-2"}}')
    with pytest.raises(KeyError, match="cancel_order"):
        route("cancel ORD-2", CATALOG, backend, {"track_order": print})


class Recorder(MockBackend):
    """A replay backend that also keeps what it was asked."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.seen: list[tuple[list[GenerationRequest], DecodingConfig]] = []

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        config: DecodingConfig,
        progress: ProgressCallback | None = None,
    ) -> list[Generation]:
        self.seen.append((list(requests), config))
        return super().generate(requests, config, progress)


def test_the_model_sees_system_prompt_then_request(tmp_path: Path) -> None:
    replay(tmp_path, '{"tool": "no_tool", "reason": "x"}')
    backend = Recorder(tmp_path / "replay.jsonl")
    route("hello", CATALOG, backend, {}, config=DecodingConfig(max_new_tokens=7))
    ((requests, config),) = backend.seen
    (request,) = requests
    assert request.id == ROUTE_REQUEST_ID
    assert list(request.messages) == [
        {"role": "system", "content": CATALOG.system_prompt()},
        {"role": "user", "content": "hello"},
    ]
    assert config.max_new_tokens == 7


def test_route_in_the_native_format(tmp_path: Path) -> None:
    """The model answers in its own syntax; the call is read back and dispatched."""
    from harness.formats import get_format

    answer = (
        '<tool_call>\n{"name": "cancel_order", "arguments": {"order_id": "ORD-9"}}\n</tool_call>'
    )
    backend = replay(tmp_path, answer)
    seen: list[str] = []
    result = route(
        "cancel ORD-9",
        CATALOG,
        backend,
        tools={"track_order": print, "cancel_order": lambda order_id: seen.append(order_id)},
        output_format=get_format("native", backend),
    )
    assert result.status == "called" and result.tool == "cancel_order" and seen == ["ORD-9"]
    text = route("hi", CATALOG, replay(tmp_path, "Hello! How can I help?"), tools={},
                 output_format=get_format("native", backend))  # fmt: skip
    assert text.status == "no_tool" and text.parse.reason == "Hello! How can I help?"
