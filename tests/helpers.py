"""Helpers shared by several test modules: reading the hub-schema and official-layout fixtures, and running a command
with torch made unimportable.

Test modules import these from here, never from each other.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from xstilts.data.hub import format_pattern, load_hub_examples, load_hub_rows, map_rows
from xstilts.data.xtreme import OFFICIAL_READERS
from xstilts.tasks import registry
from xstilts.tasks.registry import get_task

FIXTURES_ROOT = Path(__file__).parent / "fixtures"

# Phase settings of a few steps on the tiny models (tests that run whole phases).
PHASE_TINY = {
    "max_steps": 3,
    "batch_size": 8,
    "grad_accumulation": 1,
    "max_seq_length": 32,
    "learning_rate": 1e-3,
    "eval_every_steps": 2,
    "max_train_examples": 32,
}

# --- XTREME targets: tests/fixtures/xtreme/{hub/<config>/<hub split>.jsonl, official/<task>/...} ----------------------

XTREME_FIXTURES = FIXTURES_ROOT / "xtreme"
XTREME_OFFICIAL = XTREME_FIXTURES / "official"


def xtreme_hub_file(name: str, split: str, lang: str) -> tuple[str, Path]:
    """(hub split name, fixture file) of one XTREME task split and language; directories are the hub config names."""
    task = get_task(name)
    assert task.source is not None
    hub_split = format_pattern(task.source.splits[split], lang)
    return hub_split, XTREME_FIXTURES / "hub" / format_pattern(task.source.config or "", lang) / f"{hub_split}.jsonl"


def xtreme_hub(name: str, split: str, lang: str) -> list:
    """Examples of (task, split, lang) read from the hub fixtures through the generic hub loader."""
    hub_split, path = xtreme_hub_file(name, split, lang)
    assert path.is_file(), f"no fixture for hub config/split {path.parent.name}/{hub_split}"
    return load_hub_examples(get_task(name), split, lang, data_files={hub_split: str(path)})


def xtreme_official(name: str, split: str, lang: str) -> list:
    """Examples of (task, split, lang) read from the official-layout fixtures."""
    return OFFICIAL_READERS[name](XTREME_OFFICIAL, split, lang)


# --- English intermediate tasks: tests/fixtures/hub/<task>/<hub split>.jsonl --------------------------------------

HUB_FIXTURES = FIXTURES_ROOT / "hub"
# The library defined in tasks/defs/intermediate/ (XTREME's English training tasks and others live elsewhere).
INTERMEDIATE_LIBRARY = {p.stem for p in (Path(registry.__file__).parent / "defs" / "intermediate").glob("*.yaml")}
# Tasks reading another task's hub dataset share its fixture directory.
HUB_FIXTURE_DIR = {"conll2003_chunk": "conll2003", "conll2003_pos": "conll2003"}


def hub_files(task_name: str, split: str) -> dict[str, str]:
    """data_files for load_hub_rows: each hub split name of our `split` -> its fixture file."""
    task = get_task(task_name)
    assert task.source is not None
    names = task.source.splits.get(split, split)
    directory = HUB_FIXTURES / HUB_FIXTURE_DIR.get(task_name, task_name)
    return {n: str(directory / f"{n}.jsonl") for n in (names if isinstance(names, list) else [names])}


def load(task_name: str, split: str) -> tuple[int, list[Any]]:
    """(number of hub rows, mapped examples) of one fixture split."""
    task = get_task(task_name)
    rows = load_hub_rows(task, split, data_files=hub_files(task_name, split))
    return len(rows), map_rows(task, rows)


# --- commands run with torch made unimportable ------------------------------------------------------------------------

# `python -c BLOCK_TORCH <xstilts args>`: the command line with every `import torch` failing (naming the command).
BLOCK_TORCH = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch imported by " + " ".join(sys.argv))
sys.meta_path.insert(0, Block())
from xstilts.cli import main
sys.argv = ["xstilts", *sys.argv[1:]]
main()
"""


def run_without_torch(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`xstilts ARGS` in a fresh interpreter where importing torch fails."""
    return subprocess.run([sys.executable, "-c", BLOCK_TORCH, *args], capture_output=True, text=True, timeout=timeout)
