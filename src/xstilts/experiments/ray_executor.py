"""The Ray executor: each node a Ray task with its CPU/GPU needs; the run directory must be on a filesystem that every
Ray node shares (NFS, a cloud bucket mount). The driver submits nodes as their dependencies finish and owns results.csv."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from xstilts.experiments.plan import Node, build_plan, is_done
from xstilts.experiments.results import append_results
from xstilts.experiments.run import execute_node, finished_rows, log_event, resolve_model
from xstilts.experiments.spec import ExperimentSpec


def _execute_remote(node: Node, spec_dict: dict[str, Any], out: str, model_paths: dict[str, str]) -> list[dict[str, Any]]:
    import torch

    torch.set_num_threads(max(1, int(os.environ.get("XSTILTS_THREADS", torch.get_num_threads()))))
    spec = ExperimentSpec(**spec_dict)
    return execute_node(node, spec, Path(out), model_paths, progress=False)


def run_ray(spec: ExperimentSpec, out: Path, address: str | None = None, progress: bool = True,
            num_cpus: int | None = None) -> dict[str, Any]:
    import ray
    import torch

    from xstilts.tasks.registry import extra_task_dirs

    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    env = {"XSTILTS_TASK_DIRS": os.pathsep.join(str(d) for d in extra_task_dirs())}
    for key in ("XSTILTS_HOME", "XSTILTS_THREADS", "HF_HOME"):
        if key in os.environ:
            env[key] = os.environ[key]
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"runtime_env": {"env_vars": env}, "include_dashboard": False,
                                  "log_to_driver": progress}
        if address is None:
            kwargs["num_cpus"] = num_cpus or os.cpu_count()
        ray.init(address=address, **kwargs)
    gpus = ray.cluster_resources().get("GPU", 0)
    remote = ray.remote(_execute_remote)
    nodes = build_plan(spec)
    model_paths = {m.name: resolve_model(m, spec, out) for m in spec.models}
    results = out / "results.csv"
    spec_dict = spec.model_dump()
    append_results(results, [], keep_nodes={n.key for n in nodes if n.kind == "evaluation"})
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
            if any(d in failed for d in n.depends_on):
                failed[n.id] = f"skipped: upstream {next(d for d in n.depends_on if d in failed)} failed"
                continue
            if all(d in finished for d in n.depends_on):
                opts = {"num_cpus": 1, "num_gpus": 1 if gpus and n.kind != "evaluation" else 0}
                pending[remote.options(**opts).remote(n, spec_dict, str(out), model_paths)] = n
                submitted.add(n.id)
                log_event(out, n, "start")
        if not pending:
            break
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            n = pending.pop(ref)
            try:
                rows = ray.get(ref)
            except Exception as e:  # noqa: BLE001 - one failing node must not stop the others
                log = out / "logs" / f"{n.dirname()}.log"
                log.parent.mkdir(parents=True, exist_ok=True)
                log.write_text(str(e), encoding="utf-8")
                failed[n.id] = f"{type(e).__name__} (log: {log})"
                log_event(out, n, "failed", log=str(log))
                continue
            if rows:
                append_results(results, rows)
            finished.add(n.id)
            ran.append(n.id)
            log_event(out, n, "done")
    return {"ran": ran, "failed": failed, "nodes": len(nodes)}
