"""The family table: one FamilyOps record per task family holds everything the family's code is.

A task YAML names its family (`family:`); every place that acts by family looks the family up here instead of
branching on its name: reading local files (example type, checks), featurizing, building the head, decoding head
outputs, reading gold, writing predictions, scoring. Adding a family is one entry: `register_family(FamilyOps(...))`.

What a family can do is declared by its capabilities, and the pieces it needs follow from them (see `missing_pieces`,
which the completeness test checks for every entry):
- `trainable`: phases train it (featurize + head); retrieval is not: it pools the encoder's sentence vectors;
- `evaluated_by`: "head" (decode the head's outputs, read gold, write predictions), "retrieval" (evaluation.zero_shot's
  mining / nearest-neighbour search on pooled vectors) or None (never a target: mlm);
- `uses_labels`: the task's `labels:` name its classes or tags (head size, label checks, labels read from the data).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from xstilts.families import decode as D
from xstilts.families import examples as E
from xstilts.families import fields as FF
from xstilts.families import metrics as M
from xstilts.families import submission as S
from xstilts.families.fields import FieldMapper

if TYPE_CHECKING:
    from torch import nn


def _lazy(module: str, name: str) -> Callable[..., Any]:
    """A table piece that imports its torch-using module when first called, so that the table, the task registry,
    `xstilts plan`, `score` and `tasks` import no torch."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(f"xstilts.families.{module}"), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"xstilts.families.{module}.{name}, imported on first use."
    return call


# (examples, tokenizer, labels, settings, train) -> features (settings: max_seq_length, doc_stride, ...)
Featurizer = Callable[[Sequence[Any], Any, "list[str] | None", dict[str, Any], bool], list[dict[str, Any]]]
# (hidden size, number of labels or None, the encoder's word embeddings) -> head module
HeadBuilder = Callable[[int, "int | None", "nn.Embedding"], "nn.Module"]
# (head outputs per feature, features, examples, labels, settings) -> one prediction per example
Decoder = Callable[
    [list[dict[str, np.ndarray]], list[dict[str, Any]], Sequence[Any], "list[str] | None", dict[str, Any]], list[Any]
]
# examples -> one gold value per example (None / [] where a split has no gold)
GoldReader = Callable[[Sequence[Any]], list[Any]]
# (examples, predictions, prediction file, label file or None for a split without gold) -> writes the files
PredictionWriter = Callable[[Sequence[Any], Sequence[Any], Path, "Path | None"], None]
# (example, the task's labels) -> an error message, or None when the example is fine
ExampleCheck = Callable[[Any, "list[str] | None"], "str | None"]
# training examples -> the label names they use (a task without `labels:` takes them from its data)
LabelReader = Callable[[Sequence[Any]], set[str]]


@dataclass(frozen=True)
class FamilyOps:
    """Everything one task family is. A piece that does not apply is None, and the capabilities say which apply."""

    name: str
    example_type: type  # the dataclass its readers produce (local JSONL rows have exactly its fields)
    metrics: Mapping[str, M.Metric]  # the `metric:` names a task of this family may use -> how each scores
    trainable: bool
    evaluated_by: Literal["head", "retrieval"] | None
    uses_labels: bool
    featurize: Featurizer | None  # trainable
    head: HeadBuilder | None  # trainable
    decode: Decoder | None  # evaluated_by == "head"
    gold: GoldReader | None  # evaluated_by == "head"
    write: PredictionWriter | None  # evaluated_by == "head"
    prediction_ext: str | None  # evaluated_by == "head": suffix of its files in the submission layout
    labels_of: LabelReader | None  # uses_labels
    check: ExampleCheck | None = None  # optional: per-example checks of local files beyond the field types
    from_fields: FieldMapper | None = None  # optional: a hub row -> example by the task's `source.fields`

    @property
    def is_retrieval(self) -> bool:
        return self.evaluated_by == "retrieval"


def missing_pieces(ops: FamilyOps) -> list[str]:
    """The pieces `ops`'s capabilities require that it lacks, and those it has that no capability uses."""
    need = {
        "featurize": ops.trainable,
        "head": ops.trainable,
        "decode": ops.evaluated_by == "head",
        "gold": ops.evaluated_by == "head",
        "write": ops.evaluated_by == "head",
        "prediction_ext": ops.evaluated_by == "head",
        "labels_of": ops.uses_labels,
    }
    problems = [f"needs {piece}" for piece, needed in need.items() if needed and getattr(ops, piece) is None]
    problems += [f"{piece} is set but unused" for piece, needed in need.items() if not needed and getattr(ops, piece)]
    if not ops.metrics:
        problems.append("needs at least one metric")
    return problems


# ---------------------------------------------------------------------------------------------------------------
# Gold and prediction files of the built-in families


def _labels(examples: Sequence[Any]) -> list[Any]:
    return [e.label for e in examples]


def _tags(examples: Sequence[Any]) -> list[Any]:
    return [e.tags for e in examples]


def _answers(examples: Sequence[Any]) -> list[Any]:
    return [[a.text for a in e.answers] for e in examples]


def _write_tsv(examples: Sequence[Any], preds: Sequence[Any], pred_path: Path, label_path: Path | None) -> None:
    S.write_labels_tsv(pred_path, [str(p) for p in preds])
    if label_path is not None:
        S.write_labels_tsv(label_path, [str(g) for g in _labels(examples)])


def _write_tagging(examples: Sequence[Any], preds: Sequence[Any], pred_path: Path, label_path: Path | None) -> None:
    S.write_tagging(pred_path, preds)
    if label_path is not None:
        S.write_tagging(label_path, _tags(examples))


def _write_qa(examples: Sequence[Any], preds: Sequence[Any], pred_path: Path, label_path: Path | None) -> None:
    S.write_qa_predictions(pred_path, {e.guid: p for e, p in zip(examples, preds, strict=False)})
    if label_path is not None:
        S.write_qa_labels(
            label_path,
            [(e.guid, e.context, e.question, [(a.text, a.answer_start) for a in e.answers]) for e in examples],
        )


def _class_names(examples: Sequence[Any]) -> set[str]:
    return {str(ex.label) for ex in examples if ex.label is not None}


def _tag_names(examples: Sequence[Any]) -> set[str]:
    return {t for ex in examples for t in (ex.tags or [])}


# ---------------------------------------------------------------------------------------------------------------
# The table

BUILTIN_FAMILIES: tuple[FamilyOps, ...] = (
    FamilyOps(
        name="classification",
        example_type=E.SentenceExample,
        metrics={"accuracy": M.ACCURACY},
        trainable=True,
        evaluated_by="head",
        uses_labels=True,
        featurize=_lazy("featurize", "featurize_classification"),
        head=_lazy("heads", "classification_head"),
        decode=D.decode_classification_task,
        gold=_labels,
        write=_write_tsv,
        prediction_ext=S.TSV_SUFFIX,
        labels_of=_class_names,
        check=E.check_classification,
        from_fields=FF.classification_from_fields,
    ),
    FamilyOps(
        name="regression",
        example_type=E.SentenceExample,
        metrics={"pearson": M.PEARSON},  # with spearman beside it
        trainable=True,
        evaluated_by="head",
        uses_labels=False,
        featurize=_lazy("featurize", "featurize_regression"),
        head=_lazy("heads", "regression_head"),
        decode=D.decode_regression_task,
        gold=_labels,
        write=_write_tsv,
        prediction_ext=S.TSV_SUFFIX,
        labels_of=None,  # a score, not a class
        check=E.check_regression,
        from_fields=FF.regression_from_fields,
    ),
    FamilyOps(
        name="multiple_choice",
        example_type=E.ChoiceExample,
        metrics={"accuracy": M.ACCURACY},
        trainable=True,
        evaluated_by="head",
        uses_labels=False,
        featurize=_lazy("featurize", "featurize_multiple_choice"),
        head=_lazy("heads", "multiple_choice_head"),
        decode=D.decode_multiple_choice_task,
        gold=_labels,
        write=_write_tsv,
        prediction_ext=S.TSV_SUFFIX,
        labels_of=None,  # the label is a choice index
        check=E.check_choice,
        from_fields=FF.choice_from_fields,
    ),
    FamilyOps(
        name="span_qa",
        example_type=E.SpanExample,
        # f1: SQuAD EM and token F1; squad_em_f1: SQuAD v1.1 normalization, score = (EM + F1) / 2;
        # mlqa_em_f1: MLQA's language-aware normalization
        metrics={"f1": M.SQUAD, "squad_em_f1": M.SQUAD, "mlqa_em_f1": M.MLQA},
        trainable=True,
        evaluated_by="head",
        uses_labels=False,
        featurize=_lazy("featurize", "featurize_span_qa"),
        head=_lazy("heads", "span_qa_head"),
        decode=D.decode_span_qa_task,
        gold=_answers,
        write=_write_qa,
        prediction_ext=S.QA_SUFFIX,
        labels_of=None,  # answers are spans of the context
        check=E.check_span,
        from_fields=FF.span_from_fields,
    ),
    FamilyOps(
        name="tagging",
        example_type=E.TagExample,
        # accuracy: per token (e.g. CCG supertags); f1: seqeval 0.0.12 chunk F1
        metrics={"accuracy": M.ACCURACY, "f1": M.TAGGING_F1},
        trainable=True,
        evaluated_by="head",
        uses_labels=True,
        featurize=_lazy("featurize", "featurize_tagging"),
        head=_lazy("heads", "tagging_head"),
        decode=D.decode_tagging_task,
        gold=_tags,
        write=_write_tagging,
        prediction_ext=S.TSV_SUFFIX,
        labels_of=_tag_names,
        check=E.check_tags,
        from_fields=FF.tagging_from_fields,
    ),
    FamilyOps(
        name="retrieval",
        example_type=E.BitextExample,
        # accuracy / retrieval_accuracy (Tatoeba: the retrieved English sentence is the gold one);
        # bucc_f1: F1 of mined (source, target) pairs
        metrics={"accuracy": M.ACCURACY, "retrieval_accuracy": M.ACCURACY, "bucc_f1": M.BUCC_F1},
        trainable=False,  # no head: sentences are encoded (featurize_retrieval) and searched
        evaluated_by="retrieval",
        uses_labels=False,
        featurize=None,
        head=None,
        decode=None,  # evaluation.zero_shot.evaluate_retrieval searches, writes and scores
        gold=None,
        write=None,
        prediction_ext=None,
        labels_of=None,
    ),
    FamilyOps(
        name="mlm",
        example_type=E.TextExample,
        metrics={"accuracy": M.ACCURACY},  # never a target: the placeholder metric a task YAML may name
        trainable=True,
        evaluated_by=None,  # masked-LM co-training only
        uses_labels=False,
        featurize=_lazy("featurize", "featurize_mlm"),
        head=_lazy("heads", "mlm_head"),
        decode=None,
        gold=None,
        write=None,
        prediction_ext=None,
        labels_of=None,
    ),
)

FAMILY_TABLE: dict[str, FamilyOps] = {ops.name: ops for ops in BUILTIN_FAMILIES}


def family_ops(name: str) -> FamilyOps:
    """The table entry of family `name` (a ValueError listing the valid families otherwise)."""
    try:
        return FAMILY_TABLE[name]
    except KeyError:
        raise ValueError(f"unknown family '{name}'; valid: {', '.join(map(repr, FAMILY_TABLE))}") from None


def register_family(ops: FamilyOps) -> None:
    """Add a family (tests, plugins). Its pieces must fit its capabilities; a built-in family cannot be replaced."""
    if ops.name in FAMILY_TABLE:
        raise ValueError(f"family '{ops.name}' is already registered")
    problems = missing_pieces(ops)
    if problems:
        raise ValueError(f"family '{ops.name}': {'; '.join(problems)}")
    FAMILY_TABLE[ops.name] = ops


def unregister_family(name: str) -> None:
    """Remove a family added with register_family (the built-in ones stay)."""
    if any(ops.name == name for ops in BUILTIN_FAMILIES):
        raise ValueError(f"family '{name}' is built in")
    FAMILY_TABLE.pop(name, None)


def featurize(
    family: str,
    examples: Sequence[Any],
    tokenizer: Any,
    labels: list[str] | None,
    settings: dict[str, Any],
    train: bool,
) -> list[dict[str, Any]]:
    """Features of `examples` by their family's featurizer (a ValueError for a family that has none)."""
    featurizer = family_ops(family).featurize
    if featurizer is None:
        raise ValueError(f"cannot featurize family '{family}'")
    return featurizer(examples, tokenizer, labels, settings, train)


def metric_names() -> list[str]:
    """Every `metric:` name some family accepts, in table order."""
    return list(dict.fromkeys(m for ops in FAMILY_TABLE.values() for m in ops.metrics))


def metric_for(name: str, family: str) -> M.Metric:
    """How a task's `metric:` scores for its family (task YAMLs are validated against the same table)."""
    try:
        return FAMILY_TABLE[family].metrics[name]
    except KeyError:
        raise ValueError(f"metric '{name}' is not defined for family '{family}'") from None
