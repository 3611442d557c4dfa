"""Reading tasks from the Hugging Face hub (or local files in the hub's exact schema).

A task's HubSource names a row mapper; mappers turn one hub row (a dict, as `datasets` yields it) into one typed
example, or None to skip the row (e.g. SNLI's label -1). Family modules register mappers with @row_mapper.
"""

from __future__ import annotations

import importlib
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


def load_hub_rows(task: TaskSpec, split: str, lang: str = "en", data_files: Any = None) -> list[dict[str, Any]]:
    """Rows of one split from the hub, or from local files in the hub's schema (json/jsonl/parquet/csv) via data_files."""
    import datasets

    if task.source is None:
        raise UserError(f"task '{task.name}' has no hub source; give its data directory instead")
    hub_splits = task.source.splits.get(split, split)
    names = hub_splits if isinstance(hub_splits, list) else [hub_splits]
    rows: list[dict[str, Any]] = []
    for name in names:
        name = format_pattern(name, lang)
        if data_files is not None:
            files = data_files[name] if isinstance(data_files, dict) else data_files
            first = str(files[0] if isinstance(files, list) else files)
            builder = "parquet" if first.endswith(".parquet") else "csv" if first.endswith(".csv") else "json"
            ds = datasets.load_dataset(builder, data_files={name: files}, split=name)
        else:
            config = format_pattern(task.source.config, lang) if task.source.config else None
            ds = datasets.load_dataset(task.source.id, config, split=name)
        rows.extend(ds)
    return rows


def load_hub_examples(task: TaskSpec, split: str, lang: str = "en", data_files: Any = None) -> list[Any]:
    return map_rows(task, load_hub_rows(task, split, lang, data_files), lang)
