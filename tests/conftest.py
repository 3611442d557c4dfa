"""Shared fixtures: tiny random BERT (WordPiece) and XLM-R (Unigram) models with tokenizers trained at test time, and a
scratch task directory registered with the task registry."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

WORDS = (
    "the a good bad movie film red blue green cat dog runs jumps is was very not and or it this that what who where "
    "color animal one two three four five six seven eight nine ten apple banana house tree river city paris london "
    "berlin question answer sky sun moon big small happy sad"
).split()


def toy_corpus(n: int = 400) -> list[str]:
    import random

    rng = random.Random(0)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))) for _ in range(n)] + WORDS


def make_tokenizer(kind: str):
    from xstilts.rehearsal.tiny import make_tokenizer as build

    return build(kind, toy_corpus())


def make_model_dir(kind: str, root: Path) -> Path:
    """A tiny random model folder (config + safetensors + tokenizer) of the BERT or the XLM-R path."""
    from xstilts.rehearsal.tiny import make_model_dir as build

    return build(kind, root, toy_corpus())


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {kind: make_model_dir(kind, root) for kind in ("bert", "xlmr")}


@pytest.fixture(scope="session")
def toy_tasks(tmp_path_factory) -> Path:
    """Learnable toy tasks of every family, written as task YAML + uniform JSONL, registered with the registry."""
    from tests.toy_tasks import write_toy_tasks
    from xstilts.tasks import register_task_dir

    root = tmp_path_factory.mktemp("toy_tasks")
    write_toy_tasks(root)
    register_task_dir(root)
    return root
