"""Inference per family: features -> predictions in each family's natural form.

classification: label names; regression: floats; multiple_choice: choice indices; span_qa: {guid: answer text} after n-best
post-processing over all windows; tagging: one tag per word; retrieval: pooled sentence vectors.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import numpy as np
import torch

from xstilts.data.featurize import Collator, feature_length
from xstilts.defaults import EVAL_BATCH_SIZE


def _sequences(f: dict[str, Any]) -> int:
    ids = f["input_ids"]
    return len(ids) if ids and isinstance(ids[0], list) else 1  # multiple choice: one sequence per choice


def _batches(feats: list[dict[str, Any]], collate: Collator, batch_size: int = EVAL_BATCH_SIZE,
             max_tokens: int | None = None) -> Iterator[tuple[list[int], dict[str, Any]]]:
    """Length-sorted batches (fast inference with dynamic padding); yields the original indices with each batch.

    max_tokens: instead of `batch_size` features, as many as fit in that many padded tokens (longest first, so the
    largest batch comes first and a budget too big for the device fails at once rather than late).
    """
    if not max_tokens:
        order = sorted(range(len(feats)), key=lambda i: feature_length(feats[i]))
        for s in range(0, len(order), batch_size):
            idx = order[s: s + batch_size]
            yield idx, collate([feats[i] for i in idx])
        return
    order = sorted(range(len(feats)), key=lambda i: feature_length(feats[i]), reverse=True)
    idx: list[int] = []
    longest = seqs = 0
    for i in order:
        n, length = _sequences(feats[i]), feature_length(feats[i])
        if idx and (seqs + n) * max(longest, length) > max_tokens:
            yield idx, collate([feats[j] for j in idx])
            idx, longest, seqs = [], 0, 0
        idx.append(i)
        longest, seqs = max(longest, length), seqs + n
    if idx:
        yield idx, collate([feats[j] for j in idx])


def _to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}


def _strip_targets(batch: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in batch.items() if k not in ("labels", "start_positions", "end_positions")}


@torch.inference_mode()
def run_head(model: Any, task: str, feats: list[dict[str, Any]], collate: Collator, device: torch.device,
             batch_size: int = EVAL_BATCH_SIZE, max_tokens: int | None = None) -> list[dict[str, np.ndarray]]:
    """Raw head outputs per feature, in the features' order (batches run length-sorted, see `_batches`)."""
    model.eval()
    device = torch.device(device)
    pin = device.type == "cuda"
    out: list[dict[str, np.ndarray] | None] = [None] * len(feats)
    for idx, batch in _batches(feats, collate, batch_size, max_tokens):
        batch = _strip_targets(batch)
        if pin:
            batch = {k: (v.pin_memory() if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}
        res = model(task, {k: (v.to(device, non_blocking=pin) if isinstance(v, torch.Tensor) else v)
                           for k, v in batch.items()})
        host = {k: v.float().cpu().numpy() for k, v in res.items() if k != "loss"}  # one transfer per output
        for j, i in enumerate(idx):
            out[i] = {k: v[j] for k, v in host.items()}
    return out  # type: ignore[return-value]


def decode_classification(outputs: list[dict[str, np.ndarray]], labels: list[str] | None) -> list[Any]:
    if labels is None:  # regression
        return [float(o["logits"][0]) for o in outputs]
    return [labels[int(np.argmax(o["logits"]))] for o in outputs]


def decode_choices(outputs: list[dict[str, np.ndarray]]) -> list[int]:
    return [int(np.argmax(o["logits"])) for o in outputs]


def decode_tags(outputs: list[dict[str, np.ndarray]], feats: list[dict[str, Any]], labels: list[str],
                n_examples: int, n_words: Sequence[int]) -> list[list[str]]:
    """Gather each word's first-sub-token prediction from whichever window holds it."""
    tags: list[list[str | None]] = [[None] * n_words[i] for i in range(n_examples)]
    for o, f in zip(outputs, feats):
        m = f["meta"]
        for wi, pos in zip(m["words"], m["first_positions"]):
            tags[m["example"]][wi] = labels[int(np.argmax(o["logits"][pos]))]
    assert all(t is not None for row in tags for t in row), "a word received no prediction"
    return tags  # type: ignore[return-value]


def decode_spans(outputs: list[dict[str, np.ndarray]], feats: list[dict[str, Any]], contexts: Sequence[str],
                 max_answer_length: int = 30, n_best: int = 20, allow_null: bool = False) -> list[str]:
    """SQuAD-style n-best decoding over all windows of each example; answers are character spans of the original context.

    With allow_null (SQuAD v2-style tasks) the empty answer wins when the first-token null score beats the best span.
    """
    best: list[tuple[float, str]] = [(-np.inf, "") for _ in contexts]
    null: list[float] = [-np.inf for _ in contexts]
    for o, f in zip(outputs, feats):
        n, offsets = f["meta"]["example"], f["meta"]["offsets"]
        start, end = o["start_logits"], o["end_logits"]
        null[n] = max(null[n], float(start[0] + end[0]))
        starts = np.argsort(start)[::-1][:n_best]
        ends = np.argsort(end)[::-1][:n_best]
        for s in starts:
            if s >= len(offsets) or offsets[s] is None:
                continue
            for e in ends:
                if e >= len(offsets) or offsets[e] is None or e < s or e - s + 1 > max_answer_length:
                    continue
                score = float(start[s] + end[e])
                if score > best[n][0]:
                    best[n] = (score, contexts[n][offsets[s][0]: offsets[e][1]])
    return [("" if allow_null and null[i] > b[0] else b[1]) for i, b in enumerate(best)]


@torch.no_grad()
def sentence_vectors(model: Any, feats: list[dict[str, Any]], collate: Collator, device: torch.device, layer: int,
                     pooling: str = "mean", batch_size: int = EVAL_BATCH_SIZE) -> np.ndarray:
    model.eval()
    out = np.zeros((len(feats), model.hidden_size), dtype=np.float32)
    for idx, batch in _batches(feats, collate, batch_size):
        v = model.sentence_vectors(_to_device(batch, device), layer=layer, pooling=pooling)
        out[idx] = v.cpu().numpy()
    return out
