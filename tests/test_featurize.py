"""Featurization is right per family: QA windows cover long contexts and map answers back to exact character spans;
tagging never drops a word (long sentences become windows); labels sit on first sub-tokens only."""

from __future__ import annotations

import numpy as np
import pytest

from xstilts.families.decode import decode_spans, decode_tags
from xstilts.families.examples import Answer, SpanExample, TagExample
from xstilts.families.featurize import featurize_spans, featurize_tags


@pytest.fixture(scope="module", params=["bert", "xlmr"])
def tok(request):
    from tests.conftest import make_tokenizer

    return make_tokenizer(request.param)


def long_example() -> SpanExample:
    words = ("the cat runs and the dog jumps very " * 12).split()
    pre = " ".join(words)
    context = f"{pre} paris is big. {pre}"
    start = context.index("paris")
    return SpanExample(guid="q1", question="what is big", context=context, answers=[Answer("paris", start)])


def test_qa_windows_cover_long_context_and_locate_answer(tok):
    ex = long_example()
    feats = featurize_spans([ex], tok, max_len=48, doc_stride=16, train=True)
    assert len(feats) > 1  # several windows (how many depends on the tokenizer trained at test time)
    hits = [f for f in feats if f["start_positions"] > 0]
    assert hits, "no window contains the answer"
    for f in hits:
        s, e = f["start_positions"], f["end_positions"]
        offs = f["meta"]["offsets"]
        assert ex.context[offs[s][0] : offs[e][1]] == "paris"
    # Every context character is covered by some window.
    covered = np.zeros(len(ex.context), bool)
    for f in feats:
        for o in f["meta"]["offsets"]:
            if o is not None:
                covered[o[0] : o[1]] = True
    assert all(covered[i] for i, ch in enumerate(ex.context) if not ch.isspace())


def test_nbest_decoding_returns_exact_character_span(tok):
    ex = long_example()
    feats = featurize_spans([ex], tok, max_len=48, doc_stride=16, train=True)
    outputs = []
    for f in feats:
        n = len(f["input_ids"])
        start, end = np.full(n, -5.0), np.full(n, -5.0)
        if f["start_positions"] > 0:
            start[f["start_positions"]] = 5.0
            end[f["end_positions"]] = 5.0
        start[0] = end[0] = 1.0  # null score below the answer's
        outputs.append({"start_logits": start, "end_logits": end})
    assert decode_spans(outputs, feats, [ex.context]) == ["paris"]
    assert decode_spans(outputs, feats, [ex.context], max_answer_length=0) == [""]
    # With null answers allowed and a stronger null score, the empty answer wins.
    for o in outputs:
        o["start_logits"][0] = o["end_logits"][0] = 50.0
    assert decode_spans(outputs, feats, [ex.context], allow_null=True) == [""]


def test_tagging_windows_never_drop_a_word(tok):
    tokens = [f"w{i % 7}" if i % 3 else "banana" for i in range(90)] + ["", " "]
    ex = TagExample(guid="t", tokens=tokens, tags=["A" if i % 2 else "B" for i in range(len(tokens))])
    feats = featurize_tags([ex], tok, ["A", "B"], max_len=24)
    assert len(feats) > 1
    words = [w for f in feats for w in f["meta"]["words"]]
    assert words == list(range(len(tokens)))  # each word in exactly one window, in order
    for f in feats:
        assert len(f["input_ids"]) <= 24
        labeled = [i for i, l in enumerate(f["labels"]) if l != -100]
        assert labeled == f["meta"]["first_positions"]
    outputs = []
    for f in feats:
        logits = np.zeros((len(f["input_ids"]), 2))
        for w, pos in zip(f["meta"]["words"], f["meta"]["first_positions"], strict=False):
            logits[pos, 0 if ex.tags[w] == "A" else 1] = 1.0
        outputs.append({"logits": logits})
    assert decode_tags(outputs, feats, ["A", "B"], 1, [len(tokens)]) == [ex.tags]
