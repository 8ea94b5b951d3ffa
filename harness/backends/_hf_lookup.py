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
  token),
* in a corpus of texts the model was trained to write (:meth:`LookupDrafter.add`), or
* where a string value opens, in the request's words that such values begin with, as the
  corpus's examples of requests and answers taught (:meth:`LookupDrafter.add_examples`:
  a refund's reason begins with ``blender`` from "the blender doesnt work"),

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

WORD_GOES_ON = 0.9
"""The chance that a model which began copying a request word writes the word's next token."""


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
        self._opens: Counter[str] = Counter()  # string values begun, by key
        self._copies: Counter[str] = Counter()  # ... that began with a request's word
        self._chosen: Counter[tuple[str, str]] = Counter()  # copied words, by key, feature
        self._offered: Counter[tuple[str, str]] = Counter()  # request words, the same
        self._ends: Counter[str] = Counter()  # string values closed, by key
        self._lengths: dict[str, Counter[int]] = {}  # ... by how many words they held
        self._closings_seen: dict[str, Counter[str]] = {}  # ... and what closed them
        self._spelled: dict[str, list[int]] = {}  # a closing's tokens
        self.texts: Sequence[str] = ()  # each token's text (value openings are found by it)
        self.encode: Callable[[str], Sequence[int]] | None = None  # tokenizes a closing

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

    def add_examples(self, examples: Iterable[tuple[str, str]]) -> None:
        """Learn from (request, answer) texts how often a string value in an answer begins
        with one of the request's words, under each key, and which word: by the word
        itself, the word before it and the word after it in the request (`` the blender``,
        ``ORD-7715 arrived``). :meth:`tree` drafts request words where values begin."""
        for request, answer in examples:
            words = [w.lower() for w in WORD.findall(request)]
            for opened in VALUE_OPEN.finditer(answer):
                value = VALUE_REST.match(answer, opened.end())
                closing = CLOSING.match(answer, value.end()) if value else None
                first = WORD.match(answer, opened.end())
                copied = first is not None and first.group(0).lower() in words
                chosen = words.index(first.group(0).lower()) if first and copied else -1
                path = _path(answer[: opened.end()])
                for key in dict.fromkeys((opened.group(1), path)):
                    self._opens[key] += 1
                    if value is not None and closing is not None:
                        self._ends[key] += 1
                        self._lengths.setdefault(key, Counter())[
                            len(WORD.findall(value.group(0)))
                        ] += 1
                        self._closings_seen.setdefault(key, Counter())[closing.group(0)] += 1
                    if not copied:
                        continue
                    self._copies[key] += 1
                    self._offered[(key, "")] += len(words)
                    for i in range(len(words)):
                        for feature in _features(words, i):
                            self._offered[(key, feature)] += 1
                            if i == chosen:
                                self._chosen[(key, feature)] += 1

    def copy_rate(self, key: str) -> float:
        """How often the corpus's values under ``key`` begin with a request's word."""
        return self._copies[key] / (self._opens[key] + 1)

    def copy_starts(self, prompt: PromptIndex, key: str) -> list[tuple[list[int], float]]:
        """The request's words as a value under ``key`` would begin with them (spelled
        with no space before them), each with its chance: the key's copy rate times the
        word's share, from how often words like it were the one copied (naive Bayes over
        :func:`_features`, each smoothed toward the key's average)."""
        cached = prompt.starts.get(key)
        if cached is not None:
            return cached
        starts: list[tuple[list[int], float]] = []
        rate = self.copy_rate(key)
        words = prompt.words
        if rate > 0 and words:
            base = self._copies[key] / max(1, self._offered[(key, "")])
            weights: dict[str, float] = {}
            for i, word in enumerate(words):
                weight = 1.0
                for feature in _features(words, i):
                    chosen = self._chosen[(key, feature)] + 2 * base
                    weight *= chosen / (self._offered[(key, feature)] + 2) / base
                weights[word] = weights.get(word, 0.0) + weight
            total = sum(weights.values())
            for word, weight in weights.items():
                spellings = prompt.spellings[word]
                for spelled in spellings:
                    starts.append((spelled, rate * weight / total / len(spellings)))
        prompt.starts[key] = starts
        return starts

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
        words: dict[tuple[int, ...], list[int]] = {}  # a copied word's branch: its rest

        def expand(node: int, branch: tuple[int, ...], chance: float) -> None:
            nonlocal order
            if len(branch) >= depth:
                return
            text = [*output, *branch]
            found = dict(self._next(prompt, text, len(output)))
            rest = words.get(branch)
            if rest:
                found[rest[0]] = max(found.get(rest[0], 0.0), WORD_GOES_ON)
                words[(*branch, rest[0])] = rest[1:]
            elif prompt.words:
                key = self._value_opens(text)
                offers = self.copy_starts(prompt, key) if key else self._closings(prompt, text)
                for spelled, share in offers:
                    if spelled:
                        found[spelled[0]] = found.get(spelled[0], 0.0) + share
                        words.setdefault((*branch, spelled[0]), spelled[1:])
            for token, share in found.items():
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

    def _closings(self, prompt: PromptIndex, text: Sequence[int]) -> list[tuple[list[int], float]]:
        """How the value ``text`` is inside may close right here, each with its chance,
        when the value's last word is a whole word of the request (an id copied to its
        end): the chance that the corpus's values of that key which reached as many words
        ended there, times how often each closing followed them (``","reason":"`` after a
        refund's id, ``"}}`` after a reason)."""
        texts, encode = self.texts, self.encode
        if not self._ends or encode is None or not text or not 0 <= text[-1] < len(texts):
            return []
        if not texts[text[-1]][-1:].isalnum():  # a value is closed after a word
            return []
        written = "".join(texts[t] for t in text[-48:] if 0 <= t < len(texts))
        inside = INSIDE_VALUE.search(written)
        if inside is None:
            return []
        last = WORD.findall(inside.group(2))
        if not last or last[-1].lower() not in prompt.spellings:
            return []
        path = _path(written[: inside.start(2)])
        key = path if self._ends[path] else inside.group(1)
        ends = self._ends[key]
        if not ends:
            return []
        lengths = self._lengths[key]  # the chance a value of this key ends at this word
        longer = sum(c for n, c in lengths.items() if n >= len(last))
        chance = lengths[len(last)] / (longer + 1)
        offers = []
        for closing, count in self._closings_seen[key].most_common(MAX_WIDTH):
            spelled = self._spelled.get(closing)
            if spelled is None:
                spelled = self._spelled[closing] = list(encode(closing))
            offers.append((spelled, chance * count / ends))
        return offers

    def _value_opens(self, text: Sequence[int]) -> str | None:
        """The key of the string value ``text`` opens, if it ends by opening one."""
        texts = self.texts
        if not text or not self._copies or not 0 <= text[-1] < len(texts):
            return None
        if not texts[text[-1]].endswith('"'):
            return None
        tail = "".join(texts[t] for t in text[-8:] if 0 <= t < len(texts))
        opened = VALUE_OPEN_END.search(tail)
        if opened is None:
            return None
        path = _path("".join(texts[t] for t in text if 0 <= t < len(texts)))
        return path if self._opens[path] else opened.group(1)

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


def _features(words: Sequence[str], i: int) -> tuple[str, str, str]:
    """What says how likely a value copies ``words[i]``: the word, the one before it and
    the one after it (lower-cased; words with digits alike, one id is like another)."""

    def shape(j: int, edge: str) -> str:
        if not 0 <= j < len(words):
            return edge
        return "0" if any(c.isdigit() for c in words[j]) else words[j]

    return "=" + shape(i, ""), "<" + shape(i - 1, "^"), ">" + shape(i + 1, "$")


VALUE_OPEN = re.compile(r'"([^"\\]{1,64})"\s*:\s*"')
"""A JSON key and the quote that opens its string value."""

VALUE_OPEN_END = re.compile(r'"([^"\\]{1,64})"\s*:\s*"$')

VALUE_REST = re.compile(r'(?:[^"\\]|\\.)*(?=")')
"""A string value's text up to its closing quote."""

CLOSING = re.compile(r'"(?:\s*[,}\]])*\s*(?:"[^"\\]{1,64}"\s*:\s*")?')
"""A value's closing quote and what follows it up to the next value's opening quote."""

INSIDE_VALUE = re.compile(r'"([^"\\]{1,64})"\s*:\s*"((?:[^"\\]|\\.)*)$')
"""A key and its string value's text so far, at the end of an unfinished answer."""

CALL_NAME = re.compile(r'\s*\{\s*"[^"\\]{1,64}"\s*:\s*"([^"\\]{1,64})"')
"""An answer's first string value, which names the call (``{"tool":"escalate"``)."""


def _path(text: str) -> str:
    """Where the value ``text`` ends by opening sits: its key, after the call's name when
    one came before it (``escalate/reason``, which a corpus tells apart from
    ``no_tool/reason``)."""
    opened = VALUE_OPEN_END.search(text)
    key = opened.group(1) if opened else ""
    name = CALL_NAME.match(text)
    return f"{name.group(1)}/{key}" if name and name.end() < len(text) else key


_START = -1
"""Marks where a corpus answer begins, so a short output's tail can match openings."""


class PromptIndex:
    """The n-grams of one prompt and the tokens that follow each (count, last position),
    built once per request so each draft token does not rescan the prompt.

    ``same_word`` maps a token to a representative of the tokens that spell the same word
    (see :func:`word_classes`): a tail then matches the prompt whatever the case or the
    leading space. A router starts a copied phrase right after a quote, where the prompt
    had it after a space (``"item`` against `` item``); what follows, `` arrived damaged``,
    is the same tokens in both. ``copyable`` holds the request's words as a value would
    begin with them (:func:`copyable`), for :meth:`LookupDrafter.copy_starts`.
    """

    def __init__(
        self,
        tokens: Sequence[int],
        same_word: Sequence[int] | None = None,
        respelled: Iterable[Sequence[int]] = (),
        copyable: tuple[list[str], dict[str, list[list[int]]]] | None = None,
    ) -> None:
        self.tokens = list(tokens)
        self.words, self.spellings = copyable or ([], {})  # see :func:`copyable`
        self.starts: dict[str, list[tuple[list[int], float]]] = {}
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


def copyable(
    text: str, encode: Callable[[str], Sequence[int]]
) -> tuple[list[str], dict[str, list[list[int]]]]:
    """The words of ``text`` lower-cased, and each one's spellings as a copied value would
    begin with it (no space before it; lower-cased, and as written when that differs)."""
    found = WORD.findall(text)
    spellings: dict[str, list[list[int]]] = {}
    for word in found:
        lower = word.lower()
        if lower not in spellings:
            spellings[lower] = [list(encode(w)) for w in dict.fromkeys((lower, word))]
    return [w.lower() for w in found], spellings


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
    """The assistant answers of the SFT ``.jsonl`` files ``spec`` names (comma-separated);
    see :func:`read_lookup_examples`."""
    return [answer for _, answer in read_lookup_examples(spec)]


def read_lookup_examples(spec: str) -> list[tuple[str, str]]:
    """Each assistant answer of the SFT ``.jsonl`` files ``spec`` names (comma-separated),
    after the text of the conversation before it (its non-system turns, as lookup drafts
    read a request): rows ``{"messages": [...]}`` as ``routecheck data`` and the trainer
    write them.

    Raises :class:`~harness.errors.SettingsError` naming the file (and line) that cannot
    serve: missing, not JSON Lines, a row without messages, or no answer at all.
    """
    from harness.errors import JsonlError, SettingsError
    from harness.jsonl import read_jsonl

    examples: list[tuple[str, str]] = []
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
            said: list[str] = []
            for message in messages:
                if not isinstance(message, dict):
                    continue
                content = message.get("content")
                if not isinstance(content, str):
                    continue
                if message.get("role") == "assistant" and content:
                    examples.append(("\n".join(said), content))
                    found += 1
                if message.get("role") != "system":
                    said.append(content)
        if not found:
            raise SettingsError(f"--rc-lookup-corpus: {path} holds no assistant answer")
    return examples
