#!/usr/bin/env python3
"""GPU smoke check (run on a CUDA machine): a tiny model's intermediate -> target phases and zero-shot evaluation run on
the GPU with bf16 autocast, the loss falls, and retrieval vectors come back from the GPU. Prints what it measured."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import make_model_dir  # noqa: E402
from tests.toy_tasks import write_toy_tasks  # noqa: E402
from xstilts.evaluation.zero_shot import evaluate_target  # noqa: E402
from xstilts.tasks import get_task, register_task_dir  # noqa: E402
from xstilts.training.loop import resolve_precision  # noqa: E402
from xstilts.training.phase import PhaseConfig, run_phase  # noqa: E402


def main() -> None:
    assert torch.cuda.is_available(), "no CUDA device"
    print("device:", torch.cuda.get_device_name(0), "precision:", resolve_precision("auto"))
    root = Path(tempfile.mkdtemp())
    write_toy_tasks(root / "tasks")
    register_task_dir(root / "tasks")
    for kind in ("bert", "xlmr"):
        model = make_model_dir(kind, root)
        settings = {"max_steps": 60, "batch_size": 16, "grad_accumulation": 2, "max_seq_length": 64,
                    "learning_rate": 3e-3, "eval_every_steps": 20, "warmup_ratio": 0.0}
        t0 = time.time()
        inter = run_phase(PhaseConfig("intermediate", ["toy_tag", "toy_span"], str(model), settings=settings),
                          root / f"{kind}-inter", progress=False)
        target = run_phase(PhaseConfig("target", ["toy_target"], str(inter), settings=settings),
                           root / f"{kind}-target", progress=False)
        import json

        rec = json.loads((target / "phase.json").read_text())
        losses = rec["train"]["losses"]
        first, last = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
        rows = evaluate_target(str(target), get_task("toy_target"), ["en", "xx"], ["test"], root / f"{kind}-eval",
                               progress=False)
        ret = evaluate_target(str(inter), get_task("toy_retrieval"), ["xx"], ["test"], root / f"{kind}-ret", layer=2,
                              progress=False)
        acc = {r["language"]: round(r["value"], 1) for r in rows if r["metric"] == "accuracy"}
        print(f"{kind}: loss {first:.3f} -> {last:.3f}; target accuracy {acc}; retrieval "
              f"{[round(r['value'], 1) for r in ret if r['metric'] == 'accuracy']}; {time.time() - t0:.1f} s")
        assert last < first, "loss did not fall on the GPU"
    print("GPU check passed; peak memory", round(torch.cuda.max_memory_allocated() / 2**20), "MiB")


if __name__ == "__main__":
    main()
