"""Retrieval targets on pooled sentence vectors: Tatoeba-style nearest neighbour and BUCC-style bitext mining with the
ratio margin (Artetxe and Schwenk 2019) over k nearest neighbours in both directions, searched with faiss."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def _normalize(x: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(x, dtype=np.float32)
    return x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)


def knn(queries: np.ndarray, keys: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Cosine k nearest neighbours (similarities, indices) of each query among keys (exact inner-product search)."""
    import faiss

    q, kk = _normalize(queries), _normalize(keys)
    index = faiss.IndexFlatIP(kk.shape[1])
    index.add(kk)
    return index.search(q, min(k, len(kk)))


def nearest_neighbour(sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Index of each source's most similar target (Tatoeba protocol)."""
    return knn(sources, targets, 1)[1][:, 0]


def margin_candidates(src: np.ndarray, tgt: np.ndarray, k: int = 4) -> list[tuple[int, int, float]]:
    """Ratio-margin mining: each source's best target and each target's best source (both directions), deduplicated
    keeping the higher score. margin(x, y) = cos(x, y) / (mean_kNN(x) / 2 + mean_kNN(y) / 2)."""
    s_sim, s_idx = knn(src, tgt, k)
    t_sim, t_idx = knn(tgt, src, k)
    s_mean, t_mean = s_sim.mean(1), t_sim.mean(1)
    src_n, tgt_n = _normalize(src), _normalize(tgt)

    def margin(i: int, j: int) -> float:
        return float(src_n[i] @ tgt_n[j]) / ((s_mean[i] + t_mean[j]) / 2)

    best: dict[tuple[int, int], float] = {}
    for i in range(len(src)):
        scores = [margin(i, int(j)) for j in s_idx[i]]
        j = int(s_idx[i][int(np.argmax(scores))])
        best[(i, j)] = max(best.get((i, j), -np.inf), max(scores))
    for j in range(len(tgt)):
        scores = [margin(int(i), j) for i in t_idx[j]]
        i = int(t_idx[j][int(np.argmax(scores))])
        best[(i, j)] = max(best.get((i, j), -np.inf), max(scores))
    return sorted(((i, j, s) for (i, j), s in best.items()), key=lambda c: -c[2])


def mine(src_ids: Sequence[str], tgt_ids: Sequence[str], candidates: list[tuple[int, int, float]],
         threshold: float) -> list[tuple[str, str]]:
    """Pairs (source id, target id) whose margin score is at least the threshold."""
    return [(src_ids[i], tgt_ids[j]) for i, j, s in candidates if s >= threshold]
