"""`Registry[T]`, and the axes on it: a selection method registered from a test is ranked by `xstilts select` and scored
by `xstilts select-eval` with no other edit; an unknown `selection.method` in a spec or an unknown executor is exit 2."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from xstilts.errors import UserError
from xstilts.registry import Registry

ROOT = Path(__file__).resolve().parents[1]
CANDIDATES = ["toy_pair", "toy_cls", "toy_tag", "toy_mc", "toy_reg"]
TRUE = {"toy_cls": 60.0, "toy_mc": 50.0, "toy_pair": 40.0, "toy_reg": 30.0, "toy_tag": 20.0}  # the grid's scores


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run(
        [sys.executable, "-m", "xstilts.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


# ---------------------------------------------------------------------- the registry itself


def test_register_get_names_unregister():
    reg: Registry[int] = Registry("widget")
    reg.register("one", 1)

    @reg.register("double")
    def double(x: int) -> int:
        return 2 * x

    assert reg.get("one") == 1 and reg.get("double") is double and double(2) == 4  # the decorator returns it
    assert reg.names() == ["one", "double"] and list(reg) == ["one", "double"] and len(reg) == 2
    assert "one" in reg and "three" not in reg
    with pytest.raises(ValueError, match="already registered"):
        reg.register("one", 11)
    with pytest.raises(UserError) as e:
        reg.get("tow")
    assert str(e.value) == "unknown widget 'tow'; known: one, double"
    assert reg.check("one") == "one"
    assert reg.unregister("one") == 1 and reg.names() == ["double"]
    with pytest.raises(UserError, match="unknown widget 'one'; known: double"):
        reg.unregister("one")
    with pytest.raises(ValueError, match="non-empty"):
        reg.register(" padded", 3)


def test_selection_methods_and_executors_are_registries():
    from xstilts.experiments.executors import EXECUTORS
    from xstilts.selection.methods import SELECTION_METHODS

    assert SELECTION_METHODS.names() == [
        "logme",
        "textemb",
        "taskemb",
        "fewshot",
        "random",
        "size",
        "family",
        "xalign",
        "xlangid",
    ]
    needs = {n: SELECTION_METHODS.get(n) for n in SELECTION_METHODS.names()}
    assert {n for n, m in needs.items() if m.needs_finetune} == {"logme", "taskemb", "fewshot", "xalign", "xlangid"}
    assert {n for n, m in needs.items() if m.needs_labels} == {"logme", "taskemb"}
    assert {n for n, m in needs.items() if m.reads_target_text} == {"xalign", "xlangid"}
    assert [n for n, m in needs.items() if m.trains_on] == ["fewshot"]
    assert [n for n, m in needs.items() if m.expected_random] == ["random"]
    assert EXECUTORS.names() == ["local", "ray", "slurm"]


# ---------------------------------------------------------------------- a method registered from a test


@pytest.fixture
def test_methods():
    """Two methods only this test knows: one scoring without a model, one measuring after the brief fine-tune."""
    from xstilts.selection.methods import SELECTION_METHODS, SelectionMethod

    seen: list[str] = []

    def after_finetune(sel, cand):
        assert cand.name in sel.bench.model.heads  # measured on the model fine-tuned on this candidate
        seen.append(cand.name)
        return (1.0 if cand.name == "toy_cls" else 0.0), 3

    SELECTION_METHODS.register(
        "name_length", SelectionMethod("longer names first", scores=lambda sel, name: _by_length(sel))
    )
    SELECTION_METHODS.register(
        "probe_cls", SelectionMethod("toy_cls first", measure=after_finetune, needs_finetune=True, needs_labels=True)
    )
    try:
        yield seen
    finally:
        SELECTION_METHODS.unregister("name_length")
        SELECTION_METHODS.unregister("probe_cls")


def _by_length(sel) -> dict[str, float]:
    return sel.timed(lambda: {c.name: float(len(c.name)) for c in sel.candidates})


def write_grid(run: Path) -> None:
    """results.csv of model 'tiny' on toy_target: the baseline and one single-task setting per candidate, with the
    intermediate phases' records that say which task each setting trains."""
    run.mkdir(parents=True)
    scores = {"none": 45.0, **{f"s_{t}": v for t, v in TRUE.items()}}
    with (run / "results.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["model", "intermediate", "target", "language", "split", "seed", "metric", "value", "node"])
        for s, v in scores.items():
            for lang, d in (("en", 2.0), ("xx", -2.0)):
                w.writerow(["tiny", s, "toy_target", lang, "test", 0, "score", v + d, f"n-{s}"])
    for s in scores:
        if s != "none":
            d = run / "nodes" / f"inter-tiny-{s}-s0-0123456789ab"
            d.mkdir(parents=True)
            (d / "phase.json").write_text(json.dumps({"seconds": 10.0, "config": {"tasks": [s[2:]]}}))


def test_a_registered_method_is_ranked_by_select_and_scored_by_select_eval(
    tiny_models, toy_tasks, tmp_path, test_methods
):
    from typer.testing import CliRunner

    from xstilts.cli import app

    out = tmp_path / "r.json"
    args = ["select", "--target", "toy_target", "--model", str(tiny_models["xlmr"]), "--name", "tiny"]
    args += ["--candidates", ",".join(CANDIDATES), "--methods", "name_length,probe_cls,size", "--out", str(out)]
    for k, v in {"intermediate_examples": 16, "max_seq_length": 32, "batch_size": 8}.items():
        args += ["--set", f"{k}={v}"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert sorted(test_methods) == sorted(CANDIDATES)  # one measure per candidate, each after its fine-tune
    rankings = {r["method"]: r for r in json.loads(out.read_text())["rankings"]}
    assert list(rankings) == ["name_length", "probe_cls", "size"]
    # ties broken by name: toy_pair (8 letters), then toy_cls, toy_reg, toy_tag (7), toy_mc (6)
    assert [c["name"] for c in rankings["name_length"]["candidates"]] == [
        "toy_pair",
        "toy_cls",
        "toy_reg",
        "toy_tag",
        "toy_mc",
    ]
    assert rankings["probe_cls"]["candidates"][0]["name"] == "toy_cls"
    assert rankings["probe_cls"]["cost"]["examples"] == 5 * (16 + 3)  # five fine-tunes of 16 and five measures of 3

    run = tmp_path / "run"
    write_grid(run)
    res = CliRunner().invoke(app, ["select-eval", str(run), "--rankings", str(out)])
    assert res.exit_code == 0, res.output
    rows = {r["method"]: r for r in json.loads((run / "selection" / "selection-eval.json").read_text())["rows"]}
    assert set(rows) == {"name_length", "probe_cls", "size"}
    assert rows["name_length"]["regret@1"] == pytest.approx(100 * (60 - 40) / 60)  # toy_pair first; toy_cls is best
    assert rows["name_length"]["regret@3"] == 0.0 and rows["name_length"]["expected"] is False
    assert rows["probe_cls"]["regret@1"] == 0.0 and rows["probe_cls"]["top1_beats_baseline"] is True
    assert "name_length: mean over 1 ranking(s): Regret@1 33.33" in res.output


def test_a_registered_method_is_valid_in_a_spec(test_methods):
    from xstilts.selection.prune import SelectionSpec

    assert SelectionSpec(method="name_length", targets={"t": {"method": "probe_cls"}}).for_target("t")[0] == (
        "probe_cls"
    )


# ---------------------------------------------------------------------- unknown names: exit 2, one line


def test_unknown_selection_method_in_a_spec_is_exit_2_at_load(tmp_path):
    spec = {
        "name": "bad-selection",
        "models": [{"name": "m", "path": "embedded"}],
        "intermediate": [{"name": "none"}],
        "targets": ["demo_topic"],
        "selection": {"method": "lgome", "top_k": 2},
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    for command in ("plan", "run"):
        res = _cli(command, str(path), *(["--out", str(tmp_path / "o")] if command == "run" else []))
        assert res.returncode == 2, res.stderr
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and "unknown selection method 'lgome'; known: logme, textemb" in lines[0], res.stderr
    spec["selection"] = {"method": "logme", "targets": {"demo_topic": {"method": "sise"}}}
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    res = _cli("plan", str(path))
    assert res.returncode == 2 and "'selection.targets.demo_topic.method'" in res.stderr, res.stderr
    assert "unknown selection method 'sise'" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_unknown_executor_is_exit_2_and_help_lists_the_registered_ones():
    res = _cli("run", str(ROOT / "experiments" / "demo.yaml"), "--out", "/nonexistent/x", "--executor", "mpi")
    assert res.returncode == 2 and res.stderr.strip().endswith("unknown executor 'mpi'; known: local, ray, slurm")
    help_text = _cli("run", "--help", env={"COLUMNS": "200"}).stdout
    assert all(f"'{name}'" in help_text for name in ("local", "ray", "slurm"))
