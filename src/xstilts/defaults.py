"""The X-STILTs recipe (Phang et al. 2020, jiant's released configs): the one source of hyperparameter defaults.

See docs/paper.md. Per-target values override the phase defaults; a spec or CLI flag overrides both.
"""

from __future__ import annotations

from typing import Any

INTERMEDIATE_DEFAULTS: dict[str, Any] = {
    "learning_rate": 1e-5,
    "num_epochs": 3.0,
    "max_seq_length": 256,
    "adam_epsilon": 1e-8,
    "max_grad_norm": 1.0,
    "warmup_ratio": 0.1,
    "weight_decay": 0.01,
    "batch_size": 4,
    "grad_accumulation": 8,
    "eval_every_steps": 1000,
    "early_stopping_patience": 30,
    "max_train_examples": None,
    "max_steps": None,
    "doc_stride": 128,
    "max_answer_length": 30,
    "freeze_embeddings": False,
    "max_eval_examples": None,  # deterministic subsample of each evaluation set (None = all)
    "max_dev_examples": 2000,  # English dev examples used for early stopping
    "mixed_precision": "auto",  # bf16 autocast on GPUs that support it (fp16 otherwise), full precision on CPU
    # Speed only (the math is unchanged): torch.compile the encoder (compile time is paid once per phase; pays off on
    # long phases), and micro-batches collated (and pinned on CUDA) this many steps ahead in a background thread
    # (0 = off; None = auto: 2 on GPUs, 0 on CPU where the thread competes with the compute threads).
    "compile": False,
    "prefetch_batches": None,
    # Inference batches hold up to this many padded tokens (length-sorted, so short sentences go many to a batch).
    "eval_max_tokens": 16384,
}

TARGET_DEFAULTS: dict[str, Any] = dict(INTERMEDIATE_DEFAULTS)

# Per-target overrides from the recipe: epochs and effective batch (4 x 8 for classification/tagging, 16 for QA).
TARGET_OVERRIDES: dict[str, dict[str, Any]] = {
    "xnli": {"num_epochs": 2.0},
    "pawsx": {"num_epochs": 5.0},
    "udpos": {"num_epochs": 10.0},
    "panx": {"num_epochs": 10.0},
    "xquad": {"num_epochs": 2.0, "grad_accumulation": 4},
    "mlqa": {"num_epochs": 2.0, "grad_accumulation": 4},
    "tydiqa": {"num_epochs": 2.0, "grad_accumulation": 4},
}

EVAL_BATCH_SIZE = 32

# Retrieval: mean-pooled hidden_states[layer]; layer 14 of 24 for XLM-R Large in jiant's count.
DEFAULT_RETRIEVAL_LAYER_FRACTION = 14 / 24


def default_retrieval_layer(num_hidden_layers: int) -> int:
    """HF hidden_states index of the 'middle' layer used for retrieval (14 for a 24-layer model)."""
    return max(1, round(num_hidden_layers * DEFAULT_RETRIEVAL_LAYER_FRACTION))


def phase_defaults(phase: str, task: str | None = None) -> dict[str, Any]:
    """Defaults for a phase ('intermediate' or 'target'), with the per-target overrides applied."""
    if phase == "intermediate":
        return dict(INTERMEDIATE_DEFAULTS)
    out = dict(TARGET_DEFAULTS)
    if task is not None:
        out.update(TARGET_OVERRIDES.get(task, {}))
    return out


# Named multi-task mixtures usable as `preset:` in an experiment spec's intermediate setting.
# The paper's nine (Phang et al. 2020; jiant's X-STILTs recipe). Which SQuAD version the nine use is not confirmed from the
# abstract (docs/paper.md): v2.0 is taken here; `squad` (v1.1) is the alternative.
INTERMEDIATE_PRESETS: dict[str, list[str]] = {
    "paper_nine": ["anli_plus", "mnli", "qqp", "squad_v2", "hellaswag", "cosmosqa", "commonsenseqa", "ccg", "sst2"],
}
