"""The task registry: every YAML file in tasks/defs/ (and any directory the user registers) is one task."""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import ValidationError

from xstilts.benchmarks import benchmark_languages
from xstilts.errors import UserError, validation_message
from xstilts.tasks.spec import TaskSpec

_DEFS = Path(__file__).parent / "defs"
_EXTRA_DIRS: list[Path] = []
_CACHE: dict[str, TaskSpec] | None = None


def load_task_file(path: Path) -> TaskSpec:
    """Read one task YAML into a TaskSpec; any problem (YAML syntax, unknown field, family or metric) is a UserError
    naming the file."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        line = getattr(getattr(e, "problem_mark", None), "line", None)
        raise UserError(f"invalid YAML: {e}", path=str(path), line=None if line is None else line + 1) from None
    if not isinstance(raw, dict):
        raise UserError("expected a mapping of task fields", path=str(path))
    if isinstance(raw.get("languages"), str):  # `languages: xtreme`: the task's languages in that benchmark's file
        try:
            raw["languages"] = benchmark_languages(raw["languages"], str(raw.get("name")))
        except UserError as e:
            raise UserError(f"task field 'languages': {e}", path=str(path)) from None
    if raw.get("local_dir"):
        raw["local_dir"] = str((path.parent / raw["local_dir"]).resolve())
    try:
        return TaskSpec(**raw)
    except ValidationError as e:
        raise UserError(validation_message(e, "task"), path=str(path)) from None


def extra_task_dirs() -> list[Path]:
    """User task directories: those registered in-process plus $XSTILTS_TASK_DIRS (os.pathsep-separated), so that
    worker processes (Ray) see the same tasks as the driver."""
    env = [Path(p) for p in os.environ.get("XSTILTS_TASK_DIRS", "").split(os.pathsep) if p]
    return list(dict.fromkeys([*_EXTRA_DIRS, *env]))


def _load_all() -> dict[str, TaskSpec]:
    tasks: dict[str, TaskSpec] = {}
    for d in [_DEFS, *extra_task_dirs()]:
        for path in sorted(d.rglob("*.yaml")):
            spec = load_task_file(path)
            tasks[spec.name] = spec
    return tasks


def register_task_dir(path: str | Path) -> None:
    """Add a directory of task YAML files (user-defined tasks) to the registry."""
    global _CACHE
    p = Path(path)
    if not p.is_dir():
        raise UserError("task directory not found", path=str(p))
    if p not in _EXTRA_DIRS:
        _EXTRA_DIRS.append(p)
    _CACHE = None


def list_tasks(role: str | None = None) -> list[TaskSpec]:
    """Every registered task (bundled and user directories), optionally only those of one role."""
    global _CACHE
    if _CACHE is None:
        _CACHE = _load_all()
    return [t for t in _CACHE.values() if role is None or t.role == role]


def get_task(name: str) -> TaskSpec:
    """The task called `name` (a UserError listing the known tasks otherwise)."""
    for t in list_tasks():
        if t.name == name:
            return t
    known = ", ".join(sorted(t.name for t in list_tasks()))
    raise UserError(f"unknown task '{name}'; known tasks: {known}")
