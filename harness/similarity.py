"""The ``similar`` match policy: free text judged by a similarity score and a threshold.

A predicted value matches when its score against the gold value or any accepted value
(the highest of them) reaches the threshold. Scores come from rapidfuzz, a maintained
C++-backed library, on a folded form of both strings (case, accents, apostrophes and
punctuation removed), so "doesnt" meets "doesn't" and "Munchen" meets "München". The
default ``words`` scorer aligns the content words of both values in order, with rapidfuzz
deciding when two words are spelling variants of one another, and halves the score when
only one side is negated: a one-word change that flips the fact must not pass.

Which scorer and threshold are the defaults is not a matter of taste: ``routecheck
calibrate`` measures every scorer on the hand-labelled set in ``golden/calibration`` and
the defaults below are the ones chosen there on the tuning part (see the README).
Identical values always match, any unicode is accepted, and every scorer offered here is
symmetric: swapping prediction and gold gives the same score.
"""

from __future__ import annotations

import importlib
import json
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz
from rapidfuzz.distance import Indel

_APOSTROPHES = re.compile(r"['\u2019\u02bc`\u00b4]")
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def fold(text: str) -> str:
    """Case-, accent-, apostrophe- and punctuation-free form of ``text``, words single-spaced.

    Apostrophes are dropped rather than spaced so that "doesnt" and "doesn't" fold alike.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    folded = _APOSTROPHES.sub("", stripped.casefold())
    return _NON_WORD.sub(" ", folded).strip()


def _rapidfuzz(function: Callable[..., float]) -> Callable[[str, str], float]:
    def score(a: str, b: str) -> float:
        return float(function(a, b)) / 100.0

    return score


def _rouge_l(a: str, b: str) -> float:
    """ROUGE-L F-measure from Google's rouge-score, imported only when asked for."""
    try:
        rouge_scorer = importlib.import_module("rouge_score.rouge_scorer")
    except ImportError as exc:
        raise ImportError(
            "scorer 'rouge-l' needs the rouge-score package (pip install rouge-score); "
            "the default scorers need only rapidfuzz"
        ) from exc
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    return float(scorer.score(a, b)["rougeL"].fmeasure)


# Function words of the four calibrated languages, dropped before the word-level scorer
# aligns words. Negations (no, not, never, pas, nicht, nunca...) and directions (on, off,
# in/out are kept where they carry meaning) stay: they are where one word flips a fact.
def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOPWORDS = _word_set(
    """
    a an the i me my we our you your it its is are was were be been am to of for with at
    by from as and or but so that this these those has have had do does did will would
    can could please pls just also very customer client
    le la les l un une des du de d et ou a au aux pour par avec est sont ete mon ma mes
    je j il elle que qui ce cette se
    der die das den dem des ein eine einen einem einer und oder ist sind war mit zu von
    fur im ich mein meine mir es sie er kunde
    el los las unos unas del y o en con por para es son fue mi mis me al lo cliente
    """
)

WORD_MATCH = 0.8
"""Two words are the same word for the ``words`` scorer at this Indel similarity or above:
high enough that "neighbor"/"neighbour" and "canceled"/"cancelled" pass, "Vienna"/"Venice"
and "3"/"30" do not. Fixed by reasoning about spelling variants, not tuned."""


# Negations, folded to one word so "doesnt", "does not" and "don't" align, and checked on
# both sides: a prediction that drops or adds a negation states the opposite fact.
NEGATIONS = _word_set(
    """
    not no never dont doesnt didnt isnt arent wasnt werent cant cannot wont couldnt
    wouldnt havent hasnt hadnt shouldnt without pas jamais aucun aucune sans nicht kein
    keine keinen keiner nie niemals ohne nunca sin ninguno ninguna
    """
)
NEGATION_PENALTY = 0.5
"""Factor on the score when one side is negated and the other is not."""


def content_words(folded: str) -> list[str]:
    """The words of a folded string without function words, negations written as "not"."""
    return ["not" if w in NEGATIONS else w for w in folded.split() if w not in STOPWORDS]


def _word_lcs(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two word lists, words matched fuzzily."""
    previous = [0] * (len(b) + 1)
    for word_a in a:
        current = [0]
        for j, word_b in enumerate(b, start=1):
            if Indel.normalized_similarity(word_a, word_b) >= WORD_MATCH:
                current.append(previous[j - 1] + 1)
            else:
                current.append(max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def _words(a: str, b: str) -> float:
    """F-measure of the fuzzy longest common word subsequence of the content words.

    Like ROUGE-L, but on unicode words, without function words, and with spelling
    variants counted as the same word. Word order matters, so "courier insulted the
    customer" is far from "customer insulted the courier".
    """
    words_a, words_b = content_words(a), content_words(b)
    if not words_a or not words_b:
        # Only function words on one side: fall back to the plain edit ratio.
        return float(fuzz.ratio(a, b)) / 100.0
    common = _word_lcs(words_a, words_b)
    score = 2.0 * common / (len(words_a) + len(words_b))
    if ("not" in words_a) != ("not" in words_b):
        score *= NEGATION_PENALTY
    return score


@dataclass(frozen=True)
class Scorer:
    """A named similarity function on folded strings, returning a score in [0, 1]."""

    name: str
    function: Callable[[str, str], float]
    help: str


SCORERS: dict[str, Scorer] = {
    s.name: s
    for s in (
        Scorer("ratio", _rapidfuzz(fuzz.ratio), "rapidfuzz ratio: normalized edit distance"),
        Scorer(
            "token_sort",
            _rapidfuzz(fuzz.token_sort_ratio),
            "rapidfuzz token_sort_ratio: edit distance on sorted words",
        ),
        Scorer(
            "token_set",
            _rapidfuzz(fuzz.token_set_ratio),
            "rapidfuzz token_set_ratio: 1.0 when one side's words are a subset of the other's",
        ),
        Scorer(
            "wratio",
            _rapidfuzz(fuzz.WRatio),
            "rapidfuzz WRatio: the best of several ratios, weighted by length difference",
        ),
        Scorer(
            "words",
            _words,
            "F-measure of the fuzzy longest common subsequence of content words (rapidfuzz Indel)",
        ),
        Scorer(
            "rouge-l",
            _rouge_l,
            "ROUGE-L F-measure (rouge-score package, optional; ASCII words only)",
        ),
    )
}

DEFAULT_SCORER = "words"
"""The scorer ``"x-match": "similar"`` uses, chosen by ``routecheck calibrate`` on the tune part."""

DEFAULT_THRESHOLD = 0.85
"""The threshold used when an argument gives no ``"x-threshold"``, chosen the same way."""


def available_scorers() -> list[str]:
    """Scorer names whose library is installed (rouge-l is optional)."""
    names = []
    for name in SCORERS:
        if name == "rouge-l":
            try:
                importlib.import_module("rouge_score")
            except ImportError:
                continue
        names.append(name)
    return names


def similarity(predicted: str, gold: str, scorer: str = DEFAULT_SCORER) -> float:
    """Similarity of two strings in [0, 1]: 1.0 for identical or identically folded values.

    Two values that fold to nothing (punctuation only) are alike; one that folds to
    nothing is unlike anything that does not.
    """
    if predicted == gold:
        return 1.0
    a, b = fold(predicted), fold(gold)
    if a == b:
        return 1.0
    if not a or not b:
        return 0.0
    try:
        function = SCORERS[scorer].function
    except KeyError:
        raise ValueError(
            f"unknown similarity scorer {scorer!r}; choose one of {', '.join(SCORERS)}"
        ) from None
    return min(1.0, max(0.0, function(a, b)))


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def similar_match(
    predicted: Any,
    candidates: Sequence[Any],
    threshold: float = DEFAULT_THRESHOLD,
    scorer: str = DEFAULT_SCORER,
) -> tuple[bool, float]:
    """Whether ``predicted`` is similar enough to the gold or an accepted value, and the score.

    ``candidates`` is the gold value followed by the accepted ones; the score is the best
    against any of them. A non-string on either side (a model may emit a number or a list
    where text was wanted) is compared by JSON equality and scores 1.0 or 0.0: model output
    is data and never raises here.
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"similarity threshold must be within [0, 1], got {threshold}")
    best = 0.0
    for candidate in candidates:
        if isinstance(predicted, str) and isinstance(candidate, str):
            score = similarity(predicted, candidate, scorer)
        else:
            score = 1.0 if _canonical(predicted) == _canonical(candidate) else 0.0
        best = max(best, score)
        if best >= 1.0:
            break
    return best >= threshold, best
