"""The training loop: one function, readable top to bottom (accelerate for devices, precision and accumulation)."""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from xstilts.families.featurize import Collator
from xstilts.modeling.forwards import swap_forward
from xstilts.training.cpu_dropout import install_cpu_dropout
from xstilts.training.lazy_rows import LazyRowAdamW, lazy_rows_apply, plain_embedding
from xstilts.training.sampling import TaskSampler, TaskStream, task_probabilities
from xstilts.training.trainable import prepare as prepare_trainable


@dataclass
class TrainTask:
    """One task's training features, and how to score the model on its dev set (None: no early stopping signal)."""

    name: str
    feats: list[dict[str, Any]]
    evaluate: Callable[[], dict[str, float]] | None = None
    collate: Collator | None = None  # a task-specific collator (e.g. MLM masking); None = the loop's default
    info: dict[str, Any] = field(default_factory=dict)  # facts for phase.json (e.g. MLM: pretrained or random head)


@dataclass
class TrainResult:
    """What a training run did: steps, losses, learning rates, dev scores of the carried weights, throughput."""

    optimizer_steps: int = 0
    micro_batches: int = 0
    task_batches: dict[str, int] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    best_step: int = 0
    best_score: float | None = None
    dev_metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # of the weights the phase carries on
    carried_weights: str = "best_dev"  # or "last" (restore_best_dev False)
    seconds: float = 0.0
    losses: list[float] = field(default_factory=list)  # one per micro-batch, for progress and tests
    # Multi-task sampling: configured probability and observed share of micro-batches per task.
    task_proportions: dict[str, dict[str, float]] = field(default_factory=dict)
    learning_rates: list[float] = field(default_factory=list)  # the LR each optimizer step used (after warmup/decay)
    eval_seconds: float = 0.0  # part of `seconds` spent in dev evaluation
    examples: int = 0  # training examples (features) consumed, all processes together
    tokens: int = 0  # non-padding training tokens consumed, all processes together
    is_main: bool = True  # False on every process but the first under `accelerate launch`: only the main one writes
    trainable: dict[str, Any] = field(default_factory=dict)  # finetune mode, parameters and trained parameters
    num_processes: int = 1


class TrainingDiverged(RuntimeError):
    """A training loss became NaN or infinite: the phase stops rather than writing a broken checkpoint."""

    def __init__(self, step: int, task: str, loss: float):
        super().__init__(
            f"training diverged: loss {loss} at optimizer step {step} (task '{task}'); "
            "lower the learning rate or check the data"
        )
        self.step, self.task, self.loss = step, task, loss


def is_main_process() -> bool:
    """True unless this is a non-first process of a distributed launch (`accelerate launch`, torchrun)."""
    import os

    return int(os.environ.get("RANK", "0")) == 0


def wait_for_everyone() -> None:
    """Barrier across the processes of a distributed launch (e.g. after the main process wrote a checkpoint that the
    others read next); a no-op in a single process."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def end_distributed() -> None:
    """Destroy the process group of a distributed launch, if one is initialized; a no-op in a single process.

    Call it once the processes are done together (after the last `wait_for_everyone`): a gloo or NCCL group left to the
    interpreter's exit can abort a rank ("terminate called without an active exception") after it has finished."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def set_seed(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global random generators."""
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


# The word embeddings' optimizer steps only the rows ever used, where it applies (training/lazy_rows.py). A switch for
# the comparisons in tests and benchmarks, not a setting: the results are the same either way, up to float rounding.
LAZY_EMBEDDING_ROWS = True
# Dropout on CPU draws its masks through training/cpu_dropout.py; a switch for comparisons, not a setting.
CPU_DROPOUT = True
_SYNC_EVERY = 32  # micro-batches between host reads of the losses (each read waits for the device)


def _n_tokens(f: dict[str, Any]) -> int:
    ids = f["input_ids"]
    return sum(len(x) for x in ids) if ids and isinstance(ids[0], list) else len(ids)


def build_optimizer(model: Any, settings: dict[str, Any], exclude: Any = None) -> torch.optim.Optimizer:
    """AdamW, weight decay on matrices only, with torch's fused kernel where the parameters' device has one (CUDA; CPU
    since torch 2.4): one pass over all parameters instead of a Python loop per tensor. Falls back to the foreach kernel.

    Measured on this project's 2-core CPU with e5-small's 117M parameters (benchmarks/RESULTS.md): the per-tensor loop
    3.2 s per step, foreach 3.1 s, fused 0.24 s. `exclude`: a parameter another optimizer steps (LazyRowAdamW).
    """
    trained = [p for p in model.parameters() if p.requires_grad and p is not exclude]
    decay = [p for p in trained if p.ndim >= 2]
    no_decay = [p for p in trained if p.ndim < 2]
    groups = [
        {"params": decay, "weight_decay": float(settings["weight_decay"])},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    lr, eps = float(settings["learning_rate"]), float(settings["adam_epsilon"])
    try:
        return torch.optim.AdamW(groups, lr=lr, eps=eps, fused=True)
    except (RuntimeError, ValueError, TypeError):  # a device or dtype without a fused kernel
        return torch.optim.AdamW(groups, lr=lr, eps=eps, foreach=True)


class _EmbeddingIntoGrad(torch.autograd.Function):
    """Word-embedding lookup whose backward adds the used rows' gradients straight into a persistent `.grad` buffer.

    The autograd default allocates a fresh vocabulary-sized zero tensor every step (384 MB for e5-small's 250k x 384
    embeddings); on CPU each such allocation is mmapped afresh and page-faulted in, which cost more than the fused
    optimizer step. The values are identical: the same rows are added in the same order (tests/test_train_perf.py compares
    them with autograd's gradient bit for bit). Not used under DDP, whose reducer hooks the normal gradient path.
    """

    @staticmethod
    def forward(
        ctx: Any, ids: torch.Tensor, weight: torch.Tensor, padding_idx: int | None, holder: dict
    ) -> torch.Tensor:
        ctx.save_for_backward(ids)
        ctx.weight, ctx.padding_idx, ctx.holder = weight, padding_idx, holder
        return torch.nn.functional.embedding(ids, weight, padding_idx)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor):
        (ids,) = ctx.saved_tensors
        weight = ctx.weight
        flat, rows = ids.reshape(-1), grad.reshape(-1, grad.shape[-1]).to(weight.dtype)
        if ctx.padding_idx is not None:  # as nn.Embedding: the padding row gets no gradient
            keep = flat != ctx.padding_idx
            flat, rows = flat[keep], rows[keep]
        if weight.grad is None:  # first micro-batch after zero_grad(set_to_none=True): reuse the mapped buffer
            weight.grad = ctx.holder["buffer"].zero_()
            weight.grad.index_put_((flat,), rows, accumulate=True)
        else:  # accumulation: sum this micro-batch's rows first, then add, as autograd's `grad += new` does
            used, where = torch.unique(flat, return_inverse=True)
            summed = rows.new_zeros((len(used), rows.shape[-1])).index_put_((where,), rows, accumulate=True)
            weight.grad.index_put_((used,), summed, accumulate=True)
        return None, None, None, None


def grad_into_buffer(embedding: torch.nn.Embedding) -> Callable[[], None]:
    """Route `embedding`'s backward through `_EmbeddingIntoGrad`; returns the function that undoes it."""
    holder = {"buffer": torch.zeros_like(embedding.weight)}
    plain = embedding.forward

    def forward(ids: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and embedding.weight.requires_grad:
            return _EmbeddingIntoGrad.apply(ids, embedding.weight, embedding.padding_idx, holder)
        return plain(ids)

    restore = swap_forward(embedding, forward)

    def undo() -> None:
        restore()
        holder.clear()

    return undo


def _lazy_rows(model: Any, embedding: Any, settings: dict[str, Any]) -> LazyRowAdamW | None:
    """The word embeddings' AdamW stepping only the rows ever used (the same result; lazy_rows.py), where it applies."""
    if not (LAZY_EMBEDDING_ROWS and lazy_rows_apply(model, embedding)):
        return None
    return LazyRowAdamW(embedding, float(settings["weight_decay"]), float(settings["adam_epsilon"]))


def _own_embedding_backward(lazy: LazyRowAdamW | None, embedding: Any) -> Callable[[], None] | None:
    """Install the lazy rows' lookup, or else the dense gradient into a reused buffer (e.g. an embedding tied to a
    masked-LM head); returns the function that undoes it (None: the plain lookup stays)."""
    if lazy is not None:
        lazy.install()
        return lazy.uninstall
    return grad_into_buffer(embedding) if plain_embedding(embedding) else None


def _prefetch_depth(settings: dict[str, Any], on_cpu: bool) -> int:
    """Micro-batches collated ahead. Auto: 2 on accelerators; 0 on CPU, where the same cores would collate and compute
    (an extra thread against OpenMP's 2 threads measured slower there: scripts/gpu_check.py --cpu)."""
    depth = settings.get("prefetch_batches")
    return int((0 if on_cpu else 2) if depth is None else depth)


class Prefetcher:
    """Runs an iterator in a background thread, keeping up to `depth` items ready, so that collation (and pinning) of the
    next micro-batches overlaps the current step. The items and their order are those of the iterator: deterministic."""

    _END = object()

    def __init__(self, items: Iterator[Any], depth: int):
        self._q: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(items,), daemon=True, name="xstilts-prefetch")
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, items: Iterator[Any]) -> None:
        try:
            for item in items:
                if not self._put(item):
                    return
            self._put(self._END)
        except BaseException as e:  # handed to the consumer, raised there
            self._put(e)

    def __iter__(self) -> Prefetcher:
        return self

    def __next__(self) -> Any:
        item = self._q.get()
        if item is self._END:
            raise StopIteration
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        """Stop the background thread collating ahead and wait (up to 5 s) for it to end."""
        self._stop.set()
        self._thread.join(timeout=5)


def train(
    model: Any,
    tasks: list[TrainTask],
    collate: Collator,
    settings: dict[str, Any],
    seed: int,
    sampler: str = "proportional",
    temperature: float = 2.0,
    accelerator: Any = None,
    progress: bool = True,
    log_with: str | None = None,
    log_dir: str | None = None,
    run_name: str = "xstilts",
    auxiliary: Callable[[], torch.Tensor] | None = None,
) -> TrainResult:
    """Train `model` (a MultiTaskModel) on one or several tasks; restores the best dev checkpoint at the end.

    Steps: total micro-batches = epochs x the sum of each task's batches per epoch (or max_steps optimizer steps); each
    micro-batch's task is drawn from the sampler; the optimizer steps every `grad_accumulation` micro-batches.

    Several processes (`accelerate launch`): every process draws the same global micro-batches and trains on its share,
    and the learning rate follows the single-process schedule (one scheduler step per optimizer step), so N processes train
    as one process with the same global batch would. Raises TrainingDiverged when a loss is NaN or infinite.

    `auxiliary`: a loss added to every micro-batch's (continual alignment: a weighted alignment batch).
    """
    from accelerate import Accelerator, DistributedDataParallelKwargs
    from transformers import get_linear_schedule_with_warmup

    set_seed(seed)
    rng = np.random.default_rng(seed)
    accum = int(settings["grad_accumulation"])
    # Several tasks: each micro-batch trains one task's head, so under DDP the other heads (and the pooler, for a head
    # that does not read it) have no gradient in it, which DDP must be told to expect.
    ddp = DistributedDataParallelKwargs(find_unused_parameters=len(tasks) > 1)
    accelerator = accelerator or Accelerator(
        kwargs_handlers=[ddp],
        gradient_accumulation_steps=accum,
        cpu=not torch.cuda.is_available(),
        mixed_precision=resolve_precision(settings.get("mixed_precision", "auto")),
        log_with=log_with,
        project_dir=log_dir,
    )
    if log_with:  # tensorboard / wandb / mlflow through accelerate's trackers
        accelerator.init_trackers(
            run_name, config={k: v for k, v in settings.items() if isinstance(v, (int, float, str, bool))}
        )
    streams = [TaskStream(t.feats, int(settings["batch_size"]), rng) for t in tasks]
    probs = task_probabilities([len(t.feats) for t in tasks], sampler, temperature)
    draw = TaskSampler(probs, rng)
    per_epoch = sum(s.batches_per_epoch for s in streams)
    if settings.get("max_steps"):
        total_micro = int(settings["max_steps"]) * accum
    else:
        total_micro = max(accum, int(math.ceil(float(settings["num_epochs"]) * per_epoch)))
    total_steps = total_micro // accum
    world, rank = accelerator.num_processes, accelerator.process_index
    device = accelerator.device

    trainable = prepare_trainable(model, [t.name for t in tasks], settings)  # what trains: training/trainable.py
    model.to(device)
    if settings.get("compile"):
        model.encoder.compile(dynamic=True)  # in place: parameter names (and saved checkpoints) stay as they are
    params = [p for p in model.parameters() if p.requires_grad]
    on_cpu = device.type == "cpu"
    embedding = model.encoder.get_input_embeddings()
    cpu_eager = on_cpu and not settings.get("compile")  # where the loop may swap a module's forward for its own
    # CPU, one process, no compile: the embedding's backward may be replaced (the same gradient rows)
    own_backward = cpu_eager and world == 1
    lazy = _lazy_rows(model, embedding, settings) if own_backward else None  # the used rows' AdamW (lazy_rows.py)
    optimizer = build_optimizer(model, settings, exclude=lazy.weight if lazy else None)
    # The scheduler is NOT given to accelerator.prepare: accelerate's wrapper steps it once per process per optimizer
    # step, which with N processes ends the schedule after 1/N of training. It is stepped here once per optimizer step.
    scheduler = get_linear_schedule_with_warmup(
        optimizer, int(float(settings["warmup_ratio"]) * total_steps), max(1, total_steps)
    )
    model, optimizer = accelerator.prepare(model, optimizer)
    undo_embedding = _own_embedding_backward(lazy, embedding) if own_backward else None
    pin = device.type == "cuda"
    max_norm = float(settings["max_grad_norm"])

    def micro_batches() -> Iterator[tuple[int, int, int, float, dict[str, Any]]]:
        """(task index, global examples, global tokens, loss weight, this process's collated batch) per micro-batch."""
        for _ in range(total_micro):
            k = draw.next()
            feats = streams[k].next()
            n, tokens, weight = len(feats), sum(_n_tokens(f) for f in feats), 1.0
            if world > 1:  # data parallel: each process takes its share of the global batch
                share = feats[rank::world]
                # DDP averages gradients over processes; weighting by the share's size makes that the global batch's
                # mean for per-example mean losses (exactly one process's loss when the shares are equal).
                weight = len(share) * world / n
                if not share:  # fewer examples than processes: a zero-weight row keeps the collectives in step
                    share, weight = feats[:1], 0.0
                feats = share
            batch = (tasks[k].collate or collate)(feats)
            if pin:
                batch = {key: (v.pin_memory() if isinstance(v, torch.Tensor) else v) for key, v in batch.items()}
            yield k, n, tokens, weight, batch

    depth = _prefetch_depth(settings, on_cpu)
    batches: Any = Prefetcher(micro_batches(), depth) if depth > 0 else micro_batches()

    # restore_best_dev False (intermediate phases, as jiant's guide command): dev is scored for the record only; no
    # early stop, no snapshot, the last weights are the phase's output.
    restore_best = bool(settings.get("restore_best_dev", True))
    result = TrainResult(
        task_batches={t.name: 0 for t in tasks},
        is_main=accelerator.is_main_process,
        num_processes=world,
        carried_weights="best_dev" if restore_best else "last",
    )
    eval_every = int(settings["eval_every_steps"])
    patience = int(settings["early_stopping_patience"])
    best_state: dict[str, torch.Tensor] | None = None
    bad_evals = 0
    t0 = time.time()
    bar = tqdm(
        total=total_steps,
        desc="train " + "+".join(t.name for t in tasks),
        disable=not progress or not result.is_main,
        leave=False,
    )
    pending: list[tuple[int, int, torch.Tensor]] = []  # (micro index, task index, detached loss) not yet read

    def flush() -> None:
        """Read the pending losses in one transfer; raise TrainingDiverged at the first non-finite one."""
        if not pending:
            return
        values = torch.stack([loss for _, _, loss in pending]).float()
        if world > 1:  # every process stops together, and the recorded loss is the global batch's
            values = accelerator.gather(values[None]).view(world, -1).sum(0) / world
        host = values.cpu().tolist()
        for (micro, k, _), v in zip(pending, host, strict=False):
            if not math.isfinite(v):
                raise TrainingDiverged(micro // accum + 1, tasks[k].name, v)
        first = len(result.losses)
        result.losses.extend(host)
        pending.clear()
        if log_with:
            for i in range(first, len(result.losses)):
                if (i + 1) % accum == 0:
                    step = (i + 1) // accum
                    accelerator.log(
                        {"train/loss": result.losses[i], "train/lr": result.learning_rates[step - 1]}, step=step
                    )
        bar.set_postfix(loss=f"{host[-1]:.3f}", ex_s=f"{result.examples / max(time.time() - t0, 1e-9):.1f}")

    def evaluate(step: int, final: bool = False) -> bool:
        """Dev evaluation; returns True when early stopping should end training. `final`: no training follows, so a
        new best needs no snapshot (the model already holds those weights; saves two copies of every weight)."""
        nonlocal best_state, bad_evals
        flush()  # a diverged model is never evaluated
        if lazy is not None:
            lazy.materialize()  # the inactive rows' pending weight decay, before anything reads the weights
        t_eval = time.time()
        scored = {t.name: t.evaluate() for t in tasks if t.evaluate is not None}
        result.eval_seconds += time.time() - t_eval
        if not scored:
            return False
        score = float(np.mean([_main_metric(m) for m in scored.values()]))
        result.history.append({"step": step, "score": score, "metrics": scored})
        if log_with:
            accelerator.log({f"dev/{t}/{k}": v for t, m in scored.items() for k, v in m.items()}, step=step)
        if not restore_best:
            result.dev_metrics = scored  # the carried weights are the last ones: their metrics
            if result.best_score is None or score > result.best_score:
                result.best_score, result.best_step = score, step
            model.train()
            return False
        if result.best_score is None or score > result.best_score:
            result.best_score, result.best_step, result.dev_metrics = score, step, scored
            best_state = (
                None
                if final
                else {
                    k: v.detach().to("cpu", copy=True) for k, v in accelerator.unwrap_model(model).state_dict().items()
                }
            )
            bad_evals = 0
        else:
            bad_evals += 1
        model.train()
        return bad_evals >= patience

    model.train()
    stopped = False
    # CPU dropout masks from 23 random bits per element instead of bernoulli_ (training/cpu_dropout.py)
    undo_dropout = install_cpu_dropout(model) if cpu_eager and CPU_DROPOUT else None
    try:
        for micro, (k, n, tokens, weight, batch) in enumerate(batches):
            batch = {
                key: (v.to(device, non_blocking=pin) if isinstance(v, torch.Tensor) else v) for key, v in batch.items()
            }
            with accelerator.accumulate(model):
                loss = model(tasks[k].name, batch)["loss"]
                if weight != 1.0:
                    loss = loss * weight
                if auxiliary is not None:
                    loss = loss + auxiliary()
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    coef = None
                    if on_cpu and world == 1:
                        coef = _clip_exact(params, max_norm, lazy.grad_norm() if lazy else None)
                    else:
                        accelerator.clip_grad_norm_(params, max_norm)
                    result.learning_rates.append(float(optimizer.param_groups[0]["lr"]))
                    optimizer.step()
                    if lazy is not None:
                        lazy.step(result.learning_rates[-1], coef)
                    if not getattr(optimizer, "step_was_skipped", False):  # fp16: a skipped step keeps its LR
                        scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
            pending.append((micro, k, loss.detach()))
            result.task_batches[tasks[k].name] += 1
            result.micro_batches += 1
            result.examples += n
            result.tokens += tokens
            if len(pending) >= _SYNC_EVERY:
                flush()
            if accelerator.sync_gradients:
                result.optimizer_steps += 1
                bar.update(1)
                if result.optimizer_steps % eval_every == 0 and evaluate(result.optimizer_steps):
                    stopped = True
                    break
        flush()
        bar.close()
        if not stopped and (not result.history or result.history[-1]["step"] != result.optimizer_steps):
            evaluate(result.optimizer_steps, final=True)
    finally:
        if isinstance(batches, Prefetcher):
            batches.close()
        if undo_embedding is not None:
            undo_embedding()
        if undo_dropout is not None:
            undo_dropout()
    if best_state is not None:  # an earlier evaluation was the best: back to its weights
        accelerator.unwrap_model(model).load_state_dict(best_state)
    result.trainable = trainable.finish()  # a LoRA update merged into the encoder (and kept as an adapter if asked)
    result.seconds = time.time() - t0
    result.task_proportions = {
        t.name: {"configured": float(p), "observed": result.task_batches[t.name] / max(1, result.micro_batches)}
        for t, p in zip(tasks, probs, strict=False)
    }
    if log_with:
        accelerator.end_training()
    return result


def _clip_exact(
    params: list[torch.Tensor], max_norm: float, extra_norm: torch.Tensor | None = None
) -> torch.Tensor | None:
    """torch's clip_grad_norm_ without its multiply when the clip factor is 1 (x * 1.0 == x exactly): on CPU that
    skips a read and write of every gradient on most steps. On accelerators the host check would cost a sync instead.

    extra_norm: the norm of gradients held elsewhere (LazyRowAdamW's rows), counted in the total. Returns the clip
    factor the caller applies to those (None: no clipping)."""
    grads = [p.grad for p in params if p.grad is not None]
    norms = ([torch.nn.utils.get_total_norm(grads)] if grads else []) + ([extra_norm] if extra_norm is not None else [])
    if not norms:
        return None
    total = norms[0] if len(norms) == 1 else torch.linalg.vector_norm(torch.stack(norms))
    coef = max_norm / (total + 1e-6)  # the same float32 factor clip_grads_with_norm_ computes
    if float(coef) >= 1.0:
        return None
    torch.nn.utils.clip_grads_with_norm_(params, max_norm, total)
    return coef
