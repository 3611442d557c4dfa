"""The executors `xstilts run --executor NAME` offers: one `EXECUTORS` entry each (a help line and a run function).

An executor only starts nodes and waits for them (see `run.schedule`); its entry turns the command's options into a
call of its module, imported when it runs (Ray and submitit are optional). A new executor is one module and one
`EXECUTORS.register(name, Executor(...))`; `xstilts run` validates `--executor` against the names and lists them in
`--help`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xstilts.registry import Registry


@dataclass(frozen=True)
class RunOptions:
    """The options of `xstilts run` an executor may use (each ignores the ones that are not its own)."""

    jobs: int | None = None  # local: worker processes (None: one per local GPU when there are several)
    ray_address: str | None = None
    progress: bool = True
    log_with: str | None = None
    only: dict[str, list[str]] | None = None
    slurm: dict[str, Any] = field(default_factory=dict)  # submitit parameters


@dataclass(frozen=True)
class Executor:
    """One executor: a line for `--help`, and `run(spec, out, options) -> summary` (ran, failed, nodes)."""

    help: str
    run: Callable[[Any, Path, RunOptions], dict[str, Any]]


EXECUTORS: Registry[Executor] = Registry("executor")


def _local(spec: Any, out: Path, o: RunOptions) -> dict[str, Any]:
    import torch

    if (o.jobs or 0) > 1 or (o.jobs is None and torch.cuda.device_count() > 1):
        from xstilts.experiments.parallel import run_pool

        return run_pool(spec, out, o.jobs, log_with=o.log_with, only=o.only)
    from xstilts.experiments.run import run_local

    return run_local(spec, out, progress=o.progress, log_with=o.log_with, only=o.only)


def _ray(spec: Any, out: Path, o: RunOptions) -> dict[str, Any]:
    from xstilts.experiments.ray_executor import run_ray

    return run_ray(spec, out, address=o.ray_address, progress=o.progress, log_with=o.log_with, only=o.only)


def _slurm(spec: Any, out: Path, o: RunOptions) -> dict[str, Any]:
    from xstilts.experiments.slurm_executor import run_slurm

    cluster = os.environ.get("XSTILTS_SUBMITIT_CLUSTER")
    return run_slurm(spec, out, o.slurm, cluster=cluster, log_with=o.log_with, only=o.only)


EXECUTORS.register("local", Executor("this machine; one worker per GPU when there are several", _local))
EXECUTORS.register("ray", Executor("a Ray cluster (--ray-address; default: start a local Ray)", _ray))
EXECUTORS.register("slurm", Executor("one cluster job per node, via submitit (--slurm KEY=VALUE)", _slurm))


def executor_help() -> str:
    """The `--executor` help text: every registered executor with its line."""
    return "; ".join(f"'{name}' ({EXECUTORS.get(name).help})" for name in EXECUTORS.names()) + "."
