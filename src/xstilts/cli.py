"""The `xstilts` command line. Every user error prints one line (file, line, what was expected) and exits with code 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from xstilts.cli_args import parse_pairs as _parse_pairs
from xstilts.cli_args import parse_sets as _parse_sets
from xstilts.cli_args import split_list as _split_list
from xstilts.errors import UserError
from xstilts.experiments.executors import EXECUTORS, RunOptions, executor_help

app = typer.Typer(
    help="X-STILTs: English intermediate-task training and zero-shot cross-lingual transfer on XTREME.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console()
err = Console(stderr=True)


ONLY_HELP = (
    "Restrict the grid: axis=value[,value...] with axis model, intermediate, target, seed or source_language "
    "(repeat or join with ';' or ','): e.g. --only model=xlmr-base,seed=0. The same filter in plan and run, so a "
    "grid can be split across machines by hand."
)


def parse_only(spec, only: list[str]) -> dict[str, list[str]]:
    """--only filters as axis -> values, validated against the spec (unknown axes or values are exit 2); spec None:
    parsed only (the rehearsal validates them against the spec it expands on its toy data)."""
    from xstilts.experiments.plan import check_only

    current = ""
    filters: dict[str, list[str]] = {}
    for item in only:
        for part in item.replace(";", ",").split(","):
            part = part.strip()
            if not part:
                continue
            if "=" in part:
                key, value = part.split("=", 1)
                current = key.strip()
                filters.setdefault(current, []).append(value.strip())
            elif filters:  # a bare value continues the previous axis: model=a,b
                filters[current].append(part)
            else:
                raise UserError(f"--only expects axis=value, got '{part}'")
    if spec is not None:
        check_only(spec, filters)
    return filters


@app.command()
def tasks(
    as_json: bool = typer.Option(
        False, "--json", help="Print every task as JSON (name, role, family, languages, source, metric, size)."
    ),
    role: str | None = typer.Option(None, help="Only 'target' or 'intermediate' tasks."),
) -> None:
    """List the tasks xstilts knows: XTREME targets, English intermediate tasks, and the offline demo tasks."""
    from xstilts.tasks import list_tasks

    items = sorted(list_tasks(role), key=lambda t: (t.role, t.name))
    if as_json:
        print(json.dumps([t.summary() for t in items], indent=2, ensure_ascii=False))
        return
    table = Table("name", "role", "family", "langs", "metric", "source", "size", expand=False)
    for t in items:
        s = t.summary()["source"]
        if s.get("hub"):
            src = f"{s['hub']} {s.get('config') or ''}".strip()
        elif t.local_format:
            src = "your files (see --json)"
        elif t.local_dir:
            src = "bundled (generated offline)"
        else:
            src = "built from other tasks"
        table.add_row(t.name, t.role, t.family, str(len(t.languages)), t.metric, src, str(t.size or ""))
    console.print(table)


@app.command()
def train(
    task: list[str] = typer.Option(..., "--task", "-t", help="Task to train (repeat for multi-task training)."),
    model: str = typer.Option(None, help="Start from this hub id or model folder (default: the embedded encoder)."),
    start: Path | None = typer.Option(None, "--from", help="Start from a previous phase's checkpoint directory."),
    out: Path = typer.Option(..., help="Output directory of this phase's checkpoint."),
    phase: str = typer.Option("intermediate", help="'intermediate' or 'target' (chooses the recipe defaults)."),
    seed: int = typer.Option(0),
    max_train_examples: int | None = typer.Option(
        None, help="Deterministic subsample (by seed) of each task's training set."
    ),
    sampler: str = typer.Option("proportional", help="Multi-task sampler: proportional, temperature, uniform."),
    temperature: float = typer.Option(2.0, help="Temperature T for the temperature sampler."),
    keep_heads: bool = typer.Option(False, help="Keep a head from --from when its task and labels match."),
    data_dir: list[str] = typer.Option(
        [], help="task=DIR: read this task's data from DIR (uniform JSONL or official layout)."
    ),
    language: list[str] = typer.Option([], help="task=LANG: train this task on data in LANG instead of English."),
    mlm_corpus: Path | None = typer.Option(None, help="Text file for multilingual MLM co-training."),
    set_: list[str] = typer.Option([], "--set", help="Override a hyperparameter: key=value (e.g. learning_rate=2e-5)."),
    log_with: str | None = typer.Option(None, help="Experiment tracking: tensorboard, wandb or mlflow."),
    trust_remote_code: bool = typer.Option(False, help="Allow a hub model to run its own code (off by default)."),
) -> None:
    """Train one phase (one task or several at once) and write its checkpoint atomically."""
    from xstilts.training.phase import PhaseConfig, run_phase

    if phase not in ("intermediate", "target"):
        raise UserError(f"--phase must be 'intermediate' or 'target', got '{phase}'")
    if start is not None and not (start / "phase.json").is_file():
        raise UserError("not a finished phase checkpoint (phase.json missing)", path=str(start))
    from xstilts.defaults import check_hyperparameters

    settings = check_hyperparameters(_parse_sets(set_), "--set")
    if max_train_examples is not None:
        settings["max_train_examples"] = max_train_examples
    if start is None and model is None:
        from xstilts.modeling.embedded import ensure_embedded_model

        model = str(ensure_embedded_model())
    cfg = PhaseConfig(
        kind=phase,
        tasks=list(task),
        start=str(start or model),
        seed=seed,
        settings=settings,
        sampler=sampler,
        temperature=temperature,
        keep_heads=keep_heads,
        data_dirs=_parse_pairs(data_dir, "--data-dir"),
        languages=_parse_pairs(language, "--language"),
        mlm_corpus=str(mlm_corpus) if mlm_corpus else None,
        log_with=log_with,
        trust_remote_code=trust_remote_code,
    )
    for name in cfg.tasks:
        from xstilts.tasks import get_task

        get_task(name)
    from xstilts.evaluation.task_eval import dev_evaluator
    from xstilts.training.loop import end_distributed

    try:
        path = run_phase(cfg, out, dev_scorer=dev_evaluator)
        rec = json.loads((path / "phase.json").read_text())
        console.print(f"[green]phase written:[/] {path}  dev: {json.dumps(rec['train']['dev_metrics'])}")
    finally:  # under `accelerate launch`: tear the process group down here, not at interpreter exit
        end_distributed()


@app.command()
def align(
    corpus: str = typer.Option(
        ...,
        help="Parallel corpus: 'gettext' (the packaged offline one), a path with {lang}, a folder of <lang>-en.txt "
        "(<lang sentence> ||| <English sentence>, optional <lang>-en.links of i-j lines), <lang>-en.jsonl or Moses "
        "<lang>-en.<lang> + <lang>-en.en files; for one language, a file.",
    ),
    languages: str = typer.Option(..., help="Comma-separated non-English languages (e.g. de,ru)."),
    out: Path = typer.Option(..., help="Output directory of the aligned checkpoint."),
    model: str = typer.Option("embedded", help="The pretrained model: where to start, and the diagnostics' reference."),
    start: Path | None = typer.Option(None, "--from", help="Start from a phase checkpoint instead (heads kept)."),
    heldout: str | None = typer.Option(
        None, help="Held-out pairs for the diagnostics, in a corpus format (default: gettext's own held-out pairs)."
    ),
    seed: int = typer.Option(0),
    set_: list[str] = typer.Option(
        [], "--set", help="Override an alignment setting: key=value (learning_rate, batch_size, word_vectors, ...)."
    ),
    trust_remote_code: bool = typer.Option(False, help="Allow a hub model to run its own code (off by default)."),
    quiet: bool = typer.Option(False, help="No progress bar."),
) -> None:
    """Align the encoder's contextual word vectors across languages with parallel data (Cao et al. 2020; Efimov et
    al. 2022) and write a checkpoint any phase can start from; prints the related / unrelated word distances on the
    held-out pairs before and after."""
    from xstilts.alignment.job import alignment_job
    from xstilts.alignment.phase import run_alignment
    from xstilts.modeling.embedded import resolve_model_path

    if start is not None and not (start / "phase.json").is_file():
        raise UserError("not a finished phase checkpoint (phase.json missing)", path=str(start))
    langs = _split_list(languages) or []
    job = alignment_job(corpus, langs, _parse_sets(set_), seed, heldout, trust_remote_code, where="--set")
    reference = resolve_model_path(model)
    path = run_alignment(job, str(start or reference), out, reference, progress=not quiet)
    rec = json.loads((path / "phase.json").read_text())
    table = Table(title="held-out word distances (mean L2 of last-layer word vectors)")
    for col in (
        "language",
        "pairs",
        "links",
        "related before",
        "related after",
        "unrelated before",
        "unrelated after",
        "English drift",
    ):
        table.add_column(col)
    diag = rec["diagnostics"]
    for lang, after in diag["after"].items():
        before = diag["before"][lang]
        table.add_row(
            lang,
            str(after["pairs"]),
            str(after["links"]),
            f"{before['related_l2']:.3f}",
            f"{after['related_l2']:.3f}",
            f"{before['unrelated_l2']:.3f}",
            f"{after['unrelated_l2']:.3f}",
            f"{after['english_drift']:.3f}",
        )
    if diag["after"]:
        console.print(table)
    console.print(
        f"[green]aligned checkpoint written:[/] {path}  ({rec['train']['steps']} steps, {rec['seconds']:.0f} s)"
    )


@app.command()
def evaluate(
    checkpoint: str = typer.Option(
        ..., help="Phase checkpoint directory (or a model folder / hub id for retrieval tasks)."
    ),
    task: str = typer.Option(..., "--task", "-t", help="Target task."),
    out: Path = typer.Option(..., help="Where predictions/, labels/ and metrics.json go."),
    languages: str | None = typer.Option(None, help="Comma-separated languages (default: all of the task's)."),
    split: str = typer.Option("dev", help="Comma-separated splits: dev, test."),
    layer: int | None = typer.Option(None, help="Retrieval: hidden_states index to pool (default: a middle layer)."),
    direction: str = typer.Option(
        "en_to_xx", help="Tatoeba-style retrieval: en_to_xx (official: English queries) or xx_to_en."
    ),
    pooling: str = typer.Option(
        "mean_all",
        help="Retrieval pooling: mean_all (official: every non-pad token), mean_content (no special tokens) or cls.",
    ),
    data_dir: str | None = typer.Option(None, help="Read the task's data from this directory."),
    trust_remote_code: bool = typer.Option(False, help="Allow a hub model to run its own code (off by default)."),
) -> None:
    """Zero-shot evaluation: per-language metrics JSON and predictions in the official submission layout."""
    from xstilts.tasks import get_task

    spec = get_task(task)
    langs = _split_list(languages) or spec.languages
    unknown = [l for l in langs if l not in spec.languages]
    if unknown:
        raise UserError(f"task '{task}' has no language '{unknown[0]}'; its languages: {' '.join(spec.languages)}")
    from xstilts.paths import is_checkpoint  # torch-free: the error comes before any model code loads

    if not spec.ops.is_retrieval and not is_checkpoint(checkpoint):  # at once: never taken for a hub id
        raise UserError(
            f"not a phase checkpoint (encoder/config.json and heads.json expected): task '{task}' needs the head "
            "`xstilts train` wrote; a model folder or hub id is evaluated on retrieval tasks only",
            path=checkpoint,
        )
    from xstilts.evaluation.zero_shot import evaluate_target

    rows = evaluate_target(
        checkpoint,
        spec,
        langs,
        _split_list(split) or ["dev"],
        out,
        data_dir=data_dir,
        layer=layer,
        trust_remote_code=trust_remote_code,
        direction=direction,
        pooling=pooling,
    )
    print_language_table(spec.name, rows)


def print_language_table(task: str, rows: list[dict]) -> None:
    splits = sorted({r["split"] for r in rows})
    for split in splits:
        sel = [r for r in rows if r["split"] == split]
        metrics = [m for m in dict.fromkeys(r["metric"] for r in sel) if m != "threshold"]
        table = Table(title=f"{task} ({split})")
        table.add_column("language")
        for m in metrics:
            table.add_column(m, justify="right")
        for lang in dict.fromkeys(r["language"] for r in sel):
            vals = {r["metric"]: r["value"] for r in sel if r["language"] == lang}
            table.add_row(lang, *[f"{vals[m]:.1f}" if m in vals else "" for m in metrics])
        console.print(table)


@app.command()
def score(
    predictions: Path = typer.Option(..., help="Directory in the submission layout: <task>/test-<lang>.tsv|json."),
    labels: Path = typer.Option(..., help="Gold labels in the same layout."),
    output: Path = typer.Option(..., help="Output JSON (the official evaluate.py --output_file layout)."),
    benchmark: str = typer.Option(
        "xtreme",
        help="A benchmark's name (its file in tasks/benchmarks/ or a directory in $XSTILTS_BENCHMARK_DIRS) or a "
        "benchmark YAML file.",
    ),
    split: str = typer.Option("test", help="Score <task>/<split>-<lang> files (test or dev)."),
    languages: list[str] = typer.Option(
        [], help="task=en,de,...: score a task on a subset of its languages (no group scores or all_task then)."
    ),
) -> None:
    """Score predictions exactly as the official XTREME scorer does (or any benchmark file's tasks, groups, average)."""
    from xstilts.evaluation.scorer import run_score_cli

    for p in (predictions, labels):
        if not p.is_dir():
            raise UserError("directory not found", path=str(p))
    subset = {t: _split_list(v) or [] for t, v in _parse_pairs(languages, "--languages").items()}
    result = run_score_cli(str(predictions), str(labels), str(output), benchmark, split=split, languages=subset or None)
    console.print_json(json.dumps(result))


@app.command()
def plan(
    spec_path: Path = typer.Argument(..., metavar="SPEC", help="Experiment spec (YAML)."),
    out: Path | None = typer.Option(None, help="Run directory, to show which nodes are already done."),
    as_json: bool = typer.Option(
        False,
        "--json",
        help="Print the DAG as JSON (nodes with id, kind, depends_on, done, and each node's fully resolved job).",
    ),
    only: list[str] = typer.Option([], help=ONLY_HELP),
) -> None:
    """Show the DAG a spec expands to: node counts per kind, what is done, what is skipped, GPU-hours and disk, and
    the mixtures a `mixtures:` block generates (by strategy and size; strategies whose embeddings or rankings cannot be
    computed here are listed as pending). Rankings a `selection:` block lacks are computed once and cached."""
    from xstilts.experiments.plan import build_plan, plan_summary, select_nodes
    from xstilts.experiments.spec import load_spec

    spec = load_spec(spec_path)  # mixtures whose embeddings cannot be computed here: listed as pending
    filters = parse_only(spec, only)
    summary = plan_summary(spec, select_nodes(build_plan(spec), filters), out)
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    table = Table("kind", "nodes", "done", title=f"plan: {spec.name}")
    for kind, c in summary["counts"].items():
        table.add_row(kind, str(c["total"]), str(c["done"]))
    console.print(table)
    console.print(
        f"estimated remaining: {summary['estimated_gpu_hours_remaining']} GPU-hours (base-size model, coarse)"
    )
    from xstilts.experiments.costs import describe

    for line in describe(summary["costs"]):
        console.print(line, highlight=False, soft_wrap=True)
    _print_mixtures(summary)
    for line in summary["missing_data"]:  # absent data folders and translated files: the nodes reading them would fail
        err.print(f"missing data: {line}", highlight=False, soft_wrap=True)


def _print_mixtures(summary: dict) -> None:
    """What a mixtures block generated, by strategy and size, and what is pending."""
    generated = summary.get("mixtures") or []
    if generated:
        per: dict[tuple[str, int], set[str]] = {}
        for m in generated:
            for o in m["origins"]:
                per.setdefault((o["strategy"], int(o["size"])), set()).add(m["setting"])
        table = Table("strategy", "size", "settings", title=f"mixtures: {len(generated)} settings generated")
        for (strategy, size), names in sorted(per.items(), key=lambda kv: (kv[0][0], kv[0][1])):
            table.add_row(strategy, str(size), str(len(names)))
        console.print(table)
    for why in summary.get("mixtures_pending") or []:
        err.print(f"pending: {why}", highlight=False, soft_wrap=True)


@app.command()
def run(
    spec_path: Path = typer.Argument(..., metavar="SPEC", help="Experiment spec (YAML)."),
    out: Path = typer.Option(..., help="Run directory (resumable: finished nodes are never recomputed)."),
    executor: str = typer.Option("local", help=executor_help()),
    jobs: int | None = typer.Option(
        None,
        help="Local executor: parallel worker processes (default: one per local GPU "
        "when there are several, else run in this process).",
    ),
    ray_address: str | None = typer.Option(None, help="Ray cluster address (default: start a local Ray)."),
    quiet: bool = typer.Option(False, help="No progress bars."),
    log_with: str | None = typer.Option(None, help="Experiment tracking: tensorboard, wandb or mlflow."),
    only: list[str] = typer.Option([], help=ONLY_HELP),
    slurm: list[str] = typer.Option(
        [],
        "--slurm",
        help="Slurm executor: a submitit parameter KEY=VALUE (repeat), e.g. "
        "slurm_partition=gpu, timeout_min=720, gpus_per_node=1.",
    ),
    wait: bool = typer.Option(False, "--wait", help="If another run holds DIR, wait for it instead of refusing."),
) -> None:
    """Run every unfinished node of a spec; resume after any crash with the same command."""
    from xstilts.experiments.lock import RunLock
    from xstilts.experiments.spec import load_spec

    spec = load_spec(spec_path)
    if spec.mixtures is not None and spec.mixtures.pending:  # a run never silently lacks generated settings
        more = len(spec.mixtures.pending) - 1
        raise UserError(
            f"mixtures: cannot generate every setting here ({spec.mixtures.pending[0]})"
            + (f"; and {more} more (xstilts plan lists them)" if more else "")
        )
    filters = parse_only(spec, only)
    chosen = EXECUTORS.get(executor)  # unknown: one line naming the registered executors
    options = RunOptions(
        jobs=jobs,
        ray_address=ray_address,
        progress=not quiet,
        log_with=log_with,
        only=filters,
        slurm=_parse_sets(slurm, "--slurm"),
    )
    from xstilts.experiments.costs import run_disk_warning

    disk = run_disk_warning(spec, out, filters, workers=jobs or 1)  # the estimated peak against the free space
    if disk:
        err.print(f"warning: {disk}", highlight=False, soft_wrap=True)
    with RunLock(out, wait=wait) as lock:  # one run per directory; the executors take it again (re-entrant)
        if lock.note:
            err.print(f"warning: {lock.note}", highlight=False, soft_wrap=True)
        summary = chosen.run(spec, out, options)
    _print_summary(summary, out)


@app.command()
def prepare(
    spec_path: Path = typer.Argument(..., metavar="SPEC", help="Experiment spec (YAML)."),
    only: list[str] = typer.Option([], help=ONLY_HELP),
) -> None:
    """Fetch every model and dataset the plan reaches into the local caches (run it where the hub is reachable, e.g.
    a cluster's login node), print what was fetched and its size, then check that the run needs nothing else: with
    HF_HUB_OFFLINE=1 everything loads from the caches. Exit 1 naming what is missing."""
    from xstilts.experiments.prepare import describe, prepare_spec
    from xstilts.experiments.spec import load_spec

    spec = load_spec(spec_path)
    result = prepare_spec(spec, parse_only(spec, only))
    for line in describe(result):
        (console if not line.startswith(("missing", "needed")) else err).print(line, highlight=False, soft_wrap=True)
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def rehearse(
    spec_path: Path = typer.Argument(..., metavar="SPEC", help="Experiment spec (YAML) to rehearse."),
    out: Path = typer.Option(
        ..., help="Rehearsal directory (results.csv, report.html, nodes; toy data in rehearsal/)."
    ),
    only: list[str] = typer.Option([], help=ONLY_HELP),
    quiet: bool = typer.Option(False, help="No progress bars."),
) -> None:
    """Run a spec end to end at toy scale, offline, before spending GPU-hours: every dataset replaced by a few generated
    rows in its exact source schema (hub or official layout, every language and split the spec reaches), every model by
    a tiny random model of its tokenizer type. Reports each node that would fail; writes results.csv and the report."""
    from xstilts.experiments.spec import load_spec
    from xstilts.rehearsal import rehearse_spec

    spec = load_spec(spec_path, expand=False)
    filters = parse_only(spec if spec.mixtures is None else None, only)  # mixtures: checked once generated
    summary = rehearse_spec(spec_path, out, only=filters, progress=not quiet)
    _print_summary(summary, out)
    if summary.get("report"):
        console.print(f"report: {summary['report']}")


def _print_summary(summary: dict, out: Path) -> None:
    console.print(f"ran {len(summary['ran'])} node(s) of {summary['nodes']}; results: {out / 'results.csv'}")
    if summary["failed"]:
        err.print(f"[red]{len(summary['failed'])} node(s) failed:[/]")
        for node, why in summary["failed"].items():
            err.print(f"  {node}: {why}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)


@app.command()
def status(out: Path = typer.Argument(..., metavar="DIR", help="Run directory.")) -> None:
    """Progress of a run: nodes done per kind, failures and their logs."""
    import collections

    from xstilts.ledger import EVENTS_FILE, read_events

    if not (out / EVENTS_FILE).is_file():
        raise UserError(f"not a run directory ({EVENTS_FILE} missing)", path=str(out))
    last: dict[str, dict] = {}
    for e in read_events(out):
        if e.get("node") != "(run)":  # the driver's repairs are not nodes
            last[e["node"]] = e
    from xstilts.experiments.plan import recorded_lookup

    recorded = recorded_lookup(out)
    state: dict[str, str] = {}
    for node, e in last.items():
        # a node whose record exists finished, whatever its last event says (a run stopped between a node's record and
        # its "done" event, or a run from before nodes were recorded as they ended)
        unfinished = e["event"] in ("start", "interrupted")
        state[node] = "done" if unfinished and recorded(node, e.get("dir")) else e["event"]
    counts = collections.Counter(state.values())
    console.print(f"{out}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for node, e in last.items():
        if state[node] in ("failed", "start", "interrupted"):
            console.print(f"  {state[node]}: {node} {e.get('log', '')}")


@app.command()
def results(
    out: Path = typer.Argument(..., metavar="DIR", help="Run directory with results.csv."),
    metric: str = typer.Option("score", help="Which metric to pivot (score = the task score per language)."),
    target: list[str] = typer.Option([], help="Only these targets (repeat, or a,b)."),
    model: list[str] = typer.Option([], help="Only these models (repeat, or a,b)."),
    intermediate: list[str] = typer.Option([], help="Only these intermediate settings (repeat, or a,b)."),
    fmt: str = typer.Option(
        "table",
        "--format",
        help="table (fits the terminal: the language mean first, then the languages that fit), csv (every language, "
        "exact values; for pipes) or markdown.",
    ),
    width: int | None = typer.Option(None, help="Table width in columns (default: the terminal's, or $COLUMNS)."),
) -> None:
    """The results table pivoted: one row per (model, intermediate, target, split, seed), one column per language."""
    show_results(out, metric, target, model, intermediate, fmt, width)


def show_results(
    out: Path,
    metric: str = "score",
    targets: list[str] | None = None,
    models: list[str] | None = None,
    intermediates: list[str] | None = None,
    fmt: str = "table",
    width: int | None = None,
) -> None:
    """Print the pivot of DIR/results.csv (the `results` command; the demo prints it too)."""
    import shutil

    from xstilts.analysis.results import FORMATS, filter_rows, pivot, render, split_values
    from xstilts.results import RESULTS_FILE, read_results

    if fmt not in FORMATS:
        raise UserError(f"--format must be one of {', '.join(FORMATS)}, got '{fmt}'")
    path = out / RESULTS_FILE
    rows = filter_rows(
        read_results(path),
        metric,
        split_values(targets),
        split_values(models),
        split_values(intermediates),
        where=str(path),
    )
    columns = width or shutil.get_terminal_size((80, 24)).columns
    typer.echo(render(pivot(rows), fmt, columns), nl=False)


@app.command()
def report(
    run_dir: Path = typer.Argument(..., metavar="DIR", help="Run directory with results.csv."),
    baseline: str = typer.Option("none", help="The intermediate setting gains are measured against."),
    out: Path | None = typer.Option(None, help="Where report.html and report.md go (default: DIR)."),
) -> None:
    """Write DIR/report.html (self-contained) and DIR/report.md, and print the headline table."""
    from xstilts.analysis.report import run_report_cli

    path = run_report_cli([str(run_dir)], str(out) if out else None, baseline)
    console.print(f"report: {path}")


@app.command()
def compare(
    run_dirs: list[Path] = typer.Argument(..., metavar="DIR...", help="Run directories to put in one report."),
    baseline: str = typer.Option("none"),
    out: Path | None = typer.Option(None, help="Output directory (default: ./xstilts-compare)."),
) -> None:
    """One report over several runs (e.g. an mBERT run and an XLM-R run)."""
    from xstilts.analysis.report import run_report_cli

    path = run_report_cli([str(d) for d in run_dirs], str(out) if out else None, baseline)
    console.print(f"report: {path}")


DEMO_SPEC = Path(__file__).parent / "experiments" / "demo.yaml"


@app.command()
def demo(
    out: Path = typer.Option(Path("runs/demo"), help="Run directory (rerunning into it reuses every finished node)."),
    spec_path: Path = typer.Option(
        DEMO_SPEC, "--spec", help="The demo spec (default: the packaged experiments/demo.yaml)."
    ),
    quiet: bool = typer.Option(False, help="No progress bars."),
) -> None:
    """The offline demo: intermediate settings x demo targets on the embedded encoder, then the results table and report.

    Every demo task is generated offline from real resources; the numbers are smoke-scale, not XTREME results."""
    import time

    from xstilts.experiments.run import run_local
    from xstilts.experiments.spec import load_spec

    t0 = time.time()
    spec = load_spec(spec_path)
    console.print(f"[bold]xstilts demo[/]: {spec.description}")
    summary = run_local(spec, out, progress=not quiet)
    show_results(out)
    report(out, baseline="none", out=None)
    console.print(
        f"[yellow]Offline smoke-scale numbers on generated demo tasks: not XTREME results.[/] "
        f"({time.time() - t0:.0f} s)"
    )
    _print_summary(summary, out)


from xstilts import cli_selection  # noqa: E402 - issue 11: select and select-eval

app.command("select")(cli_selection.select)
app.command("select-eval")(cli_selection.select_eval)


def main() -> None:
    try:
        app()
    except UserError as e:
        err.print(f"[red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except OSError as e:
        import errno

        # A full disk, a quota, a read-only or forbidden directory: the user's environment, not a bug.
        if e.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        where = f"{e.filename}: " if e.filename else ""
        err.print(
            f"[red]error:[/] {where}{e.strerror}; expected a writable directory with free space",
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as e:  # a phase whose loss became NaN/inf: one line naming the step and task, exit 1
        from xstilts.training.loop import TrainingDiverged

        if not isinstance(e, TrainingDiverged):
            raise
        err.print(f"[red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
