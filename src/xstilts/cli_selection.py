"""`xstilts select` (rank candidate intermediate tasks for a target) and `xstilts select-eval` (score rankings against
an exhaustive grid). Registered into the main app by cli.py; shares only `cli_args` with it (no import of cli).

The methods are the entries of `selection.methods.SELECTION_METHODS`: one registered there (by a plugin or a test) is
ranked by `select` and scored by `select-eval` with no edit here."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from xstilts.atomic import atomic_write_json
from xstilts.cli_args import parse_sets
from xstilts.errors import UserError

console = Console()


def _split(value: str | None) -> list[str]:
    return [x for x in (value or "").replace(",", " ").split() if x]


def resolve_selection_model(
    model: str, spec_path: Path | None, work_dir: Path
) -> tuple[str, list[str], dict[str, Any]]:
    """(folder, names the grid may call this model, training settings from the spec).

    `model` is a spec model name (with --spec: the model is prepared exactly as the run prepares it: pruned vocabulary,
    truncated layers) or a path / alias (`embedded`, `embedded-english`); in the latter case every spec model with
    that path is an alias, so select-eval can match the ranking to the grid's model name (`embedded` -> `e5-small`)."""
    from xstilts.experiments.spec import load_spec
    from xstilts.modeling.embedded import resolve_model_path

    spec = load_spec(spec_path) if spec_path else None
    default_spec = Path(__file__).parent / "experiments" / "demo.yaml"
    if spec is not None:
        named = next((m for m in spec.models if m.name == model), None)
        if named is not None:
            from xstilts.experiments.run import resolve_model

            settings = {
                k: v
                for k, v in spec.hyperparameters.get("intermediate", {}).items()
                if k in ("max_seq_length", "learning_rate", "freeze_embeddings", "batch_size")
            }
            settings["retrieval_layer"] = named.retrieval_layer
            return resolve_model_path(resolve_model(named, spec, work_dir)), [named.path], settings
    aliases = []
    for s in [spec] if spec is not None else ([load_spec(default_spec)] if default_spec.is_file() else []):
        aliases += [m.name for m in s.models if m.path == model]
    return resolve_model_path(model), aliases, {}


def select(
    target: str = typer.Option(..., help="Target task to select intermediate tasks for."),
    model: str = typer.Option(
        "embedded", help="Model: a spec model name (with --spec), a folder, or embedded / embedded-english."
    ),
    candidates: str = typer.Option(
        "all",
        help="all (bundled intermediate tasks), a file (one task per line, or an "
        "experiment spec's single-task settings), or a,b,c.",
    ),
    methods: str = typer.Option(
        "logme,textemb,random",
        help="Comma-separated selection methods (or 'all', every registered one): logme, textemb, taskemb, "
        "fewshot, random, size, family, xalign, xlangid, and any a plugin registers.",
    ),
    languages: str | None = typer.Option(
        None, help="Target languages the cross-lingual methods use (default: the target's, at most max_languages)."
    ),
    spec: Path | None = typer.Option(None, help="Experiment spec: its model names and budgets (see --model)."),
    work_dir: Path = typer.Option(Path("runs/selection-models"), help="Where a spec model's prepared copy is kept."),
    set_: list[str] = typer.Option([], "--set", help="Override a selection budget, e.g. intermediate_examples=64."),
    name: str | None = typer.Option(
        None,
        help="The grid's name for this model (select-eval matches on it), e.g. "
        "e5-small when --model is a prepared folder.",
    ),
    out: Path = typer.Option(..., help="Ranking file (JSON) to write."),
) -> None:
    """Rank candidate intermediate tasks for a target with cheap methods; prints each method's scores and cost."""
    from xstilts.defaults import phase_defaults
    from xstilts.selection.methods import SELECT_DEFAULTS, SELECTION_METHODS, Selector, resolve_candidates
    from xstilts.selection.probe import Workbench
    from xstilts.tasks import get_task

    t0 = time.time()
    task = get_task(target)
    if task.role != "target":
        raise UserError(f"'{target}' is not a target task")
    wanted = SELECTION_METHODS.names() if methods.strip() == "all" else _split(methods)
    for m in wanted:
        SELECTION_METHODS.check(m)  # unknown: one line naming the known ones
    langs = _split(languages) or None
    for lang in langs or []:
        if lang not in task.languages:
            raise UserError(f"task '{target}' has no language '{lang}'; its languages: {' '.join(task.languages)}")
    names = resolve_candidates(candidates, target)
    path, aliases, spec_settings = resolve_selection_model(model, spec, work_dir)
    aliases = aliases + ([name] if name else [])
    budget = {**SELECT_DEFAULTS, **{k: v for k, v in spec_settings.items() if v is not None}, **parse_sets(set_)}
    load_t0 = time.time()
    bench = Workbench.load(path, {**phase_defaults("intermediate"), **budget})
    load_seconds = time.time() - load_t0
    sel = Selector(bench, target, names, model, langs, budget)
    sel.prefetch(wanted)
    rankings = [sel.run(m) for m in wanted]
    payload = {
        "target": target,
        "model": model,
        "model_path": path,
        "model_aliases": aliases,
        "candidates": names,
        "languages": sel.languages,
        "budget": budget,
        "load_seconds": round(load_seconds, 3),
        "seconds": round(time.time() - t0, 3),
        "rankings": [r.to_json() for r in rankings],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, payload)  # a spec's `selection:` reads it at plan time
    for r in rankings:
        table = Table(
            "rank",
            "candidate",
            "score",
            title=f"{r.method}: {target} on {model} ({r.cost['seconds']:.1f} s, {r.cost['examples']} examples)",
        )
        for i, c in enumerate(r.candidates, 1):
            table.add_row(str(i), c["name"], f"{c['score']:.4g}")
        console.print(table)
        if r.note:
            console.print(f"  {r.method}: {r.note}")
    console.print(f"rankings: {out} (model load {load_seconds:.1f} s, total {time.time() - t0:.0f} s)")


def select_eval(
    run_dir: Path = typer.Argument(..., metavar="RUN_DIR", help="Run directory of the exhaustive grid (results.csv)."),
    rankings: list[Path] = typer.Option(..., "--rankings", help="Ranking files written by xstilts select."),
    split: str | None = typer.Option(None, help="Split of the true scores (default: test when every run has it)."),
    gain: str = typer.Option("exp", help="NDCG gain of the main table: exp (2^points - 1, Poth et al.) or linear."),
    out: Path | None = typer.Option(
        None, help="Where selection-eval.json and the plot go (default: RUN_DIR/selection)."
    ),
) -> None:
    """NDCG@k and Regret@k (k = 1, 3, 5) of each ranking against the grid, with the ranking's and the grid's cost."""
    from xstilts.analysis.selection_eval import GAINS, evaluate_rankings, summarize
    from xstilts.rankings import load_rankings

    if gain not in GAINS:
        raise UserError(f"--gain must be one of {GAINS}, got '{gain}'")
    result = evaluate_rankings(run_dir, load_rankings(rankings), split)
    if not result["rows"]:
        raise UserError("no ranking matches the grid: " + "; ".join(result["skipped"]))
    dest = out or run_dir / "selection"
    dest.mkdir(parents=True, exist_ok=True)
    result["summary"] = summarize(result["rows"])
    atomic_write_json(dest / "selection-eval.json", result)
    print_eval_table(
        result["rows"], gain, f"Per ranking, split {result['split']}: NDCG (N, {gain} gain) and Regret (R) at k"
    )
    for s in result["skipped"]:
        console.print(f"[yellow]skipped[/] {s}")

    def ndcgs(row: dict[str, Any], g: str) -> str:
        return " ".join(f"NDCG@{k} {row[f'ndcg@{k}/{g}']:.3f}" for k in (1, 3, 5)) + f" ({g})"

    for s in result["summary"]:
        ratio = "n/a" if s["cost_ratio"] is None else f"{s['cost_ratio']:.4f}"
        console.print(
            f"{s['method']}: mean over {s['rankings']} ranking(s): "
            + " ".join(f"Regret@{k} {s[f'regret@{k}']:.2f}" for k in (1, 3, 5))
            + " "
            + "; ".join(ndcgs(s, g) for g in (gain, *[x for x in GAINS if x != gain]))
            + f"; cost/grid {ratio}",
            highlight=False,
            soft_wrap=True,
        )
    from xstilts.analysis.selection_report import plot_selection

    png = plot_selection(result["rows"], dest / "selection.png", gain)
    console.print(f"evaluation: {dest / 'selection-eval.json'}; plot: {png}")


def print_eval_table(rows: list[dict[str, Any]], g: str, title: str) -> None:
    """One compact table per (model, target), so that it reads at 80 columns; every field is in the JSON."""
    from rich import box

    console.print(f"[bold]{title}[/]; * random: the exact expectation over orderings")
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["model"], r["target"]), []).append(r)
    for (model, target), group in groups.items():
        grid = group[0]["grid_seconds"]
        table = Table(
            "method",
            *[f"N@{k}" for k in (1, 3, 5)],
            *[f"R@{k}" for k in (1, 3, 5)],
            ">none",
            "cost s",
            "/grid",
            title=f"{model} / {target}: {group[0]['n']} candidates, grid {grid:.0f} s",
            box=box.SIMPLE,
            pad_edge=False,
        )
        for r in group:
            beats = "" if r["top1_beats_baseline"] is None else ("yes" if r["top1_beats_baseline"] else "no")
            table.add_row(
                r["method"] + ("*" if r["expected"] else ""),
                *[f"{r[f'ndcg@{k}/{g}']:.3f}" for k in (1, 3, 5)],
                *[f"{r[f'regret@{k}']:.2f}" for k in (1, 3, 5)],
                beats,
                f"{r['cost_seconds']:.0f}",
                "" if r["cost_ratio"] is None else f"{r['cost_ratio']:.3f}",
            )
        console.print(table)
