#!/usr/bin/env python3
"""LoRA against full fine-tuning (`finetune: lora`, training/trainable.py), both phases, in one process.

The demo's model (the embedded multilingual-e5-small pruned to the demo vocabulary, 4 layers) and the demo's budgets
(experiments/demo.yaml: frozen word embeddings in the full runs) train an intermediate phase (demo_wn_entail) and then
the demo_topic target, and the target is evaluated zero-shot on demo_topic's test sets in every non-English language
of the demo. Two modes per seed, round robin:
  full   every encoder weight but the word embeddings (the demo's recipe), learning rates 1e-4 / 2e-4
  lora   rank 8 on query and value (alpha 16, dropout 0.1), heads and pooler fully; `lora_store: adapter`;
         learning rates x10 (1e-3 / 2e-3: LoRA's updates start at zero and need larger steps, Hu et al. 2021 use
         4e-4 to 5e-4 against full fine-tuning's 1e-5 to 3e-5 on RoBERTa)
Printed per mode: training examples/s (dev evaluation time excluded), the peak resident memory a phase adds (sampled
every 5 ms on CPU: memory freed by an earlier phase and reused without growing the process understates it; on CUDA
max_memory_allocated), the exact gradient + AdamW state of the trained weights (12 bytes each), the bytes of each checkpoint's weights (encoder or adapter, and heads), and the zero-shot score; then
the ratios lora / full and the score difference lora - full with a 95% bootstrap interval over the (language, seed)
pairs (xstilts.analysis.stats.bootstrap_ci, as the report's). Offline smoke-scale numbers, not XTREME results.

    python benchmarks/lora.py [--seeds 3] [--examples 300]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any

import torch

from xstilts.analysis.stats import bootstrap_ci
from xstilts.evaluation.task_eval import dev_evaluator
from xstilts.evaluation.zero_shot import evaluate_target
from xstilts.experiments.run import resolve_model
from xstilts.experiments.spec import load_spec
from xstilts.tasks import get_task
from xstilts.training.phase import PhaseConfig
from xstilts.training.phase import run_phase as _run_phase

run_phase = partial(_run_phase, dev_scorer=dev_evaluator)
DEMO = Path(__file__).resolve().parents[1] / "src" / "xstilts" / "experiments" / "demo.yaml"
INTERMEDIATE, TARGET = "demo_wn_entail", "demo_topic"
LORA = {"finetune": "lora", "lora_store": "adapter"}


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """The peak resident set size above the level at entry, sampled in a thread (CPU; CUDA: max_memory_allocated)."""

    def __enter__(self) -> PeakMemory:
        self.cuda = torch.cuda.is_available()
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
        else:
            self.base = self.peak = rss()
            self.stop = threading.Event()
            self.thread = threading.Thread(target=self._sample, daemon=True)
            self.thread.start()
        return self

    def _sample(self) -> None:
        while not self.stop.wait(0.005):
            self.peak = max(self.peak, rss())

    def __exit__(self, *exc: Any) -> None:
        if self.cuda:
            self.added = torch.cuda.max_memory_allocated() - self.base
        else:
            self.stop.set()
            self.thread.join()
            self.added = max(self.peak, rss()) - self.base


def weight_bytes(ckpt: Path) -> int:
    return sum(p.stat().st_size for p in ckpt.rglob("*.safetensors"))


def phase(kind: str, task: str, start: str, seed: int, settings: dict, out: Path) -> dict[str, Any]:
    with PeakMemory() as mem:
        run_phase(PhaseConfig(kind, [task], start, seed=seed, settings=settings), out, progress=False)
    record = json.loads((out / "phase.json").read_text())["train"]
    return {
        "examples_s": record["examples"] / max(1e-9, record["seconds"] - record["eval_seconds"]),
        "memory": mem.added,
        "bytes": weight_bytes(out),
        "trained": record["trainable"]["trained_parameters"],
        "state": 12 * record["trainable"]["trained_parameters"],  # fp32 gradient and AdamW's two moments per weight
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--examples", type=int, default=300, help="training examples per phase")
    args = ap.parse_args()
    spec = load_spec(DEMO)
    work = Path(tempfile.mkdtemp(prefix="xstilts-bench-lora-"))
    model = resolve_model(spec.models[0], spec, work)
    demo = spec.hyperparameters
    inter = {**demo["intermediate"], "max_train_examples": args.examples}
    target = {**demo["target"], "max_train_examples": args.examples}
    modes = {
        "full": (inter, target),
        "lora": (
            {**inter, **LORA, "learning_rate": 10 * inter["learning_rate"]},
            {**target, **LORA, "learning_rate": 10 * target["learning_rate"]},
        ),
    }
    task = get_task(TARGET)
    languages = [lang for lang in spec.target_languages(TARGET) if lang != "en"]
    eval_settings = {"max_seq_length": target["max_seq_length"], "max_eval_examples": target["max_eval_examples"]}
    run_phase(PhaseConfig("target", [TARGET], model, settings={**target, "max_train_examples": 32}), work / "warmup")
    got: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    t0 = time.time()
    for seed in range(args.seeds):
        for mode, (hp_inter, hp_target) in modes.items():
            d = work / f"{mode}-s{seed}"
            a = phase("intermediate", INTERMEDIATE, model, seed, hp_inter, d / "inter")
            b = phase("target", TARGET, str(d / "inter"), seed, hp_target, d / "target")
            rows = evaluate_target(
                str(d / "target"), task, languages, ["test"], d / "eval", settings=eval_settings, progress=False
            )
            scores = {r["language"]: r["value"] for r in rows if r["metric"] == "score"}
            got[mode].append({"inter": a, "target": b, "scores": scores})
            print(
                f"seed {seed} {mode}: intermediate {a['examples_s']:.1f} ex/s, target {b['examples_s']:.1f} ex/s, "
                f"zero-shot {statistics.mean(scores.values()):.2f}",
                flush=True,
            )
    print(f"\n{args.seeds} seeds, {args.examples} training examples per phase, {time.time() - t0:.0f} s; model {model}")
    med = lambda mode, ph, key: statistics.median(r[ph][key] for r in got[mode])  # noqa: E731
    print(f"{'':28}{'full':>12}{'lora':>12}{'lora/full':>11}")
    for ph in ("inter", "target"):
        for key, label, fmt in (
            ("examples_s", "examples/s", "{:.1f}"),
            ("memory", "peak memory added, MB", "{:.0f}"),
            ("bytes", "checkpoint weights, MB", "{:.2f}"),
            ("trained", "trained parameters, M", "{:.3f}"),
            ("state", "grad + AdamW state, MB", "{:.1f}"),
        ):
            f, lo = med("full", ph, key), med("lora", ph, key)
            scale = 1e6 if key in ("memory", "bytes", "trained", "state") else 1
            name = f"{'intermediate' if ph == 'inter' else 'target'} {label}"
            print(
                f"{name:28}{fmt.format(f / scale):>12}{fmt.format(lo / scale):>12}{lo / f if f else float('nan'):>10.3f}x"
            )
    diffs = [
        lo["scores"][lang] - fu["scores"][lang]
        for fu, lo in zip(got["full"], got["lora"], strict=True)
        for lang in languages
    ]
    low, high = bootstrap_ci(diffs)
    full_mean = statistics.mean(v for r in got["full"] for v in r["scores"].values())
    lora_mean = statistics.mean(v for r in got["lora"] for v in r["scores"].values())
    print(
        f"zero-shot {TARGET} ({len(languages)} languages x {args.seeds} seeds): full {full_mean:.2f}, lora {lora_mean:.2f}; "
        f"lora - full {statistics.mean(diffs):+.2f} (95% bootstrap interval {low:+.2f} to {high:+.2f})"
    )


if __name__ == "__main__":
    main()
