"""Lookup decoding for the transformers backend: n-gram drafts verified in one forward pass.

A router's answer is mostly text it has seen: the order id it copies from the request, the
argument names in the system prompt, and a handful of stock ``no_tool`` reasons
("greeting, no action needed"). Each of those tokens costs a full decode step when decoded
one at a time, and a decode step on a CPU costs the same for one token as for ten (it is
bound by reading the weights). So before a step, each row proposes a *draft*: the tokens
that followed the last few tokens it wrote, wherever they occurred before

* in the row's own context (its request and what it wrote so far: prompt lookup; the
  system prompt a catalog shares is left out, its examples would draft ``"..."``), or
* in a corpus of texts the model was trained to write (:meth:`LookupDrafter.add`),

and the step feeds the draft with the row's pending tokens. The model's greedy pick after
each draft token is read from the same pass: drafts are kept while they equal the pick and
the first pick that differs is kept instead, so the output is the model's own greedy
output, token for token (``tests/test_lookup.py`` holds it to decoding without drafts).
A wrong draft costs only the slightly wider pass; rejected tokens are masked out of the
key/value cache.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

MAX_NGRAM = 3
"""The longest tail matched against earlier text; shorter tails are tried after it."""


class LookupDrafter:
    """Proposes up to ``tokens`` draft tokens for a row from n-gram matches."""

    def __init__(self, tokens: int) -> None:
        if tokens < 1:
            raise ValueError(f"lookup drafts need at least 1 token, got {tokens}")
        self.tokens = tokens
        self._counts: dict[tuple[int, ...], Counter[tuple[int, ...]]] = {}
        self._best: dict[tuple[int, ...], tuple[int, ...]] = {}
        self._starts: Counter[tuple[int, ...]] = Counter()

    def add(self, sequences: Iterable[Sequence[int]]) -> None:
        """Learn the continuations in ``sequences`` (token ids of texts the model writes);
        a tail seen with several continuations proposes the most frequent one."""
        touched: set[tuple[int, ...]] = set()
        for seq in sequences:
            seq = list(seq)
            if seq:
                self._starts[tuple(seq[: self.tokens])] += 1
            for n in range(1, MAX_NGRAM + 1):
                for i in range(len(seq) - n):
                    key = tuple(seq[i : i + n])
                    follow = tuple(seq[i + n : i + n + self.tokens])
                    self._counts.setdefault(key, Counter())[follow] += 1
                    touched.add(key)
        for key in touched:
            self._best[key] = self._counts[key].most_common(1)[0][0]

    @property
    def corpus_size(self) -> int:
        """How many distinct tails the corpus knows (0 without a corpus)."""
        return len(self._best)

    def propose(self, context: Sequence[int], start: int, limit: int | None = None) -> list[int]:
        """A draft to follow ``context`` (prompt then output so far; the output begins at
        ``start``), possibly empty.

        An output not begun yet gets the corpus's most common opening. Otherwise tails are
        tried longest first, the context before the corpus: a copied value such as an id is
        in the request, not in the corpus. A one-token tail matches too easily in the row's
        own text (``":"`` follows every key), so the corpus's longer tails come before it.
        """
        k = self.tokens if limit is None else min(self.tokens, limit)
        if k <= 0 or not context:
            return []
        end = len(context)
        if end <= start:
            best = self._starts.most_common(1)
            return list(best[0][0][:k]) if best else []
        longest = min(MAX_NGRAM, end - 1)
        order = [(n, "context") for n in range(longest, 1, -1)]
        order += [(n, "corpus") for n in range(longest, 1, -1)]
        order += [(1, "context"), (1, "corpus")]
        for n, source in order:
            tail = list(context[end - n :])
            if source == "corpus":
                found = self._best.get(tuple(tail))
                if found:
                    return list(found[:k])
                continue
            first = tail[0]
            for i in range(end - n - 1, -1, -1):  # the most recent earlier occurrence
                if context[i] == first and list(context[i : i + n]) == tail:
                    return list(context[i + n : i + n + k])
        return []


def read_lookup_corpus(spec: str) -> list[str]:
    """The assistant answers of the SFT ``.jsonl`` files ``spec`` names (comma-separated):
    rows ``{"messages": [...]}`` as ``routecheck data`` and the trainer write them.

    Raises :class:`~harness.errors.SettingsError` naming the file (and line) that cannot
    serve: missing, not JSON Lines, a row without messages, or no answer at all.
    """
    from harness.errors import JsonlError, SettingsError
    from harness.jsonl import read_jsonl

    answers: list[str] = []
    for path in [p.strip() for p in spec.split(",") if p.strip()]:
        try:
            rows = read_jsonl(path)
        except JsonlError as exc:
            raise SettingsError(
                f"--rc-lookup-corpus: {exc} (give the SFT .jsonl file(s) the checkpoint was "
                "trained on, comma-separated)"
            ) from None
        found = 0
        for lineno, row in rows:
            messages = row.get("messages") if isinstance(row, dict) else None
            if not isinstance(messages, list):
                raise SettingsError(
                    f"--rc-lookup-corpus: {path}:{lineno}: expected an SFT row "
                    '{"messages": [...]}'
                )
            for message in messages:
                if isinstance(message, dict) and message.get("role") == "assistant":
                    content = message.get("content")
                    if isinstance(content, str) and content:
                        answers.append(content)
                        found += 1
        if not found:
            raise SettingsError(f"--rc-lookup-corpus: {path} holds no assistant answer")
    return answers
