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


class AlignmentBlock(BaseModel):
    """An intermediate setting's cross-lingual alignment (xstilts.alignment): a phase of its own, before or after the
    setting's tasks (alone when it has none), so a grid compares none / align / task / align then task / task then
    align. `continual`: alignment batches are also mixed into every target phase of the setting (Efimov et al.)."""

    model_config = ConfigDict(extra="forbid")

    corpus: str  # 'gettext' (packaged), a path with {lang}, a folder, or one file (xstilts.alignment.corpus)
    languages: list[str]
    order: Literal["before", "after"] = "before"
    heldout: str | None = None  # held-out pairs for the diagnostics (default: gettext's own; none for other corpora)
    continual: bool = False
    hyperparameters: dict[str, Any] = Field(default_factory=dict)  # defaults.AlignmentSettings keys

    @model_validator(mode="after")
    def _check(self) -> AlignmentBlock:
        from xstilts.alignment.corpus import check_languages
        from xstilts.defaults import alignment_settings

        check_languages(self.languages)
        alignment_settings(self.hyperparameters, "align.hyperparameters")
        return self


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
    # Set on the settings a `mixtures:` block generates (experiments/mixtures.py): planned only for these targets /
    # models (None: all), and what generated it (members, strategy, size, draw, diversity).
    only_targets: list[str] | None = None
    only_models: list[str] | None = None
    mixture: dict[str, Any] | None = None
    # the language this setting's target phases train in, instead of the spec's `source_languages` of each target
    source_language: str | None = None
    align: AlignmentBlock | None = None  # a cross-lingual alignment phase before or after the tasks

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
        """No phase before the target: no task and no alignment."""
        return not self.tasks and self.align is None


MIXTURE_STRATEGIES = ("random", "diverse", "similar", "selected", "leave_one_out")


class MixtureSweep(BaseModel):
    """The `mixtures:` block: intermediate settings generated from a pool of tasks (experiments/mixtures.py).

    mixtures:
      pool: [mnli, squad, hellaswag, ...]  # single-task setting names (default: every single-task setting)
      sizes: [2, 4, 9, all]
      strategies: [random, diverse, similar, selected, leave_one_out]
      draws: 3                             # random: seeded draws per size
      leave_one_out: [paper_nine]          # named mixtures (a preset or a multi-task setting): each member out
    """

    model_config = ConfigDict(extra="forbid")

    pool: list[str] | None = None
    sizes: list[int | Literal["all"]] = Field(default_factory=lambda: [2, 4, "all"])  # type: ignore[arg-type]
    strategies: list[str] = Field(default_factory=lambda: ["random", "diverse"])
    draws: int = Field(3, ge=1)
    seed: int = 0
    leave_one_out: list[str] = Field(default_factory=list)
    # similar: closest to the target by this method's ranking (textemb: cosine of task embeddings); selected: the top
    # of this selection method's ranking for (model, target)
    similar_method: str = "textemb"
    selected_method: str = "textemb"
    # task embeddings (TextEmb: mean-pooled sentence vectors of `embedding_examples` training inputs) from this model
    embedding_model: str = "embedded"
    embedding_examples: int = Field(100, ge=1)
    sampler: Literal["proportional", "temperature", "uniform"] = "temperature"
    temperature: float = Field(2.0, gt=0)
    hyperparameters: dict[str, Any] = Field(default_factory=dict)  # each generated setting's own layer
    # set by the expansion, never by a user: what `xstilts plan` could not generate here, and why (data offline)
    pending: list[str] = Field(default_factory=list)

    @field_validator("strategies")
    @classmethod
    def _known_strategies(cls, value: list[str]) -> list[str]:
        for name in value:
            if name not in MIXTURE_STRATEGIES:
                raise ValueError(f"unknown mixture strategy '{name}'; known: {', '.join(MIXTURE_STRATEGIES)}")
        return value

    @field_validator("sizes")
    @classmethod
    def _positive_sizes(cls, value: list[int | str]) -> list[int | str]:
        for size in value:
            if isinstance(size, int) and size < 1:
                raise ValueError(f"mixture size must be at least 1 or 'all', got {size}")
        return value


class RetrievalOptions(BaseModel):
    """How BUCC/Tatoeba-style targets are evaluated. The defaults are the official XTREME scripts' (and jiant's)."""

    model_config = ConfigDict(extra="forbid")

    direction: Literal["en_to_xx", "xx_to_en"] = "en_to_xx"  # Tatoeba: English queries, non-English candidates
    pooling: Literal["mean_all", "mean_content", "cls"] = "mean_all"  # mean over every non-pad token, specials included
    # BUCC from a source that holds only the gold pairs (the hub's bucc18 configs) is not BUCC: refused unless set here,
    # and then every row is labelled gold-only.
    allow_gold_only_mining: bool = False


class DataOptions(BaseModel):
    """Data that is not XTREME's, or not zero-shot: refused or off unless asked, and labelled in every row when asked."""

    model_config = ConfigDict(extra="forbid")

    # UD-POS from the hub's google/xtreme udpos.* configs: other treebanks (Ancient Greek in Greek, Old French in French),
    # syntactic words instead of surface tokens, ZWNJ and word-internal spaces kept. Refused unless set; then every
    # udpos row carries the label `hub-udpos`. XTREME's UD-POS: data_dirs {udpos: <the official download>}.
    allow_hub_udpos: bool = False
    # TyDiQA-GoldP's training data: `english` (XTREME's definition: the English questions) or `all_languages` (jiant's
    # downloader writes the whole multilingual GoldP train as tydiqa_en; the paper's TyDiQA number): rows labelled
    # `not-zero-shot`.
    tydiqa_train: Literal["english", "all_languages"] = "english"


class CheckpointOptions(BaseModel):
    """What a run keeps of the checkpoints it writes (experiments/run.py). Intermediate checkpoints always stay (every
    target of their setting starts from them)."""

    model_config = ConfigDict(extra="forbid")

    # drop_after_eval: a target node's weights (encoder/, heads) are removed once every evaluation that reads them has
    # sealed its record; its phase.json (dev history, data sizes), the evaluations' predictions and metrics stay, and
    # a resume that must recompute such an evaluation retrains the target first. keep: every checkpoint stays.
    target: Literal["keep", "drop_after_eval"] = "drop_after_eval"
    # the stored dtype of every checkpoint's encoder weights: bfloat16 halves them (loaded back as float32; part of
    # the training nodes' jobs, since the next phase and the evaluations read the rounded weights)
    dtype: Literal["float32", "bfloat16"] = "float32"


# The labels DataOptions puts on rows (results.csv `options`); the report says what each means.
HUB_UDPOS_LABEL = "hub-udpos"
NOT_ZERO_SHOT_LABEL = "not-zero-shot"
UDPOS_LAYOUT = "udpos/{train,dev,test}-<lang>.tsv, from google-research/xtreme scripts/download_data.sh"
# Source languages of the target phase (Turc et al. 2021): English is the default and today's job; another language
# reads the target's training data machine-translated, from data_dirs `translate_train` (every target: a copy of the
# XTREME translations bucket, data/xtreme.py TRANSLATIONS) or `translate_train.<target>` (one target; also a folder of
# uniform JSONL train.<lang>.jsonl for a target whose training task has no XTREME translations).
ENGLISH = "en"
TRANSLATE_TRAIN = "translate_train"
_LANGUAGE_CODE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]+)*")


class SpecError(ValueError):
    """A spec validation error that says where its line is: `near`, texts found in this order in the file (e.g. the
    setting's `name: x`, then `source_language`), so the one-line error names the line of the offending value."""

    def __init__(self, message: str, near: tuple[str, ...]):
        super().__init__(message)
        self.near = near


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
    data_options: DataOptions = Field(default_factory=DataOptions)
    mixtures: MixtureSweep | None = None  # generated mixture settings: experiments/mixtures.py
    checkpoints: CheckpointOptions = Field(default_factory=CheckpointOptions)  # retention and stored dtype
    # target -> the languages its target phase trains in (default: English only); each non-English one adds target and
    # evaluation nodes `<target>@<lang>` reading translated training data (data_dirs `translate_train`)
    source_languages: dict[str, list[str]] = Field(default_factory=dict)

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
        if not self.data_options.allow_hub_udpos:
            for where in self.hub_udpos_reads():
                raise ValueError(
                    f"{where} reads UD-POS from the hub (google/xtreme udpos.*), which is not XTREME's UD-POS; give the "
                    f"official download with data_dirs: {{udpos: DIR}} ({UDPOS_LAYOUT}), or set data_options: "
                    "{allow_hub_udpos: true} to accept numbers labelled hub-udpos"
                )
        if self.mixtures is not None:
            from xstilts.experiments.mixtures import check_sweep

            check_sweep(self)
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
        self._check_source_languages()
        return self

    def _check_source_languages(self) -> None:
        """`source_languages`, each setting's `source_language` and the `translate_train` data_dirs keys: a known
        target, a language its training data exists in (the XTREME translations, or a `translate_train.<target>`
        folder for a training task they do not cover), and a folder to read it from."""
        for key in self.data_dirs:
            if key.startswith(f"{TRANSLATE_TRAIN}.") and key.split(".", 1)[1] not in self.targets:
                raise SpecError(
                    f"data_dirs '{key}': '{key.split('.', 1)[1]}' is not one of the targets {self.targets}",
                    near=("data_dirs:", key),
                )
        for target, langs in self.source_languages.items():
            near = ("source_languages:", f"{target}:")
            if target not in self.targets:
                raise SpecError(f"source_languages: '{target}' is not one of the targets {self.targets}", near=near)
            if not langs or len(set(langs)) != len(langs):
                raise SpecError(
                    f"source_languages of '{target}': expected a list of distinct languages, got {langs}", near=near
                )
            for lang in langs:
                self._check_source(target, lang, f"source_languages of '{target}'", near)
        from xstilts.tasks import get_task

        for s in self.intermediate:
            if s.source_language is not None:  # every target it trains (a retrieval target has no target phase)
                for target in self.targets:
                    if (s.only_targets is None or target in s.only_targets) and get_task(target).has_training_data:
                        where = f"intermediate setting '{s.name}' source_language"
                        self._check_source(target, s.source_language, where, (f"name: {s.name}", "source_language"))

    def _check_source(self, target: str, lang: str, where: str, near: tuple[str, ...]) -> None:
        from xstilts.data.xtreme import TRANSLATIONS, TRANSLATIONS_LAYOUT
        from xstilts.jobs import training_source
        from xstilts.languages import TRANSLATE_TRAIN_LANGS
        from xstilts.tasks import get_task

        if not _LANGUAGE_CODE.fullmatch(lang):
            raise SpecError(f"{where}: '{lang}' is not a language code (e.g. de, ru, zh)", near=near)
        if lang == ENGLISH:
            return
        task = get_task(target)
        if not task.has_training_data:
            raise SpecError(f"{where}: target '{target}' has no training data to read in '{lang}'", near=near)
        src = get_task(self.train_sources()[target]) if target in self.train_sources() else training_source(task)
        own = f"{TRANSLATE_TRAIN}.{target}"
        if src.name in TRANSLATE_TRAIN_LANGS and lang not in TRANSLATE_TRAIN_LANGS[src.name]:
            raise SpecError(
                f"{where}: target '{target}' cannot train in '{lang}': its training data ({src.name}) is in the XTREME "
                f"translations in {' '.join(TRANSLATE_TRAIN_LANGS[src.name])} only",
                near=near,
            )
        if src.name not in TRANSLATE_TRAIN_LANGS and own not in self.data_dirs:
            raise SpecError(
                f"{where}: target '{target}' cannot train in '{lang}': its training data ({src.name}) has no XTREME "
                f"translations; give translated data (train.{lang}.jsonl) with data_dirs: {{{own}: DIR}}",
                near=near,
            )
        if self.translation_dir(target) is None:
            layout = TRANSLATIONS[src.name].layout("train") if src.name in TRANSLATIONS else ""
            raise SpecError(
                f"{where}: target '{target}' in '{lang}' reads translated training data: give data_dirs: "
                f"{{{TRANSLATE_TRAIN}: DIR}} ({TRANSLATIONS_LAYOUT}; {layout})",
                near=near,
            )

    def translation_dir(self, target: str) -> str | None:
        """The folder a target's translated training data is read from: data_dirs `translate_train.<target>`, else
        `translate_train`."""
        return self.data_dirs.get(f"{TRANSLATE_TRAIN}.{target}") or self.data_dirs.get(TRANSLATE_TRAIN)

    def source_languages_for(self, setting: IntermediateSetting, target: str) -> list[str]:
        """The languages the target phases of (setting, target) train in: the setting's `source_language`, else the
        spec's `source_languages` of the target, else English (also for a target without a target phase)."""
        from xstilts.tasks import get_task

        if setting.source_language is not None:
            return [setting.source_language] if get_task(target).has_training_data else [ENGLISH]
        return list(self.source_languages.get(target, [ENGLISH]))

    def hub_udpos_reads(self) -> list[str]:
        """Where the spec reads UD-POS from the hub: 'target udpos' and/or 'intermediate setting <name>'."""
        out = []
        if (
            "udpos" in self.targets and "udpos" not in self.data_dirs
        ):  # its evaluation and training read data_dirs.udpos
            out.append("target 'udpos'")
        for s in self.intermediate:
            if "udpos_en" in s.tasks and "udpos_en" not in {**self.data_dirs, **s.data_dirs}:
                out.append(f"intermediate setting '{s.name}'")
        return out

    def row_labels(self, target: str) -> list[str]:
        """The DataOptions labels every row of `target` carries (empty for XTREME's own data, zero-shot)."""
        labels = []
        if target == "udpos" and self.hub_udpos_reads():
            labels.append(HUB_UDPOS_LABEL)
        if target == "tydiqa" and self.data_options.tydiqa_train == "all_languages":
            labels.append(NOT_ZERO_SHOT_LABEL)
        return labels

    def train_sources(self) -> dict[str, str]:
        """Targets whose training data the DataOptions replace: target -> the task it then trains from."""
        return {"tydiqa": "tydiqa_all"} if self.data_options.tydiqa_train == "all_languages" else {}

    def settings_for(self, model: ModelSpec) -> list[IntermediateSetting]:
        """The settings `model` runs: its `intermediate:` list (all when absent); generated mixtures run for every model
        their `only_models` allows."""
        return [
            s
            for s in self.intermediate
            if (s.only_models is None or model.name in s.only_models)
            and (model.intermediate is None or s.name in model.intermediate or s.mixture is not None)
        ]

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


def load_spec(path: str | Path, expand: bool = True, pending_ok: bool = True) -> ExperimentSpec:
    """The spec at `path`, validated (a UserError naming the file and line otherwise). With `expand`, the settings its
    `mixtures:` block generates are added (experiments/mixtures.py); the rehearsal expands later, on its toy data;
    `pending_ok`: strategies whose embeddings or rankings cannot be computed here are listed in `mixtures.pending`
    (`xstilts plan` shows them; `xstilts run` refuses to start with any); False: raise instead."""
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
        if expand and spec.mixtures is not None:
            from xstilts.experiments.mixtures import expand_mixtures

            spec = expand_mixtures(spec, pending_ok=pending_ok)
            if spec.selection is not None:
                spec.selection.resolve_from(p.parent)
        return spec
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(x) for x in first["loc"]) or "spec"
        named = re.findall(r"'([A-Za-z_][\w.-]*)'", first["msg"])  # the key a message names is the better line
        cause = (first.get("ctx") or {}).get("error")
        line = _line_near(p, cause.near) if isinstance(cause, SpecError) else None
        line = line or (_line_of(p, (named[0],)) if named else None) or _line_of(p, first["loc"])
        raise UserError(f"'{loc}': {first['msg']}", path=str(p), line=line) from None
    except UserError as e:
        named = re.findall(r"'([A-Za-z_][\w.-]*)'", str(e))
        raise UserError(str(e), path=str(p), line=_line_of(p, (named[0],)) if named else None) from None


def _line_near(path: Path, near: tuple[str, ...]) -> int | None:
    """The line holding the last of `near`, each searched from the line of the one before (None: the first is absent)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    at = None
    for text in near:
        start = 0 if at is None else at
        found = next((i for i in range(start, len(lines)) if text in lines[i]), None)
        if found is None:
            break
        at = found
    return None if at is None else at + 1


def _line_of(path: Path, loc: tuple) -> int | None:
    """Best-effort line of the first key named in a validation error's location."""
    keys = [k for k in loc if isinstance(k, str)]
    if not keys:
        return None
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.lstrip().startswith(f"{keys[0]}:") or line.lstrip().startswith(f"- {keys[0]}:"):
            return i
    return None
