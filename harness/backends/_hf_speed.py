"""Costs of a forward pass on the CPU: two that change no value, only the work behind it,
and one kernel choice that changes only rounding.

Both were found by profiling the reference router's suite on a 2-core CPU (batch 16,
lookup drafts), where they took about a fifth of the time:

* **Grouped-query attention without copies.** transformers' SDPA path repeats each
  key/value head for its query heads (``repeat_kv``, a copy of the whole cache in every
  layer) whenever a pass has more than one query token and a mask, which is every lookup
  or jump-forward step. torch's SDPA reads the shared heads itself (``enable_gqa``), with
  bit-identical results on the CPU (``tests/test_speed.py``).
* **The output head on the positions read.** A step keeps the logits of the last
  ``1 + longest draft`` positions of every row, but a row with a shorter draft reads fewer.
  The head (49,152 x 576 for SmolLM2) is about a third of a wide pass. Its input was also a
  strided slice, which sends ``F.linear`` to a batched matmul over a broadcast weight, about
  2.7x slower than the plain matmul on the same numbers. :func:`head_rows` computes the head
  on the rows read only, contiguous; the rows not read are left unset.

And one that changes rounding, not answers:

* **oneDNN's matmul for float32 linear layers.** ``F.linear`` on float32 runs MKL's sgemm,
  which on this project's AMD CPU (AVX-512) took about 1.3x as long as oneDNN's matmul on
  the same weights, at every pass width from 1 to 80 tokens; the linear layers are three
  quarters of a pass. The two sum in a different order (values differ by about 1e-6);
  the reference router's 252 greedy answers were the same under both, free and
  constrained. :func:`use_onednn_linear` switches a model's layers; ``linear="stock"`` at
  load keeps MKL.
* **Weights packed once.** Given a plain ``[out, in]`` weight, oneDNN reorders it into its
  blocked layout on every call. :func:`pack_onednn_weights` does that once, at load, for
  every layer that owns its weight (not the head tied to the embeddings): a 20-token pass
  over the body's layers took about a fifth less time. It rounds a little differently
  again, so the fingerprint records it. The packed copy replaces the plain one, so memory
  does not grow, once every other parameter owns its storage (transformers' loader leaves
  them as views of the checkpoint's memory map, which one live view keeps mapped).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

ATTENTION = "routecheck_sdpa"
"""The attention implementation :func:`use_native_gqa` gives a model (SDPA otherwise)."""


def _sdpa_native_gqa(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers' SDPA attention, except that a masked pass over several query tokens
    lets SDPA share the key/value heads instead of copying them."""
    groups = getattr(module, "num_key_value_groups", 1)
    if (
        groups > 1
        and query.shape[2] > 1
        and attention_mask is not None
        and not dropout
        and kwargs.get("position_bias") is None
        and kwargs.get("softcap") is None
        and key.shape[-1] == value.shape[-1]
    ):
        out = F.scaled_dot_product_attention(
            query, key, value, attn_mask=attention_mask, scale=scaling, enable_gqa=True
        )
        return out.transpose(1, 2).contiguous(), None
    return sdpa_attention_forward(
        module,
        query,
        key,
        value,
        attention_mask,
        dropout=dropout,
        scaling=scaling,
        is_causal=is_causal,
        **kwargs,
    )


AttentionInterface.register(ATTENTION, _sdpa_native_gqa)
AttentionMaskInterface.register(ATTENTION, sdpa_mask)


def use_native_gqa(model: Any) -> bool:
    """Switch a model that runs transformers' SDPA attention on the CPU to
    :func:`_sdpa_native_gqa`; any other model is left as it is. Returns whether it switched.
    transformers' continuous batching accepts only its own implementations: run it inside
    :func:`stock_attention`."""
    config = getattr(model, "config", None)
    current = getattr(config, "_attn_implementation", None)
    if current != "sdpa":
        return current == ATTENTION  # switched already (a second backend on the same model)
    if next(model.parameters()).device.type != "cpu":
        return False
    try:
        model.set_attn_implementation(ATTENTION)
    except (ValueError, TypeError, AttributeError):  # a model without the functional API
        return False
    return getattr(model.config, "_attn_implementation", None) == ATTENTION


@contextlib.contextmanager
def stock_attention(model: Any) -> Iterator[None]:
    """Within the block, a model :func:`use_native_gqa` switched runs transformers' SDPA."""
    config = getattr(model, "config", None)  # a bare module has no attention to switch
    switched = getattr(config, "_attn_implementation", None) == ATTENTION
    if switched:
        model.set_attn_implementation("sdpa")
    try:
        yield
    finally:
        if switched:
            model.set_attn_implementation(ATTENTION)


def read_positions(reads: Sequence[int], keep: int) -> torch.Tensor | None:
    """The flat indices of a ``[rows, keep]`` logits block that a pass reads, when row ``k``
    reads its last ``reads[k]`` positions; ``None`` when it reads them all."""
    if all(r >= keep for r in reads):
        return None
    index = [k * keep + j for k, r in enumerate(reads) for j in range(keep - min(r, keep), keep)]
    return torch.tensor(index, dtype=torch.long)


@contextlib.contextmanager
def head_rows(model: Any, index: torch.Tensor | None) -> Iterator[None]:
    """Within the block, the model's output head computes only the flat positions
    ``index`` of its ``[rows, keep]`` input (all of them when ``None``), from a contiguous
    copy; the other positions' logits are left unset (uninitialised memory), as nobody
    reads them."""
    head = model.get_output_embeddings()
    if not isinstance(head, torch.nn.Linear):
        yield
        return
    own = head.__dict__.get("forward")  # a forward already set on the instance
    plain = head.forward

    def forward(hidden: torch.Tensor) -> torch.Tensor:
        flat = hidden.reshape(-1, hidden.shape[-1])
        if index is None:
            return plain(flat.contiguous()).view(*hidden.shape[:-1], -1)
        part = plain(flat.index_select(0, index.to(flat.device)))
        out = part.new_empty(flat.shape[0], part.shape[-1])  # zeroing would cost more
        out.index_copy_(0, index.to(out.device), part)
        return out.view(*hidden.shape[:-1], -1)

    head.forward = forward  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        if own is None:
            del head.forward  # the class's own forward again
        else:
            head.forward = own  # type: ignore[method-assign]


LINEAR_KERNELS = ("onednn", "stock")
"""The matmul choices for a CPU model's float32 linear layers (``linear=`` at load)."""


def onednn_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> Any:
    """``F.linear(x, weight, bias)`` on oneDNN's matmul (float32, CPU, no gradients)."""
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")


class OneDNNLinear(torch.nn.Linear):
    """A float32 ``nn.Linear`` whose passes without gradients run oneDNN's matmul; with
    gradients, on another device or dtype, it is the plain layer. Its weight may be packed
    (:func:`pack_onednn_weights`): then the plain layer's path unpacks a copy per call."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        weight = self.weight
        if (
            input.dtype == weight.dtype == torch.float32
            and input.device.type == "cpu"
            and weight.device.type == "cpu"
            and not (torch.is_grad_enabled() and (input.requires_grad or weight.requires_grad))
        ):
            return onednn_linear(input, weight, self.bias)  # type: ignore[no-any-return]
        if weight.is_mkldnn:
            weight = weight.to_dense()
        return F.linear(input, weight, self.bias)


PACK_ROWS = 20
"""The pass width oneDNN lays packed weights out for: about a ``route()`` verification pass
(a 16-token draft tree and its root). Chosen among 1, 8, 20, 64 and 128 by timing the
body's layers at widths 1 to 120; 8 to 128 came out alike, and 1 no faster than unpacked."""


def packed(layer: torch.nn.Module) -> bool:
    """Whether ``layer``'s weight is in oneDNN's packed layout."""
    weight = getattr(layer, "weight", None)
    return isinstance(weight, torch.Tensor) and weight.is_mkldnn


def dense_weight(layer: torch.nn.Linear) -> torch.Tensor:
    """``layer``'s weight as a plain ``[out, in]`` tensor (a copy when it is packed)."""
    weight = layer.weight.detach()
    return weight.to_dense() if weight.is_mkldnn else weight


def pack_onednn_weights(model: Any) -> int:
    """Pack the weight of every :class:`OneDNNLinear` layer of ``model`` that owns it into
    oneDNN's blocked layout, once; returns how many were packed. A weight shared with
    another parameter (an output head tied to the embeddings) stays plain, as the other
    user needs it so. The packed weight no longer takes gradients: this is for inference.

    Then every other parameter gets storage of its own. transformers' loader leaves the
    weights as views of the checkpoint's memory map, which stays mapped while one view
    lives, so without the copies the plain weights' memory would stay taken beside the
    packed."""
    if not onednn_available():
        return 0
    named = list(model.named_parameters(remove_duplicate=False))
    names: dict[int, int] = {}  # a Parameter under two names: tied
    addresses: dict[int, int] = {}  # two Parameters over the same data: tied by hand
    for _, param in named:
        names[id(param)] = names.get(id(param), 0) + 1
    for param in {id(p): p for _, p in named}.values():
        if not param.is_mkldnn:
            addresses[param.data_ptr()] = addresses.get(param.data_ptr(), 0) + 1
    count = 0
    for layer in model.modules():
        if type(layer) is not OneDNNLinear or packed(layer):
            continue
        weight = layer.weight
        if (
            weight.dtype != torch.float32
            or weight.device.type != "cpu"
            or weight.dim() != 2
            or weight.numel() == 0
            or names[id(weight)] > 1
            or addresses[weight.data_ptr()] > 1
        ):
            continue
        layer._dense_requires_grad = weight.requires_grad  # type: ignore[assignment]
        block = torch.ops.mkldnn._reorder_linear_weight(weight.detach(), PACK_ROWS)
        layer.weight = torch.nn.Parameter(block, requires_grad=False)
        count += 1
    if count:
        with torch.no_grad():
            for param in {id(p): p for _, p in model.named_parameters()}.values():
                if not param.is_mkldnn:
                    param.data = param.data.clone()
    return count


def unpack_onednn_weights(model: Any) -> int:
    """Give every packed layer of ``model`` its plain weight again; returns how many."""
    count = 0
    for layer in model.modules():
        if isinstance(layer, torch.nn.Linear) and packed(layer):
            requires_grad = bool(layer.__dict__.pop("_dense_requires_grad", False))
            layer.weight = torch.nn.Parameter(dense_weight(layer), requires_grad=requires_grad)
            count += 1
    return count


@functools.cache
def onednn_available() -> bool:
    """Whether this torch has oneDNN's linear op and it agrees with ``F.linear``."""
    built = torch.backends.mkldnn.is_available()  # type: ignore[no-untyped-call]
    if not (built and hasattr(torch.ops.mkldnn, "_linear_pointwise")):
        return False
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, 64, generator=generator)
    weight = torch.randn(32, 64, generator=generator)
    bias = torch.randn(32, generator=generator)
    try:
        with torch.inference_mode():
            got = onednn_linear(x, weight, bias)
    except (RuntimeError, NotImplementedError):  # pragma: no cover - depends on the build
        return False
    return bool(torch.allclose(got, F.linear(x, weight, bias), rtol=1e-4, atol=1e-5))


def use_onednn_linear(model: Any, pack: bool = True) -> int:
    """Give every float32 ``nn.Linear`` of a CPU model oneDNN's matmul (:class:`OneDNNLinear`),
    with its weight packed once (:func:`pack_onednn_weights`) unless ``pack`` is false;
    returns how many layers run it (0 when oneDNN is missing). Subclasses of ``nn.Linear``
    (quantised or adapter layers) are left alone."""
    layers = [
        m
        for m in model.modules()
        if type(m) in (torch.nn.Linear, OneDNNLinear)
        and m.weight.dtype == torch.float32
        and m.weight.device.type == "cpu"
    ]
    if not layers or not onednn_available():
        return 0
    for layer in layers:
        layer.__class__ = OneDNNLinear
    if pack:
        pack_onednn_weights(model)
    else:
        unpack_onednn_weights(model)
    return len(layers)


def stock_linear(model: Any) -> list[torch.nn.Linear]:
    """Give every layer :func:`use_onednn_linear` switched ``F.linear`` and its plain weight
    again; returns them."""
    switched: list[torch.nn.Linear] = [m for m in model.modules() if type(m) is OneDNNLinear]
    unpack_onednn_weights(model)
    for layer in switched:
        layer.__class__ = torch.nn.Linear
    return switched


@contextlib.contextmanager
def stock_kernels(model: Any) -> Iterator[None]:
    """Within the block, a model runs as transformers loaded it: stock SDPA attention and
    ``F.linear`` on plain weights (for a baseline that should not get this module's
    savings). Weights packed before the block are packed again after it."""
    was_packed = any(packed(m) for m in model.modules() if type(m) is OneDNNLinear)
    switched = stock_linear(model)
    try:
        with stock_attention(model):
            yield
    finally:
        for layer in switched:
            layer.__class__ = OneDNNLinear
        if was_packed:
            pack_onednn_weights(model)
