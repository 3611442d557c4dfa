"""The encoder's pooler (modeling/model.py `pooled`): kept from a checkpoint that has one and read by classification and
multiple-choice heads, as jiant and BertForSequenceClassification read it; left out where the checkpoint has none (the
heads read the first token); trained only in phases whose heads read it, and carried to the next phase."""

from __future__ import annotations

from functools import partial

import torch
from safetensors.torch import load_file

from tests.helpers import PHASE_TINY as TINY
from xstilts.evaluation.task_eval import dev_evaluator
from xstilts.modeling.model import HeadSpec, MultiTaskModel, load_encoder
from xstilts.training.phase import PhaseConfig
from xstilts.training.phase import run_phase as _run_phase

run_phase = partial(_run_phase, dev_scorer=dev_evaluator)

POOLER = ("pooler.dense.weight", "pooler.dense.bias")


def _batch(tok):
    return dict(tok(["one short sentence", "and a longer second sentence here"], padding=True, return_tensors="pt"))


def test_checkpoint_pooler_is_kept_with_its_weights(tiny_models):
    enc, _ = load_encoder(str(tiny_models["bert"]))
    saved = load_file(str(tiny_models["bert"] / "model.safetensors"))
    assert enc.pooler is not None
    for name in POOLER:
        assert torch.equal(enc.state_dict()[name], saved[name])


def test_no_pooler_in_checkpoint_means_none(tiny_models, tmp_path):
    xlmr, _ = load_encoder(str(tiny_models["xlmr"]))
    assert xlmr.pooler is None  # not a randomly initialized one
    bert, tok = load_encoder(str(tiny_models["bert"]))
    bert.pooler = None
    bert.save_pretrained(tmp_path / "nopool", safe_serialization=True)
    tok.save_pretrained(tmp_path / "nopool")
    again, _ = load_encoder(str(tmp_path / "nopool"))
    assert again.pooler is None


def _logits(path, family, labels):
    torch.manual_seed(0)
    enc, tok = load_encoder(str(path))
    model = MultiTaskModel(enc, {"t": HeadSpec("t", family, labels)}).eval()
    batch = _batch(tok)
    if family == "multiple_choice":  # two choices per row: (B, C, L)
        batch = {k: torch.stack([v, v.flip(0)], 1) for k, v in batch.items()}
    with torch.no_grad():
        got = model("t", batch)["logits"]
        flat = {k: v.flatten(0, 1) if v.dim() == 3 else v for k, v in batch.items()}
        hidden = enc(**flat).last_hidden_state[:, 0]
        vectors = torch.tanh(enc.pooler.dense(hidden)) if enc.pooler is not None else hidden
        want = model.heads["t"].scores(vectors).view(got.shape)
    return got, want


def test_heads_read_the_pooler_where_there_is_one(tiny_models):
    for kind in ("bert", "xlmr"):
        got, want = _logits(tiny_models[kind], "classification", ["a", "b"])
        torch.testing.assert_close(got, want)
        got, want = _logits(tiny_models[kind], "multiple_choice", None)
        assert got.shape == (2, 2)
        torch.testing.assert_close(got, want)
    # and the pooler changes the logits: the same weights without it give others
    enc, tok = load_encoder(str(tiny_models["bert"]))
    torch.manual_seed(0)
    model = MultiTaskModel(enc, {"t": HeadSpec("t", "classification", ["a", "b"])}).eval()
    with torch.no_grad():
        with_pooler = model("t", _batch(tok))["logits"]
        enc.pooler = None
        without = model("t", _batch(tok))["logits"]
    assert not torch.allclose(with_pooler, without)


def test_pooler_trained_where_read_and_carried_to_the_next_phase(tiny_models, toy_tasks, tmp_path):
    base = load_file(str(tiny_models["bert"] / "model.safetensors"))
    cfg = PhaseConfig("intermediate", ["toy_tag"], str(tiny_models["bert"]), settings=TINY)
    tag = run_phase(cfg, tmp_path / "tag", progress=False)
    after_tag = load_file(str(tag / "encoder" / "model.safetensors"))
    assert any(not torch.equal(after_tag[k], base[k]) for k in base if not k.startswith("pooler."))
    for name in POOLER:  # no head read it: no update and no weight decay
        assert torch.equal(after_tag[name], base[name]), name

    cls = run_phase(PhaseConfig("target", ["toy_target"], str(tag), settings=TINY), tmp_path / "cls", progress=False)
    after_cls = load_file(str(cls / "encoder" / "model.safetensors"))
    for name in POOLER:  # started from the tagging phase's pooler (the checkpoint's) and trained by the classifier
        assert not torch.equal(after_cls[name], after_tag[name]), name


def test_a_truncated_copy_keeps_the_pooler(tiny_models, tmp_path):
    from xstilts.modeling.model import truncate_layers

    saved = load_file(str(tiny_models["bert"] / "model.safetensors"))
    out = truncate_layers(tiny_models["bert"], tmp_path / "one-layer", 1)
    copy = load_file(str(out / "model.safetensors"))
    for name in POOLER:
        assert torch.equal(copy[name], saved[name]), name


def test_pooler_trainable_only_where_a_head_reads_it(tiny_models, toy_tasks):
    """A frozen pooler is what keeps a single-task tagging or QA phase valid under DDP (no unused parameter)."""
    from xstilts.data.load import load_examples
    from xstilts.defaults import phase_defaults
    from xstilts.families.featurize import Collator
    from xstilts.families.table import featurize
    from xstilts.tasks import get_task
    from xstilts.training.loop import TrainTask, train

    for name, reads in (("toy_tag", False), ("toy_cls", True)):
        task = get_task(name)
        enc, tok = load_encoder(str(tiny_models["bert"]))
        model = MultiTaskModel(enc, {name: HeadSpec(name, task.family, task.labels)})
        settings = {**phase_defaults("intermediate"), **TINY}
        feats = featurize(task.family, load_examples(task, "train", "en")[:16], tok, task.labels, settings, train=True)
        train(model, [TrainTask(name, feats)], Collator(pad_id=tok.pad_token_id), settings, seed=0, progress=False)
        assert all(p.requires_grad is reads for p in enc.pooler.parameters()), name


def test_xlmr_pooler_initialized_trained_and_carried(tiny_models, toy_tasks, tmp_path):
    """jiant's XLM-R: the hub checkpoint has no pooler weights, so `pooler: auto` (the default) starts one from the
    config's initializer (seeded), a classification intermediate phase trains it, its checkpoint holds it, and the
    next classification target phase starts from exactly those weights."""
    assert "pooler.dense.weight" not in load_file(str(tiny_models["xlmr"] / "model.safetensors"))
    mid = run_phase(
        PhaseConfig("intermediate", ["toy_cls"], str(tiny_models["xlmr"]), settings=TINY), tmp_path / "mid", False
    )
    carried = load_file(str(mid / "encoder" / "model.safetensors"))
    torch.manual_seed(0)  # the phase's seed: the pooler it started from
    fresh, _ = load_encoder(str(tiny_models["xlmr"]), pooler="auto")
    for name in POOLER:
        assert name in carried, name
        assert not torch.equal(carried[name], fresh.state_dict()[name]), name  # trained
    started: dict[str, torch.Tensor] = {}
    from xstilts.training import phase as phase_module

    original = phase_module.build_model

    def spy(cfg, specs):
        model, tok = original(cfg, specs)
        started.update({k: v.detach().clone() for k, v in model.encoder.state_dict().items() if k in POOLER})
        return model, tok

    phase_module.build_model = spy
    try:
        tgt = run_phase(PhaseConfig("target", ["toy_target"], str(mid), settings=TINY), tmp_path / "tgt", False)
    finally:
        phase_module.build_model = original
    for name in POOLER:
        assert torch.equal(started[name], carried[name]), name  # the target phase starts from the carried pooler
    after = load_file(str(tgt / "encoder" / "model.safetensors"))
    assert not torch.equal(after["pooler.dense.weight"], carried["pooler.dense.weight"])


def test_pooler_none_keeps_todays_behaviour(tiny_models, toy_tasks, tmp_path):
    cfg = PhaseConfig("intermediate", ["toy_cls"], str(tiny_models["xlmr"]), settings={**TINY, "pooler": "none"})
    out = run_phase(cfg, tmp_path / "none", progress=False)
    assert "pooler.dense.weight" not in load_file(str(out / "encoder" / "model.safetensors"))
