#!/usr/bin/env python3
"""Zero-shot evaluation batching: length-sorted token-budget batches (xstilts) against naive fixed batches padded to
max_seq_length, measured in one process on the same model and features; prints the ratio and checks the predictions agree.

Data: every language of the demo target demo_topic (test split). Model: the demo's encoder (the embedded
multilingual-e5-small, vocabulary pruned to the demo data, first 4 layers) with a demo_topic head.

    python benchmarks/eval_batching.py [--per-language N] [--max-seq-length 128]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_throughput import machine  # noqa: E402

from xstilts.data.load import load_examples  # noqa: E402
from xstilts.defaults import EVAL_BATCH_SIZE, phase_defaults  # noqa: E402
from xstilts.evaluation.predict import run_head  # noqa: E402
from xstilts.evaluation.task_eval import eval_max_tokens  # noqa: E402
from xstilts.experiments.run import resolve_model  # noqa: E402
from xstilts.experiments.spec import load_spec  # noqa: E402
from xstilts.families.decode import decode_classification  # noqa: E402
from xstilts.families.featurize import Collator  # noqa: E402
from xstilts.families.table import featurize  # noqa: E402
from xstilts.modeling.model import HeadSpec, MultiTaskModel, load_encoder  # noqa: E402
from xstilts.tasks import get_task  # noqa: E402

DEMO = Path(__file__).resolve().parents[1] / "src" / "xstilts" / "experiments" / "demo.yaml"


@torch.inference_mode()
def naive_logits(model, task: str, feats: list[dict], pad_id: int, max_len: int) -> list[np.ndarray]:
    """Fixed batches of EVAL_BATCH_SIZE in input order, every sequence padded to max_len."""
    model.eval()
    collate = Collator(pad_id=pad_id)
    out = []
    for s in range(0, len(feats), EVAL_BATCH_SIZE):
        batch = collate(feats[s : s + EVAL_BATCH_SIZE])
        extra = max_len - batch["input_ids"].shape[1]
        pads = {"input_ids": pad_id, "attention_mask": 0, "token_type_ids": 0}
        inputs = {k: F.pad(batch[k], (0, extra), value=v) for k, v in pads.items() if k in batch}
        out.extend(model(task, inputs)["logits"].float().numpy())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-language", type=int, default=None, help="cap examples per language (default: all)")
    ap.add_argument("--max-seq-length", type=int, default=128)
    args = ap.parse_args()
    torch.manual_seed(0)
    spec = load_spec(DEMO)
    model_dir = resolve_model(spec.models[0], spec, Path(tempfile.mkdtemp(prefix="xstilts-evalbench-")))
    task = get_task("demo_topic")
    enc, tok = load_encoder(model_dir)
    model = MultiTaskModel(enc, {task.name: HeadSpec(task.name, task.family, task.labels)})
    settings = {**phase_defaults("target", task.name), "max_seq_length": args.max_seq_length}
    per_lang = {}
    for lang in task.languages:
        ex = load_examples(task, "test", lang)[: args.per_language]
        per_lang[lang] = featurize(task.family, ex, tok, task.labels, settings, train=False)
    n = sum(len(f) for f in per_lang.values())
    budget = eval_max_tokens(settings)
    collate = Collator(pad_id=tok.pad_token_id)
    run_head(model, task.name, per_lang["en"][:8], collate, torch.device("cpu"), max_tokens=budget)  # warm-up
    naive_logits(model, task.name, per_lang["en"][:8], tok.pad_token_id, args.max_seq_length)

    t = time.perf_counter()
    ours = {
        lang: run_head(model, task.name, f, collate, torch.device("cpu"), max_tokens=budget)
        for lang, f in per_lang.items()
    }
    t_ours = time.perf_counter() - t
    t = time.perf_counter()
    naive = {
        lang: naive_logits(model, task.name, f, tok.pad_token_id, args.max_seq_length) for lang, f in per_lang.items()
    }
    t_naive = time.perf_counter() - t

    differ, worst = 0, 0.0
    for lang in per_lang:
        p_ours = decode_classification(ours[lang], task.labels)
        p_naive = decode_classification([{"logits": x} for x in naive[lang]], task.labels)
        differ += sum(a != b for a, b in zip(p_ours, p_naive, strict=False))
        worst = max(
            worst, max(float(np.abs(o["logits"] - x).max()) for o, x in zip(ours[lang], naive[lang], strict=False))
        )
    tokens = sum(len(f["input_ids"]) for fs in per_lang.values() for f in fs)
    print(f"machine: {machine()}")
    print(
        f"demo_topic test, {len(per_lang)} languages, {n} examples ({tokens} tokens, mean {tokens / n:.1f}); "
        f"demo encoder (e5-small, pruned vocabulary, 4 layers); max_seq_length {args.max_seq_length}"
    )
    print(
        f"  naive: fixed batches of {EVAL_BATCH_SIZE}, padded to {args.max_seq_length}   {t_naive:8.2f} s   "
        f"{n / t_naive:8.1f} ex/s   1.00x"
    )
    print(
        f"  xstilts: length-sorted, {budget}-token batches       {t_ours:8.2f} s   {n / t_ours:8.1f} ex/s   "
        f"{t_naive / t_ours:.2f}x faster"
    )
    print(f"  predictions that differ: {differ} of {n}; largest logit difference {worst:.2e}")


if __name__ == "__main__":
    main()
