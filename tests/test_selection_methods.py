"""Selection methods on a tiny random model and the toy tasks: determinism, a copy of the target ranks first, and the
`xstilts select` CLI with every method."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from xstilts.selection.methods import SELECTION_METHODS, Selector
from xstilts.selection.probe import Workbench

BUDGET = {
    "intermediate_examples": 200,
    "target_examples": 48,
    "fewshot_target_examples": 32,
    "dev_examples": 16,
    "text_examples": 32,
    "fisher_examples": 6,
    "parallel_pairs": 8,
    "max_languages": 1,
    "parallel_task": "toy_retrieval",
    "max_seq_length": 32,
    "batch_size": 16,
    "learning_rate": 1e-3,
}
CANDIDATES = ["toy_pair", "toy_cls", "toy_tag", "toy_mc", "toy_reg"]


@pytest.fixture(scope="module")
def copy_target(toy_tasks) -> str:
    """A target whose training data is toy_cls's own: toy_cls is a copy of it among the candidates."""
    from xstilts.tasks import register_task_dir

    d = Path(toy_tasks).parent / "selection_copy_task"
    d.mkdir(exist_ok=True)
    (d / "toy_cls_as_target.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "toy_cls_as_target",
                "role": "target",
                "family": "classification",
                "labels": ["neg", "pos"],
                "languages": ["en", "xx"],
                "local_dir": str(Path(toy_tasks) / "toy_cls"),
                "metric": "accuracy",
            }
        )
    )
    register_task_dir(d)
    return "toy_cls_as_target"


def _selector(tiny_models, target: str) -> Selector:
    from xstilts.defaults import phase_defaults

    bench = Workbench.load(
        str(tiny_models["xlmr"]),
        {
            **phase_defaults("intermediate"),
            **BUDGET,
            "num_epochs": 1.0,
            "grad_accumulation": 1,
            "eval_every_steps": 10_000,
            "freeze_embeddings": False,
        },
    )
    return Selector(bench, target, CANDIDATES, "tiny", None, BUDGET)


@pytest.mark.parametrize("method", ["textemb", "taskemb"])
def test_copy_ranks_first_and_is_deterministic(tiny_models, copy_target, method):
    first = _selector(tiny_models, copy_target).run(method)
    again = _selector(tiny_models, copy_target).run(method)
    assert first.candidates[0]["name"] == "toy_cls"
    assert first.candidates[0]["score"] == pytest.approx(1.0, abs=1e-6)  # identical data and seed: the same vector
    assert first.candidates[1]["score"] < 0.999
    assert [c["name"] for c in first.candidates] == [c["name"] for c in again.candidates]
    assert [c["score"] for c in first.candidates] == pytest.approx([c["score"] for c in again.candidates], rel=1e-4)
    assert first.cost["seconds"] > 0 and first.cost["examples"] > 0


def test_retrieval_target_skips_label_methods(tiny_models, toy_tasks):
    sel = _selector(tiny_models, "toy_retrieval")
    assert sel.run("logme").candidates == [] and "labels" in sel.run("logme").note
    ranked = sel.run("xalign")
    assert sorted(c["name"] for c in ranked.candidates) == sorted(CANDIDATES)


@pytest.mark.slow
def test_cli_select_every_method(tiny_models, toy_tasks, tmp_path):
    from typer.testing import CliRunner

    from xstilts.cli import app

    out = tmp_path / "r.json"
    args = [
        "select",
        "--target",
        "toy_target",
        "--model",
        str(tiny_models["xlmr"]),
        "--candidates",
        ",".join(CANDIDATES),
        "--methods",
        "all",
        "--out",
        str(out),
    ]
    for k, v in BUDGET.items():
        args += ["--set", f"{k}={v}"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert [r["method"] for r in data["rankings"]] == SELECTION_METHODS.names()
    for r in data["rankings"]:
        # toy_cls is the target's own training source (train_from): it is still a candidate, every other too
        assert sorted(c["name"] for c in r["candidates"]) == sorted(CANDIDATES), r["method"]
        assert set(r["cost"]) == {"seconds", "examples"}
    bad = CliRunner().invoke(app, ["select", "--target", "toy_target", "--methods", "nope", "--out", str(out)])
    assert bad.exit_code == 2 or "unknown selection method" in str(bad.exception)
