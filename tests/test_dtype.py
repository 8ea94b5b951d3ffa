"""``--rc-dtype bfloat16``: a bfloat16 body under a float32 output head.

The promises: the weights are what the option says (and the head is no longer tied to the
input embeddings, so casting one leaves the other alone); the checkpoint's fingerprint, and
so the output-cache key, tells the two apart; the batched decoding still equals
``model.generate`` on the same bfloat16 model token for token; a bad value, or a backend
that has no weights to cast, is refused before anything is generated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.errors import RoutecheckError, SettingsError
from harness.settings import build_settings

GOLDEN = str(Path(__file__).resolve().parent.parent / "golden" / "customer_support")


def test_settings_refuse_an_unknown_dtype(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="dtype = 'float16' is not accepted"):
        build_settings({"golden": GOLDEN}, {"checkpoint": "x", "dtype": "float16"})


def test_a_backend_without_weights_refuses_bfloat16_before_anything_runs(tmp_path: Path) -> None:
    from harness.session import EvaluationSession

    replay = tmp_path / "r.jsonl"
    replay.write_text("", encoding="utf-8")
    settings = build_settings(
        {"golden": GOLDEN, "reports_dir": str(tmp_path / "reports")},
        {"checkpoint": f"mock:{replay}", "dtype": "bfloat16"},
    )
    refused = r"--rc-dtype bfloat16: the mock backend.*transformers"
    with pytest.raises(RoutecheckError, match=refused):
        EvaluationSession.start(settings)
    assert not (tmp_path / "reports").exists() or not any((tmp_path / "reports").iterdir())


def test_the_report_header_names_the_weights(tmp_path: Path) -> None:
    from harness.render.html import render_report
    from tests.reportdata import outputs_where, run, synthetic_rows

    rows = synthetic_rows(4)
    results = run(tmp_path, rows, outputs_where(rows))
    assert "data-dtype" not in render_report(results)  # float32 (or no weights): no mention
    details = {"dtype": "bfloat16", "head_dtype": "float32"}
    bf16 = results.model_copy(
        update={"checkpoint": results.checkpoint.model_copy(update={"details": details})}
    )
    assert 'data-dtype="bfloat16">bfloat16 weights, float32 head<' in render_report(bf16)


# -- the transformers backend on a tiny random model ---------------------------------------

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from harness.backends._hf_speed import onednn_available, packed  # noqa: E402
from harness.backends.base import DecodingConfig  # noqa: E402
from harness.backends.hf import HFBackend, load_hf_backend  # noqa: E402
from harness.errors import CheckpointError  # noqa: E402
from tests.test_decode_parity import (  # noqa: E402
    assert_parity,
    recording,
    reference_tokens,
    tiny_requests,
    with_mid_stop,
)
from tests.tinymodel import build_tiny_model, build_tokenizer, offline_cache  # noqa: E402


@pytest.fixture(autouse=True)
def _offline(monkeypatch: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    offline_cache(monkeypatch, tmp_path_factory)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dtype")
    return build_tiny_model(root / "model", build_tokenizer(root / "tokenizer"))


@pytest.fixture(scope="module")
def bf16(model_dir: Path) -> HFBackend:
    """The tiny model in bfloat16, with one more stop token so rows end at different steps
    (as in the float32 parity tests)."""
    return with_mid_stop(load_hf_backend(str(model_dir), threads=1, dtype="bfloat16"))


def test_the_body_is_bfloat16_and_the_head_float32(bf16: HFBackend) -> None:
    model = bf16.model
    head = model.get_output_embeddings()
    embeddings = model.get_input_embeddings()
    assert head.weight.dtype == torch.float32
    # Untied: a copy of its own, which oneDNN packs where it can (the tied head it cannot).
    assert head.weight is not embeddings.weight
    assert packed(head) == onednn_available()
    others = [p.dtype for n, p in model.named_parameters() if p is not head.weight]
    assert others and set(others) == {torch.bfloat16}
    with torch.inference_mode():
        logits = model(input_ids=torch.tensor([[1, 2, 3]])).logits
    assert logits.dtype == torch.float32
    described = bf16.describe()
    assert (described["dtype"], described["head_dtype"]) == ("bfloat16", "float32")


def test_the_fingerprint_tells_the_weights_apart(model_dir: Path) -> None:
    default = load_hf_backend(str(model_dir), threads=1)
    explicit = load_hf_backend(str(model_dir), threads=1, dtype="float32")
    half = load_hf_backend(str(model_dir), threads=1, dtype="bfloat16")
    assert default.fingerprint() == explicit.fingerprint()  # float32 keys stay valid
    assert half.fingerprint() != default.fingerprint()
    assert half.fingerprint() == load_hf_backend(str(model_dir), dtype="bfloat16").fingerprint()
    assert default.describe()["dtype"] == "float32"


def test_an_unknown_dtype_is_refused_at_load(model_dir: Path) -> None:
    with pytest.raises(CheckpointError, match="dtype 'float16' is not accepted"):
        load_hf_backend(str(model_dir), threads=1, dtype="float16")


@pytest.mark.parametrize("batch_size", [1, 2, 6])
def test_bfloat16_decoding_matches_model_generate_token_for_token(
    bf16: HFBackend, batch_size: int
) -> None:
    config = DecodingConfig(max_new_tokens=24, batch_size=batch_size)
    lengths = {len(reference_tokens(bf16, r, config)) for r in tiny_requests()}
    assert len(lengths) >= 3, lengths  # rows really finish at different steps
    assert_parity(bf16, tiny_requests(), config)


def test_bfloat16_lookup_trees_change_no_token(bf16: HFBackend) -> None:
    """Tree drafts verified under the tree mask, in bfloat16: the same tokens as
    model.generate, with drafts that really were taken."""
    drafting = HFBackend(bf16.checkpoint, bf16.model, bf16.tokenizer, 1)
    config = DecodingConfig(max_new_tokens=24)
    drafting.add_lookup_sequences([reference_tokens(bf16, r, config) for r in tiny_requests()])
    tree = DecodingConfig(max_new_tokens=24, batch_size=2, lookup=6, lookup_tree=12)
    assert_parity(drafting, tiny_requests(), tree)
    rec = recording(drafting, True)
    rec.generate(tiny_requests(), tree)
    assert rec.accepted > 0


def test_a_run_in_bfloat16_records_its_weights_end_to_end(model_dir: Path, tmp_path: Path) -> None:
    """Settings to session to backend to results.json and the report: the run says which
    weights answered, and its outputs are not the float32 run's cache entries."""
    from harness.results import read_results
    from harness.session import EvaluationSession

    keys = {"customer_support/pos-track-001", "customer_support/chat-001"}
    runs = {}
    for name, dtype in (("float32", "float32"), ("bfloat16", "bfloat16"), ("again", "float32")):
        settings = build_settings(
            {"golden": GOLDEN, "reports_dir": str(tmp_path / "reports")},
            {"checkpoint": str(model_dir), "dtype": dtype, "max_new_tokens": 6},
        )
        session = EvaluationSession.start(settings)
        session.selected = keys
        session.run()
        assert session.files is not None and session.files.report is not None
        runs[name] = (read_results(session.files.results), session.files.report)
    (f32, f32_report), (bf16, bf16_report) = runs["float32"], runs["bfloat16"]
    assert f32.checkpoint.details["dtype"] == "float32"
    assert (bf16.checkpoint.details["dtype"], bf16.checkpoint.details["head_dtype"]) == (
        "bfloat16",
        "float32",
    )
    assert bf16.checkpoint.fingerprint != f32.checkpoint.fingerprint
    assert not bf16.timing.get("cached_cases")  # nothing replayed from the float32 run
    assert runs["again"][0].timing.get("cached_cases") == 2  # while float32 replays its own
    assert "bfloat16 weights, float32 head" in bf16_report.read_text(encoding="utf-8")
    assert "data-dtype" not in f32_report.read_text(encoding="utf-8")
