"""Scaling beyond nine: a `mixtures:` block generates settings deterministically, by size and strategy, with clear errors
for bad blocks; the report's scaling.json recovers effects planted in a synthetic run directory."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.test_plan_jobs import Ran
from xstilts.experiments.mixtures import diverse_order, expand_mixtures
from xstilts.experiments.spec import load_spec
from xstilts.results import GRID_FILE, HEADER, RESULTS_FILE, format_rows

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "experiments" / "demo.yaml"
POOL = ["wn_entail", "wn_gloss", "wn_define", "wn_supersense"]


def fake_embeddings(names: list[str]) -> dict[str, np.ndarray]:
    """Deterministic stand-in task embeddings (no model): a vector per name from its hash."""
    out = {}
    for n in names:
        out[n] = np.random.default_rng([ord(c) for c in n]).normal(size=8)
    return out


def rankings_reverse(model: str, target: str, method: str, candidates: list[str]) -> list[str]:
    """A stand-in ranking that differs between targets."""
    return list(reversed(candidates)) if target == "demo_pos" else list(candidates)


def _spec(tmp_path: Path, **mixtures) -> Path:
    spec = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    spec["mixtures"] = {"pool": POOL, **mixtures}
    path = tmp_path / "mix.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def _expand(path: Path):
    return expand_mixtures(load_spec(path, expand=False), fake_embeddings, rankings_reverse)


def test_sweep_plans_deterministically_with_the_asked_counts(tmp_path):
    path = _spec(
        tmp_path,
        sizes=[2, 3],
        strategies=["random", "diverse", "similar", "selected", "leave_one_out"],
        draws=3,
        leave_one_out=["wn_all"],
        similar_method="logme",
    )
    a, b = _expand(path), _expand(path)
    assert [s.model_dump() for s in a.intermediate] == [s.model_dump() for s in b.intermediate]
    generated = [s for s in a.intermediate if s.mixture is not None]
    origins = [o for s in generated for o in s.mixture["origins"]]
    count = lambda strategy: sum(o["strategy"] == strategy for o in origins)  # noqa: E731
    n_models, n_targets = len(a.models), len(a.targets)
    assert count("random") == 2 * 3
    assert count("diverse") == 2
    assert count("similar") == count("selected") == 2 * n_targets * n_models  # similar via a ranking: per model too
    assert count("leave_one_out") == 1 + 4  # the whole mixture and each member out
    # the same set asked twice is one setting: no two generated settings train the same members with the same options
    keys = [tuple(s.tasks) for s in generated]
    assert len(keys) == len(set(keys))
    # diverse covers at least as many families as the mean random draw, at every size
    for size in (2, 3):
        fam = lambda s: s.mixture["diversity"]["families"]  # noqa: E731
        random_draws = [
            s for s in generated for o in s.mixture["origins"] if o["strategy"] == "random" and o["size"] == size
        ]
        diverse = [
            s for s in generated for o in s.mixture["origins"] if o["strategy"] == "diverse" and o["size"] == size
        ]
        assert fam(diverse[0]) >= np.mean([fam(s) for s in random_draws])
    # selected differs between targets when the rankings do, and each is planned only for its target and model
    sel = {
        (o["target"], o["model"], o["size"]): s
        for s in generated
        for o in s.mixture["origins"]
        if o["strategy"] == "selected"
    }
    assert sel[("demo_pos", "e5-small", 2)].tasks != sel[("demo_topic", "e5-small", 2)].tasks
    # a set asked only by target-specific strategies is planned only for those targets (a set a global strategy also
    # drew is planned for every target)
    specific = [s for s in generated if s.only_targets is not None]
    assert specific
    for s in specific:
        assert set(s.only_targets) == {o["target"] for o in s.mixture["origins"]}


def test_plan_lists_generated_mixtures_and_hashes_by_members(tmp_path, monkeypatch):
    path = _spec(tmp_path, sizes=[2], strategies=["random"], draws=2)
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    spec["models"] = [{"name": "e5-small", "path": "embedded"}]  # not pruned: a pruned copy's key reads the settings
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    import xstilts.experiments.mixtures as mixtures

    monkeypatch.setattr(mixtures, "_default_embeddings", lambda spec: fake_embeddings)
    first = Ran("plan", str(path), "--json")
    assert first.exit_code == 0, first.output
    plan = json.loads(first.output)
    second = json.loads(Ran("plan", str(path), "--json").output)
    assert [n["hash"] for n in plan["nodes"]] == [n["hash"] for n in second["nodes"]]
    assert {m["setting"] for m in plan["mixtures"]} == {"mix-random-n2-d0", "mix-random-n2-d1"}
    # a node's hash follows what it trains, not the setting's name
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    members = next(m["members"] for m in plan["mixtures"] if m["setting"] == "mix-random-n2-d0")
    spec["intermediate"].append({"name": "by-hand", "tasks": members, "sampler": "temperature", "temperature": 2.0})
    del spec["mixtures"]
    hand = tmp_path / "hand.yaml"
    hand.write_text(yaml.safe_dump(spec), encoding="utf-8")
    by_hand = json.loads(Ran("plan", str(hand), "--json").output)
    h = lambda p, name: next(n["hash"] for n in p["nodes"] if n["id"] == f"intermediate/e5-small/{name}/s0")  # noqa: E731
    assert h(plan, "mix-random-n2-d0") == h(by_hand, "by-hand")


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"strategies": ["greedy"]}, "unknown mixture strategy 'greedy'"),
        ({"sizes": [9]}, "9 is more than the 4 tasks of the pool"),
        ({"strategies": ["leave_one_out"], "leave_one_out": ["nope"]}, "unknown mixture 'nope'"),
        ({"pool": ["wn_all"]}, "'wn_all' is not a single-task setting"),
    ],
)
def test_bad_blocks_are_one_line_errors(tmp_path, block, message):
    spec = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    spec["mixtures"] = {"pool": POOL, **block}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    result = Ran("plan", str(path))
    assert result.exit_code == 2 and message in result.output and result.output.count("\n") == 1, result.output


def test_diverse_order_covers_families_first():
    vecs = {"a": np.array([1.0, 0]), "b": np.array([0.9, 0.1]), "c": np.array([0, 1.0]), "d": np.array([-1.0, 0])}
    fams = {"a": "x", "b": "y", "c": "x", "d": "x"}
    order = diverse_order(["a", "b", "c", "d"], fams, vecs)
    assert set(order[:2]) >= {"b"}  # the only task of family y comes in second, although it is near a


# --------------------------------------------------------------------------------------------- the planted effect

SIZES = (1, 2, 4, 8)
LANGS = ("en", "de", "fr")
SEEDS = (0, 1, 2)


def _planted_run(root: Path) -> Path:
    """Model A gains 2 points per doubling of the mixture, plus 3 points per unit of diversity at a fixed size;
    model B is flat. In the leave-one-out mixture t1 is worth 5 points, the others nothing."""
    rng = np.random.default_rng(0)
    tasks = [f"t{i}" for i in range(1, 9)]
    settings: dict[str, list[str]] = {"none": [], **{t: [t] for t in tasks}}
    mixtures = []
    for size in SIZES[1:]:
        for d in range(3):
            members = sorted(rng.choice(tasks, size, replace=False).tolist())
            name = f"mix-random-n{size}-d{d}"
            settings[name] = members
            mixtures.append(
                {
                    "setting": name,
                    "members": members,
                    "origins": [{"strategy": "random", "size": size, "draw": d}],
                    "diversity": {"families": 1, "family_entropy": 0.0, "spread": 0.1 + 0.2 * d},
                }
            )
    loo = ["t1", "t2", "t3", "t4"]
    settings["loo-full"] = loo
    mixtures.append(
        {
            "setting": "loo-full",
            "members": loo,
            "diversity": {"spread": math.nan},
            "origins": [{"strategy": "leave_one_out", "of": "four", "without": None, "size": 4}],
        }
    )
    for t in loo:
        settings[f"loo-minus-{t}"] = [x for x in loo if x != t]
        mixtures.append(
            {
                "setting": f"loo-minus-{t}",
                "members": settings[f"loo-minus-{t}"],
                "diversity": {"spread": math.nan},
                "origins": [{"strategy": "leave_one_out", "of": "four", "without": t, "size": 3}],
            }
        )
    spread = {m["setting"]: m["diversity"]["spread"] for m in mixtures}
    rows = []
    for model in ("A", "B"):
        for name, members in settings.items():
            for seed in SEEDS:
                for lang in LANGS:
                    gain = 0.0
                    if model == "A" and members:
                        gain = 2.0 * math.log2(len(members))
                        if name.startswith("mix-"):
                            gain += 3.0 * (spread[name] - 0.3)  # centred: the size trend stays 2 per doubling
                    if name.startswith("loo-"):
                        gain = 10.0 if "t1" in members else 5.0
                    value = 50.0 + gain + rng.normal(0, 0.05)
                    rows.append(
                        {
                            "model": model,
                            "intermediate": name,
                            "target": "T",
                            "language": lang,
                            "split": "test",
                            "seed": seed,
                            "metric": "score",
                            "value": value,
                            "node": name,
                        }
                    )
    root.mkdir(parents=True, exist_ok=True)
    (root / RESULTS_FILE).write_text(HEADER + format_rows(rows), encoding="utf-8")
    grid = {
        "name": "planted",
        "targets": {"A": ["T"], "B": ["T"]},
        "languages": {"T": list(LANGS)},
        "splits": ["test"],
        "settings": settings,
        "mixtures": mixtures,
    }
    (root / GRID_FILE).write_text(json.dumps(grid), encoding="utf-8")
    return root


def test_report_recovers_planted_scaling(tmp_path):
    run = _planted_run(tmp_path / "run")
    result = Ran("report", str(run))
    assert result.exit_code == 0, result.output
    data = json.loads((run / "scaling.json").read_text(encoding="utf-8"))
    cells = {(c["model"], c["strategy"], c["size"]): c for c in data["cells"]}
    for key in [("A", "random", 2), ("A", "random", 4), ("B", "random", 8), ("A", "single", 1)]:
        assert {"mean_gain", "ci_low", "ci_high", "n_settings", "n_runs"} <= set(cells[key])
    a = [cells[("A", "single", 1)]["mean_gain"], *(cells[("A", "random", s)]["mean_gain"] for s in SIZES[1:])]
    b = [cells[("B", "single", 1)]["mean_gain"], *(cells[("B", "random", s)]["mean_gain"] for s in SIZES[1:])]
    slope_a = np.polyfit(np.log2(SIZES), a, 1)[0]
    slope_b = np.polyfit(np.log2(SIZES), b, 1)[0]
    assert 1.8 < slope_a < 2.2 and abs(slope_b) < 0.1, (slope_a, slope_b)
    c = cells[("A", "random", 4)]
    assert c["n_settings"] == 3 and c["n_runs"] == 9 and c["ci_low"] <= c["mean_gain"] <= c["ci_high"]
    rho = {(r["model"], r["size"]): r for r in data["correlations"]}
    assert all(rho[("A", s)]["spearman"] == pytest.approx(1.0) and rho[("A", s)]["n"] == 3 for s in SIZES[1:])
    marginal = {(m["model"], m["task"]): m for m in data["leave_one_out"]}
    assert marginal[("A", "t1")]["marginal"] == pytest.approx(5.0, abs=0.2) and marginal[("A", "t1")]["ci_low"] > 4
    assert abs(marginal[("A", "t2")]["marginal"]) < 0.2
    answer = {a["model"]: a for a in data["answers"]}
    assert answer["A"]["best_size"] == 8 and answer["A"]["vs_best_single"] > 0
    report = (run / "report.md").read_text(encoding="utf-8")
    assert "Scaling beyond nine" in report
