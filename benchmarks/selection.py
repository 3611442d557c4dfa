#!/usr/bin/env python3
"""Every selection method on a study grid: NDCG@k / Regret@k per method and its cost as a fraction of the grid's.

For each (model, target) of the spec, runs `xstilts select` with every method (rankings stored as
RUN_DIR/selection/<model>-<target>.json, where the report's Selection section finds them), then scores the rankings
against the grid's results (RUN_DIR/results.csv) with select-eval's functions. The cost ratio is measured in this
process against the grid's own recorded phase/evaluation seconds.

    python benchmarks/selection.py --spec experiments/selection-demo.yaml --run runs/selection-demo \
        [--targets demo_topic,demo_tatoeba] [--models e5-small] [--methods all] [--set intermediate_examples=64]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", type=Path, default=ROOT / "experiments" / "selection-demo.yaml")
    ap.add_argument("--run", type=Path, required=True, help="run directory of the spec's exhaustive grid")
    ap.add_argument("--targets", default="", help="subset of the spec's targets (default: all)")
    ap.add_argument("--models", default="", help="subset of the spec's models (default: all)")
    ap.add_argument("--methods", default="all")
    ap.add_argument("--set", action="append", default=[], help="selection budget override key=value")
    ap.add_argument("--reuse", action="store_true", help="keep ranking files that already exist")
    args = ap.parse_args()

    from xstilts.analysis.selection_eval import evaluate_rankings, summarize
    from xstilts.experiments.spec import load_spec
    from xstilts.rankings import load_rankings

    spec = load_spec(args.spec)
    targets = [t for t in args.targets.split(",") if t] or spec.targets
    models = [m for m in args.models.split(",") if m] or [m.name for m in spec.models]
    sel_dir = args.run / "selection"
    sel_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for model in models:
        for target in targets:
            out = sel_dir / f"{model}-{target}.json"
            files.append(out)
            if args.reuse and out.is_file():
                continue
            cmd = [
                sys.executable,
                "-m",
                "xstilts.cli",
                "select",
                "--target",
                target,
                "--model",
                model,
                "--spec",
                str(args.spec),
                "--work-dir",
                str(args.run),
                "--candidates",
                str(args.spec),
                "--methods",
                args.methods,
                "--out",
                str(out),
            ]
            for s in args.set:
                cmd += ["--set", s]
            print("+", " ".join(cmd[2:]), flush=True)
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    result = evaluate_rankings(args.run, load_rankings(files))
    summary = summarize(result["rows"])
    print(f"\nsplit: {result['split']}; rankings scored: {len(result['rows'])}; skipped: {len(result['skipped'])}")
    head = (
        f"{'method':<10}{'n':>3}"
        + "".join(f"{'R@' + str(k):>8}" for k in (1, 3, 5))
        + "".join(f"{'N@' + str(k) + g[0]:>8}" for g in ("exp", "linear") for k in (1, 3, 5))
        + f"{'cost/grid':>11}"
    )
    print(head)
    for s in summary:
        ratio = "n/a" if s["cost_ratio"] is None else f"{s['cost_ratio']:.4f}"
        print(
            f"{s['method']:<10}{s['rankings']:>3}"
            + "".join(f"{s[f'regret@{k}']:8.2f}" for k in (1, 3, 5))
            + "".join(f"{s[f'ndcg@{k}/{g}']:8.3f}" for g in ("exp", "linear") for k in (1, 3, 5))
            + f"{ratio:>11}"
        )
    print("\nper target (Regret@1 by method):")
    for target in targets:
        rows = [r for r in result["rows"] if r["target"] == target]
        if rows:
            print(f"  {target}: " + ", ".join(f"{r['method']}({r['model']}) {r['regret@1']:.2f}" for r in rows))
    (sel_dir / "selection-eval.json").write_text(json.dumps({**result, "summary": summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
