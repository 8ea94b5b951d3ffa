"""int8 against fp32 on one checkpoint: time per decode step, and agreement on golden cases.

Loads the checkpoint twice, the second copy with every ``nn.Linear`` in dynamic int8
(``torch.ao.quantization.quantize_dynamic``), times one greedy decode step of a single
sequence at the context of the longest prompt, then generates the selected cases with both
and compares the raw outputs (identical text) and the verdicts (same outcome and same
predicted tool). The fp32 outputs go through the output cache like a run's (a cached fp32
run costs nothing); int8 outputs are never cached. routecheck does not offer int8: this
script is how that decision was measured.

    python bench/quantize.py --checkpoint routers/customer_support \\
        --golden golden/customer_support --split dev --json quantize.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from bench.inference import Progress, peak_mib
from harness.backends.base import Backend, DecodingConfig, GenerationRequest
from harness.backends.hf import HFBackend, load_hf_backend
from harness.golden import load_golden
from harness.hfcompat import CACHE_KEYWORD
from harness.outputcache import OutputCache, default_cache_dir, generate_cached
from harness.scoring import parse_output, score_case


class Int8Backend(HFBackend):
    """The backend on an int8 copy of the model; uncached, since its outputs are not the
    checkpoint's (and depend on their batch mates: an activation's scale spans the batch)."""

    cacheable = False


def int8_backend(fp32: HFBackend, spec: str, threads: int | None) -> HFBackend:
    """A second fp32 load of ``spec``, its linear layers quantized to dynamic int8."""
    fresh = load_hf_backend(spec, threads=threads)
    with warnings.catch_warnings():  # torch.ao quantization is deprecated in favour of torchao
        warnings.simplefilter("ignore")
        model = torch.ao.quantization.quantize_dynamic(
            fresh.model, {torch.nn.Linear}, dtype=torch.qint8
        )
    return Int8Backend(fresh.checkpoint, model, fresh.tokenizer, fp32.threads)


def step_ms(backend: HFBackend, prompt: list[int], steps: int = 16) -> float:
    """The median time of one decode step (batch of one) after ``prompt``, in ms."""
    model = backend.model
    times = []
    with torch.inference_mode():
        out = model(input_ids=torch.tensor([prompt]), use_cache=True)
        for _ in range(steps):
            token = out.logits[:, -1].argmax(-1, keepdim=True)
            cache = getattr(out, CACHE_KEYWORD)
            t0 = time.perf_counter()
            out = model(input_ids=token, use_cache=True, **{CACHE_KEYWORD: cache})
            times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--checkpoint", default="routers/customer_support")
    parser.add_argument("--golden", default="golden/customer_support")
    parser.add_argument("--split", default="dev", help="golden split (dev, holdout...)")
    parser.add_argument("--limit", type=int, default=None, help="N cases spread over the split")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args(argv)

    sets = load_golden(args.golden)
    cases = [(gs.catalog, c) for gs in sets for c in gs.cases if c.split == args.split]
    if args.limit is not None and 0 < args.limit < len(cases):
        step = len(cases) / args.limit
        cases = [cases[int(i * step)] for i in range(args.limit)]
    if not cases:
        print(f"no {args.split} cases in {args.golden}", file=sys.stderr)
        return 2
    requests = [
        GenerationRequest(id=c.key, messages=c.chat(cat.system_prompt())) for cat, c in cases
    ]
    config = DecodingConfig(batch_size=args.batch_size)
    fp32 = load_hf_backend(args.checkpoint, threads=args.threads)
    int8 = int8_backend(fp32, args.checkpoint, args.threads)
    prompt = max((fp32.encode(r.messages) for r in requests), key=len)
    timing = {"context_tokens": len(prompt), "fp32_ms": step_ms(fp32, prompt)}
    timing["int8_ms"] = step_ms(int8, prompt)
    print(
        f"decode step at {len(prompt)} tokens: fp32 {timing['fp32_ms']:.1f} ms, "
        f"int8 {timing['int8_ms']:.1f} ms"
    )

    outputs: dict[str, list[str]] = {}
    seconds: dict[str, float] = {}
    pair: tuple[tuple[str, Backend], ...] = (("fp32", fp32), ("int8", int8))
    for name, backend in pair:
        t0 = time.perf_counter()
        gens, _ = generate_cached(
            backend,
            requests,
            config,
            OutputCache(default_cache_dir()),
            Progress(name, len(requests)),
        )
        seconds[name] = time.perf_counter() - t0
        outputs[name] = [g.text for g in gens]
    verdicts: dict[str, list[Any]] = {
        name: [
            score_case(c, parse_output(t, c, cat), cat)
            for (cat, c), t in zip(cases, texts, strict=True)
        ]
        for name, texts in outputs.items()
    }
    same_text = sum(a == b for a, b in zip(outputs["fp32"], outputs["int8"], strict=True))
    pairs = list(zip(verdicts["fp32"], verdicts["int8"], strict=True))
    same_verdict = sum(a.outcome == b.outcome and a.predicted == b.predicted for a, b in pairs)
    flipped = [a.key for a, b in pairs if a.passed != b.passed]
    n = len(cases)
    passed = {name: sum(v.passed for v in vs) for name, vs in verdicts.items()}
    print(f"{n} {args.split} cases, batch {args.batch_size}")
    print(f"identical outputs   {same_text}/{n}")
    print(f"same verdict        {same_verdict}/{n} (outcome and predicted tool)")
    print(f"passed              fp32 {passed['fp32']}/{n}, int8 {passed['int8']}/{n}")
    print(f"pass/fail flipped   {len(flipped)}: {', '.join(flipped) or '-'}")
    print(
        f"int8 generation     {seconds['int8']:.1f} s (fp32 {seconds['fp32']:.1f} s, maybe cached)"
    )
    print(f"peak memory         {peak_mib():.0f} MiB (both models loaded)")
    if args.json is not None:
        payload = {
            "checkpoint": args.checkpoint,
            "split": args.split,
            "cases": n,
            "batch_size": args.batch_size,
            "step": timing,
            "identical_outputs": same_text,
            "same_verdict": same_verdict,
            "passed": passed,
            "flipped": flipped,
            "seconds": seconds,
            "peak_rss_mib": peak_mib(),
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
