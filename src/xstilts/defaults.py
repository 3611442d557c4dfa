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


# Hyperparameters that count things: never negative; those that must be at least 1 to make sense.
_AT_LEAST_ONE = {"batch_size", "grad_accumulation", "max_seq_length", "eval_every_steps", "early_stopping_patience",
                 "max_steps", "doc_stride", "max_answer_length"}
_OPTIONAL_COUNTS = {"max_train_examples", "max_steps", "max_eval_examples", "max_dev_examples"}  # None = no limit
_PRECISIONS = ("auto", "no", "fp16", "bf16")


def check_hyperparameters(values: dict[str, Any]) -> str | None:
    """The first problem with user-given hyperparameters (unknown name, wrong type, negative size), or None."""
    for key, value in values.items():
        if key not in INTERMEDIATE_DEFAULTS:
            close = [k for k in INTERMEDIATE_DEFAULTS if k[:4] == str(key)[:4]]
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            return f"unknown hyperparameter '{key}'{hint}; known: {', '.join(sorted(INTERMEDIATE_DEFAULTS))}"
        default = INTERMEDIATE_DEFAULTS[key]
        if value is None and (default is None or key in _OPTIONAL_COUNTS):
            continue
        if isinstance(default, bool):
            if not isinstance(value, bool):
                return f"'{key}' must be true or false, got {value!r}"
        elif isinstance(default, (int, float)) or key in _OPTIONAL_COUNTS:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return f"'{key}' must be a number, got {value!r}"
            if value < 0 or (key in _AT_LEAST_ONE and value < 1):
                return f"'{key}' must be {'at least 1' if key in _AT_LEAST_ONE else 'non-negative'}, got {value!r}"
            if (isinstance(default, int) or key in _OPTIONAL_COUNTS) and value != int(value):
                return f"'{key}' must be a whole number, got {value!r}"
        elif key == "mixed_precision" and value not in _PRECISIONS:
            return f"'{key}' must be one of {', '.join(_PRECISIONS)}, got {value!r}"
    return None
