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
