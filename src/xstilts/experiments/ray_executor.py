"""The Ray executor: each node a Ray task with its CPU/GPU needs; the run directory must be on a filesystem that every
Ray node shares (NFS, a cloud bucket mount). The driver submits nodes as their dependencies finish and owns results.csv."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from xstilts.experiments.parallel import execute_in_worker, worker_env
from xstilts.experiments.run import schedule
from xstilts.experiments.spec import ExperimentSpec


def run_ray(
    spec: ExperimentSpec,
    out: Path,
    address: str | None = None,
    progress: bool = True,
    num_cpus: int | None = None,
    log_with: str | None = None,
    only: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    import ray

    if not ray.is_initialized():
        kwargs: dict[str, Any] = {
            "runtime_env": {"env_vars": worker_env()},
            "include_dashboard": False,
            "log_to_driver": progress,
        }
        if address is None:
            kwargs["num_cpus"] = num_cpus or os.cpu_count()
        ray.init(address=address, **kwargs)
    gpus = ray.cluster_resources().get("GPU", 0)
    remote = ray.remote(execute_in_worker)

    def submit(node, out_dir):
        # Every node asks for a GPU where the cluster has one: evaluation over 40 languages needs it as much as training.
        opts = {"num_cpus": 1, "num_gpus": 1 if gpus else 0}
        return remote.options(**opts).remote(node, out_dir, log_with)

    return schedule(
        spec, Path(out), submit, wait_any=lambda hs: ray.wait(hs, num_returns=1)[0], result=ray.get, only=only
    )
