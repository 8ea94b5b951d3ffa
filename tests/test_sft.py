"""trainers.sft on a tiny Llama with the real SmolLM2 tokenizer: loss falls, adapter reloads."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.strategies import track_order_tool
from trainers import sft

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
SYSTEM = (
    "You route customer-support requests to tools. Available tools:\n"
    "- track_order(order_id: str): get the status of an order.\n"
    "- escalate(reason: str): hand off to a human agent.\nRespond with one JSON object."
)


def _tokenizer_folder() -> Path:
    fixture = ROOT / "tests" / "fixtures" / "tokenizer"
    if (fixture / "tokenizer.json").is_file():
        return fixture
    try:
        from harness.basemodel import base_model_path

        return base_model_path(progress=False)
    except Exception as exc:  # the bundled model is an optional extra
        pytest.skip(f"no SmolLM2 tokenizer available: {exc}")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("trl")
    pytest.importorskip("peft")
    tokenizer = transformers.AutoTokenizer.from_pretrained(_tokenizer_folder())
    config = transformers.LlamaConfig(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        vocab_size=len(tokenizer),
        max_position_embeddings=512,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config)
    folder = tmp_path_factory.mktemp("tiny")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _data(path: Path) -> Path:
    rows = []
    for i in range(8):
        order = f"ORD-{1000 + i}"
        rows.append(
            {
                "messages": [
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": f"where is {order}?"},
                    {
                        "role": "assistant",
                        "content": f'{{"tool":"track_order","arguments":{{"order_id":"{order}"}}}}',
                    },
                ]
            }
        )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_a_few_steps_lower_the_loss_and_the_adapter_reloads(tiny_model, tmp_path):
    peft = pytest.importorskip("peft")
    transformers = pytest.importorskip("transformers")
    data = _data(tmp_path / "rows.jsonl")
    out = tmp_path / "adapter"
    argv = (
        f"--base-model {tiny_model} --base-model-name tiny-llama --data {data} "
        f"--output-dir {out} --max-steps 12 --batch-size 4 --grad-accum 1 --lr 1e-2 "
        "--lora-r 8 --logging-steps 1 --progress false --threads 1"
    ).split()
    assert sft.main(argv) == 0
    record = json.loads((out / "training.json").read_text())
    assert record["final_loss"] < record["initial_loss"]
    assert record["rows"] == 8 and record["steps"] == 12
    assert record["data"] == [
        {"path": str(data), "sha256": "sha256:" + hashlib.sha256(data.read_bytes()).hexdigest()}
    ]
    assert record["config"]["lora_r"] == 8
    assert record["config"]["target_modules"] == ["q_proj", "v_proj"]
    assert record["base_model"] == "tiny-llama"
    assert record["seconds_per_step"] > 0 and record["wall_seconds"] > 0

    adapter_config = json.loads((out / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == "tiny-llama"
    assert (out / "adapter_model.safetensors").is_file()
    assert (out / "tokenizer.json").is_file()
    base = transformers.AutoModelForCausalLM.from_pretrained(tiny_model)
    model = peft.PeftModel.from_pretrained(base, out)
    lora = [n for n, _ in model.named_parameters() if "lora_B" in n]
    assert lora and any(p.abs().sum() > 0 for n, p in model.named_parameters() if "lora_B" in n)

    # A later round continues the same adapter (the feedback loop's retraining).
    again = tmp_path / "round1"
    argv2 = (
        f"--base-model {tiny_model} --base-model-name tiny-llama --data {data} "
        f"--output-dir {again} --init-adapter {out} --max-steps 2 --batch-size 4 "
        "--logging-steps 1 --progress false --threads 1"
    ).split()
    assert sft.main(argv2) == 0
    record2 = json.loads((again / "training.json").read_text())
    assert record2["init_adapter"]["path"] == str(out)
    assert record2["lora"]["r"] == 8  # the adapter's own settings, not the defaults
    assert record2["initial_loss"] < record["initial_loss"]
    assert lora and any(p.abs().sum() > 0 for n, p in model.named_parameters() if "lora_B" in n)


def test_defaults_are_the_seed_recipe():
    config = sft.parse_config(["--data", "x.jsonl"])
    assert (config.lora_r, config.lora_alpha, config.lora_dropout) == (16, 32, 0.05)
    assert config.target_modules == ["q_proj", "v_proj"]
    assert (config.lr, config.lr_scheduler, config.warmup_ratio) == (2e-4, "cosine", 0.03)
    assert (config.batch_size, config.grad_accum, config.epochs) == (8, 2, 3.0)
    assert config.max_length == 1024
    assert config.base_model == "base"


def test_every_field_is_an_option_with_help():
    import dataclasses

    parser = sft.build_parser()
    options = {opt for action in parser._actions for opt in action.option_strings}
    for f in dataclasses.fields(sft.TrainConfig):
        assert f.metadata.get("help"), f.name
        assert f"--{f.name.replace('_', '-')}" in options
    config = sft.parse_config(
        [
            "--data",
            "a.jsonl",
            "b.jsonl",
            "--target-modules",
            "q_proj,k_proj",
            "o_proj",
            "--epochs",
            "1",
            "--lr",
            "1e-3",
            "--lora-r",
            "4",
        ]
    )
    assert config.data == ["a.jsonl", "b.jsonl"]
    assert config.target_modules == ["q_proj", "k_proj", "o_proj"]
    assert (config.epochs, config.lr, config.lora_r) == (1.0, 1e-3, 4)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"data": []}, "--data"),
        ({"lr": 0.0}, "--lr"),
        ({"warmup_ratio": 1.0}, "--warmup-ratio"),
        ({"lora_r": 0}, "--lora-r"),
        ({"max_steps": 0}, "--max-steps"),
        ({"save_strategy": "sometimes"}, "--save-strategy"),
        ({"save_dtype": "int8"}, "--save-dtype"),
    ],
)
def test_bad_settings_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        sft.TrainConfig(**{"data": ["x.jsonl"], **change})


def test_bad_data_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    assert sft.main(["--data", str(bad), "--output-dir", str(tmp_path / "o")]) == 2
    assert "bad.jsonl:1" in capsys.readouterr().err


def test_float16_adapter_halves_the_file_and_merges_to_the_same_model(tiny_model, tmp_path):
    """--save-dtype float16 stores half-size weights that load into the float32 base."""
    torch = pytest.importorskip("torch")
    peft = pytest.importorskip("peft")
    transformers = pytest.importorskip("transformers")
    from safetensors import safe_open

    from trainers.adapter_dtype import convert_adapter

    data = _data(tmp_path / "rows.jsonl")
    full = tmp_path / "fp32"
    common = (
        f"--base-model {tiny_model} --data {data} --max-steps 3 --batch-size 4 --lr 1e-2 "
        "--progress false --threads 1 --seed 3"
    )
    assert sft.main([*common.split(), "--output-dir", str(full)]) == 0
    half = tmp_path / "fp16"
    assert sft.main([*common.split(), "--output-dir", str(half), "--save-dtype", "float16"]) == 0
    assert json.loads((half / "training.json").read_text())["config"]["save_dtype"] == "float16"

    with safe_open(str(half / "adapter_model.safetensors"), framework="pt") as handle:
        dtypes = {handle.get_tensor(k).dtype for k in handle.keys()}  # noqa: SIM118
    assert dtypes == {torch.float16}
    size_full = (full / "adapter_model.safetensors").stat().st_size
    size_half = (half / "adapter_model.safetensors").stat().st_size
    assert size_half < 0.6 * size_full

    ids = torch.tensor([[1, 5, 9, 42, 7]])
    logits = []
    for folder in (full, half):
        base = transformers.AutoModelForCausalLM.from_pretrained(tiny_model)
        merged = peft.PeftModel.from_pretrained(base, folder).merge_and_unload()
        assert next(merged.parameters()).dtype == torch.float32
        with torch.no_grad():
            logits.append(merged(ids).logits)
    assert torch.allclose(logits[0], logits[1], atol=1e-3)

    # Converting a folder without an adapter is a clear error; nothing is written.
    with pytest.raises(ValueError, match=r"no adapter_model\.safetensors"):
        convert_adapter(tmp_path / "rows-only")


def test_trained_adapter_is_evaluated_by_the_suites(tiny_model, tmp_path, pytester):
    """The trainer's output loads through --checkpoint and the suites give it a verdict."""
    import shutil

    data = _data(tmp_path / "rows.jsonl")
    out = tmp_path / "adapter"
    argv = (
        f"--base-model {tiny_model} --base-model-name tiny-llama --data {data} "
        f"--output-dir {out} --max-steps 2 --batch-size 4 --progress false --threads 1"
    ).split()
    assert sft.main(argv) == 0
    shutil.copytree(ROOT / "suites", pytester.path / "suites")
    golden = pytester.path / "golden"
    golden.mkdir()
    (golden / "catalog.json").write_text(
        json.dumps(
            {
                "name": "shop",
                "description": "You route customer-support requests to tools.",
                "tools": [track_order_tool()],
            }
        )
    )
    cases = [
        {
            "id": "p1",
            "category": "positive",
            "prompt": "where is ORD-7?",
            "target": {"tool": "track_order", "arguments": {"order_id": "ORD-7"}},
        },
        {"id": "c1", "category": "chitchat", "prompt": "hi", "target": {"tool": "no_tool"}},
    ]
    (golden / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    result = pytester.runpytest_subprocess(
        "suites/test_golden.py",
        f"--checkpoint={out}",
        f"--rc-base-model={tiny_model}",
        "--rc-golden=golden",
        "--rc-reports-dir=reports",
        "--rc-no-cache",
        "--rc-max-new-tokens=8",
        "-p",
        "no:cacheprovider",
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) + outcomes.get("failed", 0) == 2, result.stdout.str()
    (found,) = sorted((pytester.path / "reports").glob("*/results.json"))
    from harness.results import read_results

    results = read_results(found)
    assert results.checkpoint.details["kind"] == "lora_adapter"
    assert len(results.cases) == 2


def test_native_format_round_trip_train_then_evaluate(tiny_model, tmp_path):
    """Rows in the native format train an adapter that carries the tool template it was
    trained with; evaluated in the native format, it is prompted exactly as it was trained."""
    pytest.importorskip("peft")
    from harness.backends import resolve_backend
    from harness.backends.base import DecodingConfig
    from harness.catalog import catalog_from_dict
    from harness.formats import get_format
    from harness.formats.native import HERMES_TEMPLATE, native_row
    from harness.golden import load_golden
    from harness.runner import run_suite

    catalog = catalog_from_dict(
        {"name": "shop", "description": "You route shop requests.", "tools": [track_order_tool()]}
    )
    json_rows = [
        json.loads(line) for line in _data(tmp_path / "json.jsonl").read_text().split("\n") if line
    ]
    rows = [native_row(r["messages"], catalog) for r in json_rows]
    rows.append(
        native_row(
            [
                *json_rows[0]["messages"][:2],
                {"role": "assistant", "content": '{"tool":"no_tool","reason":"no order"}'},
            ],
            catalog,
        )
    )
    data = tmp_path / "native.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "native-adapter"
    argv = (
        f"--base-model {tiny_model} --data {data} --output-dir {out} --format native "
        "--max-steps 6 --batch-size 3 --grad-accum 1 --lr 1e-2 --lora-r 4 "
        "--logging-steps 1 --progress false --threads 1"
    ).split()
    assert sft.main(argv) == 0
    record = json.loads((out / "training.json").read_text())
    assert record["format"] == "native" and record["chat_template"] == "hermes"
    assert record["final_loss"] < record["initial_loss"]
    saved = json.loads((out / "tokenizer_config.json").read_text())
    assert saved.get("response_template") is not None

    golden = tmp_path / "golden" / "shop"
    golden.mkdir(parents=True)
    (golden / "catalog.json").write_text(json.dumps(catalog.model_dump(mode="json")))
    cases = [
        {"id": "p1", "category": "positive", "prompt": "where is ORD-1003?",
         "target": {"tool": "track_order", "arguments": {"order_id": "ORD-1003"}}},
        {"id": "c1", "category": "chitchat", "prompt": "hello", "target": {"tool": "no_tool"}},
    ]  # fmt: skip
    (golden / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    backend = resolve_backend(str(out), output_format="native", threads=1)
    assert backend.tokenizer.chat_template == HERMES_TEMPLATE  # no --rc-chat-template needed
    fmt = get_format("native", backend)
    results = run_suite(
        load_golden(golden), backend, DecodingConfig(max_new_tokens=24), output_format=fmt
    )
    assert results.format == "native" and len(results.cases) == 2
    assert all(c.parsed.valid or c.parsed.error is not None for c in results.cases)
    # The evaluation prompt is the training prompt: same template, system prompt and tools.
    trained = backend.tokenizer.apply_chat_template(
        rows[3]["messages"][:-1], tools=rows[3]["tools"], add_generation_prompt=True,
        tokenize=False,
    )  # fmt: skip
    request = results.case("shop/p1").messages
    evaluated = backend.tokenizer.apply_chat_template(
        request, tools=list(fmt.tools(catalog) or ()), add_generation_prompt=True, tokenize=False
    )
    assert evaluated == trained
    assert "<tools>" in evaluated and '"name": "track_order"' in evaluated


def test_native_training_refuses_json_rows(tmp_path):
    data = _data(tmp_path / "rows.jsonl")
    assert sft.main(["--data", str(data), "--format", "native", "--output-dir", str(tmp_path)]) == 2
