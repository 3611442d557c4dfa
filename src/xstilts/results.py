"""The results table `results.csv`: one row per measured value, the only interface between running and reporting.

One schema (`COLUMNS`), one typed row (`ResultRow`), one reader (`read_results`) for the experiments that write the
table and the analysis that reads it. This module imports nothing that runs (no torch, no training), so a report can
be rebuilt from results.csv alone.

Writing: a run appends each finished node's rows as it finishes (no rewrite per node), and `sync_results` makes the file
equal to the finished nodes' own records, in plan order, at the start and the end of a run (one rewrite per run at
most), so an interrupted and resumed run ends with the same bytes as an uninterrupted one.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xstilts.atomic import atomic_write_text
from xstilts.errors import UserError

RESULTS_FILE = "results.csv"
EVAL_RECORD = "done.json"  # an evaluation node's completion record (its rows, the job it ran, its seconds)
GRID_FILE = "grid.json"  # what a run's grid asked for (targets per model, languages per target), beside results.csv
HEADLINE_METRIC = "score"
# Splits in order of preference: the held-out test split when every run has it, else the dev split.
SPLIT_PREFERENCE = ("test", "dev")
REQUIRED_COLUMNS = ("model", "intermediate", "target", "language", "split", "seed", "metric", "value", "node")
# layer: the retrieval layer; group: the XTREME task group; options: the evaluation protocol where it matters (retrieval
# direction, pooling, gold_only); trust_remote_code: "true" when the model ran its own code; source_language: the
# language the target phase trained in (a spec's source_languages; "en" for English, and for files written before it).
OPTIONAL_COLUMNS = ("layer", "group", "options", "trust_remote_code", "source_language")
DEFAULT_SOURCE_LANGUAGE = "en"
COLUMNS = [*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS]
HEADER = ",".join(COLUMNS) + "\n"


@dataclass(frozen=True)
class ResultRow:
    """One measured value: a metric of one (model, intermediate setting, target, language, split, seed)."""

    model: str
    intermediate: str
    target: str
    language: str
    split: str
    seed: str
    metric: str
    value: float
    node: str
    layer: str = ""
    group: str = ""
    options: str = ""  # the evaluation protocol where it matters, e.g. "gold_only" BUCC mining
    trust_remote_code: str = ""
    source_language: str = DEFAULT_SOURCE_LANGUAGE  # the language the target phase trained in

    @property
    def key(self) -> tuple[str, ...]:
        """Identity of the measurement; two rows with one key must agree on the value."""
        return (
            self.model,
            self.intermediate,
            self.target,
            self.language,
            self.split,
            self.seed,
            self.metric,
            self.source_language,
        )


def format_rows(rows: Iterable[dict[str, Any]]) -> str:
    """CSV lines (no header) of result rows given as dicts (a node's records); values with 6 decimals. Records written
    before a column existed get its default (source_language: English)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    for r in rows:
        if r.get("source_language") is None:
            r = {**r, "source_language": DEFAULT_SOURCE_LANGUAGE}
        w.writerow(
            [
                ""
                if r.get(k) is None
                else (
                    f"{float(r[k]):.6f}"
                    if k == "value"
                    else ("true" if r[k] is True else "" if r[k] is False else r[k])
                )
                for k in COLUMNS
            ]
        )
    return buf.getvalue()


def read_results(path: str | Path) -> list[ResultRow]:
    """Parse one results.csv into typed rows; errors name the file and the line."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no {RESULTS_FILE} here; expected the results table written by a run", path=str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise UserError(
            f"not UTF-8 text ({e.reason} at byte {e.start}); expected a CSV results table", path=str(path)
        ) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise UserError(f"missing column(s) {missing}; expected {list(REQUIRED_COLUMNS)}", path=str(path), line=1)
    rows = []
    for row in reader:
        lineno = reader.line_num
        if None in row or any(v is None for v in row.values()):
            raise UserError(f"expected {len(header)} fields (a truncated or edited row)", path=str(path), line=lineno)
        blank = [c for c in REQUIRED_COLUMNS if c != "node" and not (row.get(c) or "").strip()]
        if blank:
            raise UserError(f"empty value(s) for {blank}", path=str(path), line=lineno)
        if row["language"].strip().lower() == "avg":
            # Averages are the report's job (unweighted over the target's languages); a stored one would count twice.
            raise UserError(
                "language 'avg' in the results table; write per-language rows only", path=str(path), line=lineno
            )
        try:
            value = float(row["value"])
        except ValueError:
            raise UserError(f"value {row['value']!r} is not a number", path=str(path), line=lineno) from None
        if not math.isfinite(value):
            raise UserError(f"value {row['value']!r} is not finite", path=str(path), line=lineno)
        rows.append(
            ResultRow(
                **{c: row[c].strip() for c in REQUIRED_COLUMNS if c != "value"},
                value=value,
                **{c: (row.get(c) or "").strip() for c in OPTIONAL_COLUMNS if c != "source_language"},
                source_language=(row.get("source_language") or "").strip() or DEFAULT_SOURCE_LANGUAGE,
            )
        )
    return rows


def append_results(path: str | Path, rows: list[dict[str, Any]]) -> None:
    """Append one node's rows (one write call, so a kill leaves whole lines or, rarely, one torn last line that
    `sync_results` repairs). Writes the header first when the file is new."""
    p = Path(path)
    text = format_rows(rows)
    if not text:
        return
    if not p.is_file() or p.stat().st_size == 0:
        text = HEADER + text
    with p.open("a", encoding="utf-8", newline="") as f:
        f.write(text)


def sync_results(path: str | Path, node_rows: Iterable[tuple[str, list[dict[str, Any]]]]) -> str | None:
    """Make results.csv equal to the finished evaluation nodes' records (given in plan order as (node key, rows)).

    Returns a one-line note when the file was repaired: rows missing after an interruption, or a file that disagrees
    with the records (truncated, edited); None when it already matched. Rows of nodes that are no longer in the plan
    (a changed spec) are dropped without a note."""
    p = Path(path)
    node_rows = list(node_rows)
    expected = HEADER + "".join(format_rows(rows) for _, rows in node_rows)
    try:
        actual = p.read_text(encoding="utf-8") if p.is_file() else None
    except (UnicodeDecodeError, OSError):
        actual = "\0"  # unreadable: rebuilt below
    if actual == expected:
        return None
    note = None
    if actual is not None:
        want = set(expected.splitlines()[1:])
        keys = {k for k, _ in node_rows}
        lines = actual.splitlines()
        kept = [ln for ln in lines[1:] if _node_of(ln) in keys or ln in want]  # rows of stale nodes: dropped quietly
        torn = bool(actual) and not actual.endswith("\n")
        if lines and lines[0] != HEADER.strip() and set(lines[0].split(",")) <= set(COLUMNS) and not torn:
            pass  # the header of an older xstilts (fewer optional columns): rewritten in the current schema
        elif not lines or lines[0] + "\n" != HEADER or torn or not set(kept) <= want:
            note = (
                f"{p}: results.csv does not match the records of the {len(node_rows)} finished evaluation node(s) "
                "(truncated or edited); rebuilt from their done.json"
            )
        elif len(set(kept)) < len(want):
            missing = {k for k, rows in node_rows if not set(format_rows(rows).splitlines()) <= set(kept)}
            note = f"{p}: rows of {len(missing)} finished node(s) were missing (a run was interrupted); added"
    atomic_write_text(p, expected, durable=True)  # fsync: after a power loss, the old results.csv or the new one
    return note


def _node_of(line: str) -> str | None:
    try:
        fields = next(csv.reader([line]))
    except (csv.Error, StopIteration):
        return None
    return fields[COLUMNS.index("node")] if len(fields) == len(COLUMNS) else None


def choose_split(rows: list[ResultRow], requested: str | None) -> tuple[str, str]:
    """The split to report and a sentence saying why.

    `test` when every (model, setting, target) has headline scores on it, else `dev`, else the split covering most.
    """
    headline = [r for r in rows if r.metric == HEADLINE_METRIC]
    if not headline:
        raise UserError(f"no rows with metric == '{HEADLINE_METRIC}'; the report's headline numbers come from them")
    runs = {(r.model, r.intermediate, r.target) for r in headline}
    covered: dict[str, set[tuple[str, str, str]]] = {}
    for r in headline:
        covered.setdefault(r.split, set()).add((r.model, r.intermediate, r.target))
    if requested is not None:
        if requested not in covered:
            raise UserError(f"no '{HEADLINE_METRIC}' rows on split '{requested}'; splits present: {sorted(covered)}")
        return requested, f"Split: {requested} (requested)."
    for split in SPLIT_PREFERENCE:
        if covered.get(split) == runs:
            why = "every run has test scores" if split == "test" else "not every run has test scores"
            return split, f"Split: {split} ({why})."
    best = max(sorted(covered), key=lambda s: len(covered[s]))
    return best, (
        f"Split: {best}; no split covers every run ({len(covered[best])} of {len(runs)} model/setting/target "
        "combinations have it), so some cells are missing."
    )
