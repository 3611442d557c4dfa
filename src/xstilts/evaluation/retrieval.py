"""Retrieval targets on pooled sentence vectors, as the official XTREME scripts do them.

- Tatoeba: cosine nearest neighbour (faiss exact search) of each query among the candidates.
- BUCC: bitext mining as `utils_retrieve.mine_bitext(retrieval='max', margin='ratio', neighborhood=4)`: k-NN in both
  directions, ratio margin, all forward and backward best candidates sorted by score, and a greedy one-to-one pass that
  keeps a pair only when neither its source nor its target was taken by a higher-scoring pair. Each distinct sentence
  is embedded and mined once (`text_load_unify`), and a sentence that occurs under more than one id maps to no id, so
  no pair of it is predicted (`read_sent2id`).

Memory stays linear in the corpus size: the k-NN search runs over chunks of queries against one flat index (faiss
blocks the similarity computation internally), and the margin is computed on the (N, k) neighbour arrays, never on
an N x M matrix. The search moves to the GPUs when faiss has any (`faiss.get_num_gpus() > 0`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import faiss

# Queries searched per faiss call: bounds the per-call result and scratch buffers, not the answer.
QUERY_CHUNK = 32768


def unit_rows(x: np.ndarray, inplace: bool = False) -> np.ndarray:
    """x with L2-normalized rows, float32 C-contiguous (faiss.normalize_L2, as the official code; zero rows stay
    zero). A copy, unless `inplace` and x already is a float32 C-contiguous array, which is then normalized in place
    (the official code does that too; it saves a copy of a large corpus)."""
    import faiss

    if inplace and isinstance(x, np.ndarray) and x.dtype == np.float32 and x.flags.c_contiguous and x.flags.writeable:
        out = x
    else:
        out = np.array(x, dtype=np.float32, order="C", copy=True)
    if out.size:
        faiss.normalize_L2(out)
    return out


def _gpu_count() -> int:
    import faiss

    get = getattr(faiss, "get_num_gpus", None)  # absent from some CPU-only builds
    return int(get()) if get is not None else 0


def _flat_ip_index(keys: np.ndarray) -> faiss.Index:
    """Exact inner-product index over the keys; on all GPUs when faiss sees any."""
    import faiss

    index: faiss.Index = faiss.IndexFlatIP(keys.shape[1])
    if _gpu_count() > 0:
        index = faiss.index_cpu_to_all_gpus(index)
    index.add(keys)
    return index


def knn(
    queries: np.ndarray, keys: np.ndarray, k: int, normalized: bool = False, chunk: int = QUERY_CHUNK
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine k nearest neighbours (similarities, indices), each (len(queries), min(k, len(keys))), best first.

    One flat index over the keys, searched chunk by chunk of queries. `normalized` says the rows are already unit
    length (skips a copy of each side).
    """
    q = queries if normalized else unit_rows(queries)
    kk = keys if normalized else unit_rows(keys)
    k = min(k, len(kk))
    sims = np.empty((len(q), k), dtype=np.float32)
    idx = np.empty((len(q), k), dtype=np.int64)
    if len(q) == 0 or k == 0:
        return sims, idx
    index = _flat_ip_index(np.ascontiguousarray(kk, dtype=np.float32))
    for start in range(0, len(q), chunk):
        part = np.ascontiguousarray(q[start : start + chunk], dtype=np.float32)
        sims[start : start + len(part)], idx[start : start + len(part)] = index.search(part, k)
    return sims, idx


def nearest_neighbour(queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Index of each query's most similar candidate by cosine (Tatoeba protocol)."""
    return knn(queries, candidates, 1)[1][:, 0]


def _best_by_margin(
    sim: np.ndarray, idx: np.ndarray, own_mean: np.ndarray, other_mean: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per query row: the neighbour with the highest ratio margin cos / ((mean_kNN(query) + mean_kNN(neighbour)) / 2)
    and that margin; vectorized over the (n, k) neighbour arrays. argmax keeps the first of equal scores (official)."""
    scores = sim / ((own_mean[:, None] + other_mean[idx]) / 2)
    col = scores.argmax(axis=1)
    rows = np.arange(len(sim))
    return idx[rows, col], scores[rows, col]


def mine_one_to_one(
    src: np.ndarray, tgt: np.ndarray, k: int = 4, min_score: float = 0.0, inplace: bool = False
) -> list[tuple[int, int, float]]:
    """BUCC mining as the official `mine_bitext(retrieval='max')`: (source row, target row, margin score), best first.

    Forward candidates (each source's best target) and backward ones (each target's best source) are pooled and
    sorted by descending score (stable: forward before backward on equal scores); walking down, a candidate is kept
    only when neither its source nor its target was kept before. As in the official output (threshold 0), only kept
    pairs scoring above `min_score` are returned. `inplace` lets the rows of src and tgt be normalized in place.
    """
    if len(src) == 0 or len(tgt) == 0:
        return []
    x, y = unit_rows(src, inplace), unit_rows(tgt, inplace)
    fwd_sim, fwd_idx = knn(x, y, k, normalized=True)
    bwd_sim, bwd_idx = knn(y, x, k, normalized=True)
    fwd_mean, bwd_mean = fwd_sim.mean(axis=1), bwd_sim.mean(axis=1)
    fwd_best, fwd_score = _best_by_margin(fwd_sim, fwd_idx, fwd_mean, bwd_mean)
    bwd_best, bwd_score = _best_by_margin(bwd_sim, bwd_idx, bwd_mean, fwd_mean)
    src_of = np.concatenate([np.arange(len(x)), bwd_best])
    tgt_of = np.concatenate([fwd_best, np.arange(len(y))])
    scores = np.concatenate([fwd_score, bwd_score])
    order = np.argsort(-scores, kind="stable")
    # The greedy pass is sequential by nature; plain lists keep its 2(N+M) steps cheap.
    used_src = bytearray(len(x))
    used_tgt = bytearray(len(y))
    out: list[tuple[int, int, float]] = []
    for i, j, s in zip(src_of[order].tolist(), tgt_of[order].tolist(), scores[order].tolist(), strict=False):
        if used_src[i] or used_tgt[j]:
            continue
        used_src[i] = used_tgt[j] = 1
        if s > min_score:
            out.append((i, j, s))
    return out


def distinct(texts: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Distinct texts in first-occurrence order, and for each input text the row of its distinct text."""
    row: dict[str, int] = {}
    inverse = np.fromiter((row.setdefault(t, len(row)) for t in texts), dtype=np.int64, count=len(texts))
    return list(row), inverse


def _sentence_to_id(ids: Sequence[str], texts: Sequence[str]) -> dict[str, str]:
    """Text -> id, leaving out every text that occurs more than once (the official `read_sent2id`)."""
    seen: dict[str, str] = {}
    repeated: set[str] = set()
    for i, t in zip(ids, texts, strict=False):
        if t in seen:
            repeated.add(t)
        else:
            seen[t] = i
    return {t: i for t, i in seen.items() if t not in repeated}


def bucc_candidates(
    src_ids: Sequence[str],
    src_texts: Sequence[str],
    tgt_ids: Sequence[str],
    tgt_texts: Sequence[str],
    embed: Callable[[list[str]], np.ndarray],
    k: int = 4,
) -> list[tuple[str, str, float]]:
    """Mined (source id, target id, margin score) candidates of a BUCC corpus, best first, as the official pipeline
    (mine_bitext 'max' on distinct sentences, then read_candidate2score) produces them for bucc_optimize/bucc_extract.

    `embed` maps a list of texts to a fresh array of their vectors (normalized in place here); it is called once per
    side, on the distinct texts only.
    """
    src_u, _ = distinct(src_texts)
    tgt_u, _ = distinct(tgt_texts)
    if not src_u or not tgt_u:
        return []
    mined = mine_one_to_one(embed(src_u), embed(tgt_u), k=k, inplace=True)  # fresh arrays: normalize in place
    s2id, t2id = _sentence_to_id(src_ids, src_texts), _sentence_to_id(tgt_ids, tgt_texts)
    out = []
    for i, j, s in mined:
        sid, tid = s2id.get(src_u[i]), t2id.get(tgt_u[j])
        if sid is not None and tid is not None:
            out.append((sid, tid, s))
    return out
