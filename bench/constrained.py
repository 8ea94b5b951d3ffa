"""Free against constrained decoding on one checkpoint: verdicts, forward passes, latency.

On some golden cases (spread over the suite, ``--split`` to pick dev ones) it runs the
suite three times without the output cache: free decoding, constrained decoding, and
constrained decoding without jump-forward. It prints how many cases pass and are valid in
each, the cases whose verdict differs between free and constrained, the forward passes
each took, how many outputs differ between constrained with and without jump-forward
(tokenization at forced text may differ), and the median latency of ``route()`` calls in
both modes.

    python bench/constrained.py --checkpoint routers/customer_support \\
        --golden golden/customer_support --split dev --limit 20 --route-calls 6
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._report import check_json_target, write_json
from harness.backends.base import DecodingConfig
from harness.backends.hf import load_hf_backend
from harness.golden import load_golden
from harness.route import route


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="base")
    parser.add_argument("--golden", default="golden/customer_support")
    parser.add_argument("--split", default="dev", help="all, dev, tune or holdout")
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--route-calls", type=int, default=6, help="route() calls per mode")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args(argv)
    check_json_target(args.json)

    from harness.runner import run_suite

    sets = load_golden(args.golden)
    cases = [c for s in sets for c in s.cases if args.split == "all" or c.split == args.split]
    if args.limit and 0 < args.limit < len(cases):
        step = len(cases) / args.limit
        cases = [cases[int(i * step)] for i in range(args.limit)]
    keys = {c.key for c in cases}
    backend = load_hf_backend(args.checkpoint, threads=args.threads)
    out: dict[str, Any] = {"checkpoint": args.checkpoint, "cases": len(keys)}
    runs = {}
    for name, mode, jump in (
        ("free", "free", True),
        ("constrained", "constrained", True),
        ("constrained-no-jump", "constrained", False),
    ):
        backend.jump_forward = jump
        passes = backend.forward_passes
        t0 = time.perf_counter()
        config = DecodingConfig(batch_size=args.batch_size, mode=mode)
        results = run_suite(sets, backend, config, keys=keys, cache=None)
        seconds = time.perf_counter() - t0
        runs[name] = {c.key: c for c in results.cases}
        out[name] = {
            "passed": sum(c.passed for c in results.cases),
            "valid": sum(c.parsed.valid for c in results.cases),
            "forward_passes": backend.forward_passes - passes,
            "seconds": round(seconds, 1),
        }
        print(name, json.dumps(out[name]), flush=True)
    backend.jump_forward = True
    free, cons, slow = runs["free"], runs["constrained"], runs["constrained-no-jump"]
    out["verdict_changes"] = [
        {"case": k, "free": free[k].outcome, "constrained": cons[k].outcome}
        for k in sorted(keys)
        if free[k].outcome != cons[k].outcome
    ]
    out["jump_forward_output_differs"] = sum(cons[k].output != slow[k].output for k in keys)
    print("verdict changes:", json.dumps(out["verdict_changes"]))
    print("outputs differing with/without jump-forward:", out["jump_forward_output_differs"])

    catalogs = {s.catalog.name: s.catalog for s in sets}
    for mode in ("free", "constrained"):
        latencies = []
        for case in cases[: args.route_calls]:
            catalog = case.catalog_for(catalogs[case.catalog])
            tools: dict[str, Any] = {name: (lambda **kw: kw) for name in catalog.tool_names}
            t0 = time.perf_counter()
            route(case.text, catalog, backend, tools, decoding=mode)
            latencies.append(time.perf_counter() - t0)
        out[f"route_p50_{mode}_s"] = round(statistics.median(latencies), 3)
        print(f"route() p50 {mode}: {out[f'route_p50_{mode}_s']} s", flush=True)
    if args.json is not None:
        write_json(args.json, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
