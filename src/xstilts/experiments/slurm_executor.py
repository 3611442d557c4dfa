"""The Slurm executor: one cluster job per node, submitted through `submitit` as the node's dependencies finish.

The driver runs the one scheduling loop (run.schedule) wherever it is started (a login node, or a small job of its
own), owns results.csv and the event log, and holds the run directory's lock; the run directory must be on a
filesystem the compute nodes share. A job writes only its node's directory, atomically, so a killed driver is resumed
by running the same command again: finished nodes are verified and reused; a node whose job an earlier driver submitted
(slurm/jobs.jsonl: node, hash, job id) and which the cluster still lists as queued or running is waited for, not
submitted twice; nodes whose jobs ended without a result run again.
`cluster="local"` runs the same jobs as local processes (submitit's local executor), which is how it is tested; its
jobs die with their driver, so there nothing is re-attached.

Needs the optional extra: pip install 'xstilts[slurm]'.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
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


JOBS_FILE = "jobs.jsonl"  # under <run>/slurm: one line per submitted job
# Slurm job states in which a job may still write its node (anything else has ended; "UNKNOWN" is not trusted)
LIVE_STATES = frozenset({"PENDING", "CONFIGURING", "RUNNING", "REQUEUED", "COMPLETING", "RESIZING", "SUSPENDED"})


def earlier_jobs(out: Path) -> dict[str, str]:
    """Node hash -> the id of the latest job an earlier driver submitted for it (a torn last line is skipped)."""
    path = out / "slurm" / JOBS_FILE
    jobs: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
                jobs[str(rec["hash"])] = str(rec["job"])
            except (ValueError, KeyError, TypeError):
                continue
    return jobs


def live_job(make_job: Callable[[str], Any], job_id: str) -> Any | None:
    """The cluster's job `job_id` when it is still queued or running (its state read now), else None."""
    try:
        job = make_job(job_id)
        job.get_info(mode="force")  # refresh the state from the cluster (sacct)
        state = str(job.state).upper()
    except Exception:  # noqa: BLE001 - a job the cluster no longer knows: submit the node again
        return None
    return job if state.split(" ")[0] in LIVE_STATES else None


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
    earlier = earlier_jobs(out)
    job_class = getattr(getattr(executor, "_executor", executor), "job_class", None)
    ledger = out / "slurm" / JOBS_FILE

    def submit(node: Any, out_dir: str) -> Any:
        job_id = earlier.get(node.hash)
        if job_id is not None and job_class is not None:
            job = live_job(lambda i: job_class(folder=executor.folder, job_id=i), job_id)
            if job is not None:  # an earlier driver's job still computes this node: wait for it
                return job
        job = executor.submit(_run_job, env, node, out_dir, log_with)
        ledger.parent.mkdir(parents=True, exist_ok=True)
        with ledger.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"node": node.id, "hash": node.hash, "job": str(job.job_id)}) + "\n")
        return job

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
