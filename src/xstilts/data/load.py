"""One entry point for a task's examples: user directory (uniform JSONL or the official XTREME download layout),
the task's own local directory (demo data), or the Hugging Face hub."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xstilts.data.hub import load_hub_examples
from xstilts.data.local import local_path, read_local
from xstilts.errors import UserError
from xstilts.tasks.spec import TaskSpec


def load_examples(task: TaskSpec, split: str, lang: str = "en", data_dir: str | Path | None = None) -> list[Any]:
    """Examples of `task` for one split ('train', 'dev', 'test') and language."""
    if data_dir is not None:
        d = Path(data_dir)
        if not d.exists():
            raise UserError("data directory not found", path=str(d))
        if local_path(d, split, lang).is_file():
            return read_local(d, split, lang, task.family)
        from xstilts.data.xtreme import OFFICIAL_READERS  # official download layout (scripts/download_data.sh)

        reader = OFFICIAL_READERS.get(task.name)
        if reader is not None:
            return reader(d, split, lang)
        raise UserError(
            f"no data for task '{task.name}' split '{split}' language '{lang}': expected {local_path(d, split, lang).name}",
            path=str(d),
        )
    if task.local_dir is not None:
        return read_local(task.local_dir, split, lang, task.family)
    if task.source is not None:
        return load_hub_examples(task, split, lang)
    raise UserError(
        f"task '{task.name}' needs local files ({task.local_format or 'uniform JSONL'}); pass its data directory"
    )
