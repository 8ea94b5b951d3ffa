"""Lookup decoding: n-gram drafts verified in one pass change no output, only the speed."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from harness.backends._hf_lookup import (
    LookupDrafter,
    PromptIndex,
    _path,
    copyable,
    respell,
    word_classes,
)
from harness.backends.base import DecodingConfig
from harness.outputcache import cache_key

# -- the drafter ----------------------------------------------------------------------------


def test_a_tail_seen_in_the_context_proposes_what_followed_it_most_recently() -> None:
    drafter = LookupDrafter(4)
    context = [1, 2, 3, 9, 9, 2, 3, 7, 8, 5, 6, 2, 3]
    # tail (2, 3) occurred twice; the later occurrence is followed by 7 8 5 6
    assert drafter.propose(context, start=len(context) - 1) == [7, 8, 5, 6]
    assert drafter.propose(context, start=len(context) - 1, limit=2) == [7, 8]


def test_the_longest_tail_wins_and_the_corpus_answers_when_the_context_cannot() -> None:
    drafter = LookupDrafter(3)
    drafter.add([[40, 41, 42, 43, 44], [40, 41, 50], [40, 41, 42, 43, 44]])
    assert drafter.propose([7, 40, 41], start=1) == [42, 43, 44]  # most frequent continuation
    # the context holds (41,) followed by 99, but the corpus knows the longer tail (40, 41)
    assert drafter.propose([41, 99, 40, 41], start=2) == [42, 43, 44]
    # at equal length the context comes first: a copied id is in the request
    assert drafter.propose([40, 41, 77, 40, 41], start=3) == [77, 40, 41]
    assert drafter.propose([5, 6], start=1) == []  # nothing known
    # a one-token tail in the row's own text loses to a longer tail in the corpus
    assert drafter.propose([9, 41, 55, 40, 41], start=2) == [42, 43, 44]
    assert drafter.propose([9, 41, 55, 8, 41], start=2) == [55, 8, 41]


def test_an_output_not_begun_yet_gets_the_corpus_most_common_opening() -> None:
    drafter = LookupDrafter(2)
    assert drafter.propose([1, 2, 3], start=3) == []
    drafter.add([[10, 11, 12], [10, 11, 13], [20, 21]])
    assert drafter.propose([1, 2, 3], start=3) == [10, 11]
    assert drafter.corpus_size > 0
    with pytest.raises(ValueError, match="at least 1"):
        LookupDrafter(0)


def _branches(tokens: list[int], parents: list[int]) -> list[list[int]]:
    """Every root-to-leaf branch of a draft tree."""
    leaves = set(range(len(tokens))) - set(parents)
    out = []
    for leaf in sorted(leaves):
        branch, node = [], leaf
        while node >= 0:
            branch.append(tokens[node])
            node = parents[node]
        out.append(branch[::-1])
    return out


def test_a_tree_draft_branches_where_the_corpus_does_and_copies_from_the_prompt() -> None:
    drafter = LookupDrafter(6)
    # answers open with 1 2, then one of three tools (5 three times, 6 twice, 7 once)
    drafter.add([[1, 2, 5, 8], [1, 2, 5, 8], [1, 2, 5, 9], [1, 2, 6, 8], [1, 2, 6, 8], [1, 2, 7]])
    prompt = PromptIndex([30, 31, 40, 41, 42, 43])
    tokens, parents = drafter.tree(prompt, [1, 2], budget=8)
    assert len(tokens) == len(parents) <= 8
    assert all(-1 <= p < i for i, p in enumerate(parents))  # parents come first
    branches = _branches(tokens, parents)
    assert [5, 8] in branches and [6, 8] in branches  # both likely tools, each continued
    assert tokens[0] == 5 and parents[0] == -1  # the likeliest token comes first
    # a tail the prompt holds is copied from the prompt: 40 41 -> 42 43
    tokens, parents = drafter.tree(prompt, [1, 40, 41], budget=8)
    assert any(b[:2] == [42, 43] for b in _branches(tokens, parents))


def test_a_tail_seen_once_in_the_prompt_leaves_room_for_what_the_corpus_knows() -> None:
    # The request says "... 50 51 70 71" (an id, then its next word); answers in the corpus
    # close the string after the id (60). A draft after a copied id offers both.
    drafter = LookupDrafter(4)
    drafter.add([[1, 50, 51, 60, 61]] * 3)
    prompt = PromptIndex([30, 50, 51, 70, 71])
    chances = dict(drafter._next(prompt, [1, 50, 51], 3))
    # seen once in the prompt: half the chance is left over, for the corpus (which saw
    # its tail three times out of three) and then shorter tails
    assert chances[70] == pytest.approx(0.5, abs=0.02)
    assert chances[60] == pytest.approx(0.5 * 0.75 + 0.125 * 0.75, abs=0.02)
    tokens, parents = drafter.tree(prompt, [1, 50, 51], budget=4)
    roots = {t for t, p in zip(tokens, parents, strict=True) if p == -1}
    assert roots == {70, 60}
    # a tail the corpus saw many times with one continuation keeps nearly all the chance
    drafter.add([[1, 2, 3]] * 97)
    (token, chance), *_ = drafter._next(PromptIndex([9]), [1, 2], 2)
    assert token == 3 and chance > 0.98


def test_a_tree_draft_keeps_to_its_budget_depth_and_veto() -> None:
    drafter = LookupDrafter(4)
    drafter.add([[1, 2, 3, 4, 5, 6, 7]])
    prompt = PromptIndex([9, 9])
    tokens, parents = drafter.tree(prompt, [1], budget=10)
    assert _branches(tokens, parents) == [[2, 3, 4, 5]]  # depth 4
    tokens, _ = drafter.tree(prompt, [1], budget=2)
    assert tokens == [2, 3]
    tokens, _ = drafter.tree(prompt, [1], budget=10, limit=1)
    assert tokens == [2]
    # a veto (the grammar forbids 4) cuts the branch there
    tokens, _ = drafter.tree(prompt, [1], budget=10, allowed=lambda b: 4 not in b)
    assert tokens == [2, 3]
    assert drafter.tree(prompt, [77], budget=10) == ([], [])  # nothing known
    assert drafter.tree(prompt, [1], budget=0) == ([], [])


def test_the_prompt_index_counts_what_follows_a_tail_in_prompt_and_output() -> None:
    index = PromptIndex([5, 6, 7, 5, 6, 8])
    seen = index.follows([5, 6], [])
    assert {t: c for t, (c, _) in seen.items()} == {7: 1, 8: 1}
    assert seen[8][1] > seen[7][1]  # the later occurrence is the more recent
    # an occurrence that runs from the prompt into the output counts too
    seen = index.follows([6, 8], [9])
    assert {t: c for t, (c, _) in seen.items()} == {9: 1}
    seen = index.follows([5, 6], [5, 6, 7, 1])
    assert seen[7][0] == 2


def test_a_tail_matches_the_prompt_whatever_the_case_or_leading_space() -> None:
    # tokens: 0 " item", 1 "item", 2 " arrived", 3 " damaged", 4 "Item", 5 " ", 6 "  "
    classes = word_classes([" item", "item", " arrived", " damaged", "Item", " ", "  "])
    assert classes == [0, 0, 2, 3, 0, 5, 6]  # whitespace stands for itself
    # the prompt says " item arrived damaged"; the output opens a string with "item"
    prompt = PromptIndex([9, 0, 2, 3], classes)
    assert {t for t in prompt.follows([1], [])} == {2}
    assert {t for t in prompt.follows([4], [])} == {2}
    assert PromptIndex([9, 0, 2, 3]).follows([1], []) == {}  # exact ids only without classes
    drafter = LookupDrafter(4)
    tokens, parents = drafter.tree(prompt, [7, 1], budget=4)
    # the prompt's own tokens (then, past the prompt's end, the output that followed it)
    assert _branches(tokens, parents) == [[2, 3, 7, 1]]


def _toy_encode(text: str) -> list[int]:
    """A toy tokenizer: a word after a space is one token, a word without one is one token
    up to 5 letters and two beyond (as ``delivered`` is ``del``, ``ivered``)."""
    vocab: dict[str, int] = _TOY_VOCAB
    word = text.lstrip(" ")
    pieces = [text] if text.startswith(" ") or len(word) <= 5 else [word[:3], word[3:]]
    return [vocab.setdefault(p, len(vocab) + 100) for p in pieces]


_TOY_VOCAB: dict[str, int] = {}


def test_respelling_tokenizes_the_words_as_a_model_quoting_them_writes_them() -> None:
    enc = _toy_encode
    seqs = respell("It was 'delivered' to the WRONG place, doesn't work!", enc)
    words = ["It", "was", "delivered", "to", "the", "WRONG", "place", "doesn't", "work"]
    # first: every word after a space, punctuation dropped
    assert seqs[0] == [t for w in words for t in enc(" " + w)]

    # then each word with no space before it (as written, then lower-cased when that
    # differs), followed by the next words' first tokens
    def opening(word: str) -> list[list[int]]:
        return [s for s in seqs[1:] if s[: len(enc(word))] == enc(word)]

    after = [*enc(" to"), *enc(" the"), *enc(" WRONG")][:3]
    assert opening("delivered") == [[*enc("delivered"), *after]]
    assert opening("wrong") and opening("WRONG")  # as written and lower-cased
    assert opening("doesn't")  # apostrophes stay in a word
    # so do the hyphen of an id and the dots of an address: a model copies them whole
    seqs = respell("refund ORD-6677, mail a.b@example.com now.", enc)
    after = [t for w in (" mail", " a.b@example.com", " now") for t in enc(w)]
    assert opening("ORD-6677") == [[*enc("ORD-6677"), *after]]
    assert opening("a.b@example.com")
    assert all(s[:2] == enc("ORD-6677") for s in opening("ORD"))  # never "ORD" alone
    assert not opening("delivered'")
    assert respell("", enc) == [] and respell("?! -- ...", enc) == []


def test_a_respelled_request_drafts_what_the_prompt_tokens_never_would() -> None:
    enc = _toy_encode
    # the prompt quotes a word ("'", "del", "ivered", "'"); a model writes " delivered"
    prompt = [7, 8, *enc("'"), *enc("delivered"), *enc("'"), *enc(" to"), *enc(" the")]
    plain = PromptIndex(prompt)
    quoted = enc(" delivered")
    assert len(quoted) == 1 and quoted[0] not in prompt
    assert plain.follows(quoted, []) == {}
    index = PromptIndex(prompt, respelled=respell("'delivered' to the", enc))
    assert set(index.follows(quoted, [])) == set(enc(" to"))  # the next word, spaced
    # a word written with no space before it continues as the prompt's did, and then
    # with the next word spaced (the prompt had a quote there)
    assert set(index.follows(enc("delivered")[1:], [])) == {*enc("'"), *enc(" to")}
    # where the prompt and its respelling continue a tail alike, the prompt's occurrence
    # is the more recent (a tie goes to the prompt)
    both = index.follows(enc(" to"), [])
    assert min(p for _, p in both.values()) >= 0
    drafter = LookupDrafter(4)
    tokens, parents = drafter.tree(index, [5, *quoted], budget=4)
    assert _branches(tokens, parents)[0][:2] == [*enc(" to"), *enc(" the")]
    # single drafts search the respelling after the row's own text
    context = [*prompt, 5, *quoted]
    assert drafter.propose(context, len(prompt)) == []
    assert drafter.propose(context, len(prompt), respelled=respell("'delivered' to the", enc))[
        :2
    ] == [*enc(" to"), *enc(" the")]


def test_the_conversation_text_leaves_out_the_system_prompt_and_non_text() -> None:
    from harness.backends._hf_decode import _conversation_text

    messages: list[Any] = [
        {"role": "system", "content": "tools: a b c"},
        {"role": "user", "content": "where is ORD-1"},
        {"role": "assistant", "content": None},
        {"role": "user", "content": "thanks"},
    ]
    assert _conversation_text(messages) == "where is ORD-1\nthanks"
    assert _conversation_text([]) == ""


def test_respelling_survives_hostile_text() -> None:
    enc = _toy_encode
    for text in ["\ud800 lone surrogate", "🙂" * 50, "x" * 10_000, "\x00\x01 a\u200bb", "_" * 99]:
        seqs = respell(text, enc)
        assert all(isinstance(t, int) for s in seqs for t in s)
    many = respell(" ".join(f"w{i}" for i in range(5000)), enc)
    assert len(many) == 5001


def _toy_texts() -> list[str]:
    """Each toy token's text, by id (what a backend hands a drafter to find values)."""
    texts = [""] * (max(_TOY_VOCAB.values(), default=0) + 1)
    for piece, token in _TOY_VOCAB.items():
        texts[token] = piece
    return texts


_COPYING = [  # values that begin with one of the request's words, and stock ones
    ("the blender broke", '{"tool":"refund","arguments":{"reason":"blender broke"}}'),
    ("my kettle leaks, refund", '{"tool":"refund","arguments":{"reason":"kettle leaks"}}'),
    ("refund the lamp, it flickers", '{"tool":"refund","arguments":{"reason":"lamp flickers"}}'),
    ("the toaster burns", '{"tool":"refund","arguments":{"reason":"item arrived defective"}}'),
    ("hello there", '{"tool":"no_tool","reason":"greeting, no action needed"}'),
    ("hi there", '{"tool":"no_tool","reason":"greeting, no action needed"}'),
]


def test_value_openings_learn_how_often_and_which_request_word_a_value_copies() -> None:
    assert _path('{"tool":"refund","arguments":{"reason":"') == "refund/reason"
    assert _path('{"tool":"') == "tool"  # the call's name is not known yet
    assert _path('{"name": "x", "arguments": {"q": "') == "x/q"
    assert _path("no json here") == ""
    drafter = LookupDrafter(4)
    drafter.add_examples(_COPYING)
    # three of four refund reasons copy a request word; no greeting does; a tool name does
    # where the request says it ("refund the lamp")
    assert drafter.copy_rate("refund/reason") == pytest.approx(3 / 5)
    assert drafter.copy_rate("no_tool/reason") == 0.0
    assert drafter.copy_rate("tool") == pytest.approx(2 / 7)
    assert drafter.copy_rate("reason") == pytest.approx(3 / 7)  # the key alone pools them
    assert drafter.copy_rate("never/seen") == 0.0
    # the word after "the" was copied twice, a word after "my" once: "the" outranks "my"
    enc = _toy_encode
    prompt = PromptIndex([1, 2], copyable=copyable("My dryer and the stove too", enc))
    starts = drafter.copy_starts(prompt, "refund/reason")
    assert sum(share for _, share in starts) == pytest.approx(3 / 5)
    share = {tuple(tokens): chance for tokens, chance in starts}
    assert share[tuple(enc("stove"))] > share[tuple(enc("dryer"))]
    assert tuple(enc("My")) in share and tuple(enc("my")) in share  # as written, lower-cased
    assert drafter.copy_starts(prompt, "no_tool/reason") == []
    assert drafter.copy_starts(PromptIndex([1]), "refund/reason") == []  # no request words


def test_a_tree_drafts_the_request_word_a_value_opens_with_and_the_rest_of_the_word() -> None:
    enc = _toy_encode
    request = "Refund ORD-12 please, the blender doesnt work"
    output = enc('{"tool":"refund","arguments":{"reason":"')
    prompt_tokens = [*enc(" Refund"), *enc(" ORD-12"), *enc(" please")]

    def drafted(examples: list[tuple[str, str]]) -> list[list[int]]:
        drafter = LookupDrafter(6)
        drafter.add([enc('{"tool":"no_tool","reason":"greeting"}')])
        drafter.add_examples(examples)
        drafter.texts = _toy_texts()
        prompt = PromptIndex(
            prompt_tokens, respelled=respell(request, enc), copyable=copyable(request, enc)
        )
        return _branches(*drafter.tree(prompt, output, budget=12))

    blender = enc("blender")
    assert len(blender) == 2  # "ble", "nder": the rest of the word follows its start
    want = [*blender, *enc(" doesnt")]
    assert any(b[:3] == want for b in drafted(_COPYING))
    # without examples of copied values, a value's first word is not drafted
    assert not any(b[:1] == blender[:1] for b in drafted([]))


def test_a_tree_closes_a_copied_value_where_the_corpus_values_of_its_key_end() -> None:
    enc = _toy_encode
    request = "refund ORD-12 please, the blender doesnt work"
    examples = [
        (
            f"refund ORD-{n} the {thing} broke",
            f'{{"tool":"refund","arguments":{{"id":"ORD-{n}","reason":"{thing} broke"}}}}',
        )
        for n, thing in [(1, "lamp"), (2, "kettle"), (3, "fan")]
    ]

    def drafted(examples: list[tuple[str, str]], written: str) -> list[list[int]]:
        drafter = LookupDrafter(8)
        drafter.add_examples(examples)
        prompt = PromptIndex([1, 2], copyable=copyable(request, enc))
        output = enc(written)
        drafter.texts, drafter.encode = _toy_texts(), enc  # every toy token's text by now
        return _branches(*drafter.tree(prompt, output, budget=12))

    closing = enc('","reason":"')
    assert len(closing) == 2
    # after an id copied to its end, the id closes and the reason opens with a request word
    branches = drafted(examples, '{"tool":"refund","arguments":{"id":"ORD-12')
    assert any(b[:2] == closing and b[2:3] == enc("blender")[:1] for b in branches)
    # not after a word the request does not hold whole, nor after a second word (the
    # corpus's ids are one word), nor without examples
    assert not any(
        b[:2] == closing for b in drafted(examples, '{"tool":"refund","arguments":{"id":"ORD-1')
    )
    assert not any(
        b[:2] == closing
        for b in drafted(examples, '{"tool":"refund","arguments":{"id":"ORD-12 the')
    )
    assert not any(
        b[:2] == closing for b in drafted([], '{"tool":"refund","arguments":{"id":"ORD-12')
    )


def test_copy_drafting_survives_hostile_examples_and_requests() -> None:
    enc = _toy_encode
    drafter = LookupDrafter(4)
    hostile = [
        ("\ud800 x", '{"a":"\ud800 x"}'),
        ("", '{"tool":"'),
        ("a b", '{"' + "k" * 5000 + '":"a"}'),
        ("a b", '"":"a'),
        ("x" * 10_000, '{"tool":"t","arguments":{"q":"' + "x" * 10_000),
        ("a", "not json at all"),
    ]
    drafter.add_examples(hostile)
    drafter.texts, drafter.encode = ["", '"', ':"', 'a":"x'], enc
    for text in ["\ud800 lone", "🙂" * 50, "", "a " * 3000]:
        words, spellings = copyable(text, enc)
        assert all(w in spellings for w in words)
        prompt = PromptIndex([1, 2], copyable=(words, spellings))
        for key in ["a", "t/q", ""]:
            assert all(share >= 0 for _, share in drafter.copy_starts(prompt, key))
        for output in ([2], [3], [0, 3, 1]):
            tokens, parents = drafter.tree(prompt, output, budget=8)
            assert len(tokens) == len(parents) <= 8


def test_tree_block_lets_each_draft_token_see_only_its_own_branch() -> None:
    from harness.backends._hf_decode import _is_chain, _tree_block

    # the branches 10 11 12, 10 13 and 14 as one tree
    parents = [-1, 0, 1, 0, -1]
    assert not _is_chain(parents) and _is_chain([-1, 0, 1])
    # one row: one padding column, two linear tokens, then the tree
    block, offsets, real = _tree_block([(2, parents)], width=8)
    assert real[0].tolist() == [0, 1, 1, 1, 1, 1, 1, 1]
    assert offsets[0, 1:].tolist() == [0, 1, 2, 3, 4, 3, 2]  # a draft token sits at its depth
    see = block[0].int().tolist()
    assert see[0] == [1, 0, 0, 0, 0, 0, 0, 0]  # padding sees only itself
    assert see[2] == [0, 1, 1, 0, 0, 0, 0, 0]  # linear tokens see each other causally
    assert see[5] == [0, 1, 1, 1, 1, 1, 0, 0]  # 12 sees 10 and 11
    assert see[6] == [0, 1, 1, 1, 0, 0, 1, 0]  # 13 sees 10, not 11 or 12
    assert see[7] == [0, 1, 1, 0, 0, 0, 0, 1]  # 14 sees only the linear tokens


def test_lookup_is_checked_and_kept_out_of_the_cache_key() -> None:
    with pytest.raises(ValueError, match="lookup must be >= 0"):
        DecodingConfig(lookup=-1)
    plain, drafted = DecodingConfig(), DecodingConfig(lookup=12)
    messages = [{"role": "user", "content": "hi"}]
    assert cache_key("fp", plain, messages) == cache_key("fp", drafted, messages)
    assert drafted.as_dict()["lookup"] == 12  # but recorded with the run's settings
    tree = DecodingConfig(lookup=12, lookup_tree=24)
    assert cache_key("fp", plain, messages) == cache_key("fp", tree, messages)
    assert tree.as_dict()["lookup_tree"] == 24
    with pytest.raises(ValueError, match="lookup_tree must be >= 0"):
        DecodingConfig(lookup_tree=-1)
    first = DecodingConfig(lookup=12, lookup_tree=24, lookup_tree_first=5)
    assert cache_key("fp", plain, messages) == cache_key("fp", first, messages)
    assert first.as_dict()["lookup_tree_first"] == 5
    with pytest.raises(ValueError, match="lookup_tree_first must be >= 0"):
        DecodingConfig(lookup_tree_first=-1)


# -- the backend: token for token against model.generate, free and constrained ---------------

pytest.importorskip("torch")
pytest.importorskip("transformers")

from tests.test_decode_parity import (  # noqa: E402
    _isolated_cache,  # noqa: F401  (the fixture isolates the output cache)
    assert_parity,
    recording,
    reference_tokens,
    tiny,  # noqa: F401  (the tiny model fixture)
    tiny_requests,
)


@pytest.mark.parametrize("batch_size", [1, 2, 6])
@pytest.mark.parametrize("lookup", [3, 12])
def test_lookup_decoding_matches_model_generate_token_for_token(
    tiny: Any,  # noqa: F811
    batch_size: int,
    lookup: int,
) -> None:
    # A corpus of the model's own answers: most drafts are right, some are cut short.
    config = DecodingConfig(max_new_tokens=24, batch_size=batch_size)
    answers = [reference_tokens(tiny, r, config) for r in tiny_requests()]
    tiny._lookup_corpus = [a[: 3 + i] for i, a in enumerate(answers)]
    try:
        assert_parity(tiny, tiny_requests(), dataclasses.replace(config, lookup=lookup))
    finally:
        tiny._lookup_corpus = []


@pytest.mark.parametrize("batch_size", [1, 2, 6])
@pytest.mark.parametrize("tree", [6, 24])
def test_tree_drafts_match_model_generate_token_for_token(
    tiny: Any,  # noqa: F811
    batch_size: int,
    tree: int,
) -> None:
    # A corpus of the model's own answers cut at different lengths, and a wrong one: the
    # trees branch, some branches are right for a while, and rows keep different branches.
    config = DecodingConfig(max_new_tokens=24, batch_size=batch_size)
    answers = [reference_tokens(tiny, r, config) for r in tiny_requests()]
    corpus = [a[: 3 + i] for i, a in enumerate(answers)] + [[t + 1 for t in answers[0]]]
    tiny._lookup_corpus = corpus
    try:
        drafted = dataclasses.replace(config, lookup=8, lookup_tree=tree)
        assert_parity(tiny, tiny_requests(), drafted)
    finally:
        tiny._lookup_corpus = []


@pytest.mark.parametrize("batch_size", [1, 3])
def test_the_first_pass_drafts_its_own_tree_size_and_no_answer_changes(
    tiny: Any,  # noqa: F811
    batch_size: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from harness.backends.hf import HFBackend

    config = DecodingConfig(max_new_tokens=24, batch_size=batch_size)
    answers = [reference_tokens(tiny, r, config) for r in tiny_requests()]
    sizes: list[tuple[bool, int]] = []
    propose = HFBackend._propose

    def recorded(self: Any, drafter: Any, row: Any, cfg: Any, first: bool = False) -> None:
        propose(self, drafter, row, cfg, first)
        sizes.append((first, len(row.draft)))

    monkeypatch.setattr(HFBackend, "_propose", recorded)
    tiny._lookup_corpus = [list(a) for a in answers]
    try:
        drafted = dataclasses.replace(config, lookup=8, lookup_tree=12, lookup_tree_first=2)
        assert_parity(tiny, tiny_requests(), drafted)  # with the prefix cache on and off
    finally:
        tiny._lookup_corpus = []
    firsts = [n for first, n in sizes if first]
    assert len(firsts) == 2 * len(tiny_requests())  # one first pass per request and run
    assert max(firsts) == 2
    assert max(n for first, n in sizes if not first) > 2  # later passes draft the full tree


@pytest.mark.parametrize(
    ("tree", "first"),
    [(12, 10_000), (0, 2)],  # a first tree larger than anything to draft; no tree at all
)
def test_a_first_tree_too_large_or_without_a_tree_changes_no_answer(
    tiny: Any,  # noqa: F811
    tree: int,
    first: int,
) -> None:
    config = DecodingConfig(max_new_tokens=24, batch_size=2)
    answers = [reference_tokens(tiny, r, config) for r in tiny_requests()]
    tiny._lookup_corpus = [list(a) for a in answers]
    try:
        drafted = dataclasses.replace(config, lookup=8, lookup_tree=tree, lookup_tree_first=first)
        assert_parity(tiny, tiny_requests(), drafted)
    finally:
        tiny._lookup_corpus = []


def test_tree_drafts_save_passes_where_single_drafts_guess_wrong(tiny: Any) -> None:  # noqa: F811
    config = DecodingConfig(max_new_tokens=24, batch_size=1)
    requests = tiny_requests()
    plain = recording(tiny, True)
    plain.generate(requests, config)
    answers = [plain.tokens[i] for i in range(len(requests))]
    # every answer's opening is the corpus's only opening, followed by the wrong answer
    # twice as often as by the right one: a single draft always takes the wrong one
    passes = {}
    for tree in (0, 16):
        rec = recording(tiny, True)
        for a in answers:
            wrong = [t + 1 for t in a[2:]]
            rec.add_lookup_sequences([a, a[:2] + wrong, a[:2] + wrong])
        before = rec.forward_passes
        rec.generate(requests, dataclasses.replace(config, lookup=8, lookup_tree=tree))
        assert [rec.tokens[i] for i in range(len(requests))] == answers
        passes[tree] = rec.forward_passes - before
    assert passes[16] < passes[0]


def test_drafts_from_the_model_own_answers_save_forward_passes(tiny: Any) -> None:  # noqa: F811
    config = DecodingConfig(max_new_tokens=24, batch_size=1)
    requests = tiny_requests()
    plain = recording(tiny, True)
    plain.generate(requests, config)
    answers = [plain.tokens[i] for i in range(len(requests))]
    drafted = recording(tiny, True)
    drafted.add_lookup_sequences(answers)
    before = drafted.forward_passes
    out = drafted.generate(requests, dataclasses.replace(config, lookup=8))
    assert [drafted.tokens[i] for i in range(len(requests))] == answers
    assert drafted.accepted > 0 and drafted.accepted <= drafted.drafted
    tokens = sum(g.new_tokens or 0 for g in out)
    assert drafted.forward_passes - before < tokens / 2  # most tokens came in drafts


def test_constrained_lookup_writes_what_constrained_decoding_writes(
    tiny: Any,  # noqa: F811
) -> None:
    from harness.grammar import output_schema
    from tests.tinymodel import toy_catalog

    catalog = toy_catalog()
    requests = [
        dataclasses.replace(r, output_schema=output_schema(catalog, r.messages))
        for r in tiny_requests()
    ]
    config = DecodingConfig(max_new_tokens=40, batch_size=2, mode="constrained")
    plain = recording(tiny, True)
    want = [g.text for g in plain.generate(requests, config)]
    answers = [plain.tokens[i] for i in range(len(requests))]
    drafted = recording(tiny, True)
    drafted.add_lookup_sequences([a[: len(a) // 2 + 2] for a in answers])
    got = drafted.generate(requests, dataclasses.replace(config, lookup=6))
    assert [g.text for g in got] == want
    assert [drafted.tokens[i] for i in range(len(requests))] == answers
    assert drafted.accepted > 0
    tree = recording(tiny, True)
    tree.add_lookup_sequences([a[: len(a) // 2 + 2] for a in answers])
    got = tree.generate(requests, dataclasses.replace(config, lookup=6, lookup_tree=12))
    assert [g.text for g in got] == want
    assert [tree.tokens[i] for i in range(len(requests))] == answers
    assert tree.accepted > 0
    # and with examples that teach it to draft the requests' words wherever a value opens
    copying = recording(tiny, True)
    said = [r.messages[-1]["content"] for r in requests]
    copied = [f'{{"tool":"x","arguments":{{"a":"{s.split()[-1]}"}}}}' for s in said]
    copying.add_lookup_corpus(copied, said)
    got = copying.generate(requests, dataclasses.replace(config, lookup=6, lookup_tree=12))
    assert [g.text for g in got] == want
    assert [copying.tokens[i] for i in range(len(requests))] == answers


def test_route_drafts_by_default_and_answers_as_without_drafts(tiny: Any) -> None:  # noqa: F811
    from harness.route import ROUTE_LOOKUP, ROUTE_LOOKUP_TREE, ROUTE_LOOKUP_TREE_FIRST, route
    from tests.tinymodel import toy_catalog

    catalog = toy_catalog()
    tools = {name: (lambda **kw: kw) for name in catalog.tool_names}
    request = "Please cancel ORD-5555, I changed my mind and do not want it any more, thanks."
    plain = route(request, catalog, tiny, tools, config=DecodingConfig(batch_size=1))
    drafted_before = tiny.drafted
    default = route(request, catalog, tiny, tools)
    assert default.raw == plain.raw
    assert ROUTE_LOOKUP > 0 and tiny.drafted > drafted_before  # the default drafted
    assert ROUTE_LOOKUP_TREE > 0
    assert 0 < ROUTE_LOOKUP_TREE_FIRST <= ROUTE_LOOKUP_TREE


# -- the run options ------------------------------------------------------------------------


def test_the_lookup_corpus_is_read_from_sft_rows_and_bad_files_are_named(tmp_path: Any) -> None:
    import json

    from harness.backends._hf_lookup import read_lookup_corpus, read_lookup_examples
    from harness.errors import SettingsError
    from harness.settings import RunSettings

    good = tmp_path / "sft.jsonl"
    rows = [
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "A"}]},
        {"messages": [{"role": "assistant", "content": "B"}, {"role": "assistant", "content": ""}]},
    ]
    good.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert read_lookup_corpus(f"{good}, {good}") == ["A", "B", "A", "B"]
    assert read_lookup_examples(str(good)) == [("hi", "A"), ("", "B")]
    turns = tmp_path / "turns.jsonl"
    chat = [
        {"role": "system", "content": "tools"},
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "A"},
        {"role": "tool", "content": "42"},
        {"role": "assistant", "content": "B"},
    ]
    turns.write_text(json.dumps({"messages": chat}) + "\n")
    assert read_lookup_examples(str(turns)) == [("one", "A"), ("one\nA\n42", "B")]
    with pytest.raises(SettingsError, match=r"missing\.jsonl.*not found.*SFT"):
        read_lookup_corpus(str(tmp_path / "missing.jsonl"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": []}\n{"text": "x"}\n')
    with pytest.raises(SettingsError, match=r"bad\.jsonl:2: expected an SFT row"):
        read_lookup_corpus(str(bad))
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    with pytest.raises(SettingsError, match="no assistant answer"):
        read_lookup_corpus(str(empty))
    with pytest.raises(SettingsError, match="lookup must be 0"):
        RunSettings(lookup=-2)
    with pytest.raises(SettingsError, match="lookup_tree must be 0"):
        RunSettings(lookup=4, lookup_tree=-1)
    with pytest.raises(SettingsError, match="lookup_tree needs lookup"):
        RunSettings(lookup_tree=8)


def test_a_run_hands_its_lookup_settings_and_corpus_to_the_backend(tmp_path: Any) -> None:
    import json
    from pathlib import Path

    from harness.errors import SettingsError
    from harness.session import EvaluationSession
    from harness.settings import build_settings
    from tests.tinymodel import build_tiny_model, build_tokenizer

    golden = str(Path(__file__).parent.parent / "golden" / "customer_support")
    common = {"golden": golden, "reports_dir": str(tmp_path / "reports")}
    missing = build_settings(
        common, {"checkpoint": "no/such/model", "lookup": 4, "lookup_corpus": "nope.jsonl"}
    )
    with pytest.raises(SettingsError, match=r"nope\.jsonl"):  # refused before any model loads
        EvaluationSession.start(missing)
    corpus = tmp_path / "sft.jsonl"
    answer = '{"tool":"no_tool","reason":"greeting"}'
    said = [{"role": "system", "content": "tools"}, {"role": "user", "content": "hello"}]
    row = {"messages": [*said, {"role": "assistant", "content": answer}]}
    corpus.write_text(json.dumps(row) + "\n")
    model = build_tiny_model(tmp_path / "model", build_tokenizer(tmp_path / "tokenizer"))
    settings = build_settings(
        common,
        {"checkpoint": str(model), "lookup": 4, "lookup_tree": 9, "lookup_corpus": str(corpus)},
    )
    session = EvaluationSession.start(settings)
    assert session.decoding_config().lookup == 4
    assert session.decoding_config().lookup_tree == 9
    backend = session.backend()
    want = backend.tokenizer.encode(answer, add_special_tokens=False)
    assert backend._lookup_corpus == [want]
    assert session.backend() is backend and backend._lookup_corpus == [want]  # added once
    assert backend._lookup_examples == [("hello", answer)]  # what it answered, too
