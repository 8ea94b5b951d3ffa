"""Store a LoRA adapter's weights in a smaller float type.

A CPU trains in float32, so a saved adapter is twice the size it needs to be: its LoRA
matrices are small corrections that float16 holds well. Loading casts them back to the
base model's dtype (PEFT merges them into float32 weights), so a converted adapter is
used exactly like the original; whether its greedy outputs changed is for the suites to
say (run both and compare, ``routecheck compare``).

Usage::

    python -m trainers.adapter_dtype routers/customer_support --dtype float16
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ADAPTER_FILE = "adapter_model.safetensors"
DTYPES = ("float16", "bfloat16", "float32")


def convert_adapter(folder: str | Path, dtype: str = "float16") -> tuple[int, int]:
    """Rewrite ``folder/adapter_model.safetensors`` with floating tensors in ``dtype``.

    The file is replaced atomically (written beside it, then renamed), so an interrupted
    conversion leaves the original. Returns the file size before and after, in bytes.
    """
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    if dtype not in DTYPES:
        raise ValueError(f"--dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    path = Path(folder) / ADAPTER_FILE
    if not path.is_file():
        raise ValueError(f"{folder}: no {ADAPTER_FILE} (is this a PEFT LoRA adapter folder?)")
    target = getattr(torch, dtype)
    tensors = {}
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
        for name in handle.keys():  # noqa: SIM118 (safe_open is not iterable)
            tensor = handle.get_tensor(name)
            tensors[name] = tensor.to(target) if tensor.is_floating_point() else tensor
    before = path.stat().st_size
    partial = path.with_name(path.name + ".partial")
    save_file(tensors, str(partial), metadata={**metadata, "format": "pt"})
    partial.replace(path)
    return before, path.stat().st_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m trainers.adapter_dtype",
        description="Store a LoRA adapter's weights as float16 (or another float type).",
    )
    parser.add_argument("adapter", help="adapter folder holding adapter_model.safetensors")
    parser.add_argument(
        "--dtype", default="float16", choices=DTYPES, help="storage type (default: float16)"
    )
    args = parser.parse_args(argv)
    try:
        before, after = convert_adapter(args.adapter, args.dtype)
    except ValueError as exc:
        print(f"adapter_dtype: error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.adapter}: {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB ({args.dtype})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
