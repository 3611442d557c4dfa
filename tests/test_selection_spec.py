"""A spec with `selection:` plans and runs only the top-k intermediate settings per (model, target)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from xstilts.experiments.plan import build_plan, plan_summary
from xstilts.experiments.spec import load_spec


def write_selection_spec(tmp_path: Path, model_dir: Path, top_k: int = 1) -> Path:
    sel = tmp_path / "rankings"
    sel.mkdir()
    (sel / "tiny-toy_target.json").write_text(
        json.dumps(
            {
                "model": "tiny",
                "rankings": [
                    {
                        "method": "logme",
                        "target": "toy_target",
                        "model": "tiny",
                        "cost": {"seconds": 1.0, "examples": 1},
                        "candidates": [
                            {"name": "toy_tag", "score": 2.0},
                            {"name": "toy_cls", "score": 1.0},
                            {"name": "toy_pair", "score": 0.0},
                        ],
                    }
                ],
            }
        )
    )
    spec = {
        "name": "toy-selection",
        "models": [{"name": "tiny", "path": str(model_dir), "retrieval_layer": 1}],
        "intermediate": [
            {"name": "none"},
            {"name": "cls", "tasks": ["toy_cls"]},
            {"name": "tag", "tasks": ["toy_tag"]},
            {"name": "pair", "tasks": ["toy_pair"]},
        ],
        "targets": ["toy_target"],
        "splits": ["dev"],
        "hyperparameters": {
            "intermediate": {"max_steps": 2, "batch_size": 8, "max_seq_length": 32},
            "target": {"max_steps": 2, "batch_size": 8, "max_seq_length": 32},
        },
        "selection": {"method": "logme", "top_k": top_k, "rankings": "rankings"},
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_plan_keeps_top_k_and_says_why(tiny_models, toy_tasks, tmp_path):
    spec = load_spec(write_selection_spec(tmp_path, tiny_models["xlmr"], top_k=1))
    nodes = build_plan(spec)
    assert {n.intermediate for n in nodes} == {"none", "tag"}  # toy_tag ranks first; cls and pair pruned
    summary = plan_summary(spec, nodes, None)
    pruned = {p["setting"]: p["reason"] for p in summary["pruned"]}
    assert set(pruned) == {"cls", "pair"} and "#2 of 3" in pruned["cls"] and "logme" in pruned["cls"]
    (tmp_path / "k2").mkdir()
    two = load_spec(write_selection_spec(tmp_path / "k2", tiny_models["xlmr"], top_k=2))
    assert {n.intermediate for n in build_plan(two)} == {"none", "tag", "cls"}


def test_missing_rankings_are_computed_once_and_cached(tiny_models, toy_tasks, tmp_path, monkeypatch):
    """The cheap path: no ranking files on disk, so the plan computes each (model, target) ranking once, caches it,
    and prunes by it; a second plan reads the cache."""
    monkeypatch.setenv("XSTILTS_HOME", str(tmp_path / "home"))
    path = write_selection_spec(tmp_path, tiny_models["xlmr"])
    for f in (tmp_path / "rankings").glob("*.json"):
        f.unlink()
    first = {n.id for n in build_plan(load_spec(path))}
    cached = sorted((tmp_path / "home" / "rankings").glob("*.json"))
    assert cached and all(json.loads(f.read_text())["rankings"][0]["method"] == "logme" for f in cached)
    stamps = [f.stat().st_mtime_ns for f in cached]
    assert {n.id for n in build_plan(load_spec(path))} == first
    assert [f.stat().st_mtime_ns for f in cached] == stamps  # read, not recomputed


@pytest.mark.slow
def test_run_trains_only_the_kept_settings(tiny_models, toy_tasks, tmp_path):
    from xstilts.experiments.run import run_local

    spec = load_spec(write_selection_spec(tmp_path, tiny_models["xlmr"], top_k=1))
    summary = run_local(spec, tmp_path / "run", progress=False)
    assert not summary["failed"]
    trained = {n.split("/")[2] for n in summary["ran"]}
    assert trained == {"none", "tag"}
    assert not any("-cls-" in p.name or "-pair-" in p.name for p in (tmp_path / "run" / "nodes").iterdir())
