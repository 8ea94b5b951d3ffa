"""What a ``--checkpoint`` value names, decided from what is on disk, without loading it.

The one resolver of local checkpoints: the transformers backend loads what it returns, and
the session calls it (through the backend registry) to refuse a bad path before any
model is loaded. Accepted, case-insensitively for ``base``:

* ``base``: the bundled SmolLM2-135M-Instruct (see :mod:`harness.basemodel`);
* a transformers model folder (``config.json`` and weights);
* a PEFT LoRA adapter folder (``adapter_config.json``), merged into its base for speed;
* a ``.gguf`` file, or a folder holding exactly one;
* otherwise a Hub id ``org/name``, found in the local Hugging Face cache or downloaded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from harness.basemodel import BASE_MODEL_ID, bundled_gguf_path, is_base_model_id
from harness.errors import CheckpointError

CheckpointKind = Literal["base", "hf_model", "lora_adapter", "gguf", "hub"]

ACCEPTED = (
    "Accepted: base (the bundled SmolLM2-135M-Instruct), a transformers model folder "
    "(config.json + *.safetensors or pytorch_model.bin), a PEFT LoRA adapter folder "
    "(adapter_config.json + adapter weights), a .gguf file, a Hub id org/name, "
    "openai:URL#MODEL (an OpenAI-compatible server) or mock:FILE.jsonl (replayed outputs)"
)
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "tokenizer.model",
    "vocab.json",
    "merges.txt",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.jinja",
    "chat_template.json",
)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class ResolvedCheckpoint:
    """What a ``--checkpoint`` names: how to load it and which files make its fingerprint."""

    kind: CheckpointKind
    spec: str
    model_source: str  # a folder or Hub id for from_pretrained ("" for base: converted later)
    gguf_file: str | None = None
    adapter_path: Path | None = None
    tokenizer_source: str | None = None
    base_model: str | None = None
    hashed_files: tuple[Path, ...] = field(default=())


def _listing(folder: Path, limit: int = 12) -> str:
    names = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
    if not names:
        return "found: nothing"
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return "found: " + ", ".join(names[:limit]) + more


def _weight_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix in WEIGHT_SUFFIXES and not p.name.startswith("training_args")
    )


def _small_files(folder: Path, names: Iterable[str]) -> list[Path]:
    return [folder / n for n in names if (folder / n).is_file()]


def _has_tokenizer(folder: Path) -> bool:
    return (folder / "tokenizer.json").is_file() or (folder / "tokenizer_config.json").is_file()


def is_base_spec(spec: str) -> bool:
    """``base`` in any letter case, or the base model's Hub id."""
    text = spec.strip()
    return text.lower() == "base" or is_base_model_id(text)


def resolve_checkpoint(spec: str, base_model: str | None = None) -> ResolvedCheckpoint:
    """Work out what ``spec`` names from what is on disk; a clear error if it names nothing.

    ``base_model`` overrides the base an adapter's ``adapter_config.json`` names.
    """
    text = spec.strip().removeprefix("hf:")
    if not text:
        raise CheckpointError(f"--checkpoint is empty; {ACCEPTED}")
    if is_base_spec(text):
        return ResolvedCheckpoint(
            kind="base",
            spec=spec,
            model_source="",
            base_model=BASE_MODEL_ID,
            hashed_files=(bundled_gguf_path(),),
        )
    path = Path(text).expanduser()
    if path.is_file():
        if path.suffix.lower() == ".gguf":
            _check_gguf(path)
            return ResolvedCheckpoint(
                kind="gguf",
                spec=spec,
                model_source=str(path.parent),
                gguf_file=path.name,
                hashed_files=(path,),
            )
        raise CheckpointError(
            f"--checkpoint {spec}: {path} is a file but not a .gguf model. {ACCEPTED}"
        )
    if path.is_dir():
        if (path / "adapter_config.json").is_file():
            return _resolve_adapter(spec, path, base_model)
        weights = _weight_files(path)
        if (path / "config.json").is_file() and weights:
            small = _small_files(path, ("config.json", *TOKENIZER_FILES))
            return ResolvedCheckpoint(
                kind="hf_model",
                spec=spec,
                model_source=str(path),
                tokenizer_source=str(path),
                hashed_files=(*weights, *small),
            )
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1 and not (path / "config.json").is_file():
            return resolve_checkpoint(str(ggufs[0]), base_model)
        missing = "config.json but no weight files; " if (path / "config.json").is_file() else ""
        raise CheckpointError(
            f"--checkpoint {spec}: the folder {path} holds no checkpoint ({missing}"
            f"{_listing(path)}; looked for adapter_config.json, config.json with weights, "
            f"or one .gguf file). {ACCEPTED}"
        )
    if path.exists():
        raise CheckpointError(f"--checkpoint {spec}: {path} is neither a file nor a folder")
    if _HUB_ID.match(text) and not text.startswith((".", "~")):
        return ResolvedCheckpoint(kind="hub", spec=spec, model_source=text, tokenizer_source=text)
    raise CheckpointError(
        f"--checkpoint {spec}: nothing found at {path.resolve()} (no such file or folder, and "
        f"not a Hub id org/name). {ACCEPTED}"
    )


def _resolve_adapter(spec: str, folder: Path, base_model: str | None) -> ResolvedCheckpoint:
    try:
        adapter_cfg = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{folder / 'adapter_config.json'}: unreadable: {exc}") from None
    if not isinstance(adapter_cfg, dict):
        raise CheckpointError(f"{folder / 'adapter_config.json'}: not a JSON object")
    weights = _small_files(folder, ("adapter_model.safetensors", "adapter_model.bin"))
    if not weights:
        raise CheckpointError(
            f"--checkpoint {spec}: {folder} has adapter_config.json but no adapter weights "
            f"(adapter_model.safetensors or adapter_model.bin; {_listing(folder)})"
        )
    base_name = base_model or adapter_cfg.get("base_model_name_or_path")
    if not isinstance(base_name, str) or not base_name.strip():
        raise CheckpointError(
            f"--checkpoint {spec}: adapter_config.json names no base model "
            "(base_model_name_or_path); give one with --base-model"
        )
    base_path = Path(base_name).expanduser()
    if not base_path.is_absolute() and not base_path.exists() and (folder / base_name).exists():
        base_name = str(folder / base_name)
    try:
        base = resolve_checkpoint(base_name)
    except CheckpointError as exc:
        raise CheckpointError(
            f"--checkpoint {spec}: the adapter's base model {base_name!r} cannot be loaded: {exc}"
        ) from None
    if base.kind == "lora_adapter":
        raise CheckpointError(f"--checkpoint {spec}: the base {base_name!r} is itself an adapter")
    own = _small_files(folder, ("adapter_config.json", *TOKENIZER_FILES))
    return ResolvedCheckpoint(
        kind="lora_adapter",
        spec=spec,
        model_source=base.model_source,
        gguf_file=base.gguf_file,
        adapter_path=folder,
        tokenizer_source=str(folder) if _has_tokenizer(folder) else base.tokenizer_source,
        base_model=BASE_MODEL_ID if base.kind == "base" else base_name,
        hashed_files=(*weights, *own, *base.hashed_files),
    )


__all__ = ["ACCEPTED", "CheckpointKind", "ResolvedCheckpoint", "is_base_spec", "resolve_checkpoint"]


def _check_gguf(path: Path) -> None:
    """A .gguf file starts with the bytes ``GGUF``: an empty or foreign file fails now."""
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise CheckpointError(f"--checkpoint {path}: cannot be read ({exc.strerror})") from None
    if magic != b"GGUF":
        raise CheckpointError(
            f"--checkpoint {path}: not a GGUF file (it starts with {magic!r}, not b'GGUF'; "
            "an empty or partly downloaded file?); download or convert it again"
        )
