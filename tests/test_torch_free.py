"""Commands that need no model run with torch made unimportable: `xstilts score` (as the official scorer needs only
seqeval), `xstilts tasks`, `xstilts results`, and a spec's `selection:` block checked at load (the method table is
torch-free; only ranking imports the model side). `xstilts plan` is covered in test_job_hashes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from tests.helpers import run_without_torch
from xstilts.evaluation.scorer import score_predictions
from xstilts.tasks import list_tasks

SCORER = Path(__file__).parent / "fixtures" / "scorer"


def test_score_runs_without_torch_and_gives_the_same_numbers(tmp_path):
    for fixture in ("hand", "official_mock"):  # official_mock: all nine tasks, tagging (seqeval) and QA included
        out = tmp_path / f"{fixture}.json"
        res = run_without_torch(
            "score",
            "--predictions",
            str(SCORER / fixture / "predictions"),
            "--labels",
            str(SCORER / fixture / "labels"),
            "--output",
            str(out),
        )
        assert res.returncode == 0, res.stderr[-2000:]
        expected = score_predictions(SCORER / fixture / "predictions", SCORER / fixture / "labels")
        assert json.loads(out.read_text(encoding="utf-8")) == json.loads(json.dumps(expected))
    subset = tmp_path / "subset.json"
    res = run_without_torch(
        "score",
        "--predictions",
        str(SCORER / "hand" / "predictions"),
        "--labels",
        str(SCORER / "hand" / "labels"),
        "--output",
        str(subset),
        "--languages",
        "pawsx=en,de",
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert set(json.loads(subset.read_text(encoding="utf-8"))["pawsx"]["accuracy"]) == {"en", "de"}


def test_score_user_errors_stay_one_line_without_torch(tmp_path):
    res = run_without_torch(
        "score", "--predictions", str(tmp_path / "nope"), "--labels", str(tmp_path), "--output", str(tmp_path / "o")
    )
    assert res.returncode == 2 and "torch" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "directory not found" in res.stderr


def test_tasks_runs_without_torch():
    res = run_without_torch("tasks", "--json")
    assert res.returncode == 0, res.stderr[-2000:]
    listed = json.loads(res.stdout)
    with_torch = subprocess.run(
        [sys.executable, "-m", "xstilts.cli", "tasks", "--json"], capture_output=True, text=True, timeout=300
    )
    assert listed == json.loads(with_torch.stdout)  # the same listing as with torch importable
    assert {t["name"] for t in listed} >= {t.name for t in list_tasks(None) if t.name.startswith(("x", "demo_"))}
    assert {t["name"]: t["family"] for t in listed}["xnli"] == "classification"
    for args in (("tasks",), ("tasks", "--role", "target")):
        res = run_without_torch(*args)
        assert res.returncode == 0 and "xnli" in res.stdout, res.stderr[-2000:]


def test_results_runs_without_torch(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.csv").write_text(
        "model,intermediate,target,language,split,seed,metric,value,node\n"
        "m,none,xnli,en,test,0,score,80.000000,n\n"
        "m,none,xnli,de,test,0,score,70.000000,n\n"
    )
    res = run_without_torch("results", str(run), "--format", "csv")
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.splitlines()[1] == "m,none,xnli,test,0,score,75.0,80.0,70.0"


def test_a_selection_block_is_checked_at_load_without_torch(tmp_path):
    spec = {
        "name": "s",
        "models": [{"name": "m", "path": "embedded"}],
        "intermediate": [{"name": "none"}],
        "targets": ["demo_topic"],
        "selection": {"method": "lgome"},
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    res = run_without_torch("plan", str(path))
    assert res.returncode == 2, res.stderr[-2000:]
    assert "unknown selection method 'lgome'" in res.stderr and "torch" not in res.stderr
