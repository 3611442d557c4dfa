"""The family table: every family has every piece its capabilities need, each one works on a tiny case, and a new
family registered from a test (its table entry only) trains, evaluates zero-shot and scores through the normal paths."""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from torch import nn
from torch.nn import functional as F

from tests.toy_tasks import TOY, text
from xstilts.data.local import write_jsonl
from xstilts.evaluation.predict import run_head
from xstilts.families import (
    FAMILY_TABLE,
    FamilyOps,
    family_ops,
    missing_pieces,
    register_family,
    unregister_family,
)
from xstilts.families import metrics as M
from xstilts.families.examples import Answer
from xstilts.families.featurize import Collator
from xstilts.modeling.model import HeadSpec, MultiTaskModel, load_encoder
from xstilts.tasks.spec import TaskSpec

SETTINGS = {"max_seq_length": 32, "doc_stride": 8, "max_answer_length": 30}


def _examples(family: str, n: int = 2) -> list[Any]:
    """A few examples of a built-in family, from the toy tasks' generators."""
    rng = random.Random(0)
    maker = text if family == "mlm" else next(m for fam, m, _, _ in TOY.values() if fam == family)
    return [maker(rng, i) for i in range(n)]


def _labels(family: str) -> list[str] | None:
    return next((labels for fam, _, labels, _ in TOY.values() if fam == family), None)


def test_every_family_has_every_piece_its_capabilities_need():
    for name, ops in FAMILY_TABLE.items():
        assert ops.name == name
        assert missing_pieces(ops) == [], name
        assert dataclasses.is_dataclass(ops.example_type), name
        assert ops.metrics and all(isinstance(m, M.Metric) for m in ops.metrics.values()), name
        assert ops.evaluated_by in ("head", "retrieval", None), name
    assert [n for n, ops in FAMILY_TABLE.items() if not ops.trainable] == ["retrieval"]
    assert [n for n, ops in FAMILY_TABLE.items() if ops.evaluated_by is None] == ["mlm"]
    assert family_ops("retrieval").is_retrieval and not family_ops("span_qa").is_retrieval
    assert [n for n, ops in FAMILY_TABLE.items() if ops.from_fields is None] == ["retrieval", "mlm"]


class _Identity:
    """A FieldCodec for rows that already hold class names, tag names and aligned answers."""

    def class_label(self, value):
        return value

    def tag_names(self, values):
        return list(values)

    def answers(self, context, value):
        return [Answer(text=t, answer_start=s) for t, s in zip(value["text"], value["answer_start"], strict=True)]


def _as_row(example) -> tuple[dict[str, Any], dict[str, Any]]:
    """A hub-style row holding `example`, and the `fields` naming its columns (hub names differ from ours)."""
    d = dataclasses.asdict(example)
    if "answers" in d:
        d["answers"] = {
            "text": [a["text"] for a in d["answers"]],
            "answer_start": [a["answer_start"] for a in d["answers"]],
        }
    row = {f"hub_{k}": v for k, v in d.items() if k != "guid"}
    return row, {k: f"hub_{k}" for k in d if k != "guid"}


@pytest.mark.parametrize("family", [n for n, ops in FAMILY_TABLE.items() if ops.from_fields is not None])
def test_from_fields_reads_back_the_example_a_row_holds(family):
    """The generic hub mapper's per-family piece: a row whose columns hold an example's fields gives that example."""
    ops = family_ops(family)
    for example in _examples(family, 3):
        row, fields = _as_row(example)
        assert ops.from_fields(row, fields, example.guid, _Identity()) == example


@pytest.mark.parametrize("family", [n for n, ops in FAMILY_TABLE.items() if ops.trainable])
def test_each_piece_works_on_a_tiny_case(family, tiny_models, tmp_path):
    """Featurize two examples, run the head (training outputs and inference outputs), decode, read gold, score and
    write the prediction files: every piece of the entry, called as the pipeline calls it."""
    ops = family_ops(family)
    examples = _examples(family)
    assert all(isinstance(e, ops.example_type) for e in examples)
    labels = _labels(family) if ops.uses_labels else None
    if ops.uses_labels:
        assert ops.labels_of is not None and ops.labels_of(examples) <= set(labels or [])
    if ops.check is not None:
        assert all(ops.check(e, labels) is None for e in examples)
    enc, tok = load_encoder(str(tiny_models["bert"]))
    feats = ops.featurize(examples, tok, labels, SETTINGS, True)
    assert feats and all("input_ids" in f and "meta" in f for f in feats)
    model = MultiTaskModel(enc, {family: HeadSpec(family, family, labels)})
    collate = Collator(
        tok.pad_token_id, tok.mask_token_id, enc.config.vocab_size, mlm_probability=0.15 * (family == "mlm")
    )
    out = model(family, collate(feats))
    assert "loss" in out and torch.isfinite(out["loss"]), family
    if ops.evaluated_by != "head":
        return
    eval_feats = ops.featurize(examples, tok, labels, SETTINGS, False)
    outputs = run_head(model, family, eval_feats, Collator(tok.pad_token_id), torch.device("cpu"))
    preds = ops.decode(outputs, eval_feats, examples, labels, SETTINGS)
    golds = ops.gold(examples)
    assert len(preds) == len(golds) == len(examples)
    for name, metric in ops.metrics.items():
        assert np.isfinite(metric.headline(metric.compute(preds, golds, "en"))), (family, name)
    pred_path, label_path = tmp_path / f"p.{ops.prediction_ext}", tmp_path / f"l.{ops.prediction_ext}"
    ops.write(examples, preds, pred_path, label_path)
    assert pred_path.is_file() and label_path.is_file()


def test_register_family_refuses_an_incomplete_or_duplicate_entry():
    sentence = family_ops("classification")
    with pytest.raises(ValueError, match="needs decode"):
        register_family(dataclasses.replace(sentence, name="half_done", decode=None))
    with pytest.raises(ValueError, match="already registered"):
        register_family(sentence)
    with pytest.raises(ValueError, match="built in"):
        unregister_family("classification")
    with pytest.raises(ValueError, match="unknown family 'poetry'; valid: 'classification'"):
        family_ops("poetry")


# ---------------------------------------------------------------------------------------------------------------
# A toy family, registered from this file only: are two sentences in their original order?


@dataclass
class OrderExample:
    guid: str
    first: str
    second: str
    label: int | None = None  # 1: in order, 0: swapped


def _featurize_order(
    examples: Sequence[OrderExample], tokenizer: Any, labels: list[str] | None, settings: dict[str, Any], train: bool
) -> list[dict[str, Any]]:
    feats = []
    for n, ex in enumerate(examples):
        enc = tokenizer(ex.first, ex.second, truncation=True, max_length=int(settings["max_seq_length"]))
        f: dict[str, Any] = {"input_ids": list(enc["input_ids"]), "attention_mask": list(enc["attention_mask"])}
        if ex.label is not None:
            f["labels"] = int(ex.label)
        f["meta"] = {"example": n}
        feats.append(f)
    return feats


class _OrderHead(nn.Module):
    def __init__(self, hidden: int):
        super().__init__()
        self.out = nn.Linear(hidden, 2)

    def forward(self, hidden: torch.Tensor, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        logits = self.out(hidden[:, 0])
        out = {"order_logits": logits}
        if "labels" in batch:
            out["loss"] = F.cross_entropy(logits.float(), batch["labels"])
        return out


def _decode_order(outputs, feats, examples, labels, settings) -> list[Any]:
    return [int(np.argmax(o["order_logits"])) for o in outputs]


def _write_order(examples, preds, pred_path: Path, label_path: Path | None) -> None:
    pred_path.parent.mkdir(parents=True, exist_ok=True)
    pred_path.write_text("".join(f"{e.guid}\t{p}\n" for e, p in zip(examples, preds, strict=True)), encoding="utf-8")
    if label_path is not None:
        label_path.parent.mkdir(parents=True, exist_ok=True)
        label_path.write_text("".join(f"{e.guid}\t{e.label}\n" for e in examples), encoding="utf-8")


SENTENCE_ORDER = FamilyOps(
    name="sentence_order",
    example_type=OrderExample,
    metrics={"accuracy": M.ACCURACY},
    trainable=True,
    evaluated_by="head",
    uses_labels=False,
    featurize=_featurize_order,
    head=lambda hidden, num_labels, word_embeddings: _OrderHead(hidden),
    decode=_decode_order,
    gold=lambda examples: [e.label for e in examples],
    write=_write_order,
    prediction_ext="order.tsv",
    labels_of=None,
)


@pytest.fixture
def sentence_order_family() -> Iterator[FamilyOps]:
    register_family(SENTENCE_ORDER)
    try:
        yield SENTENCE_ORDER
    finally:
        unregister_family(SENTENCE_ORDER.name)


def _order_examples(rng: random.Random, n: int) -> list[OrderExample]:
    out = []
    for i in range(n):
        a, b = f"the {rng.choice(['cat', 'dog'])} runs", "it is very happy"
        swapped = rng.random() < 0.5
        out.append(OrderExample(f"o{i}", b if swapped else a, a if swapped else b, 0 if swapped else 1))
    return out


def test_a_family_registered_from_a_test_trains_and_evaluates(
    sentence_order_family, tiny_models, tmp_path, monkeypatch
):
    from xstilts.evaluation.task_eval import dev_evaluator
    from xstilts.evaluation.zero_shot import evaluate_target
    from xstilts.tasks import get_task, registry
    from xstilts.training.phase import PhaseConfig, run_phase

    monkeypatch.setenv("XSTILTS_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(registry, "_EXTRA_DIRS", list(registry._EXTRA_DIRS))  # the task dir goes with the family
    monkeypatch.setattr(registry, "_CACHE", None)
    tasks = tmp_path / "tasks"
    rng = random.Random(0)
    for split, lang, n in (("train", "en", 32), ("dev", "en", 8), ("test", "en", 8), ("test", "xx", 8)):
        write_jsonl(tasks / "order" / f"{split}.{lang}.jsonl", _order_examples(rng, n))
    spec = {"name": "order", "role": "target", "family": "sentence_order", "metric": "accuracy"}
    spec |= {"local_dir": "order", "languages": ["en", "xx"], "splits": ["train", "dev", "test"]}
    (tasks / "order.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    registry.register_task_dir(tasks)
    task = get_task("order")
    assert task.ops is SENTENCE_ORDER and task.has_training_data

    settings = {"max_steps": 4, "batch_size": 8, "max_seq_length": 32, "eval_every_steps": 2, "learning_rate": 1e-3}
    ckpt = run_phase(
        PhaseConfig("target", ["order"], str(tiny_models["bert"]), settings=settings),
        tmp_path / "phase",
        progress=False,
        dev_scorer=dev_evaluator,
    )
    record = json.loads((ckpt / "phase.json").read_text())
    assert record["data"]["order"]["train_examples"] == 32
    assert all("order" in h["metrics"] for h in record["train"]["history"])  # dev scoring ran through the entry

    rows = evaluate_target(str(ckpt), task, ["en", "xx"], ["test"], tmp_path / "eval", settings=settings)
    scores = {r["language"]: r["value"] for r in rows if r["metric"] == "score"}
    assert set(scores) == {"en", "xx"} and all(0.0 <= v <= 100.0 for v in scores.values())
    for lang in ("en", "xx"):
        lines = (tmp_path / "eval" / "predictions" / "order" / f"test-{lang}.order.tsv").read_text().splitlines()
        assert len(lines) == 8 and all(line.split("\t")[1] in ("0", "1") for line in lines)
        assert (tmp_path / "eval" / "labels" / "order" / f"test-{lang}.order.tsv").is_file()


def test_an_unregistered_family_is_unknown_again(sentence_order_family):
    base = {"name": "t", "role": "target", "family": "sentence_order", "metric": "accuracy"}
    assert TaskSpec(**base).ops is sentence_order_family
    unregister_family("sentence_order")
    with pytest.raises(ValueError, match="unknown family 'sentence_order'"):
        TaskSpec(**base)
    register_family(sentence_order_family)  # for the fixture's teardown
