"""Inference: features -> raw head outputs (length-sorted batches) or pooled sentence vectors (retrieval).

Each family's decoder (xstilts.families.decode, through its FamilyOps entry) turns the head outputs into predictions.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from xstilts.defaults import EVAL_BATCH_SIZE
from xstilts.families.featurize import Collator, feature_length


def _sequences(f: dict[str, Any]) -> int:
    ids = f["input_ids"]
    return len(ids) if ids and isinstance(ids[0], list) else 1  # multiple choice: one sequence per choice


def _batches(
    feats: list[dict[str, Any]], collate: Collator, batch_size: int = EVAL_BATCH_SIZE, max_tokens: int | None = None
) -> Iterator[tuple[list[int], dict[str, Any]]]:
    """Length-sorted batches (fast inference with dynamic padding); yields the original indices with each batch.

    max_tokens: instead of `batch_size` features, as many as fit in that many padded tokens (longest first, so the
    largest batch comes first and a budget too big for the device fails at once rather than late).
    """
    if not max_tokens:
        order = sorted(range(len(feats)), key=lambda i: feature_length(feats[i]))
        for s in range(0, len(order), batch_size):
            chunk = order[s : s + batch_size]
            yield chunk, collate([feats[i] for i in chunk])
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
def run_head(
    model: Any,
    task: str,
    feats: list[dict[str, Any]],
    collate: Collator,
    device: torch.device,
    batch_size: int = EVAL_BATCH_SIZE,
    max_tokens: int | None = None,
) -> list[dict[str, np.ndarray]]:
    """Raw head outputs per feature, in the features' order (batches run length-sorted, see `_batches`)."""
    model.eval()
    device = torch.device(device)
    pin = device.type == "cuda"
    out: list[dict[str, np.ndarray] | None] = [None] * len(feats)
    for idx, batch in _batches(feats, collate, batch_size, max_tokens):
        batch = _strip_targets(batch)
        if pin:
            batch = {k: (v.pin_memory() if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}
        res = model(
            task, {k: (v.to(device, non_blocking=pin) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}
        )
        host = {k: v.float().cpu().numpy() for k, v in res.items() if k != "loss"}  # one transfer per output
        for j, i in enumerate(idx):
            out[i] = {k: v[j] for k, v in host.items()}
    return out  # type: ignore[return-value]


POOLING_MODES = ("mean_all", "mean_content", "cls")


@torch.no_grad()
def sentence_vectors(
    model: Any,
    feats: list[dict[str, Any]],
    collate: Collator,
    device: torch.device,
    layer: int,
    pooling: str = "mean_all",
    batch_size: int = EVAL_BATCH_SIZE,
) -> np.ndarray:
    """Pooled hidden_states[layer] (0 = embeddings) per feature, in the features' order.

    mean_all: mean over every non-pad token, special tokens included (XTREME's default, jiant's mean pooler);
    mean_content: mean over the content tokens only (`content_mask`); cls: the first token's state.
    """
    if pooling not in POOLING_MODES:
        raise ValueError(f"unknown pooling '{pooling}'; expected one of {POOLING_MODES}")
    model.eval()
    out = np.zeros((len(feats), model.hidden_size), dtype=np.float32)
    for idx, batch in _batches(feats, collate, batch_size):
        if pooling == "mean_all":  # the model pools over content_mask when present, else over attention_mask
            batch = {k: v for k, v in batch.items() if k != "content_mask"}
        elif pooling == "mean_content" and "content_mask" not in batch:
            raise ValueError("mean_content pooling needs features with a content_mask (featurize_retrieval)")
        v = model.sentence_vectors(
            _to_device(batch, device), layer=layer, pooling="first" if pooling == "cls" else "mean"
        )
        out[idx] = v.cpu().numpy()
    return out
