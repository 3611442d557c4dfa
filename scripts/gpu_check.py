#!/usr/bin/env python3
"""GPU smoke check (run on a CUDA machine): a tiny model's intermediate -> target phases and zero-shot evaluation run on
the GPU with bf16 autocast, the loss falls, and retrieval vectors come back from the GPU. Then training throughput
(examples/s, tokens/s, MFU) of a BERT-base-shaped random encoder with and without the prefetching loader. Prints what it
measured. `--cpu` runs the same on the CPU with a smaller encoder and fewer steps (a smoke run of this script).

    python scripts/gpu_check.py [--cpu]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

CPU = "--cpu" in sys.argv
if CPU:
    os.environ["CUDA_VISIBLE_DEVICES"] = ""  # before torch is imported: nothing sees the GPU

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import make_model_dir  # noqa: E402
from tests.toy_tasks import write_toy_tasks  # noqa: E402
from xstilts.evaluation.task_eval import dev_evaluator  # noqa: E402
from xstilts.evaluation.zero_shot import evaluate_target  # noqa: E402
from xstilts.tasks import get_task, register_task_dir  # noqa: E402
from xstilts.training.loop import resolve_precision  # noqa: E402
from xstilts.training.phase import PhaseConfig  # noqa: E402
from xstilts.training.phase import run_phase as _run_phase  # noqa: E402

run_phase = partial(_run_phase, dev_scorer=dev_evaluator)


def throughput(prefetch: int, layers: int, hidden: int, steps: int, peak: float) -> str:
    """Train a random BERT-shaped encoder on random sequences (16-128 tokens, batch 32) for `steps` optimizer steps."""
    import numpy as np
    from transformers import BertConfig, BertModel

    from xstilts.defaults import phase_defaults
    from xstilts.families.featurize import Collator
    from xstilts.modeling.model import HeadSpec, MultiTaskModel
    from xstilts.training.loop import TrainTask, train

    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=30522,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=hidden // 64,
        intermediate_size=4 * hidden,
    )
    model = MultiTaskModel(BertModel(cfg, add_pooling_layer=False), {"t": HeadSpec("t", "classification", ["a", "b"])})
    rng = np.random.default_rng(0)
    feats = []
    for i in range(32 * steps):
        n = int(rng.integers(16, 129))
        ids = rng.integers(5, cfg.vocab_size, size=n).tolist()
        feats.append({"input_ids": ids, "attention_mask": [1] * n, "labels": i % 2, "meta": {"example": i}})
    settings = {
        **phase_defaults("target"),
        "batch_size": 32,
        "grad_accumulation": 1,
        "max_steps": steps,
        "learning_rate": 5e-5,
        "eval_every_steps": 10**9,
        "prefetch_batches": prefetch,
    }
    res = train(model, [TrainTask("t", feats)], Collator(pad_id=0), settings, seed=0, progress=False)
    secs = res.seconds - res.eval_seconds
    emb = model.encoder.get_input_embeddings().weight
    params = sum(p.numel() for p in model.parameters() if p is not emb)
    mfu = 6 * params * res.tokens / secs / peak
    return (
        f"{res.examples / secs:8.1f} ex/s {res.tokens / secs:9.0f} tokens/s  MFU {mfu:6.1%} "
        f"(6 x {params / 1e6:.1f}M non-embedding params x tokens / measured peak)"
    )


def main() -> None:
    assert CPU or torch.cuda.is_available(), "no CUDA device (use --cpu for a CPU smoke run)"
    print("device:", "cpu" if CPU else torch.cuda.get_device_name(0), "precision:", resolve_precision("auto"))
    root = Path(tempfile.mkdtemp())
    write_toy_tasks(root / "tasks")
    register_task_dir(root / "tasks")
    for kind in ("bert", "xlmr"):
        model = make_model_dir(kind, root)
        settings = {
            "max_steps": 15 if CPU else 60,
            "batch_size": 16,
            "grad_accumulation": 2,
            "max_seq_length": 64,
            "learning_rate": 3e-3,
            "eval_every_steps": 20,
            "warmup_ratio": 0.0,
        }
        t0 = time.time()
        inter = run_phase(
            PhaseConfig("intermediate", ["toy_tag", "toy_span"], str(model), settings=settings),
            root / f"{kind}-inter",
            progress=False,
        )
        target = run_phase(
            PhaseConfig("target", ["toy_target"], str(inter), settings=settings),
            root / f"{kind}-target",
            progress=False,
        )
        import json

        rec = json.loads((target / "phase.json").read_text())
        losses = rec["train"]["losses"]
        first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
        rows = evaluate_target(
            str(target), get_task("toy_target"), ["en", "xx"], ["test"], root / f"{kind}-eval", progress=False
        )
        ret = evaluate_target(
            str(inter), get_task("toy_retrieval"), ["xx"], ["test"], root / f"{kind}-ret", layer=2, progress=False
        )
        acc = {r["language"]: round(r["value"], 1) for r in rows if r["metric"] == "accuracy"}
        print(
            f"{kind}: loss {first:.3f} -> {last:.3f}; target accuracy {acc}; retrieval "
            f"{[round(r['value'], 1) for r in ret if r['metric'] == 'accuracy']}; {time.time() - t0:.1f} s"
        )
        assert last < first, "loss did not fall on the GPU"
    if not CPU:
        print("GPU check passed; peak memory", round(torch.cuda.max_memory_allocated() / 2**20), "MiB")
    from benchmarks.train_throughput import matmul_peak

    device = torch.device("cpu" if CPU else "cuda")
    peak = matmul_peak(device, torch.float32 if CPU else torch.bfloat16, n=1024 if CPU else 8192)
    print(f"measured {'float32' if CPU else 'bf16'} matmul peak: {peak / 1e12:.2f} TFLOP/s")
    layers, hidden, steps = (2, 128, 4) if CPU else (12, 768, 60)
    throughput(2, layers, hidden, 2 if CPU else 10, peak)  # warm-up (kernels, allocator); not reported
    for prefetch in (0, 2):
        print(f"training throughput, prefetch_batches={prefetch}: {throughput(prefetch, layers, hidden, steps, peak)}")


if __name__ == "__main__":
    main()
