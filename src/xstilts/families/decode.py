"""Decoding per family: raw head outputs -> predictions in each family's natural form.

classification: label names; regression: floats; multiple_choice: choice indices; span_qa: answer texts after n-best
post-processing over all windows; tagging: one tag per word.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def decode_classification(outputs: list[dict[str, np.ndarray]], labels: list[str] | None) -> list[Any]:
    if labels is None:  # regression
        return [float(o["logits"][0]) for o in outputs]
    return [labels[int(np.argmax(o["logits"]))] for o in outputs]


def decode_choices(outputs: list[dict[str, np.ndarray]]) -> list[int]:
    return [int(np.argmax(o["logits"])) for o in outputs]


def decode_tags(
    outputs: list[dict[str, np.ndarray]],
    feats: list[dict[str, Any]],
    labels: list[str],
    n_examples: int,
    n_words: Sequence[int],
) -> list[list[str]]:
    """Gather each word's first-sub-token prediction from whichever window holds it."""
    tags: list[list[str | None]] = [[None] * n_words[i] for i in range(n_examples)]
    for o, f in zip(outputs, feats, strict=False):
        m = f["meta"]
        for wi, pos in zip(m["words"], m["first_positions"], strict=False):
            tags[m["example"]][wi] = labels[int(np.argmax(o["logits"][pos]))]
    assert all(t is not None for row in tags for t in row), "a word received no prediction"
    return tags  # type: ignore[return-value]


def _window_starts(windows: list[list[tuple[int, int] | None]]) -> list[int]:
    """Document-token position of the first context token of each window of one example.

    The windows are consecutive slices of the context's tokens (featurize_spans: one every doc_stride tokens, so they
    overlap when doc_stride is below a window's capacity); the overlap between two windows is the longest suffix of one
    whose offsets equal the next one's prefix.
    """
    ctx = [[o for o in w if o is not None] for w in windows]
    starts = [0]
    for prev, cur in zip(ctx, ctx[1:], strict=False):
        # Earliest position of prev from which prev's rest is a prefix of cur: the longest overlap.
        j = (
            next(
                (
                    j
                    for j in range(max(0, len(prev) - len(cur)), len(prev))
                    if prev[j] == cur[0] and prev[j:] == cur[: len(prev) - j]
                ),
                len(prev),
            )
            if cur
            else len(prev)
        )
        starts.append(starts[-1] + j)
    return starts


def max_context_flags(windows: list[list[tuple[int, int] | None]]) -> list[list[bool]]:
    """Per window and position: whether the context token there has its maximum context in this window.

    As SQuAD's `_check_is_max_context` (HF run_squad, XTREME): a token's score in a window is
    min(tokens left of it, tokens right of it) + 0.01 * window length; the first window with the highest score wins.
    Non-context positions are False.
    """
    starts = _window_starts(windows)
    lengths = [sum(o is not None for o in w) for w in windows]
    best: dict[int, tuple[float, int]] = {}
    for w, (start, length) in enumerate(zip(starts, lengths, strict=False)):
        for p in range(start, start + length):
            score = min(p - start, start + length - 1 - p) + 0.01 * length
            if p not in best or score > best[p][0]:
                best[p] = (score, w)
    flags = []
    for w, win in enumerate(windows):
        row, p = [], starts[w]
        for o in win:
            if o is None:
                row.append(False)
            else:
                row.append(best[p][1] == w)
                p += 1
        flags.append(row)
    return flags


def decode_spans(
    outputs: list[dict[str, np.ndarray]],
    feats: list[dict[str, Any]],
    contexts: Sequence[str],
    max_answer_length: int = 30,
    n_best: int = 20,
    allow_null: bool = False,
) -> list[str]:
    """SQuAD post-processing (HF run_squad, XTREME) over all windows of each example; answers are character spans
    of the original context.

    Per window, the n_best start and end logits are paired; a pair counts only when both lie in the context,
    end >= start, the span is at most max_answer_length tokens, and the start token has its maximum context in this
    window. With
    allow_null (SQuAD v2-style tasks) the empty answer wins when the null score (first-token start + end logits, the
    MIN over the example's windows) beats the best span.
    """
    windows: dict[int, list[int]] = {}
    for k, f in enumerate(feats):
        windows.setdefault(f["meta"]["example"], []).append(k)
    max_context: list[list[bool]] = [[] for _ in feats]
    for ks in windows.values():
        for k, flags in zip(ks, max_context_flags([feats[k]["meta"]["offsets"] for k in ks]), strict=False):
            max_context[k] = flags
    best: list[tuple[float, str]] = [(-np.inf, "") for _ in contexts]
    null: list[float] = [np.inf for _ in contexts]
    for k, (o, f) in enumerate(zip(outputs, feats, strict=False)):
        n, offsets = f["meta"]["example"], f["meta"]["offsets"]
        start, end = o["start_logits"], o["end_logits"]
        null[n] = min(null[n], float(start[0] + end[0]))
        starts = np.argsort(start)[::-1][:n_best]
        ends = np.argsort(end)[::-1][:n_best]
        for s in starts:
            if s >= len(offsets) or offsets[s] is None or not max_context[k][s]:
                continue
            for e in ends:
                if e >= len(offsets) or offsets[e] is None or e < s or e - s + 1 > max_answer_length:
                    continue
                score = float(start[s] + end[e])
                if score > best[n][0]:
                    best[n] = (score, contexts[n][offsets[s][0] : offsets[e][1]])
    return [("" if allow_null and null[i] > b[0] else b[1]) for i, b in enumerate(best)]


# The FamilyOps `decode` of each family: (head outputs, features, examples, labels, settings) -> one prediction per
# example, in the examples' order.
Outputs = list[dict[str, np.ndarray]]
Features = list[dict[str, Any]]


def decode_classification_task(outputs: Outputs, feats: Features, examples: Sequence[Any], labels, settings) -> list:
    return decode_classification(outputs, labels)


def decode_regression_task(outputs: Outputs, feats: Features, examples: Sequence[Any], labels, settings) -> list:
    return decode_classification(outputs, None)


def decode_multiple_choice_task(outputs: Outputs, feats: Features, examples: Sequence[Any], labels, settings) -> list:
    return decode_choices(outputs)


def decode_tagging_task(outputs: Outputs, feats: Features, examples: Sequence[Any], labels, settings) -> list:
    return decode_tags(outputs, feats, labels or [], len(examples), [len(e.tokens) for e in examples])


def decode_span_qa_task(outputs: Outputs, feats: Features, examples: Sequence[Any], labels, settings) -> list:
    # SQuAD 2.0-style abstention only for labelled sets that mix answerable and unanswerable questions: an unlabelled
    # set (official test files without answers) must be decoded exactly as the same questions with gold would be.
    allow_null = any(not e.answers for e in examples) and any(e.answers for e in examples)
    return decode_spans(
        outputs, feats, [e.context for e in examples], int(settings["max_answer_length"]), allow_null=allow_null
    )
