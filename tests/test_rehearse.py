"""`xstilts rehearse`: the research presets run end to end at toy scale, offline, through the real CLI, with every
dataset in its source schema (hub mirror, official BUCC layout) and tiny models of each tokenizer path."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from xstilts.experiments.plan import build_plan
from xstilts.experiments.spec import load_spec
from xstilts.languages import XTREME_TASK2LANGS

ROOT = Path(__file__).resolve().parents[1]


def rehearse(spec: Path, out: Path, *only: str) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "xstilts.cli", "rehearse", str(spec), "--out", str(out), "--quiet"]
    for o in only:
        args += ["--only", o]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=1800)


@pytest.mark.slow
def test_paper_preset_rehearses_all_nine_targets_in_every_language_and_split(tmp_path):
    spec = ROOT / "experiments" / "paper.yaml"
    proc = rehearse(spec, tmp_path / "r")  # the whole grid: 11 settings x 9 targets, 186 nodes
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with (tmp_path / "r" / "results.csv").open() as f:
        rows = [r for r in csv.DictReader(f) if r["metric"] == "score"]
    # Every target, every official language, on every split its data has (what the plan says), for both settings.
    evaluation = {
        n.target: n.job["evaluation"]
        for n in build_plan(load_spec(spec))
        if n.kind == "evaluation" and n.intermediate == "none"
    }
    for setting in [s.name for s in load_spec(spec).intermediate]:
        for target, langs in XTREME_TASK2LANGS.items():
            got = {(r["language"], r["split"]) for r in rows if r["target"] == target and r["intermediate"] == setting}
            want = {(lang, s) for lang in langs for s in evaluation[target]["splits"][lang]}
            assert got == want, (setting, target, sorted(want - got)[:5])
    report = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    assert "Average (XTREME all-task)" in report
    assert all("options" in r for r in rows)
    tatoeba = [r for r in rows if r["target"] == "tatoeba"]
    assert all(r["options"] == "direction=en_to_xx;pooling=mean_all" for r in tatoeba)
    grid = json.loads((tmp_path / "r" / "grid.json").read_text())
    assert grid["targets"]["xlmr-large"] == list(XTREME_TASK2LANGS)


@pytest.mark.slow
def test_beyond_nine_rehearses_one_model_and_seed_with_the_shared_filter(tmp_path):
    spec = ROOT / "experiments" / "beyond-nine.yaml"
    proc = rehearse(spec, tmp_path / "r", "model=xlmr-base,seed=0", "intermediate=none,hellaswag,squad,conll2003")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with (tmp_path / "r" / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {r["model"] for r in rows} == {"xlmr-base"} and {r["seed"] for r in rows} == {"0"}
    assert {r["intermediate"] for r in rows} == {"none", "hellaswag", "squad", "conll2003"}
    assert {r["target"] for r in rows} == set(XTREME_TASK2LANGS)
