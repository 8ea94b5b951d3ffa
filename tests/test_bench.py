"""The inference benchmark's library paths on a scripted tiny model: each decodes as the
backend does, and the JSON-close stopping rule ends ``model.generate`` where the backend
stops."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch

from bench.inference import main as bench_main
from harness.backends.base import DecodingConfig
from tests.tinymodel import build_scripted_model, build_tokenizer, offline_cache

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ['{"tool":', ' "no_tool",', ' "reason":', ' "a } b"', "}", " more"]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: Any) -> None:
    offline_cache(monkeypatch, tmp_path_factory)


def scripted(tmp_path: Path) -> Path:
    """The scripted model (its answer is SCRIPT, far ahead of any other token)."""
    tokenizer = build_tokenizer(tmp_path / "tok", extra_tokens=SCRIPT)
    return build_scripted_model(tmp_path / "model", tokenizer, SCRIPT)


def small_run(model: Path, limit: int) -> list[str]:
    """The options every bench test shares: the scripted model, a few golden cases, one
    thread, batches of 2."""
    return [
        "--checkpoint", str(model), "--golden", str(ROOT / "golden" / "customer_support"),
        "--limit", str(limit), "--threads", "1", "--batch-size", "2",
    ]  # fmt: skip


def test_every_cpu_path_agrees_with_the_backend(tmp_path: Path) -> None:
    model = scripted(tmp_path)
    out = tmp_path / "reports" / "bench" / "bench.json"  # folders made as needed
    argv = [
        *small_run(model, 3), "--max-new-tokens", "12",
        "--paths", "seed,backend,backend-eos,generate,static,cb,offloaded",
        "--prefix-ablation", "--route-calls", "2", "--interleave", "2", "--json", str(out),
    ]  # fmt: skip
    assert bench_main(argv) == 0
    report = json.loads(out.read_text())
    paths = report["paths"]
    assert report["cases"] == 3 and report["splits"] == "dev,holdout"
    for name in ("seed", "backend-eos", "backend-noprefix", "generate", "static", "cb"):
        assert paths[name]["identical_to_backend"] == 3, (name, paths[name])
    # The script writes '{"tool": "no_tool", "reason": "a } b"}' and then " more" and over
    # again: cut after the JSON object, the EOS-or-limit paths give the same text.
    assert paths["backend"]["stop"] == paths["generate"]["stop"] == "json"
    assert paths["cb"]["stop"] == paths["seed"]["stop"] == "eos"
    if not torch.cuda.is_available():  # offloading moves a GPU's cache to the CPU
        assert "CUDA" in paths["offloaded"]["error"]
    assert report["route_latency"]["free"]["calls"] == 2
    for summary in report["route_latency"].values():  # each call's passes and seconds
        assert len(summary["forward_passes_by_call"]) == len(summary["seconds_by_call"]) == 2
        assert all(n >= 1 for n in summary["forward_passes_by_call"])
        assert sum(summary["forward_passes_by_call"]) / 2 == summary["forward_passes_per_call"]
    # route()'s smaller first tree, timed beside the same calls with the full tree
    assert report["lookup"]["route_tree_first"] == 8
    assert report["route_latency"]["constrained+first-tree-16"]["identical_to_constrained"] == 2
    assert report["peak_rss_mib"] > 0
    assert report["seed_process_peak_rss_mib"] > 0  # the recipe's loop ran in its own process
    start, end = report["machine_probe_start_end"]  # the machine's speed, to compare runs
    for probe in (start, end):
        assert set(probe) == {"pass_1_tokens_ms", "pass_16_tokens_ms"}
        assert all(v > 0 for v in probe.values())


def test_the_cases_are_cut_into_parts_in_order() -> None:
    from bench.inference import parts

    assert parts(list(range(10)), 4) == [[0, 1, 2], [3, 4, 5], [6, 7], [8, 9]]
    assert parts([1, 2], 4) == [[1], [2]]  # never an empty part
    assert parts([1, 2, 3], 1) == parts([1, 2, 3], 0) == [[1, 2, 3]]


@pytest.mark.parametrize(
    "script", ["bench.inference", "bench.linear_kernels", "bench.quantize", "bench.constrained"]
)
def test_a_json_target_that_cannot_be_written_stops_the_run_before_it_starts(
    script: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run of many minutes must not lose its numbers at the end to a bad ``--json``."""
    import importlib

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    main = importlib.import_module(script).main
    for target, reason in ((tmp_path, "is a folder"), (blocker / "x.json", "cannot make")):
        with pytest.raises(SystemExit) as exit_info:
            main(["--checkpoint", "/nonexistent", "--json", str(target)])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert f"--json {target}" in err and reason in err, err


def test_unknown_paths_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_main(["--paths", "backend,warp"]) == 2
    assert "unknown warp" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["--route-lookup-tree-first", "-1"],
        ["--route-lookup-tree", "-3"],
        ["--lookup", "four"],
        ["--route-calls", "-2"],
        ["--lookup-tree", "1.5"],
    ],
)
def test_a_negative_or_broken_draft_size_is_refused_before_anything_loads(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench_main(["--checkpoint", "/nonexistent", *argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert argv[0] in err and ("negative" in err or "not a whole number" in err)


def test_constrained_route_calls_use_the_route_decoding_switch() -> None:
    import bench.inference as bench_inference

    found = bench_inference.constrained_config(64)
    assert found == (DecodingConfig(64, 1), {"decoding": "constrained"})


def test_bfloat16_paths_beside_the_float32_recipe_loop(tmp_path: Path) -> None:
    """``--dtype bfloat16`` times the backend in bfloat16 and the recipe's loop, as the
    recipe ran it, in float32; the report says which."""
    model = scripted(tmp_path)
    out = tmp_path / "bench.json"
    argv = [
        *small_run(model, 3), "--max-new-tokens", "12",
        "--paths", "seed,backend", "--route-calls", "0", "--dtype", "bfloat16",
        "--json", str(out),
    ]  # fmt: skip
    assert bench_main(argv) == 0
    report = json.loads(out.read_text())
    assert report["dtype"] == "bfloat16"
    assert report["paths"]["seed"]["identical_to_backend"] == 3


def test_the_weights_bench_compares_each_variant_with_fp32(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench.quantize import main as quantize_main

    model = scripted(tmp_path)
    out = tmp_path / "q.json"
    argv = [
        *small_run(model, 4),
        "--variants", "int8,bfloat16,bfloat16-all", "--json", str(out),
    ]  # fmt: skip
    assert quantize_main(argv) == 0
    report = json.loads(out.read_text())
    assert report["cases"] == 4
    assert set(report["variants"]) == {"int8", "bfloat16", "bfloat16-all"}
    for name, numbers in report["variants"].items():
        # the scripted model's answer is far ahead of every other token in any dtype
        assert numbers["identical_outputs"] == 4, (name, numbers)
        assert numbers["passed"] == report["passed_fp32"]
        assert report["step"][f"{name}_ms"] > 0
    assert "bfloat16-all:" in capsys.readouterr().out
    assert quantize_main(["--variants", "int4"]) == 2
    assert "unknown ['int4']" in capsys.readouterr().err


def test_the_int8_variant_quantises_every_linear_layer(tmp_path: Path) -> None:
    """The backend gives its float32 layers oneDNN's subclass of nn.Linear, which
    quantize_dynamic would pass over: the int8 variant must load them plain."""
    from bench.quantize import variant_backend

    backend = variant_backend("int8", str(scripted(tmp_path)), threads=1)
    layers = [type(m).__name__ for m in backend.model.modules() if isinstance(m, torch.nn.Linear)]
    assert layers == []  # every one replaced by a quantised layer
    quantised = [m for m in backend.model.modules() if "quantized" in type(m).__module__]
    assert quantised


def test_the_kernel_bench_times_both_kernels_and_compares_their_answers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bench.linear_kernels import main as kernels_main
    from harness.backends._hf_speed import onednn_available

    if not onednn_available():
        pytest.skip("this torch has no oneDNN")
    out = tmp_path / "linear-kernels.json"
    argv = [
        "--checkpoint", str(scripted(tmp_path)),
        "--golden", str(ROOT / "golden" / "customer_support"), "--limit", "3",
        "--threads", "1", "--batch-size", "2", "--widths", "1,5", "--repeats", "1",
        "--route-calls", "2", "--rounds", "1", "--suite", "--memory", "--json", str(out),
    ]  # fmt: skip
    assert kernels_main(argv) == 0
    report = json.loads(out.read_text())
    for width in ("1", "5"):
        row = report["layers"][width]
        kernels = ("stock", "onednn", "packed")
        assert all(row[f"{p}_{k}_ms"] > 0 for p in ("body", "head") for k in kernels)
    assert report["route"]["identical_answers"] == 2
    assert report["route"]["identical_to_stock"] == {"onednn": 2, "packed": 2}
    assert report["route"]["packed"]["p50_seconds"] > 0
    assert report["suite"]["free"]["identical_answers"] == 3
    assert report["suite"]["constrained"]["identical_answers"] == 3
    assert all(report["memory"][f"{k}_peak_mib"] > 0 for k in kernels)
    assert "route() answers identical: 2/2" in capsys.readouterr().out


def test_the_recipes_process_reports_its_failures(tmp_path: Path) -> None:
    """The recipe's loop runs in a spawned process: a checkpoint it cannot load is an
    error naming it, and a process that died mid-run fails its path instead of the run."""
    from bench.inference import SeedProcess

    with pytest.raises(RuntimeError, match="nowhere"):
        SeedProcess(str(tmp_path / "nowhere"), 1)
    seed = SeedProcess(str(scripted(tmp_path)), 1)
    seed.process.kill()
    seed.process.join()
    with pytest.raises((EOFError, OSError)):
        seed.run([], DecodingConfig(max_new_tokens=4))
    assert seed.close() is None
