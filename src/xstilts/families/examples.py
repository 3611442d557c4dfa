"""Typed examples, one dataclass per task family.

Every reader (hub, official download layout, local JSONL) produces these; every featurizer consumes them.
The local JSONL format of a task is one JSON object per line with exactly these fields.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class SentenceExample:
    """Single-sentence or sentence-pair classification / regression. label: class name (str) or score (float)."""

    guid: str
    text_a: str
    text_b: str | None = None
    label: str | float | None = None


@dataclass
class ChoiceExample:
    """Multiple choice: each choice is scored as the pair (context, question + ' ' + choice)."""

    guid: str
    context: str
    choices: list[str]
    label: int | None = None
    question: str = ""


@dataclass
class Answer:
    text: str
    answer_start: int


@dataclass
class SpanExample:
    """Extractive QA (SQuAD format): answers are character offsets into context; empty for unanswerable."""

    guid: str
    question: str
    context: str
    answers: list[Answer] = field(default_factory=list)
    title: str = ""


@dataclass
class TagExample:
    """Token tagging: one tag per word (tags None for unlabeled input)."""

    guid: str
    tokens: list[str]
    tags: list[str] | None = None


@dataclass
class TextExample:
    """Raw text for masked-LM training."""

    guid: str
    text: str


@dataclass
class BitextExample:
    """One retrieval row: a source sentence, a target sentence, or a gold pair of both.

    Rows with only one side are distractors (BUCC-style mining); rows with both are gold pairs.
    """

    source_id: str
    target_id: str
    source: str | None = None
    target: str | None = None


Example = SentenceExample | ChoiceExample | SpanExample | TagExample | TextExample | BitextExample


def example_to_json(ex: Any) -> dict[str, Any]:
    return asdict(ex)


# Per-family checks of an example read from a local file (beyond its field types): an error message, or None.


def check_classification(ex: SentenceExample, labels: list[str] | None) -> str | None:
    if not isinstance(ex.text_a, str):
        return "'text_a' must be a string"
    if labels and ex.label is not None and str(ex.label) not in labels:
        return f"label {ex.label!r} is not in the task's label set; expected one of {labels}"
    return None


def check_regression(ex: SentenceExample, labels: list[str] | None) -> str | None:
    if not isinstance(ex.text_a, str):
        return "'text_a' must be a string"
    if ex.label is not None and not isinstance(ex.label, (int, float)):
        return "'label' must be a number for a regression task"
    return None


def check_choice(ex: ChoiceExample, labels: list[str] | None) -> str | None:
    if not isinstance(ex.choices, list) or len(ex.choices) < 2:
        return "'choices' must be a list of at least 2 strings"
    if ex.label is not None and not (0 <= int(ex.label) < len(ex.choices)):
        return f"'label' {ex.label} out of range for {len(ex.choices)} choices"
    return None


def check_span(ex: SpanExample, labels: list[str] | None) -> str | None:
    for a in ex.answers:
        if ex.context[a.answer_start : a.answer_start + len(a.text)] != a.text:
            return f"answer {a.text!r} not found at offset {a.answer_start} of the context"
    return None


def check_tags(ex: TagExample, labels: list[str] | None) -> str | None:
    if not isinstance(ex.tokens, list) or not all(isinstance(t, str) for t in ex.tokens):
        return "'tokens' must be a list of strings"
    if ex.tags is not None and len(ex.tags) != len(ex.tokens):
        return f"{len(ex.tokens)} tokens but {len(ex.tags)} tags; expected one tag per token"
    unknown = sorted({str(t) for t in ex.tags or []} - set(labels)) if labels else []
    if unknown:
        return f"tag {unknown[0]!r} is not in the task's tag set; expected one of {labels}"
    return None
