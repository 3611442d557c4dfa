"""The report's "Selection" section and the select-eval plot.

Rankings belong to a run when they are stored as RUN_DIR/selection/*.json (files written by `xstilts select --out`;
`selection-eval.json`, written by select-eval, is not a ranking). The section appears only when such files exist.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from xstilts.analysis.plots import RC, _png

EVAL_FILE = "selection-eval.json"


def ranking_files(run_dir: Path) -> list[Path]:
    """The ranking files stored with a run (RUN_DIR/selection/*.json)."""
    d = Path(run_dir) / "selection"
    return sorted(p for p in d.glob("*.json") if p.name != EVAL_FILE) if d.is_dir() else []


def cost_regret_png(rows: list[dict[str, Any]], k: int = 1) -> bytes:
    """Mean Regret@k per method against its cost as a fraction of the grid's (log scale)."""
    from xstilts.analysis.selection_eval import summarize

    summary = summarize(rows)
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(5.5, 3.6))
        ax = fig.add_subplot()
        for s in summary:
            ratio = s["cost_ratio"] if s["cost_ratio"] else 1e-4  # free methods (size, family, random) at the floor
            ax.scatter([max(ratio, 1e-4)], [s[f"regret@{k}"]], s=30)
            ax.annotate(
                s["method"], (max(ratio, 1e-4), s[f"regret@{k}"]), fontsize=7, xytext=(3, 3), textcoords="offset points"
            )
        ax.set_xscale("log")
        ax.set_xlabel("cost / cost of the exhaustive grid")
        ax.set_ylabel(f"mean Regret@{k}")
        ax.set_title("Selection: cost against regret")
        fig.tight_layout()
        return _png(fig)


def ndcg_bars_png(rows: list[dict[str, Any]], gain: str) -> bytes:
    from xstilts.analysis.selection_eval import KS, summarize

    summary = summarize(rows)
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(max(4.5, 0.7 * len(summary) + 2.5), 3.2))
        ax = fig.add_subplot()
        x = np.arange(len(summary))
        width = 0.8 / len(KS)
        for j, k in enumerate(KS):
            ax.bar(x + (j - 1) * width, [s[f"ndcg@{k}/{gain}"] for s in summary], width, label=f"NDCG@{k}")
        ax.set_xticks(x, [s["method"] for s in summary], rotation=30, ha="right")
        ax.set_ylim(0, 1.05)
        ax.set_title(f"NDCG@k per method (gain {gain})")
        ax.legend(fontsize=7)
        fig.tight_layout()
        return _png(fig)


def plot_selection(rows: list[dict[str, Any]], path: Path, gain: str = "exp") -> Path:
    """select-eval's figure: NDCG bars and cost against regret, side by side in two PNG files (path and path-cost)."""
    path = Path(path)
    path.write_bytes(ndcg_bars_png(rows, gain))
    path.with_name(path.stem + "-cost.png").write_bytes(cost_regret_png(rows))
    return path


def section_selection(doc: Any, data: Any) -> None:
    """Section "Selection": per method NDCG/Regret tables (one per gain type), cost against regret, and per target the
    selected top-3 against the true top-3. Nothing when no source run has stored rankings."""
    from xstilts.analysis.render import Heading, Image, Paragraph, Table, cell
    from xstilts.analysis.selection_eval import GAINS, KS, evaluate_rankings, summarize
    from xstilts.rankings import load_rankings

    rows: list[dict[str, Any]] = []
    for src in data.sources:
        files = ranking_files(Path(src))
        if files:
            rows += evaluate_rankings(Path(src), load_rankings(files), data.split)["rows"]
    if not rows:
        return
    doc.add(Heading(2, "Selection"))
    doc.add(
        Paragraph(
            "Intermediate-task selection scored against this grid (Poth et al. 2021): Regret@k = 100 (M - "
            "O_k) / M, NDCG@k with the stated gain; 'random' is the exact expectation over orders. Cost = "
            "the ranking's seconds / the grid's seconds for the same candidates (their intermediate and target "
            "phases and evaluations, every seed)."
        )
    )
    summary = summarize(rows)
    for g in GAINS:
        header = ["Method", "Rankings", *[f"NDCG@{k}" for k in KS], *[f"Regret@{k}" for k in KS], "Cost ratio"]
        table_rows = [
            [
                cell(s["method"]),
                cell(str(s["rankings"])),
                *[cell(f"{s[f'ndcg@{k}/{g}']:.3f}") for k in KS],
                *[cell(f"{s[f'regret@{k}']:.2f}") for k in KS],
                cell("" if s["cost_ratio"] is None else f"{s['cost_ratio']:.4f}"),
            ]
            for s in summary
        ]
        doc.add(Table(header, table_rows, f"Mean over (model, target) rankings; NDCG gain: {g}."))
    doc.add(Image(cost_regret_png(rows), "Mean Regret@1 per method against its cost relative to the grid"))
    top_rows = [
        [
            cell(r["method"]),
            cell(r["model"]),
            cell(r["target"]),
            cell(", ".join(r["selected"])),
            cell(", ".join(r["true_top"])),
            cell("" if r["top1_beats_baseline"] is None else ("yes" if r["top1_beats_baseline"] else "no")),
        ]
        for r in rows
    ]
    doc.add(
        Table(
            ["Method", "Model", "Target", "Selected top-3", "True top-3", "Top-1 beats none"],
            top_rows,
            "Per target: the ranking's first three against the grid's best three.",
        )
    )
