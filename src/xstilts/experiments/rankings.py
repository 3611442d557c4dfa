"""Selection rankings a spec needs (its `selection:` block, a mixtures block's `selected` / `similar` strategies), read
from the ranking files the spec names or computed once and cached: the cheap path in one command.

A ranking is computed with `selection.methods.Selector` on the grid's own model, prepared exactly as the run prepares it
(pruned vocabulary, truncated layers), with the selection budget (`SELECT_DEFAULTS` and the spec's intermediate length,
learning rate, batch size and frozen embeddings). It is cached in $XSTILTS_HOME/rankings/<key>.json, the key a hash of the
model's identity, the target's and every candidate's definition and data fingerprint, the method and the budget, and the
numerics epoch; the file has the layout `xstilts select --out` writes, so `xstilts select-eval` reads it too.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from xstilts import NUMERICS
from xstilts.data.fingerprint import source_fingerprint
from xstilts.errors import UserError
from xstilts.experiments.spec import ExperimentSpec
from xstilts.jobs import task_definition, training_source
from xstilts.paths import default_home
from xstilts.tasks import get_task

# What the brief fine-tunes take from the spec's intermediate block (as `xstilts select --spec` does).
SPEC_BUDGET_KEYS = ("max_seq_length", "learning_rate", "freeze_embeddings", "batch_size")


def _budget(spec: ExperimentSpec) -> dict[str, Any]:
    from xstilts.selection.methods import SELECT_DEFAULTS

    block = spec.hyperparameters.get("intermediate", {})
    return {**SELECT_DEFAULTS, **{k: block[k] for k in SPEC_BUDGET_KEYS if k in block}}


def _data(name: str) -> list[Any]:
    task = get_task(name)
    src = task if task.ops.is_retrieval else training_source(task)
    split = "dev" if task.ops.is_retrieval else "train"
    return [task_definition(task), source_fingerprint(src, split, src.train_language, None)]


def ranking_key(spec: ExperimentSpec, model: str, target: str, method: str, candidates: list[str]) -> str:
    """The cache key of one ranking (see the module docstring)."""
    from xstilts.experiments.plan import model_job

    m = next(x for x in spec.models if x.name == model)
    job = model_job(m, spec)
    ident = [
        {k: job[k] for k in ("path", "prune_vocabulary", "layers", "folder")},
        _data(target),
        [_data(c) for c in candidates],
        method,
        _budget(spec),
        NUMERICS,
    ]
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:24]


_BENCHES: dict[str, Any] = {}


def cache_dir() -> Path:
    return default_home() / "rankings"


def cached_ranking(spec: ExperimentSpec, model: str, target: str, method: str, candidates: list[str]) -> Path:
    """Where the ranking of (model, target, method, candidates) is cached (it may not exist yet)."""
    return cache_dir() / f"{ranking_key(spec, model, target, method, candidates)}.json"


def compute_ranking(
    spec: ExperimentSpec, model: str, target: str, method: str, candidates: list[str], progress: bool = True
) -> dict[str, Any]:
    """One ranking (the dict load_rankings gives), from the cache or computed now and cached."""
    from xstilts.rankings import load_rankings

    path = cached_ranking(spec, model, target, method, candidates)
    if not path.is_file():
        from xstilts.atomic import atomic_write_json
        from xstilts.experiments.run import resolve_model
        from xstilts.modeling.embedded import resolve_model_path

        t0 = time.time()
        m = next(x for x in spec.models if x.name == model)
        if progress:
            print(
                f"selection: {method} ranking of {len(candidates)} candidates for {target} on {model} (cached after)",
                file=sys.stderr,
            )
        folder = resolve_model_path(resolve_model(m, spec, default_home() / "selection-models"))
        budget = _budget(spec)

        if method == "textemb":  # TextEmb as `xstilts select` defines it, reading the spec's data directories
            ranking = _textemb(spec, folder, model, target, candidates, budget)
        else:
            ranking = _with_selector(folder, model, target, method, candidates, budget)
        payload = {
            "target": target,
            "model": model,
            "model_path": folder,
            "model_aliases": [m.path],
            "candidates": list(candidates),
            "budget": budget,
            "seconds": round(time.time() - t0, 3),
            "rankings": [ranking],
        }
        atomic_write_json(path, payload)
    (ranking,) = load_rankings([path])
    return ranking


def _with_selector(
    folder: str, model: str, target: str, method: str, candidates: list[str], budget: dict[str, Any]
) -> dict[str, Any]:
    """A ranking by `xstilts select`'s Selector (the hub or bundled data of each task; not the spec's data_dirs)."""
    from xstilts.defaults import phase_defaults
    from xstilts.selection.methods import Selector
    from xstilts.selection.probe import Workbench

    bench = _BENCHES.get(folder)  # one model load per model and process, whatever the number of targets
    if bench is None:
        bench = _BENCHES[folder] = Workbench.load(folder, {**phase_defaults("intermediate"), **budget})
    bench.reset()
    sel = Selector(bench, target, list(candidates), model, None, budget)
    sel.prefetch([method])
    return sel.run(method).to_json()


def _textemb(
    spec: ExperimentSpec, folder: str, model: str, target: str, candidates: list[str], budget: dict[str, Any]
) -> dict[str, Any]:
    """TextEmb (selection/methods.py): the cosine of each candidate's mean sentence vector with the target's, on the
    grid's model, over `text_examples` inputs each; inputs read as the run reads them (the spec's data_dirs)."""
    from xstilts.selection.samples import cosine
    from xstilts.selection.task_embeddings import task_embeddings

    t0 = time.time()
    n, seed = int(budget["text_examples"]), int(budget["seed"]) + 4
    specs = [get_task(t) for t in dict.fromkeys([target, *candidates])]
    vectors = task_embeddings(specs, folder, n, seed, spec.data_dirs, False, int(budget["max_seq_length"]))
    scores = {c: cosine(vectors[c], vectors[target]) for c in candidates}
    order = sorted(candidates, key=lambda c: (-scores[c], c))
    return {
        "method": "textemb",
        "target": target,
        "model": model,
        "candidates": [{"name": c, "score": scores[c]} for c in order],
        "cost": {"seconds": round(time.time() - t0, 3), "examples": n * len(specs)},
        "note": "computed by the planner (experiments/rankings.py)",
    }


def ranking_order(spec: ExperimentSpec, model: str, target: str, method: str, candidates: list[str]) -> list[str]:
    """The candidates best first by `method` for (model, target): from the spec's ranking files when they hold one for
    exactly these candidates, else computed (cached)."""
    ranking = _from_spec_files(spec, model, target, method, candidates) or compute_ranking(
        spec, model, target, method, candidates
    )
    order = [c["name"] for c in ranking["candidates"] if c["name"] in candidates]
    if not order:
        raise UserError(f"selection: the {method} ranking for {target} on {model} ranks none of the candidates")
    return order + [c for c in candidates if c not in order]


def _from_spec_files(
    spec: ExperimentSpec, model: str, target: str, method: str, candidates: list[str]
) -> dict[str, Any] | None:
    from xstilts.rankings import load_rankings, match_model
    from xstilts.selection.prune import ranking_paths

    if spec.selection is None:
        return None
    base = Path(spec.selection._base) if spec.selection._base else None
    try:
        paths = ranking_paths(spec.selection, base)
    except UserError:
        return None  # no files: computed instead
    found = [
        r
        for r in load_rankings(paths)
        if r["method"] == method
        and r["target"] == target
        and match_model(r, {model}) == model
        and r["candidates"]
        and set(candidates) <= {c["name"] for c in r["candidates"]}
    ]
    return found[-1] if found else None
