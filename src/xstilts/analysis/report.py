"""The report: `build_report` turns results.csv file(s) into report.html + report.md; `headline_table` for the CLI."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xstilts.analysis import plots, stats
from xstilts.analysis.pretraining import UNKNOWN
from xstilts.analysis.render import Document, Heading, Image, Paragraph, Table, cell, to_html, to_markdown
from xstilts.analysis.results import GRID_FILE, choose_split, load_runs
from xstilts.analysis.tables import AVERAGE, ENGLISH, GROUP_KINDS, Cell, ModelTable, ReportData, summarize

TITLE = "xstilts report"
DASH = "—"
SIGNIFICANT_MARK = "*"


def fmt(value: float, signed: bool = False) -> str:
    if math.isnan(value):
        return DASH
    value = round(value, 1) + 0.0  # + 0.0 turns -0.0 into 0.0: no "-0.0" in tables
    return f"{value:+.1f}" if signed else f"{value:.1f}"


def fmt3(value: float) -> str:
    """Three decimals (p-values, correlations); small p-values in scientific notation so they do not read as 0."""
    if math.isnan(value):
        return DASH
    return f"{value:.1e}" if 0 < abs(value) < 0.001 else f"{value:.3f}"


def cell_text(c: Cell, is_baseline: bool) -> str:
    """`mean (delta*)`: the paper-table cell; the baseline row shows its mean only."""
    if is_baseline or math.isnan(c.delta):
        return fmt(c.mean)
    return f"{fmt(c.mean)} ({fmt(c.delta, signed=True)}{SIGNIFICANT_MARK if c.significant else ''})"


def cell_classes(c: Cell) -> tuple[str, ...]:
    """`best` for the column's best mean; `ns`/`sig` for tested gains (the average column is not tested)."""
    tested = c.test is not None and not math.isnan(c.p_holm)
    return ("best" if c.best else "", ("sig" if c.significant else "ns") if tested else "")


def _model_header(t: ModelTable) -> list[str]:
    return ["Setting", *t.targets, t.average_label]


def _paper_rows(t: ModelTable, baseline: str) -> list[list]:
    rows = []
    for s in t.settings:
        row = [cell(s)]
        for column in t.columns:
            c = t.cell(s, column)
            row.append(cell(DASH) if c is None else cell(cell_text(c, s == baseline), *cell_classes(c)))
        rows.append(row)
    return rows


def _section_paper_tables(doc: Document, data: ReportData) -> None:
    doc.add(Heading(2, "1. Results by intermediate setting"))
    caption = (
        f"Target score = unweighted mean over the target's languages (English included), mean over seeds; "
        f"in brackets the difference to '{data.baseline}'; {SIGNIFICANT_MARK} = significant after Holm correction "
        f"(p < {stats.ALPHA}), grey = not significant; bold = best in its column. Average = mean over targets "
        "(shown only for settings with every target; not tested)."
    )
    for t in data.tables:
        doc.add(Heading(3, f"Model: {t.label}"), Table(_model_header(t), _paper_rows(t, data.baseline), caption))


def _section_languages(doc: Document, data: ReportData) -> None:
    doc.add(Heading(2, "2. Gains per target and language"))
    doc.add(
        Paragraph(
            f"Gain = mean over seeds of the setting's score minus the '{data.baseline}' score, per language; "
            "colour scale centred at zero (blue = gain, red = loss). Transfer gap = English score minus the mean "
            "of the other languages (smaller is better transfer).",
            "note",
        )
    )
    for d in data.details:
        doc.add(Heading(3, f"{d.label} · {d.target}"))
        settings = [s for s in d.settings if s != data.baseline and d.language_gains(s)]
        if settings:
            columns = [*d.languages, "mean"]
            gains = np.array(
                [[d.gain(s, lang) for lang in d.languages] + [float(np.mean(d.language_gains(s)))] for s in settings]
            )
            title = f"{d.target}: gain over {data.baseline} ({d.label})"
            doc.add(
                Image(plots.gain_heatmap(title, settings, columns, gains), f"heatmap of gains, {d.label}, {d.target}"),
                Table(
                    ["Setting", *columns],
                    [
                        [cell(s), *(cell(fmt(v, signed=True)) for v in row)]
                        for s, row in zip(settings, gains, strict=False)
                    ],
                    "Gain per language (points).",
                ),
            )
        else:
            doc.add(Paragraph(f"No gains: no '{data.baseline}' baseline or no other setting for this target.", "note"))
        if d.target in data.retrieval_targets or "en" not in d.languages:
            continue  # retrieval targets have no English score: no transfer gap to show
        base_gap = d.transfer_gap(data.baseline)[2] if data.baseline in d.settings else math.nan
        rows = []
        for s in d.settings:
            en, rest, gap = d.transfer_gap(s)
            rows.append(
                [
                    cell(s),
                    cell(fmt(en)),
                    cell(fmt(rest)),
                    cell(fmt(gap)),
                    cell(fmt(gap - base_gap, signed=True) if s != data.baseline else DASH),
                ]
            )
        doc.add(
            Table(
                ["Setting", "English", "non-English mean", "gap", f"gap change vs {data.baseline}"],
                rows,
                "English vs non-English transfer gap.",
            )
        )


def _section_comparison(doc: Document, data: ReportData) -> None:
    doc.add(Heading(2, "3. Model comparison"))
    if len(data.tables) < 2:
        doc.add(Paragraph(f"One model only ({data.tables[0].label}): nothing to compare.", "note"))
        return
    tables = data.tables
    scopes = [t for t in tables[0].targets if any(t in other.targets for other in tables[1:])]
    for scope in [*scopes, AVERAGE]:
        settings = list(dict.fromkeys(s for t in tables for s in t.settings if s != data.baseline))
        label = "all targets (average)" if scope == AVERAGE else scope
        rows = []
        for s in settings:
            row = [cell(s)]
            for t in tables:
                c = t.cell(s, scope)
                row.append(
                    cell(DASH)
                    if c is None
                    else cell(
                        fmt(c.delta, signed=True) + (SIGNIFICANT_MARK if c.significant else ""), *cell_classes(c)[1:]
                    )
                )
            rows.append(row)
        doc.add(
            Heading(3, f"Gains side by side: {label}"),
            Table(["Setting", *(t.label for t in tables)], rows, f"Gain over '{data.baseline}' per model."),
        )
        if scope == AVERAGE and settings:
            series = {t.label: [t.delta(s, AVERAGE) for s in settings] for t in tables}
            doc.add(
                Image(
                    plots.grouped_bars("Mean gain over targets", settings, series, "gain (points)"),
                    "mean gain over targets per setting and model",
                )
            )
    doc.add(
        Heading(3, "Rank correlation of settings between models"),
        Table(
            ["Model A", "Model B", "Target", "n settings", "Spearman rho", "Kendall tau"],
            [
                [
                    cell(r.model_a),
                    cell(r.model_b),
                    cell(r.scope),
                    cell(str(r.n)),
                    cell(fmt3(r.spearman)),
                    cell(fmt3(r.kendall)),
                ]
                for r in data.correlations
            ],
            "Settings ranked by mean gain (the baseline counts, at gain 0); 'overall' ranks by the gain of the "
            "average over targets. Undefined (—) below 3 settings or when a model ranks all settings equal.",
        ),
    )


def _section_uncertainty(doc: Document, data: ReportData) -> None:
    doc.add(Heading(2, "4. Uncertainty and significance"))
    doc.add(
        Paragraph(
            f"mean ± std over seeds (sample std). Gain CI: percentile bootstrap of the mean paired difference over "
            f"(language, seed) pairs, {stats.BOOTSTRAP_RESAMPLES} resamples, seed {stats.BOOTSTRAP_SEED}. Test: two-sided "
            f"paired t-test over (language, seed) pairs when there are fewer than {stats.WILCOXON_MIN_PAIRS} pairs, "
            "Wilcoxon signed-rank otherwise; all-equal nonzero differences get the exact sign-test p. p-values are "
            f"Holm-Bonferroni corrected across the settings of each model and target; significant = corrected p < "
            f"{stats.ALPHA}.",
            "note",
        )
    )
    header = ["Target", "Setting", "mean ± std", "seeds", "gain", "95% CI", "test", "pairs", "p", "p (Holm)", "sig."]
    for t in data.tables:
        rows = []
        for target in t.targets:
            for s in t.settings:
                c = t.cell(s, target)
                if c is None:
                    continue
                test = c.test
                sig = ("yes" if c.significant else "no") if test is not None and not math.isnan(c.p_holm) else DASH
                rows.append(
                    [
                        cell(target),
                        cell(s),
                        cell(f"{fmt(c.mean)} ± {fmt(c.std)}"),
                        cell(str(c.n_seeds)),
                        cell(fmt(c.delta, signed=True) if s != data.baseline else DASH),
                        cell(f"[{fmt(c.ci[0], True)}, {fmt(c.ci[1], True)}]" if test else DASH),
                        cell(test.name if test else DASH),
                        cell(str(test.n) if test else DASH),
                        cell(fmt3(test.p_value) if test else DASH),
                        cell(fmt3(c.p_holm)),
                        cell(sig, *cell_classes(c)[1:]),
                    ]
                )
        doc.add(Heading(3, f"Model: {t.label}"), Table(header, rows))


def _section_groups(doc: Document, data: ReportData) -> None:
    doc.add(Heading(2, "5. Gains by language group"))
    doc.add(
        Paragraph(
            "Mean gain over the (target, language) cells of each group; n = number of such cells. Families and scripts "
            "from xstilts.languages. Pretraining data: CC-100 size per language from the XLM-R paper (Conneau et al. "
            "2020, Table 6) for XLM-R models; unknown for other models (no per-language size recorded here).",
            "note",
        )
    )
    for g in data.group_tables:
        settings = [s for s in data.table(g.model, g.source).settings if s != data.baseline]
        doc.add(Heading(3, f"{g.label} · by {g.kind}"))
        if g.kind == GROUP_KINDS[2] and g.groups == [UNKNOWN]:
            doc.add(Paragraph(f"Pretraining data size per language is unknown for {g.model}.", "note"))
            continue
        limit = plots.symmetric_limit([v for per_group in g.gains.values() for v in per_group.values()])
        rows = [
            [
                cell(s),
                *(
                    cell(fmt(v, signed=True), background=plots.diverging_colour(v, limit))
                    for v in (g.gain(s, grp) for grp in g.groups)
                ),
            ]
            for s in settings
        ]
        members = "; ".join(f"{grp}: {', '.join(g.members[grp])}" for grp in g.groups)
        doc.add(Table(["Setting", *(f"{grp} (n={g.counts[grp]})" for grp in g.groups)], rows, f"Languages: {members}."))


def _section_retrieval(doc: Document, data: ReportData) -> None:
    doc.add(Heading(2, "6. Retrieval targets: layer used"))
    if not data.retrieval_targets:
        doc.add(Paragraph("No retrieval targets in these results.", "note"))
        return
    sources = ["Source"] if data.shows_sources else []
    rows = [
        [
            cell(d.model),
            *([cell(d.source)] if sources else []),
            cell(d.target),
            cell(s),
            cell(d.layers.get(s) or "not recorded"),
        ]
        for d in data.details
        if d.target in data.retrieval_targets
        for s in d.settings
    ]
    doc.add(
        Table(
            ["Model", *sources, "Target", "Setting", "Layer"],
            rows,
            "Hidden-state layer whose mean-pooled states were compared (from the results' layer column).",
        )
    )


def _section_scaling(doc: Document, data: ReportData) -> None:
    """Scaling beyond nine: gain against mixture size per strategy, diversity against gain, leave-one-out marginals,
    and the answer per target and model (analysis/scaling.py; the numbers are in scaling.json)."""
    from xstilts.analysis.scaling import SCALING_FILE, scaling_plot

    sc = data.scaling
    if not sc:
        return
    doc.add(Heading(2, "7. Scaling beyond nine"))
    doc.add(
        Paragraph(
            f"Gain = per seed, the unweighted mean over the target's languages of the setting's score minus "
            f"'{sc['baseline']}', then the mean over the (setting, seed) runs of a strategy at a size; 95% percentile "
            "bootstrap interval over those runs; `single` = the pool's single tasks. Diversity = spread, the mean "
            f"pairwise cosine distance of the members' task embeddings (xstilts.diversity). Numbers: {SCALING_FILE}.",
            "note",
        )
    )
    png = scaling_plot(sc)
    if png is not None:
        doc.add(Image(png, "gain against mixture size per strategy and model"))
    rows = [
        [
            cell(c["model"]),
            cell(c["target"]),
            cell(c["strategy"]),
            cell(str(c["size"])),
            cell(fmt(c["mean_gain"], signed=True)),
            cell(f"[{fmt(c['ci_low'], True)}, {fmt(c['ci_high'], True)}]"),
            cell(str(c["n_settings"])),
            cell(str(c["n_runs"])),
        ]
        for c in sc["cells"]
    ]
    doc.add(Table(["Model", "Target", "Strategy", "Size", "gain", "95% CI", "settings", "runs"], rows, "Gain by size."))
    if sc["answers"]:
        doc.add(
            Table(
                ["Model", "Target", "best strategy", "size", "gain", "best single task", "its gain", "vs best single"],
                [
                    [
                        cell(a["model"]),
                        cell(a["target"]),
                        cell(a["best_strategy"]),
                        cell(str(a["best_size"])),
                        cell(fmt(a["best_gain"], True)),
                        cell(a["best_single_task"] or DASH),
                        cell(fmt(a["best_single_gain"], True)),
                        cell(fmt(a["vs_best_single"], True)),
                    ]
                    for a in sc["answers"]
                ],
                "The answer per target and model: the best mixture strategy and size against the best single task.",
            )
        )
    if sc["correlations"]:
        doc.add(
            Table(
                ["Model", "Target", "Size", "Spearman (diversity, gain)", "n"],
                [
                    [
                        cell(c["model"]),
                        cell(c["target"]),
                        cell(str(c["size"])),
                        cell(fmt3(c["spearman"])),
                        cell(str(c["n"])),
                    ]
                    for c in sc["correlations"]
                ],
                "Across the settings of one size: rank correlation of diversity (spread) with gain (— below 3).",
            )
        )
    if sc["leave_one_out"]:
        doc.add(
            Table(
                ["Model", "Target", "Mixture", "Task left out", "marginal", "95% CI"],
                [
                    [
                        cell(m["model"]),
                        cell(m["target"]),
                        cell(m["mixture"]),
                        cell(m["task"]),
                        cell(fmt(m["marginal"], True)),
                        cell(f"[{fmt(m['ci_low'], True)}, {fmt(m['ci_high'], True)}]"),
                    ]
                    for m in sc["leave_one_out"]
                ],
                "Each task's marginal value: the full mixture's gain minus the gain without it.",
            )
        )


def _section_sources(doc: Document, data: ReportData) -> None:
    """Source languages of the target phase (Turc et al. 2021): per (model, target), the target score of each source
    language the rows hold and its gain over the English source, per setting."""
    if not data.source_comparisons:
        return
    doc.add(Heading(2, "Source languages of the target phase"))
    doc.add(
        Paragraph(
            "Target score = unweighted mean over the target's languages (English and the source language included, "
            "as in the tables above), mean over seeds, per source language the target phase trained in "
            "(machine-translated training data for sources other than English); in brackets the gain over the "
            f"English source ({ENGLISH}) for the same setting. A row of results.csv names its source_language.",
            "note",
        )
    )
    for c in data.source_comparisons:
        header = ["Setting", *(f"source {src}" for src in c.sources)]
        rows = []
        for s in c.settings:
            row = [cell(s)]
            for src in c.sources:
                mean, gain = c.mean(s, src), c.gain(s, src)
                text = fmt(mean) if src == ENGLISH or math.isnan(gain) else f"{fmt(mean)} ({fmt(gain, signed=True)})"
                row.append(cell(text))
            rows.append(row)
        doc.add(Heading(3, f"{c.model} · {c.target}"), Table(header, rows, "Target score per source language."))


def _section_alignment(doc: Document, data: ReportData) -> None:
    """Cross-lingual alignment diagnostics (analysis/alignment.py; the numbers are in alignment.json)."""
    from xstilts.analysis.alignment import ALIGNMENT_FILE, alignment_plot

    table = data.alignment
    if not table:
        return
    doc.add(Heading(2, "Cross-lingual alignment: word distances"))
    doc.add(
        Paragraph(
            "On held-out translation pairs (never trained on): related = mean Euclidean distance between the last-layer "
            "vectors of linked words across the pair; unrelated = a word and an English word of another pair (the "
            "alignment should lower the first and not the second with it); English drift = how far English word "
            "vectors moved from the pretrained model's, relative to their norm. Stages: before the alignment phase, "
            f"after it, and after each target phase (what fine-tuning forgot). Mean over seeds. Numbers: {ALIGNMENT_FILE}.",
            "note",
        )
    )
    png = alignment_plot(table)
    if png is not None:
        doc.add(Image(png, "related and unrelated word distance per stage"))
    rows = [
        [
            cell(r["model"]),
            cell(r["setting"]),
            cell(r["language"]),
            cell(r["stage"] + (f" ({r['target']})" if r["target"] else "")),
            cell(fmt3(r["related_l2"])),
            cell(fmt3(r["unrelated_l2"])),
            cell(fmt3(r["unrelated_l2"] / r["related_l2"]) if r["related_l2"] else "—"),
            cell(fmt3(r["related_cos"])),
            cell(fmt3(r["unrelated_cos"])),
            cell(fmt3(r["english_drift"])),
        ]
        for r in table
    ]
    header = [
        "Model",
        "Setting",
        "Lang",
        "Stage",
        "related L2",
        "unrelated L2",
        "ratio",
        "related cos",
        "unrelated cos",
        "English drift",
    ]
    doc.add(Table(header, rows, "Word distances per stage."))


def build_document(data: ReportData) -> Document:
    """All sections of the report as one document (rendered to HTML and Markdown)."""
    doc = Document(TITLE)
    if data.demo_targets:
        doc.add(
            Paragraph(
                f"Offline demo numbers ({', '.join(data.demo_targets)}): smoke-scale runs on tiny bundled data. "
                "They check that the pipeline works; they are NOT XTREME results.",
                "banner",
            )
        )
    doc.add(
        Paragraph(
            f"{data.split_note} Baseline: '{data.baseline}'. Models: {', '.join(data.models)}. "
            f"Sources: {', '.join(data.sources)}. Scores are x100."
        )
    )
    from xstilts.analysis.selection_report import section_selection  # only when runs store rankings

    for section in (
        _section_paper_tables,
        _section_languages,
        _section_comparison,
        _section_uncertainty,
        _section_groups,
        _section_retrieval,
        _section_scaling,
        _section_sources,
        _section_alignment,
        section_selection,
    ):
        section(doc, data)
    if data.warnings:
        doc.add(Heading(2, "Warnings"), *(Paragraph(w, "note") for w in data.warnings))
    return doc


def load_grid(run_dirs: list[Path]) -> dict[str, list[str]] | None:
    """The targets each model's grid asked for, from the runs' grid.json (None when no run has one)."""
    import json

    grid: dict[str, list[str]] = {}
    found = False
    for d in run_dirs:
        path = Path(d) / GRID_FILE
        if path.is_file():
            found = True
            for model, targets in json.loads(path.read_text(encoding="utf-8"))["targets"].items():
                grid[model] = list(dict.fromkeys([*grid.get(model, []), *targets]))
    return grid if found else None


def load_grid_sources(run_dirs: list[Path]) -> dict[str, list[str]] | None:
    """The source languages each target's grid asked for, from the runs' grid.json (None when no run records them)."""
    import json

    out: dict[str, list[str]] = {}
    found = False
    for d in run_dirs:
        path = Path(d) / GRID_FILE
        if path.is_file() and "source_languages" in (grid := json.loads(path.read_text(encoding="utf-8"))):
            found = True
            for target, langs in grid["source_languages"].items():
                out[target] = list(dict.fromkeys([*out.get(target, []), *langs]))
    return out if found else None


def build_report(run_dirs: list[Path], out_dir: Path, baseline: str = "none", split: str | None = None) -> ReportData:
    """Read `results.csv` from each run directory, write out_dir/report.html and out_dir/report.md, return the numbers.

    Same results -> byte-identical files (no timestamps, PNGs without version metadata).
    """
    from xstilts.analysis.scaling import write_scaling

    rows = load_runs([Path(d) for d in run_dirs])
    chosen, note = choose_split(rows, split)
    grid, sources = load_grid(run_dirs), load_grid_sources(run_dirs)
    data = summarize(rows, chosen, note, baseline, [str(d) for d in run_dirs], grid=grid, grid_sources=sources)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scaling = write_scaling([Path(d) for d in run_dirs], rows, chosen, out_dir)  # scaling.json: mixtures only
    from xstilts.analysis.alignment import write_alignment

    alignment = write_alignment([Path(d) for d in run_dirs], out_dir)  # alignment.json: aligned settings only
    data = dataclasses.replace(data, scaling=scaling, alignment=alignment)
    doc = build_document(data)
    (out_dir / "report.html").write_text(to_html(doc), encoding="utf-8")
    (out_dir / "report.md").write_text(to_markdown(doc), encoding="utf-8")
    return data


@dataclass(frozen=True)
class HeadlineTable:
    """The paper tables of all models stacked, as plain strings for a terminal table."""

    columns: list[str]
    rows: list[list[str]]
    best: list[list[bool]]
    title: str


def headline_table(data: ReportData) -> HeadlineTable:
    targets = list(dict.fromkeys(t for table in data.tables for t in table.targets))
    sources = ["Source"] if data.shows_sources else []  # a column when the rows hold another source than English
    rows, best = [], []
    for table in data.tables:
        for s in table.settings:
            cells = [table.cell(s, col) for col in [*targets, AVERAGE]]
            keys = [table.model, *([table.source] if sources else []), s]
            rows.append([*keys, *(DASH if c is None else cell_text(c, s == data.baseline) for c in cells)])
            best.append([False] * len(keys) + [c is not None and c.best for c in cells])
    labels = sorted({t.average_label for t in data.tables})
    return HeadlineTable(
        ["Model", *sources, "Setting", *targets, " / ".join(labels) or "Average"],
        rows,
        best,
        f"{data.split_note} Baseline '{data.baseline}'; {SIGNIFICANT_MARK} = significant (Holm).",
    )


def run_report_cli(dirs: list[str], out: str | None, baseline: str) -> Path:
    """CLI body of `xstilts report DIR` / `xstilts compare DIR1 DIR2 ...`: write the report, print the headline table.

    Output folder: `out`, else the run directory itself for one run, else ./xstilts-compare for several.
    Returns the path of report.html.
    """
    from rich.console import Console
    from rich.table import Table as RichTable
    from rich.text import Text

    out_dir = Path(out) if out else (Path(dirs[0]) if len(dirs) == 1 else Path("xstilts-compare"))
    data = build_report([Path(d) for d in dirs], out_dir, baseline=baseline)
    headline = headline_table(data)
    table = RichTable(title=headline.title)
    keys = 3 if data.shows_sources else 2  # model, [source,] setting
    for i, name in enumerate(headline.columns):
        table.add_column(name, justify="left" if i < keys else "right")
    for row, marks in zip(headline.rows, headline.best, strict=False):
        table.add_row(
            *(Text(v, style="bold" if m else "") for v, m in zip(row, marks, strict=False))
        )  # Text: no markup parsing
    console = Console()
    if data.demo_targets:
        console.print("[yellow]Offline demo numbers: smoke-scale, not XTREME results.[/yellow]")
    console.print(table)
    html_path = out_dir / "report.html"
    console.print(f"Report: {html_path} (and report.md)")
    return html_path
