"""Inference benchmark: every decoding path on the same cases, in one process.

On one checkpoint and one set of golden cases it times the paths ``--paths`` names (see
``bench/_paths.py``): the recipe's loop (``seed``), the routecheck backend's hand-written
batched loop (``backend``, and ``backend-eos`` without its JSON stop), ``model.generate``
on left-padded batches with a dynamic, static or offloaded cache (``generate``, ``static``,
``offloaded``) and transformers' continuous batching (``cb``). For each it prints the
throughput, the stop rule (``eos``: EOS or ``--max-new-tokens``; ``json``: also when the
top-level JSON object closes) and how many outputs are identical to the backend's and to
the recipe's (every output cut after its JSON object). Then the latency of single
``route()`` calls (free decoding, and constrained when the installed harness has it) and
the peak memory (``ru_maxrss`` of the whole process).

The recipe's loop (``seed``) runs in a process of its own, on a model loaded as the recipe
loads it (stock transformers, plain float32 weights), as a user's script would: the
backend's packed weights and the recipe's plain ones never share a process, and each
process's peak memory is its own.

This machine's speed drifts by a fifth or more within minutes, so the paths take turns:
the cases are cut into ``--interleave`` parts (4), and every path runs on a part before
the next part starts; the ``route()`` kinds take turns on every call. A batched path
drains its batch at the end of each part, which costs it a little throughput.

    python bench/inference.py --checkpoint routers/customer_support \\
        --golden golden/customer_support --paths seed,backend,cb --json bench.json
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch

from bench._paths import PATHS, seed_loop
from bench._report import check_json_target, write_json
from harness.backends._hf_lookup import read_lookup_examples
from harness.backends._hf_speed import LINEAR_KERNELS
from harness.backends.base import DTYPES, DecodingConfig, GenerationRequest
from harness.backends.hf import HFBackend, cut_after_json, load_hf_backend
from harness.catalog import Catalog
from harness.golden import GoldenCase, load_golden
from harness.grammar import output_schema
from harness.route import ROUTE_LOOKUP, ROUTE_LOOKUP_TREE, ROUTE_LOOKUP_TREE_FIRST, route

DEFAULT_PATHS = "seed,backend,generate,static,cb"


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0 <= q <= 1) of ``values``."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def peak_mib() -> float:
    """The process's peak resident memory so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def high_water_mib() -> float:
    """This process's peak resident memory since its program started (``VmHWM``; a spawned
    child's ``ru_maxrss`` starts at its parent's)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:  # pragma: no cover - not Linux
        pass
    return peak_mib()  # pragma: no cover - not Linux


def _seed_child(conn: Any, checkpoint: str, threads: int | None) -> None:
    """The recipe's loop, serving parts of the cases until told to stop (``None``)."""
    try:
        backend = load_hf_backend(checkpoint, threads=threads, linear="stock")
    except Exception as exc:
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
        return
    conn.send(("ready", None))
    while True:
        message = conn.recv()
        if message is None:
            conn.send(("peak", high_water_mib()))
            return
        requests, config = message
        try:
            with torch.inference_mode():
                texts = seed_loop(backend, requests, config, lambda n: None)
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
            continue
        conn.send(("ok", texts))


class SeedProcess:
    """The recipe's loop in a spawned process of its own (see the module's docstring)."""

    def __init__(self, checkpoint: str, threads: int | None) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_seed_child, args=(child, checkpoint, threads), daemon=True
        )
        self.process.start()
        self._answer("ready")

    def _answer(self, expected: str) -> Any:
        status, payload = self.conn.recv()
        if status != expected:
            raise RuntimeError(payload)
        return payload

    def run(self, requests: Sequence[GenerationRequest], config: DecodingConfig) -> list[str]:
        self.conn.send((list(requests), config))
        return list(self._answer("ok"))

    def close(self) -> float | None:
        """Stop the process; returns its peak memory (MiB), or None if it died."""
        try:
            self.conn.send(None)
            peak: float | None = float(self._answer("peak"))
        except (OSError, EOFError, RuntimeError):  # it died: its part was reported failed
            peak = None
        self.process.join(timeout=60)
        if self.process.is_alive():  # pragma: no cover - a hung child
            self.process.kill()
        return peak


class Progress:
    """``name: done/total (seconds)`` on stderr, rewritten in place. The seconds are the
    task's own: between :meth:`pause` and :meth:`resume` (other paths' turns) they stop."""

    def __init__(self, name: str, total: int) -> None:
        self.name, self.total, self.done = name, total, 0
        self.started = time.perf_counter()
        self.paused: float | None = None
        self(0)

    def pause(self) -> None:
        self.paused = time.perf_counter()

    def resume(self) -> None:
        if self.paused is not None:
            self.started += time.perf_counter() - self.paused
            self.paused = None

    def __call__(self, n: int) -> None:
        self.done += n
        elapsed = time.perf_counter() - self.started
        end = "\n" if self.done >= self.total else ""
        print(
            f"\r  {self.name}: {self.done}/{self.total} ({elapsed:.0f} s)",
            end=end,
            file=sys.stderr,
            flush=True,
        )


def select_cases(args: argparse.Namespace) -> list[tuple[Catalog, GoldenCase]]:
    """The golden cases of ``args.golden`` in ``args.splits``, ``args.limit`` of them spread
    over the selection."""
    splits = {s.strip() for s in args.splits.split(",") if s.strip()}
    cases = [
        (gs.catalog, case)
        for gs in load_golden(args.golden)
        for case in gs.cases
        if not splits or case.split in splits
    ]
    if args.limit is not None and 0 < args.limit < len(cases):
        step = len(cases) / args.limit  # every category, not just the first file
        cases = [cases[int(i * step)] for i in range(args.limit)]
    return cases


def constrained_config(
    max_new_tokens: int, lookup: int = 0
) -> tuple[DecodingConfig, dict[str, Any]] | None:
    """How route() is asked for constrained decoding: its ``decoding=`` parameter."""
    return DecodingConfig(max_new_tokens, 1, lookup=lookup), {"decoding": "constrained"}


def route_latencies(
    backend: HFBackend,
    cases: list[tuple[Catalog, GoldenCase]],
    calls: int,
    kinds: Sequence[tuple[str, DecodingConfig, dict[str, Any]]],
) -> dict[str, tuple[list[float], list[str], list[int]]]:
    """Per kind: seconds per single route() call over ``calls`` cases spread over the
    selection, the raw outputs, and the forward passes each call took. Each case runs every
    kind in turn before the next case, so the machine's drift falls on all kinds alike."""
    out: dict[str, tuple[list[float], list[str], list[int]]] = {
        k: ([], [], []) for k, _, _ in kinds
    }
    progress = Progress("route", calls * len(kinds))
    for i in range(calls):
        catalog, case = cases[(i * max(1, len(cases) // calls)) % len(cases)]
        tools: dict[str, Callable[..., Any]] = {n: (lambda **kw: kw) for n in catalog.tool_names}
        for kind, config, extra in kinds:
            latencies, raws, passes = out[kind]
            before = backend.forward_passes
            t0 = time.perf_counter()
            result = route(
                case.text,
                catalog,
                backend,
                tools,
                answer_directly=lambda r: r,
                config=config,
                **extra,
            )
            latencies.append(time.perf_counter() - t0)
            raws.append(result.raw)
            passes.append(backend.forward_passes - before)
            progress(1)
    return out


def parts(items: Sequence[Any], count: int) -> list[list[Any]]:
    """``items`` cut into ``count`` contiguous parts of near-equal size (fewer when there
    are fewer items), in order."""
    count = max(1, min(count, len(items)))
    size, extra = divmod(len(items), count)
    cuts, start = [], 0
    for k in range(count):
        end = start + size + (1 if k < extra else 0)
        cuts.append(list(items[start:end]))
        start = end
    return cuts


def golden_requests(cases: list[tuple[Catalog, GoldenCase]]) -> list[GenerationRequest]:
    """One request per case, each with its output grammar (which only constrained decoding
    reads)."""
    return [
        GenerationRequest(
            id=case.key,
            messages=(messages := case.chat(catalog.system_prompt())),
            output_schema=output_schema(case.catalog_for(catalog), messages),
        )
        for catalog, case in cases
    ]


def machine_probe(backend: HFBackend, repeats: int = 7) -> dict[str, float]:
    """The machine's speed right now: the median milliseconds of one forward pass of the
    model over 1 and over 16 tokens (no cache). This CPU's speed moves between runs, and
    a pass over many tokens (compute) and over one (memory) do not move alike, so every
    run records both, before and after, to compare runs with."""
    probe: dict[str, float] = {}
    with torch.inference_mode():
        for width in (1, 16):
            ids = torch.full((1, width), 3, dtype=torch.long, device=backend.device)
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                backend.model(input_ids=ids, logits_to_keep=1)
                times.append((time.perf_counter() - t0) * 1000)
            probe[f"pass_{width}_tokens_ms"] = statistics.median(times)
    return probe


def _latency_summary(latencies: list[float]) -> dict[str, float | int]:
    return {
        "calls": len(latencies),
        "p50_seconds": statistics.median(latencies),
        "p95_seconds": percentile(latencies, 0.95),
    }


def print_summary(
    report: dict[str, dict[str, Any]],
    latency: dict[str, Any],
    n: int,
    seed_peak: float | None = None,
) -> None:
    """The table of paths, the route() latencies and the peak memory."""
    print()
    head = ("path", "stop", "seconds", "cases/s", "vs seed", "=backend", "=seed")
    print("{:16} {:5} {:>8} {:>8} {:>8} {:>9} {:>7}".format(*head))
    for name, row in report.items():
        if "error" in row:
            print(f"{name:16} {row['stop']:5} failed: {row['error'][:100]}")
            continue
        speed = f"{row['speedup_vs_seed']:.2f}x" if "speedup_vs_seed" in row else "-"
        same_b = f"{row['identical_to_backend']}/{n}" if "identical_to_backend" in row else "-"
        same_s = f"{row['identical_to_seed']}/{n}" if "identical_to_seed" in row else "-"
        print(
            f"{name:16} {row['stop']:5} {row['seconds']:8.1f} {row['cases_per_second']:8.3f} "
            f"{speed:>8} {same_b:>9} {same_s:>7}"
        )
    for kind, summary in latency.items():
        if isinstance(summary, dict):
            print(
                f"route() {kind:18} p50 {summary['p50_seconds']:.2f} s, "
                f"p95 {summary['p95_seconds']:.2f} s over {summary['calls']} calls, "
                f"{summary.get('forward_passes_per_call', 0):.1f} forward passes a call"
                + "".join(
                    f", {v}/{summary['calls']} identical to {k.removeprefix('identical_to_')}"
                    for k, v in summary.items()
                    if k.startswith("identical_to_")
                )
            )
        else:
            print(f"route() {kind:12} {summary}")
    print(f"peak memory (ru_maxrss, whole process) {peak_mib():.0f} MiB")
    if seed_peak is not None:
        print(f"peak memory of the recipe's loop, in its own process: {seed_peak:.0f} MiB")


def _probe_line(label: str, probe: dict[str, float]) -> str:
    return (
        f"{label}: a forward pass over 1 token {probe['pass_1_tokens_ms']:.0f} ms, "
        f"over 16 tokens {probe['pass_16_tokens_ms']:.0f} ms"
    )


def count(text: str) -> int:
    """An argparse type: a whole number, 0 or more (a draft size, a number of calls)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; give 0 or more")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="paths:\n" + "\n".join(f"  {k:16} [{s}] {d}" for k, (_, s, d) in PATHS.items()),
    )
    parser.add_argument("--checkpoint", default="base")
    parser.add_argument("--golden", default="golden/customer_support")
    parser.add_argument(
        "--splits",
        default="dev,holdout",
        help="golden splits to use, comma-separated ('' for all); default dev,holdout",
    )
    parser.add_argument("--limit", type=int, default=None, help="N cases spread over the suite")
    parser.add_argument(
        "--paths", default=DEFAULT_PATHS, help=f"comma-separated; default {DEFAULT_PATHS}"
    )
    parser.add_argument(
        "--prefix-ablation", action="store_true", help="also run the backend-noprefix path"
    )
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads; default all cores"
    )
    parser.add_argument(
        "--route-calls", type=count, default=20, help="single route() calls to time"
    )
    parser.add_argument(
        "--lookup",
        type=count,
        default=4,
        help="draft tokens a step for the backend-lookup paths (default 4)",
    )
    parser.add_argument(
        "--route-lookup",
        type=count,
        default=ROUTE_LOOKUP,
        help=f"draft tokens for route() with lookup decoding (default {ROUTE_LOOKUP}, "
        "route()'s own); 0 skips those calls",
    )
    parser.add_argument(
        "--lookup-tree",
        type=count,
        default=0,
        help="draft tree size for the backend-lookup paths (default 0: a single draft)",
    )
    parser.add_argument(
        "--dtype",
        choices=DTYPES,
        default="float32",
        help="weights of the timed backend (default float32); the seed path always runs "
        "the recipe's loop on float32 weights, as the recipe does",
    )
    parser.add_argument(
        "--linear",
        choices=LINEAR_KERNELS,
        default="onednn",
        help="float32 linear layers' matmul in the timed backend (default onednn, the "
        "backend's own; stock is F.linear); the seed path always runs stock transformers",
    )
    parser.add_argument(
        "--route-lookup-tree",
        type=count,
        default=ROUTE_LOOKUP_TREE,
        help=f"draft tree size for route() with lookup decoding (default {ROUTE_LOOKUP_TREE}, "
        "route()'s own); with a tree, constrained calls with a single draft are timed too",
    )
    parser.add_argument(
        "--route-lookup-tree-first",
        type=count,
        default=ROUTE_LOOKUP_TREE_FIRST,
        help="draft tree size on the first pass of a route() call, the one that reads the "
        f"request (default {ROUTE_LOOKUP_TREE_FIRST}, route()'s own; 0: --route-lookup-tree)",
    )
    parser.add_argument(
        "--lookup-corpus",
        default="",
        help="SFT .jsonl file(s), comma-separated, whose answers lookup decoding drafts from",
    )
    parser.add_argument(
        "--interleave",
        type=int,
        default=4,
        help="cut the cases into N parts and run every path on one part before the next "
        "part, so that the machine's drift falls on all paths alike (default 4; 1 runs "
        "each path over all cases, one path after another)",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check_json_target(args.json)
    names = [p.strip() for p in args.paths.split(",") if p.strip()]
    if args.prefix_ablation and "backend-noprefix" not in names:
        names.append("backend-noprefix")
    unknown = [n for n in names if n not in PATHS]
    if unknown:
        print(f"--paths: unknown {', '.join(unknown)} (known: {', '.join(PATHS)})", file=sys.stderr)
        return 2
    cases = select_cases(args)
    if not cases:
        print("no golden cases", file=sys.stderr)
        return 2
    requests = golden_requests(cases)
    started = time.perf_counter()
    backend = load_hf_backend(
        args.checkpoint, threads=args.threads, dtype=args.dtype, linear=args.linear
    )
    load_s = time.perf_counter() - started
    load_before = os.getloadavg()
    print(f"load average {load_before[0]:.1f} on {os.cpu_count()} cores (timings need a quiet one)")
    print(
        f"checkpoint {args.checkpoint}: {backend.describe()['kind']}, {backend.dtype} weights, "
        f"{backend.linear} linear layers, loaded in {load_s:.1f} s"
    )
    print(f"{len(requests)} cases from {args.golden}, {backend.threads} threads", end=", ")
    print(f"batch {args.batch_size}, max {args.max_new_tokens} new tokens")
    if args.lookup_corpus:
        examples = read_lookup_examples(args.lookup_corpus)
        backend.add_lookup_corpus([a for _, a in examples], [s for s, _ in examples])
        print(f"lookup corpus: {len(examples)} answers from {args.lookup_corpus}")
    config = DecodingConfig(
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        lookup=args.lookup,
        lookup_tree=args.lookup_tree,
    )
    with torch.inference_mode():  # warm the kernels up for every path alike
        backend.model(input_ids=torch.tensor([[1, 2, 3]], device=backend.device))

    probe_start = machine_probe(backend)
    print(_probe_line("machine at the start", probe_start))
    seed: SeedProcess | None = None
    seed_peak: float | None = None
    if "seed" in names:  # the recipe's loop, as it runs: float32, stock, a process alone
        try:
            seed = SeedProcess(args.checkpoint, args.threads)
        except (RuntimeError, EOFError, OSError) as exc:
            print(f"  seed: its process did not start: {exc}", file=sys.stderr)
    texts: dict[str, list[str]] = {}
    report: dict[str, dict[str, Any]] = {}
    seconds: dict[str, float] = dict.fromkeys(names, 0.0)
    peaks: dict[str, float] = {}  # the process's peak after the path's last part
    progress = {name: Progress(name, len(requests)) for name in names}
    for bar in progress.values():
        bar.pause()
    for part in parts(requests, args.interleave):
        for name in names:
            if name in report:  # failed on an earlier part
                continue
            runner, stop, description = PATHS[name]
            progress[name].resume()
            t0 = time.perf_counter()
            try:
                if name == "seed":
                    if seed is None:
                        raise RuntimeError("its process did not start")
                    out = seed.run(part, config)
                    progress[name](len(part))
                else:
                    with torch.inference_mode():
                        out = runner(backend, part, config, progress[name])
            except Exception as exc:  # a library path that does not run here is a finding
                print(f"\n  {name}: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
                report[name] = {
                    "description": description,
                    "stop": stop,
                    "error": f"{type(exc).__name__}: {exc}",
                }
                texts.pop(name, None)
                continue
            seconds[name] += time.perf_counter() - t0
            progress[name].pause()
            peaks[name] = peak_mib()
            texts.setdefault(name, []).extend(cut_after_json(t).strip() for t in out)
    if seed is not None:
        seed_peak = seed.close()
    for name in names:
        if name in report:
            continue
        runner, stop, description = PATHS[name]
        report[name] = {
            "description": description,
            "stop": stop,
            "seconds": seconds[name],
            "cases_per_second": len(requests) / seconds[name],
            "peak_rss_mib_after": peaks[name],
        }
    for name, outs in texts.items():
        for ref in ("backend", "seed"):
            if ref in texts and ref != name:
                same = sum(a == b for a, b in zip(outs, texts[ref], strict=True))
                report[name][f"identical_to_{ref}"] = same
                report[name][f"differing_from_{ref}"] = [
                    r.id for r, a, b in zip(requests, outs, texts[ref], strict=True) if a != b
                ]
        if "seed" in report and "seconds" in report["seed"]:
            report[name]["speedup_vs_seed"] = report["seed"]["seconds"] / report[name]["seconds"]

    latency: dict[str, Any] = {}
    if args.route_calls > 0:
        kinds: list[tuple[str, DecodingConfig, dict[str, Any]]] = [
            ("free", DecodingConfig(args.max_new_tokens, 1), {}),
        ]
        constrained = constrained_config(args.max_new_tokens)
        if constrained is not None:
            kinds.append(("constrained", *constrained))
        if args.route_lookup > 0:  # route()'s own default: lookup decoding on
            tree = args.route_lookup_tree
            drafted = DecodingConfig(
                args.max_new_tokens,
                1,
                lookup=args.route_lookup,
                lookup_tree=tree,
                lookup_tree_first=args.route_lookup_tree_first,
            )
            for mode in ("free", "constrained"):
                kinds.append((f"{mode}+lookup", drafted, {"decoding": mode}))
            if tree > 0:  # what the tree adds over a single draft
                single = DecodingConfig(args.max_new_tokens, 1, lookup=args.route_lookup)
                kinds.append(("constrained+single-draft", single, {"decoding": "constrained"}))
            first = args.route_lookup_tree_first
            if tree > 0 and first not in (0, tree):  # what the smaller first tree saves
                same = dataclasses.replace(drafted, lookup_tree_first=0)
                kinds.append((f"constrained+first-tree-{tree}", same, {"decoding": "constrained"}))
        outputs: dict[str, list[str]] = {}
        timed_calls = route_latencies(backend, cases, args.route_calls, kinds)
        for kind, _, _ in kinds:
            lat, raws, passes = timed_calls[kind]
            summary: dict[str, Any] = _latency_summary(lat)
            summary["forward_passes_per_call"] = sum(passes) / args.route_calls
            # per call, in order: the slow calls and the spread, not only the mean
            summary["forward_passes_by_call"] = passes
            summary["seconds_by_call"] = [round(t, 4) for t in lat]
            outputs[kind] = raws
            plain = kind.split("+")[0]
            if plain != kind and plain in outputs:  # lookup decoding must change no answer
                summary[f"identical_to_{plain}"] = sum(
                    a == b for a, b in zip(raws, outputs[plain], strict=True)
                )
            latency[kind] = summary

    probe_end = machine_probe(backend)
    print_summary(report, latency, len(requests), seed_peak)
    print(_probe_line("machine at the start", probe_start))
    print(_probe_line("machine at the end", probe_end))
    n = len(requests)
    if args.json is not None:
        payload = {
            "checkpoint": args.checkpoint,
            "golden": args.golden,
            "splits": args.splits,
            "cases": n,
            "threads": backend.threads,
            "dtype": backend.dtype,
            "linear": backend.linear,
            "batch_size": args.batch_size,
            "max_new_tokens": args.max_new_tokens,
            "load_seconds": load_s,
            "loadavg_1_5_15_start_end": [load_before, os.getloadavg()],
            "machine_probe_start_end": [probe_start, probe_end],
            "paths": report,
            "route_latency": latency,
            "lookup": {
                "corpus": args.lookup_corpus,
                "draft_tokens": args.lookup,
                "tree": args.lookup_tree,
                "route_draft_tokens": args.route_lookup,
                "route_tree": args.route_lookup_tree,
                "route_tree_first": args.route_lookup_tree_first,
                "drafted": backend.drafted,
                "accepted": backend.accepted,
            },
            "peak_rss_mib": peak_mib(),
            "seed_process_peak_rss_mib": seed_peak,
        }
        write_json(args.json, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
