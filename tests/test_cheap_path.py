"""The cheap path in one command: `xstilts run` of a copy of the demo spec with `selection: {method: textemb, top_k: 2}`
and no rankings on disk computes the rankings (cached), then trains only the top-2 single-task settings per target
and model (the baseline and the mixture are never pruned)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.test_plan_jobs import Ran

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_run_with_selection_and_no_rankings_trains_only_the_top_two(tmp_path, monkeypatch):
    monkeypatch.setenv("XSTILTS_HOME", str(tmp_path / "home"))  # no cached ranking from another test
    spec = yaml.safe_load((ROOT / "experiments" / "demo.yaml").read_text(encoding="utf-8"))
    spec["models"] = [m for m in spec["models"] if m["name"] == "e5-small"]
    spec["targets"] = ["demo_topic", "demo_tatoeba"]
    spec["languages"] = {"demo_topic": ["en", "de"], "demo_tatoeba": ["de", "es"]}
    spec["selection"] = {"method": "textemb", "top_k": 2}
    tiny = {"max_train_examples": 16, "num_epochs": 1, "max_eval_examples": 8, "max_dev_examples": 8}
    for block in ("intermediate", "target"):
        spec["hyperparameters"][block].update(tiny)
    for task in ("demo_wn_gloss", "demo_wn_define"):
        spec["hyperparameters"][task].update({"max_train_examples": 16, "max_dev_examples": 8})
    spec["intermediate"][-1]["hyperparameters"] = {"max_train_examples": 8}
    path = tmp_path / "cheap.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    assert not (tmp_path / "selection").exists()

    result = Ran("run", str(path), "--out", str(tmp_path / "run"), "--quiet")
    assert result.exit_code == 0, result.output
    plan = json.loads(Ran("plan", str(path), "--json").output)  # now from the cached rankings
    singles = {"wn_entail", "wn_gloss", "wn_define", "wn_supersense"}
    for target in spec["targets"]:
        trained = {n["intermediate"] for n in plan["nodes"] if n["kind"] == "evaluation" and n["target"] == target}
        assert "none" in trained and "wn_all" in trained
        assert len(trained & singles) == 2, trained
        pruned = {p["setting"] for p in plan["pruned"] if p["target"] == target}
        assert pruned == singles - trained
    rankings = list((tmp_path / "home" / "rankings").glob("*.json"))
    assert len(rankings) == 2  # one per (model, target), computed once
    done = json.loads((tmp_path / "run" / "grid.json").read_text(encoding="utf-8"))
    assert done["targets"]["e5-small"] == spec["targets"]
    with (tmp_path / "run" / "results.csv").open(encoding="utf-8") as f:
        rows = f.read()
    for target in spec["targets"]:
        assert target in rows
