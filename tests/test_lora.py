"""LoRA phases (`finetune: lora`, training/trainable.py): only the LoRA matrices, the heads and the pooler train; the
update is merged into a plain encoder (base + scale * B A); `lora_store: adapter` checkpoints hold the update and a
reference to their base and load as the merged encoder; a LoRA grid resumes and evaluates as a full one."""

from __future__ import annotations

import json
from functools import partial

import pytest
import torch
from safetensors.torch import load_file

from tests.helpers import PHASE_TINY as TINY
from xstilts.defaults import phase_defaults
from xstilts.evaluation.task_eval import dev_evaluator
from xstilts.modeling.model import HeadSpec, MultiTaskModel, load_checkpoint, load_encoder
from xstilts.training.phase import PhaseConfig
from xstilts.training.phase import run_phase as _run_phase

run_phase = partial(_run_phase, dev_scorer=dev_evaluator)
LORA = {**TINY, "finetune": "lora", "lora_rank": 4, "lora_alpha": 8, "learning_rate": 1e-2}


def _train(model_dir, task_name, settings):
    from xstilts.data.load import load_examples
    from xstilts.families.featurize import Collator
    from xstilts.families.table import featurize
    from xstilts.tasks import get_task
    from xstilts.training.loop import TrainTask, train

    task = get_task(task_name)
    enc, tok = load_encoder(str(model_dir))
    torch.manual_seed(0)
    model = MultiTaskModel(enc, {task_name: HeadSpec(task_name, task.family, task.labels)})
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    full = {**phase_defaults("intermediate"), **settings}
    feats = featurize(task.family, load_examples(task, "train", "en")[:32], tok, task.labels, full, train=True)
    result = train(
        model, [TrainTask(task_name, feats)], Collator(pad_id=tok.pad_token_id), full, seed=0, progress=False
    )
    return model, before, result


@pytest.mark.parametrize("kind", ["bert", "xlmr"])
def test_lora_trains_only_lora_heads_and_pooler_and_merges_exactly(tiny_models, toy_tasks, kind):
    model, before, result = _train(tiny_models[kind], "toy_cls", {**LORA, "lora_store": "adapter"})
    adapter = model.adapter
    assert adapter is not None and adapter.lora
    scale = LORA["lora_alpha"] / LORA["lora_rank"]
    after = model.state_dict()
    assert sorted(after) == sorted(before)  # merged: a plain encoder, no LoRA modules left
    assert not any(".lora_" in k for k in after)
    targets = {k.split(".lora_")[0] + ".weight" for k in adapter.lora}
    assert targets and all(t.rsplit(".", 2)[-2] in ("query", "value") for t in targets)
    for name, value in after.items():
        enc_name = name.removeprefix("encoder.")
        if enc_name in targets:
            stem = enc_name.removesuffix(".weight")
            a = adapter.lora[f"{stem}.lora_A.default.weight"]
            b = adapter.lora[f"{stem}.lora_B.default.weight"]
            assert b.abs().sum() > 0, name  # B starts at zero: trained
            torch.testing.assert_close(value, before[name] + scale * (b @ a), atol=1e-5, rtol=0)
        elif name.startswith("heads."):
            continue
        elif ".pooler." in f".{enc_name}" and kind == "bert":
            assert not torch.equal(value, before[name]), name  # the classifier reads the pooler: trained fully
        else:
            assert torch.equal(value, before[name]), name  # every other encoder weight frozen (no weight decay either)
    assert any(not torch.equal(after[k], before[k]) for k in after if k.startswith("heads."))
    info = result.trainable
    assert info["finetune"] == "lora" and info["lora_rank"] == 4
    assert 0 < info["trained_parameters"] < info["parameters"] / 5


def test_full_mode_and_frozen_embeddings_decided_in_one_place(tiny_models, toy_tasks):
    from xstilts.training.trainable import prepare

    enc, _ = load_encoder(str(tiny_models["bert"]))
    model = MultiTaskModel(enc, {"t": HeadSpec("t", "tagging", ["a", "b"])})
    settings = {**phase_defaults("intermediate"), "freeze_embeddings": True}
    prepare(model, ["t"], settings)
    assert not enc.get_input_embeddings().weight.requires_grad
    assert not any(p.requires_grad for p in enc.pooler.parameters())  # a tagging head does not read it
    assert all(p.requires_grad for p in model.heads.parameters())
    prepare(model, ["t"], phase_defaults("intermediate"))  # the next decision starts afresh
    assert enc.get_input_embeddings().weight.requires_grad


def test_adapter_checkpoint_is_small_and_loads_as_the_merged_encoder(tiny_models, toy_tasks, tmp_path):
    start = str(tiny_models["xlmr"])
    merged = run_phase(PhaseConfig("intermediate", ["toy_cls"], start, settings=LORA), tmp_path / "m", False)
    kept = run_phase(
        PhaseConfig("intermediate", ["toy_cls"], start, settings={**LORA, "lora_store": "adapter"}),
        tmp_path / "a",
        False,
    )
    assert (merged / "encoder" / "model.safetensors").is_file() and not (merged / "adapter").exists()
    assert not list((kept / "encoder").glob("*.safetensors")) and (kept / "adapter" / "adapter.safetensors").is_file()
    plain = load_file(str(merged / "encoder" / "model.safetensors"))
    model, _ = load_checkpoint(kept)
    loaded = model.encoder.state_dict()
    assert sorted(loaded) == sorted(plain)  # the pooler XLM-R lacked was initialized, trained and kept
    for k, v in plain.items():  # the same phase (same seed), stored two ways
        torch.testing.assert_close(loaded[k], v, atol=1e-5, rtol=0)
    size = lambda d: sum(p.stat().st_size for p in d.rglob("*.safetensors"))  # noqa: E731
    assert size(kept) * 3 < size(merged)
    # a target phase from the adapter checkpoint: chained adapters load through their bases
    tgt = run_phase(
        PhaseConfig("target", ["toy_target"], str(kept), settings={**LORA, "lora_store": "adapter"}),
        tmp_path / "t",
        False,
    )
    again, _ = load_checkpoint(tgt)
    assert "toy_target" in again.heads


def test_bf16_checkpoint_halves_the_encoder_and_loads_as_float32(tiny_models, toy_tasks, tmp_path):
    start = str(tiny_models["bert"])
    full = run_phase(PhaseConfig("intermediate", ["toy_tag"], start, settings=TINY), tmp_path / "f", False)
    half = PhaseConfig("intermediate", ["toy_tag"], start, settings=TINY, checkpoint_dtype="bfloat16")
    assert (
        half.job()["checkpoint_dtype"] == "bfloat16"
        and "checkpoint_dtype" not in half.__class__("intermediate", ["toy_tag"], start, settings=TINY).job()
    )
    bf = run_phase(half, tmp_path / "h", False)
    a, b = (d / "encoder" / "model.safetensors" for d in (full, bf))
    assert b.stat().st_size < 0.6 * a.stat().st_size
    assert {t.dtype for t in load_file(str(b)).values()} == {torch.bfloat16}
    model, _ = load_checkpoint(bf)
    assert all(p.dtype == torch.float32 for p in model.encoder.parameters())
    for k, v in load_file(str(a)).items():
        torch.testing.assert_close(model.encoder.state_dict()[k], v, atol=0.02, rtol=0.01)


def _grid(tmp_path, model_dir, name, target_hp):
    import yaml

    from xstilts.experiments.spec import load_spec

    hp = {"max_seq_length": 32, "batch_size": 8, "grad_accumulation": 1, "learning_rate": 1e-3, "max_steps": 3}
    spec = {
        "name": name,
        "models": [{"name": "tiny", "path": str(model_dir), "retrieval_layer": 1}],
        "intermediate": [{"name": "none"}, {"name": "cls", "tasks": ["toy_cls"]}],
        "targets": ["toy_target", "toy_retrieval"],
        "hyperparameters": {"intermediate": hp, "target": {**hp, **target_hp}},
    }
    (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    return load_spec(tmp_path / f"{name}.yaml")


def test_a_lora_target_phase_runs_resumes_and_evaluates_like_a_full_one(tiny_models, toy_tasks, tmp_path):
    import csv

    from xstilts.experiments.plan import build_plan
    from xstilts.experiments.run import run_local

    def rows(out):
        with (out / "results.csv").open() as f:
            return sorted(csv.DictReader(f), key=lambda r: (r["node"], r["language"], r["split"], r["metric"]))

    full = _grid(tmp_path, tiny_models["xlmr"], "full", {})
    lora = _grid(tmp_path, tiny_models["xlmr"], "lora", {"finetune": "lora", "learning_rate": 1e-2})
    adapter = _grid(tmp_path, tiny_models["xlmr"], "adapter", {"finetune": "lora", "lora_store": "adapter"})
    shape = None
    for spec in (full, lora, adapter):
        out = tmp_path / spec.name
        summary = run_local(spec, out, progress=False)
        assert summary["failed"] == {}, summary["failed"]
        got = rows(out)
        keys = sorted((r["intermediate"], r["target"], r["language"], r["split"], r["metric"]) for r in got)
        assert shape is None or keys == shape  # the same rows as full fine-tuning gives
        shape = keys
        assert run_local(spec, out, progress=False)["ran"] == []
        # an evaluation to recompute: its (dropped) LoRA target is trained again, with the same numbers
        node = next(n for n in build_plan(spec) if n.id == "evaluation/tiny/cls/toy_target/s0")
        (out / "nodes" / node.dirname() / "done.json").unlink()
        again = run_local(spec, out, progress=False)
        assert set(again["ran"]) == {"target/tiny/cls/toy_target/s0", node.id}
        assert rows(out) == got
    tgt = next(n for n in build_plan(lora) if n.kind == "target")
    record = json.loads((tmp_path / "lora" / "nodes" / tgt.dirname() / "phase.json").read_text())
    assert record["train"]["trainable"]["finetune"] == "lora"
    assert record["job"]["loop"]["finetune"] == "lora"
