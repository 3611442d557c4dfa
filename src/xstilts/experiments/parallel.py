"""Parallel execution of a plan in worker processes: a local pool with one worker per GPU (the Ray executor uses the
same workers); both run through run.schedule, the one scheduling loop."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from xstilts.experiments.plan import Node
from xstilts.experiments.run import execute_node, schedule
from xstilts.experiments.spec import ExperimentSpec


def worker_env() -> dict[str, str]:
    """Environment a worker process needs to see the driver's tasks and caches."""
    from xstilts.tasks.registry import extra_task_dirs

    env = {"XSTILTS_TASK_DIRS": os.pathsep.join(str(d) for d in extra_task_dirs())}
    for key in ("XSTILTS_HOME", "XSTILTS_THREADS", "HF_HOME"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def execute_in_worker(node: Node, out: str, log_with: str | None = None) -> list[dict]:
    """A node's job run in a worker process (Ray task or pool process): the node carries everything it needs."""
    import torch

    torch.set_num_threads(max(1, int(os.environ.get("XSTILTS_THREADS", torch.get_num_threads()))))
    return execute_node(node, Path(out), progress=False, log_with=log_with)


def _pin_device(queue: Any, env: dict[str, str]) -> None:
    """Pool initializer: each worker process takes one GPU id (or none on CPU) and the driver's environment."""
    os.environ.update(env)
    gpu = queue.get()
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)


def run_pool(
    spec: ExperimentSpec,
    out: Path,
    jobs: int | None = None,
    log_with: str | None = None,
    only: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """The local executor on several devices: one worker process per local GPU (or `jobs` CPU workers)."""
    import concurrent.futures as cf
    import multiprocessing as mp

    import torch

    gpus = torch.cuda.device_count()
    workers = jobs or max(1, gpus)
    ctx = mp.get_context("spawn")  # CUDA cannot be re-initialized in forked children
    queue = ctx.Queue()
    for i in range(workers):
        queue.put(i % gpus if gpus else None)
    with cf.ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_pin_device, initargs=(queue, worker_env())
    ) as pool:
        return schedule(
            spec,
            out,
            submit=lambda n, o: pool.submit(execute_in_worker, n, o, log_with),
            wait_any=lambda hs: list(cf.wait(hs, return_when=cf.FIRST_COMPLETED).done),
            result=lambda f: f.result(),
            only=only,
        )
