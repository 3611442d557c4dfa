"""The experiment spec: models x intermediate settings x targets x seeds, validated with clear errors."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from xstilts.errors import UserError
from xstilts.selection.prune import SelectionSpec


def safe_name(value: str) -> str:
    """A name that becomes part of a path under the run directory: no separators, no '..', not hidden."""
    if not value or "/" in value or "\\" in value or value.startswith(".") or "\0" in value:
        raise ValueError(
            f"'{value}' cannot name files in the run directory; expected a name without '/', '\\' or a leading '.'"
        )
    return value


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    path: str = "embedded"  # hub id, local folder, or "embedded" (the offline multilingual-e5-small)
    retrieval_layer: int | None = None  # HF hidden_states index for BUCC/Tatoeba; None = a middle layer
    prune_vocabulary: bool = False  # keep only the word pieces the spec's data uses (fast offline runs)
    layers: int | None = None  # keep only the first k layers (fast offline runs)
    intermediate: list[str] | None = None  # only these intermediate settings for this model (None = all): budgets
    trust_remote_code: bool = False  # run the hub model's own code (off unless asked)

    _name = field_validator("name")(safe_name)


class IntermediateSetting(BaseModel):
    """One intermediate setting: none, one task, a multi-task mixture, with MLM co-training, or translated data."""

    model_config = ConfigDict(extra="forbid")

    name: str
    tasks: list[str] = Field(default_factory=list)  # empty = no intermediate training (the baseline)
    preset: str | None = None  # a named mixture from defaults.INTERMEDIATE_PRESETS (e.g. paper_nine), added to tasks
    sampler: Literal["proportional", "temperature", "uniform"] = "proportional"
    temperature: float = Field(2.0, gt=0)
    mlm_corpus: str | None = None
    data_dirs: dict[str, str] = Field(default_factory=dict)
    languages: dict[str, str] = Field(default_factory=dict)
    hyperparameters: dict[str, Any] = Field(default_factory=dict)

    _name = field_validator("name")(safe_name)

    @model_validator(mode="after")
    def _expand_preset(self) -> IntermediateSetting:
        from xstilts.defaults import INTERMEDIATE_PRESETS

        if self.preset is not None:
            if self.preset not in INTERMEDIATE_PRESETS:
                raise ValueError(f"unknown preset '{self.preset}'; known: {sorted(INTERMEDIATE_PRESETS)}")
            self.tasks = list(dict.fromkeys([*self.tasks, *INTERMEDIATE_PRESETS[self.preset]]))
        return self

    @property
    def is_baseline(self) -> bool:
        return not self.tasks


class RetrievalOptions(BaseModel):
    """How BUCC/Tatoeba-style targets are evaluated. The defaults are the official XTREME scripts' (and jiant's)."""

    model_config = ConfigDict(extra="forbid")

    direction: Literal["en_to_xx", "xx_to_en"] = "en_to_xx"  # Tatoeba: English queries, non-English candidates
    pooling: Literal["mean_all", "mean_content", "cls"] = "mean_all"  # mean over every non-pad token, specials included
    # BUCC from a source that holds only the gold pairs (the hub's bucc18 configs) is not BUCC: refused unless set here,
    # and then every row is labelled gold-only.
    allow_gold_only_mining: bool = False


class ExperimentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "experiment"
    description: str = ""
    models: list[ModelSpec]
    intermediate: list[IntermediateSetting]
    targets: list[str]
    languages: list[str] | dict[str, list[str]] | None = None  # None = every language of each target
    splits: list[str] = Field(default_factory=lambda: ["dev"])
    seeds: list[int] = Field(default_factory=lambda: [0])
    hyperparameters: dict[str, dict[str, Any]] = Field(default_factory=dict)  # intermediate / target / <task name>
    data_dirs: dict[str, str] = Field(default_factory=dict)
    keep_heads: bool = False
    retrieval: RetrievalOptions = Field(default_factory=RetrievalOptions)
    selection: SelectionSpec | None = None  # train only the top-k settings per (model, target): selection/prune.py

    _name = field_validator("name")(safe_name)

    @model_validator(mode="after")
    def _check(self) -> ExperimentSpec:
        from xstilts.tasks import get_task

        names = [s.name for s in self.intermediate]
        if len(set(names)) != len(names):
            raise ValueError(f"intermediate setting names must be unique: {names}")
        for s in self.intermediate:
            for t in s.tasks:
                get_task(t)
        for m in self.models:
            unknown = set(m.intermediate or []) - set(names)
            if unknown:
                raise ValueError(f"model '{m.name}' names unknown intermediate settings {sorted(unknown)}")
        for t in self.targets:
            if get_task(t).role != "target":
                raise ValueError(f"'{t}' is not a target task")
        from xstilts.defaults import check_hyperparameters

        for key, block in self.hyperparameters.items():
            if key not in ("intermediate", "target"):
                get_task(key)
            check_hyperparameters(block, f"hyperparameters.{key}")
        for s in self.intermediate:
            check_hyperparameters(s.hyperparameters, f"intermediate setting '{s.name}' hyperparameters")
        known = {lang for t in self.targets for lang in get_task(t).languages}
        wanted = self.languages.items() if isinstance(self.languages, dict) else [(None, self.languages or [])]
        for target, langs in wanted:
            have = set(get_task(target).languages) if target else known
            if target is not None and target not in self.targets:
                raise ValueError(f"languages: '{target}' is not one of the targets {self.targets}")
            unknown_langs = [lang for lang in langs if lang not in have]
            if unknown_langs:
                raise ValueError(
                    f"unknown language '{unknown_langs[0]}' for {target or 'any target'}; known: {' '.join(sorted(have))}"
                )
        return self

    def settings_for(self, model: ModelSpec) -> list[IntermediateSetting]:
        return [s for s in self.intermediate if model.intermediate is None or s.name in model.intermediate]

    def target_languages(self, target: str) -> list[str]:
        from xstilts.tasks import get_task

        task = get_task(target)
        if self.languages is None:
            return list(task.languages)
        wanted = self.languages.get(target, task.languages) if isinstance(self.languages, dict) else self.languages
        return [l for l in wanted if l in task.languages]

    def hyperparameter_layers(
        self, kind: str, task: str | None, setting: IntermediateSetting | None = None
    ) -> list[dict[str, Any]]:
        """The spec's override layers for a phase (or an evaluation) of `task`, lowest precedence first: the phase's
        block (`hyperparameters.intermediate|target`), the task's block, the intermediate setting's own. Feed them to
        `defaults.merge_hyperparameters`, which documents the whole precedence."""
        layers = [dict(self.hyperparameters.get(kind, {}))]
        if task is not None:
            layers.append(dict(self.hyperparameters.get(task, {})))
        if setting is not None:
            layers.append(dict(setting.hyperparameters))
        return layers


def load_spec(path: str | Path) -> ExperimentSpec:
    p = Path(path)
    if not p.is_file():
        raise UserError("experiment spec not found", path=str(p))
    from xstilts.data.local import read_text

    try:
        raw = yaml.safe_load(read_text(p))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise UserError(
            f"invalid YAML: {getattr(e, 'problem', e)}", path=str(p), line=None if mark is None else mark.line + 1
        ) from None
    if not isinstance(raw, dict):
        raise UserError("expected a mapping with models, intermediate, targets", path=str(p))
    try:
        spec = ExperimentSpec(**raw)
        if spec.selection is not None:
            spec.selection.resolve_from(p.parent)  # relative ranking paths start at the spec file
        return spec
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(x) for x in first["loc"]) or "spec"
        named = re.findall(r"'([A-Za-z_][\w.-]*)'", first["msg"])  # the key a message names is the better line
        line = (_line_of(p, (named[0],)) if named else None) or _line_of(p, first["loc"])
        raise UserError(f"'{loc}': {first['msg']}", path=str(p), line=line) from None
    except UserError as e:
        named = re.findall(r"'([A-Za-z_][\w.-]*)'", str(e))
        raise UserError(str(e), path=str(p), line=_line_of(p, (named[0],)) if named else None) from None


def _line_of(path: Path, loc: tuple) -> int | None:
    """Best-effort line of the first key named in a validation error's location."""
    keys = [k for k in loc if isinstance(k, str)]
    if not keys:
        return None
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.lstrip().startswith(f"{keys[0]}:") or line.lstrip().startswith(f"- {keys[0]}:"):
            return i
    return None
