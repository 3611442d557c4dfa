"""Checkpoint retention (experiments/retention.py): with the default `checkpoints: {target: drop_after_eval}` a target
node's weights are removed once its evaluations are sealed, records and predictions stay, results are those of a run
that keeps everything; a run killed between the last evaluation and the removal (or in the middle of it) finishes the
removal on resume without rerunning anything; an evaluation to recompute retrains its target first."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml

from xstilts.experiments.plan import build_plan
from xstilts.experiments.retention import Retention
from xstilts.experiments.spec import load_spec
from xstilts.integrity import WEIGHTS_DROPPED

HP = {
    "max_seq_length": 32,
    "batch_size": 8,
    "grad_accumulation": 1,
    "learning_rate": 1e-3,
    "eval_every_steps": 1000,
    "max_train_examples": 32,
    "max_steps": 2,
}
TGT, EVAL = "target/tiny/cls/toy_target/s0", "evaluation/tiny/cls/toy_target/s0"


def _spec(tmp_path: Path, model_dir: Path, name: str = "s.yaml", **extra):
    spec = {
        "name": "retain",
        "models": [{"name": "tiny", "path": str(model_dir), "retrieval_layer": 1}],
        "intermediate": [{"name": "none"}, {"name": "cls", "tasks": ["toy_cls"]}],
        "targets": ["toy_target", "toy_retrieval"],
        "hyperparameters": {"intermediate": HP, "target": HP},
        **extra,
    }
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return load_spec(path)


def _rows(out: Path) -> list[dict[str, str]]:
    with (out / "results.csv").open() as f:
        return sorted(csv.DictReader(f), key=lambda r: (r["node"], r["language"], r["split"], r["metric"]))


def _dirs(spec, out: Path) -> dict[str, Path]:
    return {n.id: out / "nodes" / n.dirname() for n in build_plan(spec)}


def _size(d: Path) -> int:
    return sum(p.stat().st_size for p in d.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def runs(tiny_models, toy_tasks, tmp_path_factory):
    from xstilts.experiments.run import run_local

    root = tmp_path_factory.mktemp("retention")
    keep = _spec(root, tiny_models["bert"], "keep.yaml", checkpoints={"target": "keep"})
    drop = _spec(root, tiny_models["bert"])
    assert drop.checkpoints.target == "drop_after_eval"  # the default
    assert [n.hash for n in build_plan(keep)] == [n.hash for n in build_plan(drop)]  # retention computes nothing
    assert run_local(keep, root / "keep", progress=False)["failed"] == {}
    assert run_local(drop, root / "drop", progress=False)["failed"] == {}
    return drop, root


def test_target_weights_dropped_after_their_evaluations_with_the_same_results(runs):
    spec, root = runs
    out = root / "drop"
    assert _rows(out) == _rows(root / "keep")
    for node_id, d in _dirs(spec, out).items():
        if node_id.startswith("target/"):
            marker = json.loads((d / WEIGHTS_DROPPED).read_text())
            assert marker["read_by"] == ["evaluation/" + node_id.removeprefix("target/")] and marker["bytes"] > 0
            assert not (d / "encoder").exists() and not (d / "heads.safetensors").exists()
            assert (d / "phase.json").is_file() and (d / "metrics.json").is_file()  # the record stays
        elif node_id.startswith("intermediate/"):
            assert (d / "encoder" / "model.safetensors").is_file()  # every target of the setting starts from it
        else:
            assert (d / "done.json").is_file() and (d / "predictions").is_dir()
    assert _size(out / "nodes") < 0.75 * _size(root / "keep" / "nodes")


def test_resume_after_a_kill_between_the_last_evaluation_and_the_removal(runs, tiny_models, tmp_path, monkeypatch):
    from xstilts.experiments.run import run_local

    spec, root = runs
    out = tmp_path / "run"

    def killed(self, node_id, readers):  # the process dies right after the evaluation's record is sealed
        raise KeyboardInterrupt

    monkeypatch.setattr(Retention, "drop", killed)
    with pytest.raises(KeyboardInterrupt):
        run_local(spec, out, progress=False)
    monkeypatch.undo()
    assert not list((out / "nodes").glob(f"*/{WEIGHTS_DROPPED}"))
    summary = run_local(spec, out, progress=False)
    assert summary["failed"] == {}
    first_ran = set(summary["ran"])
    assert TGT not in first_ran or EVAL in first_ran  # nothing sealed before the kill ran again
    dirs = _dirs(spec, out)
    assert (dirs["target/tiny/none/toy_target/s0"] / WEIGHTS_DROPPED).is_file()
    assert run_local(spec, out, progress=False)["ran"] == []
    assert _rows(out) == _rows(root / "keep")

    # killed in the middle of a removal: the marker written, some of the weights still there
    d = dirs[TGT]
    assert "encoder/model.safetensors" in json.loads((d / WEIGHTS_DROPPED).read_text())["files"]
    (d / "encoder").mkdir()
    (d / "encoder" / "model.safetensors").write_bytes(b"half of the weights")
    assert run_local(spec, out, progress=False)["ran"] == []  # not taken for corruption
    assert not (d / "encoder").exists()


def test_an_evaluation_to_recompute_retrains_its_dropped_target(runs, tmp_path, capsys):
    import shutil

    from xstilts.experiments.run import run_local

    spec, root = runs
    out = tmp_path / "run"
    shutil.copytree(root / "drop", out)
    dirs = _dirs(spec, out)
    (dirs[EVAL] / "done.json").unlink()
    capsys.readouterr()
    summary = run_local(spec, out, progress=False)
    assert set(summary["ran"]) == {TGT, EVAL} and summary["failed"] == {}
    assert "trained again" in capsys.readouterr().err
    assert _rows(out) == _rows(root / "keep")
    assert (dirs[TGT] / WEIGHTS_DROPPED).is_file() and not (dirs[TGT] / "encoder").exists()  # dropped again
    assert run_local(spec, out, progress=False)["ran"] == []
