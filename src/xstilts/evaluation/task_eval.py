"""Evaluate a model on one task's examples in one language: featurize, run the head, decode, score.

Used for dev-set early stopping during training and for zero-shot evaluation. Scores come from the official-parity metric
functions in families/metrics.py (named by each family's table entry), so the numbers a run reports are the numbers `xstilts score` gives on its predictions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from xstilts.defaults import INTERMEDIATE_DEFAULTS
from xstilts.evaluation.predict import run_head
from xstilts.families import metric_for
from xstilts.families.featurize import Collator
from xstilts.families.table import featurize
from xstilts.tasks.spec import TaskSpec


def eval_max_tokens(settings: dict[str, Any]) -> int:
    """Padded tokens per inference batch (`eval_max_tokens`; the recipe default when a caller's settings lack it)."""
    return int(settings.get("eval_max_tokens") or INTERMEDIATE_DEFAULTS["eval_max_tokens"])


def predict_examples(
    model: Any,
    tokenizer: Any,
    task: TaskSpec,
    examples: Sequence[Any],
    settings: dict[str, Any],
    device: Any,
    feats: list[dict[str, Any]] | None = None,
) -> list[Any]:
    """Predictions in the family's natural form, one per example (in the examples' order).

    feats: the examples' features when the caller already has them (e.g. a dev set scored many times).
    Inference runs under torch.inference_mode, in length-sorted batches of up to `eval_max_tokens` padded tokens.
    """
    if not examples:
        return []
    ops = task.ops
    if ops.decode is None:
        raise ValueError(f"no predictor for family '{task.family}'")
    if feats is None:
        feats = featurize(task.family, examples, tokenizer, task.labels, settings, train=False)
    collate = Collator(pad_id=tokenizer.pad_token_id or 0)
    outputs = run_head(model, task.name, feats, collate, device, max_tokens=eval_max_tokens(settings))
    return ops.decode(outputs, feats, examples, task.labels, settings)


def gold_of(task: TaskSpec, examples: Sequence[Any]) -> list[Any]:
    if task.ops.gold is None:
        raise ValueError(task.family)
    return task.ops.gold(examples)


def score(task: TaskSpec, predictions: Sequence[Any], golds: Sequence[Any], lang: str = "en") -> dict[str, float]:
    """The task's metrics x100 (as the official scorer reports them), plus `score` = the per-language task score.

    The task's `metric:` and family pick the metric from the family table, which the official scorer uses too."""
    metric = metric_for(task.metric, task.family)
    out = dict(metric.compute(list(predictions), list(golds), lang))
    out["score"] = metric.headline(out)
    return out


def evaluate_examples(
    model: Any,
    tokenizer: Any,
    task: TaskSpec,
    examples: Sequence[Any],
    settings: dict[str, Any],
    device: Any,
    lang: str = "en",
) -> tuple[list[Any], dict[str, float]]:
    preds = predict_examples(model, tokenizer, task, examples, settings, device)
    return preds, score(task, preds, gold_of(task, examples), lang)


def dev_evaluator(
    model: Any,
    tokenizer: Any,
    task: TaskSpec,
    examples: Sequence[Any],
    settings: dict[str, Any],
    device: Any,
    lang: str = "en",
) -> Callable[[], dict[str, float]]:
    """Early-stopping scorer: featurizes the dev examples once; each call scores the model's current weights on them."""
    feats = featurize(task.family, examples, tokenizer, task.labels, settings, train=False) if examples else []
    golds = gold_of(task, examples)

    def evaluate() -> dict[str, float]:
        return score(
            task, predict_examples(model, tokenizer, task, examples, settings, device, feats=feats), golds, lang
        )

    return evaluate
