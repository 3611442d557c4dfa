"""select-eval on a tiny synthetic grid: hand-computed NDCG/Regret, the exact random expectation checked by enumerating
every order, and the CLI end to end (table, JSON, plot)."""

from __future__ import annotations

import csv
import itertools
import json
import math
from pathlib import Path

import pytest

from xstilts.analysis.selection_eval import (
    evaluate_rankings,
    expected_random_ndcg,
    expected_random_regret,
    ndcg_at_k,
    regret_at_k,
)
from xstilts.rankings import load_rankings

TRUE = {"a": 3.0, "b": 1.0, "c": 2.0, "d": 0.0}


def test_hand_computed_values():
    order = ["b", "a", "d", "c"]
    # Regret@1 = 100 (3 - 1) / 3; Regret@3 = 0 (a is in the top 3).
    assert regret_at_k(order, TRUE, 1) == pytest.approx(200 / 3)
    assert regret_at_k(order, TRUE, 3) == 0.0
    # exp gain: 2^s - 1 -> a 7, b 1, c 3, d 0. DCG@2 = 1/1 + 7/log2(3); IDCG@2 = 7 + 3/log2(3).
    assert ndcg_at_k(order, TRUE, 2, "exp") == pytest.approx((1 + 7 / math.log2(3)) / (7 + 3 / math.log2(3)))
    # linear gain: DCG@2 = 1 + 3/log2(3); IDCG@2 = 3 + 2/log2(3).
    assert ndcg_at_k(order, TRUE, 2, "linear") == pytest.approx((1 + 3 / math.log2(3)) / (3 + 2 / math.log2(3)))
    assert ndcg_at_k(["a", "c", "b", "d"], TRUE, 4, "exp") == pytest.approx(1.0)
    assert ndcg_at_k(order, TRUE, 1, "exp") == pytest.approx(1 / 7)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("kind", ["exp", "linear"])
def test_random_expectation_is_exact(k, kind):
    true = {"a": 3.0, "b": 1.0, "c": 2.0, "d": 2.0, "e": 0.5}
    perms = list(itertools.permutations(true))
    mean_ndcg = sum(ndcg_at_k(p, true, k, kind) for p in perms) / len(perms)
    mean_regret = sum(regret_at_k(p, true, k) for p in perms) / len(perms)
    assert expected_random_ndcg(true, k, kind) == pytest.approx(mean_ndcg, rel=1e-12)
    assert expected_random_regret(true, k) == pytest.approx(mean_regret, rel=1e-12)


def write_grid(run: Path) -> None:
    """results.csv for one model and target: settings none, s_a (task a), s_b, s_c, s_d; 2 seeds, 2 languages; plus
    the intermediate phases' phase.json records that say which task each setting trains."""
    scores = {"none": 1.5, "s_a": 3.0, "s_b": 1.0, "s_c": 2.0, "s_d": 0.0}
    run.mkdir(parents=True)
    with (run / "results.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["model", "intermediate", "target", "language", "split", "seed", "metric", "value", "node"])
        for s, v in scores.items():
            for seed, shift in ((0, -0.5), (1, 0.5)):  # seed mean = v
                for lang, d in (("en", 1.0), ("de", -1.0)):  # language mean = seed value
                    w.writerow(["m1", s, "toy_target", lang, "test", seed, "score", v + shift + d, f"n-{s}-{seed}"])
                    w.writerow(["m1", s, "toy_target", lang, "test", seed, "accuracy", 99, f"n-{s}-{seed}"])
    for s in scores:
        if s == "none":
            continue
        for seed in (0, 1):
            for kind, name, sec in (("inter", f"m1-{s}", 10.0), ("targe", f"m1-{s}-toy_target", 5.0)):
                d = run / "nodes" / f"{kind}-{name}-s{seed}-0123456789ab"
                d.mkdir(parents=True)
                (d / "phase.json").write_text(json.dumps({"seconds": sec, "config": {"tasks": [s[2:]]}}))
    for s in scores:  # evaluation seconds come from each node's completion record
        d = run / "nodes" / f"evaluation-m1-{s}-toy_target-s0-0123456789ab"
        d.mkdir(parents=True)
        (d / "done.json").write_text(json.dumps({"node": f"evaluation/m1/{s}/toy_target/s0", "seconds": 2.0}))


def write_ranking(path: Path, method: str, order: list[str], model: str = "m1", aliases=()) -> Path:
    path.write_text(
        json.dumps(
            {
                "model": model,
                "model_aliases": list(aliases),
                "rankings": [
                    {
                        "method": method,
                        "target": "toy_target",
                        "model": model,
                        "cost": {"seconds": 6.0, "examples": 10},
                        "candidates": [{"name": c, "score": -i} for i, c in enumerate(order)],
                    }
                ],
            }
        )
    )
    return path


def test_grid_scores_and_costs(tmp_path):
    run = tmp_path / "run"
    write_grid(run)
    r = write_ranking(tmp_path / "r.json", "logme", ["b", "a", "d", "c"], model="path/x", aliases=["m1"])
    res = evaluate_rankings(run, load_rankings([r]))
    (row,) = res["rows"]
    assert res["split"] == "test"
    assert row["model"] == "m1" and row["n"] == 4
    assert row["regret@1"] == pytest.approx(200 / 3)
    assert row["regret@3"] == 0.0
    assert row["ndcg@1/exp"] == pytest.approx(1 / 7)
    assert row["baseline"] == pytest.approx(1.5) and row["top1_beats_baseline"] is False
    assert row["true_top"] == ["a", "c", "b"] and row["selected"] == ["b", "a", "d"]
    # grid: 4 settings x 2 seeds x (10 + 5) s phases + 4 evaluations x 2 s
    assert row["grid_seconds"] == pytest.approx(4 * 2 * 15 + 4 * 2)
    assert row["cost_ratio"] == pytest.approx(6.0 / 128)


def test_evaluation_seconds_of_older_records_from_start_event_and_record_time(tmp_path):
    """A completion record without `seconds` (written before the field existed): its modification time less the node's
    last start event; the batched "done" events of the old in-process executor are not used."""
    import os

    from xstilts.analysis.selection_eval import grid_records

    run = tmp_path / "run"
    d = run / "nodes" / "evaluation-m1-cls-toy_target-s0-0123456789ab"
    d.mkdir(parents=True)
    node = "evaluation/m1/cls/toy_target/s0"
    (d / "done.json").write_text(json.dumps({"node": node}))
    os.utime(d / "done.json", (1000.0 + 3.0, 1000.0 + 3.0))
    events = [
        {"time": 900.0, "node": node, "event": "start"},  # an earlier, interrupted attempt
        {"time": 1000.0, "node": node, "event": "start"},
        {"time": 1050.0, "node": node, "event": "done"},  # logged late, with other nodes
    ]
    (run / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    assert grid_records(run)["evaluations"] == {node: pytest.approx(3.0)}


def test_random_ranking_reports_the_expectation(tmp_path):
    run = tmp_path / "run"
    write_grid(run)
    r = write_ranking(tmp_path / "r.json", "random", ["a", "b", "c", "d"])
    (row,) = evaluate_rankings(run, load_rankings([r]))["rows"]
    assert row["expected"] is True
    assert row["regret@1"] == pytest.approx(expected_random_regret(TRUE, 1))
    assert row["regret@1"] != 0.0  # the draw put the best first; the expectation does not


def test_unmatched_ranking_is_skipped(tmp_path):
    run = tmp_path / "run"
    write_grid(run)
    r = write_ranking(tmp_path / "r.json", "logme", ["a", "b"], model="other")
    res = evaluate_rankings(run, load_rankings([r]))
    assert res["rows"] == [] and "not in the grid" in res["skipped"][0]


def test_cli_select_eval(tmp_path):
    from typer.testing import CliRunner

    from xstilts.cli import app

    run = tmp_path / "run"
    write_grid(run)
    r1 = write_ranking(tmp_path / "r1.json", "logme", ["b", "a", "d", "c"])
    r2 = write_ranking(tmp_path / "r2.json", "random", ["a", "b", "c", "d"])
    res = CliRunner().invoke(app, ["select-eval", str(run), "--rankings", str(r1), "--rankings", str(r2)])
    assert res.exit_code == 0, res.output
    assert "logme: mean over 1 ranking(s): Regret@1 66.67 Regret@3 0.00" in res.output
    assert "(linear)" in res.output  # the other gain, in its own figures
    assert "\u2026" not in res.output  # no table cell cut short at the test console's width
    data = json.loads((run / "selection" / "selection-eval.json").read_text())
    assert {s["method"] for s in data["summary"]} == {"logme", "random"}
    assert (run / "selection" / "selection.png").read_bytes()[:4] == b"\x89PNG"
    assert (run / "selection" / "selection-cost.png").is_file()


def test_report_has_selection_section_only_with_rankings(tmp_path):
    from xstilts.analysis.report import build_report

    run = tmp_path / "run"
    write_grid(run)
    build_report([run], tmp_path / "plain")
    assert "Selection" not in (tmp_path / "plain" / "report.md").read_text()
    (run / "selection").mkdir()
    write_ranking(run / "selection" / "m1-toy_target.json", "logme", ["b", "a", "d", "c"])
    build_report([run], tmp_path / "with")
    md = (tmp_path / "with" / "report.md").read_text()
    assert "## Selection" in md
    assert "b, a, d" in md and "a, c, b" in md  # selected top-3 against the true top-3
    assert "66.67" in md  # Regret@1


def test_cli_user_errors_are_one_line(tmp_path):
    import subprocess
    import sys

    def run(*args):
        return subprocess.run([sys.executable, "-m", "xstilts.cli", *args], capture_output=True, text=True, timeout=300)

    write_grid(tmp_path / "run")
    for res, fragment in (
        (run("select-eval", str(tmp_path / "run"), "--rankings", str(tmp_path / "missing.json")), "ranking file"),
        (run("select", "--target", "demo_wn_entail", "--out", str(tmp_path / "r.json")), "not a target task"),
        (
            run("select", "--target", "demo_topic", "--methods", "logme,nope", "--out", str(tmp_path / "r.json")),
            "unknown selection method 'nope'",
        ),
    ):
        assert res.returncode == 2, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1 and fragment in res.stderr, res.stderr
