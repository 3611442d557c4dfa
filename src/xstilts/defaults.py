"""The X-STILTs recipe (Phang et al. 2020, jiant's released configs): the one source of hyperparameter defaults.

See docs/paper.md. `merge_hyperparameters` is the one merge, with the precedence written in its docstring.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from xstilts.errors import UserError


class Hyperparameters(BaseModel):
    """Every hyperparameter a phase or an evaluation reads, with the recipe's default. Unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    learning_rate: float = Field(1e-5, gt=0)
    num_epochs: float = Field(3.0, gt=0)
    max_seq_length: int = Field(256, ge=8)
    adam_epsilon: float = Field(1e-8, gt=0)
    max_grad_norm: float = Field(1.0, gt=0)
    warmup_ratio: float = Field(0.1, ge=0, le=1)
    weight_decay: float = Field(0.01, ge=0)
    batch_size: int = Field(4, ge=1)
    grad_accumulation: int = Field(8, ge=1)
    eval_every_steps: int = Field(1000, ge=1)
    early_stopping_patience: int = Field(30, ge=1)
    max_train_examples: int | None = Field(None, ge=1)
    max_steps: int | None = Field(None, ge=1)
    # QA windows as jiant and HF's SQuAD processor (XTREME's train_qa.sh): the question cut to max_query_length tokens,
    # a window started every doc_stride context tokens (not an overlap of doc_stride tokens).
    doc_stride: int = Field(128, ge=1)
    max_query_length: int = Field(64, ge=1)
    max_answer_length: int = Field(30, ge=1)
    freeze_embeddings: bool = False
    # What a phase trains (training/trainable.py): `full` every encoder weight (the paper's); `lora` a low-rank update
    # (peft LoRA) of the encoder's `lora_target_modules`, every other encoder weight frozen, heads and the pooler trained
    # fully. Defaults: rank 8 on the attention query and value projections, as Hu et al. 2021 (LoRA, arXiv:2106.09685:
    # W_q and W_v, r = 8 in their RoBERTa/GLUE runs); alpha 16 (scale alpha / r = 2) and dropout 0.1 as peft's LoRA
    # examples for sequence classification (the paper's RoBERTa runs used alpha 8). `lora_store`: `merge` = the update
    # merged into the encoder at the end of the phase (the checkpoint's encoder/ is a plain HF encoder); `adapter` = the
    # checkpoint keeps only the update and the pooler next to a reference to its base (the phase's start), merged when
    # loaded; the base must stay where it is.
    finetune: Literal["full", "lora"] = "full"
    lora_rank: int = Field(8, ge=1)
    lora_alpha: int = Field(16, ge=1)
    lora_dropout: float = Field(0.1, ge=0, lt=1)
    lora_target_modules: list[str] = Field(default_factory=lambda: ["query", "value"], min_length=1)
    lora_store: Literal["merge", "adapter"] = "merge"
    max_eval_examples: int | None = Field(None, ge=1)  # deterministic subsample of each evaluation set (None = all)
    # Early stopping reads max_dev_examples English dev examples (None = all): jiant's eval_subset_num 500, the first
    # ones in file order (dev_subset first); `random` draws a seeded subsample instead.
    max_dev_examples: int | None = Field(500, ge=1)
    dev_subset: Literal["first", "random"] = "first"
    # True: the phase ends with the weights of its best dev evaluation (jiant's target phases, and its early stopping);
    # False: the last weights, training never stopped early (the guide's intermediate command evaluates nothing and
    # carries the last weights); dev is still scored for the record. Intermediate default False, target True.
    restore_best_dev: bool = True
    # The pooler heads read (classification, multiple choice): `auto` = the checkpoint's when it has one, else a dense
    # layer freshly initialized from the config (as jiant does for XLM-R, whose hub checkpoints ship none), trained
    # wherever a head reads it and carried phase to phase; `none` = no pooler where the checkpoint has none (heads read
    # the first token).
    pooler: Literal["auto", "none"] = "auto"
    # bf16 autocast on GPUs that support it (fp16 otherwise), full precision on CPU
    mixed_precision: Literal["auto", "no", "fp16", "bf16"] = "auto"
    # Speed only (the math is unchanged): torch.compile the encoder (compile time is paid once per phase; pays off on
    # long phases), and micro-batches collated (and pinned on CUDA) this many steps ahead in a background thread
    # (0 = off; None = auto: 2 on GPUs, 0 on CPU where the thread competes with the compute threads).
    compile: bool = False
    prefetch_batches: int | None = Field(None, ge=0)
    # Inference batches hold up to this many padded tokens (length-sorted, so short sentences go many to a batch).
    eval_max_tokens: int = Field(16384, ge=64)


HYPERPARAMETER_KEYS: tuple[str, ...] = tuple(Hyperparameters.model_fields)

# The intermediate phase as the authors' released command runs it (jiant guides/projects/xstilts.md: simple/runscript.py
# with --train_batch_size 4, no accumulation option, no evaluation during training, the last weights carried on). The
# paper's appendix could not be read offline to confirm its batch; this is the published command's.
INTERMEDIATE_OVERRIDES: dict[str, Any] = {"grad_accumulation": 1, "restore_best_dev": False}

INTERMEDIATE_DEFAULTS: dict[str, Any] = Hyperparameters(**INTERMEDIATE_OVERRIDES).model_dump()

# The hyperparameters zero-shot evaluation reads (featurization, QA decoding, subsampling): an evaluation node's job
# holds these and no training ones, so a training change re-runs an evaluation only through its upstream node's hash.
EVALUATION_KEYS: tuple[str, ...] = (
    "max_seq_length",
    "doc_stride",
    "max_query_length",
    "max_answer_length",
    "max_eval_examples",
)
EVALUATION_ONLY_KEYS: tuple[str, ...] = ("max_eval_examples",)  # read by no training phase

TARGET_DEFAULTS: dict[str, Any] = Hyperparameters().model_dump()

# Per-target overrides from the recipe: epochs and effective batch (4 x 8 for classification/tagging, 16 for QA);
# sequence lengths from jiant's c_tokenize_and_cache.sh (384 for squad_v1/xquad/mlqa/tydiqa, as XTREME's train_qa.sh;
# 512 for bucc2018 and tatoeba), 256 (the default) for the others.
_QA = {"num_epochs": 2.0, "grad_accumulation": 4, "max_seq_length": 384}
TARGET_OVERRIDES: dict[str, dict[str, Any]] = {
    "xnli": {"num_epochs": 2.0},
    "pawsx": {"num_epochs": 5.0},
    "udpos": {"num_epochs": 10.0},
    "panx": {"num_epochs": 10.0},
    "xquad": dict(_QA),
    "mlqa": dict(_QA),
    "tydiqa": dict(_QA),
    "bucc2018": {"max_seq_length": 512},
    "tatoeba": {"max_seq_length": 512},
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


def check_hyperparameters(overrides: dict[str, Any], where: str) -> dict[str, Any]:
    """Validate one layer of overrides (a spec block, a setting, --set): every key known, every value of its type.

    Returns the overrides with values coerced to their types (e.g. `3` epochs -> 3.0); raises UserError naming `where`,
    the key and the valid keys or the expected value."""
    unknown = sorted(set(overrides) - set(HYPERPARAMETER_KEYS))
    if unknown:
        raise UserError(f"unknown hyperparameter '{unknown[0]}' in {where}; valid: {', '.join(HYPERPARAMETER_KEYS)}")
    try:
        checked = Hyperparameters(**overrides)
    except ValidationError as e:
        first = e.errors()[0]
        key = ".".join(str(x) for x in first["loc"])
        raise UserError(f"hyperparameter '{key}' in {where}: {first['msg']} (got {first.get('input')!r})") from None
    return {k: getattr(checked, k) for k in overrides}


def merge_hyperparameters(phase: str, task: str | None, *layers: dict[str, Any]) -> dict[str, Any]:
    """The one merge of hyperparameters. Precedence, lowest first:

    1. the recipe's defaults (`Hyperparameters`);
    2. the recipe's per-target overrides (`TARGET_OVERRIDES`, target phase only);
    3. each layer in the order given; callers pass, lowest first: the spec's `hyperparameters.<phase>`, the spec's
       `hyperparameters.<task>`, the intermediate setting's own `hyperparameters`, then command-line `--set` values.

    The result holds every key, validated (an unknown key or bad value is a UserError)."""
    out = phase_defaults(phase, task)
    for layer in layers:
        out.update(layer)
    return Hyperparameters(**out).model_dump()


# Named multi-task mixtures usable as `preset:` in an experiment spec's intermediate setting.
# The paper's nine (Phang et al. 2020; jiant's X-STILTs recipe). Which SQuAD version the nine use is not confirmed from the
# abstract (docs/paper.md): v2.0 is taken here; `squad` (v1.1) is the alternative.
INTERMEDIATE_PRESETS: dict[str, list[str]] = {
    "paper_nine": ["anli_plus", "mnli", "qqp", "squad_v2", "hellaswag", "cosmosqa", "commonsenseqa", "ccg", "sst2"],
}


class AlignmentSettings(BaseModel):
    """Cross-lingual alignment (Cao et al. 2020; Efimov et al. 2022): every setting of an alignment phase, with the
    defaults of Efimov et al.'s README and alignment/bert_finetuning_alignment.py (docs in README "Cross-lingual
    alignment"). The loss per language and sub-batch: mean squared distance between the last-layer vectors of linked
    words (language side vs English side) plus `regularizer` x the mean squared distance between the English side's
    vectors and the frozen start model's (every English word, [CLS]/[SEP] included)."""

    model_config = ConfigDict(extra="forbid")

    learning_rate: float = Field(5e-5, gt=0)  # Adam (betas 0.9/0.98, eps 1e-9), linear warmup then constant
    num_epochs: float = Field(1.0, gt=0)
    batch_size: int = Field(32, ge=1)  # sentence pairs per language per optimizer step
    sub_batch: int = Field(4, ge=1)  # the batch is processed in slices of this size, their losses summed (theirs: 4)
    warmup_ratio: float = Field(0.1, ge=0, le=1)
    regularizer: float = Field(1.0, ge=0)  # their base_rate: weight of the English-vectors-stay-put term
    word_vectors: Literal["first", "last", "avg"] = "avg"  # a word's vector from its pieces (their align_mode)
    include_specials: bool = True  # [CLS] and [SEP] as linked words (their --include_clssep, set in run_align.sh)
    max_pairs: int | None = Field(250_000, ge=1)  # per language (their --max_sent)
    max_words: int = Field(64, ge=1)  # longer pairs are skipped (their max_len)
    max_seq_length: int = Field(128, ge=8)
    freeze_embeddings: bool = False  # the word-embedding matrix stays (fast offline runs; theirs trains it)
    # links when the corpus has none: the start model's word similarities, argmax both ways (SimAlign "argmax"),
    # from hidden_states[link_layer] (None: 2/3 of the depth, SimAlign's layer 8 of mBERT's 12)
    link_layer: int | None = Field(None, ge=1)
    # continual learning: alignment batches mixed into the next target phase (their multi_task scripts)
    continual_weight: float = Field(1e-2, ge=0)  # their align_wght
    continual_batch_size: int = Field(16, ge=1)  # their align_batch_size
    continual_regularizer: float = Field(0.0, ge=0)  # their base_diff_wght (default 0)


ALIGNMENT_DEFAULTS: dict[str, Any] = AlignmentSettings().model_dump()


def alignment_settings(overrides: dict[str, Any], where: str) -> dict[str, Any]:
    """Every alignment setting with `overrides` applied (an unknown key or bad value: a UserError naming `where`)."""
    try:
        return AlignmentSettings(**overrides).model_dump()
    except ValidationError as e:
        first = e.errors()[0]
        key = ".".join(str(x) for x in first["loc"])
        valid = ", ".join(AlignmentSettings.model_fields)
        raise UserError(f"alignment setting '{key}' in {where}: {first['msg']} (valid: {valid})") from None
