"""How diverse a set of tasks is: the one definition the mixture generator and the report both use (numpy only).

For a mixture with members m_1..m_n, their task families f_i (the task YAML's `family:`) and task embeddings e_i
(TextEmb: the mean-pooled sentence vector of a sample of each task's training inputs, Vu et al. 2020 / Poth et al. 2021):
- `families`: the number of distinct families among the members;
- `family_entropy`: the Shannon entropy of the members' family distribution, in bits, -sum_f p_f log2 p_f (0 for a
  single family; log2 n when every member has its own);
- `spread`: the mean pairwise cosine distance of the members' embeddings, mean_{i<j} (1 - cos(e_i, e_j)) (0 for one
  member);
- `target_distance`: the mean cosine distance of the members' embeddings to the target's, mean_i (1 - cos(e_i, e_t))
  (per target: the same mixture is near one target and far from another).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


def cosine_distances(vectors: np.ndarray) -> np.ndarray:
    """The n x n matrix of 1 - cos between rows."""
    u = _unit(np.asarray(vectors, dtype=float))
    return 1.0 - u @ u.T


def family_entropy(families: Sequence[str]) -> float:
    counts = np.array(list(Counter(families).values()), dtype=float)
    if counts.size == 0:
        return 0.0
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum()) + 0.0


def spread(vectors: np.ndarray) -> float:
    n = len(vectors)
    if n < 2:
        return 0.0
    d = cosine_distances(vectors)
    return float(d[np.triu_indices(n, 1)].mean())


def target_distance(vectors: np.ndarray, target: np.ndarray) -> float:
    u, t = _unit(np.asarray(vectors, dtype=float)), _unit(np.asarray(target, dtype=float))
    return float((1.0 - u @ t).mean())


def diversity(
    members: Sequence[str],
    families: Mapping[str, str],
    embeddings: Mapping[str, np.ndarray] | None,
    targets: Mapping[str, np.ndarray] | None = None,
) -> dict[str, float | int | dict[str, float]]:
    """Every measure above for one mixture; `targets` (target name -> its embedding) adds `target_distance` per target.
    Without embeddings the embedding measures are NaN."""
    fams = [families[m] for m in members]
    out: dict[str, float | int | dict[str, float]] = {
        "families": len(set(fams)),
        "family_entropy": round(family_entropy(fams), 6),
        "spread": math.nan,
    }
    if embeddings is not None and all(m in embeddings for m in members):
        vectors = np.stack([embeddings[m] for m in members])
        out["spread"] = round(spread(vectors), 6)
        if targets:
            out["target_distance"] = {t: round(target_distance(vectors, v), 6) for t, v in targets.items()}
    return out
