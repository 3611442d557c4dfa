"""Every head family trains on tiny random BERT and XLM-R models: the loss on a learnable toy set falls."""

from __future__ import annotations

import pytest
import torch

from xstilts.data.load import load_examples
from xstilts.defaults import phase_defaults
from xstilts.families.featurize import Collator
from xstilts.families.table import featurize
from xstilts.modeling.model import HeadSpec, MultiTaskModel, load_encoder
from xstilts.tasks import get_task
from xstilts.training.loop import TrainTask, train

FAST = {
    "learning_rate": 3e-3,
    "batch_size": 16,
    "grad_accumulation": 1,
    "max_seq_length": 64,
    "warmup_ratio": 0.0,
    "num_epochs": 12,
    "eval_every_steps": 10_000,
    "weight_decay": 0.0,
}


def mean_loss(model, task, feats, collate) -> float:
    model.eval()
    device = next(model.parameters()).device  # training may have moved the model to a GPU

    def on_device(batch):
        return {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}

    with torch.no_grad():
        losses = [model(task, on_device(collate(feats[i : i + 32])))["loss"].item() for i in range(0, len(feats), 32)]
    model.train()
    return sum(losses) / len(losses)


@pytest.mark.parametrize("kind", ["bert", "xlmr"])
@pytest.mark.parametrize("task_name", ["toy_cls", "toy_pair", "toy_reg", "toy_mc", "toy_span", "toy_tag"])
def test_head_family_learns(kind, task_name, tiny_models, toy_tasks):
    task = get_task(task_name)
    enc, tok = load_encoder(str(tiny_models[kind]))
    labels = task.labels if task.family in ("classification", "tagging") else None
    model = MultiTaskModel(enc, {task_name: HeadSpec(task_name, task.family, labels)})
    settings = {**phase_defaults("intermediate"), **FAST}
    if task.family == "multiple_choice":
        # Every choice starts from the same random logit; on tiny BERT the (random, near-zero) pooler and the head's
        # dense layer sit between the encoder and the score: after 12 epochs the loss was still ln(3), after 30 it falls.
        settings["num_epochs"] = 30
    feats = featurize(task.family, load_examples(task, "train", "en"), tok, task.labels, settings, train=True)
    collate = Collator(pad_id=tok.pad_token_id)
    before = mean_loss(model, task_name, feats, collate)
    train(model, [TrainTask(task_name, feats)], collate, settings, seed=0, progress=False)
    after = mean_loss(model, task_name, feats, collate)
    assert after < 0.7 * before, (before, after)


def test_mlm_head_learns(tiny_models, toy_tasks):
    from xstilts.data.local import read_jsonl

    enc, tok = load_encoder(str(tiny_models["xlmr"]))
    model = MultiTaskModel(enc, {"mlm": HeadSpec("mlm", "mlm")})
    settings = {**phase_defaults("intermediate"), **FAST}
    examples = list(read_jsonl(toy_tasks / "toy_mlm" / "train.en.jsonl", "mlm"))
    feats = featurize("mlm", examples, tok, None, settings, train=True)
    collate = Collator(pad_id=tok.pad_token_id, mask_id=tok.mask_token_id, vocab_size=len(tok), mlm_probability=0.15)
    before = mean_loss(
        model,
        "mlm",
        feats,
        Collator(pad_id=tok.pad_token_id, mask_id=tok.mask_token_id, vocab_size=len(tok), mlm_probability=0.15, seed=1),
    )
    train(model, [TrainTask("mlm", feats)], collate, settings, seed=0, progress=False)
    after = mean_loss(
        model,
        "mlm",
        feats,
        Collator(pad_id=tok.pad_token_id, mask_id=tok.mask_token_id, vocab_size=len(tok), mlm_probability=0.15, seed=1),
    )
    assert after < 0.8 * before, (before, after)
