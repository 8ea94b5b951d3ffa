"""Inference benchmark: the seed's one-case-at-a-time loop against the batched backend.

On one checkpoint and one set of golden cases, in one process, it times

(a) the seed's loop: one ``model.generate`` call per case, ``max_new_tokens=128``, greedy,
    stopping only at EOS, no prefix cache;
(b) the transformers backend (batched, sorted by length, stopped when the JSON closes,
    system-prompt key/value cache reused);

and prints both throughputs and their ratio, the latency of single ``route()`` calls, the
peak memory, and how many outputs are identical ((a) cut after its JSON object closes).

    python bench/inference.py --checkpoint base --golden golden/customer_support --limit 40
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from harness.backends.base import DecodingConfig, GenerationRequest
from harness.backends.hf import HFBackend, cut_after_json, load_hf_backend
from harness.catalog import Catalog
from harness.golden import GoldenCase, load_golden
from harness.route import route

SEED_MAX_NEW_TOKENS = 128


def seed_loop(backend: HFBackend, requests: list[GenerationRequest]) -> list[str]:
    """The seed's inference: one prompt at a time, to EOS or 128 new tokens."""
    tokenizer, model = backend.tokenizer, backend.model
    texts = []
    with torch.inference_mode():
        for request in requests:
            inputs = tokenizer.apply_chat_template(
                list(request.messages),
                add_generation_prompt=True,
                return_tensors="pt",
                return_dict=True,
            )
            out = model.generate(**inputs, max_new_tokens=SEED_MAX_NEW_TOKENS, do_sample=False)
            new = out[0, inputs["input_ids"].shape[1] :]
            texts.append(tokenizer.decode(new, skip_special_tokens=True))
    return texts


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="base")
    parser.add_argument("--golden", default="golden/customer_support")
    parser.add_argument(
        "--limit", type=int, default=None, help="use N cases, spread evenly over the suite"
    )
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--route-calls", type=int, default=20)
    parser.add_argument(
        "--prefix-ablation",
        action="store_true",
        help="also time the backend with the prefix cache off (its speedup)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args(argv)

    cases: list[tuple[Catalog, GoldenCase]] = [
        (gs.catalog, case) for gs in load_golden(args.golden) for case in gs.cases
    ]
    if args.limit is not None and 0 < args.limit < len(cases):
        step = len(cases) / args.limit  # every category, not just the first file
        cases = [cases[int(i * step)] for i in range(args.limit)]
    if not cases:
        print("no golden cases", file=sys.stderr)
        return 2
    requests = [
        GenerationRequest(id=case.key, messages=case.chat(catalog.system_prompt()))
        for catalog, case in cases
    ]
    started = time.perf_counter()
    backend = load_hf_backend(args.checkpoint, threads=args.threads)
    load_s = time.perf_counter() - started
    print(f"checkpoint {args.checkpoint}: {backend.describe()['kind']}, loaded in {load_s:.1f} s")
    print(f"{len(requests)} cases from {args.golden}, {backend.threads} threads")
    with torch.inference_mode():  # warm the kernels up for both sides alike
        backend.model(input_ids=torch.tensor([[1, 2, 3]]))

    config = DecodingConfig(max_new_tokens=SEED_MAX_NEW_TOKENS, batch_size=args.batch_size)
    t0 = time.perf_counter()
    fast = backend.generate(requests, config)
    fast_s = time.perf_counter() - t0
    print(f"(b) backend: {fast_s:.1f} s, {len(requests) / fast_s:.3f} cases/s", flush=True)

    no_prefix_s = None
    if args.prefix_ablation:
        plain = HFBackend(
            backend.checkpoint, backend.model, backend.tokenizer, backend.threads, False
        )
        t0 = time.perf_counter()
        unprefixed = plain.generate(requests, config)
        no_prefix_s = time.perf_counter() - t0
        same = sum(a.text == b.text for a, b in zip(fast, unprefixed, strict=True))
        print(
            f"(b) without prefix cache: {no_prefix_s:.1f} s; prefix cache speedup "
            f"{no_prefix_s / fast_s:.2f}x; identical outputs {same}/{len(requests)}",
            flush=True,
        )

    t0 = time.perf_counter()
    seed = seed_loop(backend, requests)
    seed_s = time.perf_counter() - t0
    print(f"(a) seed loop: {seed_s:.1f} s, {len(requests) / seed_s:.3f} cases/s", flush=True)

    latencies = []
    for i in range(args.route_calls):
        catalog, case = cases[i % len(cases)]
        tools: dict[str, Any] = {name: (lambda **kw: kw) for name in catalog.tool_names}
        t0 = time.perf_counter()
        route(case.text, catalog, backend, tools, answer_directly=lambda reason: reason)
        latencies.append(time.perf_counter() - t0)

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    differing = [
        (req.id, cut_after_json(a).strip(), b.text.strip())
        for req, a, b in zip(requests, seed, fast, strict=True)
        if cut_after_json(a).strip() != b.text.strip()
    ]
    identical = 1 - len(differing) / len(requests)
    ratio = seed_s / fast_s
    print()
    print(f"throughput (a) seed loop     {len(requests) / seed_s:8.3f} cases/s")
    print(f"throughput (b) backend       {len(requests) / fast_s:8.3f} cases/s")
    print(f"speedup (b)/(a)              {ratio:8.2f}x")
    if no_prefix_s is not None:
        print(f"prefix cache speedup         {no_prefix_s / fast_s:8.2f}x")
    if latencies:
        print(
            f"route() latency              p50 {statistics.median(latencies):.2f} s, "
            f"p95 {percentile(latencies, 0.95):.2f} s over {len(latencies)} calls"
        )
    print(f"peak memory (ru_maxrss)      {peak_mib:8.0f} MiB")
    print(
        f"identical outputs            {identical:8.1%} ({len(requests) - len(differing)}/"
        f"{len(requests)})"
    )
    truncated = sum(g.truncated for g in fast)
    print(f"truncated at {SEED_MAX_NEW_TOKENS} tokens (b)    {truncated}/{len(requests)}")
    for case_id, a, b in differing:
        print(f"  differs: {case_id}\n    (a) {a[:160]!r}\n    (b) {b[:160]!r}")
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {
                    "checkpoint": args.checkpoint,
                    "cases": len(requests),
                    "threads": backend.threads,
                    "batch_size": args.batch_size,
                    "seed_seconds": seed_s,
                    "backend_seconds": fast_s,
                    "backend_no_prefix_seconds": no_prefix_s,
                    "speedup": ratio,
                    "route_p50_seconds": statistics.median(latencies) if latencies else None,
                    "route_p95_seconds": percentile(latencies, 0.95) if latencies else None,
                    "peak_rss_mib": peak_mib,
                    "identical_share": identical,
                    "differing": [c for c, _, _ in differing],
                },
                indent=2,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
