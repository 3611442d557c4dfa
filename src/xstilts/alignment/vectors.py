"""Contextual word vectors from a subword encoder, and word links from their similarities.

A sentence's words are encoded together (`is_split_into_words`); a word's vector is its first piece's, its last
piece's or the mean of its pieces (Efimov et al.'s start / end / avg modes) at one hidden layer. With
`include_specials` the sentence's first and last tokens ([CLS]/[SEP], <s>/</s>) are two more "words", before and after
the others, as their `--include_clssep` does. Words cut off by `max_seq_length` have no vector (`present` False).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class WordVectors:
    """Packed word vectors of a batch of sentences: sentence k's slots are rows starts[k] .. starts[k] + sizes[k]
    (with specials: slot 0 the first token, the words at 1..n, slot n + 1 the last token)."""

    vectors: torch.Tensor  # (slots, hidden)
    present: torch.Tensor  # (slots,) bool: the word has at least one piece within max_seq_length
    starts: list[int]
    specials: bool

    def word(self, sentence: int, index: int) -> int:
        """The packed row of word `index` (0-based, specials not counted) of sentence `sentence`."""
        return self.starts[sentence] + index + (1 if self.specials else 0)


def encode_words(
    encoder: Any,
    tokenizer: Any,
    sentences: list[list[str]],
    mode: str = "avg",
    layer: int | None = None,
    include_specials: bool = True,
    max_seq_length: int = 128,
) -> WordVectors:
    """Word vectors of `sentences` (lists of words) at hidden_states[layer] (None: the last layer)."""
    device = next(encoder.parameters()).device
    enc = tokenizer(
        sentences,
        is_split_into_words=True,
        truncation=True,
        max_length=max_seq_length,
        padding=True,
        return_tensors="pt",
    )
    inputs = {k: v.to(device) for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    out = encoder(**inputs, output_hidden_states=layer is not None)
    hidden = out.last_hidden_state if layer is None else out.hidden_states[layer]
    batch, length, dim = hidden.shape
    lengths = enc["attention_mask"].sum(1).tolist()
    token_rows: list[int] = []
    slot_rows: list[int] = []
    starts, total = [], 0
    extra = 2 if include_specials else 0
    for b, words in enumerate(sentences):
        starts.append(total)
        word_ids = enc.word_ids(b)
        pieces: dict[int, list[int]] = {}
        for t, w in enumerate(word_ids):
            if w is not None:
                pieces.setdefault(w, []).append(t)
        offset = 1 if include_specials else 0
        for w, toks in pieces.items():
            chosen = toks[:1] if mode == "first" else toks[-1:] if mode == "last" else toks
            token_rows += [b * length + t for t in chosen]
            slot_rows += [total + offset + w] * len(chosen)
        if include_specials:
            token_rows += [b * length, b * length + int(lengths[b]) - 1]
            slot_rows += [total, total + len(words) + 1]
        total += len(words) + extra
    flat = hidden.reshape(batch * length, dim)
    token_index = torch.tensor(token_rows, dtype=torch.long, device=device)
    slot_index = torch.tensor(slot_rows, dtype=torch.long, device=device)
    counts = torch.zeros(total, device=device, dtype=hidden.dtype).index_add_(
        0, slot_index, torch.ones(len(slot_rows), device=device, dtype=hidden.dtype)
    )
    sums = torch.zeros(total, dim, device=device, dtype=hidden.dtype).index_add_(0, slot_index, flat[token_index])
    present = counts > 0
    vectors = sums / counts.clamp(min=1).unsqueeze(1)
    return WordVectors(vectors=vectors, present=present, starts=starts, specials=include_specials)


def linked_rows(
    a: WordVectors, b: WordVectors, links: list[list[tuple[int, int]]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Packed row indices (into a, into b) of every link whose two words have vectors; with specials, each sentence's
    first and last tokens are linked too (Efimov et al.'s pick_aligned with cls_sep)."""
    rows_a, rows_b = [], []
    for k, pairs in enumerate(links):
        for i, j in pairs:
            ra, rb = a.word(k, i), b.word(k, j)
            rows_a.append(ra)
            rows_b.append(rb)
        if a.specials:
            na = (a.starts[k + 1] if k + 1 < len(a.starts) else len(a.present)) - a.starts[k]
            nb = (b.starts[k + 1] if k + 1 < len(b.starts) else len(b.present)) - b.starts[k]
            rows_a += [a.starts[k], a.starts[k] + na - 1]
            rows_b += [b.starts[k], b.starts[k] + nb - 1]
    ia = torch.tensor(rows_a, dtype=torch.long, device=a.vectors.device)
    ib = torch.tensor(rows_b, dtype=torch.long, device=b.vectors.device)
    keep = a.present[ia] & b.present[ib]
    return ia[keep], ib[keep]


@torch.no_grad()
def argmax_links(
    encoder: Any,
    tokenizer: Any,
    pairs: list[tuple[list[str], list[str]]],
    layer: int,
    mode: str = "avg",
    max_seq_length: int = 128,
    batch_size: int = 32,
) -> list[list[tuple[int, int]]]:
    """Links by the encoder's own similarities (SimAlign's "argmax"): word i and English word j are linked when j is
    i's most similar English word and i is j's most similar word (cosine of hidden_states[layer] vectors), the
    intersection of the two directions. Words identical on both sides are left out (they teach nothing)."""
    was_training = encoder.training
    encoder.eval()
    out: list[list[tuple[int, int]]] = []
    for s in range(0, len(pairs), batch_size):
        chunk = pairs[s : s + batch_size]
        va = encode_words(encoder, tokenizer, [p[0] for p in chunk], mode, layer, False, max_seq_length)
        vb = encode_words(encoder, tokenizer, [p[1] for p in chunk], mode, layer, False, max_seq_length)
        for k, (words, english) in enumerate(chunk):
            xa = torch.nn.functional.normalize(va.vectors[va.starts[k] : va.starts[k] + len(words)], dim=1)
            xb = torch.nn.functional.normalize(vb.vectors[vb.starts[k] : vb.starts[k] + len(english)], dim=1)
            sim = xa @ xb.T
            sim[~va.present[va.starts[k] : va.starts[k] + len(words)]] = -2.0
            sim[:, ~vb.present[vb.starts[k] : vb.starts[k] + len(english)]] = -2.0
            forward, backward = sim.argmax(1).tolist(), sim.argmax(0).tolist()
            out.append(
                [
                    (i, j)
                    for i, j in enumerate(forward)
                    if backward[j] == i and sim[i, j] > -2.0 and words[i] != english[j]
                ]
            )
    if was_training:
        encoder.train()
    return out


def default_link_layer(num_hidden_layers: int) -> int:
    """hidden_states index for links: 2/3 of the depth (SimAlign's layer 8 of 12 for mBERT)."""
    return max(1, round(num_hidden_layers * 2 / 3))
