"""The Slurm executor (submitit): one job per node, dependencies respected, resumable, the local executor's results.

Tested with submitit's local cluster (jobs are local processes run exactly as on Slurm: pickled callable, separate
interpreter, results read back from the job folder)."""

from __future__ import annotations

import json
import os

import pytest

from tests.test_reliability import tiny_spec
from xstilts.experiments.spec import load_spec

pytest.importorskip("submitit")


@pytest.fixture
def one_thread(monkeypatch):
    """Jobs and the in-process run on one torch thread each, so both compute bit-identical numbers."""
    import torch

    monkeypatch.setenv("XSTILTS_THREADS", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow
def test_slurm_jobs_match_the_local_executor_and_resume(tiny_models, toy_tasks, tmp_path, one_thread):
    from xstilts.experiments.plan import build_plan
    from xstilts.experiments.run import run_local
    from xstilts.experiments.slurm_executor import run_slurm

    spec = load_spec(tiny_spec(tmp_path / "s.yaml", tiny_models["bert"]))
    run_local(spec, tmp_path / "local", progress=False)
    out = tmp_path / "slurm"
    summary = run_slurm(spec, out, {"timeout_min": 10}, cluster="local", poll_seconds=0.2)
    assert summary["failed"] == {} and len(summary["ran"]) == summary["nodes"] == 7
    assert (out / "results.csv").read_bytes() == (tmp_path / "local" / "results.csv").read_bytes()
    # One job per node, each started only after its dependencies were done.
    ev = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    order = {(e["node"], e["event"]): i for i, e in enumerate(ev)}
    for n in build_plan(spec):
        for d in n.depends_on:
            assert order[(d, "done")] < order[(n.id, "start")]
    assert len(list((out / "slurm").glob("*/*_submitted.pkl"))) == 7
    # Resumable: a finished run resubmits nothing.
    again = run_slurm(spec, out, {"timeout_min": 10}, cluster="local", poll_seconds=0.2)
    assert again["ran"] == []


def test_cli_offers_the_slurm_executor(tiny_models, toy_tasks, tmp_path):
    import subprocess
    import sys

    res = subprocess.run(
        [sys.executable, "-m", "xstilts.cli", "run", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert "slurm" in res.stdout and "--slurm" in res.stdout and "--wait" in res.stdout
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "xstilts.cli",
            "run",
            str(tiny_spec(tmp_path / "s.yaml", tiny_models["bert"])),
            "--out",
            str(tmp_path / "o"),
            "--executor",
            "slurm",
            "--slurm",
            "partition",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "XSTILTS_TASK_DIRS": str(toy_tasks)},
    )
    assert res.returncode == 2 and "--slurm expects key=value" in res.stderr


class _StateJob:
    """A stand-in for submitit's job class: its state read from a table (or an error for an unknown id)."""

    states = {"1": "RUNNING", "2": "PENDING", "3": "CANCELLED by 0", "4": "UNKNOWN", "5": "COMPLETED"}

    def __init__(self, job_id: str):
        if job_id not in self.states:
            raise RuntimeError("sacct: no such job")
        self.job_id, self.state = job_id, self.states[job_id]

    def get_info(self, mode: str = "force") -> dict:
        return {"State": self.state}


def test_only_queued_or_running_jobs_are_reattached(tmp_path):
    from xstilts.experiments.slurm_executor import JOBS_FILE, earlier_jobs, live_job

    live = {i for i in ("1", "2", "3", "4", "5", "6") if live_job(_StateJob, i) is not None}
    assert live == {"1", "2"}  # ended, unknown to sacct or in an untrusted state: submitted again
    ledger = tmp_path / "slurm" / JOBS_FILE
    ledger.parent.mkdir()
    ledger.write_text(
        '{"node": "a", "hash": "h1", "job": "7"}\n{"node": "a", "hash": "h1", "job": 9}\n{"node": "b", "h'
    )
    assert earlier_jobs(tmp_path) == {
        "h1": "9"
    }  # the latest job per node hash; the torn line of a killed driver skipped


@pytest.mark.slow
def test_a_live_job_of_an_earlier_driver_is_waited_for_not_resubmitted(
    tiny_models, toy_tasks, tmp_path, one_thread, monkeypatch
):
    from xstilts.experiments import slurm_executor
    from xstilts.experiments.parallel import execute_in_worker
    from xstilts.experiments.plan import build_plan
    from xstilts.experiments.run import run_local

    spec = load_spec(tiny_spec(tmp_path / "s.yaml", tiny_models["bert"]))
    run_local(spec, tmp_path / "local", progress=False)
    out = tmp_path / "slurm"
    first = build_plan(spec)[0]  # an earlier driver's job "12345" still runs the plan's first node
    (out / "slurm").mkdir(parents=True)
    (out / "slurm" / slurm_executor.JOBS_FILE).write_text(
        json.dumps({"node": first.id, "hash": first.hash, "job": "12345"}) + "\n", encoding="utf-8"
    )

    class Running:
        job_id = "12345"

        def done(self) -> bool:
            return True

        def result(self) -> list:  # the earlier job finishing: the node computed as a job computes it
            return execute_in_worker(first, str(out))

    asked: list[str] = []
    monkeypatch.setattr(slurm_executor, "live_job", lambda make, job_id: asked.append(job_id) or Running())
    summary = slurm_executor.run_slurm(spec, out, {"timeout_min": 10}, cluster="local", poll_seconds=0.2)
    assert summary["failed"] == {} and len(summary["ran"]) == 7 and asked == ["12345"]
    assert (out / "results.csv").read_bytes() == (tmp_path / "local" / "results.csv").read_bytes()
    assert len(list((out / "slurm").glob("*/*_submitted.pkl"))) == 6  # every node but the re-attached one
    ledger = [json.loads(line) for line in (out / "slurm" / slurm_executor.JOBS_FILE).read_text().splitlines()]
    assert len(ledger) == 7 and {r["hash"] for r in ledger} == {n.hash for n in build_plan(spec)}
