"""Loading the results of several runs (the schema and reader are xstilts.results) and choosing which split to report."""

from __future__ import annotations

from pathlib import Path

from xstilts.errors import UserError
from xstilts.results import RESULTS_FILE, ResultRow, read_results

__all__ = ["GRID_FILE", "HEADLINE_METRIC", "RESULTS_FILE", "ResultRow", "choose_split", "load_runs", "read_results"]

GRID_FILE = "grid.json"  # what a run's grid asked for (targets per model, languages per target), beside results.csv
HEADLINE_METRIC = "score"
# Splits in order of preference: the held-out test split when every run has it, else the dev split.
SPLIT_PREFERENCE = ("test", "dev")


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
