"""Scoring rankings against an exhaustive grid (Poth et al. 2021, "What to Pre-Train on?"): `xstilts select-eval` and
the report's Selection section. Reads results.csv, the run's node records and the ranking files; runs nothing.

True score of an intermediate setting for (model, target): the mean over seeds of the target's unweighted average over
languages of the headline `score` on the reported split. Single-task settings stand for their task; the baseline
("none", no intermediate training) is kept apart.

- Regret@k = 100 (M - O_k) / M: M the best true score among the candidates, O_k the best among the top-k ranked.
- NDCG@k = DCG@k / IDCG@k, DCG@k = sum_{i<=k} gain(s_i) / log2(i + 1); gain `exp`: 2^s - 1 with s in points (the
  paper's), or `linear`: s. One table holds one gain type.
- The random baseline is exact: every position of a uniformly random order holds each candidate with probability 1/n,
  so E[DCG@k] = mean(gain) * sum_{i<=k} 1/log2(i+1); and the best of a random k-subset is the j-th smallest of n
  scores with probability C(j-1, k-1) / C(n, k), so E[O_k] = sum_j s_(j) C(j-1, k-1) / C(n, k).
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xstilts.errors import UserError
from xstilts.ledger import read_events, read_ledger
from xstilts.rankings import match_model
from xstilts.results import EVAL_RECORD

KS = (1, 3, 5)
GAINS = ("exp", "linear")


def gain(score: float, kind: str) -> float:
    if kind == "exp":
        return 2.0**score - 1.0
    if kind == "linear":
        return score
    raise UserError(f"gain must be one of {GAINS}, got '{kind}'")


def dcg(scores: Sequence[float], k: int, kind: str) -> float:
    return sum(gain(s, kind) / math.log2(i + 2) for i, s in enumerate(list(scores)[:k]))


def ndcg_at_k(ranked: Sequence[str], true: dict[str, float], k: int, kind: str = "exp") -> float:
    """NDCG@k of an order of candidates given their true scores (candidates without a true score are skipped)."""
    order = [true[c] for c in ranked if c in true]
    ideal = dcg(sorted(true.values(), reverse=True), k, kind)
    return dcg(order, k, kind) / ideal if ideal > 0 else 0.0


def regret_at_k(ranked: Sequence[str], true: dict[str, float], k: int) -> float:
    best = max(true.values())
    got = max(true[c] for c in [c for c in ranked if c in true][:k])
    return 100.0 * (best - got) / best if best else 0.0


def expected_random_ndcg(true: dict[str, float], k: int, kind: str = "exp") -> float:
    n = len(true)
    mean_gain = sum(gain(s, kind) for s in true.values()) / n
    ideal = dcg(sorted(true.values(), reverse=True), k, kind)
    return mean_gain * sum(1.0 / math.log2(i + 2) for i in range(min(k, n))) / ideal if ideal > 0 else 0.0


def expected_random_regret(true: dict[str, float], k: int) -> float:
    vals = sorted(true.values())
    n, k = len(vals), min(k, len(vals))
    best = vals[-1]
    e_best = sum(v * math.comb(j, k - 1) for j, v in enumerate(vals)) / math.comb(n, k)  # j = (j+1)-th smallest - 1
    return 100.0 * (best - e_best) / best if best else 0.0


# ------------------------------------------------------------------ the grid


def true_scores(run_dir: Path, split: str | None = None) -> tuple[dict[tuple[str, str], dict[str, float]], str]:
    """{(model, target): {intermediate setting: true score}} from RUN_DIR/results.csv, and the split used."""
    from xstilts.results import DEFAULT_SOURCE_LANGUAGE, HEADLINE_METRIC, RESULTS_FILE, choose_split, read_results

    rows = read_results(Path(run_dir) / RESULTS_FILE)
    split, _ = choose_split(rows, split)
    per: dict[tuple[str, str, str, str], list[float]] = defaultdict(list)
    for r in rows:
        if r.metric == HEADLINE_METRIC and r.split == split and r.source_language == DEFAULT_SOURCE_LANGUAGE:
            per[(r.model, r.target, r.intermediate, r.seed)].append(r.value)  # X-STILTs: English target phases
    seeds: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for (m, t, i, _), vals in per.items():
        seeds[(m, t, i)].append(sum(vals) / len(vals))
    out: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for (m, t, i), vals in seeds.items():
        out[(m, t)][i] = sum(vals) / len(vals)
    return dict(out), split


# Node directories: "<kind>-<model>-<setting>[-<target>]-s<seed>-<hash12>", kind written in full or cut to 5 letters.
_NODE_DIR = re.compile(r"^(intermediate|target|evaluation|inter|targe|evalu)-(.+)-s(\d+)-[0-9a-f]{12}$")


def grid_records(run_dir: Path) -> dict[str, Any]:
    """The grid's training phases (kind, model, setting, target, seconds, tasks) and each evaluation's seconds, from
    the run ledger (xstilts.ledger); a run written before the ledger: from nodes/*/phase.json and the event log."""
    run_dir = Path(run_dir)
    entries = read_ledger(run_dir)
    older = _records_from_folders(run_dir, skip={e.dir for e in entries.values()})  # nodes the ledger predates
    return {
        "phases": older["phases"]
        + [
            {
                "kind": e.kind,
                "model": e.model,
                "setting": e.setting,
                "target": e.target,
                "seed": str(e.seed),
                "seconds": e.seconds,
                "tasks": list(e.tasks),
            }
            for e in entries.values()
            if e.kind in ("intermediate", "align", "target")
        ],
        "evaluations": {
            **older["evaluations"],
            **{e.id: e.seconds for e in entries.values() if e.kind == "evaluation"},
        },
    }


def _phase_is(ph: dict[str, Any], kind: str, model: str, setting: str, target: str | None = None) -> bool:
    """Whether a phase record is (kind, model, setting[, target]): by field from the ledger, by folder name before."""
    if "model" in ph:
        return (ph["kind"], ph["model"], ph["setting"], ph["target"]) == (kind, model, setting, target)
    name = f"{model}-{setting}" + (f"-{target}" if target else "")
    return ph["kind"] == kind[:5] and ph["name"] == name


def _records_from_folders(run_dir: Path, skip: set[str]) -> dict[str, Any]:
    """grid_records of the nodes the ledger does not hold (a run, or its part, written before the ledger existed;
    folders in `skip` left out): folder names parsed (ambiguous where names hold '-'), evaluation seconds from their
    records or the event log."""
    phases: list[dict[str, Any]] = []
    for p in sorted((run_dir / "nodes").glob("*/phase.json")):
        m = _NODE_DIR.match(p.parent.name)
        if not m or p.parent.name in skip:
            continue
        rec = json.loads(p.read_text(encoding="utf-8"))
        job = rec.get("job") or rec.get("config") or {}  # the phase's resolved job (older records: its config)
        phases.append(
            {
                "kind": m.group(1)[:5],
                "name": m.group(2),
                "seed": m.group(3),
                "seconds": float(rec["seconds"]),
                "tasks": list(job.get("task_order") or job.get("tasks") or []),
            }
        )
    # evaluation seconds: recorded in the node's completion record; records written before that field existed fall
    # back to the record's modification time less the node's last "start" event (the "done" event is not used: the
    # in-process executor used to log it only when every node ready at the same time had finished)
    started: dict[str, float] = {}
    for e in read_events(run_dir):
        if e["event"] == "start" and str(e["node"]).startswith("evaluation/"):
            started[e["node"]] = e["time"]
    evals: dict[str, float] = {}
    for p in sorted((run_dir / "nodes").glob(f"evaluation-*/{EVAL_RECORD}")):
        if p.parent.name in skip:
            continue
        rec = json.loads(p.read_text(encoding="utf-8"))
        node = str(rec.get("node", ""))
        if "seconds" in rec:
            evals[node] = float(rec["seconds"])
        elif node in started:
            evals[node] = max(0.0, p.stat().st_mtime - started[node])
    return {"phases": phases, "evaluations": evals}


def setting_tasks(records: dict[str, Any], model: str, settings: list[str]) -> dict[str, list[str]]:
    """The tasks of each intermediate setting of `model`, from its intermediate phases' records."""
    out: dict[str, list[str]] = {}
    for s in settings:
        for ph in records["phases"]:
            if _phase_is(ph, "intermediate", model, s):
                out[s] = ph["tasks"]
                break
    return out


def grid_seconds(records: dict[str, Any], model: str, target: str, settings: list[str]) -> float:
    """What the exhaustive grid spent on these settings for one (model, target): the settings' intermediate phases
    (every seed), their target phases and evaluations."""
    total = 0.0
    for ph in records["phases"]:
        for s in settings:
            if _phase_is(ph, "intermediate", model, s) or _phase_is(ph, "target", model, s, target):
                total += ph["seconds"]
    for node, sec in records["evaluations"].items():
        parts = node.split("/")  # evaluation/<model>/<setting>/<target>/s<seed>
        if len(parts) == 5 and parts[1] == model and parts[2] in settings and parts[3] == target:
            total += sec
    return total


def evaluate_rankings(
    run_dir: Path,
    rankings: list[dict[str, Any]],
    split: str | None = None,
    gains: Sequence[str] = GAINS,
    ks: Sequence[int] = KS,
) -> dict[str, Any]:
    """Every ranking scored against the grid: NDCG@k per gain type, Regret@k, the exact random expectation for
    `random`, the baseline comparison, the ranking's cost and the grid's cost for the same candidates."""
    scores, split = true_scores(run_dir, split)
    records = grid_records(run_dir)
    models = {m for m, _ in scores}
    rows, skipped = [], []
    for r in rankings:
        model = match_model(r, models)
        if model is None or (model, r["target"]) not in scores:
            skipped.append(f"{r['file']}: {r['method']} for model {r.get('model')} / {r['target']}: not in the grid")
            continue
        per_setting = scores[(model, r["target"])]
        settings = [s for s in per_setting if s != "none"]
        tasks = setting_tasks(records, model, settings)
        by_task = {ts[0]: s for s, ts in tasks.items() if len(ts) == 1}  # single-task settings stand for their task
        ranked = [c["name"] for c in r["candidates"]]
        true = {c: per_setting[by_task[c]] for c in ranked if c in by_task}
        if len(true) < 2:
            skipped.append(
                f"{r['file']}: {r['method']} for {model} / {r['target']}: fewer than 2 ranked candidates "
                "have a single-task setting in the grid"
            )
            continue
        order = [c for c in ranked if c in true]
        row: dict[str, Any] = {
            "method": r["method"],
            "model": model,
            "target": r["target"],
            "n": len(true),
            "selected": order[:3],
            "true_top": sorted(true, key=lambda c: -true[c])[:3],
            "cost_seconds": float(r.get("cost", {}).get("seconds", 0.0)),
            "grid_seconds": grid_seconds(records, model, r["target"], [by_task[c] for c in true]),
            "file": r["file"],
        }
        random_exact = bool(r.get("expected_random", r["method"] == "random"))
        for k in ks:
            row[f"regret@{k}"] = expected_random_regret(true, k) if random_exact else regret_at_k(order, true, k)
            for g in gains:
                row[f"ndcg@{k}/{g}"] = (
                    expected_random_ndcg(true, k, g) if random_exact else ndcg_at_k(order, true, k, g)
                )
        row["expected"] = random_exact
        base = per_setting.get("none")
        row["baseline"] = base
        row["best_true"] = max(true.values())
        row["top1_true"] = true[order[0]]
        row["top1_beats_baseline"] = None if base is None else true[order[0]] > base
        row["cost_ratio"] = row["cost_seconds"] / row["grid_seconds"] if row["grid_seconds"] else None
        rows.append(row)
    return {"split": split, "rows": rows, "skipped": skipped}


def summarize(rows: list[dict[str, Any]], ks: Sequence[int] = KS, gains: Sequence[str] = GAINS) -> list[dict[str, Any]]:
    """Per method, the mean of every measure over its (model, target) rows, and the summed costs."""
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by[r["method"]].append(r)
    out = []
    for method, rs in by.items():
        s: dict[str, Any] = {"method": method, "rankings": len(rs)}
        keys = [f"regret@{k}" for k in ks] + [f"ndcg@{k}/{g}" for k in ks for g in gains]
        for key in keys:
            s[key] = sum(r[key] for r in rs) / len(rs)
        s["cost_seconds"] = sum(r["cost_seconds"] for r in rs)
        s["grid_seconds"] = sum(r["grid_seconds"] for r in rs)
        s["cost_ratio"] = s["cost_seconds"] / s["grid_seconds"] if s["grid_seconds"] else None
        out.append(s)
    return sorted(out, key=lambda s: s["regret@1"])
