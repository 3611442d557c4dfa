"""Jobs: what a plan node computes, as JSON-able data (torch-free, so `xstilts plan` imports no torch).

A phase job carries, per task, where it trains from (source task, language, data directory, dev set), every resolved
hyperparameter, and a fingerprint of the data it reads (`data.fingerprint`); `definitions` holds the resolved
definition (TaskSpec dump: labels, source, fields, metric, head, splits, family) of every task the phase reads. A node's
hash covers its job, so editing a task's labels, source or fields, or a line of a file it reads, changes exactly the
hashes of the nodes that read it (and their dependents). Executors build tasks from `definitions`, not the registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from xstilts.data.fingerprint import source_fingerprint
from xstilts.defaults import EVALUATION_ONLY_KEYS, merge_hyperparameters
from xstilts.errors import UserError
from xstilts.tasks import get_task
from xstilts.tasks.spec import TaskSpec

PHASE_RECORD = "phase.json"  # a finished phase's completion record (its job, data sizes, dev history)


def task_definition(task: TaskSpec) -> dict[str, Any]:
    """A task's resolved definition as a job carries it (TaskSpec(**definition) gives the task back)."""
    return task.model_dump()


def task_from(definitions: dict[str, Any] | None, name: str) -> TaskSpec:
    """The task `name` as a job defines it; the registry only for jobs written before jobs carried definitions."""
    if definitions and name in definitions:
        return TaskSpec(**definitions[name])
    return get_task(name)


@dataclass
class PhaseConfig:
    """Everything that determines a phase's output. `job()` is its fully resolved form: the plan hashes it and the
    executors run it (`PhaseConfig.from_job`), so what is hashed is what runs.

    Hyperparameters come in three override layers, merged by `defaults.merge_hyperparameters` (lowest first):
    `base_settings` (a spec's `hyperparameters.intermediate|target`), `task_settings[task]` (a spec's
    `hyperparameters.<task>`), `settings` (an intermediate setting's own hyperparameters, or `--set`)."""

    kind: str  # "intermediate" or "target"
    tasks: list[str]
    start: str  # a hub id / model folder / alias, or a previous phase's checkpoint directory
    seed: int = 0
    settings: dict[str, Any] = field(default_factory=dict)  # phase-wide overrides (highest precedence)
    sampler: str = "proportional"
    temperature: float = 2.0
    keep_heads: bool = False  # keep a head from the start checkpoint when task family and labels match (MNLI -> XNLI)
    task_settings: dict[str, dict[str, Any]] = field(default_factory=dict)  # per-task overrides (e.g. a cap per task)
    data_dirs: dict[str, str] = field(default_factory=dict)  # task -> user data directory
    languages: dict[str, str] = field(default_factory=dict)  # task -> training language (default: the task's)
    mlm_corpus: str | None = None  # text file(s) for multilingual MLM co-training
    base_settings: dict[str, Any] = field(default_factory=dict)  # phase-level overrides (lowest precedence)
    log_with: str | None = None  # tensorboard | wandb | mlflow (accelerate trackers); logs go to <out>/logs
    trust_remote_code: bool = False  # run a hub model's own code: off unless the user asks
    resolved: dict[str, Any] | None = None  # a job from `job()`: when set, it alone decides the hyperparameters
    # task -> the task it trains from instead of its own `train_from` (spec data_options, e.g. tydiqa -> tydiqa_all)
    train_from: dict[str, str] = field(default_factory=dict)
    # the stored dtype of the checkpoint's encoder (a spec's `checkpoints.dtype`); in the job only when not float32,
    # so default jobs hash as before
    checkpoint_dtype: str = "float32"
    # task -> the folder of its training data in another language (a spec's data_dirs `translate_train`: the XTREME
    # translations, or uniform JSONL); read when `languages` names a language other than the source's own
    translations: dict[str, str] = field(default_factory=dict)

    def resolved_settings(self, task: str | None = None) -> dict[str, Any]:
        """Every hyperparameter of `task` in this phase; task None = the loop's (learning rate, batch, epochs, ...).

        The loop of a single-task phase uses that task's values; the loop of a mixture uses the phase-level layers
        only (`base_settings`, `settings`), never one task's."""
        if task is None and len(self.tasks) == 1:
            task = self.tasks[0]
        if self.resolved is not None:
            return dict(self.resolved["loop"] if task is None else self.resolved["tasks"][task]["hparams"])
        if task is None:
            return merge_hyperparameters(self.kind, None, self.base_settings, self.settings)
        return merge_hyperparameters(
            self.kind, task, self.base_settings, self.task_settings.get(task, {}), self.settings
        )

    def task_spec(self, name: str) -> TaskSpec:
        """Task `name` as this phase's job defines it (the registry only before the job is resolved)."""
        return task_from(self.resolved.get("definitions") if self.resolved else None, name)

    def task_source(self, name: str) -> dict[str, Any]:
        """Where task `name` trains from: source task, language, data directory, the dev set for early stopping, and
        the fingerprints of the train and dev data (`data`)."""
        if self.resolved is not None:
            return {k: v for k, v in self.resolved["tasks"][name].items() if k != "hparams"}
        task = get_task(name)
        src = get_task(self.train_from[name]) if name in self.train_from else training_source(task)
        lang = self.languages.get(name, src.train_language)
        own_dir = self.data_dirs.get(name)
        if lang != src.train_language and name in self.translations:
            return self._translated_source(task, src, lang, self.translations[name], own_dir)
        data_dir = own_dir or self.data_dirs.get(src.name)
        check_training_language(src, lang, data_dir)
        # Early stopping on the source's dev set in the training language; a target that trains from another task
        # with its own data directory (the official XTREME download: XNLI trains on MNLI from xnli/train-en.tsv)
        # early-stops on that download's English dev of the target.
        dev_task, dev_lang = src.name, lang
        if task.train_from and own_dir and "dev" in task.splits:
            dev_task, dev_lang = task.name, "en"
        has_dev = "dev" in get_task(dev_task).splits
        data = {"train": source_fingerprint(src, "train", lang, data_dir)}
        if has_dev:
            data["dev"] = source_fingerprint(get_task(dev_task), "dev", dev_lang, data_dir)
        return {
            "source_task": src.name,
            "language": lang,
            "data_dir": data_dir,
            "dev_task": dev_task if has_dev else None,
            "dev_language": dev_lang,
            "data": data,
        }

    def _translated_source(
        self, task: TaskSpec, src: TaskSpec, lang: str, folder: str, own_dir: str | None
    ) -> dict[str, Any]:
        """Where a task trains from in language `lang` read from `folder` (the XTREME translations of its source, or
        `train.<lang>.jsonl` there). Early stopping on a dev set in `lang` where the data has one: the task's own
        (XNLI, PAWS-X, MLQA dev in that language, from its data directory or its source), else the translation's
        (SQuAD translate-dev); otherwise the English dev an English-source phase reads. `dev_data_dir` says where."""
        from xstilts.data.load import available_splits

        english_dir = own_dir or self.data_dirs.get(src.name)
        dev: tuple[str, str, str | None] | None = None
        if "dev" in task.splits and lang in task.languages and "dev" in available_splits(task, lang, own_dir):
            dev = (task.name, lang, own_dir)
        elif "dev" in src.splits and "dev" in available_splits(src, lang, folder):
            dev = (src.name, lang, folder)
        elif task.train_from and own_dir and "dev" in task.splits:
            dev = (task.name, "en", own_dir)
        elif "dev" in src.splits:
            dev = (src.name, src.train_language, english_dir)
        data = {"train": source_fingerprint(src, "train", lang, folder)}
        if dev is not None:
            data["dev"] = source_fingerprint(get_task(dev[0]), "dev", dev[1], dev[2])
        return {
            "source_task": src.name,
            "language": lang,
            "data_dir": folder,
            "dev_task": dev[0] if dev else None,
            "dev_language": dev[1] if dev else src.train_language,
            "dev_data_dir": dev[2] if dev else None,
            "data": data,
        }

    def job(self) -> dict[str, Any]:
        """The fully resolved job (JSON-able): per task its source and every hyperparameter, the loop's
        hyperparameters, and the phase options. `start` and `log_with` are not part of it (where to start from is the
        plan's edge; tracking does not change the result)."""
        if self.resolved is not None:
            return dict(self.resolved)
        tasks = {t: {**self.task_source(t), "hparams": _training_only(self.resolved_settings(t))} for t in self.tasks}
        read = {n for t, v in tasks.items() for n in (t, v["source_task"], v["dev_task"]) if n}
        return {
            "kind": self.kind,
            "seed": self.seed,
            "sampler": self.sampler,
            "temperature": float(self.temperature),
            "keep_heads": self.keep_heads,
            "mlm_corpus": self.mlm_corpus,
            "trust_remote_code": self.trust_remote_code,
            "task_order": list(self.tasks),
            "tasks": tasks,
            "definitions": {n: task_definition(get_task(n)) for n in sorted(read)},
            "loop": _training_only(self.resolved_settings(None)),
            **({"checkpoint_dtype": self.checkpoint_dtype} if self.checkpoint_dtype != "float32" else {}),
        }

    @classmethod
    def from_job(cls, job: dict[str, Any], start: str, log_with: str | None = None) -> PhaseConfig:
        """The phase a plan node's job describes (nothing re-read from a spec)."""
        tasks = list(job["task_order"])
        return cls(
            kind=job["kind"],
            tasks=tasks,
            start=start,
            seed=int(job["seed"]),
            sampler=job["sampler"],
            temperature=float(job["temperature"]),
            keep_heads=bool(job["keep_heads"]),
            mlm_corpus=job["mlm_corpus"],
            trust_remote_code=bool(job["trust_remote_code"]),
            data_dirs={t: v["data_dir"] for t, v in job["tasks"].items() if v["data_dir"]},
            languages={t: v["language"] for t, v in job["tasks"].items()},
            log_with=log_with,
            resolved=dict(job),
            checkpoint_dtype=str(job.get("checkpoint_dtype", "float32")),
        )


def _training_only(hparams: dict[str, Any]) -> dict[str, Any]:
    """A phase's hyperparameters without the evaluation-only ones (they belong to evaluation nodes' jobs)."""
    return {k: v for k, v in hparams.items() if k not in EVALUATION_ONLY_KEYS}


def check_training_language(src: TaskSpec, lang: str, data_dir: str | None) -> None:
    """A task trained in a language its source does not have is an error, never English data recorded as `lang`."""
    if lang == src.train_language or data_dir is not None:
        return
    if src.local_dir is not None:
        return  # the local reader names the missing file
    patterns = (
        [src.source.config or "", *[v if isinstance(v, str) else " ".join(v) for v in src.source.splits.values()]]
        if src.source is not None
        else []
    )
    if not any("{" in p for p in patterns):
        raise UserError(
            f"task '{src.name}' has no data in language '{lang}' in its source "
            f"({src.source.id if src.source else 'none'}); give translated data with --data-dir "
            f"{src.name}=DIR (files <split>.{lang}.jsonl)"
        )
    if lang not in src.languages:
        raise UserError(f"task '{src.name}' has no language '{lang}'; its languages: {' '.join(src.languages)}")


def training_source(task: TaskSpec) -> TaskSpec:
    """The task whose training split trains `task` (XNLI <- MNLI, XQuAD <- SQuAD, ...)."""
    return get_task(task.train_from) if task.train_from else task
