"""Fine-tune a tool router: TRL's SFTTrainer with a PEFT LoRA adapter, the seed's recipe.

Defaults are the seed's: LoRA r=16, alpha=32, dropout 0.05 on q_proj and v_proj; learning
rate 2e-4 with a cosine schedule and 3% warm-up; batch 8 x 2 accumulation; 3 epochs; the
loss on the assistant turn only; at most 1024 tokens; fp32 (this runs on CPUs). Every
setting is a field of :class:`TrainConfig` and a command-line option.

Each JSONL row is ``{"messages": [system, user, assistant]}`` (what ``trainers.datagen`` and
``routecheck feedback`` write). A row becomes a conversational prompt/completion pair
(prompt = every turn before the last, completion = the final assistant turn) and
``completion_only_loss`` puts the loss on the completion only: SmolLM2's chat template has
no generation markers, so TRL's ``assistant_only_loss`` cannot be used with it.

Each step runs the prompt prefix its rows share (the system prompt) once rather than per row
(``--share-prefix``, on by default; ``trainers.prefix``): the same loss and gradients in
about half the time on a CPU.

The output folder receives the adapter (``adapter_model.safetensors``,
``adapter_config.json``), the tokenizer and ``training.json`` (base model, data files with
sha256 fingerprints, the config, losses, wall time, step time, row count).

Usage::

    python -m trainers.sft --data data/customer_support.jsonl --output-dir routers/cs

Multi-GPU or multi-node training uses TRL's own support through accelerate, with the same
options: ``accelerate launch -m trainers.sft --data ... --output-dir ...``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.hashing import sha256_file
from harness.jsonl import read_jsonl

SAMPLING = ("random", "group_by_length")
"""The --sampling values: transformers' train_sampling_strategy names this trainer offers."""

BASE = "base"
"""The --base-model value meaning the bundled base model (``harness.basemodel``)."""


@dataclass
class TrainConfig:
    """Everything one training run depends on. Field names are the CLI options."""

    data: list[str] = field(
        default_factory=list,
        metadata={"help": "One or more JSONL files of {'messages': [system, user, assistant]}."},
    )
    output_dir: str = field(
        default="runs/sft",
        metadata={"help": "Where the adapter, tokenizer and training.json are written."},
    )
    base_model: str = field(
        default=BASE,
        metadata={
            "help": "Base model folder, or 'base' for the bundled SmolLM2-135M-Instruct "
            "(harness.basemodel.base_model_path())."
        },
    )
    base_model_name: str = field(
        default="",
        metadata={
            "help": "The name recorded as the adapter's base_model_name_or_path (default: "
            "the Hub id of the bundled base for 'base', else the --base-model value)."
        },
    )
    init_adapter: str = field(
        default="",
        metadata={
            "help": "Continue training this LoRA adapter folder instead of starting a fresh "
            "one (its own r, alpha and target modules then apply; --lora-* are ignored)."
        },
    )
    epochs: float = field(default=3.0, metadata={"help": "Number of passes over the data."})
    max_steps: int = field(
        default=-1, metadata={"help": "Stop after this many optimizer steps (-1: use epochs)."}
    )
    lr: float = field(default=2e-4, metadata={"help": "Peak learning rate."})
    lr_scheduler: str = field(
        default="cosine", metadata={"help": "Learning-rate schedule (transformers name)."}
    )
    warmup_ratio: float = field(
        default=0.03,
        metadata={"help": "Share of the steps spent warming up linearly, in [0, 1)."},
    )
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    batch_size: int = field(default=8, metadata={"help": "Examples per device per step."})
    grad_accum: int = field(
        default=2, metadata={"help": "Gradient accumulation steps per optimizer step."}
    )
    max_length: int = field(
        default=1024, metadata={"help": "Longest tokenized example; longer ones are truncated."}
    )
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling alpha."})
    lora_dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA input."})
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "v_proj"],
        metadata={"help": "Module names that get LoRA adapters, e.g. q_proj k_proj v_proj o_proj."},
    )
    seed: int = field(default=0, metadata={"help": "Seed for data order, dropout and LoRA init."})
    logging_steps: int = field(default=5, metadata={"help": "Log the loss every N steps."})
    save_strategy: str = field(
        default="no",
        metadata={
            "help": "Intermediate checkpoints: 'no' (only the final adapter), 'epoch' or "
            "'steps' (written under <output-dir>/checkpoints)."
        },
    )
    gradient_checkpointing: bool = field(
        default=False,
        metadata={"help": "Trade compute for memory (slower; rarely needed for small models)."},
    )
    save_dtype: str = field(
        default="float32",
        metadata={
            "help": "Float type the adapter's weights are stored in: float32 (as trained), "
            "float16 or bfloat16 (half the file; see trainers.adapter_dtype)."
        },
    )
    share_prefix: bool = field(
        default=True,
        metadata={
            "help": "Run the prompt prefix every row of a batch shares (the system prompt) once "
            "per step instead of once per row: same loss and gradients, about twice as fast "
            "(trainers.prefix). Single-process training only; ignored otherwise."
        },
    )
    sampling: str = field(
        default="random",
        metadata={
            "help": "Batch sampling: 'random', or 'group_by_length' (rows of similar length "
            "batched together, so less padding)."
        },
    )
    format: str = field(
        default="json",
        metadata={
            "help": "Answer format to train: json (routecheck's one-object contract) or native "
            "(rows from 'routecheck data --format native', rendered with the chat template's "
            "tool syntax, so the router can be served by an engine's tool parser)."
        },
    )
    chat_template: str = field(
        default="",
        metadata={
            "help": "Chat template to train with and save beside the adapter: hermes or a "
            ".jinja file (default: the base's own; in native format, hermes when the base's "
            "own template cannot take tools, as SmolLM2's cannot)."
        },
    )
    threads: int = field(default=0, metadata={"help": "CPU threads for torch (0: os.cpu_count())."})
    progress: bool = field(default=True, metadata={"help": "Show the progress bar with the loss."})

    def __post_init__(self) -> None:
        problems = []
        if isinstance(self.data, str):
            self.data = [self.data]
        if isinstance(self.target_modules, str):
            self.target_modules = [m for m in self.target_modules.split(",") if m]
        if not self.data:
            problems.append("--data: give at least one JSONL file")
        if self.epochs <= 0 and self.max_steps <= 0:
            problems.append("--epochs must be > 0 (or set --max-steps)")
        if self.max_steps == 0 or self.max_steps < -1:
            problems.append(f"--max-steps must be -1 or >= 1, got {self.max_steps}")
        if not self.lr > 0:
            problems.append(f"--lr must be > 0, got {self.lr}")
        if not 0 <= self.warmup_ratio < 1:
            problems.append(f"--warmup-ratio must be in [0, 1), got {self.warmup_ratio}")
        for name in ("batch_size", "grad_accum", "max_length", "lora_r", "lora_alpha"):
            if getattr(self, name) < 1:
                problems.append(f"--{name.replace('_', '-')} must be >= 1")
        if not 0 <= self.lora_dropout < 1:
            problems.append(f"--lora-dropout must be in [0, 1), got {self.lora_dropout}")
        if not self.target_modules:
            problems.append("--target-modules: name at least one module")
        if self.logging_steps < 1:
            problems.append("--logging-steps must be >= 1")
        if self.save_strategy not in ("no", "epoch", "steps"):
            problems.append(f"--save-strategy must be no, epoch or steps, not {self.save_strategy}")
        if self.save_dtype not in ("float32", "float16", "bfloat16"):
            problems.append(
                f"--save-dtype must be float32, float16 or bfloat16, not {self.save_dtype}"
            )
        if self.sampling not in SAMPLING:
            problems.append(f"--sampling must be one of {', '.join(SAMPLING)}, not {self.sampling}")
        if self.threads < 0:
            problems.append("--threads must be >= 0")
        if self.format not in ("json", "native"):
            problems.append(f"--format must be json or native, not {self.format}")
        if self.init_adapter and not (Path(self.init_adapter) / "adapter_config.json").is_file():
            problems.append(f"--init-adapter {self.init_adapter}: no adapter_config.json there")
        if problems:
            raise ValueError("; ".join(problems))


# --------------------------------------------------------------------------- CLI


def _bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    """An argparse parser with one option per TrainConfig field (``--lora-r`` etc.)."""
    parser = argparse.ArgumentParser(
        prog="python -m trainers.sft",
        description="LoRA fine-tuning of a tool router with TRL's SFTTrainer.",
    )
    hints = typing.get_type_hints(TrainConfig)
    for f in dataclasses.fields(TrainConfig):
        kind = hints[f.name]
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        help_text = f"{f.metadata['help']} (default: {default})"
        flags = [f"--{f.name.replace('_', '-')}"]
        if "_" in f.name:
            flags.append(f"--{f.name}")
        if typing.get_origin(kind) is list:
            parser.add_argument(*flags, nargs="+", default=default, help=help_text)
        elif kind is bool:
            parser.add_argument(
                *flags, type=_bool, nargs="?", const=True, default=default, help=help_text
            )
        else:
            parser.add_argument(*flags, type=kind, default=default, help=help_text)
    return parser


def parse_config(argv: list[str] | None = None) -> TrainConfig:
    args = build_parser().parse_args(argv)
    values = vars(args)
    # --target-modules q_proj,v_proj and --target-modules q_proj v_proj both work.
    values["target_modules"] = [
        m for item in values["target_modules"] for m in str(item).split(",") if m
    ]
    return TrainConfig(**values)


# --------------------------------------------------------------------------- data


def _message_ok(m: Any) -> bool:
    """A chat turn: a role and text, or an assistant turn holding tool calls."""
    if not isinstance(m, dict) or not isinstance(m.get("role"), str):
        return False
    if isinstance(m.get("content"), str):
        return True
    calls = m.get("tool_calls")
    return m["role"] == "assistant" and isinstance(calls, list) and len(calls) > 0


def _turn(m: dict[str, Any]) -> dict[str, Any]:
    if isinstance(m.get("content"), str):
        return {"role": m["role"], "content": m["content"]}
    calls = [
        {
            "type": "function",
            "function": {
                "name": str(c["function"]["name"]),
                "arguments": json.dumps(c["function"]["arguments"], ensure_ascii=False)
                if not isinstance(c["function"]["arguments"], str)
                else c["function"]["arguments"],
            },
        }
        for c in m["tool_calls"]
    ]
    return {"role": "assistant", "content": None, "tool_calls": calls}


def read_rows(paths: list[str]) -> list[dict[str, Any]]:
    """Prompt/completion rows from ``{"messages": [...]}`` JSONL, with file:line errors.

    A native row (``routecheck data --format native``) also carries ``tools``, kept as JSON
    text so that a dataset's columns have one shape whatever the tools' schemas.
    """
    rows = []
    for path in paths:
        p = Path(path)
        if not p.is_file():
            raise ValueError(f"--data {p}: file not found")
        for lineno, raw in read_jsonl(p):
            where = f"{p}:{lineno}"
            messages = raw.get("messages") if isinstance(raw, dict) else None
            if (
                not isinstance(messages, list)
                or len(messages) < 2
                or not all(_message_ok(m) for m in messages)
            ):
                raise ValueError(f"{where}: expected {{'messages': [{{role, content}}, ...]}}")
            if messages[-1]["role"] != "assistant":
                raise ValueError(f"{where}: the last message must be the assistant's answer")
            try:
                turns = [_turn(m) for m in messages]
            except (KeyError, TypeError):
                raise ValueError(
                    f"{where}: a tool call needs function.name and .arguments"
                ) from None
            row: dict[str, Any] = {"prompt": turns[:-1], "completion": turns[-1:]}
            tools = raw.get("tools")
            if tools is not None:
                if not isinstance(tools, list):
                    raise ValueError(f"{where}: 'tools' must be a list of function tools")
                row["tools"] = json.dumps(tools, ensure_ascii=False)
            rows.append(row)
    if not rows:
        raise ValueError(f"--data {' '.join(paths)}: no rows")
    return rows


# --------------------------------------------------------------------------- training


def resolve_base(config: TrainConfig) -> tuple[str, str]:
    """The folder to load and the name to record as the adapter's base."""
    if config.base_model == BASE:
        from harness.basemodel import BASE_MODEL_ID, base_model_path

        return str(base_model_path()), config.base_model_name or BASE_MODEL_ID
    return config.base_model, config.base_model_name or config.base_model


def check_row_format(rows: list[dict[str, Any]], config: TrainConfig) -> None:
    """Native training needs native rows (with tools), json training json rows."""
    native = sum(1 for r in rows if "tools" in r)
    if config.format == "native" and native < len(rows):
        raise ValueError(
            f"--format native: {len(rows) - native} of {len(rows)} rows carry no 'tools'; "
            "write the rows with 'routecheck data --format native'"
        )
    if config.format == "json" and native:
        raise ValueError(
            f"--format json: {native} of {len(rows)} rows are native rows (with 'tools'); "
            "train them with --format native"
        )


def prepare_tokenizer(tokenizer: Any, config: TrainConfig) -> str:
    """Put the chosen chat template on the tokenizer; say which one is used and why."""
    from harness.formats import FormatError
    from harness.formats.native import (
        check_tools_template,
        ensure_response_template,
        load_chat_template,
    )

    name = config.chat_template
    if name:
        tokenizer.chat_template = load_chat_template(name)
    if config.format != "native":
        return name or "own"
    try:
        check_tools_template(tokenizer, config.base_model)
    except FormatError:
        if name:
            raise
        name = "hermes"
        tokenizer.chat_template = load_chat_template(name)
        print(
            "sft: the base's chat template cannot take tools; training with the standard "
            "hermes tool template, saved beside the adapter",
            file=sys.stderr,
        )
    ensure_response_template(tokenizer, config.base_model)
    return name or "own"


def main(argv: list[str] | None = None) -> int:
    try:
        config = parse_config(argv)
        rows = read_rows(config.data)
        check_row_format(rows, config)
    except ValueError as exc:
        print(f"sft: error: {exc}", file=sys.stderr)
        return 2

    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback, set_seed
    from trl import SFTConfig, SFTTrainer  # type: ignore[attr-defined]

    started = time.monotonic()
    torch.set_num_threads(config.threads or os.cpu_count() or 1)
    set_seed(config.seed)
    base_path, base_name = resolve_base(config)
    out = Path(config.output_dir)

    tokenizer = AutoTokenizer.from_pretrained(base_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    try:
        template_used = prepare_tokenizer(tokenizer, config)
    except ValueError as exc:
        print(f"sft: error: {exc}", file=sys.stderr)
        return 2
    model: Any = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32)
    peft_config: LoraConfig | None = None
    if config.init_adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, config.init_adapter, is_trainable=True)
        # Point the adapter at the local base while training: saving then reads the base's
        # config from disk rather than looking the recorded name up on the Hub. The
        # recorded name is written back into adapter_config.json after saving.
        model.peft_config["default"].base_model_name_or_path = base_path
    dataset = Dataset.from_list(rows)

    step_times: list[float] = []

    class StepTimer(TrainerCallback):
        """Wall time of each optimizer step, to plan rows x epochs on this machine."""

        def __init__(self) -> None:
            self._t = 0.0

        def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self._t = time.monotonic()

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            step_times.append(time.monotonic() - self._t)
            if len(step_times) == 1:
                per_example = step_times[0] / (config.batch_size * config.grad_accum)
                print(
                    f"\nsft: first step {step_times[0]:.1f} s ({per_example:.2f} s per example)",
                    file=sys.stderr,
                    flush=True,
                )

    args = SFTConfig(
        output_dir=str(out / "checkpoints"),
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.lr,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        lr_scheduler_type=config.lr_scheduler,
        # transformers 5 folded warmup_ratio into warmup_steps: a float in [0, 1) is a ratio.
        warmup_steps=config.warmup_ratio,
        weight_decay=config.weight_decay,
        bf16=False,
        fp16=False,
        logging_steps=config.logging_steps,
        logging_first_step=True,
        save_strategy=config.save_strategy,
        max_length=config.max_length,
        completion_only_loss=True,
        packing=False,
        activation_checkpointing=config.gradient_checkpointing,
        dataloader_pin_memory=False,
        report_to=[],
        seed=config.seed,
        data_seed=config.seed,
        disable_tqdm=not config.progress,
        train_sampling_strategy=config.sampling,
    )
    if not config.init_adapter:
        peft_config = LoraConfig(
            r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=list(config.target_modules),
            task_type="CAUSAL_LM",
        )
    trainer_class: Any = SFTTrainer
    if config.share_prefix:
        from trainers.prefix import prefix_sharing

        trainer_class = prefix_sharing(SFTTrainer)
    trainer = trainer_class(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[StepTimer()],
    )
    peft_model: Any = trainer.model
    trainable, total = peft_model.get_nb_trainable_parameters()
    lora_now: Any = peft_model.peft_config["default"]
    print(
        f"sft: {len(rows)} rows from {len(config.data)} file(s); base {base_name}; "
        + (f"continuing {config.init_adapter}; " if config.init_adapter else "")
        + f"LoRA r={lora_now.r} on {','.join(sorted(lora_now.target_modules))}: "
        f"{trainable:,} of {total:,} parameters trainable",
        file=sys.stderr,
        flush=True,
    )
    train_started = time.monotonic()
    result = trainer.train()
    train_seconds = time.monotonic() - train_started

    trainer.save_model(str(out))
    if not trainer.is_world_process_zero():
        return 0  # under accelerate launch, the main process writes the rest
    tokenizer.save_pretrained(str(out))
    if config.save_dtype != "float32":
        from trainers.adapter_dtype import convert_adapter

        convert_adapter(out, config.save_dtype)
    checkpoints = out / "checkpoints"
    if checkpoints.is_dir() and not any(checkpoints.iterdir()):
        checkpoints.rmdir()
    for leftover in ("training_args.bin", "README.md"):
        (out / leftover).unlink(missing_ok=True)
    adapter_config = out / "adapter_config.json"
    if adapter_config.is_file():
        data = json.loads(adapter_config.read_text(encoding="utf-8"))
        data["base_model_name_or_path"] = base_name
        adapter_config.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")

    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    mean_step = sum(step_times) / len(step_times) if step_times else 0.0
    record = {
        "base_model": base_name,
        "base_model_path": base_path,
        "data": [{"path": p, "sha256": sha256_file(p)} for p in config.data],
        "rows": len(rows),
        "format": config.format,
        "chat_template": template_used,
        "config": dataclasses.asdict(config),
        "lora": {
            "r": lora_now.r,
            "lora_alpha": lora_now.lora_alpha,
            "lora_dropout": lora_now.lora_dropout,
            "target_modules": sorted(lora_now.target_modules),
        },
        "init_adapter": (
            {
                "path": config.init_adapter,
                "sha256": sha256_file(Path(config.init_adapter) / "adapter_model.safetensors"),
            }
            if config.init_adapter
            else None
        ),
        "command": "python -m trainers.sft " + " ".join(argv if argv is not None else sys.argv[1:]),
        "steps": trainer.state.global_step,
        "epochs_done": trainer.state.epoch,
        "initial_loss": losses[0] if losses else None,
        "final_loss": losses[-1] if losses else None,
        "train_loss": result.training_loss,
        "loss_history": [
            {"step": e["step"], "loss": e["loss"]} for e in trainer.state.log_history if "loss" in e
        ],
        # Micro-batches run with the shared prefix and without (None: --share-prefix off).
        "shared_prefix_batches": (
            {"shared": trainer.shared_prefix_batches, "plain": trainer.plain_batches}
            if config.share_prefix
            else None
        ),
        "seconds_per_step": round(mean_step, 3),
        "seconds_per_example": round(mean_step / (config.batch_size * config.grad_accum), 3),
        "train_seconds": round(train_seconds, 1),
        "wall_seconds": round(time.monotonic() - started, 1),
        "versions": _versions(),
    }
    (out / "training.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(
        f"sft: done in {record['wall_seconds']:.0f} s ({record['steps']} steps, "
        f"{record['seconds_per_step']:.2f} s/step); loss {record['initial_loss']} -> "
        f"{record['final_loss']}; adapter in {out}",
        file=sys.stderr,
    )
    return 0


def _versions() -> dict[str, str]:
    versions = {}
    for name in ("torch", "transformers", "trl", "peft", "datasets"):
        module = sys.modules.get(name)
        if isinstance(module, types.ModuleType):
            versions[name] = str(getattr(module, "__version__", "?"))
    return versions


if __name__ == "__main__":
    raise SystemExit(main())
