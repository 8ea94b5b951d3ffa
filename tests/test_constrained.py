"""Constrained decoding: the catalog's grammar, jump-forward, the option and its refusals."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from harness.backends.base import DecodingConfig, GenerationRequest
from harness.backends.mock import MockBackend
from harness.catalog import catalog_from_dict
from harness.errors import RoutecheckError, SettingsError
from harness.grammar import GrammarError, check_constrainable, grounded_values, output_schema
from harness.outputcache import cache_key
from harness.parse import parse_tool_call
from harness.route import route
from harness.schema import validate_arguments
from harness.settings import build_settings
from tests.tinymodel import toy_catalog

GROUNDED = {"type": "string", "pattern": "ORD-[0-9]+", "x-grounded": True}


def grounded_catalog() -> Any:
    return catalog_from_dict(
        {
            "name": "grounded",
            "tools": [
                {
                    "name": "track_order",
                    "description": "Look up where an order is.",
                    "parameters": {
                        "type": "object",
                        "properties": {"order_id": GROUNDED},
                        "required": ["order_id"],
                    },
                },
                {
                    "name": "set_priority",
                    "description": "Set a priority.",
                    "parameters": {
                        "type": "object",
                        "properties": {
                            "level": {"type": "integer", "minimum": 1, "maximum": 3},
                            "urgent": {"type": "boolean"},
                        },
                        "required": ["level", "urgent"],
                    },
                },
            ],
        }
    )


# -- the grammar (no model) --------------------------------------------------------------


def test_output_schema_is_the_contract_with_closed_arguments() -> None:
    schema = output_schema(toy_catalog())
    branches = schema["anyOf"]
    assert [b["properties"]["tool"]["const"] for b in branches] == [
        "track_order",
        "cancel_order",
        "no_tool",
    ]
    # "tool" comes first: the opening {"tool":" is forced and costs no decode step
    assert all(next(iter(b["properties"])) == "tool" for b in branches)
    track = branches[0]["properties"]["arguments"]
    assert track["additionalProperties"] is False  # the loader's unevaluatedProperties
    assert "unevaluatedProperties" not in track
    assert branches[2]["properties"]["reason"] == {"type": "string"}


def test_grounded_pattern_becomes_an_enum_of_the_user_matches() -> None:
    messages = [
        {"role": "system", "content": "ORD-1 is an example"},
        {"role": "user", "content": "ORD-42 or ORD-7? I meant ORD-42"},
    ]
    schema = output_schema(grounded_catalog(), messages)
    prop = schema["anyOf"][0]["properties"]["arguments"]["properties"]["order_id"]
    assert prop == {"type": "string", "enum": ["ORD-42", "ORD-7"]}  # distinct, in order
    # no match: the pattern stays
    none = output_schema(grounded_catalog(), [{"role": "user", "content": "where is it"}])
    kept = none["anyOf"][0]["properties"]["arguments"]["properties"]["order_id"]
    assert kept == {"type": "string", "pattern": "ORD-[0-9]+"}
    # a match that breaks another keyword of the argument is no value of it
    assert grounded_values({**GROUNDED, "maxLength": 5}, "ORD-1 ORD-123") == ["ORD-1"]


@pytest.mark.parametrize(
    ("prop", "path", "feature"),
    [
        (
            {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
            "arguments.properties.tags",
            "uniqueItems",
        ),
        ({"not": {"type": "string"}}, "arguments.properties.tags", "not"),
        ({"type": "string", "pattern": "^(?=a)b"}, "arguments.properties.tags", "look-around"),
    ],
)
def test_a_feature_the_engine_lacks_is_refused_naming_tool_path_and_feature(
    prop: dict[str, Any], path: str, feature: str
) -> None:
    catalog = catalog_from_dict(
        {
            "name": "c",
            "tools": [
                {"name": "fine", "parameters": {"type": "object", "properties": {}}},
                {"name": "tagger", "parameters": {"type": "object", "properties": {"tags": prop}}},
            ],
        }
    )
    with pytest.raises(GrammarError) as err:
        check_constrainable(catalog)
    message = str(err.value)
    assert "tool 'tagger'" in message
    assert f"{path}:" in message
    assert feature in message
    assert "--rc-decoding free" in message


def test_a_ref_to_defs_is_expressed() -> None:
    catalog = catalog_from_dict(
        {
            "name": "c",
            "tools": [
                {
                    "name": "book",
                    "parameters": {
                        "type": "object",
                        "properties": {"cabin": {"$ref": "#/$defs/Cabin"}},
                        "$defs": {"Cabin": {"enum": ["eco", "biz"]}},
                    },
                }
            ],
        }
    )
    check_constrainable(catalog)  # does not raise
    schema = output_schema(catalog)
    assert schema["anyOf"][0]["properties"]["arguments"] == {"$ref": "#/$defs/tool0"}
    cabin = schema["$defs"]["tool0"]["properties"]["cabin"]
    assert cabin == {"$ref": "#/$defs/tool0/$defs/Cabin"}


# -- the option ------------------------------------------------------------------------


def test_decoding_setting_defaults_to_free_and_refuses_other_values() -> None:
    assert build_settings({}, {}).decoding == "free"
    assert build_settings({"decoding": "free"}, {"decoding": "constrained"}).decoding == (
        "constrained"
    )
    with pytest.raises(SettingsError, match="decoding = 'greedy'"):
        build_settings({}, {"decoding": "greedy"})
    with pytest.raises(ValueError, match="mode must be free or constrained"):
        DecodingConfig(mode="beam")


def test_free_cache_keys_are_unchanged_and_constrained_ones_differ() -> None:
    messages = [{"role": "user", "content": "hi"}]
    config = DecodingConfig(max_new_tokens=64)
    # the key of free decoding is computed exactly as before the mode existed
    legacy = {"do_sample": False, "max_new_tokens": 64, "format": "json"}
    from harness.hashing import sha256_hex

    expected = sha256_hex(json.dumps(["fp", legacy, messages], sort_keys=True))
    assert cache_key("fp", config, messages) == expected
    constrained = dataclasses.replace(config, mode="constrained")
    schema = output_schema(toy_catalog())
    key = cache_key("fp", constrained, messages, None, schema)
    assert key != expected
    other = output_schema(grounded_catalog())
    assert cache_key("fp", constrained, messages, None, other) != key


def test_route_refuses_constrained_on_a_replay_backend(tmp_path: Path) -> None:
    replay = tmp_path / "r.jsonl"
    replay.write_text(json.dumps({"id": "route", "output": "{}"}) + "\n", encoding="utf-8")
    backend = MockBackend(replay)
    with pytest.raises(RoutecheckError, match="cannot hold a model to a grammar"):
        route("hi", toy_catalog(), backend, tools={}, decoding="constrained")


def test_a_run_refuses_constrained_before_loading_anything(tmp_path: Path) -> None:
    from harness.session import EvaluationSession

    replay = tmp_path / "r.jsonl"
    replay.write_text("", encoding="utf-8")
    golden = str(Path(__file__).parent.parent / "golden" / "customer_support")
    common = {"golden": golden, "reports_dir": str(tmp_path / "reports")}
    mock = build_settings(common, {"checkpoint": f"mock:{replay}", "decoding": "constrained"})
    with pytest.raises(GrammarError, match=r"mock:.*cannot hold a model to a grammar"):
        EvaluationSession.start(mock)
    native = build_settings(
        common, {"checkpoint": "no/such/model", "decoding": "constrained", "format": "native"}
    )
    with pytest.raises(GrammarError, match="--rc-format native cannot be constrained"):
        EvaluationSession.start(native)


def test_results_and_report_header_record_the_decoding(tmp_path: Path) -> None:
    from harness.render.html import render_report
    from tests.reportdata import outputs_where, run, synthetic_rows

    rows = synthetic_rows(4)
    results = run(tmp_path, rows, outputs_where(rows))
    assert results.decoding["mode"] == "free"
    assert "json format · free decoding ·" in render_report(results)
    constrained = results.model_copy(
        update={"decoding": {**results.decoding, "mode": "constrained"}}
    )
    assert "json format · constrained decoding ·" in render_report(constrained)
    legacy = {k: v for k, v in results.decoding.items() if k != "mode"}
    older = results.model_copy(update={"decoding": legacy})
    assert "json format · free decoding ·" in render_report(older)


# -- the transformers backend on a tiny random model ---------------------------------------

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from harness.backends.hf import load_hf_backend
    from tests.tinymodel import build_tiny_model, build_tokenizer

    root = tmp_path_factory.mktemp("tiny-constrained")
    model = build_tiny_model(root / "model", build_tokenizer(root / "tokenizer"))
    return load_hf_backend(str(model), threads=1)


PROMPTS = [
    "Where is my order ORD-1234?",
    "hi",
    "Please cancel ORD-5555, I changed my mind.",
    "What is your return policy? How long does shipping take to Canada?",
    "track ORD-9 and ORD-10",
    "0123456789",
]


def _requests(catalog: Any) -> list[GenerationRequest]:
    out = []
    for i, prompt in enumerate(PROMPTS):
        messages = [
            {"role": "system", "content": catalog.system_prompt()},
            {"role": "user", "content": prompt},
        ]
        out.append(
            GenerationRequest(str(i), messages, output_schema=output_schema(catalog, messages))
        )
    return out


@pytest.mark.parametrize(
    ("catalog", "bound", "least"),
    [(toy_catalog(), 400, 6), (grounded_catalog(), 120, 3)],
    ids=["toy", "grounded"],
)
def test_every_output_of_a_garbage_model_is_a_valid_call(
    tiny: Any, catalog: Any, bound: int, least: int
) -> None:
    """Random weights, yet every finished output is a valid call with valid arguments. Only
    the token bound can cut one short: a string the model never closes (here, the grounded
    id of a prompt that holds none, free to be anything around a match) runs to it."""
    config = DecodingConfig(max_new_tokens=bound, batch_size=4, mode="constrained")
    outputs = tiny.generate(_requests(catalog), config)
    finished = 0
    for prompt, out in zip(PROMPTS, outputs, strict=True):
        parsed = parse_tool_call(out.text, catalog)
        if out.truncated:
            assert out.new_tokens is not None and out.new_tokens >= bound
            continue
        finished += 1
        assert parsed.valid, (out.text, parsed.detail)
        if parsed.is_tool_call:
            tool = catalog.tool(parsed.tool)
            assert validate_arguments(parsed.arguments or {}, tool.parameters) is None
            if parsed.tool == "track_order" and catalog.name == "grounded":
                assert parsed.arguments["order_id"] in prompt  # grounded: one of the prompt's
    assert finished >= least


def test_jump_forward_saves_forward_passes_and_keeps_the_text(tiny: Any) -> None:
    catalog = grounded_catalog()
    reqs = _requests(catalog)
    config = DecodingConfig(max_new_tokens=60, batch_size=4, mode="constrained")
    tiny.jump_forward = False
    try:
        before = tiny.forward_passes
        slow = tiny.generate(reqs, config)
        slow_passes = tiny.forward_passes - before
    finally:
        tiny.jump_forward = True
    before = tiny.forward_passes
    fast = tiny.generate(reqs, config)
    fast_passes = tiny.forward_passes - before
    tokens = sum(g.new_tokens or 0 for g in fast)
    assert fast_passes < slow_passes
    assert fast_passes < tokens  # forced runs are appended in one pass, not one step each
    # the same text wherever both finished (at the bound, forced runs count differently)
    pairs = zip(fast, slow, strict=True)
    both = [(f.text, s.text) for f, s in pairs if not (f.truncated or s.truncated)]
    assert len(both) >= 2
    assert all(f == s for f, s in both)


def test_the_backend_refuses_constrained_native_and_requests_without_a_grammar(
    tiny: Any,
) -> None:
    req = GenerationRequest("a", [{"role": "user", "content": "hi"}])
    with pytest.raises(ValueError, match="no output_schema"):
        tiny.generate([req], DecodingConfig(mode="constrained"))
    with pytest.raises(ValueError, match="--rc-format native cannot be constrained"):
        tiny.generate([req], DecodingConfig(mode="constrained", format="native"))


def test_route_constrained_on_the_transformers_backend(tiny: Any) -> None:
    calls: list[dict[str, Any]] = []
    tools = {
        "track_order": lambda **kw: calls.append(kw) or "on its way",
        "set_priority": lambda **kw: "set",
    }
    config = DecodingConfig(max_new_tokens=60, batch_size=1)
    result = route(
        "Where is my order ORD-1234?",
        grounded_catalog(),
        tiny,
        tools,
        config=config,
        decoding="constrained",
    )
    assert result.status == "called"
    assert result.raw == '{"tool":"track_order","arguments":{"order_id":"ORD-1234"}}'
    assert calls == [{"order_id": "ORD-1234"}]


def test_free_decoding_ignores_a_grammar_the_requests_carry(tiny: Any) -> None:
    """A request may carry its grammar into a free run (the benchmark's do): free decoding
    must neither fail for want of a matcher nor be steered by it."""
    with_grammar = _requests(toy_catalog())
    without = [dataclasses.replace(r, output_schema=None) for r in with_grammar]
    config = DecodingConfig(max_new_tokens=12, batch_size=4)
    assert [g.text for g in tiny.generate(with_grammar, config)] == [
        g.text for g in tiny.generate(without, config)
    ]
