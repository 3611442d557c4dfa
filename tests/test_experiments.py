"""Experiments: spec validation, the plan's node counts, a local run, resume after SIGKILL, ray == local."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from xstilts.errors import UserError
from xstilts.experiments.plan import build_plan
from xstilts.experiments.spec import load_spec

HP = {
    "max_seq_length": 32,
    "batch_size": 8,
    "grad_accumulation": 1,
    "learning_rate": 1e-3,
    "eval_every_steps": 1000,
    "max_train_examples": 48,
}


def write_spec(path: Path, model_dir: Path, max_steps: int = 4, **extra) -> Path:
    spec = {
        "name": "toy",
        "models": [{"name": "tiny", "path": str(model_dir), "retrieval_layer": 1}],
        "intermediate": [
            {"name": "none"},
            {"name": "cls", "tasks": ["toy_cls"]},
            {"name": "mix", "tasks": ["toy_tag", "toy_mc"], "sampler": "uniform"},
        ],
        "targets": ["toy_target", "toy_retrieval"],
        "splits": ["dev"],
        "seeds": [0],
        "hyperparameters": {"intermediate": {**HP, "max_steps": max_steps}, "target": {**HP, "max_steps": max_steps}},
        **extra,
    }
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_plan_shares_intermediate_models(tiny_models, toy_tasks, tmp_path):
    spec = load_spec(write_spec(tmp_path / "s.yaml", tiny_models["bert"], seeds=[0, 1]))
    nodes = build_plan(spec)
    kinds = [n.kind for n in nodes]
    assert kinds.count("intermediate") == 2 * 2  # (cls, mix) x 2 seeds; `none` trains nothing
    assert kinds.count("target") == 3 * 2  # toy_target only (retrieval has no training) x 3 settings x 2 seeds
    assert kinds.count("evaluation") == 3 * 2 * 2
    by_id = {n.id: n for n in nodes}
    retrieval = [n for n in nodes if n.kind == "evaluation" and n.target == "toy_retrieval" and n.intermediate == "cls"]
    assert all(by_id[n.depends_on[0]].kind == "intermediate" for n in retrieval)
    assert len({n.dirname() for n in nodes}) == len(nodes)
    # Retrieval on the untrained model does not depend on the seed: same content hash for both seeds.
    base = [
        n.hash for n in nodes if n.kind == "evaluation" and n.target == "toy_retrieval" and n.intermediate == "none"
    ]
    assert len(base) == 2 and len(set(base)) == 1


def test_spec_errors_name_file_and_line(tmp_path, toy_tasks):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "models:\n  - name: m\n    path: x\nintermediate:\n  - name: a\n    tasks: [nope]\ntargets: [toy_target]\n"
    )
    with pytest.raises(UserError, match="unknown task 'nope'"):
        load_spec(bad)
    bad.write_text("models: [\n")
    with pytest.raises(UserError, match=r"bad.yaml:2"):
        load_spec(bad)
    bad.write_text("models: []\nintermediate: []\ntargets: [toy_target]\nseedz: [1]\n")
    with pytest.raises(UserError, match=r"bad.yaml:4: 'seedz'"):
        load_spec(bad)


def test_local_run_writes_results_and_reuses_nodes(tiny_models, toy_tasks, tmp_path):
    from xstilts.experiments.run import run_local

    spec = load_spec(write_spec(tmp_path / "s.yaml", tiny_models["xlmr"]))
    summary = run_local(spec, tmp_path / "run", progress=False)
    assert summary["failed"] == {}
    rows = read_csv(tmp_path / "run" / "results.csv")
    settings = {r["intermediate"] for r in rows}
    assert settings == {"none", "cls", "mix"}
    score = [r for r in rows if r["metric"] == "score"]
    assert {(r["target"], r["language"]) for r in score} == {
        ("toy_target", "en"),
        ("toy_target", "xx"),
        ("toy_retrieval", "xx"),
    }
    assert all(r["layer"] == "1" for r in rows if r["target"] == "toy_retrieval")
    # in-process, each node is recorded as soon as it ends: its "done" right after its "start", with its seconds
    events = [json.loads(line) for line in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events] == ["start", "done"] * (len(events) // 2)
    assert all(a["node"] == b["node"] for a, b in zip(events[::2], events[1::2], strict=True))
    evals = list((tmp_path / "run" / "nodes").glob("evaluation-*/done.json"))
    assert evals and all(json.loads(p.read_text())["seconds"] > 0 for p in evals)
    _ledger_has_every_node(tmp_path / "run", spec)
    again = run_local(spec, tmp_path / "run", progress=False)
    assert again["ran"] == []
    assert read_csv(tmp_path / "run" / "results.csv") == rows
    _status_reads_records(tmp_path / "run", events)


def _ledger_has_every_node(run: Path, spec) -> None:
    """ledger.jsonl: one typed record per finished node, with the fields the plan gave it and its record's seconds;
    selection's grid records read it (no folder names parsed)."""
    from xstilts.analysis.selection_eval import grid_records
    from xstilts.experiments.plan import build_plan
    from xstilts.ledger import read_ledger

    entries = read_ledger(run)
    nodes = {n.id: n for n in build_plan(spec)}
    assert set(entries) == set(nodes)
    for node_id, e in entries.items():
        n = nodes[node_id]
        assert (e.kind, e.model, e.setting, e.target, e.seed, e.hash, e.dir) == (
            n.kind,
            n.model,
            n.intermediate,
            n.target,
            n.seed,
            n.hash,
            n.dirname(),
        )
        record = "done.json" if n.kind == "evaluation" else "phase.json"
        assert e.seconds == round(json.loads((run / "nodes" / e.dir / record).read_text())["seconds"], 3)
        if n.kind == "intermediate":
            assert e.tasks == n.job["phase"]["task_order"]
    records = grid_records(run)
    assert {(p["kind"], p["setting"]) for p in records["phases"]} == {
        (n.kind, n.intermediate) for n in nodes.values() if n.kind != "evaluation"
    }
    assert set(records["evaluations"]) == {i for i, n in nodes.items() if n.kind == "evaluation"}


def _status_reads_records(run: Path, events: list[dict]) -> None:
    """`xstilts status` counts a node whose record exists as done even when its last event is a start (a run stopped
    between the two, or an old run's batched events without the node's directory); a start with no record stays."""
    from typer.testing import CliRunner

    from xstilts.cli import app

    def status() -> str:
        res = CliRunner().invoke(app, ["status", str(run)])
        assert res.exit_code == 0, res.output
        return res.output

    n = len(events) // 2
    assert all(e["dir"] for e in events) and f"done {n}" in status()
    first, second = events[0], events[2]
    with (run / "events.jsonl").open("a") as f:
        f.write(json.dumps({"time": 0, "node": first["node"], "event": "start"}) + "\n")  # no "dir": an old run's
        f.write(json.dumps({**second, "event": "start"}) + "\n")
    out = status()
    assert f"done {n}" in out and "start" not in out
    record = "done.json" if second["node"].startswith("evaluation") else "phase.json"
    (run / "nodes" / second["dir"] / record).unlink()
    out = status()
    assert f"done {n - 1}" in out and f"start: {second['node']}" in out


@pytest.mark.slow
def test_sigkill_mid_phase_then_resume_gives_same_results(tiny_models, toy_tasks, tmp_path):
    spec_path = write_spec(tmp_path / "s.yaml", tiny_models["bert"], max_steps=150)
    env = {**os.environ, "XSTILTS_TASK_DIRS": str(toy_tasks), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "xstilts.cli", "run", str(spec_path), "--quiet"]
    subprocess.run(cmd + ["--out", str(tmp_path / "clean")], env=env, check=True, capture_output=True)

    killed = tmp_path / "killed"
    proc = subprocess.Popen(cmd + ["--out", str(killed)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    events = killed / "events.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline:  # wait until the second training node has started, then kill it mid-phase
        starts = [json.loads(l) for l in events.read_text().splitlines()] if events.exists() else []
        if sum(1 for e in starts if e["event"] == "start" and not e["node"].startswith("evaluation")) >= 2:
            break
        time.sleep(0.05)
    time.sleep(1.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    done_before = {json.loads(l)["node"] for l in events.read_text().splitlines() if '"done"' in l}
    subprocess.run(cmd + ["--out", str(killed)], env=env, check=True, capture_output=True)
    all_events = [json.loads(l) for l in events.read_text().splitlines()]
    done_counts: dict[str, int] = {}
    for e in all_events:
        if e["event"] == "done":
            done_counts[e["node"]] = done_counts.get(e["node"], 0) + 1
    assert all(c == 1 for c in done_counts.values()), done_counts  # no finished node ran twice
    assert done_before < set(done_counts)
    clean = sorted(read_csv(tmp_path / "clean" / "results.csv"), key=lambda r: (r["node"], r["language"], r["metric"]))
    resumed = sorted(read_csv(killed / "results.csv"), key=lambda r: (r["node"], r["language"], r["metric"]))
    assert clean == resumed


@pytest.fixture
def single_thread(monkeypatch):
    """Workers and the driver on one torch thread each, so parallel and sequential runs compute bit-identical numbers."""
    import torch

    monkeypatch.setenv("XSTILTS_THREADS", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def assert_same_results(a: Path, b: Path) -> None:
    key = lambda r: (r["node"], r["language"], r["split"], r["metric"])  # noqa: E731
    assert sorted(read_csv(a / "results.csv"), key=key) == sorted(read_csv(b / "results.csv"), key=key)


@pytest.mark.slow
def test_ray_executor_matches_local(tiny_models, toy_tasks, tmp_path, single_thread):
    pytest.importorskip("ray")
    import ray

    from xstilts.experiments.ray_executor import run_ray
    from xstilts.experiments.run import run_local

    spec = load_spec(write_spec(tmp_path / "s.yaml", tiny_models["bert"]))
    run_local(spec, tmp_path / "local", progress=False)
    try:
        summary = run_ray(spec, tmp_path / "ray", progress=False, num_cpus=2)
    finally:
        ray.shutdown()
    assert summary["failed"] == {}
    assert_same_results(tmp_path / "local", tmp_path / "ray")


def test_paper_preset_plan_counts():
    """experiments/paper.yaml: one intermediate node per (model, setting, seed), one target node per (model, setting,
    target with training data, seed)."""
    from xstilts.tasks import get_task

    root = Path(__file__).resolve().parents[1]
    spec = load_spec(root / "experiments" / "paper.yaml")
    nodes = build_plan(spec)
    trained = [t for t in spec.targets if get_task(t).has_training_data]
    assert len(trained) == 7  # BUCC and Tatoeba have no training data
    settings = [s for s in spec.intermediate if not s.is_baseline]
    inter = [(n.model, n.intermediate, n.seed) for n in nodes if n.kind == "intermediate"]
    assert sorted(inter) == sorted((m.name, s.name, seed) for m in spec.models for s in settings for seed in spec.seeds)
    tgt = [(n.model, n.intermediate, n.target, n.seed) for n in nodes if n.kind == "target"]
    assert sorted(tgt) == sorted(
        (m.name, s.name, t, seed)
        for m in spec.models
        for s in spec.intermediate
        for t in trained
        for seed in spec.seeds
    )
    all_nine = next(s for s in spec.intermediate if s.name == "all_nine")
    assert len(all_nine.tasks) == 9


def test_cli_plan_json(tmp_path):
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-m", "xstilts.cli", "plan", str(root / "experiments" / "paper.yaml"), "--json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    nodes = json.loads(out)["nodes"]
    assert all({"id", "kind", "depends_on", "done"} <= set(n) for n in nodes)
    assert sum(n["kind"] == "intermediate" for n in nodes) == 10


def test_changed_spec_reruns_changed_nodes_and_replaces_their_rows(tiny_models, toy_tasks, tmp_path):
    from xstilts.experiments.run import run_local

    out = tmp_path / "run"
    spec = load_spec(write_spec(tmp_path / "s.yaml", tiny_models["bert"], max_steps=2))
    run_local(spec, out, progress=False)
    first = read_csv(out / "results.csv")
    changed = load_spec(write_spec(tmp_path / "s2.yaml", tiny_models["bert"], max_steps=3))
    summary = run_local(changed, out, progress=False)
    assert summary["ran"] and not any(n.startswith("evaluation/tiny/none/toy_retrieval") for n in summary["ran"])
    second = read_csv(out / "results.csv")
    assert len(second) == len(first)
    plan_keys = {n.key for n in build_plan(changed) if n.kind == "evaluation"}
    assert {r["node"] for r in second} <= plan_keys


@pytest.mark.slow
def test_parallel_local_workers_match_sequential(tiny_models, toy_tasks, tmp_path, single_thread):
    """The local executor's worker pool (one per GPU; here 2 CPU workers) gives the sequential run's results."""
    from xstilts.experiments.parallel import run_pool
    from xstilts.experiments.run import run_local

    spec = load_spec(write_spec(tmp_path / "s.yaml", tiny_models["xlmr"]))
    run_local(spec, tmp_path / "seq", progress=False)
    summary = run_pool(spec, tmp_path / "pool", jobs=2)
    assert summary["failed"] == {} and len(summary["ran"]) == summary["nodes"]
    assert_same_results(tmp_path / "seq", tmp_path / "pool")


def test_failing_node_skips_only_its_dependents(tiny_models, toy_tasks, tmp_path):
    """A target whose data directory is missing fails with a logged traceback; its evaluation is skipped, every
    independent node still runs, and the CLI exits non-zero with a summary."""
    from xstilts.experiments.run import run_local

    spec_path = write_spec(tmp_path / "s.yaml", tiny_models["bert"], data_dirs={"toy_cls": str(tmp_path / "missing")})
    summary = run_local(load_spec(spec_path), tmp_path / "run", progress=False)
    failed = summary["failed"]
    # toy_target trains from toy_cls's data: every target node and the cls intermediate fail, their evaluations skip.
    assert "data directory not found" in failed["target/tiny/none/toy_target/s0"]
    assert failed["evaluation/tiny/none/toy_target/s0"].startswith("skipped: upstream target/tiny/none/toy_target/s0")
    log = tmp_path / "run" / "logs"
    assert any("Traceback" in p.read_text() for p in log.iterdir())
    assert "intermediate/tiny/mix/s0" in summary["ran"]  # independent: tagging + multiple choice
    assert "evaluation/tiny/none/toy_retrieval/s0" in summary["ran"]
    rows = read_csv(tmp_path / "run" / "results.csv")
    assert {r["target"] for r in rows} == {"toy_retrieval"}
    res = subprocess.run(
        [sys.executable, "-m", "xstilts.cli", "run", str(spec_path), "--out", str(tmp_path / "run"), "--quiet"],
        capture_output=True,
        text=True,
        env={**os.environ, "XSTILTS_TASK_DIRS": str(toy_tasks)},
    )
    assert res.returncode == 1 and "node(s) failed" in res.stderr and "log:" in res.stderr
