"""Evaluate a model on one task's examples in one language: featurize, run the head, decode, score.

Used for dev-set early stopping during training and for zero-shot evaluation. Scores come from the official-parity metric
functions in evaluation/metrics.py, so the numbers a run reports are the numbers `xstilts score` gives on its predictions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from xstilts.data.featurize import Collator, featurize
from xstilts.defaults import INTERMEDIATE_DEFAULTS
from xstilts.evaluation.predict import decode_choices, decode_classification, decode_spans, decode_tags, run_head
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
    if feats is None:
        feats = featurize(task.family, examples, tokenizer, task.labels, settings, train=False)
    collate = Collator(pad_id=tokenizer.pad_token_id or 0)
    outputs = run_head(model, task.name, feats, collate, device, max_tokens=eval_max_tokens(settings))
    fam = task.family
    if fam == "classification":
        return decode_classification(outputs, task.labels)
    if fam == "regression":
        return decode_classification(outputs, None)
    if fam == "multiple_choice":
        return decode_choices(outputs)
    if fam == "tagging":
        return decode_tags(outputs, feats, task.labels or [], len(examples), [len(e.tokens) for e in examples])
    if fam == "span_qa":
        # SQuAD 2.0-style abstention only for labelled sets that mix answerable and unanswerable questions: an unlabelled
        # set (official test files without answers) must be decoded exactly as the same questions with gold would be.
        allow_null = any(not e.answers for e in examples) and any(e.answers for e in examples)
        return decode_spans(
            outputs, feats, [e.context for e in examples], int(settings["max_answer_length"]), allow_null=allow_null
        )
    raise ValueError(f"no predictor for family '{fam}'")


def gold_of(task: TaskSpec, examples: Sequence[Any]) -> list[Any]:
    fam = task.family
    if fam in ("classification", "regression", "multiple_choice"):
        return [e.label for e in examples]
    if fam == "tagging":
        return [e.tags for e in examples]
    if fam == "span_qa":
        return [[a.text for a in e.answers] for e in examples]
    raise ValueError(fam)


def score(task: TaskSpec, predictions: Sequence[Any], golds: Sequence[Any], lang: str = "en") -> dict[str, float]:
    """The task's metrics x100 (as the official scorer reports them), plus `score` = the per-language task score.

    The task's `metric:` and family pick the row of metrics.METRICS, the table the official scorer uses too."""
    from xstilts.evaluation.metrics import metric_for

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
