"""TaskSpec: the data that defines a task (name, role, family, languages, source, metric, labels)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FAMILIES = ("classification", "regression", "multiple_choice", "span_qa", "tagging", "retrieval", "mlm")
Family = Literal["classification", "regression", "multiple_choice", "span_qa", "tagging", "retrieval", "mlm"]


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
    """One task. Targets are evaluated zero-shot in every language; intermediate tasks are trained in `train_language`."""

    model_config = ConfigDict(extra="forbid")

    name: str
    role: Literal["target", "intermediate"]
    family: Family
    description: str = ""
    languages: list[str] = Field(default_factory=lambda: ["en"])
    train_language: str = "en"
    metric: str = "accuracy"
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

    @property
    def has_training_data(self) -> bool:
        return self.family != "retrieval" and (self.train_from is not None or "train" in self.splits)

    @property
    def is_mining(self) -> bool:
        """BUCC-style retrieval (mine pairs among distractors, scored by pair F1) rather than Tatoeba-style (accuracy)."""
        return self.family == "retrieval" and self.metric.endswith("f1")

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
            "size": self.size,
            "train_from": self.train_from,
            "description": self.description,
        }
