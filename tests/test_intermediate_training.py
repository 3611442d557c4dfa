"""Every intermediate task of the library trains a tiny model for a few steps on its hub-schema fixture."""

from __future__ import annotations

import math

import pytest
import torch

from tests.helpers import HUB_FIXTURES as FIXTURES
from tests.helpers import INTERMEDIATE_LIBRARY as LIBRARY
from tests.helpers import hub_files, load
from xstilts.data.mappers import LOCAL_READERS, TASK_LOADERS
from xstilts.defaults import phase_defaults
from xstilts.families.featurize import Collator
from xstilts.families.table import featurize
from xstilts.modeling.model import MultiTaskModel, load_encoder
from xstilts.tasks import get_task
from xstilts.training.loop import TrainTask, train
from xstilts.training.phase import head_spec, with_data_labels


def fixture_train(name: str) -> list:
    if name in LOCAL_READERS:
        return LOCAL_READERS[name](FIXTURES / name, "train")
    if name in TASK_LOADERS:
        files = {n: hub_files(n, "train") for n in ("anli", "mnli", "snli")}
        return TASK_LOADERS[name](get_task(name), "train", data_files=files)
    return load(name, "train")[1]


@pytest.mark.parametrize("name", sorted(LIBRARY))
def test_intermediate_task_trains(name, tiny_models):
    examples = fixture_train(name)
    assert examples, f"{name}: fixture gave no training examples"
    task = with_data_labels(get_task(name), examples)
    enc, tok = load_encoder(str(tiny_models["xlmr"]))
    model = MultiTaskModel(enc)
    model.add_head(head_spec(task))
    settings = {
        **phase_defaults("intermediate"),
        "max_steps": 3,
        "batch_size": 4,
        "grad_accumulation": 1,
        "max_seq_length": 64,
        "learning_rate": 1e-3,
        "eval_every_steps": 100,
    }
    feats = featurize(task.family, examples, tok, task.labels, settings, train=True)
    before = {k: v.detach().cpu().clone() for k, v in model.heads[name].state_dict().items()}
    result = train(model, [TrainTask(name, feats)], Collator(pad_id=tok.pad_token_id), settings, seed=0, progress=False)
    assert result.optimizer_steps == 3
    assert all(math.isfinite(x) for x in result.losses)
    after = model.heads[name].state_dict()
    assert any(not torch.equal(before[k], after[k].cpu()) for k in before), "the head did not change"
