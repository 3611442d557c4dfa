"""The alignment diagnostics of a run (Efimov et al.'s analysis): for every setting with an alignment phase, the
related / unrelated word distances on held-out pairs before the alignment, after it, and after each target phase
(what fine-tuning forgot), per model and language. Read from the records the nodes wrote (phase.json of `align`
nodes and of the target nodes of aligned settings), found through the run ledger (node id -> folder), and
written as alignment.json beside the report."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from xstilts.atomic import atomic_write_text
from xstilts.ledger import read_events, read_ledger

ALIGNMENT_FILE = "alignment.json"
STAGES = ("before", "after alignment", "after target")
METRICS = ("related_l2", "unrelated_l2", "related_cos", "unrelated_cos", "english_drift")


def _node_dirs(run: Path) -> dict[str, str]:
    """Node id -> its folder: the run ledger's, and for nodes it predates, the last "done" event's."""
    out = {e["node"]: e["dir"] for e in read_events(run) if e.get("event") == "done" and e.get("dir")}
    out.update({node_id: e.dir for node_id, e in read_ledger(run).items()})
    return out


def collect(run_dirs: list[Path]) -> list[dict[str, Any]]:
    """One row per (model, setting, seed, stage, target, language): the distances of that stage."""
    rows: list[dict[str, Any]] = []
    for run in run_dirs:
        for node_id, folder in sorted(_node_dirs(Path(run)).items()):
            kind, *parts = node_id.split("/")
            if kind not in ("align", "target"):
                continue
            record = Path(run) / "nodes" / folder / "phase.json"
            if not record.is_file():
                continue
            rec = json.loads(record.read_text(encoding="utf-8"))
            model, setting, seed = parts[0], parts[1], int(parts[-1].lstrip("s"))
            if kind == "align":
                stages = [("before", rec["diagnostics"]["before"]), ("after alignment", rec["diagnostics"]["after"])]
                target = ""
            else:
                diag = rec.get("data", {}).get("diagnostics")
                if not diag:
                    continue
                stages, target = [("after target", diag)], parts[2]
            for stage, per_lang in stages:
                for lang, values in per_lang.items():
                    rows.append(
                        {
                            "model": model,
                            "setting": setting,
                            "seed": seed,
                            "stage": stage,
                            "target": target,
                            "language": lang,
                            **{k: values[k] for k in METRICS},
                        }
                    )
    return rows


def summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (model, setting, stage, target, language): each metric's mean over seeds (sorted, stages in order)."""
    groups: dict[tuple[str, str, str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["model"], r["setting"], r["stage"], r["target"], r["language"]), []).append(r)
    out = []
    for (model, setting, stage, target, lang), rs in groups.items():
        means = {k: sum(r[k] for r in rs) / len(rs) for k in METRICS}
        out.append(
            {
                "model": model,
                "setting": setting,
                "stage": stage,
                "target": target,
                "language": lang,
                "seeds": len(rs),
                **means,
            }
        )
    out.sort(key=lambda r: (r["model"], r["setting"], r["language"], STAGES.index(r["stage"]), r["target"]))
    return out


def write_alignment(run_dirs: list[Path], out_dir: Path) -> list[dict[str, Any]] | None:
    """alignment.json (the summary) beside the report; None when no run has an alignment phase."""
    rows = collect(run_dirs)
    if not rows:
        return None
    table = summary(rows)
    atomic_write_text(Path(out_dir) / ALIGNMENT_FILE, json.dumps({"rows": table}, indent=1))
    return table


def alignment_plot(table: list[dict[str, Any]]) -> bytes | None:
    """Related and unrelated distance (mean over languages and targets) per stage, one panel per (model, setting)."""
    import matplotlib
    from matplotlib.figure import Figure

    from xstilts.analysis.plots import RC, _png

    panels = list(dict.fromkeys((r["model"], r["setting"]) for r in table))
    if not panels:
        return None
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(min(3.2 * len(panels), 19.2), 2.8))
        axes = fig.subplots(1, len(panels), squeeze=False)[0]
        for ax, (model, setting) in zip(axes, panels, strict=True):
            stages = [
                s
                for s in STAGES
                if any(r["stage"] == s and (r["model"], r["setting"]) == (model, setting) for r in table)
            ]
            for metric, style in (("related_l2", "o-"), ("unrelated_l2", "s--")):
                ys = []
                for s in stages:
                    vals = [r[metric] for r in table if (r["model"], r["setting"], r["stage"]) == (model, setting, s)]
                    ys.append(sum(vals) / len(vals) if vals else math.nan)
                ax.plot(range(len(stages)), ys, style, label=metric.split("_")[0])
            ax.set_xticks(range(len(stages)), [s.replace("after ", "after\n") for s in stages])
            ax.set_title(f"{model} · {setting}")
            ax.set_ylabel("mean L2")
        axes[0].legend(fontsize=7)
        fig.tight_layout()
        return _png(fig)
