"""The transformers backend's decoding: greedy, fp32, batched, with a shared prefix cache.

Generation is fast without changing a single output (greedy, fp32):

* the system prompt that every request of a catalog shares is run through the model once;
  its key/value cache is copied into every batch (rows laid out as
  ``[prefix][padding][request]``, the padding masked out and position ids counted past it,
  so every real token sees exactly what it sees when run alone);
* requests are queued shortest prompt first and decoded up to ``batch_size`` at a time;
* each sequence stops as soon as its top-level JSON object closes (or at EOS, or at
  ``max_new_tokens``), leaves the batch at once, and a queued request takes its place, so no
  step is spent on finished sequences. Nothing after the closing brace is returned.

In the ``native`` format the prompt carries the catalog as ``tools=`` through the chat
template and a sequence runs to EOS (a tool-call syntax has no JSON object to close); the
output keeps the template's markers, so transformers' response parsing can read it.

With ``DecodingConfig(mode="constrained")`` each row's logits are masked by its request's
output grammar and forced text is appended without decode steps (jump-forward): a step
feeds each row every token the cache does not hold yet, left-padded to the longest, so
free decoding (one token a row) runs exactly as before. See
:mod:`harness.backends._hf_constrained`.
"""

from __future__ import annotations

import copy
import hashlib
from collections import OrderedDict, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import DynamicCache, GenerationConfig

from harness.backends._hf_fingerprint import file_sha256
from harness.backends._hf_lookup import (
    LookupDrafter,
    PromptIndex,
    copyable,
    respell,
    word_classes,
)
from harness.backends._hf_speed import (
    LINEAR_KERNELS,
    head_rows,
    packed,
    read_positions,
    stock_linear,
    use_native_gqa,
    use_onednn_linear,
)
from harness.backends.base import (
    Backend,
    DecodingConfig,
    Generation,
    GenerationRequest,
    ProgressCallback,
)
from harness.checkpoints import ResolvedCheckpoint
from harness.errors import CheckpointError
from harness.formats.native import ResponseParser, ensure_response_template, tokenizer_parser
from harness.hfcompat import CACHE_KEYWORD
from harness.parse import scan_object

_MAX_PREFIXES = 8
_MAX_PIECES = 65536
"""Words whose tokens lookup decoding keeps (a long-running server meets new ones)."""


# --------------------------------------------------------------------------------------
# Where the top-level JSON object ends


def json_object_end(text: str) -> int | None:
    """Index just past the ``}`` that closes the first top-level JSON object, else ``None``.

    Scanning starts at the first ``{`` (anything before it is ignored); braces inside
    string literals, escaped quotes included, do not count.
    """
    start = text.find("{")
    return None if start < 0 else scan_object(text, start)[0]


def cut_after_json(text: str) -> str:
    """``text`` without anything after its top-level JSON object (unchanged if none closes)."""
    end = json_object_end(text)
    return text if end is None else text[:end]


# The backend


@dataclass
class _Row:
    """One sequence being decoded: the tokens it has produced and why it stopped."""

    index: int
    tokens: list[int] = field(default_factory=list)
    ended: bool = False  # EOS
    closed: bool = False  # its top-level JSON object closed
    truncated: bool = False  # max_new_tokens reached first
    matcher: Any = None  # constrained decoding: the row's grammar state
    fed: int = 0  # how many of ``tokens`` the key/value cache holds
    context: list[int] = field(default_factory=list)  # lookup decoding: the prompt's tokens
    draft: list[int] = field(default_factory=list)  # lookup decoding: tokens to verify next
    parents: list[int] = field(default_factory=list)  # each draft token's parent (-1: none)
    prompt: PromptIndex | None = None  # tree drafts: the n-grams of ``context``
    respelled: list[list[int]] = field(default_factory=list)  # lookup: :func:`respell`
    copyable: tuple[list[str], dict[str, list[list[int]]]] = field(default_factory=lambda: ([], {}))

    @property
    def finished(self) -> bool:
        return self.ended or self.closed or self.truncated


@dataclass
class _State:
    """The running batch: a shared key/value cache, which cached columns each row may
    attend to (``mask``), and the position id of each row's next token."""

    cache: Any
    mask: torch.Tensor
    positions: torch.Tensor


def _conversation_text(messages: Sequence[dict[str, str]]) -> str:
    """The words of every turn but the system prompt's (which a catalog shares), for
    lookup drafts: the chat template's own markup and role names are not in it."""
    turns = [m.get("content") for m in messages if m.get("role") != "system"]
    return "\n".join(t for t in turns if isinstance(t, str))


def _left_pad(x: torch.Tensor, n: int, dim: int) -> torch.Tensor:
    if n == 0:
        return x
    shape = list(x.shape)
    shape[dim] = n
    return torch.cat([x.new_zeros(shape), x], dim=dim)


def _merge(a: _State, b: _State) -> _State:
    """Stack two batches; the shorter cache gets masked zero columns on the left."""
    ta, tb = a.mask.shape[1], b.mask.shape[1]
    width = max(ta, tb)
    for la, lb in zip(a.cache.layers, b.cache.layers, strict=True):
        la.keys = torch.cat([_left_pad(la.keys, width - ta, 2), _left_pad(lb.keys, width - tb, 2)])
        la.values = torch.cat(
            [_left_pad(la.values, width - ta, 2), _left_pad(lb.values, width - tb, 2)]
        )
    mask = torch.cat([_left_pad(a.mask, width - ta, 1), _left_pad(b.mask, width - tb, 1)])
    return _State(a.cache, mask, torch.cat([a.positions, b.positions]))


def _select(state: _State, keep: list[int]) -> _State:
    """Keep some rows; drop leading cache columns that no remaining row attends to."""
    index = torch.tensor(keep, dtype=torch.long, device=state.mask.device)
    state.cache.batch_select_indices(index)
    mask = state.mask[index]
    first = int(mask.any(0).int().argmax())
    if first > 0:
        for layer in state.cache.layers:
            layer.keys = layer.keys[:, :, first:]
            layer.values = layer.values[:, :, first:]
        mask = mask[:, first:]
    return _State(state.cache, mask, state.positions[index])


def _is_chain(parents: Sequence[int]) -> bool:
    return all(p == i - 1 for i, p in enumerate(parents))


def _tree_block(
    layouts: Sequence[tuple[int, Sequence[int]]], width: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Attention among the tokens one pass feeds, when some row's draft is a tree.

    Each row feeds, right-aligned in ``width`` columns, ``linear`` tokens that follow one
    another (its prompt or pending tokens) and then its draft tree (``parents``). Returns
    which new token may see which ([B, W, W]: the linear tokens causally, a draft token
    the linear tokens, its ancestors and itself), each token's position offset from the
    row's next position ([B, W]: a draft token sits at its depth, so every branch has the
    positions it would have alone), and which columns are real tokens ([B, W]). Padding
    sees only itself, so no attention row is empty.
    """
    batch = len(layouts)
    block = torch.zeros(batch, width, width, dtype=torch.bool)
    offsets = torch.zeros(batch, width, dtype=torch.long)
    real = torch.zeros(batch, width, dtype=torch.long)
    diagonal = torch.arange(width)
    block[:, diagonal, diagonal] = True
    for b, (linear, parents) in enumerate(layouts):
        first = width - linear - len(parents)
        real[b, first:] = 1
        span = slice(first, first + linear)
        block[b, span, span] = torch.tril(torch.ones(linear, linear, dtype=torch.bool))
        offsets[b, span] = torch.arange(linear)
        depth: list[int] = []
        for j, parent in enumerate(parents):
            q = first + linear + j
            if parent < 0:
                block[b, q, span] = True
                depth.append(0)
            else:
                block[b, q] |= block[b, first + linear + parent]
                depth.append(depth[parent] + 1)
            offsets[b, q] = linear + depth[-1]
    return block, offsets, real


class HFBackend(Backend):
    """A transformers causal LM with its tokenizer, decoding greedily in batches."""

    decodings = ("free", "constrained")

    def __init__(
        self,
        checkpoint: ResolvedCheckpoint,
        model: Any,
        tokenizer: Any,
        threads: int,
        prefix_cache: bool = True,
        chat_template: str | None = None,
        linear: str = "onednn",
    ) -> None:
        if linear not in LINEAR_KERNELS:
            raise CheckpointError(
                f"--checkpoint {checkpoint.spec}: linear={linear!r} is not a kernel choice; "
                f"use {' or '.join(LINEAR_KERNELS)}"
            )
        self.checkpoint = checkpoint
        self.chat_template = chat_template
        self.spec = checkpoint.spec
        self.model = model
        self.tokenizer = tokenizer
        self.threads = threads
        self.prefix_cache = prefix_cache
        self.device = next(model.parameters()).device
        eos: set[int] = set()
        for source in (model.generation_config.eos_token_id, tokenizer.eos_token_id):
            if isinstance(source, int):
                eos.add(source)
            elif isinstance(source, list | tuple):
                eos.update(int(t) for t in source)
        if not eos:
            raise CheckpointError(f"--checkpoint {self.spec}: the tokenizer has no EOS token")
        self.eos_ids = sorted(eos)
        self.eos_set = frozenset(self.eos_ids)
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad) if pad is not None else self.eos_ids[0]
        # Greedy only: drop any sampling or penalty settings the checkpoint carries, so a
        # plain model.generate() on this model decodes as this backend does.
        model.generation_config = GenerationConfig(  # type: ignore[no-untyped-call]
            bos_token_id=model.generation_config.bos_token_id,
            eos_token_id=self.eos_ids,
            pad_token_id=self.pad_id,
        )
        self.native_gqa = use_native_gqa(model)
        """Attention shares key/value heads without copying them (same values, less work)."""
        if linear == "onednn":
            switched = use_onednn_linear(model)
        else:
            stock_linear(model)
            switched = 0
        self.linear = "onednn" if switched else "stock"
        """The float32 linear layers' matmul: ``onednn`` (faster on the CPU, other rounding)
        or ``stock`` (``F.linear``, as transformers runs it)."""
        self.packed_layers = sum(1 for m in model.modules() if packed(m))
        """Linear layers whose weights oneDNN packed once at load (the tied head is not)."""
        self._prefixes: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        self._fingerprint: str | None = None
        self.jump_forward = True
        """Constrained decoding appends forced tokens without a decode step each."""
        self.forward_passes = 0
        """Model calls so far (prefills and steps), to measure what jump-forward saves."""
        self._constrainer: Any = None
        self._lookup_corpus: list[list[int]] = []
        self._lookup_examples: list[tuple[str, str]] = []
        self._texts: list[str] = []
        self._drafters: dict[int, LookupDrafter] = {}
        self._same_word: list[int] | None = None
        self._pieces: dict[str, list[int]] = {}
        self.drafted = 0
        """Lookup decoding: draft tokens proposed so far, and how many the model kept."""
        self.accepted = 0

    # -- prompts ---------------------------------------------------------------------

    def encode(
        self, messages: Sequence[dict[str, str]], tools: Sequence[dict[str, Any]] | None = None
    ) -> list[int]:
        """The prompt's token ids, built by the tokenizer's own chat template."""
        extra = {"tools": list(tools)} if tools else {}
        out = self.tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=True, tokenize=True, return_dict=True, **extra
        )
        return list(out["input_ids"])

    def response_parser(self) -> ResponseParser:
        ensure_response_template(self.tokenizer, self.spec)
        return tokenizer_parser(self.tokenizer)

    def _prefix_length(
        self,
        messages: Sequence[dict[str, str]],
        ids: list[int],
        tools: Sequence[dict[str, Any]] | None = None,
    ) -> int:
        """How many leading tokens of ``ids`` are the system turn (shared by a catalog)."""
        if not self.prefix_cache or len(messages) < 2 or messages[0].get("role") != "system":
            return 0
        extra = {"tools": list(tools)} if tools else {}
        try:
            out = self.tokenizer.apply_chat_template(
                [dict(messages[0])],
                add_generation_prompt=False,
                tokenize=True,
                return_dict=True,
                **extra,
            )
        except Exception:  # some templates refuse a chat without a user turn
            return 0
        system = list(out["input_ids"])
        n = 0
        for a, b in zip(system, ids, strict=False):
            if a != b:
                break
            n += 1
        return min(n, len(ids) - 1)

    def _cached_prefix(self, prefix: tuple[int, ...]) -> Any:
        if prefix in self._prefixes:
            self._prefixes.move_to_end(prefix)
            return self._prefixes[prefix]
        ids = torch.tensor([prefix], dtype=torch.long, device=self.device)
        out = self.model(
            input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=True, logits_to_keep=1
        )
        cache = self._prefixes[prefix] = getattr(out, CACHE_KEYWORD)
        while len(self._prefixes) > _MAX_PREFIXES:
            self._prefixes.popitem(last=False)
        return cache

    # -- generation ------------------------------------------------------------------

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        config: DecodingConfig,
        progress: ProgressCallback | None = None,
    ) -> list[Generation]:
        torch.set_num_threads(self.threads)
        if config.mode == "constrained":
            self._check_constrained(requests, config)
        encoded: list[tuple[tuple[int, ...], list[int]]] = []
        for request in requests:
            ids = self.encode(request.messages, request.tools)
            cut = self._prefix_length(request.messages, ids, request.tools)
            encoded.append((tuple(ids[:cut]), ids[cut:]))
        groups: dict[tuple[int, ...], list[int]] = {}
        for index, (prefix, _) in enumerate(encoded):
            groups.setdefault(prefix, []).append(index)
        # A system prompt no other request shares (each case with its own tools) saves
        # nothing as a cached prefix, and alone in its group it would decode at batch size
        # 1: such requests run together as whole, left-padded prompts instead.
        alone = [m[0] for p, m in groups.items() if p and len(m) == 1]
        if len(alone) > 1:
            for index in alone:
                prefix, suffix = encoded[index]
                del groups[prefix]
                encoded[index] = ((), [*prefix, *suffix])
                groups.setdefault((), []).append(index)
        results: list[Generation | None] = [None] * len(requests)
        with torch.inference_mode():
            for prefix, members in groups.items():
                members.sort(key=lambda i: len(encoded[i][1]))
                queue = [(i, encoded[i][1]) for i in members]
                # free decoding ignores a grammar a request may carry
                schemas = {
                    i: requests[i].output_schema if config.mode == "constrained" else None
                    for i in members
                }
                said = (  # lookup drafts search the conversation's words
                    {i: _conversation_text(requests[i].messages) for i in members}
                    if config.lookup
                    else {}
                )
                for finished in self._run_queue(prefix, queue, config, schemas, said):
                    for index, generation in finished:
                        results[index] = generation
                    if progress is not None:
                        progress(len(finished))
        return [r for r in results if r is not None]

    # The decoding loop. Requests of one prefix group wait in a queue, shortest prompt
    # first; up to batch_size of them decode together. A sequence leaves the batch as soon
    # as it is finished (EOS, its JSON object closed, or max_new_tokens) and queued requests
    # take the free places, so no step is spent on finished sequences. All rows share one
    # key/value cache: each row masks the columns that are not its own tokens (padding, or
    # the leftovers of rows that left), and every token carries its own position id.

    def _run_queue(
        self,
        prefix: tuple[int, ...],
        queue: list[tuple[int, list[int]]],
        config: DecodingConfig,
        schemas: dict[int, dict[str, Any] | None],
        said: dict[int, str],
    ) -> Iterator[list[tuple[int, Generation]]]:
        pending = deque(queue)
        refill_at = max(1, config.batch_size // 4)
        drafter = self._drafter(config.lookup)
        rows: list[_Row] = []
        state: _State | None = None
        while pending or rows:
            free = config.batch_size - len(rows)
            if pending and (not rows or free >= min(refill_at, len(pending))):
                admitted = [pending.popleft() for _ in range(min(free, len(pending)))]
                new_rows = [self._new_row(index, schemas.get(index)) for index, _ in admitted]
                if drafter is not None:
                    for (_, s), row in zip(admitted, new_rows, strict=True):
                        row.context = list(s)  # the request: the system prompt is shared
                        text = said.get(row.index, "")
                        row.respelled = respell(text, self._encode_piece)
                        row.copyable = copyable(text, self._encode_piece)
                        self._propose(drafter, row, config, first=True)
                suffixes = [
                    s + row.tokens + row.draft
                    for (_, s), row in zip(admitted, new_rows, strict=True)
                ]
                positions = 1 + max(len(row.draft) for row in new_rows)
                trees = [row.parents for row in new_rows]
                reads = [1 + len(row.draft) for row in new_rows]
                new_state, logits = self._prefill(prefix, suffixes, positions, trees, reads)
                if drafter is None:
                    self._advance(new_rows, logits[:, -1], config)
                else:
                    self._verify(new_state, new_rows, logits, config)
                state = new_state if state is None else _merge(state, new_state)
                rows.extend(new_rows)
            done = [row for row in rows if row.finished]
            if done:
                yield [(row.index, self._result(row, config)) for row in done]
                keep = [k for k, row in enumerate(rows) if not row.finished]
                rows = [rows[k] for k in keep]
                state = _select(state, keep) if rows and state is not None else None
                continue  # refill before the next step
            assert state is not None
            if drafter is not None:
                for row in rows:
                    self._propose(drafter, row, config)
            logits = self._step(state, rows)
            if drafter is None:
                self._advance(rows, logits[:, -1], config)
            else:
                self._verify(state, rows, logits, config)

    def _step(self, state: _State, rows: list[_Row]) -> Any:
        """One forward pass over each row's tokens not yet in the cache (its last pick, plus
        any forced tokens, plus its lookup draft), left-padded to the longest; returns the
        logits of the last ``1 + longest draft`` positions of each row."""
        pending = [row.tokens[row.fed :] + row.draft for row in rows]
        width = max(len(p) for p in pending)
        feed = [[self.pad_id] * (width - len(p)) + p for p in pending]
        if all(_is_chain(row.parents) for row in rows):
            new = torch.tensor(
                [[0] * (width - len(p)) + [1] * len(p) for p in pending], device=self.device
            )
            counts = new.sum(-1)
            offsets = torch.arange(width, device=self.device)[None, :] - (width - counts)[:, None]
            state.mask = torch.cat([state.mask, new.to(state.mask.dtype)], dim=1)
            attention = state.mask
        else:  # some row drafts a tree: say which new token sees which
            layouts = [(len(row.tokens) - row.fed, row.parents) for row in rows]
            block, offsets, new = (t.to(self.device) for t in _tree_block(layouts, width))
            seen = state.mask.bool()[:, None, :].expand(-1, width, -1)
            attention = torch.cat([seen, block], dim=2)[:, None]
            counts = new.sum(-1)
            state.mask = torch.cat([state.mask, new.to(state.mask.dtype)], dim=1)
        self.forward_passes += 1
        keep = 1 + max(len(row.draft) for row in rows)
        with head_rows(self.model, read_positions([1 + len(row.draft) for row in rows], keep)):
            out = self.model(
                input_ids=torch.tensor(feed, dtype=torch.long, device=self.device),
                attention_mask=attention,
                position_ids=(state.positions[:, None] + offsets).clamp(min=0),
                use_cache=True,
                logits_to_keep=keep,
                **{CACHE_KEYWORD: state.cache},
            )
        state.cache = getattr(out, CACHE_KEYWORD)
        state.positions = state.positions + counts
        for row in rows:
            row.fed = len(row.tokens)
        return out.logits

    def _propose(
        self, drafter: LookupDrafter, row: _Row, config: DecodingConfig, first: bool = False
    ) -> None:
        """Set ``row``'s draft for its next pass; ``first``: the pass that reads its prompt."""
        room = config.max_new_tokens - len(row.tokens) - 1
        if config.lookup_tree:
            budget = (first and config.lookup_tree_first) or config.lookup_tree
            if row.prompt is None:
                row.prompt = PromptIndex(
                    row.context, self._word_classes(), row.respelled, row.copyable
                )
            matcher = row.matcher
            allowed = None if matcher is None else (lambda b: matcher.validate_tokens(b) == len(b))
            row.draft, row.parents = drafter.tree(row.prompt, row.tokens, budget, room, allowed)
        else:
            draft = drafter.propose(row.context + row.tokens, len(row.context), room, row.respelled)
            row.draft, row.parents = draft, list(range(-1, len(draft) - 1))
        self.drafted += len(row.draft)

    def _encode_piece(self, text: str) -> list[int]:
        """``text``'s token ids, no special tokens; a word's are looked up once."""
        found = self._pieces.get(text)
        if found is None:
            found = self._pieces[text] = self.tokenizer.encode(text, add_special_tokens=False)
            if len(self._pieces) > _MAX_PIECES:
                self._pieces.pop(next(iter(self._pieces)))
        return found

    def _word_classes(self) -> list[int]:
        """Which tokens spell the same word (:func:`word_classes`), computed once."""
        if self._same_word is None:
            vocab = len(self.tokenizer)
            texts = self.tokenizer.batch_decode([[i] for i in range(vocab)])
            self._same_word = word_classes(texts)
            self._texts = texts
        return self._same_word

    def _drafter(self, tokens: int) -> LookupDrafter | None:
        if tokens <= 0:
            return None
        if tokens not in self._drafters:
            drafter = self._drafters[tokens] = LookupDrafter(tokens)
            drafter.add(self._lookup_corpus)
            drafter.add_examples(self._lookup_examples)
            self._word_classes()
            drafter.texts = self._texts
            drafter.encode = self._encode_piece
        return self._drafters[tokens]

    def add_lookup_corpus(
        self, texts: Sequence[str], requests: Sequence[str] | None = None
    ) -> None:
        """Texts the model was trained to write (its SFT answers): lookup decoding drafts
        from them as well as from each prompt. ``requests`` (the user's text each answer
        answered) teach it which request words a value copies. Outputs do not change,
        only their speed."""
        if requests is not None:
            examples = list(zip(requests, texts, strict=True))
            self._lookup_examples.extend(examples)
            for drafter in self._drafters.values():
                drafter.add_examples(examples)
        self.add_lookup_sequences(
            [self.tokenizer.encode(t, add_special_tokens=False) for t in texts]
        )

    def add_lookup_sequences(self, sequences: Sequence[Sequence[int]]) -> None:
        """:meth:`add_lookup_corpus` with token ids."""
        copies = [list(s) for s in sequences]
        self._lookup_corpus.extend(copies)
        for drafter in self._drafters.values():
            drafter.add(copies)

    def _verify(self, state: _State, rows: list[_Row], logits: Any, config: DecodingConfig) -> None:
        """Keep the draft tokens along the tree's branch that the model's greedy picks (and
        the text the grammar forces after them) follow, then its first own pick; mask every
        other draft token out of the cache."""
        last = logits.shape[1] - 1
        for k, row in enumerate(rows):
            draft, parents = row.draft, row.parents
            row.draft, row.parents = [], []
            children = {(p, t): j for j, (p, t) in enumerate(zip(parents, draft, strict=True))}
            base = last - len(draft)  # the logits after the row's last pending token
            node, path = -1, []
            while True:
                before = len(row.tokens)
                self._advance_row(row, logits[k, base + 1 + node], config)
                new = row.tokens[before:]  # the pick, and any forced tokens after it
                same = 0
                while same < len(new) and (node, new[same]) in children:
                    node = children[(node, new[same])]
                    path.append(node)
                    same += 1
                row.fed += same  # these the cache already holds, at the right positions
                if same < len(new) or row.finished or not new:
                    break
            self.accepted += len(path)
            rejected = len(draft) - len(path)
            if rejected:
                kept = set(path)
                first = state.mask.shape[1] - len(draft)
                columns = [first + j for j in range(len(draft)) if j not in kept]
                state.mask[k, columns] = 0
                state.positions[k] -= rejected

    def _prefill(
        self,
        prefix: tuple[int, ...],
        suffixes: list[list[int]],
        keep: int = 1,
        trees: Sequence[Sequence[int]] = (),
        reads: Sequence[int] = (),
    ) -> tuple[_State, Any]:
        """Run new prompts through the model: ``[prefix][padding][request]`` rows whose
        prefix comes from the cache, or left-padded prompts when there is no prefix.
        ``trees`` holds each row's draft tree (the parents of its last tokens; see
        :func:`_tree_block`). Returns the logits of the last ``keep`` positions, of which
        row ``k`` reads its last ``reads[k]`` (all when ``reads`` is empty)."""
        width = max(len(s) for s in suffixes)
        rows, masks = [], []
        for s in suffixes:
            pad = width - len(s)
            rows.append([*([self.pad_id] * pad), *s])
            masks.append([1] * len(prefix) + [0] * pad + [1] * len(s))
        feed = torch.tensor(rows, dtype=torch.long, device=self.device)
        mask = torch.tensor(masks, dtype=torch.long, device=self.device)
        positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0)[:, len(prefix) :]
        attention = mask
        if trees and not all(_is_chain(t) for t in trees):
            layouts = [(len(s) - len(t), t) for s, t in zip(suffixes, trees, strict=True)]
            block, offsets, _ = _tree_block(layouts, width)
            seen = torch.ones(len(suffixes), width, len(prefix), dtype=torch.bool)
            attention = torch.cat([seen, block], dim=2)[:, None].to(self.device)
            positions = len(prefix) + offsets.to(self.device)
        if prefix:
            cache = copy.deepcopy(self._cached_prefix(prefix))
            cache.batch_repeat_interleave(len(suffixes))
        else:
            cache = DynamicCache()
        self.forward_passes += 1
        with head_rows(self.model, read_positions(reads or [keep] * len(suffixes), keep)):
            out = self.model(
                input_ids=feed,
                attention_mask=attention,
                position_ids=positions,
                use_cache=True,
                logits_to_keep=keep,
                **{CACHE_KEYWORD: cache},
            )
        state = _State(cache=getattr(out, CACHE_KEYWORD), mask=mask, positions=mask.sum(-1))
        return state, out.logits

    # -- constrained decoding (harness.backends._hf_constrained) --------------------

    def _check_constrained(
        self, requests: Sequence[GenerationRequest], config: DecodingConfig
    ) -> None:
        if config.format != "json":
            raise ValueError(
                f"constrained decoding holds outputs to the json format's grammar; "
                f"--rc-format {config.format} cannot be constrained"
            )
        missing = [r.id for r in requests if r.output_schema is None]
        if missing:
            raise ValueError(f"constrained decoding: request {missing[0]!r} has no output_schema")
        if self._constrainer is None:
            from harness.backends._hf_constrained import Constrainer

            vocab = int(self.model.get_output_embeddings().weight.shape[0])
            self._constrainer = Constrainer(self.tokenizer, self.eos_ids, vocab)

    def _new_row(self, index: int, schema: dict[str, Any] | None) -> _Row:
        """A row about to be prefilled; a constrained one starts with its forced opening
        (``{"tool":"``), which goes into the prompt's prefill instead of decode steps."""
        row = _Row(index)
        if schema is not None:
            row.matcher = self._constrainer.matcher(schema)
            if self.jump_forward:
                row.tokens = self._constrainer.forced(row.matcher)
            row.fed = len(row.tokens)
        return row

    def _advance_constrained(self, row: _Row, logits: Any, config: DecodingConfig) -> None:
        """Pick the best token the grammar allows, then append what the grammar forces."""
        allowed = self._constrainer.allowed(row.matcher).to(logits.device)
        if not bool(allowed.any()):  # the engine failed: stop, the output shows how far it got
            row.ended = True
            return
        token = int(logits.masked_fill(~allowed, float("-inf")).argmax())
        row.tokens.append(token)
        if token in self.eos_set:
            row.ended = True
            return
        if not row.matcher.consume_token(token):  # cannot happen with a sound mask; stop
            row.ended = True
            return
        if self.jump_forward and not row.matcher.is_stopped():
            row.tokens.extend(self._constrainer.forced(row.matcher))
        if row.matcher.is_stopped():  # the object closed: nothing may follow
            row.closed = True
        elif len(row.tokens) >= config.max_new_tokens:
            row.truncated = True

    def _advance(self, rows: list[_Row], logits: Any, config: DecodingConfig) -> None:
        """Append each row's greedy next token and see whether the row is finished."""
        for k, row in enumerate(rows):
            self._advance_row(row, logits[k], config)

    def _advance_row(self, row: _Row, logits: Any, config: DecodingConfig) -> None:
        if row.matcher is not None:
            self._advance_constrained(row, logits, config)
            return
        token = int(logits.argmax())
        row.tokens.append(token)
        if token in self.eos_set:
            row.ended = True
        elif config.format == "json" and json_object_end(
            self.tokenizer.decode(row.tokens, skip_special_tokens=True)
        ):
            row.closed = True
        elif len(row.tokens) >= config.max_new_tokens:
            row.truncated = True

    def _result(self, row: _Row, config: DecodingConfig) -> Generation:
        if config.format == "json":
            text = cut_after_json(self.tokenizer.decode(row.tokens, skip_special_tokens=True))
        else:  # keep the template's markers for the response parser; drop the final EOS
            tokens = row.tokens[:-1] if row.ended else row.tokens
            text = self.tokenizer.decode(tokens, skip_special_tokens=False)
        return Generation(text=text, truncated=row.truncated, new_tokens=len(row.tokens))

    # -- identity --------------------------------------------------------------------

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            digest = hashlib.sha256()
            if self.chat_template is not None:  # a template put on the tokenizer at load
                digest.update(b"chat_template\0" + self.chat_template.encode() + b"\0")
            if self.dtype != "float32":  # other weights, other answers (float32 keys stay)
                digest.update(b"dtype\0" + self.dtype.encode() + b"\0")
            if self.linear != "stock":  # other rounding: a near tie may answer otherwise
                kernel = self.linear + ("-packed" if self.packed_layers else "")
                digest.update(b"linear\0" + kernel.encode() + b"\0")
            for path in self.checkpoint.hashed_files:
                digest.update(path.name.encode())
                digest.update(b"\0")
                digest.update(file_sha256(path).encode())
                digest.update(b"\0")
            self._fingerprint = "sha256:" + digest.hexdigest()[:16]
        return self._fingerprint

    @property
    def dtype(self) -> str:
        """The body's weights: ``float32`` as loaded, or ``bfloat16`` (``--rc-dtype``)."""
        return str(self.model.dtype).removeprefix("torch.")

    def _head_dtype(self) -> str | None:
        head = self.model.get_output_embeddings()
        return None if head is None else str(head.weight.dtype).removeprefix("torch.")

    def describe(self) -> dict[str, Any]:
        ckpt = self.checkpoint
        return {
            "kind": ckpt.kind,
            "spec": self.spec,
            "model_path": ckpt.model_source,
            "gguf_file": ckpt.gguf_file,
            "adapter_path": str(ckpt.adapter_path) if ckpt.adapter_path else None,
            "base_model": ckpt.base_model,
            "files": [str(p) for p in ckpt.hashed_files],
            "dtype": self.dtype,
            "head_dtype": self._head_dtype(),
            "device": str(self.device),
            "threads": self.threads,
            "linear": self.linear,
            "packed_layers": self.packed_layers,
            "prefix_cache": self.prefix_cache,
            "chat_template": "override" if self.chat_template is not None else "own",
        }
