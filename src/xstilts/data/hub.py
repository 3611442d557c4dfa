"""Reading tasks from the Hugging Face hub (or local files in the hub's exact schema).

A task's HubSource names a row mapper; mappers turn one hub row (a dict, as `datasets` yields it) into one typed
example, or None to skip the row (e.g. SNLI's label -1). Family modules register mappers with @row_mapper.
"""

from __future__ import annotations

import functools
import importlib
import os
from pathlib import Path
from typing import Any, Callable, Iterable

from xstilts.errors import UserError
from xstilts.tasks.spec import TaskSpec

RowMapper = Callable[[dict[str, Any], TaskSpec, int], Any]
ROW_MAPPERS: dict[str, RowMapper] = {}

# Modules that register mappers when imported.
_MAPPER_MODULES = ("xstilts.data.mappers", "xstilts.data.xtreme")


def row_mapper(name: str) -> Callable[[RowMapper], RowMapper]:
    def deco(fn: RowMapper) -> RowMapper:
        ROW_MAPPERS[name] = fn
        return fn

    return deco


def _ensure_mappers() -> None:
    for mod in _MAPPER_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:
                raise


def get_mapper(name: str) -> RowMapper:
    _ensure_mappers()
    if name not in ROW_MAPPERS:
        raise UserError(f"unknown row mapper '{name}'; known: {sorted(ROW_MAPPERS)}")
    return ROW_MAPPERS[name]


def format_pattern(pattern: str, lang: str) -> str:
    """Fill {lang}, {Language} (udpos names) and {iso3} (tatoeba codes) in a config or split pattern."""
    from xstilts.languages import TATOEBA_ISO3_TO_ISO2, UDPOS_LANG2NAME

    iso3 = {v: k for k, v in TATOEBA_ISO3_TO_ISO2.items()}
    return pattern.format(lang=lang, Language=UDPOS_LANG2NAME.get(lang, lang), iso3=iso3.get(lang, lang))


def map_rows(task: TaskSpec, rows: Iterable[dict[str, Any]], lang: str = "en") -> list[Any]:
    """Map hub rows to examples with the task's mapper (skipping rows the mapper rejects)."""
    assert task.source is not None
    mapper = get_mapper(task.source.mapper)
    out = []
    for i, row in enumerate(rows):
        ex = mapper(row, task, i)
        if ex is not None:
            out.append(ex)
    return out


MIRROR_ENV = "XSTILTS_HUB_MIRROR"  # a folder of <id>/<config>/<split>.jsonl files in the hub's schema (rehearsals)


def mirror_file(mirror: str | Path, hub_id: str, config: str | None, split: str) -> Path:
    """Where a local hub mirror holds one split of one dataset config."""
    return Path(mirror) / hub_id / (config or "default") / f"{split}.jsonl"


@functools.lru_cache(maxsize=512)
def _local_rows(builder: str, files: tuple[str, ...], name: str, stamp: tuple[float, ...]) -> tuple[dict[str, Any], ...]:
    """Rows of local files in a hub schema, read once per process while unchanged (`stamp`: their mtimes)."""
    import datasets

    ds = datasets.load_dataset(builder, data_files={name: list(files)}, split=name)
    return tuple(ds)


def load_hub_rows(task: TaskSpec, split: str, lang: str = "en", data_files: Any = None) -> list[dict[str, Any]]:
    """Rows of one split from the hub, or from local files in the hub's schema (json/jsonl/parquet/csv) via data_files,
    or from a local hub mirror when $XSTILTS_HUB_MIRROR names one (`xstilts rehearse` serves its toy data this way)."""
    import datasets

    if task.source is None:
        raise UserError(f"task '{task.name}' has no hub source; give its data directory instead")
    hub_splits = task.source.splits.get(split, split)
    names = hub_splits if isinstance(hub_splits, list) else [hub_splits]
    config = format_pattern(task.source.config, lang) if task.source.config else None
    mirror = os.environ.get(MIRROR_ENV)
    rows: list[dict[str, Any]] = []
    for name in names:
        name = format_pattern(name, lang)
        files = data_files[name] if isinstance(data_files, dict) else data_files
        if files is None and mirror:
            path = mirror_file(mirror, task.source.id, config, name)
            if not path.is_file():
                raise UserError(f"the hub mirror has no {task.source.id} {config or ''} {name} split", path=str(path))
            files = str(path)
        if files is not None:
            listed = tuple(str(f) for f in (files if isinstance(files, list) else [files]))
            builder = "parquet" if listed[0].endswith(".parquet") else "csv" if listed[0].endswith(".csv") else "json"
            stamp = tuple(os.path.getmtime(f) if os.path.exists(f) else 0.0 for f in listed)
            rows.extend(dict(r) for r in _local_rows(builder, listed, name, stamp))
        else:
            ds = datasets.load_dataset(task.source.id, config, split=name)
            rows.extend(ds)
    return rows


def load_hub_examples(task: TaskSpec, split: str, lang: str = "en", data_files: Any = None) -> list[Any]:
    return map_rows(task, load_hub_rows(task, split, lang, data_files), lang)
