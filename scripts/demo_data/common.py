"""Shared helpers: seeded RNGs, splitting, writing a task directory."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from xstilts.data.local import local_path, write_jsonl

T = TypeVar("T")
SEED = 20200101


def rng(*keys: object) -> random.Random:
    """A generator seeded from the task/language keys (string seeds are hashed with SHA-512: stable across runs)."""
    return random.Random(f"{SEED}:" + ":".join(str(k) for k in keys))


def shuffled(items: Sequence[T], *keys: object) -> list[T]:
    out = list(items)
    rng(*keys).shuffle(out)
    return out


def write_task(root: Path, task: str, splits: dict[tuple[str, str], list[Any]]) -> dict[str, int]:
    """Write {(split, lang): examples} as <root>/<task>/<split>.<lang>.jsonl; returns counts per file name."""
    d = root / task
    d.mkdir(parents=True, exist_ok=True)
    for old in d.glob("*.jsonl"):
        old.unlink()
    counts = {}
    for (split, lang), examples in sorted(splits.items()):
        if not examples:
            continue
        path = local_path(d, split, lang)
        write_jsonl(path, examples)
        counts[path.name] = len(examples)
    return counts


def consecutive(items: Sequence[T], sizes: dict[str, int]) -> dict[str, list[T]]:
    """Cut items into consecutive disjoint parts of the given sizes, in the dict's order."""
    out, start = {}, 0
    for name, n in sizes.items():
        out[name] = list(items[start : start + n])
        start += n
    return out
