"""Reading `results.csv` (one row per measured value) into typed rows, and choosing which split to report."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from xstilts.errors import UserError

RESULTS_FILE = "results.csv"
GRID_FILE = "grid.json"  # what a run's grid asked for (targets per model, languages per target), beside results.csv
REQUIRED_COLUMNS = ("model", "intermediate", "target", "language", "split", "seed", "metric", "value", "node")
OPTIONAL_COLUMNS = ("layer", "group", "options")
HEADLINE_METRIC = "score"
# Splits in order of preference: the held-out test split when every run has it, else the dev split.
SPLIT_PREFERENCE = ("test", "dev")


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

    @property
    def key(self) -> tuple[str, ...]:
        """Identity of the measurement; two rows with one key must agree on the value."""
        return (self.model, self.intermediate, self.target, self.language, self.split, self.seed, self.metric)


def read_results(path: Path) -> list[ResultRow]:
    """Parse one results.csv; errors name the file and the line."""
    if not path.is_file():
        raise UserError(f"no {RESULTS_FILE} here; expected the results table written by a run", path=str(path))
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise UserError(f"missing column(s) {missing}; expected {list(REQUIRED_COLUMNS)}", path=str(path), line=1)
        rows = []
        for row in reader:
            lineno = reader.line_num
            blank = [c for c in REQUIRED_COLUMNS if c != "node" and not (row.get(c) or "").strip()]
            if blank:
                raise UserError(f"empty value(s) for {blank}", path=str(path), line=lineno)
            if row["language"].strip().lower() == "avg":
                # Averages are the report's job (unweighted over the target's languages); a stored one would count twice.
                raise UserError("language 'avg' in the results table; write per-language rows only", path=str(path),
                                line=lineno)
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
                    **{c: (row.get(c) or "").strip() for c in OPTIONAL_COLUMNS},
                )
            )
    return rows


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
