"""Reading tasks from the Hugging Face hub (or local files in the hub's exact schema).

A task's HubSource names a row mapper. Every mapper has one signature, `Mapper`:
`(row, task, index, lang=None) -> example | None`, where `row` is a dict as `datasets` yields it, `index` the row's
position among the rows of `lang` in the split, and `lang` None means the task's train_language. None skips the row
(e.g. SNLI's label -1). Mapper modules register with @row_mapper; `xstilts.data` imports them once, explicitly.

Configs that hold every language (XNLI, TyDiQA) declare how a row names its language (`source.row_language`); the
generic loader here keeps the requested language's rows before numbering them, so guids count per language.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from xstilts.errors import UserError
from xstilts.languages import ISO2_TO_ISO3, TYDIQA_LANG2NAME, UDPOS_LANG2NAME, missing_splits
from xstilts.tasks.spec import TaskSpec


class Mapper(Protocol):
    """The one mapper signature: a hub row -> an example, or None to skip the row."""

    def __call__(self, row: dict[str, Any], task: TaskSpec, index: int, lang: str | None = None) -> Any: ...


ROW_MAPPERS: dict[str, Mapper] = {}


def row_mapper(name: str) -> Callable[[Mapper], Mapper]:
    """Register a mapper under the name a task YAML gives in `source.mapper`."""

    def deco(fn: Mapper) -> Mapper:
        ROW_MAPPERS[name] = fn
        return fn

    return deco


def get_mapper(name: str) -> Mapper:
    """The registered mapper called `name` (a UserError listing the known ones otherwise)."""
    if name not in ROW_MAPPERS:
        raise UserError(f"unknown row mapper '{name}'; known: {sorted(ROW_MAPPERS)}")
    return ROW_MAPPERS[name]


def tydiqa_name(lang: str) -> str:
    """The English language name TyDi QA ids start with ('ar' -> 'arabic')."""
    if lang not in TYDIQA_LANG2NAME:
        raise UserError(f"TyDiQA-GoldP has no language '{lang}'; it has {sorted(TYDIQA_LANG2NAME)}")
    return TYDIQA_LANG2NAME[lang]


def _language_field(lang: str) -> Callable[[dict[str, Any]], bool]:
    return lambda row: "language" not in row or row["language"] == lang


def _tydiqa_id(lang: str) -> Callable[[dict[str, Any]], bool]:
    name = tydiqa_name(lang)  # an unknown language fails here, before any row is read
    return lambda row: str(row["id"]).split("-", 1)[0] == name


# source.row_language -> (lang -> predicate keeping that language's rows of a shared config)
ROW_LANGUAGE: dict[str, Callable[[str], Callable[[dict[str, Any]], bool]]] = {
    "language": _language_field,  # a `language` field holding the code (XNLI)
    "tydiqa_id": _tydiqa_id,  # the id starts with the language's English name (TyDiQA-GoldP)
}


def _in_language(task: TaskSpec, lang: str) -> Callable[[dict[str, Any]], bool]:
    assert task.source is not None
    if task.source.row_language is None:
        return lambda row: True
    return ROW_LANGUAGE[task.source.row_language](lang)


def is_header_row(row: dict[str, Any]) -> bool:
    """A TSV header that a csv.reader-based builder yields as a data row: every value is its own column name."""
    return bool(row) and all(value == key for key, value in row.items())


def format_pattern(pattern: str, lang: str) -> str:
    """Fill {lang}, {Language} (udpos names) and {iso3} (tatoeba codes) in a config or split pattern."""
    return pattern.format(lang=lang, Language=UDPOS_LANG2NAME.get(lang, lang), iso3=ISO2_TO_ISO3.get(lang, lang))


def hub_splits(task: TaskSpec, lang: str) -> list[str]:
    """The task's declared splits that its hub data has for `lang` (UD-POS lacks dev for kk, tl, th, yo)."""
    missing = missing_splits(task.name, lang)
    return [s for s in task.splits if s not in missing]


def map_rows(task: TaskSpec, rows: Iterable[dict[str, Any]], lang: str | None = None) -> list[Any]:
    """Map hub rows to examples with the task's mapper; `index` is the row's position in `rows`.

    Rows of other languages (by `source.row_language`) and rows the mapper rejects are skipped.
    """
    assert task.source is not None
    mapper = get_mapper(task.source.mapper)
    keep = _in_language(task, lang or task.train_language)
    out = []
    for i, row in enumerate(rows):
        if not keep(row):
            continue
        ex = mapper(row, task, i, lang)
        if ex is not None:
            out.append(ex)
    return out


# What `datasets` raises when a dataset is neither reachable nor cached (by class name: no imports needed to list them).
_OFFLINE_ERRORS = (
    "ConnectionError",
    "LocalEntryNotFoundError",
    "DatasetNotFoundError",
    "OfflineModeIsEnabled",
    "HfHubHTTPError",
    "ConnectTimeout",
    "ReadTimeout",
    "MaxRetryError",
    "NameResolutionError",
)


def _offline_error(exc: BaseException) -> bool:
    return any(cls.__name__ in _OFFLINE_ERRORS for cls in type(exc).__mro__)


def _hub_unavailable(
    task: TaskSpec, config: str | None, split: str, exc: BaseException, offline: str | None = None
) -> UserError:
    assert task.source is not None
    where = task.source.id + (f" (config {config})" if config else "")
    why = type(exc).__name__ + (f"; hub offline: {offline}; not in the local hub cache" if offline else "")
    return UserError(
        f"cannot load {where} split '{split}' for task '{task.name}' from the Hugging Face hub "
        f"({why}). Offline, give the data another way: --data-dir {task.name}=DIR "
        "(uniform JSONL <split>.<lang>.jsonl, or the official XTREME download layout), or a local hub cache "
        "(HF_HOME / HF_DATASETS_CACHE holding the dataset, with HF_DATASETS_OFFLINE=1)"
    )


MIRROR_ENV = "XSTILTS_HUB_MIRROR"  # a folder of <id>/<config>/<split>.jsonl files in the hub's schema (rehearsals)


def mirror_file(mirror: str | Path, hub_id: str, config: str | None, split: str) -> Path:
    """Where a local hub mirror holds one split of one dataset config."""
    return Path(mirror) / hub_id / (config or "default") / f"{split}.jsonl"


@functools.lru_cache(maxsize=512)
def _local_rows(
    builder: str, files: tuple[str, ...], name: str, stamp: tuple[float, ...]
) -> tuple[dict[str, Any], ...]:
    """Rows of local files in a hub schema, read once per process while unchanged (`stamp`: their mtimes)."""
    import datasets

    ds = datasets.load_dataset(builder, data_files={name: list(files)}, split=name)
    return tuple(ds)


def load_hub_rows(task: TaskSpec, split: str, lang: str = "en", data_files: Any = None) -> list[dict[str, Any]]:
    """Rows of one split from the hub, or from local files in the hub's schema (json/jsonl/parquet/csv) via data_files,
    or from a local hub mirror when $XSTILTS_HUB_MIRROR names one (`xstilts rehearse` serves its toy data this way).

    A dataset that cannot be reached or found in the local cache is one UserError naming it and the offline ways.
    """
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
            from xstilts.hub_access import hub_offline

            offline = hub_offline(datasets=True)  # probed once per process; offline, the local cache only, at once
            try:
                ds = datasets.load_dataset(task.source.id, config, split=name)
            except Exception as e:  # noqa: BLE001 - narrowed by _offline_error; anything else propagates
                if _offline_error(e):
                    raise _hub_unavailable(task, config, name, e, offline) from None
                raise
            rows.extend(ds)
    return rows


def load_hub_examples(task: TaskSpec, split: str, lang: str = "en", data_files: Any = None) -> list[Any]:
    """Examples of one split and language from the task's hub source (or local files in its schema via data_files).

    The generic path for every hub task: the split must exist for `lang` (see `hub_splits`); rows of other languages
    of a shared config and csv header rows are dropped before numbering, so guids count per language; a shared config
    without a single row in `lang` is an error rather than an empty evaluation.
    """
    if task.source is None:
        raise UserError(f"task '{task.name}' has no hub source")
    if split not in hub_splits(task, lang):
        raise UserError(
            f"task '{task.name}' has no '{split}' split for language '{lang}'; available: {hub_splits(task, lang)}"
        )
    keep = _in_language(task, lang)
    rows = load_hub_rows(task, split, lang, data_files)
    mine = [row for row in rows if keep(row) and not is_header_row(row)]
    if rows and not mine:  # e.g. a language XNLI does not have: say so rather than evaluate on nothing
        raise UserError(f"task '{task.name}' {split}: none of {len(rows)} hub rows is in language '{lang}'")
    return map_rows(task, mine, lang)


# ---------------------------------------------------------------------------------------------------------------
# Helpers shared by the mapper modules


def guid(prefix: str, index: int, row: dict[str, Any] | None = None, key: str | None = None) -> str:
    """An example id: `<prefix>-<row[key]>` when the source names an id field, else `<prefix>-<index>`.

    The prefix is the task name for English hub tasks and the language for XTREME rows and files ("de-3").
    """
    return f"{prefix}-{row[key] if row is not None and key else index}"


def label_names(task: TaskSpec) -> list[str]:
    """Names of the hub's ClassLabel indices: source.label_names if the hub's order differs from task.labels."""
    names = (task.source.label_names if task.source is not None else None) or task.labels
    if not names:
        raise UserError(f"task '{task.name}' has integer labels but no `labels` (or source.label_names) to name them")
    return names


def class_label(value: Any, task: TaskSpec, index: int | None = None) -> str | None:
    """A classification label as the class name; None for a missing label (-1, "-1", None, "").

    ClassLabel ints become their names; strings (XNLI/PAWS-X keep raw TSV strings) must be one of task.labels.
    """
    if value is None or value in ("", "-1") or (isinstance(value, int) and not isinstance(value, bool) and value < 0):
        return None
    if isinstance(value, bool):  # some converted datasets store False/True directly
        value = str(value)
    if isinstance(value, int):
        return label_names(task)[value]
    name = str(value)
    if task.labels and name not in task.labels:
        where = "" if index is None else f" in row {index}"
        raise UserError(f"task '{task.name}': unexpected label {name!r}{where} ({name!r} is not one of {task.labels})")
    return name


def tag_names(values: Iterable[Any], task: TaskSpec) -> list[str]:
    """Token tags as names: ClassLabel ints index label_names(task) (-1 becomes ""), strings stay."""
    names: list[str] | None = None
    out = []
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool):
            names = names or label_names(task)
            out.append(names[value] if value >= 0 else "")
        else:
            out.append(str(value))
    return out


def records(value: Any) -> list[dict[str, Any]]:
    """A Sequence-of-dicts feature as a list of dicts (`datasets` yields a dict of lists, Parquet/List a list)."""
    if value is None:
        return []
    if isinstance(value, dict):
        keys = list(value)
        return [dict(zip(keys, items, strict=True)) for items in zip(*(value[k] for k in keys), strict=False)]
    return list(value)


def nearest_occurrence(context: str, text: str, start: int) -> int | None:
    """The offset of the occurrence of `text` in `context` closest to `start` (the first on a tie), or None.

    Some hub builders strip contexts or answers without moving answer_start (google/xtreme, Quoref), so a stored
    offset can be off by a few characters.
    """
    if not text:
        return None
    best, pos = None, context.find(text)
    while pos != -1:
        if best is None or abs(pos - start) < abs(best - start):
            best = pos
        pos = context.find(text, pos + 1)
    return best
