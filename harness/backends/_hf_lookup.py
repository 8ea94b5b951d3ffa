"""Lookup decoding for the transformers backend: n-gram drafts verified in one forward pass.

A router's answer is mostly text it has seen: the order id it copies from the request, the
argument names in the system prompt, and a handful of stock ``no_tool`` reasons
("greeting, no action needed"). Each of those tokens costs a full decode step when decoded
one at a time, and a decode step on a CPU costs the same for one token as for ten (it is
bound by reading the weights). So before a step, each row proposes a *draft*: the tokens
that followed the last few tokens it wrote, wherever they occurred before

* in the row's own context (its request and what it wrote so far: prompt lookup; the
  system prompt a catalog shares is left out, its examples would draft ``"..."``),
* in the request's words as the model spells them when it quotes them (:func:`respell`:
  ``'delivered'`` in the request is ``'del``, ``ivered``, the model's `` delivered`` is one
  token), or
* in a corpus of texts the model was trained to write (:meth:`LookupDrafter.add`),

and the step feeds the draft with the row's pending tokens. The model's greedy pick after
each draft token is read from the same pass: drafts are kept while they equal the pick and
the first pick that differs is kept instead, so the output is the model's own greedy
output, token for token (``tests/test_lookup.py`` holds it to decoding without drafts).
A wrong draft costs only the slightly wider pass; rejected tokens are masked out of the
key/value cache.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

MAX_NGRAM = 3
"""The longest tail matched against earlier text; shorter tails are tried after it."""

MAX_WIDTH = 8
"""The most different tokens a tree draft offers after one tail."""

ONE_TOKEN_TAIL = 0.5
"""How much less a one-token tail is trusted in a tree draft than a longer one."""

MIN_CHANCE = 0.02
"""A tree draft leaves out tokens whose estimated chance of being written is lower."""


class LookupDrafter:
    """Proposes up to ``tokens`` draft tokens for a row from n-gram matches."""

    def __init__(self, tokens: int) -> None:
        if tokens < 1:
            raise ValueError(f"lookup drafts need at least 1 token, got {tokens}")
        self.tokens = tokens
        self._counts: dict[tuple[int, ...], Counter[tuple[int, ...]]] = {}
        self._best: dict[tuple[int, ...], tuple[int, ...]] = {}
        self._starts: Counter[tuple[int, ...]] = Counter()
        self._next_counts: dict[tuple[int, ...], Counter[int]] = {}

    def add(self, sequences: Iterable[Sequence[int]]) -> None:
        """Learn the continuations in ``sequences`` (token ids of texts the model writes);
        a tail seen with several continuations proposes the most frequent one (a tree
        draft weighs them all)."""
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
            marked = [_START, *seq]
            for n in range(1, MAX_NGRAM + 1):
                for i in range(len(marked) - n):
                    key = tuple(marked[i : i + n])
                    self._next_counts.setdefault(key, Counter())[marked[i + n]] += 1
        for key in touched:
            self._best[key] = self._counts[key].most_common(1)[0][0]

    @property
    def corpus_size(self) -> int:
        """How many distinct tails the corpus knows (0 without a corpus)."""
        return len(self._best)

    def propose(
        self,
        context: Sequence[int],
        start: int,
        limit: int | None = None,
        respelled: Sequence[Sequence[int]] = (),
    ) -> list[int]:
        """A draft to follow ``context`` (prompt then output so far; the output begins at
        ``start``), possibly empty.

        An output not begun yet gets the corpus's most common opening. Otherwise tails are
        tried longest first, the context before the corpus: a copied value such as an id is
        in the request, not in the corpus. A one-token tail matches too easily in the row's
        own text (``":"`` follows every key), so the corpus's longer tails come before it.
        The ``respelled`` request (:func:`respell`) is searched after the context.
        """
        k = self.tokens if limit is None else min(self.tokens, limit)
        if k <= 0 or not context:
            return []
        end = len(context)
        if end <= start:
            best = self._starts.most_common(1)
            return list(best[0][0][:k]) if best else []
        for n, source in _order(min(MAX_NGRAM, end - 1)):
            tail = list(context[end - n :])
            if source == "corpus":
                known = self._best.get(tuple(tail))
                if known:
                    return list(known[:k])
                continue
            copied = _last_follow(context, tail, k)
            for sequence in respelled:
                if copied:
                    break
                copied = _last_follow(sequence, tail, k)
            if copied:
                return copied
        return []

    def tree(
        self,
        prompt: PromptIndex,
        output: Sequence[int],
        budget: int,
        limit: int | None = None,
        allowed: Callable[[Sequence[int]], bool] | None = None,
    ) -> tuple[list[int], list[int]]:
        """A draft tree of at most ``budget`` tokens and depth ``limit`` (default: the
        drafter's ``tokens``) to follow ``output``: its tokens and each one's parent's
        index (-1: follows the output).

        Every draft token gets an estimate of the chance that the model writes it: the
        product, along its branch, of how often each token followed the same tail in the
        row's prompt and output and in the corpus, longest tail first (:meth:`_next`
        weighs the sources). The tree keeps the ``budget`` likeliest tokens, so it is deep
        where the answer is predictable (a copied id, a stock reason) and branches where
        it is not (which tool, which reason). ``allowed(branch)`` can veto a branch (a
        grammar that forbids it): its tokens are not drafted.
        """
        depth = self.tokens if limit is None else min(self.tokens, limit)
        tokens: list[int] = []
        parents: list[int] = []
        if depth <= 0 or budget <= 0:
            return tokens, parents
        heap: list[tuple[float, int, int, tuple[int, ...]]] = []
        order = 0

        def expand(node: int, branch: tuple[int, ...], chance: float) -> None:
            nonlocal order
            if len(branch) >= depth:
                return
            for token, share in self._next(prompt, [*output, *branch], len(output)):
                if chance * share >= MIN_CHANCE:
                    order += 1
                    heapq.heappush(heap, (-chance * share, order, node, (*branch, token)))

        expand(-1, (), 1.0)
        while heap and len(tokens) < budget:
            negative, _, parent, branch = heapq.heappop(heap)
            if allowed is not None and not allowed(branch):
                continue
            tokens.append(branch[-1])
            parents.append(parent)
            expand(len(tokens) - 1, branch, -negative)
        return tokens, parents

    def _next(
        self, prompt: PromptIndex, text: Sequence[int], begun: int
    ) -> list[tuple[int, float]]:
        """The tokens likely to follow ``text`` (the output so far, ``begun`` tokens
        written, and the branch drafted after it), likeliest first, with their estimated
        chances.

        The sources of :func:`_order` are interpolated (Witten-Bell): each source that has
        seen the tail gets the share of the chance the sources before it leave, in
        proportion to how rarely it met a new continuation there (``count / (count +
        distinct)``). A tail seen once in the request (an id just copied, followed there by
        the request's next word) leaves half its chance to the corpus, which knows that a
        string closes after an id; a tail the corpus saw a hundred times with one
        continuation keeps nearly all of it.
        """
        full = [*prompt.tokens[-MAX_NGRAM:], *text]
        marked = [_START, *text]  # the corpus knows how answers begin
        chances: dict[int, float] = {}
        left = 1.0
        for n, source in _order(MAX_NGRAM):
            if source == "context":
                if len(full) <= n:
                    continue
                seen = prompt.follows(full[-n:], text[:begun])
                # the more recent occurrence first, where counts tie
                ranked = sorted(seen.items(), key=lambda kv: (-kv[1][0], -kv[1][1]))
                counts = [(t, c) for t, (c, _) in ranked]
            else:
                if len(marked) < n:
                    continue
                known = self._next_counts.get(tuple(marked[-n:]))
                counts = known.most_common() if known else []
            if not counts:
                continue
            total = sum(c for _, c in counts)
            trust = total / (total + len(counts))
            if n == 1:
                trust *= ONE_TOKEN_TAIL
            for token, count in counts:
                chances[token] = chances.get(token, 0.0) + left * trust * count / total
            left *= 1.0 - trust
            if left < MIN_CHANCE:  # nothing later could reach a draft
                break
        ranked_chances = sorted(chances.items(), key=lambda kv: -kv[1])  # stable: ties in order
        return ranked_chances[:MAX_WIDTH]


def _last_follow(sequence: Sequence[int], tail: list[int], k: int) -> list[int]:
    """Up to ``k`` tokens after the latest occurrence of ``tail`` in ``sequence`` that
    has a token after it."""
    n = len(tail)
    first = tail[0]
    for i in range(len(sequence) - n - 1, -1, -1):
        if sequence[i] == first and list(sequence[i : i + n]) == tail:
            return list(sequence[i + n : i + n + k])
    return []


def _order(longest: int) -> list[tuple[int, str]]:
    """Which tails to try, in turn: the context's and then the corpus's two- and
    three-token tails, then one-token tails (which match too easily to come first)."""
    order = [(n, "context") for n in range(longest, 1, -1)]
    order += [(n, "corpus") for n in range(longest, 1, -1)]
    return [*order, (1, "context"), (1, "corpus")]


_START = -1
"""Marks where a corpus answer begins, so a short output's tail can match openings."""


class PromptIndex:
    """The n-grams of one prompt and the tokens that follow each (count, last position),
    built once per request so each draft token does not rescan the prompt.

    ``same_word`` maps a token to a representative of the tokens that spell the same word
    (see :func:`word_classes`): a tail then matches the prompt whatever the case or the
    leading space. A router starts a copied phrase right after a quote, where the prompt
    had it after a space (``"item`` against `` item``); what follows, `` arrived damaged``,
    is the same tokens in both.
    """

    def __init__(
        self,
        tokens: Sequence[int],
        same_word: Sequence[int] | None = None,
        respelled: Iterable[Sequence[int]] = (),
    ) -> None:
        self.tokens = list(tokens)
        self._word = same_word
        self._keys = self._key(self.tokens)
        self._follow: dict[tuple[int, ...], dict[int, tuple[int, int]]] = {}
        self._learn(self.tokens, self._keys)
        for sequence in respelled:  # older than any prompt token: the prompt wins ties
            sequence = list(sequence)
            self._learn(sequence, self._key(sequence), -len(sequence))

    def _learn(self, tokens: Sequence[int], keys: Sequence[int], at: int = 0) -> None:
        for n in range(1, MAX_NGRAM + 1):
            for i in range(len(tokens) - n):
                seen = self._follow.setdefault(tuple(keys[i : i + n]), {})
                token = tokens[i + n]
                count, last = seen.get(token, (0, at + i))
                seen[token] = (count + 1, max(last, at + i))

    def _key(self, tokens: Sequence[int]) -> list[int]:
        word = self._word
        if word is None:
            return list(tokens)
        return [word[t] if 0 <= t < len(word) else t for t in tokens]

    def follows(self, tail: Sequence[int], output: Sequence[int]) -> dict[int, tuple[int, int]]:
        """Each token that follows ``tail`` in the prompt and the ``output`` written after
        it: how often, and where last (later is more recent)."""
        n = len(tail)
        key = self._key(tail)
        seen = dict(self._follow.get(tuple(key), {}))
        joined = [*self.tokens[-n:], *output]  # occurrences whose next token is output
        keys = [*self._keys[-n:], *self._key(output)]
        for i in range(len(joined) - n):
            if keys[i : i + n] == key:
                token = joined[i + n]
                count, _ = seen.get(token, (0, 0))
                seen[token] = (count + 1, len(self.tokens) + i)
        return seen


WORD = re.compile(r"\w+(?:[-'’.,:/@+]\w+)*")
"""A word of a request with the punctuation inside it: ``doesn't``, ``ORD-6677``,
``a.b@example.com``, ``3.5``, ``10:30`` (a model copies those whole)."""


def respell(text: str, encode: Callable[[str], Sequence[int]]) -> list[list[int]]:
    """The words of ``text`` tokenized as a model writes them when it quotes them: the
    request with its punctuation dropped, each word after a space, plus each word with no
    space before it (as after an opening quote) followed by the next words. A prompt says
    ``'delivered'`` (``'del``, ``ivered``) or begins a sentence with ``Shoes``, and the model
    writes `` delivered to`` or ``shoes are``: the prompt's own tokens never draft those.
    ``encode`` tokenizes one piece of text (no special tokens)."""
    words = WORD.findall(text)
    if not words:
        return []
    spaced = [list(encode(" " + w)) for w in words]
    sequences = [[t for piece in spaced for t in piece]]
    for i, word in enumerate(words):
        after = [t for piece in spaced[i + 1 : i + 1 + MAX_NGRAM] for t in piece]
        for bare in dict.fromkeys((word, word.lower())):
            sequences.append([*encode(bare), *after[:MAX_NGRAM]])
    return sequences


def word_classes(texts: Sequence[str]) -> list[int]:
    """For each token (``texts[i]`` is token ``i`` decoded alone), the first token that
    spells the same word: the same text once a leading space is dropped and the case is
    folded. Tokens of only whitespace or punctuation-free empties stand for themselves."""
    first: dict[str, int] = {}
    classes = []
    for i, text in enumerate(texts):
        word = text.lstrip(" ").casefold()
        classes.append(first.setdefault(word, i) if word.strip() else i)
    return classes


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
