"""A phase (intermediate or target training) as one short linear function: load the start weights, load and featurize each
task's English (or other source-language) data, train, and write the checkpoint atomically."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from xstilts import __version__
from xstilts.atomic import atomic_directory, atomic_write_json
from xstilts.data.cache import featurize_cached
from xstilts.data.load import dev_subset, load_examples, subsample
from xstilts.data.xtreme import ReadExamples
from xstilts.errors import UserError
from xstilts.families.featurize import Collator
from xstilts.integrity import write_record
from xstilts.jobs import PHASE_RECORD, PhaseConfig, check_training_language, training_source
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
from xstilts.training.loop import TrainResult, TrainTask, set_seed, train, wait_for_everyone

DONE_FILE = PHASE_RECORD
__all__ = ["PHASE_RECORD", "PhaseConfig", "check_training_language", "run_phase", "training_source"]


def is_complete(out_dir: str | Path) -> bool:
    """Whether a phase's output folder holds its completion record."""
    return (Path(out_dir) / DONE_FILE).is_file()


def head_spec(task: TaskSpec) -> HeadSpec:
    """The head a task trains: its family, and its labels where the family uses them."""
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
    """The phase's start model and tokenizer, with one head per task (reused from the start checkpoint where it
    matches) and no heads of other tasks."""
    pooler = str(cfg.resolved_settings(None).get("pooler", "auto"))
    if is_checkpoint(cfg.start):
        model, tok = load_checkpoint(
            Path(cfg.start), keep_heads=cfg.keep_heads, trust_remote_code=cfg.trust_remote_code, pooler=pooler
        )
    else:
        enc, tok = load_encoder(cfg.start, trust_remote_code=cfg.trust_remote_code, pooler=pooler)
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


# Hooks a caller may pass (experiments.run, for an aligned setting's target phase; training does not depend on
# xstilts.alignment): `auxiliary(model, tokenizer)` -> an object whose `loss()` is added to every micro-batch loss
# (continual alignment); `diagnose(model, tokenizer)` -> facts about the trained weights, kept in phase.json.
AuxiliaryFactory = Callable[[MultiTaskModel, Any], Any]
Diagnose = Callable[[MultiTaskModel, Any], dict[str, Any]]


def run_phase(
    cfg: PhaseConfig,
    out_dir: str | Path,
    progress: bool = True,
    dev_scorer: DevScorer | None = None,
    auxiliary: AuxiliaryFactory | None = None,
    diagnose: Diagnose | None = None,
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
        task = cfg.task_spec(name)
        settings = cfg.resolved_settings(name)
        where = cfg.task_source(name)
        src = cfg.task_spec(where["source_task"])
        read = load_examples(src, "train", where["language"], where["data_dir"])
        train_ex = subsample(read, settings.get("max_train_examples"), cfg.seed)
        if not train_ex:
            raise UserError(f"task '{name}' has no training examples in language '{where['language']}'")
        if isinstance(read, ReadExamples):  # a translated file's rows left out (answers off their spans): recorded
            where = {**where, "train_skipped": read.skipped, "train_read": read.total, "train_skipped_why": read.why}
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
            dev_ex = dev_subset(
                load_examples(
                    cfg.task_spec(where["dev_task"]),
                    "dev",
                    where["dev_language"],
                    where.get("dev_data_dir", where["data_dir"]),  # translated training: the dev set's own folder
                ),
                settings.get("max_dev_examples"),
                str(settings.get("dev_subset", "first")),
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
    extra = auxiliary(model, tokenizer) if auxiliary is not None else None
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
        auxiliary=extra.loss if extra is not None else None,
    )
    if extra is not None:
        data_info["continual_alignment"] = {"batches": extra.batches}
    if diagnose is not None and result.is_main:
        data_info["diagnostics"] = diagnose(model, tokenizer)
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
    result: TrainResult,
    t0: float,
) -> None:
    """The checkpoint and its record, written to a scratch folder and renamed into place when complete."""
    model.to("cpu")
    with atomic_directory(out) as tmp:
        # an adapter (lora_store: adapter) refers to the phase's start as its base; dtype: checkpoints.dtype of a spec
        save_checkpoint(model, tokenizer, tmp, base=cfg.start, dtype=cfg.checkpoint_dtype)
        train_info = asdict(result)
        record = {
            "xstilts_version": __version__,
            "job": cfg.job(),
            "start": cfg.start,
            "data": data_info,
            "train": train_info,
            "seconds": time.time() - t0,
        }
        atomic_write_json(tmp / "metrics.json", train_info["dev_metrics"])
        write_record(tmp, PHASE_RECORD, record)  # last, sealed with the checksums of every file written above
