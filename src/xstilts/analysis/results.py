"""Loading the results of several runs (the schema and reader are xstilts.results) and choosing which split to report."""

from __future__ import annotations

from pathlib import Path

from xstilts.errors import UserError
from xstilts.results import (  # noqa: F401 - the results table's names, re-exported for analysis
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
