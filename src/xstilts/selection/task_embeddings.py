"""Task embeddings (TextEmb, Vu et al. 2020; SEmb in Poth et al. 2021) for mixture generation and diversity: the mean of
an encoder's mean-pooled last-layer sentence vectors over `n` training inputs of the task (for a target: its English
training data, e.g. MNLI for XNLI; for a retrieval target: the English side of its dev pairs, test where it has no dev).

Cached per (model, task definition, data fingerprint, n, seed) in $XSTILTS_HOME/task-embeddings/, so a plan computes
each vector once; the model is loaded (and torch imported) only when a vector is missing.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from xstilts.data.fingerprint import source_fingerprint
from xstilts.jobs import task_definition, training_source
from xstilts.paths import default_home
from xstilts.tasks.spec import TaskSpec

EMBEDDING_SETTINGS: dict[str, Any] = {"max_seq_length": 128}


def _source(task: TaskSpec, data_dirs: dict[str, str]) -> tuple[TaskSpec, str, str, str | None]:
    """(task read, split, language, data directory) of a task's embedding inputs; a target's directory serves the
    task it trains from too (the official layout), as in a phase."""
    if task.ops.is_retrieval:  # the English side of its pairs: dev where it has one (Tatoeba has test only)
        lang = next(lang for lang in task.languages if lang != "en")
        split = "dev" if "dev" in task.splits else task.splits[0]
        return task, split, lang, data_dirs.get(task.name)
    src = training_source(task)
    return src, "train", src.train_language, data_dirs.get(task.name) or data_dirs.get(src.name)


def _texts(task: TaskSpec, n: int, seed: int, data_dirs: dict[str, str]) -> list[str]:
    from xstilts.data.load import load_examples, subsample
    from xstilts.selection.samples import example_text

    src, split, lang, data_dir = _source(task, data_dirs)
    examples = load_examples(src, split, lang, data_dir)
    if task.ops.is_retrieval:
        return [r.target for r in examples[:n] if r.target]
    return [example_text(e) for e in subsample(examples, n, seed)]


def _key(model: str, task: TaskSpec, n: int, seed: int, data_dirs: dict[str, str], settings: dict[str, Any]) -> str:
    src, split, lang, data_dir = _source(task, data_dirs)
    ident = [model, task_definition(src), source_fingerprint(src, split, lang, data_dir), n, seed, settings]
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:24]


def task_embeddings(
    tasks: Sequence[TaskSpec],
    model: str = "embedded",
    n: int = 100,
    seed: int = 0,
    data_dirs: dict[str, str] | None = None,
    progress: bool = True,
    max_seq_length: int = EMBEDDING_SETTINGS["max_seq_length"],
) -> dict[str, np.ndarray]:
    """name -> TextEmb vector of each task, from the cache or computed with `model` (an alias, hub id or folder);
    `data_dirs` as a spec's (task -> folder)."""
    data_dirs = dict(data_dirs or {})
    settings = {**EMBEDDING_SETTINGS, "max_seq_length": int(max_seq_length)}
    from xstilts.atomic import atomic_write_json

    cache = default_home() / "task-embeddings"
    out: dict[str, np.ndarray] = {}
    missing: list[tuple[TaskSpec, Path]] = []
    for task in tasks:
        path = cache / f"{_key(model, task, n, seed, data_dirs, settings)}.json"
        if path.is_file():
            out[task.name] = np.asarray(json.loads(path.read_text(encoding="utf-8"))["vector"], dtype=float)
        else:
            missing.append((task, path))
    if missing:
        from xstilts.modeling.embedded import resolve_model_path
        from xstilts.selection.probe import Workbench

        if progress:
            print(
                f"task embeddings: {len(missing)} to compute with {model} ({n} inputs each; cached after)",
                file=sys.stderr,
            )
        bench = Workbench.load(resolve_model_path(model), settings)
        for task, path in missing:
            vector = bench.sentence_vectors(_texts(task, n, seed, data_dirs)).mean(0)
            atomic_write_json(path, {"task": task.name, "model": model, "n": n, "vector": vector.tolist()})
            out[task.name] = vector
    return out
