"""The generic hub row mapper's per-family part: one row, its fields named by a task's `source.fields`, to an example.

Each family's `from_fields` entry in the family table is one of these. What depends on the task and its hub dataset
(class names from a ClassLabel feature, tag names, answer offsets to re-align) comes in through a `FieldCodec` that the
data layer provides (`data/mappers.py: map_fields`). A function returns None for a row without a gold label.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from xstilts.families.examples import Answer, ChoiceExample, SentenceExample, SpanExample, TagExample


class FieldCodec(Protocol):
    """Task-dependent readings of a hub row's values."""

    def class_label(self, value: Any) -> str | None: ...

    def tag_names(self, values: Any) -> list[str]: ...

    def answers(self, context: str, value: Any) -> list[Answer] | None: ...


# (row, the task's `fields`: example field -> hub field, the example's guid, the codec) -> example or None
FieldMapper = Callable[[dict[str, Any], Mapping[str, Any], str, FieldCodec], Any]


def score(value: Any) -> float | None:
    """A regression target; GLUE marks unlabeled test rows with -1 (real STS-B scores are 0..5)."""
    if value is None or value == "":
        return None
    result = float(value)
    return None if result < 0 else result


def choice_index(value: Any, base: int = 0) -> int | None:
    """A multiple-choice label as a 0-based index: ints, digit strings ('0'..'3'), or 1-based ('1'..'3') with base=1."""
    if value is None or value == "":
        return None
    index = int(value) - base
    return None if index < 0 else index


def _sentence(row: dict[str, Any], f: Mapping[str, Any], guid: str, label: Any) -> SentenceExample | None:
    if label is None:
        return None
    text_b = row[f["text_b"]] if "text_b" in f else None
    return SentenceExample(guid=guid, text_a=row[f["text_a"]], text_b=text_b, label=label)


def classification_from_fields(row: dict[str, Any], f: Mapping[str, Any], guid: str, codec: FieldCodec) -> Any:
    """fields: text_a, text_b (optional), label (a class name or a ClassLabel index)."""
    return _sentence(row, f, guid, codec.class_label(row[f["label"]]))


def regression_from_fields(row: dict[str, Any], f: Mapping[str, Any], guid: str, codec: FieldCodec) -> Any:
    """fields: text_a, text_b (optional), label (a score)."""
    return _sentence(row, f, guid, score(row[f["label"]]))


def choice_from_fields(row: dict[str, Any], f: Mapping[str, Any], guid: str, codec: FieldCodec) -> Any:
    """fields: context, question (optional), choices (a list of fields, or one Sequence field), label; option
    label_base: 1 for 1-based answer strings ('1'..'3')."""
    label = choice_index(row[f["label"]], int(f.get("label_base", 0)))
    if label is None:
        return None
    spec = f["choices"]
    choices = [row[c] for c in spec] if isinstance(spec, list) else list(row[spec])
    question = row[f["question"]] if "question" in f else ""
    return ChoiceExample(guid=guid, context=row[f["context"]], question=question, choices=choices, label=label)


def span_from_fields(row: dict[str, Any], f: Mapping[str, Any], guid: str, codec: FieldCodec) -> Any:
    """fields: question, context, answers (SQuAD-style {text, answer_start}), title (optional)."""
    context = row[f["context"]]
    answers = codec.answers(context, row[f["answers"]])
    if answers is None:
        return None
    title = row[f["title"]] if "title" in f else ""
    return SpanExample(guid=guid, question=row[f["question"]], context=context, answers=answers, title=title)


def tagging_from_fields(row: dict[str, Any], f: Mapping[str, Any], guid: str, codec: FieldCodec) -> Any:
    """fields: tokens, tags; option drop_tags: tag names whose tokens are removed (e.g. UD's '_' for multiword
    tokens)."""
    tokens = list(row[f["tokens"]])
    tags = codec.tag_names(row[f["tags"]])
    drop = set(f.get("drop_tags", ()))
    kept = [(w, t) for w, t in zip(tokens, tags, strict=False) if t not in drop]
    return TagExample(guid=guid, tokens=[w for w, _ in kept], tags=[t for _, t in kept])
