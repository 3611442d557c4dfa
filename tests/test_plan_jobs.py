"""The plan node is the single source of what runs: each node's job is fully resolved, its hash changes exactly when what
it computes changes (or an upstream node's does), executors run the job, and what a node records equals its job."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from xstilts.cli import app
from xstilts.errors import UserError
from xstilts.experiments.plan import build_plan, select_nodes
from xstilts.experiments.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "experiments" / "demo.yaml"
PAPER = ROOT / "experiments" / "paper.yaml"
RETRIEVAL = {"demo_tatoeba", "demo_bucc"}
runner = CliRunner()


class Ran:
    """What `xstilts ...` gives: exit code and output (a UserError is exit 2 with one line, as cli.main does)."""

    def __init__(self, *args: str):
        result = runner.invoke(app, list(args))
        self.stdout = result.stdout  # without the progress lines written to stderr
        if isinstance(result.exception, UserError):
            self.exit_code, self.output = 2, f"error: {result.exception}\n"
        else:
            self.exit_code, self.output = result.exit_code, result.output


def plan_hashes(spec: dict, tmp_path: Path, name: str) -> dict[str, str]:
    """node id -> hash, through the real CLI (`xstilts plan --json`)."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    result = Ran("plan", str(path), "--json")
    assert result.exit_code == 0, result.output
    return {n["id"]: n["hash"] for n in json.loads(result.output)["nodes"]}


def demo() -> dict:
    return yaml.safe_load(DEMO.read_text(encoding="utf-8"))


def _upstream_closure(base: dict[str, str], seeds: set[str], tmp_spec: dict, tmp_path: Path) -> set[str]:
    """`seeds` and every node downstream of them (from the plan's depends_on)."""
    path = tmp_path / "closure.yaml"
    path.write_text(yaml.safe_dump(tmp_spec), encoding="utf-8")
    nodes = build_plan(load_spec(path))
    changed = set(seeds)
    for n in nodes:  # nodes come in dependency order
        if any(d in changed for d in n.depends_on):
            changed.add(n.id)
    return changed


def _ids(base: dict[str, str], pred) -> set[str]:
    return {i for i in base if pred(i.split("/"))}


# (description, edit of the demo spec, predicate on the id parts of the nodes whose OWN job changes)
CASES = [
    (
        "evaluation subsample",
        lambda s: s["hyperparameters"]["target"].update(max_eval_examples=70),
        # demo_qa sets its own max_eval_examples: its task block wins over the phase block, so its nodes keep their jobs
        lambda p: p[0] == "evaluation" and p[3] != "demo_qa",
    ),
    (
        "target max length",
        lambda s: s["hyperparameters"]["target"].update(max_seq_length=96),
        lambda p: p[0] in ("target", "evaluation"),
    ),
    (
        "intermediate learning rate",
        lambda s: s["hyperparameters"]["intermediate"].update(learning_rate=3e-4),
        lambda p: p[0] == "intermediate",
    ),
    (
        "one target's epochs",
        lambda s: s["hyperparameters"]["demo_qa"].update(num_epochs=1),
        lambda p: p[0] == "target" and p[3] == "demo_qa",
    ),
    (
        "one setting's cap",
        lambda s: s["intermediate"][1].setdefault("hyperparameters", {}).update(max_train_examples=50),
        lambda p: p[0] == "intermediate" and p[2] == "wn_entail",
    ),
    (
        "a task block under a setting's own value",
        lambda s: (
            s["intermediate"][1].setdefault("hyperparameters", {}).update(max_train_examples=10),
            s["hyperparameters"].setdefault("demo_wn_entail", {}).update(max_train_examples=50),
        ),
        None,
    ),  # handled in its own test below
    (
        "retrieval pooling",
        lambda s: s.setdefault("retrieval", {}).update(pooling="cls"),
        lambda p: p[0] == "evaluation" and p[3] in RETRIEVAL,
    ),
    (
        "a retrieval layer",
        lambda s: s["models"][0].update(retrieval_layer=3),
        lambda p: p[0] == "evaluation" and p[1] == "e5-small" and p[3] in RETRIEVAL,
    ),
    # Splits and languages decide which texts the pruned e5-small keeps: its vocabulary, so all of its nodes, change.
    ("splits", lambda s: s.update(splits=["dev", "test"]), lambda p: p[0] == "evaluation" or p[1] == "e5-small"),
    (
        "languages of one target",
        lambda s: s["languages"].update(demo_topic=["en", "de"]),
        lambda p: (p[0] == "evaluation" and p[3] == "demo_topic") or p[1] == "e5-small",
    ),
    (
        "a mixture's sampler",
        lambda s: s["intermediate"][5].update(sampler="proportional"),
        lambda p: p[0] == "intermediate" and p[2] == "wn_all",
    ),
]


@pytest.mark.parametrize("what,edit,own", [c for c in CASES if c[2] is not None], ids=[c[0] for c in CASES if c[2]])
def test_each_setting_changes_exactly_the_hashes_it_should(what, edit, own, tmp_path):
    base = plan_hashes(demo(), tmp_path, "base")
    spec = demo()
    edit(spec)
    changed_spec = plan_hashes(spec, tmp_path, "changed")
    assert set(changed_spec) == set(base)
    changed = {i for i in base if base[i] != changed_spec[i]}
    expected = _upstream_closure(base, _ids(base, own), spec, tmp_path)
    assert changed == expected, f"{what}: unexpected {sorted(changed ^ expected)[:5]}"
    assert changed, what


def test_setting_hyperparameters_win_over_the_task_block_in_hash_and_job(tmp_path):
    """One merge, one precedence: a setting's own value wins over hyperparameters.<task>, in the job and so in what runs."""
    spec = demo()
    spec["intermediate"][1]["hyperparameters"] = {"max_train_examples": 10}
    spec["hyperparameters"]["demo_wn_entail"] = {"max_train_examples": 50}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    node = next(n for n in build_plan(load_spec(path)) if n.id == "intermediate/e5-small/wn_entail/s0")
    assert node.job["phase"]["tasks"]["demo_wn_entail"]["hparams"]["max_train_examples"] == 10
    before = node.hash
    spec["hyperparameters"]["demo_wn_entail"] = {"max_train_examples": 60}  # shadowed by the setting: same job
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    assert next(n for n in build_plan(load_spec(path)) if n.id == node.id).hash == before


def test_new_seed_adds_nodes_without_changing_the_others(tmp_path):
    base = plan_hashes(demo(), tmp_path, "base")
    spec = demo()
    spec["seeds"] = [0, 1]
    more = plan_hashes(spec, tmp_path, "more")
    assert all(more[i] == h for i, h in base.items())
    assert len(more) > len(base)


def test_unknown_or_bad_hyperparameters_are_exit_2_naming_the_key(tmp_path):
    spec = demo()
    spec["hyperparameters"]["target"]["learnig_rate"] = 1e-4
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    result = Ran(*["plan", str(path)])
    assert result.exit_code == 2
    assert (
        "learnig_rate" in result.output
        and "learning_rate" in result.output
        and "hyperparameters.target" in result.output
    )
    spec = demo()
    spec["hyperparameters"]["target"]["batch_size"] = -3
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    result = Ran(*["plan", str(path)])
    assert result.exit_code == 2 and "batch_size" in result.output


def test_train_set_unknown_key_is_one_line_exit_2(tmp_path):
    result = Ran(*["train", "-t", "demo_topic", "--out", str(tmp_path / "x"), "--set", "no_such_key=1"])
    assert result.exit_code == 2
    lines = [l for l in result.output.splitlines() if l.strip()]
    assert len(lines) == 1 and "no_such_key" in lines[0] and "learning_rate" in lines[0]
    assert "Traceback" not in result.output


def test_paper_preset_evaluates_each_target_on_the_splits_its_data_has():
    nodes = build_plan(load_spec(PAPER))
    jobs = {n.target: n.job["evaluation"] for n in nodes if n.kind == "evaluation" and n.intermediate == "none"}
    assert set(jobs) == {"xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba"}
    assert jobs["udpos"]["splits"]["kk"] == ["test"] and jobs["udpos"]["splits"]["th"] == ["test"]
    assert jobs["udpos"]["splits"]["de"] == ["dev", "test"]
    assert all(s == ["test"] for s in jobs["xquad"]["splits"].values())
    assert all(s == ["test"] for s in jobs["tatoeba"]["splits"].values())
    assert {"language": "kk", "split": "dev", "reason": "the data has no dev split for kk"} in jobs["udpos"]["skipped"]
    assert len(jobs["tatoeba"]["splits"]) == 36 and len(jobs["panx"]["splits"]) == 40


def test_bucc_from_gold_pairs_only_is_refused_unless_opted_in(tmp_path):
    spec = yaml.safe_load(PAPER.read_text(encoding="utf-8"))
    del spec["data_dirs"]["bucc2018"]
    path = tmp_path / "hub-bucc.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    with pytest.raises(UserError, match="gold pairs only.*official download"):
        build_plan(load_spec(path))
    result = Ran(*["plan", str(path)])
    assert result.exit_code == 2 and len([l for l in result.output.splitlines() if l.strip()]) == 1
    spec["retrieval"] = {"allow_gold_only_mining": True}
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    bucc = [n for n in build_plan(load_spec(path)) if n.kind == "evaluation" and n.target == "bucc2018"]
    assert bucc and all(n.job["evaluation"]["retrieval"]["gold_only"] for n in bucc)


def test_only_selects_a_slice_with_the_full_grids_hashes(tmp_path):
    spec = load_spec(ROOT / "experiments" / "beyond-nine.yaml")
    full = build_plan(spec)
    part = select_nodes(full, {"model": ["xlmr-base"], "seed": ["0"]})
    assert part and all(n.model == "xlmr-base" and n.seed == 0 for n in part)
    assert len(part) == len(full) // 9  # 3 models x 3 seeds
    result = Ran(
        *["plan", str(ROOT / "experiments" / "beyond-nine.yaml"), "--json", "--only", "model=xlmr-base,seed=0"]
    )
    assert result.exit_code == 0, result.output
    listed = {n["id"]: n["hash"] for n in json.loads(result.stdout)["nodes"]}
    assert listed == {n.id: n.hash for n in part}
    target_only = select_nodes(full, {"target": ["xnli"], "model": ["mbert"], "seed": ["1"]})
    kinds = {n.kind for n in target_only}
    assert kinds == {"intermediate", "target", "evaluation"} and all(n.target in (None, "xnli") for n in target_only)
    bad = Ran(*["plan", str(ROOT / "experiments" / "beyond-nine.yaml"), "--only", "model=nope"])
    assert bad.exit_code == 2 and "nope" in bad.output


def test_what_each_node_records_is_its_job(tiny_models, toy_tasks, tmp_path):
    """Executors run the node's job: the phase record and the evaluation record hold exactly the node's job."""
    from xstilts.experiments.plan import node_dir
    from xstilts.experiments.run import run_local

    hp = {
        "max_seq_length": 32,
        "batch_size": 8,
        "grad_accumulation": 1,
        "learning_rate": 1e-3,
        "max_steps": 2,
        "max_train_examples": 24,
        "max_dev_examples": 8,
        "max_eval_examples": 8,
    }
    spec = {
        "name": "rec",
        "models": [{"name": "tiny", "path": str(tiny_models["xlmr"]), "retrieval_layer": 1}],
        "intermediate": [{"name": "none"}, {"name": "cls", "tasks": ["toy_cls"], "hyperparameters": {"max_steps": 3}}],
        "targets": ["toy_target", "toy_retrieval"],
        "splits": ["dev"],
        "hyperparameters": {"intermediate": hp, "target": hp, "toy_cls": {"learning_rate": 2e-3}},
    }
    path = tmp_path / "rec.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    loaded = load_spec(path)
    summary = run_local(loaded, tmp_path / "run", progress=False)
    assert not summary["failed"], summary["failed"]
    nodes = build_plan(loaded)
    for n in nodes:
        d = node_dir(tmp_path / "run", n)
        if n.kind == "evaluation":
            assert json.loads((d / "done.json").read_text())["job"] == n.job
        else:
            record = json.loads((d / "phase.json").read_text())
            assert record["job"] == n.job["phase"]
    inter = next(n for n in nodes if n.kind == "intermediate")
    hparams = inter.job["phase"]["tasks"]["toy_cls"]["hparams"]
    assert hparams["max_steps"] == 3 and hparams["learning_rate"] == 2e-3  # setting > task block > phase block
    record = json.loads((node_dir(tmp_path / "run", inter) / "phase.json").read_text())
    assert record["train"]["optimizer_steps"] == 3  # and that is what ran


def test_official_layout_xnli_early_stops_on_the_downloads_english_dev(tiny_models, tmp_path):
    """XNLI trains on MNLI from xnli/train-en.tsv and early-stops on xnli/dev-en.tsv (no silent 'no dev')."""
    from xstilts.evaluation.task_eval import dev_evaluator
    from xstilts.training.phase import PhaseConfig, run_phase

    official = ROOT / "tests" / "fixtures" / "xtreme" / "official"
    cfg = PhaseConfig(
        "target",
        ["xnli"],
        str(tiny_models["bert"]),
        data_dirs={"xnli": str(official)},
        settings={"max_steps": 1, "batch_size": 2, "grad_accumulation": 1, "max_seq_length": 32},
    )
    where = cfg.task_source("xnli")
    assert (where["source_task"], where["dev_task"], where["dev_language"]) == ("mnli", "xnli", "en")
    out = run_phase(cfg, tmp_path / "x", progress=False, dev_scorer=dev_evaluator)
    record = json.loads((out / "phase.json").read_text())
    assert record["data"]["xnli"]["dev_examples"] > 0 and record["train"]["dev_metrics"]


def test_a_language_the_source_does_not_have_is_an_error_not_english_data():
    from xstilts.training.phase import PhaseConfig

    with pytest.raises(UserError, match="no data in language 'de'.*--data-dir mnli=DIR"):
        PhaseConfig("intermediate", ["mnli"], "m", languages={"mnli": "de"}).job()
    with pytest.raises(UserError, match="no language 'xx'"):
        PhaseConfig("target", ["panx_en"], "m", languages={"panx_en": "xx"}).job()


def test_retrieval_options_column():
    from xstilts.evaluation.zero_shot import retrieval_options

    assert retrieval_options({"layer": 4, "direction": "en_to_xx", "pooling": "mean_all", "gold_only": False}) == (
        "direction=en_to_xx;pooling=mean_all"
    )
    assert retrieval_options({"layer": None, "gold_only": True, "direction": None}) == "gold_only"
    assert retrieval_options({}) == ""
