"""Mixture sweeps: the intermediate settings a spec's `mixtures:` block generates, by size and strategy.

Strategies (pool = the block's `pool`, default every single-task setting of the spec; sizes may say `all`):
- `random`: `draws` seeded draws of `size` pool tasks per size (numpy's default_rng([seed, size, draw]));
- `diverse`: greedy spread: start from the task farthest on average from the others, then add, one at a time, a task
  of a family the mixture does not cover yet while there is one (family coverage first), among those the one whose
  nearest member is farthest (greedy farthest point over task embeddings, cosine distance); ties by pool order;
- `similar` (target-specific): the `size` pool tasks closest to the target (`similar_method`: textemb = cosine of the
  task embeddings; another selection method: the top of its ranking for (model, target), model-specific too);
- `selected` (target- and model-specific): the top `size` of `selected_method`'s ranking for (model, target);
- `leave_one_out`: each named mixture (a preset such as paper_nine, or a multi-task setting of the spec) with each
  member removed in turn, and the whole mixture itself (each task's marginal value is full minus without it).

Every generated setting records `mixture`: its members, the origins that asked for it (strategy, size, draw, target,
model), its diversity (`xstilts.diversity`). Its node hashes depend on its members and options, never its name; a set
asked for twice (two draws, diverse = a random draw, similar for two targets) is one setting with several origins, so it
trains once, and a set equal to a setting the spec already has (a single task, a named mixture) adds an origin to that
setting instead. Target-specific settings are planned only for their targets (`only_targets`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from xstilts.defaults import INTERMEDIATE_PRESETS
from xstilts.diversity import cosine_distances, diversity
from xstilts.errors import UserError
from xstilts.experiments.spec import ExperimentSpec, IntermediateSetting, MixtureSweep
from xstilts.tasks import get_task

# (model name, target, method, candidate task names) -> candidate task names, best first
RankingSource = Callable[[str, str, str, list[str]], list[str]]


def pool_of(spec: ExperimentSpec) -> list[tuple[str, str]]:
    """(setting name, task) of the sweep's pool, in the spec's order."""
    sweep = spec.mixtures
    assert sweep is not None
    singles = {s.name: s.tasks[0] for s in spec.intermediate if len(s.tasks) == 1 and s.mixture is None}
    names = sweep.pool if sweep.pool is not None else list(singles)
    return [(n, singles[n]) for n in names]


def _named_mixture(spec: ExperimentSpec, name: str) -> list[str]:
    for s in spec.intermediate:
        if s.name == name and len(s.tasks) > 1:
            return list(s.tasks)
    if name in INTERMEDIATE_PRESETS:
        return list(INTERMEDIATE_PRESETS[name])
    multi = [s.name for s in spec.intermediate if len(s.tasks) > 1]
    raise UserError(
        f"mixtures.leave_one_out: unknown mixture '{name}'; known: {', '.join([*INTERMEDIATE_PRESETS, *multi])}"
    )


def sizes_of(sweep: MixtureSweep, pool_size: int) -> list[int]:
    return sorted({pool_size if s == "all" else int(s) for s in sweep.sizes})


def check_sweep(spec: ExperimentSpec) -> None:
    """The block's errors, each one line (exit 2): unknown pool setting, a size above the pool, an unknown
    leave-one-out mixture or one with a task outside the spec's tasks."""
    sweep = spec.mixtures
    assert sweep is not None
    singles = {s.name for s in spec.intermediate if len(s.tasks) == 1 and s.mixture is None}
    for name in sweep.pool or []:
        if name not in singles:
            raise UserError(
                f"mixtures.pool: '{name}' is not a single-task setting; known: {', '.join(sorted(singles))}"
            )
    pool = pool_of(spec)
    if len(pool) < 1:
        raise UserError("mixtures: the pool is empty (no single-task settings)")
    for size in sweep.sizes:
        if size != "all" and int(size) > len(pool):
            raise UserError(f"mixtures.sizes: {size} is more than the {len(pool)} tasks of the pool")
    for name in sweep.leave_one_out:
        for task in _named_mixture(spec, name):
            get_task(task)
    if "leave_one_out" in sweep.strategies and not sweep.leave_one_out:
        raise UserError("mixtures: strategy leave_one_out needs `leave_one_out: [<mixture>, ...]`")
    if any(s in sweep.strategies for s in ("similar", "selected")) and not spec.targets:
        raise UserError("mixtures: similar and selected need targets")


def _random_draw(n_pool: int, size: int, seed: int, draw: int) -> list[int]:
    rng = np.random.default_rng([seed, size, draw])
    return sorted(int(i) for i in rng.choice(n_pool, size=size, replace=False))


def diverse_order(names: list[str], families: dict[str, str], vectors: dict[str, np.ndarray]) -> list[str]:
    """The pool in the order the `diverse` strategy adds tasks (its size-k mixture is the first k)."""
    if len(names) <= 1:
        return list(names)
    dist = cosine_distances(np.stack([vectors[n] for n in names]))
    chosen = [int(np.argmax(dist.mean(1)))]  # argmax: the first of ties, in pool order
    covered = {families[names[chosen[0]]]}
    while len(chosen) < len(names):
        rest = [i for i in range(len(names)) if i not in chosen]
        fresh = [i for i in rest if families[names[i]] not in covered]
        candidates = fresh or rest
        nearest = dist[np.ix_(candidates, chosen)].min(1)
        pick = candidates[int(np.argmax(nearest))]
        chosen.append(pick)
        covered.add(families[names[pick]])
    return [names[i] for i in chosen]


def _short(name: str) -> str:
    return name.replace("_", "-")


def expand_mixtures(
    spec: ExperimentSpec,
    embeddings: Callable[[list[str]], dict[str, np.ndarray]] | None = None,
    rankings: RankingSource | None = None,
    pending_ok: bool = False,
) -> ExperimentSpec:
    """The spec with the settings its `mixtures:` block generates (a spec without one is returned as it is).

    `embeddings(task names) -> vectors` (default: TextEmb on the block's embedding_model, cached) serves `diverse`,
    `similar` (textemb) and the diversity measures; `rankings(model, target, method, candidates)` serves `selected` and
    a non-textemb `similar` (default: `experiments.rankings`: read or computed once and cached).

    `pending_ok` (`xstilts plan`): when the embeddings or a ranking cannot be computed here (the data is not reachable
    offline), the strategies that need them are left out and `mixtures.pending` says why; a run raises instead."""
    sweep = spec.mixtures
    if sweep is None or any(s.mixture is not None for s in spec.intermediate):
        return spec
    pool = pool_of(spec)
    tasks = [t for _, t in pool]
    families = {t: get_task(t).family for t in tasks}
    loo = {name: _named_mixture(spec, name) for name in sweep.leave_one_out}
    for members in loo.values():
        families.update({t: get_task(t).family for t in members})
    # task embeddings of every member and target: diversity is measured for every generated mixture
    every = list(dict.fromkeys([*tasks, *(t for m in loo.values() for t in m)]))
    pending: list[str] = []
    vectors: dict[str, np.ndarray] = {}
    target_vectors: dict[str, np.ndarray] = {}
    try:
        got = (embeddings or _default_embeddings(spec))([*every, *spec.targets])
        vectors = {t: got[t] for t in every}
        target_vectors = {t: got[t] for t in spec.targets}
    except UserError as e:
        if not pending_ok:
            raise
        pending.append(f"task embeddings (diverse, similar, diversity spread): {e}")

    generated: dict[tuple, dict[str, Any]] = {}  # key -> {"name", "members", "origins", "targets", "models"}
    existing: dict[tuple, IntermediateSetting] = {}
    for s in spec.intermediate:
        if s.tasks and not s.data_dirs and not s.languages and not s.mlm_corpus:
            existing.setdefault(_key(s.tasks, s.sampler, s.temperature, s.hyperparameters), s)
    extra_origins: dict[str, list[dict[str, Any]]] = {}

    def ask(members: list[str], name: str, origin: dict[str, Any], target: str | None, model: str | None) -> None:
        order = [t for t in [*tasks, *sorted(set(members) - set(tasks))] if t in members]
        if len(order) == 1:  # a single task: the spec's own setting of it, with the same options
            same = next((s for s in spec.intermediate if s.tasks == order and s.mixture is None), None)
            if same is not None:
                extra_origins.setdefault(same.name, []).append(origin)
                return
        key = _key(order, sweep.sampler, sweep.temperature, sweep.hyperparameters)
        if key in existing:
            extra_origins.setdefault(existing[key].name, []).append(origin)
            return
        if len(order) == len(tasks) and set(order) == set(tasks):
            name = f"mix-all-n{len(order)}"  # the whole pool, whichever strategy asks for it first
        entry = generated.setdefault(
            key, {"name": name, "members": order, "origins": [], "targets": set(), "models": set()}
        )
        entry["origins"].append(origin)
        entry["targets"].add(target)
        entry["models"].add(model)

    sizes = sizes_of(sweep, len(pool))
    for size in sizes:
        if "random" in sweep.strategies:
            for d in range(sweep.draws):
                members = [tasks[i] for i in _random_draw(len(tasks), size, sweep.seed, d)]
                ask(members, f"mix-random-n{size}-d{d}", {"strategy": "random", "size": size, "draw": d}, None, None)
        if "diverse" in sweep.strategies and vectors:
            members = diverse_order(tasks, families, vectors)[:size]
            ask(members, f"mix-diverse-n{size}", {"strategy": "diverse", "size": size}, None, None)
    failed: dict[tuple[str, str], tuple[str, list[str]]] = {}  # (strategy, model) -> (why, targets left out)
    for target in spec.targets:
        for strategy, method in (("similar", sweep.similar_method), ("selected", sweep.selected_method)):
            if strategy not in sweep.strategies:
                continue
            if strategy == "similar" and method == "textemb":
                if not vectors:
                    continue
                tv = target_vectors[target]
                to_target = cosine_distances(np.stack([tv, *[vectors[t] for t in tasks]]))[0, 1:]
                order = [tasks[int(i)] for i in np.argsort(to_target, kind="stable")]
                for size in sizes:
                    origin = {"strategy": "similar", "size": size, "target": target, "method": method}
                    ask(order[:size], f"mix-similar-{_short(target)}-n{size}", origin, target, None)
                continue
            source = rankings or _default_rankings(spec)
            for m in spec.models:
                if (strategy, m.name) in failed:
                    failed[(strategy, m.name)][1].append(target)
                    continue
                try:
                    order = source(m.name, target, method, list(tasks))
                except UserError as e:
                    if not pending_ok:
                        raise
                    failed[(strategy, m.name)] = (f"{strategy} ({method}) on {m.name}: {e}", [target])
                    continue
                for size in sizes:
                    origin = {"strategy": strategy, "size": size, "target": target, "model": m.name, "method": method}
                    name = f"mix-{strategy}-{method}-{_short(target)}-{m.name}-n{size}"
                    ask(order[:size], name, origin, target, m.name)
    pending += [f"{why} (targets left out: {', '.join(targets)})" for why, targets in failed.values()]
    if "leave_one_out" in sweep.strategies:
        for mix, members in loo.items():
            ask(
                list(members),
                f"loo-{mix}-full",
                {"strategy": "leave_one_out", "of": mix, "without": None, "size": len(members)},
                None,
                None,
            )
            for t in members:
                rest = [x for x in members if x != t]
                origin = {"strategy": "leave_one_out", "of": mix, "without": t, "size": len(rest)}
                ask(rest, f"loo-{mix}-minus-{_short(t)}", origin, None, None)

    def info(members: list[str], origins: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "members": members,
            "size": len(members),
            "origins": origins,
            "diversity": diversity(members, families, vectors, target_vectors),
        }

    out: list[IntermediateSetting] = []
    for s in spec.intermediate:
        if s.name in extra_origins:
            s = s.model_copy(update={"mixture": info(list(s.tasks), extra_origins[s.name])})
        out.append(s)
    used = {s.name for s in spec.intermediate}
    for entry in generated.values():
        name = entry["name"]
        while name in used:  # a user setting already has the name: keep the generated one apart
            name += "-g"
        used.add(name)
        only_targets = None if None in entry["targets"] else sorted(entry["targets"])
        only_models = None if None in entry["models"] else sorted(entry["models"])
        out.append(
            IntermediateSetting(
                name=name,
                tasks=entry["members"],
                sampler=sweep.sampler,
                temperature=sweep.temperature,
                hyperparameters=dict(sweep.hyperparameters),
                only_targets=only_targets,
                only_models=only_models,
                mixture=info(entry["members"], entry["origins"]),
            )
        )
    return spec.model_copy(update={"intermediate": out, "mixtures": sweep.model_copy(update={"pending": pending})})


def _key(tasks: list[str], sampler: str, temperature: float, hyperparameters: dict[str, Any]) -> tuple:
    """What makes two settings train the same phase: members, sampling (irrelevant for one task), own layer."""
    import json

    sampling = None if len(tasks) == 1 else (sampler, float(temperature))
    return (tuple(tasks), sampling, json.dumps(hyperparameters, sort_keys=True))


def _default_embeddings(spec: ExperimentSpec) -> Callable[[list[str]], dict[str, np.ndarray]]:
    sweep = spec.mixtures
    assert sweep is not None

    def embed(names: list[str]) -> dict[str, np.ndarray]:
        from xstilts.selection.task_embeddings import task_embeddings

        specs = [get_task(n) for n in dict.fromkeys(names)]
        return task_embeddings(specs, sweep.embedding_model, sweep.embedding_examples, sweep.seed, spec.data_dirs)

    return embed


def _default_rankings(spec: ExperimentSpec) -> RankingSource:
    def source(model: str, target: str, method: str, candidates: list[str]) -> list[str]:
        from xstilts.experiments.rankings import ranking_order

        return ranking_order(spec, model, target, method, candidates)

    return source


def generated_summary(spec: ExperimentSpec) -> list[dict[str, Any]]:
    """What a mixtures block generated, for `xstilts plan` and grid.json: name, members, origins, diversity."""
    return [
        {
            "setting": s.name,
            "members": list(s.tasks),
            "only_targets": s.only_targets,
            "only_models": s.only_models,
            **{k: v for k, v in (s.mixture or {}).items() if k != "members"},
        }
        for s in spec.intermediate
        if s.mixture is not None
    ]
