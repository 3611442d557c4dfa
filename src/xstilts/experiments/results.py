"""The results table: one row per measured value. The only interface between running and reporting."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any, Iterable

COLUMNS = ["model", "intermediate", "target", "language", "split", "seed", "metric", "value", "node", "layer", "group",
           "options"]  # options: the evaluation protocol where it matters (retrieval direction, pooling, gold_only)


def read_results(path: str | Path) -> list[dict[str, str]]:
    p = Path(path)
    if not p.is_file():
        return []
    with p.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def append_results(path: str | Path, rows: Iterable[dict[str, Any]], keep_nodes: set[str] | None = None) -> int:
    """Add rows of nodes not yet in the table. The file is rewritten through a temporary file and renamed, so a crash
    leaves either the old or the new table, never a torn row. `node` identifies a node's content (id@hash): rows of
    nodes outside `keep_nodes` (a spec changed since they ran) are dropped. Returns the number of rows added."""
    p = Path(path)
    existing = read_results(p)
    if keep_nodes is not None:
        existing = [r for r in existing if r["node"] in keep_nodes]
    have = {r["node"] for r in existing}
    new = [r for r in rows if r["node"] not in have]
    if not new and p.is_file() and keep_nodes is None:
        return 0
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in existing:
        w.writerow(r)
    for r in new:
        w.writerow({k: ("" if r.get(k) is None else (f"{r[k]:.6f}" if k == "value" else r[k])) for k in COLUMNS})
    tmp = p.with_name(f".{p.name}.tmp-{os.getpid()}")
    tmp.write_text(buf.getvalue(), encoding="utf-8")
    os.replace(tmp, p)
    return len(new)
