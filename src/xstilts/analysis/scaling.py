"""Scaling beyond nine: how the gain of a mixture of intermediate tasks moves with its size, its strategy and its
diversity, per model and target, from a run directory's results.csv and grid.json alone (so `xstilts compare` works).

Definitions (also in the report's section):
- gain of a setting on a target, per seed: the unweighted mean over the target's languages of (setting score - 'none'
  score), languages where both have a score; a setting's gain is the mean over its seeds;
- per (model, target, strategy, size): `mean_gain` over every (setting, seed) run the strategy generated at that size
  (its draws, and for `similar` / `selected` the settings generated for that target / model), with a 95% percentile
  bootstrap interval over those runs (`ci_low`, `ci_high`), `n_settings`, `n_runs`; size-1 settings of the pool are the
  strategy `single`;
- per (model, target, size): `spearman` of diversity (`spread`, the mean pairwise cosine distance of the members' task
  embeddings; `xstilts.diversity`) against gain across the settings of that size, with `n`;
- leave-one-out, per mixture and member: `marginal` = gain(full mixture) - gain(mixture without it), per seed and
  language, its mean and bootstrap interval;
- the answer per (model, target): the best (strategy, size) by mean gain, against the best single task.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xstilts.analysis.stats import bootstrap_ci, rank_correlation
from xstilts.results import DEFAULT_SOURCE_LANGUAGE, GRID_FILE, HEADLINE_METRIC, ResultRow

SCALING_FILE = "scaling.json"


def load_mixtures(run_dirs: Sequence[Path]) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """(generated mixtures, setting -> tasks) from the runs' grid.json (empty when no run has a mixtures block)."""
    mixtures: dict[str, dict[str, Any]] = {}
    settings: dict[str, list[str]] = {}
    for d in run_dirs:
        path = Path(d) / GRID_FILE
        if path.is_file():
            grid = json.loads(path.read_text(encoding="utf-8"))
            for m in grid.get("mixtures", []):
                mixtures.setdefault(m["setting"], m)
            settings.update(grid.get("settings", {}))
    return list(mixtures.values()), settings


@dataclass
class _Runs:
    """Per (model, target, setting): {seed: {language: score}} of the headline metric on one split."""

    split: str
    by: dict[tuple[str, str, str], dict[str, dict[str, float]]] = field(default_factory=dict)

    @classmethod
    def of(cls, rows: Sequence[ResultRow], split: str) -> _Runs:
        runs = cls(split)
        for r in rows:
            if r.split == split and r.metric == HEADLINE_METRIC and r.source_language == DEFAULT_SOURCE_LANGUAGE:
                runs.by.setdefault((r.model, r.target, r.intermediate), {}).setdefault(r.seed, {})[r.language] = r.value
        return runs

    def diffs(self, model: str, target: str, setting: str, base: str) -> dict[str, list[float]]:
        """seed -> the per-language differences setting - base (languages both have), for seeds both have."""
        a, b = self.by.get((model, target, setting), {}), self.by.get((model, target, base), {})
        out = {}
        for seed in sorted(set(a) & set(b)):
            langs = sorted(set(a[seed]) & set(b[seed]))
            if langs:
                out[seed] = [a[seed][lang] - b[seed][lang] for lang in langs]
        return out

    def seed_gains(self, model: str, target: str, setting: str, base: str) -> list[float]:
        return [float(np.mean(d)) for d in self.diffs(model, target, setting, base).values()]


def _ci(values: Sequence[float]) -> tuple[float, float]:
    return bootstrap_ci(values) if len(values) >= 2 else (math.nan, math.nan)


def _applies(origin: dict[str, Any], model: str, target: str) -> bool:
    return origin.get("target") in (None, target) and origin.get("model") in (None, model)


def scaling(
    rows: Sequence[ResultRow],
    mixtures: list[dict[str, Any]],
    settings: dict[str, list[str]],
    split: str,
    baseline: str = "none",
) -> dict[str, Any]:
    """The whole scaling analysis (see the module docstring) as JSON-able data."""
    runs = _Runs.of(rows, split)
    pairs = sorted({(m, t) for (m, t, _s) in runs.by})
    info = {m["setting"]: m for m in mixtures}
    singles = sorted(
        {s for s, ts in settings.items() if len(ts) == 1} | {n for n, m in info.items() if len(m["members"]) == 1}
    )
    # leave-one-out: the whole mixture's setting, by the named mixture it stands for
    full_of = {
        o["of"]: name
        for name, m in info.items()
        for o in m.get("origins", [])
        if o["strategy"] == "leave_one_out" and o.get("without") is None
    }
    cells: list[dict[str, Any]] = []
    correlations: list[dict[str, Any]] = []
    marginals: list[dict[str, Any]] = []
    answers: list[dict[str, Any]] = []
    for model, target in pairs:
        if (model, target, baseline) not in runs.by:
            continue
        gains = {s: runs.seed_gains(model, target, s, baseline) for (m, t, s) in runs.by if (m, t) == (model, target)}
        groups: dict[tuple[str, int], list[str]] = defaultdict(list)
        for s in singles:
            if gains.get(s):
                groups[("single", 1)].append(s)
        for name, m in info.items():
            if not gains.get(name):
                continue
            for o in m.get("origins", []):
                if _applies(o, model, target) and o["strategy"] != "leave_one_out":
                    key = (o["strategy"], int(o["size"]))
                    if name not in groups[key]:
                        groups[key].append(name)
        for (strategy, size), names in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            values = [g for n in names for g in gains[n]]
            low, high = _ci(values)
            cells.append(
                {
                    "model": model,
                    "target": target,
                    "strategy": strategy,
                    "size": size,
                    "mean_gain": float(np.mean(values)),
                    "ci_low": low,
                    "ci_high": high,
                    "n_settings": len(names),
                    "n_runs": len(values),
                    "settings": names,
                }
            )
        by_size: dict[int, dict[str, float]] = defaultdict(dict)
        for name, m in info.items():
            spread = (m.get("diversity") or {}).get("spread")
            if gains.get(name) and spread is not None and not math.isnan(float(spread)):
                by_size[len(m["members"])][name] = float(spread)
        for size, spreads in sorted(by_size.items()):
            names = sorted(spreads)
            rho, _tau = rank_correlation([spreads[n] for n in names], [float(np.mean(gains[n])) for n in names])
            correlations.append({"model": model, "target": target, "size": size, "spearman": rho, "n": len(names)})
        for name, m in info.items():
            for o in m.get("origins", []):
                full = full_of.get(o.get("of")) if o["strategy"] == "leave_one_out" and o.get("without") else None
                if full is None:
                    continue
                diffs = runs.diffs(model, target, full, name)
                if not diffs:
                    continue
                per_seed = [float(np.mean(d)) for d in diffs.values()]
                flat = [x for d in diffs.values() for x in d]
                low, high = _ci(flat)
                marginals.append(
                    {
                        "model": model,
                        "target": target,
                        "mixture": o["of"],
                        "task": o["without"],
                        "marginal": float(np.mean(per_seed)),
                        "ci_low": low,
                        "ci_high": high,
                        "n_runs": len(per_seed),
                    }
                )
        mine = [c for c in cells if (c["model"], c["target"]) == (model, target)]
        best_single = max(((float(np.mean(gains[s])), s) for s in singles if gains.get(s)), default=(math.nan, None))
        mixed = [c for c in mine if c["strategy"] != "single" and int(c["size"]) > 1]  # mixtures, not single tasks
        if mixed:
            best = max(mixed, key=lambda c: float(c["mean_gain"]))
            answers.append(
                {
                    "model": model,
                    "target": target,
                    "best_strategy": best["strategy"],
                    "best_size": best["size"],
                    "best_gain": best["mean_gain"],
                    "best_single_task": best_single[1],
                    "best_single_gain": best_single[0],
                    "vs_best_single": float(best["mean_gain"]) - best_single[0],
                }
            )
    return {
        "split": split,
        "baseline": baseline,
        "cells": cells,
        "correlations": correlations,
        "leave_one_out": marginals,
        "answers": answers,
    }


def write_scaling(
    run_dirs: Sequence[Path], rows: Sequence[ResultRow], split: str, out_dir: Path
) -> dict[str, Any] | None:
    """scaling.json beside the report when a run generated mixtures (None otherwise)."""
    mixtures, settings = load_mixtures(run_dirs)
    if not mixtures:
        return None
    data = scaling(rows, mixtures, settings, split)
    (Path(out_dir) / SCALING_FILE).write_text(json.dumps(data, indent=1), encoding="utf-8")
    return data


def scaling_plot(data: dict[str, Any]) -> bytes | None:
    """Mean gain against mixture size (log scale), one panel per target, the models side by side as line styles, one
    colour per strategy; the intervals as error bars."""
    import matplotlib
    from matplotlib.figure import Figure

    from xstilts.analysis.plots import RC, _png

    cells = list(data["cells"])
    if not cells:
        return None
    targets = list(dict.fromkeys(c["target"] for c in cells))
    models = list(dict.fromkeys(c["model"] for c in cells))
    strategies = list(dict.fromkeys(c["strategy"] for c in cells))
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(min(4.2 * len(targets), 21.0), 3.4))
        _draw(fig, cells, targets, models, strategies)
        return _png(fig)


def _draw(fig: Any, cells: list[dict[str, Any]], targets: list[str], models: list[str], strategies: list[str]) -> None:
    """One panel per target on `fig`."""
    axes = fig.subplots(1, len(targets), squeeze=False)[0]
    styles = ["-", "--", ":", "-."]
    for ax, target in zip(axes, targets, strict=False):
        for mi, model in enumerate(models):
            for si, strategy in enumerate(strategies):
                pts = sorted(
                    (c["size"], c["mean_gain"], c["ci_low"], c["ci_high"])
                    for c in cells
                    if c["target"] == target and c["model"] == model and c["strategy"] == strategy
                )
                if not pts:
                    continue
                x = [p[0] for p in pts]
                y = [p[1] for p in pts]
                err = [
                    [max(0.0, p[1] - p[2]) if not math.isnan(p[2]) else 0.0 for p in pts],
                    [max(0.0, p[3] - p[1]) if not math.isnan(p[3]) else 0.0 for p in pts],
                ]
                ax.errorbar(
                    x,
                    y,
                    yerr=err,
                    linestyle=styles[mi % len(styles)],
                    marker="o",
                    markersize=3,
                    color=f"C{si}",
                    label=f"{model} {strategy}",
                    capsize=2,
                    linewidth=1,
                )
        ax.axhline(0.0, color="grey", linewidth=0.6)
        ax.set_xscale("log")
        sizes = sorted({c["size"] for c in cells if c["target"] == target})
        ax.set_xticks(sizes, [str(x) for x in sizes])
        ax.minorticks_off()
        ax.set_title(target)
        ax.set_xlabel("tasks in the mixture (log)")
        ax.set_ylabel("gain over none")
    axes[-1].legend(fontsize=6, loc="best")
    fig.tight_layout()
