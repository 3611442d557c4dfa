"""The ranking files `xstilts select --out` writes: reading them, and matching a ranking to a grid's model name.

Beside `results` on the bottom floor: the planner's selection (`selection/prune`) and the analysis that scores
rankings against results.csv (`analysis/selection_eval`) both read these files, and neither imports the other.

A file holds `{"model", "model_aliases", "rankings": [{"method", "target", "model", "candidates": [{"name", "score"}],
"cost", "note", "expected_random"}]}`; a file holding one ranking object is read as well.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from xstilts.errors import UserError


def load_rankings(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """Rankings from files written by `xstilts select` (one file may hold several methods); each gets `file` (where it
    was read), `model_aliases` (the file's, unless it has its own) and `expected_random`."""
    out = []
    for p in paths:
        if not Path(p).is_file():
            raise UserError("ranking file not found", path=str(p))
        try:
            data = json.loads(Path(p).read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise UserError(f"not JSON: {e.msg}", path=str(p), line=e.lineno) from None
        items = data["rankings"] if isinstance(data, dict) and "rankings" in data else [data]
        for r in items:
            if not isinstance(r, dict) or not {"method", "target", "candidates"} <= set(r):
                raise UserError(
                    "expected rankings with method, target, candidates (written by xstilts select)", path=str(p)
                )
            r = dict(r)
            r.setdefault("model_aliases", data.get("model_aliases", []) if isinstance(data, dict) else [])
            r.setdefault("expected_random", r["method"] == "random")  # files written before the field existed
            r["file"] = str(p)
            out.append(r)
    return out


def match_model(ranking: dict[str, Any], models: set[str]) -> str | None:
    """The grid's model name a ranking stands for: its `model`, or one of its aliases (the spec name of a model
    path)."""
    for name in [ranking.get("model"), *ranking.get("model_aliases", [])]:
        if name in models:
            return name
    return None
