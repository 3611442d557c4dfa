"""Benchmarks as data: one YAML file per benchmark (its tasks, each task's languages, family, metric and submission
format, its groups, and how the overall average is taken).

The bundled files are in `tasks/benchmarks/` (beside the task YAMLs); more come from directories registered with
`register_benchmark_dir` or listed in $XSTILTS_BENCHMARK_DIRS (os.pathsep-separated, so worker processes and
`xstilts score` see them too). The scorer, the `languages: <benchmark>` expansion of task YAMLs and the report's
all-task label read them; `languages.XTREME_TASK2LANGS` / `XTREME_GROUP2TASK` are views of the bundled XTREME file.

Bottom layer: only pydantic, yaml and `xstilts.errors` (the scorer checks each `metric` against the family table).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from xstilts.errors import UserError, validation_message

BUNDLED_DIR = Path(__file__).parent / "tasks" / "benchmarks"
ENV_DIRS = "XSTILTS_BENCHMARK_DIRS"

# How a task's submission files are read (evaluation/scorer.py): `labels` one label per line (`.tsv`), `tags` one tag
# per line and a blank line between sentences (`.tsv`), `qa` a JSON `{id: answer}` against SQuAD-format labels
# (`.json`), `pairs` tab-separated (source, target) id pairs scored as sets (`.tsv`).
Submission = Literal["labels", "tags", "qa", "pairs"]


class BenchmarkTask(BaseModel):
    """One task of a benchmark: the languages it is scored in (in the official order), and how it is scored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    languages: list[str] = Field(min_length=1)
    family: str  # a family of the family table; with `metric`, which Metric scores it
    metric: str
    submission: Submission

    @model_validator(mode="after")
    def _distinct_languages(self) -> BenchmarkTask:
        seen: set[str] = set()
        for lang in self.languages:
            if lang in seen:
                raise ValueError(f"language '{lang}' listed twice")
            seen.add(lang)
        return self


class Benchmark(BaseModel):
    """A benchmark: its tasks (in order), its groups of tasks and how the overall score (`all_task`) is averaged.

    `average: tasks` = the mean of every task's score (XTREME's official evaluate.py); `average: groups` = the mean of
    the group scores. A group's score is always the mean of its tasks' scores."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    title: str = ""  # how reports name it ("XTREME"); the name upper-cased when empty
    description: str = ""
    average: Literal["tasks", "groups"]
    tasks: dict[str, BenchmarkTask] = Field(min_length=1)
    groups: dict[str, list[str]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _groups_name_tasks(self) -> Benchmark:
        grouped: dict[str, str] = {}
        for group, tasks in self.groups.items():
            if not tasks:
                raise ValueError(f"group '{group}' has no tasks")
            for task in tasks:
                if task not in self.tasks:
                    raise ValueError(f"group '{group}' names task '{task}', not one of: {', '.join(self.tasks)}")
                if task in grouped:
                    raise ValueError(f"task '{task}' is in groups '{grouped[task]}' and '{group}'")
                grouped[task] = group
        if self.average == "groups":
            ungrouped = [t for t in self.tasks if t not in grouped]
            if not self.groups or ungrouped:
                missing = ", ".join(ungrouped) or "every task"
                raise ValueError(f"average 'groups' needs every task in a group; not grouped: {missing}")
        return self

    @property
    def label(self) -> str:
        """The benchmark's display name."""
        return self.title or self.name.upper()

    def task2langs(self) -> dict[str, list[str]]:
        """Task -> its languages, in the file's order (the official scorer's TASK2LANGS)."""
        return {name: list(task.languages) for name, task in self.tasks.items()}

    def group2task(self) -> dict[str, list[str]]:
        """Group -> its tasks (the official scorer's GROUP2TASK)."""
        return {group: list(tasks) for group, tasks in self.groups.items()}

    def group_of(self, task: str) -> str | None:
        """The group a task is in (None when it is in none)."""
        return next((g for g, tasks in self.groups.items() if task in tasks), None)

    def group_scores(self, task_scores: Mapping[str, float]) -> dict[str, float]:
        """The mean task score of every group whose tasks all have a score."""
        return {
            group: sum(task_scores[t] for t in tasks) / len(tasks)
            for group, tasks in self.groups.items()
            if all(t in task_scores for t in tasks)
        }

    def overall(self, task_scores: Mapping[str, float]) -> float | None:
        """The overall score (`all_task`) when every task has a score, else None: averaged as `average` says."""
        if set(self.tasks) - set(task_scores):
            return None
        if self.average == "groups":
            groups = self.group_scores(task_scores)
            return sum(groups.values()) / len(groups)
        return sum(task_scores[t] for t in self.tasks) / len(self.tasks)


def load_benchmark_file(path: str | Path) -> Benchmark:
    """Read one benchmark YAML; any problem (YAML syntax, unknown or missing key, a group naming an unknown task) is a
    one-line UserError naming the file and the key."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise UserError(f"cannot read benchmark file: {e.strerror}", path=str(path)) from None
    except yaml.YAMLError as e:
        line = getattr(getattr(e, "problem_mark", None), "line", None)
        problem = getattr(e, "problem", None) or "syntax error"
        raise UserError(f"invalid YAML: {problem}", path=str(path), line=None if line is None else line + 1) from None
    if not isinstance(raw, dict):
        raise UserError("expected a mapping of benchmark fields", path=str(path))
    try:
        return Benchmark(**raw)
    except ValidationError as e:
        raise UserError(validation_message(e, "benchmark"), path=str(path)) from None


_EXTRA_DIRS: list[Path] = []
_CACHE: dict[tuple[Path, ...], dict[str, Benchmark]] = {}


def register_benchmark_dir(path: str | Path) -> None:
    """Add a directory of benchmark YAML files to the ones `get_benchmark` reads (in this process)."""
    p = Path(path)
    if not p.is_dir():
        raise UserError("benchmark directory not found", path=str(p))
    if p not in _EXTRA_DIRS:
        _EXTRA_DIRS.append(p)


def benchmark_dirs() -> list[Path]:
    """Where benchmark files are read from: the bundled ones, then registered directories, then $XSTILTS_BENCHMARK_DIRS
    (a later file of the same `name` replaces an earlier one)."""
    env = [Path(p) for p in os.environ.get(ENV_DIRS, "").split(os.pathsep) if p]
    return list(dict.fromkeys([BUNDLED_DIR, *_EXTRA_DIRS, *env]))


def all_benchmarks() -> dict[str, Benchmark]:
    """Every benchmark by name (read once per set of directories)."""
    dirs = tuple(benchmark_dirs())
    if dirs not in _CACHE:
        found: dict[str, Benchmark] = {}
        for d in dirs:
            if not d.is_dir():
                raise UserError("benchmark directory not found", path=str(d))
            for path in sorted(d.glob("*.yaml")):
                bench = load_benchmark_file(path)
                found[bench.name] = bench
        _CACHE.clear()
        _CACHE[dirs] = found
    return _CACHE[dirs]


def get_benchmark(name: str) -> Benchmark:
    """The benchmark called `name`, or the one in the YAML file `name` points to; a UserError listing the known ones
    otherwise."""
    if name.endswith((".yaml", ".yml")) and Path(name).is_file():
        return load_benchmark_file(name)
    known = all_benchmarks()
    if name not in known:
        raise UserError(f"unknown benchmark '{name}' (known: {', '.join(sorted(known))})")
    return known[name]


def benchmark_languages(benchmark: str, task: str) -> list[str]:
    """The languages `task` has in `benchmark` (what `languages: <benchmark>` in a task YAML expands to)."""
    bench = get_benchmark(benchmark)
    if task not in bench.tasks:
        raise UserError(f"benchmark '{benchmark}' has no task '{task}' (its tasks: {', '.join(bench.tasks)})")
    return list(bench.tasks[task].languages)


# The bundled XTREME file, read at import (languages.py's tables are views of it).
XTREME: Benchmark = load_benchmark_file(BUNDLED_DIR / "xtreme.yaml")
