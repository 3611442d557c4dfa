"""One entry point for a task's examples, and one function that decides where they come from (`resolve_source`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from xstilts.data.hub import hub_splits, load_hub_examples
from xstilts.data.local import local_path, read_local
from xstilts.data.mappers import LOCAL_READERS, TASK_LOADERS
from xstilts.data.xtreme import OFFICIAL_READERS
from xstilts.errors import UserError
from xstilts.tasks.spec import TaskSpec

SourceKind = Literal["jsonl", "local_reader", "official", "bundled", "task_loader", "hub"]


@dataclass(frozen=True)
class Source:
    """Where one (task, split, language) is read from: its kind, a folder or hub id for messages, and the reader."""

    kind: SourceKind
    where: str
    read: Callable[[], list[Any]]


def resolve_source(task: TaskSpec, split: str, lang: str = "en", data_dir: str | Path | None = None) -> Source:
    """Pick the source of one split of a task in one language. The first rule that applies wins.

    With a data directory (`--data-dir task=DIR`, a spec's `data_dirs`), which must exist:
      1. `DIR/<split>.<lang>.jsonl` exists: the uniform JSONL layout (fields as in families/examples.py);
      2. the task has its own local reader (a format only the user can supply, e.g. CCGbank): that reader;
      3. the task has an official XTREME reader: the official download layout (DIR = download root or task folder);
      4. otherwise a UserError naming the JSONL file that was expected.
    Without one:
      5. the task's bundled `local_dir` (the demo data): uniform JSONL;
      6. a task loader (a mixture of other tasks, e.g. ANLI+);
      7. the task's hub `source:`, narrowed to `lang` by the generic hub loader;
      8. otherwise a UserError: the task needs local files.
    Nothing is read until `Source.read()` is called.
    """
    if data_dir is not None:
        d = Path(data_dir)
        if not d.exists():
            raise UserError("data directory not found", path=str(d))
        if local_path(d, split, lang).is_file():
            return Source("jsonl", str(d), lambda: read_local(d, split, lang, task.family, task.labels))
        if task.name in LOCAL_READERS:
            return Source("local_reader", str(d), lambda: LOCAL_READERS[task.name](d, split))
        if task.name in OFFICIAL_READERS:  # official download layout (scripts/download_data.sh)
            return Source("official", str(d), lambda: OFFICIAL_READERS[task.name](d, split, lang))
        raise UserError(
            f"no data for task '{task.name}' split '{split}' language '{lang}': "
            f"expected {local_path(d, split, lang).name}",
            path=str(d),
        )
    if task.local_dir is not None:
        local_dir = task.local_dir
        return Source("bundled", local_dir, lambda: read_local(local_dir, split, lang, task.family, task.labels))
    if task.name in TASK_LOADERS:
        return Source("task_loader", task.name, lambda: TASK_LOADERS[task.name](task, split, lang))
    if task.source is not None:
        return Source("hub", task.source.id, lambda: load_hub_examples(task, split, lang))
    raise UserError(
        f"task '{task.name}' needs local files ({task.local_format or 'uniform JSONL'}); pass its data directory"
    )


def load_examples(task: TaskSpec, split: str, lang: str = "en", data_dir: str | Path | None = None) -> list[Any]:
    """Examples of `task` for one split ('train', 'dev', 'test') and language, from the source resolve_source picks."""
    return resolve_source(task, split, lang, data_dir).read()


def available_splits(task: TaskSpec, lang: str, data_dir: str | Path | None = None) -> list[str]:
    """The task's declared splits (its YAML `splits`) that the source `resolve_source` would pick has for `lang`.

    Decided without reading examples: for the hub, the declared splits minus those the language is known to lack
    (UD-POS kk has no dev; tl, th, yo only test); for JSONL folders and the official layout, which files exist; a
    local reader is asked to read the split (it has no cheaper check). Task loaders (mixtures) have their declared
    splits. A missing data directory or a task without any source gives [].
    """
    out = []
    for split in task.splits:
        try:
            source = resolve_source(task, split, lang, data_dir)
        except UserError:
            continue
        if _has(task, source, split, lang):
            out.append(split)
    return out


def _has(task: TaskSpec, source: Source, split: str, lang: str) -> bool:
    if source.kind in ("jsonl", "bundled"):
        return local_path(source.where, split, lang).is_file()
    if source.kind == "official":
        return OFFICIAL_READERS[task.name].has(source.where, split, lang)
    if source.kind == "hub":
        return split in hub_splits(task, lang)
    if source.kind == "local_reader":
        try:
            source.read()
        except UserError:
            return False
        return True
    return True  # task loader: its declared splits


def subsample(examples: list[Any], n: int | None, seed: int) -> list[Any]:
    """Deterministic subsample of n examples by seed (order preserved), or all when n is None or larger."""
    if n is None or n >= len(examples):
        return examples
    idx = np.sort(np.random.default_rng(seed).permutation(len(examples))[:n])
    return [examples[i] for i in idx]


def dev_subset(examples: list[Any], n: int | None, how: str) -> list[Any]:
    """The dev examples early stopping reads: the first n in file order (`first`, jiant's eval_subset_num) or a
    seeded subsample of n (`random`); all when n is None or larger."""
    if how == "first":
        return examples if n is None else examples[:n]
    return subsample(examples, n, 0)
