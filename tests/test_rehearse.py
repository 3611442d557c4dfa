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
    # jiant's XLM-R pooler: the tiny XLM-R has no pooler weights (as the hub's), and every classification setting's
    # intermediate checkpoint holds a trained one
    from safetensors import safe_open

    tiny = tmp_path / "r" / "rehearsal" / "models" / "tiny-xlmr" / "model.safetensors"
    with safe_open(str(tiny), "pt") as f:
        assert "pooler.dense.weight" not in f.keys()
    for setting in ("mnli", "qqp", "sst2", "anli_plus"):
        (ckpt,) = (tmp_path / "r" / "nodes").glob(f"intermediate-xlmr-large-{setting}-s0-*")
        with safe_open(str(ckpt / "encoder" / "model.safetensors"), "pt") as f:
            assert "pooler.dense.weight" in f.keys(), setting


@pytest.mark.slow
def test_beyond_nine_rehearses_one_model_and_seed_with_the_shared_filter(tmp_path):
    spec = ROOT / "experiments" / "beyond-nine.yaml"
    wanted = "intermediate=none,hellaswag,squad,conll2003,mix-all-n40"  # mix-all-n40: every task in one mixture
    proc = rehearse(spec, tmp_path / "r", "model=xlmr-base,seed=0", wanted)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with (tmp_path / "r" / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {r["model"] for r in rows} == {"xlmr-base"} and {r["seed"] for r in rows} == {"0"}
    assert {r["intermediate"] for r in rows} == {"none", "hellaswag", "squad", "conll2003", "mix-all-n40"}
    (mixed,) = (tmp_path / "r" / "nodes").glob("intermediate-xlmr-base-mix-all-n40-s0-*")
    trained = json.loads((mixed / "phase.json").read_text(encoding="utf-8"))["job"]["task_order"]
    assert len(trained) == 40
    assert {r["target"] for r in rows} == set(XTREME_TASK2LANGS)


@pytest.mark.slow
def test_a_spec_with_mixtures_rehearses(tmp_path):
    """A mixtures block is expanded on the rehearsal's toy data and models, and its settings train and report."""
    import yaml

    spec = yaml.safe_load((ROOT / "experiments" / "demo.yaml").read_text(encoding="utf-8"))
    spec["mixtures"] = {
        "pool": ["wn_entail", "wn_gloss", "wn_define", "wn_supersense"],
        "sizes": [2, "all"],
        "strategies": ["random", "diverse", "similar", "selected", "leave_one_out"],
        "draws": 2,
        "leave_one_out": ["wn_all"],
    }
    path = tmp_path / "mix.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    proc = rehearse(path, tmp_path / "r", "model=e5-small", "target=demo_topic,demo_tatoeba")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    grid = json.loads((tmp_path / "r" / "grid.json").read_text(encoding="utf-8"))
    strategies = {o["strategy"] for m in grid["mixtures"] for o in m["origins"]}
    assert strategies == {"random", "diverse", "similar", "selected", "leave_one_out"}
    with (tmp_path / "r" / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    asked = {
        m["setting"]
        for m in grid["mixtures"]
        if (m["only_models"] is None or "e5-small" in m["only_models"])
        and (m["only_targets"] is None or {"demo_topic", "demo_tatoeba"} & set(m["only_targets"]))
    }
    assert asked and asked <= {r["intermediate"] for r in rows if r["model"] == "e5-small"}
    scaling = json.loads((tmp_path / "r" / "scaling.json").read_text(encoding="utf-8"))
    assert scaling["cells"] and "Scaling beyond nine" in (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
