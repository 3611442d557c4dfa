"""Parallel execution of a plan: one scheduling loop shared by the Ray executor and the local multi-GPU executor.

The driver submits each node once its dependencies finished, collects results as they come, owns results.csv and the
event log; workers only write their node's directory (atomically). A failing node skips its dependents only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from xstilts.experiments.plan import Node, build_plan, is_done
from xstilts.experiments.results import append_results
from xstilts.experiments.run import execute_node, finished_rows, log_event, resolve_model
from xstilts.experiments.spec import ExperimentSpec


def worker_env() -> dict[str, str]:
    """Environment a worker process needs to see the driver's tasks and caches."""
    from xstilts.tasks.registry import extra_task_dirs

    env = {"XSTILTS_TASK_DIRS": os.pathsep.join(str(d) for d in extra_task_dirs())}
    for key in ("XSTILTS_HOME", "XSTILTS_THREADS", "XSTILTS_LOG_WITH", "HF_HOME"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def execute_in_worker(node: Node, spec_dict: dict[str, Any], out: str, model_paths: dict[str, str]) -> list[dict]:
    """A node run in a worker process (Ray task or pool process)."""
    import torch

    torch.set_num_threads(max(1, int(os.environ.get("XSTILTS_THREADS", torch.get_num_threads()))))
    return execute_node(node, ExperimentSpec(**spec_dict), Path(out), model_paths, progress=False)


Submit = Callable[[Node, dict[str, Any], str, dict[str, str]], Any]


def schedule(spec: ExperimentSpec, out: Path, submit: Submit, wait_any: Callable[[list[Any]], list[Any]],
             result: Callable[[Any], list[dict[str, Any]]]) -> dict[str, Any]:
    """Run every unfinished node: `submit` starts one and returns a handle, `wait_any` returns the finished handles among
    those given (at least one), `result` returns a handle's rows or raises the node's error."""
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    nodes = build_plan(spec)
    model_paths = {m.name: resolve_model(m, spec, out) for m in spec.models}
    results = out / "results.csv"
    append_results(results, [], keep_nodes={n.key for n in nodes if n.kind == "evaluation"})
    spec_dict = spec.model_dump()
    finished: set[str] = set()
    failed: dict[str, str] = {}
    ran: list[str] = []
    for n in nodes:
        if is_done(out, n):
            finished.add(n.id)
            if n.kind == "evaluation":
                append_results(results, finished_rows(out, n))
    pending: dict[Any, Node] = {}
    submitted: set[str] = set(finished)
    while True:
        for n in nodes:
            if n.id in submitted or n.id in failed:
                continue
            bad = [d for d in n.depends_on if d in failed]
            if bad:
                failed[n.id] = f"skipped: upstream {bad[0]} failed"
            elif all(d in finished for d in n.depends_on):
                pending[submit(n, spec_dict, str(out), model_paths)] = n
                submitted.add(n.id)
                log_event(out, n, "start")
        if not pending:
            break
        for handle in wait_any(list(pending)):
            n = pending.pop(handle)
            try:
                rows = result(handle)
            except Exception as e:  # noqa: BLE001 - one failing node must not stop the others
                log = out / "logs" / f"{n.dirname()}.log"
                log.parent.mkdir(parents=True, exist_ok=True)
                log.write_text(f"{type(e).__name__}: {e}\n", encoding="utf-8")
                failed[n.id] = f"{type(e).__name__}: {e} (log: {log})"
                log_event(out, n, "failed", log=str(log))
                continue
            if rows:
                append_results(results, rows)
            finished.add(n.id)
            ran.append(n.id)
            log_event(out, n, "done")
    return {"ran": ran, "failed": failed, "nodes": len(nodes)}


_GPU_QUEUE: Any = None


def _pin_device(queue: Any, env: dict[str, str]) -> None:
    """Pool initializer: each worker process takes one GPU id (or none on CPU) and the driver's environment."""
    os.environ.update(env)
    gpu = queue.get()
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)


def run_pool(spec: ExperimentSpec, out: Path, jobs: int | None = None) -> dict[str, Any]:
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
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_pin_device,
                                initargs=(queue, worker_env())) as pool:
        return schedule(
            spec, out,
            submit=lambda n, s, o, m: pool.submit(execute_in_worker, n, s, o, m),
            wait_any=lambda hs: list(cf.wait(hs, return_when=cf.FIRST_COMPLETED).done),
            result=lambda f: f.result(),
        )
