#!/usr/bin/env python3
"""Bookkeeping at grid scale: building a ~3,000-node plan, running its scheduler, resuming a finished run, and writing
results.csv, in seconds with the node count; the results table against the old rewrite-per-node baseline, in this
same process.

Nothing is trained: nodes are "run" by a fake executor that writes each node's sealed completion record (phase.json, or
done.json with 16 result rows) and a 4 KB stand-in for its weights, exactly the files a resume verifies. Measured at
half and full size, so a quadratic cost shows as a ratio near 4 instead of 2.

    python benchmarks/plan_scale.py [--seeds 3]
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import tempfile
import time
from pathlib import Path

from xstilts.experiments.plan import Node, build_plan, node_dir
from xstilts.experiments.run import record_name, schedule
from xstilts.experiments.spec import ExperimentSpec
from xstilts.integrity import write_record
from xstilts.results import COLUMNS, append_results
from xstilts.tasks import list_tasks

# bucc2018 is left out: from the hub it needs an explicit opt-in (gold-only mining); it would add nothing here.
TARGETS = ["xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "tatoeba"]


def grid_spec(model_dir: Path, settings: int, seeds: int) -> ExperimentSpec:
    inter = sorted(t.name for t in list_tasks("intermediate") if not t.name.startswith("demo_"))[: settings - 1]
    return ExperimentSpec(
        name="scale",
        models=[{"name": m, "path": str(model_dir)} for m in ("mbert", "xlmr")],
        intermediate=[{"name": "none"}] + [{"name": t, "tasks": [t]} for t in inter],
        targets=TARGETS,
        seeds=list(range(seeds)),
        languages=["en", "de", "zh"],
    )


def fake_rows(node: Node) -> list[dict]:
    return [
        {
            "model": node.model,
            "intermediate": node.intermediate,
            "target": node.target,
            "seed": node.seed,
            "node": node.key,
            "language": lang,
            "split": split,
            "metric": metric,
            "value": 0.5 + i / 100,
        }
        for i, (lang, split, metric) in enumerate(
            (lang, split, metric)
            for lang in ("en", "de", "zh", "xx")
            for split in ("dev", "test")
            for metric in ("score", "f1")
        )
    ]


def fake_execute(out: Path, node: Node) -> list[dict]:
    """What a node leaves behind, written the way the real nodes write it (tmp dir, sealed record last, rename)."""
    d = node_dir(out, node)
    tmp = d.with_name(f".{d.name}.tmp-{os.getpid()}")
    tmp.mkdir(parents=True)
    rows = fake_rows(node) if node.kind == "evaluation" else []
    (tmp / ("predictions.tsv" if rows else "model.safetensors")).write_bytes(os.urandom(4096))
    write_record(
        tmp,
        record_name(node),
        {"node": node.id, "hash": node.hash, "rows": rows} if rows else {"node": node.id, "train": {"losses": [1.0]}},
    )
    os.replace(tmp, d)
    return rows


class Finished:
    """The handle of a fake node: already finished when submitted."""

    def __init__(self, rows: list[dict]):
        self.rows = rows


def run_fake(spec: ExperimentSpec, out: Path, one_at_a_time: bool = False) -> dict:
    """The real scheduler over fake nodes; one_at_a_time: nodes finish one by one (a worker pool, Ray, Slurm)."""
    return schedule(
        spec,
        out,
        submit=lambda n, *_: Finished(fake_execute(out, n)),
        wait_any=(lambda hs: hs[:1]) if one_at_a_time else (lambda hs: hs),
        result=lambda h: h.rows,
    )


def old_append(path: Path, rows: list[dict]) -> None:
    """The baseline: the previous append_results, which re-read and rewrote the whole table for every node."""
    existing = []
    if path.is_file():
        with path.open(encoding="utf-8", newline="") as f:
            existing = list(csv.DictReader(f))
    have = {r["node"] for r in existing}
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in existing:
        w.writerow(r)
    for r in rows:
        if r["node"] not in have:
            w.writerow({k: ("" if r.get(k) is None else (f"{r[k]:.6f}" if k == "value" else r[k])) for k in COLUMNS})
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    os.replace(tmp, path)


def timed(fn, *args) -> tuple[float, object]:
    t0 = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - t0, value


def measure(work: Path, settings: int, seeds: int) -> dict:
    model = work / "model"
    model.mkdir(exist_ok=True)
    spec = grid_spec(model, settings, seeds)
    out = work / f"run-{settings}x{seeds}"
    t_plan, nodes = timed(build_plan, spec)
    t_run, summary = timed(run_fake, spec, out)
    assert summary["failed"] == {} and len(summary["ran"]) == len(nodes)
    t_resume_cold, again = timed(run_fake, spec, out)  # every checksum hashed once
    t_resume, again = timed(run_fake, spec, out)  # the usual resume: unchanged files are not hashed again
    assert again["ran"] == []
    t_one, summary = timed(run_fake, spec, work / f"one-{settings}x{seeds}", True)
    assert len(summary["ran"]) == len(nodes)
    evals = [n for n in nodes if n.kind == "evaluation"]
    rows = [fake_rows(n) for n in evals]
    t_new, _ = timed(lambda: [append_results(work / f"new-{len(nodes)}.csv", r) for r in rows])
    t_old, _ = timed(lambda: [old_append(work / f"old-{len(nodes)}.csv", r) for r in rows])
    return {
        "nodes": len(nodes),
        "evals": len(evals),
        "plan": t_plan,
        "run": t_run,
        "resume_cold": t_resume_cold,
        "resume": t_resume,
        "one": t_one,
        "append": t_new,
        "old_append": t_old,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--settings", type=int, default=32, help="intermediate settings, the baseline included")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="xstilts-scale-"))
    measure(work, 2, 1)  # warm-up: imports and first-call costs are not the grid's
    half = measure(work, args.settings // 2, args.seeds)
    full = measure(work, args.settings, args.seeds)
    print(f"{'':32}{'half grid':>12}{'full grid':>12}{'full/half':>11}")
    print(f"{'nodes':32}{half['nodes']:>12}{full['nodes']:>12}{full['nodes'] / half['nodes']:>10.2f}x")
    for key, label in (
        ("plan", "build plan (s)"),
        ("run", "schedule + run, fake nodes (s)"),
        ("one", "same, finishing one at a time (s)"),
        ("resume_cold", "resume finished run, cold (s)"),
        ("resume", "resume finished run (s)"),
        ("append", "results.csv: append per node (s)"),
        ("old_append", "results.csv: rewrite per node (s)"),
    ):
        print(f"{label:32}{half[key]:>12.3f}{full[key]:>12.3f}{full[key] / half[key]:>10.2f}x")
    print(
        f"\nresults.csv for {full['evals']} evaluation nodes: rewrite-per-node baseline {full['old_append']:.2f} s, "
        f"append {full['append']:.2f} s: {full['old_append'] / full['append']:.1f}x faster"
    )
    print(
        f"a finished {full['nodes']}-node run resumes in {full['resume']:.2f} s "
        f"({full['resume_cold']:.2f} s the first time, hashing every output)"
    )


if __name__ == "__main__":
    main()
