"""SQuAD post-processing (HF run_squad, XTREME v1.1) in `decode_spans`, on hand-built windows and logits:
a start counts only in the window where its token has maximum context, and the null score is the MIN over windows."""

from __future__ import annotations

import numpy as np

from xstilts.families.decode import decode_spans, max_context_flags

# Context "t0 t1 ... t9": token i covers characters [3i, 3i + 2).
CONTEXT = " ".join(f"t{i}" for i in range(10))
TOK = [(3 * i, 3 * i + 2) for i in range(10)]
# Two windows: [CLS] q [SEP] t0..t5 [SEP] and [CLS] q [SEP] t3..t9 [SEP] (overlap t3, t4, t5).
WIN_A = [None, None, None, *TOK[0:6], None]
WIN_B = [None, None, None, *TOK[3:10], None]


def feat(offsets: list, example: int = 0) -> dict:
    return {"meta": {"example": example, "offsets": offsets}}


def logits(n: int, start: dict[int, float], end: dict[int, float]) -> dict[str, np.ndarray]:
    """Position -> logit (everything else -10)."""
    s, e = np.full(n, -10.0, dtype=np.float32), np.full(n, -10.0, dtype=np.float32)
    for p, v in start.items():
        s[p] = v
    for p, v in end.items():
        e[p] = v
    return {"start_logits": s, "end_logits": e}


def pos(window: list, token: int) -> int:
    """Position in the window of context token `token`."""
    return window.index(TOK[token])


def test_max_context_flags_as_check_is_max_context():
    # A spans t0..t5 (start 0, length 6), B spans t3..t9 (start 3, length 7). Score = min(left, right) + 0.01 * length:
    # t3: A min(3, 2) + .06 = 2.06, B min(0, 6) + .07 -> A; t4: A 1.06, B 1.07 -> B; t5: A 0.06, B 2.07 -> B.
    a, b = max_context_flags([WIN_A, WIN_B])
    assert [TOK[i] for i in range(10) if TOK[i] in WIN_A and a[WIN_A.index(TOK[i])]] == TOK[0:4]
    assert [TOK[i] for i in range(10) if TOK[i] in WIN_B and b[WIN_B.index(TOK[i])]] == TOK[4:10]
    assert not any(a[i] for i, o in enumerate(WIN_A) if o is None)


def test_a_start_outside_its_max_context_window_is_not_taken():
    # Window A's best pair starts at t4 (max context in B, not A): score 20, but it must be skipped; the answer is
    # window B's t6..t7 (score 6), not a pair of window A's valid starts t0..t3 with t5 (score 0).
    out_a = logits(len(WIN_A), {pos(WIN_A, 4): 10.0}, {pos(WIN_A, 5): 10.0})
    out_b = logits(len(WIN_B), {pos(WIN_B, 6): 3.0}, {pos(WIN_B, 7): 3.0})
    assert decode_spans([out_a, out_b], [feat(WIN_A), feat(WIN_B)], [CONTEXT]) == ["t6 t7"]
    # The same start in window B, where t4 has its max context, is taken.
    out_b = logits(len(WIN_B), {pos(WIN_B, 4): 10.0, pos(WIN_B, 6): 3.0}, {pos(WIN_B, 5): 10.0, pos(WIN_B, 7): 3.0})
    assert decode_spans([out_a, out_b], [feat(WIN_A), feat(WIN_B)], [CONTEXT]) == ["t4 t5"]
    # Only the start is checked (as run_squad): an end outside its max-context window is fine.
    out_a = logits(len(WIN_A), {pos(WIN_A, 3): 10.0}, {pos(WIN_A, 5): 10.0})
    out_b = logits(len(WIN_B), {pos(WIN_B, 8): 1.0}, {pos(WIN_B, 8): 1.0})
    assert decode_spans([out_a, out_b], [feat(WIN_A), feat(WIN_B)], [CONTEXT]) == ["t3 t4 t5"]


def test_null_score_is_the_min_over_windows():
    # Null (first-token start + end): 10 in window A, 1 in window B; best span t6..t7 scores 6.
    out_a = logits(len(WIN_A), {0: 5.0}, {0: 5.0})
    out_b = logits(len(WIN_B), {0: 0.5, pos(WIN_B, 6): 3.0}, {0: 0.5, pos(WIN_B, 7): 3.0})
    feats = [feat(WIN_A), feat(WIN_B)]
    assert decode_spans([out_a, out_b], feats, [CONTEXT], allow_null=True) == ["t6 t7"]  # min 1 < 6 (max 10 > 6)
    # With a null above the span in every window, the empty answer wins.
    out_b = logits(len(WIN_B), {0: 4.0, pos(WIN_B, 6): 3.0}, {0: 4.0, pos(WIN_B, 7): 3.0})
    assert decode_spans([out_a, out_b], feats, [CONTEXT], allow_null=True) == [""]
    assert decode_spans([out_a, out_b], feats, [CONTEXT], allow_null=False) == ["t6 t7"]


def test_windows_of_several_examples_are_kept_apart():
    one = [None, *TOK[0:4], None]
    out_0 = logits(len(one), {pos(one, 1): 5.0}, {pos(one, 2): 5.0})
    out_1a = logits(len(WIN_A), {pos(WIN_A, 0): 1.0}, {pos(WIN_A, 0): 1.0})
    out_1b = logits(len(WIN_B), {pos(WIN_B, 3): 9.0, pos(WIN_B, 9): 2.0}, {pos(WIN_B, 9): 9.0})
    got = decode_spans([out_0, out_1a, out_1b], [feat(one, 0), feat(WIN_A, 1), feat(WIN_B, 1)], [CONTEXT, CONTEXT])
    # example 1: B's start t3 is not max context there (A holds t3); B's start t9 is -> "t9"
    assert got == ["t1 t2", "t9"]


def test_real_windows_map_onto_the_context_tokens(tiny_models):
    """On real windows (HF fast-tokenizer overflow with stride), the inferred window starts place every window's
    context tokens on the context's own tokenization, and each context token has exactly one max-context window."""
    from tests.conftest import toy_corpus
    from xstilts.families.decode import _window_starts
    from xstilts.families.examples import Answer, SpanExample
    from xstilts.families.featurize import featurize_spans
    from xstilts.modeling.model import load_encoder

    _, tok = load_encoder(str(tiny_models["xlmr"]))
    context = " ".join(toy_corpus(40)[:40])
    ex = SpanExample(guid="q", question="what color is the sky", context=context, answers=[Answer("the", 0)])
    feats = featurize_spans([ex], tok, max_len=48, doc_stride=12, train=False)
    assert len(feats) > 3
    windows = [f["meta"]["offsets"] for f in feats]
    doc = [tuple(o) for o in tok(context, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]]
    owners = [0] * len(doc)
    for start, win, flags in zip(_window_starts(windows), windows, max_context_flags(windows), strict=False):
        ctx = [(tuple(o), f) for o, f in zip(win, flags, strict=False) if o is not None]
        assert [o for o, _ in ctx] == doc[start : start + len(ctx)]
        for i, (_, is_max) in enumerate(ctx):
            owners[start + i] += is_max
    assert owners == [1] * len(doc)
