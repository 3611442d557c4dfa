"""A phase (intermediate or target training) as one short linear function: load the start weights, load and featurize each
task's English (or other source-language) data, train, and write the checkpoint atomically."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xstilts import __version__
from xstilts.data.featurize import Collator, featurize
from xstilts.data.load import load_examples
from xstilts.defaults import phase_defaults
from xstilts.errors import UserError
from xstilts.experiments.integrity import write_record
from xstilts.modeling.model import HeadSpec, MultiTaskModel, is_checkpoint, load_checkpoint, load_encoder, save_checkpoint
from xstilts.tasks import get_task
from xstilts.tasks.spec import TaskSpec
from xstilts.training.loop import TrainTask, set_seed, train

DONE_FILE = "phase.json"


@dataclass
class PhaseConfig:
    """Everything that determines a phase's output."""

    kind: str  # "intermediate" or "target"
    tasks: list[str]
    start: str  # a hub id / model folder, or a previous phase's checkpoint directory
    seed: int = 0
    settings: dict[str, Any] = field(default_factory=dict)  # overrides of the recipe defaults
    sampler: str = "proportional"
    temperature: float = 2.0
    keep_heads: bool = False  # keep a head from the start checkpoint when task family and labels match (MNLI -> XNLI)
    task_settings: dict[str, dict[str, Any]] = field(default_factory=dict)  # per-task overrides (e.g. a cap per task)
    data_dirs: dict[str, str] = field(default_factory=dict)  # task -> user data directory
    languages: dict[str, str] = field(default_factory=dict)  # task -> training language (default: the task's)
    mlm_corpus: str | None = None  # text file(s) for multilingual MLM co-training
    max_dev_examples: int | None = 2000
    log_with: str | None = None  # tensorboard | wandb | mlflow (accelerate trackers); logs go to <out>/logs
    trust_remote_code: bool = False  # run a hub model's own code: off unless the user asks

    def resolved_settings(self, task: str | None = None) -> dict[str, Any]:
        base = phase_defaults(self.kind, task if len(self.tasks) == 1 else None)
        base.update(self.settings)
        if task is not None:
            base.update(self.task_settings.get(task, {}))
        return base


def is_complete(out_dir: str | Path) -> bool:
    return (Path(out_dir) / DONE_FILE).is_file()


def subsample(examples: list[Any], n: int | None, seed: int) -> list[Any]:
    """Deterministic subsample of n examples by seed (order preserved), or all when n is None or larger."""
    if n is None or n >= len(examples):
        return examples
    idx = np.sort(np.random.default_rng(seed).permutation(len(examples))[:n])
    return [examples[i] for i in idx]


def training_source(task: TaskSpec) -> TaskSpec:
    """The task whose training split trains `task` (XNLI <- MNLI, XQuAD <- SQuAD, ...)."""
    return get_task(task.train_from) if task.train_from else task


def head_spec(task: TaskSpec) -> HeadSpec:
    labels = task.labels if task.family in ("classification", "tagging") else None
    return HeadSpec(task=task.name, family=task.family, labels=labels)


def with_data_labels(task: TaskSpec, examples: list[Any]) -> TaskSpec:
    """A tagging/classification task whose label set comes from the user's files (e.g. CCG supertags): take it from the
    training data, sorted, so the head's label order is reproducible."""
    if task.labels is not None or task.family not in ("classification", "tagging"):
        return task
    if task.family == "tagging":
        labels = sorted({t for ex in examples for t in (ex.tags or [])})
    else:
        labels = sorted({str(ex.label) for ex in examples if ex.label is not None})
    return task.model_copy(update={"labels": labels})


def build_model(cfg: PhaseConfig, specs: dict[str, TaskSpec]) -> tuple[MultiTaskModel, Any]:
    if is_checkpoint(cfg.start):
        model, tok = load_checkpoint(Path(cfg.start), keep_heads=cfg.keep_heads, trust_remote_code=cfg.trust_remote_code)
    else:
        enc, tok = load_encoder(cfg.start, trust_remote_code=cfg.trust_remote_code)
        model = MultiTaskModel(enc)
    for name in cfg.tasks:
        task = specs[name]
        want = head_spec(task)
        # keep_heads: reuse the start checkpoint's head of this task, or of the task it trains from (MNLI -> XNLI),
        # when family and label space match; otherwise a fresh head.
        kept = None
        for cand in (name, task.train_from):
            have = model.head_specs.get(cand) if cand else None
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


def run_phase(cfg: PhaseConfig, out_dir: str | Path, progress: bool = True) -> Path:
    """Train one phase and write its checkpoint to out_dir (returns at once if out_dir is already complete)."""
    from xstilts.evaluation.task_eval import evaluate_examples

    out = Path(out_dir)
    if is_complete(out):
        return out
    t0 = time.time()
    set_seed(cfg.seed)
    import torch

    loaded: dict[str, tuple[TaskSpec, TaskSpec, str, str | None, list[Any]]] = {}
    for name in cfg.tasks:
        task = get_task(name)
        settings = cfg.resolved_settings(name)
        src = training_source(task)
        lang = cfg.languages.get(name, src.train_language)
        data_dir = cfg.data_dirs.get(name) or cfg.data_dirs.get(src.name)
        train_ex = subsample(load_examples(src, "train", lang, data_dir), settings.get("max_train_examples"), cfg.seed)
        if not train_ex:
            raise UserError(f"task '{name}' has no training examples in language '{lang}'")
        loaded[name] = (with_data_labels(task, train_ex), src, lang, data_dir, train_ex)
    model, tokenizer = build_model(cfg, {n: v[0] for n, v in loaded.items()})
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    train_tasks, data_info = [], {}
    for name, (task, src, lang, data_dir, train_ex) in loaded.items():
        settings = cfg.resolved_settings(name)
        feats = featurize(task.family, train_ex, tokenizer, task.labels, settings, train=True)
        dev_ex = []
        if "dev" in src.splits:
            try:
                dev_ex = subsample(load_examples(src, "dev", lang, data_dir),
                                   settings.get("max_dev_examples", cfg.max_dev_examples), 0)
            except UserError:
                dev_ex = []

        def evaluate(task=task, dev_ex=dev_ex, settings=settings):
            return evaluate_examples(model, tokenizer, task, dev_ex, settings, device)[1]

        train_tasks.append(TrainTask(name=name, feats=feats, evaluate=evaluate if dev_ex else None))
        data_info[name] = {"source_task": src.name, "language": lang, "train_examples": len(train_ex),
                           "train_features": len(feats), "dev_examples": len(dev_ex), "data_dir": data_dir}
    if cfg.mlm_corpus:
        from xstilts.training.mlm import mlm_train_task

        train_tasks.append(mlm_train_task(model, tokenizer, cfg))
        data_info["mlm"] = {"corpus": cfg.mlm_corpus, "train_features": len(train_tasks[-1].feats)}
    settings = cfg.resolved_settings(cfg.tasks[0])
    collate = Collator(pad_id=tokenizer.pad_token_id or 0, mask_id=tokenizer.mask_token_id,
                       vocab_size=model.encoder.config.vocab_size, seed=cfg.seed)
    result = train(model, train_tasks, collate, settings, cfg.seed, cfg.sampler, cfg.temperature, progress=progress,
                   log_with=cfg.log_with, log_dir=str(out.parent / "logs" / out.name) if cfg.log_with else None,
                   run_name=f"{cfg.kind}-{'+'.join(cfg.tasks)}")

    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.to("cpu")
    save_checkpoint(model, tokenizer, tmp)
    record = {
        "xstilts_version": __version__,
        "config": asdict(cfg),
        "settings": {n: cfg.resolved_settings(n) for n in cfg.tasks},
        "data": data_info,
        "train": asdict(result),
        "seconds": time.time() - t0,
    }
    (tmp / "metrics.json").write_text(json.dumps(record["train"]["dev_metrics"], indent=2), encoding="utf-8")
    write_record(tmp, DONE_FILE, record)  # last, sealed with the checksums of every file written above
    if out.exists():  # a stale, incomplete directory from an older layout: replace it
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, out)
    return out
