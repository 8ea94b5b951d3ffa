"""The savers of :mod:`harness.backends._hf_speed`.

* grouped-query attention through SDPA's own ``enable_gqa`` gives bit-identical attention
  to transformers' repeated heads, and a model switched to it gives bit-identical logits;
* the output head computed on the positions a pass reads gives the same logits there, and
  leaves the head as it found it;
* oneDNN's matmul in the linear layers agrees with ``F.linear`` to rounding, steps aside
  when gradients are wanted, and ``linear="stock"`` or :func:`stock_kernels` undo it;
* weights packed once for oneDNN give the same layer to rounding, unpack to the very
  same values, leave a tied weight alone and free the buffer the loader's views kept.

The backend's decoding with both on is held to ``model.generate`` token for token in
``tests/test_decode_parity.py`` and ``tests/test_lookup.py``.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from harness.backends._hf_speed import (
    ATTENTION,
    OneDNNLinear,
    _sdpa_native_gqa,
    dense_weight,
    head_rows,
    onednn_available,
    pack_onednn_weights,
    packed,
    read_positions,
    stock_attention,
    stock_kernels,
    unpack_onednn_weights,
    use_native_gqa,
    use_onednn_linear,
)
from harness.backends.base import DecodingConfig, GenerationRequest
from harness.backends.hf import load_hf_backend
from harness.errors import CheckpointError
from tests.tinymodel import build_tiny_model, build_tokenizer, offline_cache, toy_catalog


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: Any) -> None:
    offline_cache(monkeypatch, tmp_path_factory)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("speed")
    return build_tiny_model(root / "model", build_tokenizer(root / "tokenizer"))


def _padded_batch(vocab: int) -> dict[str, torch.Tensor]:
    """Two rows, the second left-padded: a masked pass over several query tokens."""
    torch.manual_seed(3)
    ids = torch.randint(3, vocab, (2, 9))
    mask = torch.ones(2, 9, dtype=torch.long)
    mask[1, :4] = 0
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return {"input_ids": ids, "attention_mask": mask, "position_ids": positions}


@pytest.mark.parametrize(("queries", "keys"), [(5, 40), (17, 17), (2, 130)])
def test_native_gqa_attention_is_bit_identical_to_repeated_heads(queries: int, keys: int) -> None:
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    torch.manual_seed(queries)
    module = SimpleNamespace(num_key_value_groups=3, is_causal=True)
    query = torch.randn(4, 9, queries, 64)
    key, value = torch.randn(4, 3, keys, 64), torch.randn(4, 3, keys, 64)
    mask = torch.rand(4, 1, queries, keys) > 0.3
    mask[..., -1] = True  # every query sees at least one key
    ours, _ = _sdpa_native_gqa(module, query, key, value, mask, scaling=0.125)  # type: ignore[arg-type]
    stock, _ = sdpa_attention_forward(module, query, key, value, mask, scaling=0.125)  # type: ignore[arg-type]
    assert ours.shape == stock.shape == (4, queries, 9, 64)
    assert torch.equal(ours, stock)


def test_a_backend_switches_an_sdpa_model_and_its_logits_stay_bit_identical(
    model_dir: Path,
) -> None:
    backend = load_hf_backend(str(model_dir), threads=1)
    assert backend.native_gqa
    assert backend.model.config._attn_implementation == ATTENTION
    assert use_native_gqa(backend.model)  # a second backend on the same model says so too
    batch = _padded_batch(backend.model.config.vocab_size)
    with torch.inference_mode():
        ours = backend.model(**batch).logits
        backend.model.set_attn_implementation("sdpa")
        stock = backend.model(**batch).logits
    assert torch.equal(ours, stock)


def test_a_model_on_another_attention_is_left_alone(model_dir: Path) -> None:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, attn_implementation="eager")
    assert not use_native_gqa(model)
    assert model.config._attn_implementation == "eager"


def test_read_positions_counts_each_rows_reads_from_the_right() -> None:
    assert read_positions([3, 3], 3) is None  # every position is read: no selection
    assert read_positions([1, 3, 2], 3).tolist() == [2, 3, 4, 5, 7, 8]  # type: ignore[union-attr]
    assert read_positions([1], 1) is None


def test_the_head_on_read_positions_gives_their_logits_and_is_restored(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = load_hf_backend(str(model_dir), threads=1)
    model = backend.model
    batch = _padded_batch(model.config.vocab_size)
    head = model.get_output_embeddings()
    plain = type(head).forward
    rows: list[int] = []

    def counting(self: Any, x: torch.Tensor) -> torch.Tensor:
        if self is head:
            rows.append(x.reshape(-1, x.shape[-1]).shape[0])
        return plain(self, x)

    index = read_positions([1, 4], 4)
    assert index is not None
    monkeypatch.setattr(type(head), "forward", counting)
    with torch.inference_mode():
        full = model(**batch, logits_to_keep=4).logits
        with head_rows(model, index):
            part = model(**batch, logits_to_keep=4).logits
    assert rows == [2 * 4, 5]  # the plain pass computes 8 positions, the saver 5
    assert part.shape == full.shape
    for k, j in ((0, 3), (1, 0), (1, 1), (1, 2), (1, 3)):
        torch.testing.assert_close(part[k, j], full[k, j], rtol=1e-6, atol=1e-6)
        assert int(part[k, j].argmax()) == int(full[k, j].argmax())
    assert "forward" not in head.__dict__  # the class's forward again


def test_the_head_is_restored_when_the_pass_fails(model_dir: Path) -> None:
    backend = load_hf_backend(str(model_dir), threads=1)
    head = backend.model.get_output_embeddings()
    with pytest.raises(RuntimeError, match="boom"), head_rows(backend.model, None):
        raise RuntimeError("boom")
    assert "forward" not in head.__dict__


def test_lookup_decoding_reads_ragged_rows_and_answers_as_without_the_saver(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows draft unequal lengths, so some passes compute the head on fewer positions than
    they keep; the answers are those of a head computed everywhere."""
    import harness.backends._hf_decode as decode

    backend = load_hf_backend(str(model_dir), threads=1)
    backend.add_lookup_corpus(["where is my order ORD-1234", "hi there, what is your policy"])
    system = toy_catalog().system_prompt()
    requests = [
        GenerationRequest(
            id=str(i),
            messages=[{"role": "system", "content": system}, {"role": "user", "content": text}],
        )
        for i, text in enumerate(["hi there", "Where is my order ORD-1234?", "track ORD-9"])
    ]
    config = DecodingConfig(max_new_tokens=16, batch_size=3, lookup=4)
    selections: list[int] = []

    def recording(model: Any, index: torch.Tensor | None) -> Any:
        selections.append(-1 if index is None else len(index))
        return head_rows(model, index)

    monkeypatch.setattr(decode, "head_rows", recording)
    saved = [g.text for g in backend.generate(requests, config)]
    assert any(n > 0 for n in selections), selections  # some pass read a ragged set

    monkeypatch.setattr(decode, "head_rows", lambda model, index: head_rows(model, None))
    assert [g.text for g in backend.generate(requests, config)] == saved


def test_stock_attention_switches_back_for_the_block_only(model_dir: Path) -> None:
    backend = load_hf_backend(str(model_dir), threads=1)
    with stock_attention(backend.model):
        assert backend.model.config._attn_implementation == "sdpa"
    assert backend.model.config._attn_implementation == ATTENTION


needs_onednn = pytest.mark.skipif(not onednn_available(), reason="this torch has no oneDNN")


@needs_onednn
@pytest.mark.parametrize("rows", [1, 7, 40])
def test_onednn_linear_agrees_with_f_linear_to_rounding(rows: int) -> None:
    torch.manual_seed(rows)
    stock = torch.nn.Linear(96, 130)
    layer = torch.nn.Linear(96, 130)
    layer.load_state_dict(stock.state_dict())
    layer.__class__ = OneDNNLinear
    x = torch.randn(2, rows, 96)
    with torch.inference_mode():
        torch.testing.assert_close(layer(x), stock(x), rtol=1e-5, atol=1e-5)
        strided = x.transpose(0, 1)  # a non-contiguous input
        torch.testing.assert_close(layer(strided), stock(strided), rtol=1e-5, atol=1e-5)


@needs_onednn
def test_onednn_linear_steps_aside_for_gradients(monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.backends._hf_speed as speed

    calls: list[int] = []
    kernel = speed.onednn_linear

    def counted(*args: Any) -> Any:
        calls.append(1)
        return kernel(*args)

    monkeypatch.setattr(speed, "onednn_linear", counted)
    layer = OneDNNLinear(8, 4)
    x = torch.randn(3, 8)
    layer(x).sum().backward()  # training through it works, on F.linear
    assert not calls and layer.weight.grad is not None
    with torch.no_grad():
        layer(x)
    assert calls == [1]
    wide = layer.double()
    with torch.no_grad():
        out = wide(x.double())  # another dtype: the plain layer
    assert torch.equal(out, torch.nn.functional.linear(x.double(), wide.weight, wide.bias))
    assert calls == [1]


@needs_onednn
def test_a_backend_runs_its_linear_layers_on_onednn_unless_told_stock(model_dir: Path) -> None:
    fast = load_hf_backend(str(model_dir), threads=1)
    layers = [m for m in fast.model.modules() if isinstance(m, torch.nn.Linear)]
    assert layers and all(type(m) is OneDNNLinear for m in layers)
    assert fast.linear == "onednn" and fast.describe()["linear"] == "onednn"
    batch = _padded_batch(fast.model.config.vocab_size)
    with torch.inference_mode():
        ours = fast.model(**batch).logits
        with stock_kernels(fast.model):
            assert all(type(m) is torch.nn.Linear for m in layers)
            assert fast.model.config._attn_implementation == "sdpa"
            stock = fast.model(**batch).logits
    assert all(type(m) is OneDNNLinear for m in layers)  # switched back after the block
    assert fast.model.config._attn_implementation == ATTENTION
    torch.testing.assert_close(ours, stock, rtol=1e-4, atol=1e-4)

    plain = load_hf_backend(str(model_dir), threads=1, linear="stock")
    assert plain.linear == "stock" and plain.describe()["linear"] == "stock"
    assert all(
        type(m) is torch.nn.Linear for m in plain.model.modules() if isinstance(m, torch.nn.Linear)
    )
    assert plain.fingerprint() != fast.fingerprint()  # other rounding, another cache key


@pytest.mark.parametrize("kernel", ["mkl", "", "ONEDNN", 3, None, ["onednn"]])
def test_an_unknown_linear_kernel_is_refused_by_name(model_dir: Path, kernel: Any) -> None:
    with pytest.raises(
        CheckpointError, match=r"linear=.*is not a kernel choice; use onednn or stock"
    ):
        load_hf_backend(str(model_dir), threads=1, linear=kernel)


@needs_onednn
def test_only_plain_float32_linear_layers_are_switched() -> None:
    class Quantised(torch.nn.Linear):
        pass

    model = torch.nn.Sequential(
        torch.nn.Linear(4, 4), Quantised(4, 4), torch.nn.Linear(4, 4).to(torch.bfloat16)
    )
    assert use_onednn_linear(model) == 1
    assert [type(m) for m in model] == [OneDNNLinear, Quantised, torch.nn.Linear]
    assert use_onednn_linear(torch.nn.Sequential(torch.nn.ReLU())) == 0


class _TiedModel(torch.nn.Module):
    """Two linear layers and a head tied to the embeddings, as SmolLM2 ties them."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(50, 24)
        self.up = torch.nn.Linear(24, 40)
        self.down = torch.nn.Linear(40, 24, bias=False)
        self.head = torch.nn.Linear(24, 50, bias=False)
        self.head.weight = self.embed.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.down(torch.relu(self.up(self.embed(ids)))))


@needs_onednn
def test_packed_weights_give_the_same_layers_and_unpack_exactly() -> None:
    torch.manual_seed(0)
    model = _TiedModel()
    plain = {n: p.detach().clone() for n, p in model.named_parameters()}
    ids = torch.randint(0, 50, (3, 7))
    with torch.inference_mode():
        stock = model(ids)
    assert use_onednn_linear(model) == 3
    assert [packed(m) for m in (model.up, model.down, model.head)] == [True, True, False]
    assert model.head.weight is model.embed.weight  # the tie holds
    with torch.inference_mode():
        torch.testing.assert_close(model(ids), stock, rtol=1e-5, atol=1e-5)
        strided = torch.randn(7, 3, 24).transpose(0, 1)  # a non-contiguous input
        torch.testing.assert_close(
            model.up(strided),
            torch.nn.functional.linear(strided, plain["up.weight"], plain["up.bias"]),
            rtol=1e-5,
            atol=1e-5,
        )
    assert torch.equal(dense_weight(model.up), plain["up.weight"])
    assert pack_onednn_weights(model) == 0  # packed already: nothing more

    with stock_kernels(model):
        assert not any(packed(m) for m in model.modules())
        assert type(model.up) is torch.nn.Linear
        assert model.up.weight.requires_grad  # as loaded
        assert torch.equal(model.up.weight, plain["up.weight"])
        with torch.inference_mode():
            assert torch.equal(model(ids), stock)  # exactly F.linear again
    assert packed(model.up) and packed(model.down)  # packed again after the block

    assert unpack_onednn_weights(model) == 2
    assert type(model.up) is OneDNNLinear and not packed(model.up)
    for name, param in model.named_parameters():
        assert torch.equal(param, plain[name]), name


@needs_onednn
def test_an_empty_or_shared_weight_stays_plain() -> None:
    empty = torch.nn.Linear(4, 0)
    twin = torch.nn.Linear(6, 6)
    other = torch.nn.Linear(6, 6)
    other.weight = torch.nn.Parameter(twin.weight.data)  # another Parameter, the same data
    model = torch.nn.Sequential(empty, twin, other)
    assert use_onednn_linear(model) == 3
    assert not any(packed(m) for m in model)
    with torch.inference_mode():
        assert empty(torch.randn(2, 4)).shape == (2, 0)


@needs_onednn
def test_a_packed_layer_still_trains_through_its_input() -> None:
    torch.manual_seed(1)
    layer = torch.nn.Linear(12, 5)
    reference = torch.nn.Linear(12, 5)
    reference.load_state_dict(layer.state_dict())
    use_onednn_linear(layer)
    assert packed(layer) and not layer.weight.requires_grad
    x = torch.randn(4, 12, requires_grad=True)
    layer(x).square().sum().backward()  # the plain path, on an unpacked copy
    x_ref = x.detach().clone().requires_grad_()
    reference(x_ref).square().sum().backward()
    assert x.grad is not None and x_ref.grad is not None
    torch.testing.assert_close(x.grad, x_ref.grad)


@needs_onednn
def test_packing_frees_the_buffer_the_loaders_views_keep() -> None:
    """transformers leaves the weights as views of the checkpoint's buffer: once the
    packed copies replace the linear weights, the rest must not keep it whole."""
    model = _TiedModel()
    params = list({id(p): p for p in model.parameters()}.values())
    buffer = torch.zeros(sum(p.numel() for p in params))
    offset = 0
    with torch.no_grad():
        for param in params:
            part = buffer[offset : offset + param.numel()].view_as(param)
            part.copy_(param)
            param.data = part
            offset += param.numel()
    ref = buffer.untyped_storage()._weak_ref()
    del buffer, part, param, params  # the model alone holds the views now
    assert not torch.UntypedStorage._expired(ref)  # the views keep it
    assert use_onednn_linear(model) == 3
    assert torch.UntypedStorage._expired(ref)


@needs_onednn
def test_the_fingerprint_records_packed_weights(model_dir: Path) -> None:
    backend = load_hf_backend(str(model_dir), threads=1)
    assert backend.packed_layers > 0 and backend.describe()["packed_layers"] > 0
    packed_key = backend.fingerprint()
    backend.packed_layers, backend._fingerprint = 0, None
    assert backend.fingerprint() != packed_key  # other rounding, another cache key
