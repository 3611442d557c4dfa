"""`xstilts prepare SPEC`: before a run on machines without internet (a cluster's compute nodes), fetch every model and
dataset the plan reaches into the local caches (on a login node), say what was fetched and its size, then check, with
the hub switched off (`HF_HUB_OFFLINE=1`, `HF_DATASETS_OFFLINE=1`), that the run needs nothing else.

What the plan reaches is read from its nodes' jobs, as the executors read them: every training node's tasks (source
task, language, data directory, dev set) and MLM corpus, every evaluation node's (split, language) pairs (and dev for
mining), every model the nodes start from. Each dataset is read through the real loader (`data.load.load_examples`:
hub datasets through `datasets.load_dataset`, which fills HF_DATASETS_CACHE; a local hub mirror, `$XSTILTS_HUB_MIRROR`;
official layouts; the user's files), each hub model through `huggingface_hub.snapshot_download` (config, tokenizer and
safetensors files into the hub cache, HF_HOME). Whatever fails is reported by name, with the loader's reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xstilts.errors import UserError
from xstilts.experiments.plan import Node, build_plan
from xstilts.experiments.spec import ExperimentSpec
from xstilts.jobs import task_from
from xstilts.tasks.spec import TaskSpec

# The files a model needs (config, tokenizer, safetensors weights); a hub model's own code only when trusted.
MODEL_FILES = ["*.json", "*.safetensors", "*.model", "*.txt"]
MODEL_ALIASES = ("embedded", "embedded-english")


@dataclass
class Prepared:
    """What `prepare_spec` did: fetched items (kind, name, bytes or None, detail), problems (kind, name, reason)."""

    fetched: list[tuple[str, str, int | None, str]] = field(default_factory=list)
    problems: list[tuple[str, str, str]] = field(default_factory=list)
    offline_problems: list[tuple[str, str, str]] = field(default_factory=list)
    cache_bytes: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems and not self.offline_problems


Read = tuple[TaskSpec, str, str, str | None]  # task, split, language, data directory


def plan_reads(nodes: list[Node]) -> tuple[list[Read], list[str]]:
    """Every (task, split, language, data directory) the nodes read, in plan order, and their MLM corpora."""
    reads: dict[tuple[str, str, str, str | None], Read] = {}
    corpora: list[str] = []

    def add(task: TaskSpec, split: str, lang: str, data_dir: str | None) -> None:
        reads.setdefault((task.name, split, lang, data_dir), (task, split, lang, data_dir))

    for n in nodes:
        if n.kind == "evaluation":
            job = n.job["evaluation"]
            task = TaskSpec(**job["definition"])
            for key in job["data"]:  # "<split>.<lang>": what the evaluation reads (dev for mining included)
                split, lang = key.split(".", 1)
                add(task, split, lang, job["data_dir"])
            continue
        if "phase" not in n.job:  # an alignment phase reads its corpus, no task data
            continue
        phase = n.job["phase"]
        for where in phase["tasks"].values():
            add(
                task_from(phase.get("definitions"), where["source_task"]), "train", where["language"], where["data_dir"]
            )
            if where.get("dev_task"):
                dev = task_from(phase.get("definitions"), where["dev_task"])
                add(dev, "dev", where["dev_language"], where.get("dev_data_dir", where["data_dir"]))
        if phase.get("mlm_corpus") and phase["mlm_corpus"] not in corpora:
            corpora.append(phase["mlm_corpus"])
    return list(reads.values()), corpora


def _dataset_name(task: TaskSpec, split: str, lang: str, data_dir: str | None) -> str:
    """How a report names what a read needs: the hub dataset (id, config, split) or the folder it reads."""
    if data_dir is not None:
        return f"{data_dir} (task {task.name}, {split}, {lang})"
    if task.local_dir is not None:
        return f"bundled {task.name} ({split}, {lang})"
    if task.source is None:
        return f"task {task.name} ({split}, {lang}; built from other tasks)"
    from xstilts.data.hub import format_pattern

    config = format_pattern(task.source.config, lang) if task.source.config else None
    return f"{task.source.id}" + (f" {config}" if config else "") + f" {split} (task {task.name}, {lang})"


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def _caches() -> list[Path]:
    """The local caches prepare fills: the hub cache (models) and the datasets cache."""
    import datasets
    from huggingface_hub import constants

    return [Path(constants.HF_HUB_CACHE), Path(datasets.config.HF_DATASETS_CACHE)]


def _hub_model(path: str) -> bool:
    p = Path(path)
    if path in MODEL_ALIASES or p.exists():
        return False
    return not (p.is_absolute() or path.startswith((".", "~")) or path.count("/") > 1)


def fetch_model(path: str, trust_remote_code: bool = False, local_only: bool = False) -> tuple[int | None, str]:
    """Fetch one model (a hub id into the hub cache; an alias converted once; a local folder checked); returns (bytes,
    where). Raises UserError naming the model when it cannot be had."""
    if path in MODEL_ALIASES:
        from xstilts.modeling.embedded import resolve_model_path

        folder = Path(resolve_model_path(path))
        return _folder_bytes(folder), f"alias -> {folder}"
    if not _hub_model(path):
        folder = Path(path).expanduser()
        if not (folder / "config.json").is_file():
            raise UserError("model folder not found or without config.json", path=path)
        return _folder_bytes(folder), "local folder"
    from huggingface_hub import snapshot_download

    from xstilts.hub_access import hub_offline

    offline = hub_offline()  # probed once: offline, only what the hub cache holds, at once rather than after retries
    local_only = local_only or offline is not None
    patterns = MODEL_FILES + (["*.py"] if trust_remote_code else [])
    try:
        snapshot = snapshot_download(path, allow_patterns=patterns, local_files_only=local_only)
    except Exception as e:  # noqa: BLE001 - any failure is reported by name: not found, offline, not cached
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        if offline:
            reason = f"hub offline: {offline}; not in the local hub cache"
        raise UserError(f"model '{path}' cannot be fetched ({type(e).__name__}: {reason})") from None
    return _folder_bytes(Path(snapshot)), "hub cache" if not local_only else "cached"


def _rows_bytes(examples: list[Any]) -> int:
    return sum(len(repr(e)) for e in examples)


def _each(
    reads: list[Read], models: list[tuple[str, bool]], corpora: list[str], local_only: bool, result: Prepared
) -> list[tuple[str, str, str]]:
    """Fetch (or, `local_only`, only read from the caches) every model, dataset and corpus; returns the problems and
    records what was fetched in `result` (first pass only)."""
    from xstilts.data.load import load_examples

    problems: list[tuple[str, str, str]] = []
    record: Callable[..., None] = (lambda *a: None) if local_only else (lambda *a: result.fetched.append(a))
    for path, trusted in models:
        try:
            size, where = fetch_model(path, trusted, local_only=local_only)
            record("model", path, size, where)
        except UserError as e:
            problems.append(("model", path, str(e)))
    for task, split, lang, data_dir in reads:
        name = _dataset_name(task, split, lang, data_dir)
        try:
            examples = load_examples(task, split, lang, data_dir)
            record("dataset", name, _rows_bytes(examples), f"{len(examples)} examples")
        except UserError as e:
            problems.append(("dataset", name, str(e)))
    for corpus in corpora:
        if not Path(corpus).exists():
            problems.append(("corpus", corpus, "MLM corpus file not found"))
        else:
            record(
                "corpus",
                corpus,
                _folder_bytes(Path(corpus)) if Path(corpus).is_dir() else Path(corpus).stat().st_size,
                "",
            )
    return problems


def prepare_spec(spec: ExperimentSpec, only: dict[str, list[str]] | None = None, check: bool = True) -> Prepared:
    """Fetch what the plan (or its `--only` slice) reaches, then (`check`) read it all again with the hub off."""
    from xstilts.experiments.plan import select_nodes

    nodes = select_nodes(build_plan(spec), only)
    reads, corpora = plan_reads(nodes)
    models = list(
        dict.fromkeys((m.path, m.trust_remote_code) for m in spec.models if any(n.model == m.name for n in nodes))
    )
    result = Prepared()
    before = {c: _folder_bytes(c) if c.is_dir() else 0 for c in _caches()}
    result.problems = _each(reads, models, corpora, local_only=False, result=result)
    result.cache_bytes = sum((_folder_bytes(c) if c.is_dir() else 0) - b for c, b in before.items())
    if check and not result.problems:
        result.offline_problems = _offline(lambda: _each(reads, models, corpora, local_only=True, result=result))
    return result


def _offline(fn: Callable[[], list[tuple[str, str, str]]]) -> list[tuple[str, str, str]]:
    """`fn` with the hub off for models and datasets (the environment restored after; the libraries stay offline)."""
    from xstilts.hub_access import set_libraries_offline
    from xstilts.paths import scoped_environ

    with scoped_environ(dict.fromkeys(("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"), "1")):
        set_libraries_offline()
        return fn()


def describe(result: Prepared) -> list[str]:
    """The lines `xstilts prepare` prints."""

    def mb(n: int | None) -> str:
        return "size unknown" if n is None else f"{n / 1e6:.1f} MB"

    lines = [
        f"{kind} {name}: {mb(size)}{f' ({detail})' if detail else ''}" for kind, name, size, detail in result.fetched
    ]
    lines.append(f"local caches grew by {mb(result.cache_bytes)}")
    for kind, name, why in result.problems:
        lines.append(f"missing {kind} {name}: {why}")
    for kind, name, why in result.offline_problems:
        lines.append(f"needed offline, not cached: {kind} {name}: {why}")
    if result.ok:
        lines.append("check: with HF_HUB_OFFLINE=1 every model and dataset of the plan loads from the local caches")
    return lines
