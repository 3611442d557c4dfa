#!/usr/bin/env python3
"""What makes the offline demo fit in 10 minutes on 2 CPU cores, measured as ratios in one process.

Trains the demo_topic target phase on the embedded encoder (pruned to the demo vocabulary, 4 layers) three ways and
prints seconds and the ratio against the baseline run in this same process:
  baseline:          word embeddings trained (the X-STILTs recipe trains every encoder weight)
  frozen embeddings: the demo's choice (updating the embedding matrix dominated the CPU time)
  random batches:    frozen embeddings, but batches not grouped by length (more padding)

    python benchmarks/demo_speed.py [--examples 400] [--epochs 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from functools import partial
from pathlib import Path

from xstilts.evaluation.task_eval import dev_evaluator
from xstilts.experiments.run import resolve_model
from xstilts.experiments.spec import load_spec
from xstilts.training import sampling
from xstilts.training.phase import PhaseConfig
from xstilts.training.phase import run_phase as _run_phase

run_phase = partial(_run_phase, dev_scorer=dev_evaluator)

DEMO = Path(__file__).resolve().parents[1] / "src" / "xstilts" / "experiments" / "demo.yaml"


def timed_phase(model: str, settings: dict, out: Path) -> float:
    t0 = time.perf_counter()
    run_phase(PhaseConfig("target", ["demo_topic"], model, settings=settings), out, progress=False)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=400)
    ap.add_argument("--epochs", type=float, default=2)
    args = ap.parse_args()
    spec = load_spec(DEMO)
    work = Path(tempfile.mkdtemp(prefix="xstilts-bench-"))
    model = resolve_model(spec.models[0], spec, work)
    base = {
        "max_train_examples": args.examples,
        "num_epochs": args.epochs,
        "max_seq_length": 128,
        "batch_size": 16,
        "grad_accumulation": 1,
        "learning_rate": 2e-4,
        "eval_every_steps": 10_000,
        "max_dev_examples": 50,
    }
    timed_phase(model, {**base, "max_train_examples": 32}, work / "warmup")
    t_base = timed_phase(model, {**base, "freeze_embeddings": False}, work / "base")
    t_frozen = timed_phase(model, {**base, "freeze_embeddings": True}, work / "frozen")
    grouped = sampling.length_grouped_batches

    def ungrouped(feats, batch_size, rng, group=50):
        order = rng.permutation(len(feats)).tolist()
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]

    sampling.length_grouped_batches = ungrouped
    try:
        t_random = timed_phase(model, {**base, "freeze_embeddings": True}, work / "random")
    finally:
        sampling.length_grouped_batches = grouped
    print(f"demo_topic target phase, {args.examples} examples x {args.epochs} epochs (embedded encoder, 4 layers)")
    print(f"  baseline (embeddings trained)     {t_base:7.2f} s   1.00x")
    print(f"  frozen embeddings                 {t_frozen:7.2f} s   {t_base / t_frozen:.2f}x faster")
    print(f"  frozen, batches not length-grouped {t_random:6.2f} s   {t_base / t_random:.2f}x faster")


if __name__ == "__main__":
    main()
