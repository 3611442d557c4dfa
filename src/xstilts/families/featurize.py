"""Featurization per family: typed examples -> token features; and the dynamic-padding collator.

Each family's FamilyOps entry (xstilts.families.table) names its featurizer; `xstilts.families.featurize` (the function)
dispatches through that table.

A feature is a dict with `input_ids`, `attention_mask` (optional `token_type_ids`), the family's training targets, and a `meta`
dict (never sent to the model) that decoding needs: which example a window came from, offsets, word positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from xstilts.families.examples import ChoiceExample, SentenceExample, SpanExample, TagExample, TextExample

_MODEL_KEYS = ("input_ids", "attention_mask", "token_type_ids")


def _model_inputs(enc: dict[str, Any], i: int | None = None) -> dict[str, Any]:
    out = {}
    for k in _MODEL_KEYS:
        if k in enc:
            out[k] = list(enc[k] if i is None else enc[k][i])
    return out


def featurize_sentences(
    examples: Sequence[SentenceExample],
    tokenizer: Any,
    labels: list[str] | None,
    max_len: int,
    regression: bool = False,
) -> list[dict[str, Any]]:
    label_ix = {l: i for i, l in enumerate(labels or [])}
    feats = []
    for n, ex in enumerate(examples):
        if ex.text_b is None:
            enc = tokenizer(ex.text_a, truncation=True, max_length=max_len)
        else:
            enc = tokenizer(ex.text_a, ex.text_b, truncation="longest_first", max_length=max_len)
        f = _model_inputs(enc)
        if ex.label is not None:
            f["labels"] = float(ex.label) if regression else label_ix[str(ex.label)]
        f["meta"] = {"example": n}
        feats.append(f)
    return feats


def featurize_choices(examples: Sequence[ChoiceExample], tokenizer: Any, max_len: int) -> list[dict[str, Any]]:
    feats = []
    for n, ex in enumerate(examples):
        seconds = [f"{ex.question} {c}".strip() for c in ex.choices]
        enc = tokenizer([ex.context] * len(seconds), seconds, truncation="longest_first", max_length=max_len)
        f: dict[str, Any] = {k: [list(x) for x in enc[k]] for k in _MODEL_KEYS if k in enc}
        if ex.label is not None:
            f["labels"] = int(ex.label)
        f["meta"] = {"example": n}
        feats.append(f)
    return feats


def featurize_spans(
    examples: Sequence[SpanExample], tokenizer: Any, max_len: int, doc_stride: int, train: bool
) -> list[dict[str, Any]]:
    """Sliding windows over long contexts (overlap = doc_stride tokens); each window keeps its offsets for decoding.

    Training windows whose context does not contain the answer point at position 0 (the first token), as in SQuAD v2 recipes.
    """
    feats = []
    for n, ex in enumerate(examples):
        # Long questions are cut to half the window (as SQuAD recipes' max_query_length) so the context keeps room;
        # the overlap between windows must stay below the room left for context.
        question = ex.question
        q_ids = tokenizer(question, add_special_tokens=False)["input_ids"]
        if len(q_ids) > max_len // 2:
            q_ids = q_ids[: max_len // 2]
            question = tokenizer.decode(q_ids)
        stride = max(1, min(doc_stride, (max_len - len(q_ids) - 4) // 2))
        enc = tokenizer(
            question,
            ex.context,
            truncation="only_second",
            max_length=max_len,
            stride=stride,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
        for w in range(len(enc["input_ids"])):
            seq_ids = enc.sequence_ids(w)
            offsets = [o if s == 1 else None for o, s in zip(enc["offset_mapping"][w], seq_ids, strict=False)]
            f = _model_inputs(enc, w)
            f["meta"] = {"example": n, "offsets": offsets}
            if train:
                start_pos = end_pos = 0
                if ex.answers:
                    a = ex.answers[0]
                    s_char, e_char = a.answer_start, a.answer_start + len(a.text)
                    ctx = [i for i, o in enumerate(offsets) if o is not None]
                    if ctx and offsets[ctx[0]][0] <= s_char and offsets[ctx[-1]][1] >= e_char:
                        start_pos = next(i for i in ctx if offsets[i][1] > s_char)
                        end_pos = next(i for i in reversed(ctx) if offsets[i][0] < e_char)
                f["start_positions"], f["end_positions"] = start_pos, end_pos
            feats.append(f)
    return feats


def featurize_tags(
    examples: Sequence[TagExample], tokenizer: Any, labels: list[str] | None, max_len: int
) -> list[dict[str, Any]]:
    """Label on each word's first sub-token; long sentences become several windows split at word boundaries (no word is
    ever dropped). A word the tokenizer maps to nothing gets the unknown token so it still receives a prediction."""
    label_ix = {l: i for i, l in enumerate(labels or [])}
    unk = tokenizer.unk_token_id
    # The special tokens around a single sequence, e.g. [CLS] .. [SEP] or <s> .. </s>.
    specials = tokenizer("x", add_special_tokens=True)["input_ids"]
    body = tokenizer("x", add_special_tokens=False)["input_ids"]
    k = next(i for i in range(len(specials)) if specials[i : i + len(body)] == body)
    prefix, suffix = specials[:k], specials[k + len(body) :]
    budget = max(1, max_len - len(prefix) - len(suffix))
    feats = []
    for n, ex in enumerate(examples):
        pieces: list[list[int]] = []
        for word in ex.tokens:
            ids = tokenizer(word, add_special_tokens=False)["input_ids"] if word.strip() else []
            pieces.append(ids or [unk])
        windows: list[list[int]] = [[]]
        used = 0
        for wi, ids in enumerate(pieces):
            ids = ids[:budget]
            if used + len(ids) > budget and windows[-1]:
                windows.append([])
                used = 0
            windows[-1].append(wi)
            used += len(ids)
        for win in windows:
            input_ids, lab, first_pos = list(prefix), [-100] * len(prefix), []
            for wi in win:
                ids = pieces[wi][:budget]
                first_pos.append(len(input_ids))
                input_ids.extend(ids)
                tag = ex.tags[wi] if ex.tags is not None else None
                lab.extend([label_ix.get(tag, -100) if tag is not None else -100] + [-100] * (len(ids) - 1))
            input_ids += suffix
            lab += [-100] * len(suffix)
            f: dict[str, Any] = {"input_ids": input_ids, "attention_mask": [1] * len(input_ids)}
            if ex.tags is not None:
                f["labels"] = lab
            f["meta"] = {"example": n, "words": win, "first_positions": first_pos}
            feats.append(f)
    return feats


def featurize_text(examples: Sequence[TextExample], tokenizer: Any, max_len: int) -> list[dict[str, Any]]:
    feats = []
    for n, ex in enumerate(examples):
        enc = tokenizer(ex.text, truncation=True, max_length=max_len, return_special_tokens_mask=True)
        f = _model_inputs(enc)
        f["special_tokens_mask"] = list(enc["special_tokens_mask"])
        f["meta"] = {"example": n}
        feats.append(f)
    return feats


def featurize_retrieval(texts: Sequence[str], tokenizer: Any, max_len: int) -> list[dict[str, Any]]:
    """Sentences for pooled vectors: `content_mask` excludes special tokens from mean pooling."""
    feats = []
    for n, t in enumerate(texts):
        enc = tokenizer(t, truncation=True, max_length=max_len, return_special_tokens_mask=True)
        f = _model_inputs(enc)
        f["content_mask"] = [1 - s for s in enc["special_tokens_mask"]]
        f["meta"] = {"example": n}
        feats.append(f)
    return feats


# The FamilyOps `featurize` of each family: (examples, tokenizer, labels, settings, train) -> features.
Features = list[dict[str, Any]]


def featurize_classification(examples: Sequence[Any], tokenizer: Any, labels, settings: dict, train: bool) -> Features:
    return featurize_sentences(examples, tokenizer, labels, int(settings["max_seq_length"]))


def featurize_regression(examples: Sequence[Any], tokenizer: Any, labels, settings: dict, train: bool) -> Features:
    return featurize_sentences(examples, tokenizer, labels, int(settings["max_seq_length"]), regression=True)


def featurize_multiple_choice(examples: Sequence[Any], tokenizer: Any, labels, settings: dict, train: bool) -> Features:
    return featurize_choices(examples, tokenizer, int(settings["max_seq_length"]))


def featurize_span_qa(examples: Sequence[Any], tokenizer: Any, labels, settings: dict, train: bool) -> Features:
    return featurize_spans(examples, tokenizer, int(settings["max_seq_length"]), int(settings["doc_stride"]), train)


def featurize_tagging(examples: Sequence[Any], tokenizer: Any, labels, settings: dict, train: bool) -> Features:
    return featurize_tags(examples, tokenizer, labels, int(settings["max_seq_length"]))


def featurize_mlm(examples: Sequence[Any], tokenizer: Any, labels, settings: dict, train: bool) -> Features:
    return featurize_text(examples, tokenizer, int(settings["max_seq_length"]))


def feature_length(f: dict[str, Any]) -> int:
    ids = f["input_ids"]
    return max(len(x) for x in ids) if ids and isinstance(ids[0], list) else len(ids)


class Collator:
    """Pads a list of features to the batch's longest sequence; masks MLM tokens when `mlm_probability` is set."""

    def __init__(
        self,
        pad_id: int,
        mask_id: int | None = None,
        vocab_size: int | None = None,
        mlm_probability: float = 0.0,
        seed: int = 0,
    ):
        self.pad_id = pad_id
        self.mask_id = mask_id
        self.vocab_size = vocab_size
        self.mlm_probability = mlm_probability
        self.gen = torch.Generator().manual_seed(seed)

    def __call__(self, feats: list[dict[str, Any]]) -> dict[str, Any]:
        L = max(feature_length(f) for f in feats)
        batch: dict[str, Any] = {"meta": [f["meta"] for f in feats]}
        pad_values = {
            "input_ids": self.pad_id,
            "attention_mask": 0,
            "token_type_ids": 0,
            "labels": -100,
            "content_mask": 0,
            "special_tokens_mask": 1,
        }
        for key, pad in pad_values.items():
            if key not in feats[0]:
                continue
            rows = [f[key] for f in feats]
            if key == "labels" and not isinstance(rows[0], list):
                dtype = torch.float if isinstance(rows[0], float) else torch.long
                batch["labels"] = torch.tensor(rows, dtype=dtype)
                continue
            if isinstance(rows[0][0], list):  # multiple choice: (B, C, L); missing choices padded and masked out
                C = max(len(choice) for choice in rows)
                batch[key] = torch.tensor(
                    [[r + [pad] * (L - len(r)) for r in choice] + [[pad] * L] * (C - len(choice)) for choice in rows]
                )
                batch["choice_mask"] = torch.tensor([[1] * len(choice) + [0] * (C - len(choice)) for choice in rows])
            else:
                batch[key] = torch.tensor([r + [pad] * (L - len(r)) for r in rows])
        for key in ("start_positions", "end_positions"):
            if key in feats[0]:
                batch[key] = torch.tensor([f[key] for f in feats])
        if self.mlm_probability > 0:
            self._mask(batch)
        batch.pop("special_tokens_mask", None)
        return batch

    def _mask(self, batch: dict[str, Any]) -> None:
        ids = batch["input_ids"].clone()
        prob = torch.full(ids.shape, self.mlm_probability)
        prob.masked_fill_(batch["special_tokens_mask"].bool() | (batch["attention_mask"] == 0), 0.0)
        chosen = torch.bernoulli(prob, generator=self.gen).bool()
        if not chosen.any():  # never an empty loss: mask the first content token of the first row
            first = int((prob[0] > 0).nonzero()[0, 0]) if (prob[0] > 0).any() else 1
            chosen[0, first] = True
        labels = torch.where(chosen, ids, torch.full_like(ids, -100))
        roll = torch.rand(ids.shape, generator=self.gen)
        ids[chosen & (roll < 0.8)] = self.mask_id
        rand_pos = chosen & (roll >= 0.8) & (roll < 0.9)
        ids[rand_pos] = torch.randint(self.vocab_size, ids.shape, generator=self.gen)[rand_pos]
        batch["input_ids"], batch["labels"] = ids, labels
