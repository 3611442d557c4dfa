"""One entry point for a task's examples: user directory (uniform JSONL, the task's own local format such as CCGbank files,
or the official XTREME download layout), the task's bundled local directory (demo data), or the Hugging Face hub."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xstilts.data.hub import load_hub_examples
from xstilts.data.local import local_path, read_local
from xstilts.errors import UserError
from xstilts.tasks.spec import TaskSpec


def load_examples(task: TaskSpec, split: str, lang: str = "en", data_dir: str | Path | None = None) -> list[Any]:
    """Examples of `task` for one split ('train', 'dev', 'test') and language."""
    from xstilts.data import mappers, xtreme

    if data_dir is not None:
        d = Path(data_dir)
        if not d.exists():
            raise UserError("data directory not found", path=str(d))
        if local_path(d, split, lang).is_file():
            return read_local(d, split, lang, task.family, task.labels)
        if task.name in mappers.LOCAL_READERS:
            return mappers.LOCAL_READERS[task.name](d, split)
        reader = xtreme.OFFICIAL_READERS.get(task.name)  # official download layout (scripts/download_data.sh)
        if reader is not None:
            return reader(d, split, lang)
        raise UserError(
            f"no data for task '{task.name}' split '{split}' language '{lang}': expected {local_path(d, split, lang).name}",
            path=str(d),
        )
    if task.local_dir is not None:
        return read_local(task.local_dir, split, lang, task.family, task.labels)
    try:
        if task.name in mappers.TASK_LOADERS:
            return mappers.TASK_LOADERS[task.name](task, split, lang)
        if task.source is not None:
            if task.source.id == "google/xtreme":
                return xtreme.hub_examples(task, split, lang)
            return load_hub_examples(task, split, lang)
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - the hub's errors (offline, unreachable, unknown id) have many types
        if not _is_hub_error(e):
            raise
        raise _hub_error(task, e) from None
    raise UserError(
        f"task '{task.name}' needs local files ({task.local_format or 'uniform JSONL'}); pass its data directory"
    )


def _is_hub_error(e: BaseException) -> bool:
    """Network, offline mode, or an id the hub does not know (datasets / huggingface_hub / requests errors)."""
    mod = type(e).__module__.split(".")[0]
    return isinstance(e, (ConnectionError, TimeoutError)) or mod in ("huggingface_hub", "requests", "urllib3") or (
        mod == "datasets" and type(e).__name__ in ("DatasetNotFoundError", "DataFilesNotFoundError", "ConnectionError"))


def _hub_error(task: TaskSpec, e: BaseException) -> UserError:
    src = task.source
    what = f"dataset '{src.id}'" + (f" (config '{src.config}')" if src and src.config else "") if src else "its data"
    reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
    return UserError(
        f"task '{task.name}': cannot load {what} from the Hugging Face hub ({reason}). Offline, give the files: "
        f"--data-dir {task.name}=DIR (uniform JSONL <split>.<lang>.jsonl, or the official XTREME download layout), "
        "or a local hub cache holding the dataset (HF_HOME / HF_DATASETS_CACHE)")
