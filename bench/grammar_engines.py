"""Grammar engines on this CPU: what a schema-constrained step costs in each.

For the customer-support catalog's output grammar (compact JSON, every tool's call or
``no_tool``) on the SmolLM2 tokenizer (49,152 tokens), each engine compiles the grammar,
then walks a few reference outputs token by token: before each token it computes the
allowed-token mask (what constrained decoding pays on every decode step), then accepts
the token. Prints the compile time and the mean and p90 mask time per token.

    python bench/grammar_engines.py --tokenizer routers/customer_support

xgrammar is optional here (``pip install --no-deps xgrammar apache-tvm-ffi``: its own
requirements pull in triton); llguidance is routecheck's dependency.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from transformers import AutoTokenizer

from harness.catalog import load_catalog
from harness.grammar import output_schema

OUTPUTS = [
    '{"tool":"track_order","arguments":{"order_id":"ORD-4410"}}',
    '{"tool":"request_refund","arguments":{"order_id":"ORD-7782","reason":"arrived damaged"}}',
    '{"tool":"escalate","arguments":{"reason":"customer asks for a manager"}}',
    '{"tool":"no_tool","reason":"greeting, no action needed"}',
]


def _stats(name: str, compile_s: float, times: list[float]) -> dict[str, Any]:
    ordered = sorted(times)
    return {
        "engine": name,
        "compile_ms": round(compile_s * 1000, 1),
        "mask_us_mean": round(statistics.mean(times) * 1e6, 1),
        "mask_us_p90": round(ordered[int(0.9 * (len(ordered) - 1))] * 1e6, 1),
        "tokens": len(times),
    }


def bench_llguidance(tokenizer: Any, schema: dict[str, Any], rounds: int) -> dict[str, Any]:
    import llguidance
    import llguidance.hf
    import numpy as np

    lltok = llguidance.hf.from_tokenizer(tokenizer)
    started = time.perf_counter()
    grammar = llguidance.LLMatcher.grammar_from_json_schema(
        schema, overrides={"whitespace_flexible": False}
    )
    matcher = llguidance.LLMatcher(lltok, grammar, log_level=0)
    compiled = time.perf_counter() - started
    mask = np.zeros(((lltok.vocab_size + 31) // 32,), dtype=np.int32)
    times: list[float] = []
    for _ in range(rounds):
        for text in OUTPUTS:
            matcher.reset()
            for token in tokenizer.encode(text, add_special_tokens=False):
                t0 = time.perf_counter()
                matcher.unsafe_compute_mask_ptr(mask.ctypes.data, mask.nbytes)
                times.append(time.perf_counter() - t0)
                if not matcher.consume_token(token):
                    raise SystemExit(f"llguidance refused {text!r}: {matcher.get_error()}")
    return _stats(f"llguidance {version('llguidance')}", compiled, times)


def bench_xgrammar(tokenizer: Any, schema: dict[str, Any], rounds: int) -> dict[str, Any]:
    import xgrammar

    info = xgrammar.TokenizerInfo.from_huggingface(tokenizer)
    started = time.perf_counter()
    compiler = xgrammar.GrammarCompiler(info)
    compiled = compiler.compile_json_schema(
        json.dumps(schema), any_whitespace=False, separators=(",", ":")
    )
    matcher = xgrammar.GrammarMatcher(compiled)
    compile_s = time.perf_counter() - started
    mask = xgrammar.allocate_token_bitmask(1, info.vocab_size)
    times: list[float] = []
    for _ in range(rounds):
        for text in OUTPUTS:
            matcher.reset()
            for token in tokenizer.encode(text, add_special_tokens=False):
                t0 = time.perf_counter()
                matcher.fill_next_token_bitmask(mask)
                times.append(time.perf_counter() - t0)
                if not matcher.accept_token(token):
                    raise SystemExit(f"xgrammar refused {text!r}")
    return _stats(f"xgrammar {version('xgrammar')}", compile_s, times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokenizer", default="routers/customer_support")
    parser.add_argument("--catalog", default="golden/customer_support")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    schema = output_schema(load_catalog(args.catalog))
    for bench in (bench_llguidance, bench_xgrammar):
        try:
            print(json.dumps(bench(tokenizer, schema, args.rounds)))
        except ImportError as exc:
            print(json.dumps({"engine": bench.__name__, "error": f"not installed: {exc}"}))


if __name__ == "__main__":
    main()
