"""QA windows placed as jiant / Hugging Face's SQuAD processor / BERT's run_squad.py place them: the question cut to
max_query_length tokens, a window started every doc_stride context tokens (not an overlap of doc_stride tokens), the
last window reaching the context's end, inputs never longer than max_seq_length, answers exact through the offsets."""

from __future__ import annotations

import math

import pytest

from xstilts.families.decode import _window_starts
from xstilts.families.examples import Answer, SpanExample
from xstilts.families.featurize import featurize_span_qa, featurize_spans, window_starts


@pytest.fixture(scope="module", params=["bert", "xlmr"])
def tok(request):
    from tests.conftest import make_tokenizer

    return make_tokenizer(request.param)


def long_context() -> str:
    from tests.conftest import toy_corpus

    return " ".join(toy_corpus(60)[:60])


def doc_offsets(tok, context: str) -> list[tuple[int, int]]:
    return [tuple(o) for o in tok(context, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]]


def starts_of(feats, doc: list[tuple[int, int]]) -> list[int]:
    """Context-token index of each window's first context token."""
    return [doc.index(next(o for o in f["meta"]["offsets"] if o is not None)) for f in feats]


def context_len(f) -> int:
    return sum(o is not None for o in f["meta"]["offsets"])


def capacity(tok, question: str, max_len: int, max_query_length: int = 64) -> int:
    q = len(tok(question, add_special_tokens=False)["input_ids"][:max_query_length])
    return max_len - q - tok.num_special_tokens_to_add(pair=True)


QUESTION = "what color is the sky"


def test_windows_start_every_doc_stride_tokens_and_the_last_reaches_the_end(tok):
    context = long_context()
    doc = doc_offsets(tok, context)
    ex = SpanExample(guid="q", question=QUESTION, context=context, answers=[])
    feats = featurize_spans([ex], tok, max_len=48, doc_stride=8, train=False)
    starts = starts_of(feats, doc)
    assert starts == [8 * i for i in range(len(feats))]
    # Each window's context tokens are the context's own tokens from its start; all full but the last one, which ends
    # at the context's last token (and is the first one to).
    cap = capacity(tok, QUESTION, 48)
    for f, s in zip(feats, starts, strict=True):
        assert [o for o in f["meta"]["offsets"] if o is not None] == doc[s : s + min(cap, len(doc) - s)]
        assert len(f["input_ids"]) <= 48
    assert [s + context_len(f) >= len(doc) for f, s in zip(feats, starts, strict=True)] == [False] * (
        len(feats) - 1
    ) + [True]
    assert all(len(f["input_ids"]) == 48 for f in feats[:-1])
    # The decoder recovers the same starts from the offsets alone.
    assert _window_starts([f["meta"]["offsets"] for f in feats]) == starts


def test_number_of_windows_is_the_reference_formula_not_the_overlap_one(tok):
    """N context tokens, capacity C, stride s <= C: 1 + ceil((N - C) / s) windows (HF / run_squad.py). The old placement
    (consecutive windows overlapping by s tokens) gave 1 + ceil((N - C) / (C - s)), which differs here."""
    context = long_context()
    n = len(doc_offsets(tok, context))
    ex = SpanExample(guid="q", question=QUESTION, context=context, answers=[])
    cap, stride = capacity(tok, QUESTION, 48), 8
    assert n > cap
    feats = featurize_spans([ex], tok, max_len=48, doc_stride=stride, train=False)
    expected = 1 + math.ceil((n - cap) / stride)
    assert len(feats) == expected
    assert expected != 1 + math.ceil((n - cap) / (cap - stride))


def test_window_starts_function():
    assert window_starts(10, 10, 3) == [0]
    assert window_starts(0, 10, 3) == [0]  # an empty context still gives one (empty) window
    assert window_starts(11, 10, 3) == [0, 3]
    assert window_starts(16, 10, 3) == [0, 3, 6]
    assert window_starts(17, 10, 3) == [0, 3, 6, 9]
    # A stride above the capacity steps by the capacity (BERT's min(length, doc_stride)): no token is skipped.
    assert window_starts(25, 10, 128) == [0, 10, 20]


def test_stride_above_capacity_covers_every_token_once(tok):
    context = long_context()
    doc = doc_offsets(tok, context)
    ex = SpanExample(guid="q", question=QUESTION, context=context, answers=[])
    feats = featurize_spans([ex], tok, max_len=48, doc_stride=128, train=False)
    assert [o for f in feats for o in f["meta"]["offsets"] if o is not None] == doc


def test_short_context_gives_one_window_equal_to_the_tokenizers_pair_encoding(tok):
    context = "the cat runs and the dog jumps"
    ex = SpanExample(guid="q", question=QUESTION, context=context, answers=[Answer("dog", context.index("dog"))])
    feats = featurize_spans([ex], tok, max_len=384, doc_stride=128, train=True)
    assert len(feats) == 1
    f = feats[0]
    ref = tok(QUESTION, context, return_offsets_mapping=True)
    assert f["input_ids"] == ref["input_ids"]
    assert f["attention_mask"] == [1] * len(ref["input_ids"])
    # Token types exactly when the tokenizer's model takes them (BERT), as the tokenizer itself returns them.
    assert ("token_type_ids" in f) == ("token_type_ids" in ref)
    if "token_type_ids" in f:
        assert f["token_type_ids"] == ref["token_type_ids"]
    seq = ref.sequence_ids(0)
    assert f["meta"]["offsets"] == [
        tuple(o) if s == 1 else None for o, s in zip(ref["offset_mapping"], seq, strict=True)
    ]
    s, e = f["start_positions"], f["end_positions"]
    assert s > 0 and context[f["meta"]["offsets"][s][0] : f["meta"]["offsets"][e][1]] == "dog"


def test_long_question_is_cut_to_max_query_length(tok):
    question = " ".join(["what color is the sky"] * 20)
    q_ids = tok(question, add_special_tokens=False)["input_ids"]
    assert len(q_ids) > 12
    ex = SpanExample(guid="q", question=question, context=long_context(), answers=[])
    feats = featurize_span_qa([ex], tok, None, {"max_seq_length": 64, "doc_stride": 16, "max_query_length": 12}, False)
    for f in feats:
        ids = f["input_ids"]
        # one special token before the question for both tokenizers, then the first 12 question tokens, then only
        # special tokens up to the context
        assert ids[0] in tok.all_special_ids and ids[1:13] == q_ids[:12]
        first_ctx = next(i for i, o in enumerate(f["meta"]["offsets"]) if o is not None)
        assert first_ctx > 13 and all(t in tok.all_special_ids for t in ids[13:first_ctx])
        assert len(ids) <= 64
    # Without the setting, the default (64) applies.
    assert len(q_ids) > 64
    feats = featurize_span_qa([ex], tok, None, {"max_seq_length": 384, "doc_stride": 128}, False)
    assert feats[0]["input_ids"][1:65] == q_ids[:64] and feats[0]["input_ids"][65] in tok.all_special_ids


def test_answers_map_back_through_the_offsets_in_every_window_that_holds_them(tok):
    context = long_context()
    doc = doc_offsets(tok, context)
    # answers at the start, in the middle and at the end of the context
    words = context.split(" ")
    picks = [0, len(words) // 2, len(words) - 1]
    examples = []
    for k in picks:
        start = len(" ".join(words[:k])) + (1 if k else 0)
        examples.append(SpanExample(guid=str(k), question=QUESTION, context=context, answers=[Answer(words[k], start)]))
    feats = featurize_spans(examples, tok, max_len=48, doc_stride=8, train=True)
    for n, ex in enumerate(examples):
        a = ex.answers[0]
        mine = [f for f in feats if f["meta"]["example"] == n]
        assert len(mine) == len(featurize_spans([ex], tok, max_len=48, doc_stride=8, train=True))
        hits = 0
        for f in mine:
            offs = f["meta"]["offsets"]
            ctx = [o for o in offs if o is not None]
            holds = ctx[0][0] <= a.answer_start and ctx[-1][1] >= a.answer_start + len(a.text)
            s, e = f["start_positions"], f["end_positions"]
            if holds:
                hits += 1
                assert context[offs[s][0] : offs[e][1]] == a.text
            else:
                assert s == e == 0
            assert len(f["input_ids"]) <= 48
        assert hits >= 1
    assert len(doc) > 48


def test_shared_contexts_featurize_as_each_alone(tok):
    c1, c2 = long_context(), "the dog jumps over the red house"
    examples = [
        SpanExample(guid="a", question="who runs", context=c1, answers=[Answer("the", 0)]),
        SpanExample(guid="b", question="what jumps", context=c2, answers=[Answer("dog", 4)]),
        SpanExample(guid="c", question="what is big and very small here", context=c1, answers=[]),
    ]
    together = featurize_spans(examples, tok, max_len=48, doc_stride=8, train=True)
    alone = []
    for n, ex in enumerate(examples):
        for f in featurize_spans([ex], tok, max_len=48, doc_stride=8, train=True):
            f["meta"]["example"] = n
            alone.append(f)
    assert together == alone
