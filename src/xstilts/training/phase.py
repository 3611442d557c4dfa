"""A phase (intermediate or target training) as one short linear function: load the start weights, load and featurize each
task's English (or other source-language) data, train, and write the checkpoint atomically."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from xstilts import __version__
from xstilts.atomic import atomic_directory, atomic_write_json
from xstilts.data.cache import featurize_cached
from xstilts.data.load import load_examples, subsample
from xstilts.defaults import EVALUATION_ONLY_KEYS, merge_hyperparameters
from xstilts.errors import UserError
from xstilts.families.featurize import Collator
from xstilts.integrity import write_record
from xstilts.modeling.model import (
    HeadSpec,
    MultiTaskModel,
    is_checkpoint,
    load_checkpoint,
    load_encoder,
    save_checkpoint,
)
from xstilts.tasks import get_task
from xstilts.tasks.spec import TaskSpec
from xstilts.training.loop import TrainTask, set_seed, train, wait_for_everyone

PHASE_RECORD = "phase.json"  # a finished phase's completion record (its job, data sizes, dev history)
DONE_FILE = PHASE_RECORD


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

    def task_source(self, name: str) -> dict[str, Any]:
        """Where task `name` trains from: source task, language, data directory, and the dev set for early stopping."""
        if self.resolved is not None:
            return {k: v for k, v in self.resolved["tasks"][name].items() if k != "hparams"}
        task = get_task(name)
        src = training_source(task)
        lang = self.languages.get(name, src.train_language)
        own_dir = self.data_dirs.get(name)
        data_dir = own_dir or self.data_dirs.get(src.name)
        check_training_language(src, lang, data_dir)
        # Early stopping on the source's dev set in the training language; a target that trains from another task
        # with its own data directory (the official XTREME download: XNLI trains on MNLI from xnli/train-en.tsv)
        # early-stops on that download's English dev of the target.
        dev_task, dev_lang = src.name, lang
        if task.train_from and own_dir and "dev" in task.splits:
            dev_task, dev_lang = task.name, "en"
        has_dev = "dev" in get_task(dev_task).splits
        return {
            "source_task": src.name,
            "language": lang,
            "data_dir": data_dir,
            "dev_task": dev_task if has_dev else None,
            "dev_language": dev_lang,
        }

    def job(self) -> dict[str, Any]:
        """The fully resolved job (JSON-able): per task its source and every hyperparameter, the loop's
        hyperparameters, and the phase options. `start` and `log_with` are not part of it (where to start from is the
        plan's edge; tracking does not change the result)."""
        if self.resolved is not None:
            return dict(self.resolved)
        return {
            "kind": self.kind,
            "seed": self.seed,
            "sampler": self.sampler,
            "temperature": float(self.temperature),
            "keep_heads": self.keep_heads,
            "mlm_corpus": self.mlm_corpus,
            "trust_remote_code": self.trust_remote_code,
            "task_order": list(self.tasks),
            "tasks": {
                t: {**self.task_source(t), "hparams": _training_only(self.resolved_settings(t))} for t in self.tasks
            },
            "loop": _training_only(self.resolved_settings(None)),
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


def is_complete(out_dir: str | Path) -> bool:
    return (Path(out_dir) / DONE_FILE).is_file()


def training_source(task: TaskSpec) -> TaskSpec:
    """The task whose training split trains `task` (XNLI <- MNLI, XQuAD <- SQuAD, ...)."""
    return get_task(task.train_from) if task.train_from else task


def head_spec(task: TaskSpec) -> HeadSpec:
    labels = task.labels if task.ops.uses_labels else None
    return HeadSpec(task=task.name, family=task.family, labels=labels)


def with_data_labels(task: TaskSpec, examples: list[Any]) -> TaskSpec:
    """A tagging/classification task whose label set comes from the user's files (e.g. CCG supertags): take it from the
    training data, sorted, so the head's label order is reproducible."""
    labels_of = task.ops.labels_of
    if task.labels is not None or labels_of is None:
        return task
    return task.model_copy(update={"labels": sorted(labels_of(examples))})


def _declared_head(task_name: str) -> str | None:
    """The `head:` a task declares (None for a head whose task is no longer known, e.g. from another task library)."""
    try:
        return get_task(task_name).head
    except UserError:
        return None


def build_model(cfg: PhaseConfig, specs: dict[str, TaskSpec]) -> tuple[MultiTaskModel, Any]:
    if is_checkpoint(cfg.start):
        model, tok = load_checkpoint(
            Path(cfg.start), keep_heads=cfg.keep_heads, trust_remote_code=cfg.trust_remote_code
        )
    else:
        enc, tok = load_encoder(cfg.start, trust_remote_code=cfg.trust_remote_code)
        model = MultiTaskModel(enc)
    start_heads = set(model.head_specs)  # reuse is of the start checkpoint's heads, never of this phase's new ones
    for name in cfg.tasks:
        task = specs[name]
        want = head_spec(task)
        # keep_heads: reuse the start checkpoint's head of this task, or of a task that declares the same `head:`
        # (MNLI and XNLI: `nli`), when family and label space also match; otherwise a fresh head.
        kept = None
        for cand in (name, *sorted(h for h in start_heads if h != name and _declared_head(h) == task.head)):
            have = model.head_specs.get(cand)
            if have is not None and have.family == want.family and have.labels == want.labels:
                kept = cand
                break
        if kept is not None and kept != name:
            model.heads[name] = model.heads[kept]
            model.head_specs[name] = want
        elif kept is None:
            if name in model.heads:
                del model.heads[name]
            model.add_head(want)
    # Heads of tasks not trained in this phase are dropped: a checkpoint holds the heads of its own tasks.
    for name in list(model.heads.keys()):
        if name not in cfg.tasks:
            del model.heads[name]
            model.head_specs.pop(name, None)
    return model, tok


# How a phase scores a task's dev set for early stopping: (model, tokenizer, task, dev examples, hyperparameters, device)
# -> a callable giving the current weights' metrics. Passed in by the caller (evaluation.task_eval.dev_evaluator), so
# that training does not depend on evaluation.
DevScorer = Callable[[MultiTaskModel, Any, TaskSpec, list[Any], dict[str, Any], Any], Callable[[], dict[str, float]]]


def run_phase(
    cfg: PhaseConfig, out_dir: str | Path, progress: bool = True, dev_scorer: DevScorer | None = None
) -> Path:
    """Train one phase and write its checkpoint to out_dir (returns at once if out_dir is already complete).

    Steps: load each task's training (and dev) examples from the source its job names, build the model (heads per
    task), featurize through the on-disk feature cache, train (early stopping on dev when `dev_scorer` is given), and
    write the checkpoint with its record atomically, on the main process only (under `accelerate launch`)."""
    out = Path(out_dir)
    if is_complete(out):
        return out
    t0 = time.time()
    set_seed(cfg.seed)
    import torch

    loaded: dict[str, tuple[TaskSpec, TaskSpec, dict[str, Any], list[Any]]] = {}
    for name in cfg.tasks:
        task = get_task(name)
        settings = cfg.resolved_settings(name)
        where = cfg.task_source(name)
        src = get_task(where["source_task"])
        train_ex = subsample(
            load_examples(src, "train", where["language"], where["data_dir"]),
            settings.get("max_train_examples"),
            cfg.seed,
        )
        if not train_ex:
            raise UserError(f"task '{name}' has no training examples in language '{where['language']}'")
        loaded[name] = (with_data_labels(task, train_ex), src, where, train_ex)
    model, tokenizer = build_model(cfg, {n: v[0] for n, v in loaded.items()})
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    train_tasks, data_info = [], {}
    for name, (task, _src, where, train_ex) in loaded.items():
        settings = cfg.resolved_settings(name)
        feats = featurize_cached(task.family, train_ex, tokenizer, task.labels, settings, train=True)
        dev_ex = []
        if where["dev_task"] is not None:  # a dev set that fails to load is an error, never silently dropped
            dev_ex = subsample(
                load_examples(get_task(where["dev_task"]), "dev", where["dev_language"], where["data_dir"]),
                settings.get("max_dev_examples"),
                0,
            )
        evaluate = dev_scorer(model, tokenizer, task, dev_ex, settings, device) if dev_ex and dev_scorer else None
        train_tasks.append(TrainTask(name=name, feats=feats, evaluate=evaluate))
        data_info[name] = {
            **where,
            "train_examples": len(train_ex),
            "train_features": len(feats),
            "dev_examples": len(dev_ex),
        }
    if cfg.mlm_corpus:
        from xstilts.training.mlm import mlm_train_task

        train_tasks.append(mlm_train_task(model, tokenizer, cfg))
        data_info["mlm"] = {
            "corpus": cfg.mlm_corpus,
            "train_features": len(train_tasks[-1].feats),
            **train_tasks[-1].info,
        }  # head_init: pretrained (the checkpoint's LM head) or random
    settings = cfg.resolved_settings(None)
    collate = Collator(
        pad_id=tokenizer.pad_token_id or 0,
        mask_id=tokenizer.mask_token_id,
        vocab_size=model.encoder.config.vocab_size,
        seed=cfg.seed,
    )
    result = train(
        model,
        train_tasks,
        collate,
        settings,
        cfg.seed,
        cfg.sampler,
        cfg.temperature,
        progress=progress,
        log_with=cfg.log_with,
        log_dir=str(out.parent / "logs" / out.name) if cfg.log_with else None,
        run_name=f"{cfg.kind}-{'+'.join(cfg.tasks)}",
    )
    if result.is_main:  # data-parallel processes: only the main one writes the checkpoint
        _write_checkpoint(cfg, out, model, tokenizer, data_info, result, t0)
    wait_for_everyone()  # the others return once it is in place (the next phase reads it)
    return out


def _write_checkpoint(
    cfg: PhaseConfig,
    out: Path,
    model: MultiTaskModel,
    tokenizer: Any,
    data_info: dict[str, Any],
    result: Any,
    t0: float,
) -> None:
    """The checkpoint and its record, written to a scratch folder and renamed into place when complete."""
    model.to("cpu")
    with atomic_directory(out) as tmp:
        save_checkpoint(model, tokenizer, tmp)
        record = {
            "xstilts_version": __version__,
            "job": cfg.job(),
            "start": cfg.start,
            "data": data_info,
            "train": asdict(result),
            "seconds": time.time() - t0,
        }
        atomic_write_json(tmp / "metrics.json", record["train"]["dev_metrics"])
        write_record(tmp, PHASE_RECORD, record)  # last, sealed with the checksums of every file written above
