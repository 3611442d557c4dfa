"""The training loop: one function, readable top to bottom (accelerate for devices, precision and accumulation)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from xstilts.data.featurize import Collator
from xstilts.training.sampling import TaskSampler, TaskStream, task_probabilities


@dataclass
class TrainTask:
    """One task's training features, and how to score the model on its dev set (None: no early stopping signal)."""

    name: str
    feats: list[dict[str, Any]]
    evaluate: Callable[[], dict[str, float]] | None = None
    collate: Collator | None = None  # a task-specific collator (e.g. MLM masking); None = the loop's default


@dataclass
class TrainResult:
    optimizer_steps: int = 0
    micro_batches: int = 0
    task_batches: dict[str, int] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    best_step: int = 0
    best_score: float | None = None
    dev_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: float = 0.0
    losses: list[float] = field(default_factory=list)  # one per micro-batch, for progress and tests
    # Multi-task sampling: configured probability and observed share of micro-batches per task.
    task_proportions: dict[str, dict[str, float]] = field(default_factory=dict)


class TrainingDiverged(RuntimeError):
    """A training loss became NaN or infinite: the phase stops rather than writing a broken checkpoint."""

    def __init__(self, step: int, task: str, loss: float):
        super().__init__(f"training diverged: loss {loss} at optimizer step {step} (task '{task}'); "
                         "lower the learning rate or check the data")
        self.step, self.task, self.loss = step, task, loss


def set_seed(seed: int) -> None:
    import random

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def resolve_precision(value: str | None) -> str:
    """'auto' -> bf16 on a GPU that supports it, fp16 on other GPUs, no autocast on CPU; else the value as given."""
    if value not in (None, "auto"):
        if value not in ("no", "fp16", "bf16"):
            from xstilts.errors import UserError

            raise UserError(f"mixed_precision must be auto, no, fp16 or bf16, got '{value}'")
        return value
    if not torch.cuda.is_available():
        return "no"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def _main_metric(metrics: dict[str, float]) -> float:
    return float(metrics["score"]) if "score" in metrics else float(next(iter(metrics.values())))


def train(model: Any, tasks: list[TrainTask], collate: Collator, settings: dict[str, Any], seed: int,
          sampler: str = "proportional", temperature: float = 2.0, accelerator: Any = None,
          progress: bool = True, log_with: str | None = None, log_dir: str | None = None,
          run_name: str = "xstilts") -> TrainResult:
    """Train `model` (a MultiTaskModel) on one or several tasks; restores the best dev checkpoint at the end.

    Steps: total micro-batches = epochs x the sum of each task's batches per epoch (or max_steps optimizer steps); each
    micro-batch's task is drawn from the sampler; the optimizer steps every `grad_accumulation` micro-batches.
    """
    from accelerate import Accelerator
    from transformers import get_linear_schedule_with_warmup

    set_seed(seed)
    rng = np.random.default_rng(seed)
    accum = int(settings["grad_accumulation"])
    accelerator = accelerator or Accelerator(gradient_accumulation_steps=accum, cpu=not torch.cuda.is_available(),
                                             mixed_precision=resolve_precision(settings.get("mixed_precision", "auto")),
                                             log_with=log_with, project_dir=log_dir)
    if log_with:  # tensorboard / wandb / mlflow through accelerate's trackers
        accelerator.init_trackers(run_name, config={k: v for k, v in settings.items()
                                                    if isinstance(v, (int, float, str, bool))})
    streams = [TaskStream(t.feats, int(settings["batch_size"]), rng) for t in tasks]
    probs = task_probabilities([len(t.feats) for t in tasks], sampler, temperature)
    draw = TaskSampler(probs, rng)
    per_epoch = sum(s.batches_per_epoch for s in streams)
    if settings.get("max_steps"):
        total_micro = int(settings["max_steps"]) * accum
    else:
        total_micro = max(accum, int(math.ceil(float(settings["num_epochs"]) * per_epoch)))
    total_steps = total_micro // accum

    if settings.get("freeze_embeddings"):
        model.encoder.get_input_embeddings().weight.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.requires_grad and p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": float(settings["weight_decay"])}, {"params": no_decay, "weight_decay": 0.0}],
        lr=float(settings["learning_rate"]), eps=float(settings["adam_epsilon"]),
    )
    scheduler = get_linear_schedule_with_warmup(
        optimizer, int(float(settings["warmup_ratio"]) * total_steps), max(1, total_steps)
    )
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    device = accelerator.device

    result = TrainResult(task_batches={t.name: 0 for t in tasks})
    eval_every = int(settings["eval_every_steps"])
    patience = int(settings["early_stopping_patience"])
    best_state: dict[str, torch.Tensor] | None = None
    bad_evals = 0
    t0 = time.time()
    seen = 0
    bar = tqdm(total=total_steps, desc="train " + "+".join(t.name for t in tasks), disable=not progress, leave=False)

    def evaluate(step: int) -> bool:
        """Dev evaluation; returns True when early stopping should end training."""
        nonlocal best_state, bad_evals
        scored = {t.name: t.evaluate() for t in tasks if t.evaluate is not None}
        if not scored:
            return False
        score = float(np.mean([_main_metric(m) for m in scored.values()]))
        result.history.append({"step": step, "score": score, "metrics": scored})
        if log_with:
            accelerator.log({f"dev/{t}/{k}": v for t, m in scored.items() for k, v in m.items()}, step=step)
        if result.best_score is None or score > result.best_score:
            result.best_score, result.best_step, result.dev_metrics = score, step, scored
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in accelerator.unwrap_model(model).state_dict().items()}
            bad_evals = 0
        else:
            bad_evals += 1
        model.train()
        return bad_evals >= patience

    model.train()
    stopped = False
    for micro in range(total_micro):
        k = draw.next()
        feats = streams[k].next()
        if accelerator.num_processes > 1:  # data parallel: each process takes its share of the global batch
            feats = feats[accelerator.process_index:: accelerator.num_processes] or feats[:1]
        batch = (tasks[k].collate or collate)(feats)
        batch = {key: (v.to(device) if isinstance(v, torch.Tensor) else v) for key, v in batch.items()}
        with accelerator.accumulate(model):
            loss = model(tasks[k].name, batch)["loss"]
            value = float(loss.item())
            if not math.isfinite(value):  # stop before the NaN reaches the weights (and before any checkpoint)
                raise TrainingDiverged(result.optimizer_steps + 1, tasks[k].name, value)
            accelerator.backward(loss)
            if accelerator.sync_gradients:
                accelerator.clip_grad_norm_(params, float(settings["max_grad_norm"]))
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
        result.task_batches[tasks[k].name] += 1
        result.micro_batches += 1
        result.losses.append(value)
        seen += len(feats)
        if accelerator.sync_gradients:
            result.optimizer_steps += 1
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", ex_s=f"{seen / max(time.time() - t0, 1e-9):.1f}")
            if log_with:
                accelerator.log({"train/loss": loss.item(), "train/lr": scheduler.get_last_lr()[0]},
                                step=result.optimizer_steps)
            if result.optimizer_steps % eval_every == 0 and evaluate(result.optimizer_steps):
                stopped = True
                break
    bar.close()
    if not stopped and (not result.history or result.history[-1]["step"] != result.optimizer_steps):
        evaluate(result.optimizer_steps)
    if best_state is not None:
        accelerator.unwrap_model(model).load_state_dict(best_state)
    result.seconds = time.time() - t0
    result.task_proportions = {
        t.name: {"configured": float(p), "observed": result.task_batches[t.name] / max(1, result.micro_batches)}
        for t, p in zip(tasks, probs)
    }
    if log_with:
        accelerator.end_training()
    return result
