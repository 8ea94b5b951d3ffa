"""The opt-in judge: a model asked a fixed yes/no question per free-text argument.

A similarity score cannot tell "doesn't turn on" from "doesn't turn off"; a language model
often can. The judge is any backend spec (``mock:FILE``, ``openai:URL#MODEL``, a local
model), asked one question per argument, greedily, through the output cache, so a re-run
costs nothing. The question is fixed and versioned (:data:`JUDGE_VERSION`): changing its
wording changes the version, the cache key and the numbers ``routecheck calibrate`` gives.

An answer that is neither yes nor no counts as "no": a wrong value must almost never pass.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness.backends import Backend, DecodingConfig, GenerationRequest, resolve_backend
from harness.backends.base import Generation, ProgressCallback
from harness.outputcache import GenerationStopped, OutputCache, default_cache_dir, generate_cached

JUDGE_VERSION = "judge-v1"
"""Bump whenever :data:`JUDGE_SYSTEM` or :func:`judge_messages` change."""

JUDGE_SYSTEM = (
    f"[{JUDGE_VERSION}] You check one argument of a tool call made by a tool-calling "
    "router. You are given the expected value (and other accepted values) written by a "
    "careful reviewer, and the value the router produced. Answer yes if a careful reviewer "
    "would accept the produced value as stating the same key fact as an expected value "
    "(other words, another language, a shorter form that keeps the key fact, or spelling "
    "variants are fine). Answer no if it loses or changes the key fact, is generic or "
    "empty, names a different thing, or adds instructions or invented content. "
    "Answer with one word: yes or no."
)

JUDGE_DECODING = DecodingConfig(max_new_tokens=4, batch_size=16)
"""Greedy and short: the answer is one word."""

Answer = Literal["yes", "no", "unclear"]

_FIRST_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class JudgeItem:
    """One argument to judge. ``id`` must be unique in a batch (replay judges look it up)."""

    id: str
    tool: str
    argument: str
    gold: Any
    predicted: Any
    accept: Sequence[Any] = ()
    description: str = ""


@dataclass(frozen=True)
class JudgeVerdict:
    """The judge's answer to one item, recorded next to the deterministic verdict."""

    id: str
    match: bool
    answer: Answer
    raw: str
    version: str = JUDGE_VERSION


def judge_messages(item: JudgeItem) -> list[dict[str, str]]:
    """The chat the judge sees for ``item``: the fixed system text and the values as JSON."""
    payload = {
        "tool": item.tool,
        "argument": item.argument,
        "argument_description": item.description,
        "expected": item.gold,
        "also_accepted": list(item.accept),
        "produced": item.predicted,
    }
    question = (
        json.dumps(payload, ensure_ascii=False, indent=1)
        + "\n\nDoes the produced value state the same key fact? Answer yes or no."
    )
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": question}]


def parse_answer(text: str) -> Answer:
    """``yes`` or ``no`` from the judge's first word; anything else is ``unclear``."""
    found = _FIRST_WORD.search(text.casefold())
    if found is None:
        return "unclear"
    word = found.group(0)
    if word in ("yes", "no"):
        return word  # type: ignore[return-value]
    return "unclear"


@dataclass
class Judge:
    """A judge model and the cache its answers go through."""

    backend: Backend
    cache: OutputCache | None = None
    config: DecodingConfig = field(default_factory=lambda: JUDGE_DECODING)

    @property
    def spec(self) -> str:
        return self.backend.spec

    def judge(self, items: Sequence[JudgeItem]) -> list[JudgeVerdict]:
        """One verdict per item, in order. Model output is data: nothing here raises on it."""
        requests = self._requests(items)
        generations, _ = generate_cached(self._cached_backend(), requests, self.config, self.cache)
        return [_verdict(item, g.text) for item, g in zip(items, generations, strict=True)]

    def judge_tolerant(
        self, items: Sequence[JudgeItem]
    ) -> tuple[list[JudgeVerdict | None], int, str | None]:
        """Like :meth:`judge`, but a failing backend is data too: the verdicts it did give
        (``None`` for the rest), how many came from the cache, and what went wrong."""
        requests = self._requests(items)
        try:
            found: list[Generation | None]
            outputs, cached = generate_cached(
                self._cached_backend(), requests, self.config, self.cache
            )
            found, error = list(outputs), None
        except GenerationStopped as exc:
            found, cached, error = exc.outputs, 0, str(exc)
        except Exception as exc:  # a judge that cannot even start must not end the run
            found, cached = [None] * len(items), 0
            error = f"the judge {self.spec!r} failed ({type(exc).__name__}: {exc})"
        verdicts = [
            None if g is None else _verdict(item, g.text)
            for item, g in zip(items, found, strict=True)
        ]
        return verdicts, cached, error

    def _requests(self, items: Sequence[JudgeItem]) -> list[GenerationRequest]:
        ids = [item.id for item in items]
        if len(set(ids)) != len(ids):
            duplicates = sorted({i for i in ids if ids.count(i) > 1})
            raise ValueError(f"judge items need unique ids; repeated: {', '.join(duplicates)}")
        return [GenerationRequest(id=item.id, messages=judge_messages(item)) for item in items]

    def _cached_backend(self) -> Backend:
        """The backend, cached even when it is remote: a judge served under a name is
        trusted to stay that judge (its URL and name are in the key), so a re-run makes no
        request. Replays answer by id, not by question, and are never cached."""
        if self.backend.cacheable or hasattr(self.backend, "bind_cases"):
            return self.backend
        return _CachedRemote(self.backend)


def _verdict(item: JudgeItem, text: object) -> JudgeVerdict:
    raw = text if isinstance(text, str) else repr(text)
    answer = parse_answer(raw)
    return JudgeVerdict(id=item.id, match=answer == "yes", answer=answer, raw=raw)


class _CachedRemote(Backend):
    """A remote judge as the output cache sees it: the same backend, marked cacheable."""

    cacheable = True

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.spec = inner.spec

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        config: DecodingConfig,
        progress: ProgressCallback | None = None,
    ) -> list[Generation]:
        return self.inner.generate(requests, config, progress)

    def fingerprint(self) -> str:
        return self.inner.fingerprint()

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()


def load_judge(spec: str, cache_dir: str | Path | None = None, **options: Any) -> Judge:
    """A :class:`Judge` for a backend spec, caching answers under ``cache_dir``.

    The cache defaults to the output cache (``$ROUTECHECK_CACHE_DIR/outputs``): judge
    questions carry the judge version, so they never collide with router prompts.
    """
    backend = resolve_backend(spec, **options)
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return Judge(backend=backend, cache=OutputCache(root))
