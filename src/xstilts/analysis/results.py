"""Loading the results of several runs (the schema and reader are xstilts.results) and choosing which split to report;
the pivot `xstilts results` prints (filters, a table that fits the terminal, csv and markdown)."""

from __future__ import annotations

import csv
import io
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from xstilts.errors import UserError
from xstilts.results import (  # noqa: F401 - the results table's names, re-exported for analysis
    DEFAULT_SOURCE_LANGUAGE,
    GRID_FILE,
    HEADLINE_METRIC,
    RESULTS_FILE,
    SPLIT_PREFERENCE,
    ResultRow,
    choose_split,
    read_results,
)

__all__ = ["GRID_FILE", "HEADLINE_METRIC", "RESULTS_FILE", "ResultRow", "choose_split", "load_runs", "read_results"]


def load_runs(run_dirs: list[Path]) -> list[ResultRow]:
    """All rows of several run directories; a measurement seen twice must carry the same value."""
    seen: dict[tuple[str, ...], tuple[float, Path]] = {}
    rows: list[ResultRow] = []
    for run_dir in run_dirs:
        path = Path(run_dir) / RESULTS_FILE
        for row in read_results(path):
            if row.key in seen:
                value, first = seen[row.key]
                if value != row.value:
                    raise UserError(
                        f"{row.key} is {row.value} here but {value} in {first}; one measurement, two values",
                        path=str(path),
                    )
                continue  # the same run listed twice, or a shared baseline: count it once
            seen[row.key] = (row.value, path)
            rows.append(row)
    if not rows:
        raise UserError(f"no rows in {[str(d) for d in run_dirs]}; nothing to report")
    return rows


# ---------------------------------------------------------------------- `xstilts results`: the pivot and its layouts

KEY_COLUMNS = ("model", "intermediate", "target", "split", "seed")
# a key column after `intermediate` when a row's target phase trained in another language than English
SOURCE_COLUMN = "source_language"
MEAN_COLUMN = "avg"  # the unweighted mean over the row's languages, shown first
FORMATS = ("table", "csv", "markdown")


@dataclass(frozen=True)
class PivotRow:
    """One (model, intermediate, target, split, seed) of a metric: its value per language, and their mean."""

    model: str
    intermediate: str
    target: str
    split: str
    seed: str
    values: dict[str, float]  # language -> value, in the table's language order
    source_language: str = DEFAULT_SOURCE_LANGUAGE

    @property
    def mean(self) -> float:
        """Unweighted mean over the languages this row has."""
        return sum(self.values.values()) / len(self.values)

    def key(self, column: str) -> str:
        """The value of a key column (model, intermediate, target, split, seed, source_language)."""
        return str(getattr(self, column))


def key_columns(rows: Sequence[PivotRow]) -> tuple[str, ...]:
    """KEY_COLUMNS, with the source language after `intermediate` when a row has another one than English."""
    if all(r.source_language == DEFAULT_SOURCE_LANGUAGE for r in rows):
        return KEY_COLUMNS
    return (*KEY_COLUMNS[:2], SOURCE_COLUMN, *KEY_COLUMNS[2:])


@dataclass(frozen=True)
class Pivot:
    """One target's rows of one metric, a column per language (first-seen order in results.csv)."""

    target: str
    metric: str
    languages: list[str]
    rows: list[PivotRow]

    @property
    def key_columns(self) -> tuple[str, ...]:
        return key_columns(self.rows)


def split_values(values: Sequence[str] | None) -> list[str]:
    """Repeatable options that also take comma lists: ['a,b', 'c'] -> ['a', 'b', 'c']."""
    return [v.strip() for item in values or [] for v in item.split(",") if v.strip()]


def filter_rows(
    rows: Sequence[ResultRow],
    metric: str = HEADLINE_METRIC,
    targets: Sequence[str] = (),
    models: Sequence[str] = (),
    intermediates: Sequence[str] = (),
    where: str = RESULTS_FILE,
) -> list[ResultRow]:
    """The rows of `metric` whose target, model and intermediate setting are among the given ones (empty: any).
    A value the table does not have is a UserError naming the ones it has."""
    for axis, wanted in (("target", targets), ("model", models), ("intermediate", intermediates)):
        known = list(dict.fromkeys(getattr(r, axis) for r in rows))
        unknown = [v for v in wanted if v not in known]
        if unknown:
            raise UserError(f"no {axis} '{unknown[0]}' in the results; known: {', '.join(known)}", path=where)
    picked = [
        r
        for r in rows
        if (not targets or r.target in targets)
        and (not models or r.model in models)
        and (not intermediates or r.intermediate in intermediates)
    ]
    out = [r for r in picked if r.metric == metric]
    if not out:
        metrics = ", ".join(dict.fromkeys(r.metric for r in picked))
        raise UserError(f"no '{metric}' rows for this selection; metrics present: {metrics}", path=where)
    return out


def pivot(rows: Sequence[ResultRow]) -> list[Pivot]:
    """One Pivot per target (in results.csv order), a row per (model, intermediate, source language, split, seed) in
    first-seen order."""
    out = []
    for target in dict.fromkeys(r.target for r in rows):
        sel = [r for r in rows if r.target == target]
        languages = list(dict.fromkeys(r.language for r in sel))
        cells: dict[tuple[str, str, str, str, str], dict[str, float]] = {}
        for r in sel:
            cells.setdefault((r.model, r.intermediate, r.source_language, r.split, r.seed), {})[r.language] = r.value
        prows = [
            PivotRow(m, i, target, split, seed, {lang: vals[lang] for lang in languages if lang in vals}, src)
            for (m, i, src, split, seed), vals in cells.items()
        ]
        out.append(Pivot(target, sel[0].metric, languages, prows))
    return out


def _number(value: float) -> str:
    return f"{value:.1f}"


def _mean_cell(row: PivotRow, p: Pivot) -> str:
    """The mean, marked '*' when the row lacks some of the target's languages (a mean over fewer)."""
    return _number(row.mean) + ("*" if len(row.values) < len(p.languages) else "")


def fit_table(p: Pivot, width: int) -> tuple[list[str], list[str], dict[str, str]]:
    """The layout of one pivot at `width` columns: (key columns shown, languages shown, constant keys for the title).

    Key columns with a single value over the pivot go into the title; the mean comes first, then as many languages
    (in order) as fit; every cell is as wide as its widest entry, so no number is cut."""
    constant = {c: p.rows[0].key(c) for c in p.key_columns if len({r.key(c) for r in p.rows}) == 1}
    keys = [c for c in p.key_columns if c not in constant]
    used = sum(_width(p, c) for c in [*keys, MEAN_COLUMN]) + _GAP * len(keys)
    shown = []
    for lang in p.languages:
        w = _GAP + _width(p, lang)
        if used + w > width:
            break
        shown.append(lang)
        used += w
    return keys, shown, constant


_GAP = 2  # spaces between two columns


def _width(p: Pivot, column: str) -> int:
    if column == MEAN_COLUMN:
        cells = [_mean_cell(r, p) for r in p.rows]
    elif column in p.key_columns:
        cells = [r.key(column) for r in p.rows]
    else:
        cells = [_number(r.values[column]) for r in p.rows if column in r.values]
    return max(len(column), *(len(c) for c in cells))


def render_table(pivots: Sequence[Pivot], width: int) -> str:
    """Plain-text tables that fit `width` columns: key columns left, numbers right, the mean first; a line says how
    many languages were left out."""
    lines: list[str] = []
    for p in pivots:
        keys, shown, constant = fit_table(p, width)
        title = f"{p.target}: {p.metric}"
        rest = {k: v for k, v in constant.items() if k != "target"}
        if rest:
            title += " (" + ", ".join(f"{k} {v}" for k, v in rest.items()) + ")"
        columns = [*keys, MEAN_COLUMN, *shown]
        widths = {c: _width(p, c) for c in columns}
        lines += [
            title,
            _line({c: c for c in columns}, widths, keys),
            _line({c: "-" * widths[c] for c in columns}, widths, keys),
        ]
        for r in p.rows:
            cells = {c: r.key(c) for c in keys}
            cells[MEAN_COLUMN] = _mean_cell(r, p)
            cells.update({lang: _number(r.values[lang]) if lang in r.values else "" for lang in shown})
            lines.append(_line(cells, widths, keys))
        notes = [f"{MEAN_COLUMN}: unweighted mean over the row's languages"]
        if any(len(r.values) < len(p.languages) for r in p.rows):
            notes.append("* over fewer than the target's languages")
        left = len(p.languages) - len(shown)
        if left:
            hidden = p.languages[len(shown) :]
            named = ", ".join(hidden[:3]) + (f" and {len(hidden) - 3} more" if len(hidden) > 3 else "")
            notes.append(
                f"{left} of {len(p.languages)} languages not shown ({named}): a wider terminal, --width or "
                "--format csv shows them"
            )
        lines += [*textwrap.wrap("; ".join(notes) + ".", max(width, 40), break_on_hyphens=False), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _line(cells: dict[str, str], widths: dict[str, int], keys: list[str]) -> str:
    """One table line: key columns left-aligned, numbers right-aligned, each as wide as its widest entry."""
    return (
        (" " * _GAP)
        .join(cells[c].ljust(widths[c]) if c in keys else cells[c].rjust(widths[c]) for c in widths)
        .rstrip()
    )


def csv_columns(pivots: Sequence[Pivot]) -> list[str]:
    """The csv header: the key columns, metric, the mean, then every language of the pivots (first-seen order)."""
    langs = list(dict.fromkeys(lang for p in pivots for lang in p.languages))
    return [*key_columns([r for p in pivots for r in p.rows]), "metric", MEAN_COLUMN, *langs]


def render_csv(pivots: Sequence[Pivot]) -> str:
    """Every row and every language as CSV, values exactly as stored (`repr` of the float, so they read back equal);
    an empty cell where a row has no value for a language."""
    buf = io.StringIO()
    columns = csv_columns(pivots)
    keys = key_columns([r for p in pivots for r in p.rows])
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for p in pivots:
        for r in p.rows:
            w.writerow(
                [
                    *(r.key(c) for c in keys),
                    p.metric,
                    repr(r.mean),
                    *(repr(r.values[c]) if c in r.values else "" for c in columns[len(keys) + 2 :]),
                ]
            )
    return buf.getvalue()


def read_csv_rows(text: str) -> list[ResultRow]:
    """The result rows a `--format csv` output holds (one per non-empty language cell): the round trip of render_csv."""
    reader = csv.DictReader(io.StringIO(text))
    langs = [c for c in reader.fieldnames or [] if c not in (*KEY_COLUMNS, SOURCE_COLUMN, "metric", MEAN_COLUMN)]
    return [
        ResultRow(
            model=row["model"],
            intermediate=row["intermediate"],
            target=row["target"],
            language=lang,
            split=row["split"],
            seed=row["seed"],
            metric=row["metric"],
            value=float(row[lang]),
            node="",
            source_language=row.get(SOURCE_COLUMN) or DEFAULT_SOURCE_LANGUAGE,
        )
        for row in reader
        for lang in langs
        if row[lang] != ""
    ]


def render_markdown(pivots: Sequence[Pivot]) -> str:
    """One GitHub-style table per target, every language (for documents; numbers to one decimal)."""
    out = []
    for p in pivots:
        keys = [c for c in p.key_columns if c != "target"]
        columns = [*keys, MEAN_COLUMN, *p.languages]
        out += [f"**{p.target}: {p.metric}**", "", "| " + " | ".join(columns) + " |"]
        out.append("|" + "|".join("---" if c in keys else "---:" for c in columns) + "|")
        for r in p.rows:
            cells = [r.key(c) for c in keys]
            cells.append(_mean_cell(r, p))
            cells += [_number(r.values[lang]) if lang in r.values else "" for lang in p.languages]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def render(pivots: Sequence[Pivot], fmt: str, width: int = 80) -> str:
    """The pivots in one of FORMATS (`table` fits `width` columns)."""
    if fmt == "table":
        return render_table(pivots, width)
    if fmt == "csv":
        return render_csv(pivots)
    if fmt == "markdown":
        return render_markdown(pivots)
    raise UserError(f"--format must be one of {', '.join(FORMATS)}, got '{fmt}'")
