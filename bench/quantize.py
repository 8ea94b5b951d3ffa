"""Cheaper weights against fp32 on one checkpoint: time per decode step, and agreement on
golden cases.

Loads the checkpoint once in fp32 and once more for each variant (``--variants``):

* ``int8``: every ``nn.Linear`` in dynamic int8 (``torch.ao.quantization.quantize_dynamic``);
* ``bfloat16``: what ``--rc-dtype bfloat16`` runs, the body in bfloat16 under a float32
  output head;
* ``bfloat16-all``: every weight in bfloat16, the head included.

It times one greedy decode step of a single sequence at the context of the longest prompt,
then generates the selected cases with each and compares the raw outputs (identical text)
and the verdicts (same outcome and same predicted tool) with fp32's. The fp32 outputs go
through the output cache like a run's (a cached fp32 run costs nothing); a variant's are
never cached, so its time is a real generation. routecheck does not offer int8, and offers
bfloat16 with a float32 head: this script is how both decisions were measured.

    python bench/quantize.py --checkpoint routers/customer_support \\
        --golden golden/customer_support --split dev --variants int8,bfloat16 --json q.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from bench._report import check_json_target, write_json
from bench.inference import Progress, peak_mib
from harness.backends.base import DecodingConfig, GenerationRequest
from harness.backends.hf import HFBackend, load_hf_backend
from harness.golden import load_golden
from harness.hfcompat import CACHE_KEYWORD
from harness.outputcache import OutputCache, default_cache_dir, generate_cached
from harness.scoring import parse_output, score_case

VARIANTS = ("int8", "bfloat16", "bfloat16-all")


class VariantBackend(HFBackend):
    """The backend on another copy of the model; uncached, so that its time is a real
    generation (and int8 outputs depend on their batch mates: an activation's scale spans
    the batch)."""

    cacheable = False


def variant_backend(name: str, spec: str, threads: int | None) -> HFBackend:
    """A fresh load of ``spec`` with the variant's weights."""
    fresh = load_hf_backend(
        spec,
        threads=threads,
        dtype="bfloat16" if name == "bfloat16" else "float32",
        # quantize_dynamic swaps layers of type nn.Linear exactly, not oneDNN's subclass,
        # and a model with oneDNN's packed weights cannot be cast as a whole
        linear="stock" if name in ("int8", "bfloat16-all") else "onednn",
    )
    model = fresh.model
    if name == "int8":
        with warnings.catch_warnings():  # torch.ao quantization is deprecated for torchao
            warnings.simplefilter("ignore")
            model = torch.ao.quantization.quantize_dynamic(
                model, {torch.nn.Linear}, dtype=torch.qint8
            )
    elif name == "bfloat16-all":
        model = model.to(torch.bfloat16)
    return VariantBackend(fresh.checkpoint, model, fresh.tokenizer, fresh.threads)


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
    parser.add_argument(
        "--variants",
        default="int8",
        help=f"comma-separated, of {', '.join(VARIANTS)} (default int8)",
    )
    args = parser.parse_args(argv)
    check_json_target(args.json)
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown or not names:
        print(f"--variants: unknown {unknown} (known: {', '.join(VARIANTS)})", file=sys.stderr)
        return 2

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
    backends: dict[str, HFBackend] = {
        "fp32": load_hf_backend(args.checkpoint, threads=args.threads)
    }
    for name in names:
        backends[name] = variant_backend(name, args.checkpoint, args.threads)
    prompt = max((backends["fp32"].encode(r.messages) for r in requests), key=len)
    timing: dict[str, Any] = {"context_tokens": len(prompt)}
    for name, backend in backends.items():
        timing[f"{name}_ms"] = step_ms(backend, prompt)
    steps = ", ".join(f"{name} {timing[f'{name}_ms']:.1f} ms" for name in backends)
    print(f"decode step at {len(prompt)} tokens: {steps}")

    outputs: dict[str, list[str]] = {}
    seconds: dict[str, float] = {}
    for name, backend in backends.items():
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
    n = len(cases)
    passed = {name: sum(v.passed for v in vs) for name, vs in verdicts.items()}
    print(f"{n} {args.split} cases, batch {args.batch_size}; fp32 passed {passed['fp32']}/{n}")
    compared: dict[str, dict[str, Any]] = {}
    for name in names:
        same_text = sum(a == b for a, b in zip(outputs["fp32"], outputs[name], strict=True))
        pairs = list(zip(verdicts["fp32"], verdicts[name], strict=True))
        same_verdict = sum(a.outcome == b.outcome and a.predicted == b.predicted for a, b in pairs)
        flipped = [a.key for a, b in pairs if a.passed != b.passed]
        compared[name] = {
            "identical_outputs": same_text,
            "same_verdict": same_verdict,
            "passed": passed[name],
            "flipped": flipped,
        }
        print(f"{name}:")
        print(f"  identical outputs   {same_text}/{n}")
        print(f"  same verdict        {same_verdict}/{n} (outcome and predicted tool)")
        print(f"  passed              {passed[name]}/{n}")
        print(f"  pass/fail flipped   {len(flipped)}: {', '.join(flipped) or '-'}")
        print(
            f"  generation          {seconds[name]:.1f} s "
            f"(fp32 {seconds['fp32']:.1f} s, maybe cached)"
        )
    print(f"peak memory         {peak_mib():.0f} MiB (every model loaded)")
    if args.json is not None:
        payload = {
            "checkpoint": args.checkpoint,
            "split": args.split,
            "cases": n,
            "batch_size": args.batch_size,
            "step": timing,
            "passed_fp32": passed["fp32"],
            "variants": compared,
            "seconds": seconds,
            "peak_rss_mib": peak_mib(),
        }
        write_json(args.json, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
