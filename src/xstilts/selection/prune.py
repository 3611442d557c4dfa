"""Selection inside an experiment spec: which intermediate settings each (model, target) keeps, and why the rest go.

    selection:
      method: logme          # a method whose rankings exist (xstilts select ... --out <rankings>/<file>.json)
      top_k: 3
      rankings: selection/   # ranking files or a directory of them, relative to the spec file
      targets:               # optional per-target overrides
        demo_pos: {method: textemb, top_k: 2}

Rules: the baseline (no intermediate task) is always kept, and so is every multi-task setting (a ranking ranks single
tasks); a single-task setting is kept for (model, target) when its task is among the top_k of that method's ranking for
that target and model (matched by the grid's model name, or an alias the ranking records: `embedded` -> `e5-small`).
An intermediate phase is then trained only when at least one target keeps its setting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from xstilts.errors import UserError


def _known_method(name: str | None) -> str | None:
    """A `method:` of the block, checked against the registered selection methods at spec load."""
    from xstilts.selection.methods import SELECTION_METHODS  # torch-free: the method table, not the model side

    if name is not None:
        try:
            SELECTION_METHODS.check(name)
        except UserError as e:
            raise ValueError(str(e)) from None
    return name


# (model, target, method, candidate tasks) -> a ranking as load_rankings gives it (experiments/rankings.py)
Compute = Callable[[str, str, str, list[str]], dict[str, Any]]


class TargetSelection(BaseModel):
    """A per-target override of the selection method or top_k."""

    model_config = ConfigDict(extra="forbid")

    method: str | None = None
    top_k: int | None = Field(default=None, ge=1)

    @field_validator("method")
    @classmethod
    def check_method(cls, v: str | None) -> str | None:
        """Unknown methods fail at spec load, naming the known ones."""
        return _known_method(v)


class SelectionSpec(BaseModel):
    """The `selection:` block of an experiment spec."""

    model_config = ConfigDict(extra="forbid")

    method: str = "logme"
    top_k: int = Field(default=3, ge=1)
    rankings: list[str] | str = "selection"
    targets: dict[str, TargetSelection] = Field(default_factory=dict)
    _base: str | None = PrivateAttr(default=None)  # the spec file's folder: relative `rankings` paths start there

    @field_validator("method")
    @classmethod
    def check_method(cls, v: str | None) -> str | None:
        """Unknown methods fail at spec load, naming the known ones."""
        return _known_method(v)

    def resolve_from(self, folder: Path) -> SelectionSpec:
        """Relative ranking paths are read from the spec file's folder (load_spec calls this)."""
        self._base = str(folder)
        return self

    def for_target(self, target: str) -> tuple[str, int]:
        """(method, top_k) for one target: its override, else the block's."""
        o = self.targets.get(target, TargetSelection())
        return o.method or self.method, o.top_k or self.top_k


@dataclass
class Decision:
    """What one (model, target) trains: kept settings, and a reason for each pruned one."""

    model: str
    target: str
    method: str
    top_k: int
    kept: list[str] = field(default_factory=list)
    pruned: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "target": self.target,
            "method": self.method,
            "top_k": self.top_k,
            "kept": self.kept,
            "pruned": self.pruned,
        }


def ranking_paths(selection: SelectionSpec, base: Path | None) -> list[Path]:
    """Ranking files named by the spec (directories expand to their *.json files)."""
    items = [selection.rankings] if isinstance(selection.rankings, str) else list(selection.rankings)
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if base is not None and not p.is_absolute():
            p = base / p
        if p.is_dir():
            out += sorted(x for x in p.glob("*.json") if x.name != "selection-eval.json")
        elif p.is_file():
            out.append(p)
        else:
            raise UserError("selection rankings not found (write them with `xstilts select --out`)", path=str(p))
    return out


def decide(
    selection: SelectionSpec,
    models: Sequence[str],
    targets: Sequence[str],
    settings: dict[str, list[str]],
    rankings: list[dict[str, Any]],
    model_settings: dict[str, list[str]] | None = None,
    compute: Compute | None = None,
) -> list[Decision]:
    """Per (model, target) the settings kept and pruned. `settings`: setting name -> its tasks ([] = baseline);
    `model_settings`: the settings each model runs at all (default: every one); `rankings` as load_rankings returns;
    `compute(model, target, method, candidates)` gives a ranking none of `rankings` holds (else that is an error)."""
    from xstilts.rankings import match_model

    out = []
    for model in models:
        allowed = (model_settings or {}).get(model, list(settings))
        for target in targets:
            method, k = selection.for_target(target)
            found = [
                r
                for r in rankings
                if r["method"] == method
                and r["target"] == target
                and match_model(r, {model}) == model
                and r["candidates"]
            ]
            if not found and compute is not None:
                candidates = [ts[0] for name, ts in settings.items() if name in allowed and len(ts) == 1]
                found = [compute(model, target, method, candidates)]
            if not found:
                raise UserError(
                    f"selection: no '{method}' ranking for target '{target}' and model '{model}'; "
                    f"run `xstilts select --target {target} --model {model} --methods {method} --out ...` "
                    "into the spec's rankings"
                )
            ranking = found[-1]
            order = [c["name"] for c in ranking["candidates"]]
            d = Decision(model, target, method, k)
            single = {s: ts[0] for s, ts in settings.items() if s in allowed and len(ts) == 1}
            ranked = [t for t in order if t in single.values()]
            top = ranked[:k]
            for s in allowed:
                tasks = settings[s]
                if len(tasks) != 1:
                    d.kept.append(s)  # baseline and mixtures are never pruned
                elif tasks[0] in top:
                    d.kept.append(s)
                elif tasks[0] in ranked:
                    d.pruned[s] = (
                        f"{method} ranks {tasks[0]} #{ranked.index(tasks[0]) + 1} of {len(ranked)} for "
                        f"{target} (top {k} kept: {', '.join(top)}; {Path(ranking['file']).name})"
                    )
                else:
                    d.pruned[s] = f"{tasks[0]} is not in the {method} ranking for {target} ({ranking['file']})"
            out.append(d)
    return out


def kept_intermediate(decisions: list[Decision]) -> dict[str, set[str]]:
    """Per model, the settings at least one target keeps (the intermediate phases still worth training)."""
    out: dict[str, set[str]] = {}
    for d in decisions:
        out.setdefault(d.model, set()).update(d.kept)
    return out


class PlanFilter:
    """What build_plan asks: does (model, setting) still need its intermediate phase, does (model, setting, target)
    still need its target phase and evaluation. Without a `selection:` block everything is kept."""

    def __init__(self, decisions: list[Decision] | None):
        self.decisions = decisions
        self._kept = {(d.model, d.target): set(d.kept) for d in decisions or []}
        self._any = kept_intermediate(decisions or [])

    def keeps_setting(self, model: str, setting: str) -> bool:
        return self.decisions is None or setting in self._any.get(model, set())

    def keeps(self, model: str, setting: str, target: str) -> bool:
        return self.decisions is None or setting in self._kept.get((model, target), set())

    def pruned(self) -> list[dict[str, str]]:
        """Every pruned (model, target, setting) with its reason, for the plan summary."""
        return [
            {"model": d.model, "target": d.target, "setting": s, "reason": why}
            for d in self.decisions or []
            for s, why in d.pruned.items()
        ]


def plan_filter(spec: Any, base: Path | None = None, compute: Compute | None = None) -> PlanFilter:
    """The PlanFilter of an experiment spec (its `selection:` block and the rankings it names; with `compute`, the
    rankings the files lack, or all of them when the spec names none that exist, are computed)."""
    from xstilts.rankings import load_rankings

    selection = getattr(spec, "selection", None)
    if selection is None:
        return PlanFilter(None)
    settings = {s.name: list(s.tasks) for s in spec.intermediate}
    model_settings = {m.name: [s.name for s in spec.settings_for(m)] for m in spec.models}
    if base is None and selection._base is not None:
        base = Path(selection._base)
    try:
        rankings = load_rankings(ranking_paths(selection, base))
    except UserError:
        if compute is None:
            raise
        rankings = []  # no ranking files yet: every ranking is computed
    return PlanFilter(
        decide(
            selection, [m.name for m in spec.models], list(spec.targets), settings, rankings, model_settings, compute
        )
    )
