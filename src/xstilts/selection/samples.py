"""What the selection methods read, without a model (torch-free): deterministic samples of a task's examples, the text
standing for an example, and cosine similarity. `probe` re-exports them beside the model-side measurements."""

from __future__ import annotations

from typing import Any

import numpy as np

from xstilts.data.load import load_examples, subsample
from xstilts.errors import UserError
from xstilts.families.examples import BitextExample, ChoiceExample, SentenceExample, SpanExample, TagExample
from xstilts.jobs import training_source
from xstilts.tasks.spec import TaskSpec


def example_text(ex: Any) -> str:
    """One string standing for an example's input (what TextEmb embeds)."""
    if isinstance(ex, SentenceExample):
        return ex.text_a if ex.text_b is None else f"{ex.text_a} {ex.text_b}"
    if isinstance(ex, ChoiceExample):
        return f"{ex.context} {ex.question}".strip()
    if isinstance(ex, SpanExample):
        return f"{ex.question} {ex.context}"
    if isinstance(ex, TagExample):
        return " ".join(ex.tokens)
    if isinstance(ex, BitextExample):
        return ex.target or ex.source or ""
    return str(getattr(ex, "text", ""))


def train_sample(task: TaskSpec, n: int | None, seed: int, lang: str | None = None) -> list[Any]:
    """A deterministic sample of the task's (English) training examples (n None: all of them)."""
    src = training_source(task)
    return subsample(load_examples(src, "train", lang or src.train_language), n, seed)


def dev_inputs(task: TaskSpec, lang: str, n: int, seed: int = 0) -> list[Any]:
    """A sample of the task's dev examples in one language (used unlabeled by the cross-lingual methods)."""
    if "dev" not in task.splits:
        raise UserError(f"task '{task.name}' has no dev split")
    return subsample(load_examples(task, "dev", lang), n, seed)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors (0 when either is zero)."""
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    return 0.0 if na == 0 or nb == 0 else float(a @ b) / (na * nb)
