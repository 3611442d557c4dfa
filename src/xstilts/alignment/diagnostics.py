"""How aligned an encoder's contextual word vectors are (Efimov et al.'s analysis): on held-out sentence pairs, the
distance between the vectors of related words (linked across the pair) and of unrelated words (a word and an English
word of another pair), and how far the English vectors moved from the reference (pretrained) model's.

- related_l2 / unrelated_l2: mean Euclidean distance of last-layer word vectors (the quantity the alignment loss
  lowers); related_cos / unrelated_cos: mean cosine similarity;
- unrelated pairs: for each link (i, j) of pair k, word i of pair k with English word j mod n of pair k + 1;
- english_drift: mean Euclidean distance of each English word's vector from the reference model's, over the
  reference's mean vector norm (0 = unmoved).
"""

from __future__ import annotations

from typing import Any

import torch

from xstilts.alignment.corpus import Pair
from xstilts.alignment.vectors import encode_words


@torch.no_grad()
def word_distances(
    encoder: Any,
    reference: Any,
    tokenizer: Any,
    pairs: list[Pair],
    mode: str = "avg",
    max_seq_length: int = 128,
    batch_size: int = 32,
) -> dict[str, float]:
    """The diagnostics of `encoder` on `pairs` (links set), English drift against `reference`."""
    was = encoder.training, reference.training
    encoder.eval()
    reference.eval()
    rel_l2, unrel_l2, rel_cos, unrel_cos, drift, norms = [], [], [], [], [], []
    n = len(pairs)
    for s in range(0, n, batch_size):
        idx = list(range(s, min(s + batch_size, n)))
        nxt = [(k + 1) % n for k in idx]
        va = encode_words(encoder, tokenizer, [pairs[k].words for k in idx], mode, None, False, max_seq_length)
        vb = encode_words(encoder, tokenizer, [pairs[k].english for k in idx + nxt], mode, None, False, max_seq_length)
        ref = encode_words(reference, tokenizer, [pairs[k].english for k in idx], mode, None, False, max_seq_length)
        rows_a, rows_r, rows_u = [], [], []
        for pos, k in enumerate(idx):
            other = pairs[nxt[pos]]
            for i, j in pairs[k].links or []:
                rows_a.append(va.word(pos, i))
                rows_r.append(vb.word(pos, j))
                rows_u.append(vb.word(len(idx) + pos, j % len(other.english)))
        if rows_a:
            ia, ir, iu = (torch.tensor(r, dtype=torch.long) for r in (rows_a, rows_r, rows_u))
            ok = va.present[ia] & vb.present[ir] & vb.present[iu]
            a, r, u = va.vectors[ia[ok]], vb.vectors[ir[ok]], vb.vectors[iu[ok]]
            rel_l2.append((a - r).norm(dim=1))
            unrel_l2.append((a - u).norm(dim=1))
            rel_cos.append(torch.nn.functional.cosine_similarity(a, r, dim=1))
            unrel_cos.append(torch.nn.functional.cosine_similarity(a, u, dim=1))
        n_english = len(ref.present)  # the pairs' own English words: the first block of vb, slot for slot
        both = ref.present & vb.present[:n_english]
        drift.append((vb.vectors[:n_english][both] - ref.vectors[both]).norm(dim=1))
        norms.append(ref.vectors[both].norm(dim=1))
    if was[0]:
        encoder.train()
    if was[1]:
        reference.train()

    def mean(parts: list[torch.Tensor]) -> float:
        return float(torch.cat(parts).mean()) if parts and sum(p.numel() for p in parts) else float("nan")

    return {
        "related_l2": mean(rel_l2),
        "unrelated_l2": mean(unrel_l2),
        "related_cos": mean(rel_cos),
        "unrelated_cos": mean(unrel_cos),
        "english_drift": mean(drift) / mean(norms),
        "links": int(sum(p.numel() for p in rel_l2)),
        "pairs": n,
    }
