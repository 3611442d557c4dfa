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
