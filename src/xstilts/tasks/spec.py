"""TaskSpec: the data that defines a task (name, role, family, languages, source, metric, labels)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from xstilts.families import FAMILY_TABLE, FamilyOps, metric_names

Retrieval = Literal["mining", "nearest"]
# A retrieval task's protocol when its YAML does not declare one: mining metrics mine, the others take the nearest.
_MINING_METRICS = ("bucc_f1",)


def _default_retrieval(metric: str) -> Retrieval:
    return "mining" if metric in _MINING_METRICS else "nearest"


class HubSource(BaseModel):
    """Where a task's data lives on the Hugging Face hub and how its rows map to our examples.

    `config` and split names may contain `{lang}` (or `{Language}`, `{iso3}` for XTREME's naming schemes).
    `mapper` names a row mapper in xstilts.data.hub.ROW_MAPPERS; `fields` maps our example fields to hub fields.
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    config: str | None = None
    splits: dict[str, str | list[str]] = Field(default_factory=dict)
    mapper: str = "fields"
    fields: dict[str, Any] = Field(default_factory=dict)
    label_names: list[str] | None = None
    # A config holding every language: how a row names its language (see xstilts.data.hub.ROW_LANGUAGE).
    row_language: Literal["language", "tydiqa_id"] | None = None


class TaskSpec(BaseModel):
    """One task. Targets are evaluated zero-shot in every language; intermediate tasks train in `train_language`."""

    model_config = ConfigDict(extra="forbid")

    name: str
    role: Literal["target", "intermediate"]
    family: str  # a key of the family table (xstilts.families.FAMILY_TABLE)
    description: str = ""
    languages: list[str] = Field(default_factory=lambda: ["en"])
    train_language: str = "en"
    # One of the family's metric names (its FamilyOps.metrics); a typo fails when the YAML loads.
    metric: str = "accuracy"
    # Retrieval targets only: BUCC-style mining among distractors, or Tatoeba-style nearest neighbour.
    # Default: "mining" for a mining metric (bucc_f1), else "nearest".
    retrieval: Retrieval | None = None
    # Name of the prediction head: tasks with the same head (MNLI, XNLI, ANLI, SNLI: `nli`) share one, so a target can
    # start from the head its training task left. Default: the task's own name.
    head: str = ""
    labels: list[str] | None = None
    # Target whose English training data comes from another task (XNLI <- MNLI); None = its own train split.
    train_from: str | None = None
    splits: list[str] = Field(default_factory=lambda: ["train", "dev", "test"])
    source: HubSource | None = None
    # Directory with local files in the uniform JSONL layout (<split>.<lang>.jsonl), relative to the YAML file.
    local_dir: str | None = None
    # Only loadable from the user's files (e.g. CCGbank): the expected format, shown by `xstilts tasks`.
    local_format: str | None = None
    size: int | None = None
    license: str | None = None
    # Retrieval targets: 'mean' or 'first' pooling of hidden_states[layer]; layer None = the model's default.
    pooling: str = "mean"
    group: str | None = None

    @field_validator("family")
    @classmethod
    def _known_family(cls, family: str) -> str:
        if family not in FAMILY_TABLE:
            *rest, last = [repr(f) for f in FAMILY_TABLE]  # the families as pydantic names a Literal's values
            valid = f"{', '.join(rest)} or {last}" if rest else last
            raise ValueError(f"unknown family '{family}': Input should be {valid}")
        return family

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, metric: str) -> str:
        if metric not in metric_names():
            raise ValueError(f"unknown metric '{metric}'; valid: {', '.join(metric_names())}")
        return metric

    @model_validator(mode="after")
    def _consistent(self) -> TaskSpec:
        valid = list(self.ops.metrics)
        if self.metric not in valid:
            raise ValueError(
                f"metric '{self.metric}' does not apply to family '{self.family}'; valid: {', '.join(valid)}"
            )
        if self.ops.is_retrieval:
            if self.retrieval is None:
                self.retrieval = _default_retrieval(self.metric)
            elif (self.retrieval == "mining") != (self.metric in _MINING_METRICS):
                raise ValueError(f"retrieval '{self.retrieval}' does not fit metric '{self.metric}'")
        elif self.retrieval is not None:
            raise ValueError(f"'retrieval' applies to the retrieval family only, not '{self.family}'")
        if not self.head:
            self.head = self.name
        return self

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        """The fields as a dict, leaving out the declarations that only restate their defaults (`head` equal to the
        name, `retrieval` equal to what the metric implies, `source.row_language` None): experiment plans hash this
        dump, so a task written before those fields existed keeps its hash. TaskSpec(**dump) gives the same task."""
        data = super().model_dump(**kwargs)
        if data.get("head") == self.name:
            del data["head"]
        if self.ops.is_retrieval and data.get("retrieval") == _default_retrieval(self.metric):
            del data["retrieval"]
        if "retrieval" in data and data["retrieval"] is None:
            del data["retrieval"]
        if (
            isinstance(data.get("source"), dict)
            and "row_language" in data["source"]
            and data["source"]["row_language"] is None
        ):
            del data["source"]["row_language"]
        return data

    @property
    def ops(self) -> FamilyOps:
        """The family's table entry: its example type, featurizer, head, decoder, gold, files and metrics."""
        return FAMILY_TABLE[self.family]

    @property
    def has_training_data(self) -> bool:
        return self.ops.trainable and (self.train_from is not None or "train" in self.splits)

    @property
    def is_mining(self) -> bool:
        """BUCC-style retrieval (mine pairs among distractors, scored by pair F1) rather than Tatoeba-style (accuracy):
        the declared `retrieval` protocol."""
        return self.retrieval == "mining"

    def summary(self) -> dict[str, Any]:
        src: dict[str, Any] = {}
        if self.source is not None:
            src = {"hub": self.source.id, "config": self.source.config}
        if self.local_dir is not None:
            src["local_dir"] = self.local_dir
        if self.local_format is not None:
            src["local_format"] = self.local_format
        return {
            "name": self.name,
            "role": self.role,
            "family": self.family,
            "languages": self.languages,
            "train_language": self.train_language,
            "source": src,
            "metric": self.metric,
            "head": self.head,
            "size": self.size,
            "train_from": self.train_from,
            "description": self.description,
        }
