"""The Slurm executor: one cluster job per node, submitted through `submitit` as the node's dependencies finish.

The driver runs the one scheduling loop (run.schedule) wherever it is started (a login node, or a small job of its
own), owns results.csv and the event log, and holds the run directory's lock; the run directory must be on a
filesystem the compute nodes share. A job writes only its node's directory, atomically, so a killed driver is resumed
by running the same command again (finished nodes are verified and reused; nodes whose jobs were lost run again).
`cluster="local"` runs the same jobs as local processes (submitit's local executor), which is how it is tested.

Needs the optional extra: pip install 'xstilts[slurm]'.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from xstilts.errors import UserError
from xstilts.experiments.parallel import execute_in_worker, worker_env
from xstilts.experiments.run import schedule
from xstilts.experiments.spec import ExperimentSpec


def _run_job(env: dict[str, str], *args: Any) -> list[dict[str, Any]]:
    """A node in a cluster job: the driver's environment (task dirs, caches), then the shared worker function."""
    os.environ.update(env)
    return execute_in_worker(*args)


def run_slurm(
    spec: ExperimentSpec,
    out: Path,
    parameters: dict[str, Any] | None = None,
    cluster: str | None = None,
    poll_seconds: float = 2.0,
    log_with: str | None = None,
    only: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """Run every unfinished node as a Slurm job (or a local process with cluster='local')."""
    try:
        import submitit
    except ImportError:
        raise UserError("the Slurm executor needs submitit: pip install 'xstilts[slurm]'") from None
    out = Path(out).resolve()
    params = {"timeout_min": 24 * 60, "name": f"xstilts-{spec.name}", **(parameters or {})}
    executor = submitit.AutoExecutor(folder=out / "slurm" / "%j", cluster=cluster)
    try:
        executor.update_parameters(**params)
    except (TypeError, ValueError) as e:
        raise UserError(f"--slurm: {e}") from None
    env = worker_env()

    def submit(node: Any, out_dir: str) -> Any:
        return executor.submit(_run_job, env, node, out_dir, log_with)

    def wait_any(jobs: list[Any]) -> list[Any]:
        while True:
            done = [j for j in jobs if j.done()]
            if done:
                return done
            time.sleep(poll_seconds)

    def result(job: Any) -> list[dict[str, Any]]:
        try:
            return job.result()
        except Exception as e:  # noqa: BLE001 - submitit wraps the node's error with the job's stderr
            raise RuntimeError(f"job {job.job_id}: {str(e).strip().splitlines()[-1] if str(e).strip() else e}") from e

    return schedule(spec, out, submit, wait_any, result, only=only)
