"""Task samplers for multi-task training and length-grouped batching within a task."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from xstilts.families.featurize import feature_length

SAMPLERS = ("proportional", "temperature", "uniform")


def task_probabilities(sizes: Sequence[int], sampler: str = "proportional", temperature: float = 2.0) -> np.ndarray:
    """Probability of drawing each task's next batch. sizes = examples (after any cap) per task.

    proportional: p ~ n; temperature: p ~ n^(1/T) (T=1 is proportional, T->inf uniform); uniform: p = 1/K.
    """
    n = np.asarray(sizes, dtype=np.float64)
    if sampler == "proportional":
        w = n
    elif sampler == "temperature":
        w = n ** (1.0 / temperature)
    elif sampler == "uniform":
        w = np.ones_like(n)
    else:
        raise ValueError(f"unknown sampler '{sampler}'; expected one of {SAMPLERS}")
    return w / w.sum()


def length_grouped_batches(
    feats: Sequence[dict[str, Any]], batch_size: int, rng: np.random.Generator, group: int = 50
) -> list[list[int]]:
    """Shuffle, then sort within mega-batches of `group` batches by length, so batches pad little but stay random."""
    order = rng.permutation(len(feats))
    mega = batch_size * group
    batches: list[list[int]] = []
    for s in range(0, len(order), mega):
        chunk = sorted(order[s : s + mega].tolist(), key=lambda i: feature_length(feats[i]))
        batches.extend(chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size))
    perm = rng.permutation(len(batches))
    return [batches[i] for i in perm]


class TaskStream:
    """An endless stream of one task's batches: a fresh length-grouped shuffle every epoch of that task."""

    def __init__(self, feats: Sequence[dict[str, Any]], batch_size: int, rng: np.random.Generator):
        self.feats, self.batch_size, self.rng = feats, batch_size, rng
        self._queue: list[list[int]] = []

    @property
    def batches_per_epoch(self) -> int:
        return math.ceil(len(self.feats) / self.batch_size)

    def next(self) -> list[dict[str, Any]]:
        if not self._queue:
            self._queue = length_grouped_batches(self.feats, self.batch_size, self.rng)
        return [self.feats[i] for i in self._queue.pop(0)]


class TaskSampler:
    """Draws which task each micro-batch comes from.

    Stratified rather than i.i.d.: every block of `block` draws holds each task in its configured share (largest-remainder
    rounding on the cumulative counts, so rounding never accumulates), shuffled within the block. The realized mixture
    therefore matches the configured one at every scale, while the order stays random.
    """

    def __init__(self, probs: np.ndarray, rng: np.random.Generator, block: int = 100):
        self.probs, self.rng, self.block = np.asarray(probs, dtype=np.float64), rng, block
        self.assigned = np.zeros(len(self.probs), dtype=np.int64)
        self._queue: list[int] = []

    def _refill(self) -> None:
        total = int(self.assigned.sum()) + self.block
        target = self.probs * total
        counts = np.floor(target).astype(np.int64) - self.assigned
        counts = np.maximum(counts, 0)
        short = self.block - int(counts.sum())
        if short > 0:
            frac = target - (self.assigned + counts)
            for i in np.argsort(-frac, kind="stable")[:short]:
                counts[i] += 1
        self.assigned += counts
        block = np.repeat(np.arange(len(self.probs)), counts)
        self._queue = self.rng.permutation(block).tolist()

    def next(self) -> int:
        if not self._queue:
            self._refill()
        return int(self._queue.pop())
