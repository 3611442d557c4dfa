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

from xstilts.defaults import Hyperparameters
from xstilts.families.examples import ChoiceExample, SentenceExample, SpanExample, TagExample, TextExample

_MODEL_KEYS = ("input_ids", "attention_mask", "token_type_ids")
DEFAULT_MAX_QUERY_LENGTH: int = Hyperparameters.model_fields["max_query_length"].default


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
    """One sequence per example (a pair when `text_b` is set); the label as its index in `labels`, or a float."""
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
    """One (context, question + choice) pair per choice of each example; the label is the correct choice's index."""
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


def _pair_template(
    tokenizer: Any,
) -> tuple[list[tuple[int, int]], list[tuple[int, int]], list[tuple[int, int]], int, int]:
    """How the tokenizer's post-processor lays out a pair: the special tokens (id, token type) before the first
    sequence, between the two and after the second, and the token types of the first and of the second sequence.

    Read off the tokenizer's own encoding of a sample pair (what `build_inputs_with_special_tokens` and
    `create_token_type_ids_from_sequences` gave in transformers 4; fast tokenizers of transformers 5 have neither).
    """
    enc = tokenizer("a", "b", return_token_type_ids=True)
    ids, types, seq = enc["input_ids"], enc["token_type_ids"], enc.sequence_ids(0)
    parts: list[list[tuple[int, int]]] = [[], [], []]
    part, seq_types = 0, [0, 0]
    for i, t, s in zip(ids, types, seq, strict=True):
        if s is None:
            parts[part].append((i, t))
        else:
            part = s + 1
            seq_types[s] = t
    prefix, middle, suffix = parts
    if len(prefix) + len(middle) + len(suffix) != tokenizer.num_special_tokens_to_add(pair=True):
        raise ValueError("the tokenizer's pair template does not match num_special_tokens_to_add(pair=True)")
    return prefix, middle, suffix, seq_types[0], seq_types[1]


def window_starts(n_tokens: int, capacity: int, doc_stride: int) -> list[int]:
    """First context token of each window over a context of `n_tokens` tokens, `capacity` context tokens per window.

    As BERT's run_squad.py (`start_offset += min(length, doc_stride)`, stopping after the window that reaches the end)
    and HF's SQuAD processor (a window every doc_stride tokens, none after the one without overflow): windows start at
    0, doc_stride, 2 * doc_stride, ... (steps of capacity when doc_stride exceeds it, so no token is skipped). A context
    that fits gives one window; an empty context one empty window.
    """
    starts = [0]
    while starts[-1] + capacity < n_tokens:
        starts.append(starts[-1] + min(capacity, doc_stride))
    return starts


def featurize_spans(
    examples: Sequence[SpanExample],
    tokenizer: Any,
    max_len: int,
    doc_stride: int,
    train: bool,
    max_query_length: int = DEFAULT_MAX_QUERY_LENGTH,
) -> list[dict[str, Any]]:
    """SQuAD-style windows over long contexts, placed as jiant's squad_style template and Hugging Face's SQuAD processor
    (`squad_convert_example_to_features`, used by XTREME's run_squad.py) place them, which is BERT's run_squad.py
    window placement:

    - the question is tokenized without special tokens and cut to its first `max_query_length` tokens (further cut to
      half of the room left by the special tokens when max_len is too small for that, which no real setting is);
    - the context is tokenized once, alone and without special tokens (the fast tokenizer's offset mapping gives exact
      character offsets), and split into windows of capacity = max_len - question tokens - the pair's special tokens
      (`num_special_tokens_to_add(pair=True)`) context tokens; the first window starts at token 0 and each next one
      `doc_stride` tokens after the previous start, until a window reaches the end of the context (`window_starts`),
      so consecutive windows overlap by capacity - doc_stride tokens, not by doc_stride;
    - each input is question + window joined with the tokenizer's pair special tokens (and its token types when the
      model takes them), so no input is longer than max_len.

    Tokenizing the context alone rather than as the second sequence can differ only at a window's boundary tokens.
    Each feature's meta keeps the example index and per-position offsets (character span of context tokens, None
    elsewhere) for decoding. Training windows whose context does not contain the whole answer point at position 0 (the
    first token), as HF's processor and SQuAD v2 recipes do. Questions and distinct contexts (SQuAD repeats a context
    for several questions) are tokenized in batches, each distinct context once.
    """
    if not examples:
        return []
    prefix, middle, suffix, q_type, c_type = _pair_template(tokenizer)
    n_special = len(prefix) + len(middle) + len(suffix)
    room = max_len - n_special
    if room < 2:
        raise ValueError(f"max_seq_length {max_len} leaves no room for question and context")
    q_limit = min(max_query_length, room // 2)
    with_types = "token_type_ids" in tokenizer.model_input_names

    questions = tokenizer([ex.question for ex in examples], add_special_tokens=False)["input_ids"]
    context_ix: dict[str, int] = {}
    for ex in examples:
        context_ix.setdefault(ex.context, len(context_ix))
    ctx_enc = tokenizer(list(context_ix), add_special_tokens=False, return_offsets_mapping=True)
    ctx_ids = ctx_enc["input_ids"]
    ctx_offsets = [[tuple(o) for o in offs] for offs in ctx_enc["offset_mapping"]]

    head_ids = [i for i, _ in prefix]
    head_types = [t for _, t in prefix]
    feats = []
    for n, ex in enumerate(examples):
        q_ids = list(questions[n][:q_limit])
        c = context_ix[ex.context]
        doc_ids, doc_offsets = ctx_ids[c], ctx_offsets[c]
        capacity = room - len(q_ids)
        first = len(prefix) + len(q_ids) + len(middle)  # position of a window's first context token
        answer_tokens = _answer_tokens(ex, doc_offsets) if train else None
        for start in window_starts(len(doc_ids), capacity, doc_stride):
            window = doc_ids[start : start + capacity]
            input_ids = head_ids + q_ids + [i for i, _ in middle] + list(window) + [i for i, _ in suffix]
            f: dict[str, Any] = {"input_ids": input_ids, "attention_mask": [1] * len(input_ids)}
            if with_types:
                f["token_type_ids"] = (
                    head_types
                    + [q_type] * len(q_ids)
                    + [t for _, t in middle]
                    + [c_type] * len(window)
                    + [t for _, t in suffix]
                )
            offsets: list[tuple[int, int] | None] = [None] * first
            offsets += doc_offsets[start : start + len(window)]
            offsets += [None] * len(suffix)
            f["meta"] = {"example": n, "offsets": offsets}
            if train:
                start_pos = end_pos = 0
                if answer_tokens is not None:
                    a_s, a_e = answer_tokens
                    if start <= a_s and a_e < start + len(window):
                        start_pos, end_pos = first + a_s - start, first + a_e - start
                f["start_positions"], f["end_positions"] = start_pos, end_pos
            feats.append(f)
    return feats


def _answer_tokens(ex: SpanExample, offsets: list[tuple[int, int]]) -> tuple[int, int] | None:
    """Context-token span of the first answer: the first token ending after its first character to the last token
    starting before its end; None without an answer or when no token overlaps it."""
    if not ex.answers:
        return None
    a = ex.answers[0]
    s_char, e_char = a.answer_start, a.answer_start + len(a.text)
    s_tok = next((i for i, o in enumerate(offsets) if o[1] > s_char), None)
    e_tok = next((i for i in range(len(offsets) - 1, -1, -1) if offsets[i][0] < e_char), None)
    if s_tok is None or e_tok is None or e_tok < s_tok:
        return None
    return s_tok, e_tok


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
    """Plain text for masked-LM training, with the special tokens' mask the collator needs to skip them."""
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


def featurize_classification(
    examples: Sequence[Any], tokenizer: Any, labels: list[str] | None, settings: dict[str, Any], train: bool
) -> Features:
    return featurize_sentences(examples, tokenizer, labels, int(settings["max_seq_length"]))


def featurize_regression(
    examples: Sequence[Any], tokenizer: Any, labels: list[str] | None, settings: dict[str, Any], train: bool
) -> Features:
    return featurize_sentences(examples, tokenizer, labels, int(settings["max_seq_length"]), regression=True)


def featurize_multiple_choice(
    examples: Sequence[Any], tokenizer: Any, labels: list[str] | None, settings: dict[str, Any], train: bool
) -> Features:
    return featurize_choices(examples, tokenizer, int(settings["max_seq_length"]))


def featurize_span_qa(
    examples: Sequence[Any], tokenizer: Any, labels: list[str] | None, settings: dict[str, Any], train: bool
) -> Features:
    return featurize_spans(
        examples,
        tokenizer,
        int(settings["max_seq_length"]),
        int(settings["doc_stride"]),
        train,
        int(settings.get("max_query_length", DEFAULT_MAX_QUERY_LENGTH)),
    )


def featurize_tagging(
    examples: Sequence[Any], tokenizer: Any, labels: list[str] | None, settings: dict[str, Any], train: bool
) -> Features:
    return featurize_tags(examples, tokenizer, labels, int(settings["max_seq_length"]))


def featurize_mlm(
    examples: Sequence[Any], tokenizer: Any, labels: list[str] | None, settings: dict[str, Any], train: bool
) -> Features:
    return featurize_text(examples, tokenizer, int(settings["max_seq_length"]))


def feature_length(f: dict[str, Any]) -> int:
    """Tokens in a feature's sequence, or in its longest choice for multiple choice (the length it pads to)."""
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
        assert self.mask_id is not None and self.vocab_size is not None  # given with mlm_probability (training/mlm.py)
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
