"""Tiny checkpoints for the transformers backend tests, built in seconds from nothing.

* :func:`build_tokenizer`: a byte-level BPE tokenizer trained on a few lines of text, with
  SmolLM2's special tokens (same ids) and chat template.
* :func:`build_tiny_model`: a random 2-layer Llama, saved as a transformers folder. Its
  weights are large enough that attention, positions and masks visibly change its outputs,
  so a padding or cache mistake shows up as a different answer.
* :func:`build_lora_adapter`: a PEFT LoRA adapter on that model, with non-zero weights.
* :func:`build_gguf`: the same model written as an f32 GGUF file, in llama.cpp's layout.
* :func:`build_scripted_model`: a model whose next token depends only on the current one,
  following a given script; it writes exact JSON so stopping can be tested end to end.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness.catalog import Catalog, catalog_from_dict

CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]  # ids 0, 1, 2 as in SmolLM2

CORPUS = [
    "You route customer-support requests to tools. Available tools:",
    "- track_order(order_id: str): Look up where an order is.",
    '- cancel_order(order_id: str, reason: str = ""): Cancel an order that has not shipped.',
    'Respond with exactly one JSON object: {"tool":"<name>","arguments":{...}}. '
    'If no tool fits, respond with {"tool":"no_tool","reason":"..."}.',
    '{"tool": "track_order", "arguments": {"order_id": "ORD-1234"}}',
    '{"tool": "no_tool", "reason": "the request names no order"}',
    "Where is my order ORD-1234? Please cancel ORD-5555, I changed my mind.",
    "hi there! What is your return policy? How long does shipping take to Canada?",
    "The quick brown fox jumps over the lazy dog 0123456789 times.",
]


def offline_cache(monkeypatch: Any, tmp_path_factory: Any) -> None:
    """Tests that load models keep routecheck's cache in the session's temp folder and never
    reach for the Hub."""
    monkeypatch.setenv("ROUTECHECK_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "rc-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def toy_catalog() -> Catalog:
    """Two tools, as the tests' requests expect."""
    return catalog_from_dict(
        {
            "name": "toy",
            "description": "You route customer-support requests to tools.",
            "tools": [
                {
                    "name": "track_order",
                    "description": "Look up where an order is.",
                    "parameters": {
                        "type": "object",
                        "properties": {"order_id": {"type": "string"}},
                        "required": ["order_id"],
                    },
                },
                {
                    "name": "cancel_order",
                    "description": "Cancel an order that has not shipped.",
                    "parameters": {
                        "type": "object",
                        "properties": {
                            "order_id": {"type": "string"},
                            "reason": {"type": "string", "default": ""},
                        },
                        "required": ["order_id"],
                    },
                },
            ],
        }
    )


def build_tokenizer(out: Path, extra_tokens: Sequence[str] = ()) -> Path:
    """Train and save a small byte-level BPE tokenizer with a chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=420,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(CORPUS, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
        unk_token="<|endoftext|>",
    )
    if extra_tokens:
        tokenizer.add_tokens(list(extra_tokens))
    tokenizer.chat_template = CHAT_TEMPLATE
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(out)
    return out


def _config(vocab_size: int) -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
        tie_word_embeddings=False,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
    )


def build_tiny_model(out: Path, tokenizer_dir: Path, seed: int = 0) -> Path:
    """A random tiny Llama with the tokenizer beside it, saved as a transformers folder."""
    from transformers import AutoTokenizer, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(_config(len(tokenizer)))
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() == 2:  # big enough that attention and positions matter
                param.normal_(0.0, 0.35 if "embed" not in name else 1.0)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def build_lora_adapter(model_dir: Path, out: Path, seed: int = 1) -> Path:
    """A LoRA adapter on ``model_dir`` whose weights really change the outputs."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    config = LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )
    with warnings.catch_warnings():  # peft calls a name transformers v5 deprecates
        warnings.simplefilter("ignore", FutureWarning)
        peft_model = get_peft_model(model, config)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_" in name:
                param.normal_(0.0, 0.5)
    peft_model.save_pretrained(out)
    cfg_path = out / "adapter_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["base_model_name_or_path"] = str(model_dir)
    cfg_path.write_text(json.dumps(cfg, indent=2))
    return out


def _permute(weights: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's row order for q/k projections (transformers undoes it when loading)."""
    rows = weights.shape[0]
    return (
        weights.reshape(n_head, 2, rows // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def build_gguf(model_dir: Path, out: Path) -> Path:
    """Write the tiny model in ``model_dir`` (and its tokenizer) as an f32 GGUF file."""
    import gguf
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    cfg = model.config
    head_dim = cfg.hidden_size // cfg.num_attention_heads
    writer = gguf.GGUFWriter(str(out), "llama")
    writer.add_name("tiny-test-model")
    writer.add_context_length(cfg.max_position_embeddings)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_block_count(cfg.num_hidden_layers)
    writer.add_feed_forward_length(cfg.intermediate_size)
    writer.add_head_count(cfg.num_attention_heads)
    writer.add_head_count_kv(cfg.num_key_value_heads)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(float(cfg.rope_parameters["rope_theta"]))
    writer.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    writer.add_vocab_size(cfg.vocab_size)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)

    data = json.loads(tokenizer.backend_tokenizer.to_str())
    vocab: dict[str, int] = dict(data["model"]["vocab"])
    for added in data["added_tokens"]:
        vocab[added["content"]] = added["id"]
    tokens = [""] * len(vocab)
    for token, index in vocab.items():
        tokens[index] = token
    special = {a["content"] for a in data["added_tokens"] if a["special"]}
    added = {a["content"] for a in data["added_tokens"] if not a["special"]}
    merges = [m if isinstance(m, str) else " ".join(m) for m in data["model"]["merges"]]
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    # llama.cpp's token types: 1 normal, 3 control (special), 4 user-defined (added)
    writer.add_token_types([3 if t in special else 4 if t in added else 1 for t in tokens])
    writer.add_token_merges(merges)
    writer.add_bos_token_id(tokenizer.bos_token_id)
    writer.add_eos_token_id(tokenizer.eos_token_id)
    writer.add_pad_token_id(tokenizer.pad_token_id)
    writer.add_unk_token_id(tokenizer.unk_token_id)
    writer.add_chat_template(tokenizer.chat_template)

    state = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    writer.add_tensor("token_embd.weight", state["model.embed_tokens.weight"])
    writer.add_tensor("output_norm.weight", state["model.norm.weight"])
    writer.add_tensor("output.weight", state["lm_head.weight"])
    names = {
        "input_layernorm": "attn_norm",
        "self_attn.q_proj": "attn_q",
        "self_attn.k_proj": "attn_k",
        "self_attn.v_proj": "attn_v",
        "self_attn.o_proj": "attn_output",
        "post_attention_layernorm": "ffn_norm",
        "mlp.gate_proj": "ffn_gate",
        "mlp.up_proj": "ffn_up",
        "mlp.down_proj": "ffn_down",
    }
    for layer in range(cfg.num_hidden_layers):
        for hf_name, gg_name in names.items():
            weights = state[f"model.layers.{layer}.{hf_name}.weight"]
            if hf_name == "self_attn.q_proj":
                weights = _permute(weights, cfg.num_attention_heads)
            elif hf_name == "self_attn.k_proj":
                weights = _permute(weights, cfg.num_key_value_heads)
            writer.add_tensor(f"blk.{layer}.{gg_name}.weight", np.ascontiguousarray(weights))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


def last_prompt_token(tokenizer_dir: Path) -> int:
    """The token every chat prompt ends with (the newline after ``assistant``)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": "x"}], add_generation_prompt=True, tokenize=True
    )["input_ids"]
    return int(ids[-1])


def build_scripted_model(out: Path, tokenizer_dir: Path, script: Sequence[str]) -> Path:
    """A model that, after any prompt, writes the tokens ``script`` names, in order.

    Its layers add nothing to the residual stream, so the next token depends only on the
    current one: the last prompt token leads to ``script[0]``, each script token to the
    next, and the last one back to ``script[0]`` unless it is EOS. Script entries must be
    distinct tokens of the tokenizer (add them with ``build_tokenizer(extra_tokens=...)``).
    """
    from transformers import AutoTokenizer, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    ids = [tokenizer.convert_tokens_to_ids(t) for t in script]
    unknown = [t for t, i in zip(script, ids, strict=True) if i is None or i == 0]
    if unknown:
        raise ValueError(f"not single tokens of the tokenizer: {unknown}")
    start = last_prompt_token(tokenizer_dir)
    chain = [start, *ids]
    if len(set(chain)) != len(chain):
        raise ValueError("script tokens must be distinct and differ from the prompt's last token")
    config = _config(len(tokenizer))
    if len(chain) > config.hidden_size:
        raise ValueError(f"a script holds at most {config.hidden_size - 1} tokens")
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        embed = model.model.embed_tokens.weight
        head = model.lm_head.weight
        head.zero_()
        for k, token in enumerate(chain):
            embed[token].zero_()
            embed[token, k] = 1.0  # one axis per scripted token: no cross-talk
            successor = chain[k + 1] if k + 1 < len(chain) else chain[1]
            head[successor, k] = 10.0
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


HERMES_CALL = '\n{"name": "track_order", "arguments": {"order_id": "ORD-1234"}}\n'
"""What :func:`build_hermes_model` always answers, between its tool-call markers."""


def build_hermes_model(root: Path) -> Path:
    """A scripted model with the Hermes tool template whose answer is always one call,
    ``track_order(order_id="ORD-1234")`` in ``<tool_call>`` markers; its tokenizer carries
    the response template, so servers and ``parse_response`` read the call back."""
    from transformers import AutoTokenizer

    from harness.formats.native import HERMES_RESPONSE_TEMPLATE, HERMES_TEMPLATE

    script = ["<tool_call>", HERMES_CALL, "</tool_call>", "<|im_end|>"]
    tokenizer_dir = build_tokenizer(root / "hermes-tokenizer", extra_tokens=script[:3])
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    tokenizer.chat_template = HERMES_TEMPLATE
    tokenizer.response_template = HERMES_RESPONSE_TEMPLATE
    tokenizer.save_pretrained(tokenizer_dir)
    return build_scripted_model(root / "hermes-model", tokenizer_dir, script)
