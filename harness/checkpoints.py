"""What a ``--checkpoint`` value names, decided from what is on disk, without loading it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from harness.errors import CheckpointError

CheckpointKind = Literal["mock", "openai", "base", "hf_model", "lora_adapter", "gguf", "hub"]

ACCEPTED = (
    "Accepted: base (the bundled SmolLM2-135M-Instruct), a transformers model folder "
    "(config.json + weights), a PEFT LoRA adapter folder (adapter_config.json), a .gguf "
    "file, a Hub id (org/name), openai:URL#MODEL (an OpenAI-compatible server), or "
    "mock:FILE.jsonl (replayed outputs)"
)


def detect_checkpoint(spec: str) -> tuple[CheckpointKind, str]:
    """Classify a checkpoint spec and return ``(kind, location)``; raise if it is nothing."""
    if not spec or not spec.strip():
        raise CheckpointError(f"--checkpoint is empty. {ACCEPTED}")
    if spec.startswith("mock:"):
        return "mock", spec[len("mock:") :]
    if spec.startswith("openai:"):
        return "openai", spec[len("openai:") :]
    spec = spec.removeprefix("hf:")
    if spec == "base":
        return "base", spec
    path = Path(spec).expanduser()
    if path.is_file():
        if path.suffix == ".gguf":
            return "gguf", str(path)
        raise CheckpointError(f"--checkpoint {spec}: {path} is a file but not a .gguf. {ACCEPTED}")
    if path.is_dir():
        if (path / "adapter_config.json").is_file():
            return "lora_adapter", str(path)
        if (path / "config.json").is_file():
            return "hf_model", str(path)
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return "gguf", str(ggufs[0])
        found = sorted(p.name for p in path.iterdir())[:10]
        raise CheckpointError(
            f"--checkpoint {spec}: the folder {path} holds no checkpoint "
            f"(found: {', '.join(found) if found else 'nothing'}; looked for "
            f"adapter_config.json, config.json or one .gguf file). {ACCEPTED}"
        )
    looks_like_hub_id = (
        spec.count("/") == 1 and not spec.startswith((".", "/", "~")) and not path.parent.exists()
    )
    if looks_like_hub_id:
        return "hub", spec
    raise CheckpointError(f"--checkpoint {spec}: nothing found at {path.resolve()}. {ACCEPTED}")
