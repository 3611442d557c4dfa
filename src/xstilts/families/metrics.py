"""Official-parity metrics of the XTREME scorer (google-research/xtreme evaluate.py and its third_party scripts).

Every function returns percentages (x100), as the official scorer does. Parity includes the quirks:
- tagging F1 is the entity-chunk F1 of seqeval 0.0.12 (bare POS tags chunk by their first letter and full name);
- SQuAD (xquad, tydiqa) and MLQA normalize answers differently; MLQA's Arabic rule removes every "ال";
- BUCC F1 is over the set of predicted (src_id, tgt_id) pairs; its threshold is picked as `bucc_optimize` does.
"""

from __future__ import annotations

import re
import string
import sys
import unicodedata
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

# ---------------------------------------------------------------------------------------------------------------
# Classification and retrieval accuracy


def accuracy(predictions: Sequence[str], labels: Sequence[str]) -> float:
    """Share of predictions equal to their label, x100 (exact string match, as the official scorer compares)."""
    if len(predictions) != len(labels):
        raise ValueError(f"{len(predictions)} predictions for {len(labels)} labels")
    if not labels:
        raise ValueError("accuracy of an empty set is undefined")
    return 100.0 * sum(p == g for p, g in zip(predictions, labels, strict=True)) / len(labels)


def tatoeba_accuracy(predicted_indices: Sequence[int], gold_indices: Sequence[int]) -> float:
    """Tatoeba: share of sentences whose retrieved English index is the gold one, x100."""
    return accuracy([str(int(i)) for i in predicted_indices], [str(int(i)) for i in gold_indices])


# ---------------------------------------------------------------------------------------------------------------
# Tagging: seqeval 0.0.12 entity chunks

# A tag is read as (prefix, type): prefix = its first character, type = the text after its last '-'.
# "B-PER" -> ("B", "PER"); "O" -> ("O", "O"); a bare POS tag "NOUN" -> ("N", "NOUN"), "SCONJ" -> ("S", "SCONJ").
# So bare POS tags form one chunk per run of the same tag, except tags starting with S (SCONJ, SYM), which
# seqeval 0.0.12 takes for singletons. seqeval 1.x reads bare tags otherwise, hence another number.
_INSIDE = ("B", "I")
_CLOSING = ("B", "S", "O")
_OPEN_AFTER = ("E", "S", "O")
_CONTINUING = ("E", "I")
_NO_TYPE = ("O", ".")


def _split_tag(tag: str) -> tuple[str, str]:
    if not tag:
        raise ValueError("empty tag")
    return tag[0], tag.rsplit("-", 1)[-1]


def _chunk_ends(prev: str, cur: str, prev_type: str, cur_type: str) -> bool:
    if prev in ("E", "S"):
        return True
    if prev in _INSIDE and cur in _CLOSING:
        return True
    return prev not in _NO_TYPE and prev_type != cur_type


def _chunk_starts(prev: str, cur: str, prev_type: str, cur_type: str) -> bool:
    if cur in ("B", "S"):
        return True
    if prev in _OPEN_AFTER and cur in _CONTINUING:
        return True
    return cur not in _NO_TYPE and prev_type != cur_type


def tag_chunks(sentences: Sequence[Sequence[str]]) -> set[tuple[str, int, int]]:
    """Entity chunks (type, first, last) over all sentences, as seqeval 0.0.12's `get_entities` finds them.

    Sentences are joined with an "O" after each, so offsets run over that joined sequence and no chunk crosses
    a sentence end. A chunk whose end is seen without a new start keeps the last start offset, as 0.0.12 does.
    """
    flat: list[str] = []
    for sent in sentences:
        flat.extend(sent)
        flat.append("O")
    flat.append("O")  # the final sentinel seqeval appends
    chunks: set[tuple[str, int, int]] = set()
    prev, prev_type, begin = "O", "", 0
    for i, tag in enumerate(flat):
        cur, cur_type = _split_tag(tag)
        if _chunk_ends(prev, cur, prev_type, cur_type):
            chunks.add((prev_type, begin, i - 1))
        if _chunk_starts(prev, cur, prev_type, cur_type):
            begin = i
        prev, prev_type = cur, cur_type
    return chunks


def _prf(n_correct: int, n_pred: int, n_gold: int) -> dict[str, float]:
    """Precision, recall and F1 x100; each is 0 when its denominator is 0 (as seqeval and bucc_f1)."""
    precision = n_correct / n_pred if n_pred else 0.0
    recall = n_correct / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"f1": 100.0 * f1, "precision": 100.0 * precision, "recall": 100.0 * recall}


def tagging_scores(golds: Sequence[Sequence[str]], preds: Sequence[Sequence[str]]) -> dict[str, float]:
    """Entity-chunk F1, precision and recall x100 (seqeval 0.0.12 micro average), for NER and bare POS tags."""
    if len(golds) != len(preds):
        raise ValueError(f"{len(preds)} predicted sentences for {len(golds)} gold sentences")
    gold_chunks, pred_chunks = tag_chunks(golds), tag_chunks(preds)
    return _prf(len(gold_chunks & pred_chunks), len(pred_chunks), len(gold_chunks))


# ---------------------------------------------------------------------------------------------------------------
# Extractive QA: SQuAD v1.1 (xquad, tydiqa) and MLQA

_ASCII_PUNCT = frozenset(string.punctuation)


@cache
def _mlqa_punct() -> frozenset[str]:
    """MLQA: every character whose Unicode category starts with P, plus string.punctuation (adds $+<=>^`|~).

    Built on first use (a scan of all code points, ~0.1 s) so importing the metrics stays cheap.
    """
    unicode_p = (chr(i) for i in range(sys.maxunicode) if unicodedata.category(chr(i)).startswith("P"))
    return frozenset(unicode_p) | _ASCII_PUNCT


_SQUAD_ARTICLES = re.compile(r"\b(a|an|the)\b")
_MLQA_ARTICLES: dict[str, re.Pattern[str] | None] = {
    "en": re.compile(r"\b(a|an|the)\b"),
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
    # The official pattern is '\sال^|ال': its first branch can never match, so every "ال" anywhere is replaced.
    "ar": re.compile("ال"),
    "hi": None,
    "zh": None,
}
_CJK = re.compile(r"[\u4e00-\u9fa5]")


def _squad_normalize(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in _ASCII_PUNCT)
    return " ".join(_SQUAD_ARTICLES.sub(" ", text).split())


def _mixed_segmentation(text: str) -> list[str]:
    """MLQA zh tokens: each CJK character (U+4E00..U+9FA5) and punctuation mark alone, other runs split on space."""
    punct = _mlqa_punct()
    tokens: list[str] = []
    run = ""
    for ch in text:
        if _CJK.match(ch) or ch in punct:
            tokens.extend(run.split())
            run = ""
            tokens.append(ch)
        else:
            run += ch
    tokens.extend(run.split())
    return tokens


def mlqa_normalize(text: str, lang: str) -> str:
    """MLQA's answer normalization: lower, drop punctuation, drop the language's articles, re-join tokens."""
    if lang not in _MLQA_ARTICLES:
        raise ValueError(f"MLQA has no normalization for language '{lang}'")
    punct = _mlqa_punct()
    text = "".join(ch for ch in text.lower() if ch not in punct)
    articles = _MLQA_ARTICLES[lang]
    if articles is not None:
        text = articles.sub(" ", text)
    tokens = _mixed_segmentation(text) if lang == "zh" else text.split()
    return " ".join(t for t in tokens if t.strip())


def squad_normalize(text: str) -> str:
    """SQuAD v1.1 normalization: lower, drop ASCII punctuation and English articles, fold whitespace."""
    return _squad_normalize(text)


def _token_f1(pred: str, gold: str) -> float:
    pred_toks, gold_toks = pred.split(), gold.split()
    same = sum((Counter(pred_toks) & Counter(gold_toks)).values())
    if same == 0:
        return 0.0  # also when both are empty (SQuAD v1.1 behaviour)
    precision, recall = same / len(pred_toks), same / len(gold_toks)
    return 2 * precision * recall / (precision + recall)


def _qa_scores(
    predictions: Sequence[str | None], golds: Sequence[Sequence[str]], normalize: Callable[[str], str]
) -> dict[str, float]:
    """EM and F1 x100, each the max over the gold answers, averaged over all questions.

    A prediction of None is an unanswered question: it scores 0 but still counts (official behaviour).
    An empty gold list is scored as SQuAD 2.0 does (gold ""), so no-answer questions of intermediate tasks work.
    """
    if len(predictions) != len(golds):
        raise ValueError(f"{len(predictions)} predictions for {len(golds)} questions")
    if not golds:
        raise ValueError("no questions to score")
    em_total = f1_total = 0.0
    for pred, answers in zip(predictions, golds, strict=True):
        if pred is None:
            continue
        norm_pred = normalize(pred)
        if not answers:
            em_total += float(norm_pred == "")
            f1_total += float(norm_pred == "")
            continue
        norm_golds = [normalize(a) for a in answers]
        em_total += max(float(norm_pred == g) for g in norm_golds)
        f1_total += max(_token_f1(norm_pred, g) for g in norm_golds)
    n = len(golds)
    return {"exact_match": 100.0 * em_total / n, "f1": 100.0 * f1_total / n}


def squad_scores(predictions: Sequence[str | None], golds: Sequence[Sequence[str]]) -> dict[str, float]:
    """SQuAD v1.1 exact match and F1 x100 (xquad, tydiqa); max over each question's gold answers."""
    return _qa_scores(predictions, golds, _squad_normalize)


def mlqa_scores(predictions: Sequence[str | None], golds: Sequence[Sequence[str]], lang: str) -> dict[str, float]:
    """MLQA exact match and F1 x100 with the answer language's normalization (en es de ar hi vi zh)."""
    if lang not in _MLQA_ARTICLES:
        raise ValueError(f"MLQA has no normalization for language '{lang}'")
    return _qa_scores(predictions, golds, lambda s: mlqa_normalize(s, lang))


# ---------------------------------------------------------------------------------------------------------------
# BUCC bitext mining

Pair = tuple[str, ...]


def _as_pair(item: str | Sequence[Hashable]) -> Pair:
    # The official scorer splits each stripped line on tabs; tuples are taken as they are.
    if isinstance(item, str):
        return tuple(item.strip().split("\t"))
    return tuple(str(x) for x in item)


def bucc_scores(
    predicted_pairs: Iterable[str | Sequence[Hashable]], gold_pairs: Iterable[str | Sequence[Hashable]]
) -> dict[str, float]:
    """F1, precision and recall x100 over the sets of (src_id, tgt_id) pairs; all 0 when no pair is correct."""
    pred = {_as_pair(p) for p in predicted_pairs}
    gold = {_as_pair(g) for g in gold_pairs}
    n_correct = len(pred & gold)
    if n_correct == 0:
        return {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    return _prf(n_correct, len(pred), len(gold))


def _candidate_scores(candidates: Iterable[tuple[str, str, float]]) -> dict[Pair, float]:
    """(src, tgt) -> best score, first-seen order kept (ties later sort in this order, as in the official dict)."""
    best: dict[Pair, float] = {}
    for src, tgt, score in candidates:
        key = (str(src), str(tgt))
        best[key] = max(float(score), best.get(key, float(score)))
    return best


def bucc_best_threshold(
    candidates: Iterable[tuple[str, str, float]], gold_pairs: Iterable[str | Sequence[Hashable]]
) -> float:
    """The margin threshold that maximizes pair F1 on gold, as the official `bucc_optimize` picks it.

    Candidates are sorted by descending score (stable); walking down, the first strict F1 maximum sets the
    threshold halfway between that candidate's score and the next one's; 0 when no candidate is correct.
    Where the best F1 is reached at the very last candidate the official code fails (IndexError); here the
    threshold is then that last score, which keeps every candidate.
    """
    items = sorted(_candidate_scores(candidates).items(), key=lambda kv: -kv[1])
    gold = {_as_pair(g) for g in gold_pairs}
    threshold, best_f1, n_correct = 0.0, 0.0, 0
    for n_extracted, (pair, score) in enumerate(items, start=1):
        n_correct += pair in gold
        if n_correct == 0:
            continue
        precision, recall = n_correct / n_extracted, n_correct / len(gold)
        f1 = 2 * precision * recall / (precision + recall)
        if f1 > best_f1:
            best_f1 = f1
            nxt = items[n_extracted][1] if n_extracted < len(items) else score
            threshold = (score + nxt) / 2
    return threshold


def bucc_extract(candidates: Iterable[tuple[str, str, float]], threshold: float) -> list[Pair]:
    """Pairs whose (best) score reaches the threshold (score >= threshold, as the official `bucc_extract`), in the
    candidates' order. The one extraction: evaluation runs apply it to `retrieval.bucc_candidates`' output."""
    return [pair for pair, score in _candidate_scores(candidates).items() if score >= threshold]


# ---------------------------------------------------------------------------------------------------------------
# Metrics as the family table holds them: the `metric:` of a task YAML, per family


@dataclass(frozen=True)
class Metric:
    """One metric name: `compute(predictions, golds, lang)` on aligned lists gives {name: value x100} in the official
    key order, and `headline` picks the task's single number (official `avg_metric`) from those values."""

    compute: Callable[[Sequence[Any], Sequence[Any], str], dict[str, float]]
    headline: Callable[[dict[str, float]], float]


def _accuracy(predictions: Sequence[Any], golds: Sequence[Any], lang: str) -> dict[str, float]:
    """Exact-match accuracy on labels, choice or sentence indices; per token for tag sequences (e.g. CCG supertags)."""
    if predictions and isinstance(predictions[0], (list, tuple)):
        predictions = [t for row in predictions for t in row]
        golds = [t for row in golds for t in row]
    return {"accuracy": accuracy([str(p) for p in predictions], [str(g) for g in golds])}


def _correlations(predictions: Sequence[Any], golds: Sequence[Any], lang: str) -> dict[str, float]:
    """Pearson and Spearman correlation x100 (0 when either side is constant or there is a single pair)."""
    import numpy as np
    from scipy.stats import pearsonr, spearmanr

    p, g = np.asarray(predictions, float), np.asarray(golds, float)
    ok = len(p) > 1 and p.std() > 0 and g.std() > 0
    return {
        "pearson": 100 * float(pearsonr(p, g)[0]) if ok else 0.0,
        "spearman": 100 * float(spearmanr(p, g)[0]) if ok else 0.0,
    }


def _em_f1(scores: dict[str, float]) -> float:
    return (scores["exact_match"] + scores["f1"]) / 2


# The metrics a family's FamilyOps entry names (xstilts.families.table): its `metric:` names -> these. A name means one
# thing per family; "f1" is the F1 of the family's unit (entity chunks for tagging, answer tokens for span_qa, with
# SQuAD's exact match beside it).
ACCURACY = Metric(_accuracy, lambda s: s["accuracy"])
PEARSON = Metric(_correlations, lambda s: s["pearson"])
TAGGING_F1 = Metric(lambda p, g, lang: tagging_scores(g, p), lambda s: s["f1"])
SQUAD = Metric(lambda p, g, lang: squad_scores(p, g), _em_f1)
MLQA = Metric(mlqa_scores, _em_f1)
BUCC_F1 = Metric(lambda p, g, lang: bucc_scores(p, g), lambda s: s["f1"])
