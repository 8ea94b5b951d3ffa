"""Constrained decoding for the transformers backend: token masks and jump-forward.

Every constrained row carries an :class:`llguidance.LLMatcher` of its request's output
grammar (:mod:`harness.grammar`). Before each greedy pick the row's logits are masked to
the tokens the grammar allows (EOS only once the grammar is complete); the picked token is
fed to the matcher.

**Jump-forward**: wherever the grammar allows exactly one continuation, its tokens are
appended without a decode step each. The engine tokenizes the forced text itself
(``compute_ff_tokens``) and holds back a final token that could still merge with what
follows, so forced tokens are the tokenizer's own spelling of the text. They may still
differ from the tokens the model would have picked one by one (a model may spell a forced
``","`` as ``"`` then ``,``); the text of the output is the same unless the model would have
left the grammar. The decoding loop feeds forced tokens in the next forward pass together
with the row's picked token, and a row whose grammar is complete after them is finished
without another pass (the closing ``"}}`` costs nothing).
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from typing import Any

import numpy as np
import torch

from harness.grammar import JSON_OPTIONS

_MAX_GRAMMARS = 64


class Constrainer:
    """The llguidance view of one tokenizer, with compiled grammars cached by schema hash."""

    def __init__(self, tokenizer: Any, eos_ids: list[int], vocab_size: int) -> None:
        import llguidance
        import llguidance.hf

        self._llg = llguidance
        self.tokenizer = llguidance.hf.from_tokenizer(tokenizer, eos_token=eos_ids[0])
        self.vocab_size = vocab_size
        self._words = (self.tokenizer.vocab_size + 31) // 32
        self._grammars: OrderedDict[str, Any] = OrderedDict()

    def matcher(self, schema: dict[str, Any]) -> Any:
        """A fresh matcher for ``schema`` (compiled once per distinct schema)."""
        # The hash keeps key order: the grammar writes properties in the schema's order.
        text = json.dumps(schema)
        key = hashlib.sha256(text.encode()).hexdigest()
        base = self._grammars.get(key)
        if base is None:
            grammar = self._llg.LLMatcher.grammar_from_json_schema(text, overrides=JSON_OPTIONS)
            base = self._llg.LLMatcher(self.tokenizer, grammar, log_level=0)
            if base.is_error():
                raise ValueError(f"the output grammar cannot be built: {base.get_error()}")
            self._grammars[key] = base
            while len(self._grammars) > _MAX_GRAMMARS:
                self._grammars.popitem(last=False)
        else:
            self._grammars.move_to_end(key)
        return base.deep_copy()

    def allowed(self, matcher: Any) -> torch.Tensor:
        """A boolean mask over the model's vocabulary: the tokens the grammar allows next."""
        bits = np.zeros(self._words, dtype=np.int32)
        matcher.unsafe_compute_mask_ptr(bits.ctypes.data, bits.nbytes)
        flags = np.unpackbits(bits.view(np.uint8), bitorder="little").astype(bool)
        out = np.zeros(self.vocab_size, dtype=bool)
        n = min(self.vocab_size, flags.shape[0])
        out[:n] = flags[:n]
        return torch.from_numpy(out)

    @staticmethod
    def forced(matcher: Any) -> list[int]:
        """The tokens the grammar forces next (consumed by the matcher), possibly none."""
        tokens: list[int] = list(matcher.compute_ff_tokens())
        if tokens and not matcher.consume_tokens(tokens):
            return []
        return tokens
