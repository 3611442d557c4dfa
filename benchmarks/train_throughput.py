#!/usr/bin/env python3
"""Training throughput of xstilts' loop against Hugging Face `Trainer`, measured in one process on the same data.

Same model, same data (the demo's demo_wn_entail: 2,000 English sentence pairs, 3 labels), batch 32, max length 128,
1 epoch, lr 5e-5, warmup 10%, weight decay 0.01, clip 1.0, every weight trained (no frozen embeddings):
  xstilts            `xstilts.training.loop.train` (the code path of `xstilts train` / run_phase)
  xstilts, dense     the same with the word embeddings stepped by dense AdamW (ablation of training/lazy_rows.py)
  xstilts, torch dropout   the same with torch's dropout masks (ablation of training/cpu_dropout.py)
  xstilts, full last layer the same with the last layer computed for every position (ablation of
                     modeling/first_position.py: the classification head reads position 0 only)
  Trainer+grouped    `Trainer` with group_by_length=True (its default fused AdamW)
  Trainer            `Trainer` with plain dynamic padding (DataCollatorWithPadding, random batches)
on the embedded multilingual-e5-small (12 layers, 117M parameters of which 96M word embeddings) and the embedded
English MiniLM (6 layers). Throughput counts training time only (xstilts' dev evaluations are timed separately and
subtracted; Trainer evaluates after training). Dev accuracy (300 examples, 3 balanced classes) is printed next to it.

MFU: achieved FLOP/s = 6 x non-embedding parameters x non-padding training tokens / training seconds (the usual
approximation; an embedding lookup costs no matmul FLOPs, padding tokens are not counted), against the matmul peak
measured here with a large float32 torch.matmul (and the bf16 peak of the GPU when there is one). As MFU is defined,
the FLOPs are the full model's for every run: xstilts' last layer skips 10/12 of that layer's work for the
classification head (modeling/first_position.py; 14% of MiniLM's 6 layers, 7% of e5's 12), so the FLOP/s its hardware
actually executes are lower than its MFU by that share.

    python benchmarks/train_throughput.py [--quick | --examples N] [--models e5,minilm] [--repeats 3]

Each configuration runs --repeats times, round robin, and the median is reported with every repeat's figure (this
2-core machine's speed varies by 5-15% from one minute to the next; one run each can misstate a ratio by that much).
Repeat r trains with seed r in every configuration (the head's initialization, the batch order and the dropout masks),
so the dev accuracy printed is the mean over the repeats' seeds with each seed's figure: one seed's accuracy moves by
a point or more with the random stream alone (the ablation rows differ only in it), which one run cannot tell from a
real difference.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from functools import partial
from typing import Any

import numpy as np
import torch

from xstilts.data.load import load_examples
from xstilts.defaults import phase_defaults
from xstilts.evaluation.task_eval import dev_evaluator
from xstilts.families.featurize import Collator
from xstilts.families.table import featurize
from xstilts.modeling import first_position
from xstilts.modeling.embedded import ensure_embedded_model, resolve_model_path
from xstilts.modeling.model import HeadSpec, MultiTaskModel, load_encoder
from xstilts.tasks import get_task
from xstilts.training import loop
from xstilts.training.loop import TrainTask, train

TASK = "demo_wn_entail"
COMMON = {
    "learning_rate": 5e-5,
    "batch_size": 32,
    "grad_accumulation": 1,
    "num_epochs": 1.0,
    "max_seq_length": 128,
    "warmup_ratio": 0.1,
    "weight_decay": 0.01,
    "max_grad_norm": 1.0,
    "adam_epsilon": 1e-8,
    "eval_every_steps": 1_000_000,
    "freeze_embeddings": False,
}


def machine() -> str:
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{platform.processor() or platform.machine()} CPU, {os.cpu_count()} cores, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), load average {load:.1f}"
    )


def matmul_peak(device: torch.device, dtype: torch.dtype = torch.float32, n: int = 2048, reps: int = 5) -> float:
    """Measured FLOP/s of a large square matmul on `device` (the best of `reps`)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    best = float("inf")
    for _ in range(reps + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def non_embedding_params(model: torch.nn.Module, encoder: torch.nn.Module) -> int:
    emb = encoder.get_input_embeddings().weight
    return sum(p.numel() for p in model.parameters() if p.requires_grad and p is not emb)


def run_xstilts(
    model_dir: str,
    train_ex: list,
    dev_ex: list,
    lazy: bool = True,
    cpu_dropout: bool = True,
    first_position_only: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """lazy=False: the word embeddings stepped by dense AdamW (the ablation of training/lazy_rows.py); cpu_dropout=False:
    torch's own dropout (the ablation of training/cpu_dropout.py); first_position_only=False: the last layer computed
    for every position (the ablation of modeling/first_position.py)."""
    loop.LAZY_EMBEDDING_ROWS, loop.CPU_DROPOUT, first_position.ENABLED = lazy, cpu_dropout, first_position_only
    task = get_task(TASK)
    torch.manual_seed(seed)
    enc, tok = load_encoder(model_dir)
    model = MultiTaskModel(enc, {TASK: HeadSpec(TASK, task.family, task.labels)})
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    settings = {**phase_defaults("target"), **COMMON}
    feats = featurize(task.family, train_ex, tok, task.labels, settings, train=True)
    evaluate = dev_evaluator(model, tok, task, dev_ex, settings, device)
    res = train(
        model,
        [TrainTask(TASK, feats, evaluate=evaluate)],
        Collator(pad_id=tok.pad_token_id),
        settings,
        seed=seed,
        progress=False,
    )
    seconds = res.seconds - res.eval_seconds
    return {
        "seconds": seconds,
        "examples": res.examples,
        "tokens": res.tokens,
        "steps": res.optimizer_steps,
        "dev_accuracy": res.history[-1]["metrics"][TASK]["accuracy"],
        "params": non_embedding_params(model, model.encoder),
    }


class _ListDataset(torch.utils.data.Dataset):
    def __init__(self, rows: list[dict[str, Any]]):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.rows[i]


def run_trainer(
    model_dir: str, train_ex: list, dev_ex: list, group_by_length: bool, out: str, seed: int = 0
) -> dict[str, Any]:
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    task = get_task(TASK)
    label_ix = {l: i for i, l in enumerate(task.labels)}
    tok = AutoTokenizer.from_pretrained(model_dir)

    def rows(examples: list) -> list[dict[str, Any]]:
        enc = tok(
            [e.text_a for e in examples],
            [e.text_b for e in examples],
            truncation="longest_first",
            max_length=COMMON["max_seq_length"],
        )
        return [
            {**{k: enc[k][i] for k in enc.keys()}, "labels": label_ix[str(e.label)]} for i, e in enumerate(examples)
        ]

    train_rows, dev_rows = rows(train_ex), rows(dev_ex)
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_pretrained(
        model_dir, num_labels=len(task.labels), use_safetensors=True
    )
    args = TrainingArguments(
        output_dir=out,
        per_device_train_batch_size=COMMON["batch_size"],
        per_device_eval_batch_size=64,
        num_train_epochs=COMMON["num_epochs"],
        learning_rate=COMMON["learning_rate"],
        warmup_steps=COMMON["warmup_ratio"],
        weight_decay=COMMON["weight_decay"],
        max_grad_norm=COMMON["max_grad_norm"],
        adam_epsilon=COMMON["adam_epsilon"],
        seed=seed,
        data_seed=seed,
        train_sampling_strategy="group_by_length" if group_by_length else "random",
        report_to=[],
        save_strategy="no",
        eval_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
        use_cpu=not torch.cuda.is_available(),
        bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
        dataloader_num_workers=0,
    )
    trainer = Trainer(
        model=model, args=args, train_dataset=_ListDataset(train_rows), data_collator=DataCollatorWithPadding(tok)
    )
    metrics = trainer.train().metrics
    pred = trainer.predict(_ListDataset(dev_rows))
    acc = 100.0 * float(np.mean(np.argmax(pred.predictions, -1) == pred.label_ids))
    emb = model.get_input_embeddings().weight
    params = sum(p.numel() for p in model.parameters() if p.requires_grad and p is not emb)
    return {
        "seconds": float(metrics["train_runtime"]),
        "examples": len(train_rows),
        "tokens": sum(len(r["input_ids"]) for r in train_rows),
        "steps": trainer.state.global_step,
        "dev_accuracy": acc,
        "params": params,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="400 training examples (a smoke run)")
    ap.add_argument("--examples", type=int, default=None, help="training examples (default 2000; --quick 400)")
    ap.add_argument("--models", default="e5,minilm")
    ap.add_argument("--repeats", type=int, default=3, help="runs of each configuration, round robin (default 3)")
    args = ap.parse_args()
    import tempfile

    task = get_task(TASK)
    train_ex = load_examples(task, "train", "en")[: args.examples or (400 if args.quick else 2000)]
    dev_ex = load_examples(task, "dev", "en")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    peak = matmul_peak(device)
    print(f"machine: {machine()}")
    print(f"measured float32 matmul peak: {peak / 1e9:.1f} GFLOP/s")
    peak_bf16 = matmul_peak(device, torch.bfloat16, n=8192) if device.type == "cuda" else None
    if peak_bf16:
        print(f"measured bf16 matmul peak: {peak_bf16 / 1e12:.1f} TFLOP/s")
    models = {
        "e5": ("multilingual-e5-small (embedded)", lambda: str(ensure_embedded_model())),
        "minilm": ("MiniLM (embedded-english)", lambda: resolve_model_path("embedded-english")),
    }
    work = tempfile.mkdtemp(prefix="xstilts-throughput-")
    print(
        f"data: {TASK}, {len(train_ex)} train pairs, {len(dev_ex)} dev; batch 32, max length 128, 1 epoch, "
        "lr 5e-5, all weights trained"
    )
    for key in args.models.split(","):
        name, path_of = models[key]
        path = path_of()
        run_xstilts(path, train_ex[:64], dev_ex[:32])  # warm-up: library loading, allocator, kernels
        configs = {
            "xstilts": partial(run_xstilts, path, train_ex, dev_ex),
            "xstilts, dense embedding AdamW": partial(run_xstilts, path, train_ex, dev_ex, lazy=False),
            "xstilts, torch dropout": partial(run_xstilts, path, train_ex, dev_ex, cpu_dropout=False),
            "xstilts, full last layer": partial(run_xstilts, path, train_ex, dev_ex, first_position_only=False),
            "Trainer+group_by_length": partial(run_trainer, path, train_ex, dev_ex, True, f"{work}/{key}-g"),
            "Trainer": partial(run_trainer, path, train_ex, dev_ex, False, f"{work}/{key}-p"),
        }
        # round robin: a slow spell of the machine hits every configuration alike; the median of the repeats is reported
        runs: dict[str, list[dict[str, Any]]] = {label: [] for label in configs}
        for rep in range(args.repeats):
            for label, run in configs.items():
                runs[label].append(run(seed=rep))
        rates = {label: [r["examples"] / r["seconds"] for r in rs] for label, rs in runs.items()}
        med = {label: float(np.median(rate)) for label, rate in rates.items()}
        print(f"\n{name}: non-embedding parameters {runs['xstilts'][0]['params'] / 1e6:.1f}M; median of {args.repeats}")
        print(
            f"  {'run':31s} {'ex/s':>7s} {'tokens/s':>9s} {'steps':>5s} {'dev acc':>7s} {'MFU':>7s}  xstilts is"
            "   (each repeat's ex/s; each seed's dev acc)"
        )
        for label, rs in runs.items():
            r = rs[0]
            ex_s = med[label]
            tok_s = ex_s * r["tokens"] / r["examples"]
            mfu = 6 * r["params"] * tok_s / peak
            extra = f" ({6 * r['params'] * tok_s / peak_bf16:.1%} of bf16)" if peak_bf16 else ""
            each = ", ".join(f"{x:.1f}" for x in rates[label])
            dev = [x["dev_accuracy"] for x in rs]
            print(
                f"  {label:31s} {ex_s:7.1f} {tok_s:9.0f} {r['steps']:5d} {np.mean(dev):7.1f} {mfu:7.1%}"
                f"  {med['xstilts'] / ex_s:.2f}x{extra}   ({each}; {', '.join(f'{x:.1f}' for x in dev)})"
            )


if __name__ == "__main__":
    main()
