"""Differences between transformers versions, named once for the backend and the trainer.

Kept apart from both so that training does not import the inference backend, nor the
backend the trainer, for one name.
"""

from __future__ import annotations

from transformers.modeling_outputs import CausalLMOutputWithPast

CACHE_KEYWORD = (
    "cache" if "cache" in CausalLMOutputWithPast.__dataclass_fields__ else "past_key_values"
)
"""The name a causal LM's forward takes, and its output carries, the key/value cache by.

transformers 5 renamed ``past_key_values`` to ``cache``; the old name is a deprecated alias
that goes in 5.40, so both the backend and the trainer's shared-prefix step use this one.
"""

__all__ = ["CACHE_KEYWORD"]
