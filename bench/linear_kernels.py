"""The linear layers' kernel, A/B/C: MKL's sgemm (``F.linear``, ``stock``), oneDNN's matmul
on the plain weights (``onednn``, which reorders each weight on every call) and on weights
packed once at load (``packed``, the backend's own).

(Not ``kernels.py``: transformers imports a package of that name if it can find one.)

The machine's speed moves by a fifth or more between runs, so one run per kernel would
not say which is faster. This script times the kernels in one process, interleaved, on
the same checkpoint:

* every float32 linear layer of the model on inputs ``--widths`` tokens wide (the body's
  layers together, and the output head alone, which the backend leaves unpacked when it
  is tied to the embeddings);
* ``--route-calls`` constrained ``route()`` calls with tree drafts (``route()``'s
  defaults), ``--rounds`` times for each kernel in turn, and whether the answers agree;
* with ``--suite``, the selected cases decoded in batches (``--batch-size``, lookup
  drafts of 4), free and constrained, and whether the answers agree;
* with ``--memory``, the peak memory of a fresh process that decodes the selection in
  batches on one kernel (one child process per kernel, Linux).

Answers are compared with ``stock``'s (``identical_to_stock``); ``identical_answers``
counts those all kernels agree on.

    python bench/linear_kernels.py --checkpoint routers/customer_support \\
        --golden golden/customer_support --splits dev --route-calls 20 --suite --memory \\
        --lookup-corpus data/customer_support_round1.jsonl --json linear-kernels.json
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch
import torch.nn.functional as F

from bench._report import check_json_target, write_json
from bench.inference import (
    Progress,
    golden_requests,
    high_water_mib,
    percentile,
    select_cases,
)
from harness.backends._hf_lookup import read_lookup_corpus
from harness.backends._hf_speed import (
    LINEAR_KERNELS,
    PACK_ROWS,
    dense_weight,
    onednn_linear,
    stock_linear,
    use_onednn_linear,
)
from harness.backends.base import DecodingConfig, GenerationRequest
from harness.backends.hf import HFBackend, load_hf_backend
from harness.catalog import Catalog
from harness.golden import GoldenCase
from harness.route import route

KERNELS = ("stock", "onednn", "packed")


def use_kernel(backend: HFBackend, kernel: str) -> None:
    """Switch the backend's float32 linear layers to ``kernel`` (one of :data:`KERNELS`)."""
    if kernel == "stock":
        stock_linear(backend.model)
    elif not use_onednn_linear(backend.model, pack=kernel == "packed"):
        raise SystemExit("this torch has no oneDNN linear op: nothing to compare")


def _agreement(answers: dict[str, list[str]]) -> dict[str, Any]:
    """How many answers each kernel shares with ``stock``, and how many all three share."""
    rows = list(zip(*(answers[k] for k in KERNELS), strict=True))
    return {
        "identical_to_stock": {
            k: sum(a == b for a, b in zip(answers["stock"], answers[k], strict=True))
            for k in KERNELS[1:]
        },
        "identical_answers": sum(len(set(row)) == 1 for row in rows),
    }


def layer_ms(backend: HFBackend, widths: Sequence[int], repeats: int) -> dict[str, Any]:
    """Milliseconds for every body layer together, and for the head, per kernel and width
    (the median of ``repeats``, the kernels taking turns). The plain and packed weights
    are both made for this, whatever the backend holds."""
    head = backend.model.get_output_embeddings()
    layers = [
        m for m in backend.model.modules() if isinstance(m, torch.nn.Linear) and m is not head
    ]
    parts = {"body": layers, "head": [head]}
    plain = {id(m): dense_weight(m) for mods in parts.values() for m in mods}
    blocked = {
        key: torch.ops.mkldnn._reorder_linear_weight(weight, PACK_ROWS)
        for key, weight in plain.items()
    }
    kernels: dict[str, Callable[[torch.Tensor, torch.nn.Linear], Any]] = {
        "stock": lambda x, m: F.linear(x, plain[id(m)], m.bias),
        "onednn": lambda x, m: onednn_linear(x, plain[id(m)], m.bias),
        "packed": lambda x, m: onednn_linear(x, blocked[id(m)], m.bias),
    }
    table: dict[str, Any] = {}
    with torch.inference_mode():
        for width in widths:
            row: dict[str, float] = {}
            for part, mods in parts.items():
                inputs = {m.in_features: torch.randn(1, width, m.in_features) for m in mods}
                times: dict[str, list[float]] = {k: [] for k in kernels}
                for _ in range(repeats + 1):  # the first round warms up, and is dropped
                    for name, fn in kernels.items():
                        t0 = time.perf_counter()
                        for m in mods:
                            fn(inputs[m.in_features], m)
                        times[name].append(1000 * (time.perf_counter() - t0))
                for name, ts in times.items():
                    row[f"{part}_{name}_ms"] = statistics.median(ts[1:])
            table[str(width)] = row
    return table


def route_ab(
    backend: HFBackend, cases: Sequence[tuple[Catalog, GoldenCase]], rounds: int
) -> dict[str, Any]:
    """Constrained route() calls with route()'s own drafts, each kernel in turn per round."""
    totals: dict[str, list[float]] = {k: [] for k in KERNELS}
    latencies: dict[str, list[float]] = {k: [] for k in KERNELS}
    answers: dict[str, list[str]] = {}
    progress = Progress("route", rounds * len(KERNELS) * len(cases))
    for _ in range(rounds):
        for kernel in KERNELS:
            use_kernel(backend, kernel)
            raws, total = [], 0.0
            for catalog, case in cases:
                tools = {n: (lambda **kw: kw) for n in catalog.tool_names}
                t0 = time.perf_counter()
                result = route(case.text, catalog, backend, tools, decoding="constrained")
                seconds = time.perf_counter() - t0
                total += seconds
                latencies[kernel].append(seconds)
                raws.append(result.raw)
                progress(1)
            totals[kernel].append(total)
            answers[kernel] = raws
    out: dict[str, Any] = {"calls": len(cases), "rounds": rounds}
    for kernel in KERNELS:
        out[kernel] = {
            "total_seconds_per_round": totals[kernel],
            "median_total_seconds": statistics.median(totals[kernel]),
            "p50_seconds": statistics.median(latencies[kernel]),
            "p95_seconds": percentile(latencies[kernel], 0.95),
        }
    out.update(_agreement(answers))
    return out


def suite_ab(
    backend: HFBackend, requests: Sequence[GenerationRequest], batch_size: int, rounds: int
) -> dict[str, Any]:
    """The requests decoded in batches with lookup drafts, free and constrained."""
    out: dict[str, Any] = {"cases": len(requests), "batch_size": batch_size}
    for mode in ("free", "constrained"):
        config = DecodingConfig(batch_size=batch_size, lookup=4, mode=mode)
        seconds: dict[str, list[float]] = {k: [] for k in KERNELS}
        texts: dict[str, list[str]] = {}
        for _ in range(rounds):
            for kernel in KERNELS:
                use_kernel(backend, kernel)
                t0 = time.perf_counter()
                done = backend.generate(list(requests), config)
                seconds[kernel].append(time.perf_counter() - t0)
                texts[kernel] = [g.text for g in done]
                print(f"  suite {mode} {kernel}: {seconds[kernel][-1]:.1f} s", file=sys.stderr)
        out[mode] = {
            **{f"{k}_seconds": seconds[k] for k in KERNELS},
            **{f"{k}_median_seconds": statistics.median(seconds[k]) for k in KERNELS},
            **_agreement(texts),
        }
    return out


def _memory_child(
    spec: str,
    threads: int | None,
    kernel: str,
    requests: list[GenerationRequest],
    corpus: list[str],
    batch_size: int,
    queue: Any,
) -> None:
    backend = load_hf_backend(
        spec, threads=threads, linear="stock" if kernel == "stock" else "onednn"
    )
    use_kernel(backend, kernel)
    backend.add_lookup_corpus(corpus)
    with torch.inference_mode():
        for mode in ("free", "constrained"):
            backend.generate(requests, DecodingConfig(batch_size=batch_size, lookup=4, mode=mode))
    queue.put(high_water_mib())


def memory_ab(
    spec: str,
    threads: int | None,
    requests: list[GenerationRequest],
    corpus: list[str],
    batch_size: int,
) -> dict[str, float]:
    """The peak memory (MiB) of a fresh process per kernel decoding the requests."""
    context = multiprocessing.get_context("spawn")
    peaks: dict[str, float] = {}
    for kernel in KERNELS:
        queue = context.Queue()
        child = context.Process(
            target=_memory_child,
            args=(spec, threads, kernel, requests, corpus, batch_size, queue),
        )
        child.start()
        peaks[f"{kernel}_peak_mib"] = queue.get()
        child.join()
    return peaks


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--checkpoint", default="routers/customer_support")
    parser.add_argument("--golden", default="golden/customer_support")
    parser.add_argument("--splits", default="dev", help="comma-separated golden splits")
    parser.add_argument("--limit", type=int, default=None, help="N cases spread over the splits")
    parser.add_argument("--threads", type=int, default=None, help="default: every core")
    parser.add_argument("--widths", default="1,4,17,48,80", help="tokens a pass, for layers")
    parser.add_argument("--repeats", type=int, default=9, help="timed repeats per layer width")
    parser.add_argument("--route-calls", type=int, default=20, help="0 skips route() calls")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of route() and suite")
    parser.add_argument("--suite", action="store_true", help="also decode in batches, A/B")
    parser.add_argument("--memory", action="store_true", help="peak memory, a process each")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lookup-corpus", default="", help="SFT .jsonl file(s) to draft from")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check_json_target(args.json)
    cases = select_cases(args)
    if not cases:
        print(f"no {args.splits} cases in {args.golden}", file=sys.stderr)
        return 2
    widths = [int(w) for w in args.widths.split(",") if w.strip()]
    backend = load_hf_backend(args.checkpoint, threads=args.threads)
    corpus = read_lookup_corpus(args.lookup_corpus) if args.lookup_corpus else []
    backend.add_lookup_corpus(corpus)
    print(f"{len(cases)} {args.splits} cases, {backend.threads} threads, kernels {KERNELS}")
    report: dict[str, Any] = {
        "checkpoint": args.checkpoint,
        "splits": args.splits,
        "threads": backend.threads,
        "kernels": list(LINEAR_KERNELS),
        "layers": layer_ms(backend, widths, args.repeats),
    }
    print("width", *(f"{p} {k:>6}" for p in ("body", "head") for k in KERNELS), " (ms)")
    for width, row in report["layers"].items():
        cells = [f"{row[f'{p}_{k}_ms']:11.1f}" for p in ("body", "head") for k in KERNELS]
        print(f"{width:>5}", *cells)
    if args.route_calls > 0:
        step = max(1, len(cases) // args.route_calls)
        chosen = [cases[(i * step) % len(cases)] for i in range(args.route_calls)]
        report["route"] = ab = route_ab(backend, chosen, args.rounds)
        for kernel in KERNELS:
            numbers = ab[kernel]
            print(
                f"route() {kernel:6}: median total {numbers['median_total_seconds']:.2f} s "
                f"over {ab['calls']} calls, p50 {numbers['p50_seconds']:.2f} s, "
                f"p95 {numbers['p95_seconds']:.2f} s"
            )
        print(
            f"route() answers identical: {ab['identical_answers']}/{ab['calls']} "
            f"(to stock: {ab['identical_to_stock']})"
        )
    requests = golden_requests(cases)
    if args.suite:
        report["suite"] = suite = suite_ab(backend, requests, args.batch_size, 1)
        for mode in ("free", "constrained"):
            numbers = suite[mode]
            times = ", ".join(f"{k} {numbers[f'{k}_median_seconds']:.1f} s" for k in KERNELS)
            print(
                f"suite {mode:11}: {times}, answers identical "
                f"{numbers['identical_answers']}/{suite['cases']}"
            )
    if args.memory:
        report["memory"] = peaks = memory_ab(
            args.checkpoint, args.threads, requests, corpus, args.batch_size
        )
        print(", ".join(f"{k} {v:.0f}" for k, v in peaks.items()))
    use_kernel(backend, "packed")
    if args.json is not None:
        write_json(args.json, report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
