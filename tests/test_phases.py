"""Phases chain exactly: phase k+1 starts from phase k's encoder weights, tensor for tensor; outputs are atomic."""

from __future__ import annotations

import json
from functools import partial

import pytest
import torch
from safetensors.torch import load_file

from tests.helpers import PHASE_TINY as TINY
from xstilts.evaluation.task_eval import dev_evaluator
from xstilts.tasks import get_task
from xstilts.training.phase import PhaseConfig, build_model, is_complete
from xstilts.training.phase import run_phase as _run_phase

run_phase = partial(_run_phase, dev_scorer=dev_evaluator)  # early stopping on dev, as the CLI and executors run it


def test_next_phase_starts_from_previous_encoder(tiny_models, toy_tasks, tmp_path):
    a = run_phase(
        PhaseConfig("intermediate", ["toy_cls"], str(tiny_models["xlmr"]), settings=TINY),
        tmp_path / "a",
        progress=False,
    )
    assert is_complete(a)
    saved = load_file(str(a / "encoder" / "model.safetensors"))
    base = load_file(str(tiny_models["xlmr"] / "model.safetensors"))
    assert any(not torch.equal(saved[k], base[k]) for k in saved if k in base), "intermediate phase changed nothing"

    cfg = PhaseConfig("target", ["toy_target"], str(a), settings=TINY)
    model, _ = build_model(cfg, {"toy_target": get_task("toy_target")})
    state = model.encoder.state_dict()
    assert set(saved) <= set(state)
    for k, v in saved.items():
        assert torch.equal(state[k], v), k
    # Heads start fresh per task: the intermediate head is not carried into the target phase.
    assert list(model.heads) == ["toy_target"]


def test_keep_head_when_labels_match(tiny_models, toy_tasks, tmp_path):
    a = run_phase(
        PhaseConfig("intermediate", ["toy_cls"], str(tiny_models["bert"]), settings=TINY),
        tmp_path / "a",
        progress=False,
    )
    saved = load_file(str(a / "heads.safetensors"))
    # toy_target trains from toy_cls with the same labels (as XNLI from MNLI): its head can be kept.
    cfg = PhaseConfig("target", ["toy_target"], str(a), settings=TINY, keep_heads=True)
    model, _ = build_model(cfg, {"toy_target": get_task("toy_target")})
    assert list(model.heads) == ["toy_target"]
    for k, v in model.heads["toy_target"].state_dict().items():
        assert torch.equal(v, saved[f"toy_cls.{k}"])
    fresh, _ = build_model(
        PhaseConfig("target", ["toy_target"], str(a), settings=TINY), {"toy_target": get_task("toy_target")}
    )
    assert not torch.equal(fresh.heads["toy_target"].out.weight, saved["toy_cls.out.weight"])


def test_phase_record_and_rerun_is_noop(tiny_models, toy_tasks, tmp_path):
    out = tmp_path / "p"
    run_phase(
        PhaseConfig("intermediate", ["toy_tag", "toy_span"], str(tiny_models["bert"]), settings=TINY),
        out,
        progress=False,
    )
    rec = json.loads((out / "phase.json").read_text())
    assert rec["data"]["toy_tag"]["train_examples"] == 32
    assert set(rec["train"]["task_batches"]) == {"toy_tag", "toy_span"}
    mtime = (out / "phase.json").stat().st_mtime_ns
    run_phase(
        PhaseConfig("intermediate", ["toy_tag", "toy_span"], str(tiny_models["bert"]), settings=TINY),
        out,
        progress=False,
    )
    assert (out / "phase.json").stat().st_mtime_ns == mtime
    assert not list(tmp_path.glob(".p.*"))  # no scratch folder (atomic_directory: .p.<random>.partial) left


def test_tensorboard_tracking_offline(tiny_models, toy_tasks, tmp_path):
    pytest.importorskip("tensorboard")
    settings = {**TINY, "max_steps": 4, "eval_every_steps": 2}
    out = tmp_path / "runs" / "p"
    run_phase(
        PhaseConfig("intermediate", ["toy_cls"], str(tiny_models["bert"]), settings=settings, log_with="tensorboard"),
        out,
        progress=False,
    )
    events = list((tmp_path / "runs" / "logs").rglob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0
