"""Costs before a run (experiments/costs.py): parameter counts from the table, a folder's safetensors or its config, the
checkpoint bytes of each training mode and dtype, the run directory's peak and end disk under each retention policy,
`xstilts plan --json` carrying them, and `xstilts run` warning when the estimated peak exceeds the free space."""

from __future__ import annotations

import json
import shutil
from collections import namedtuple
from pathlib import Path

import yaml
from safetensors.torch import load_file

from xstilts.experiments.costs import (
    KNOWN_MODELS,
    _config_parameters,
    checkpoint_bytes,
    folder_size,
    model_size,
    plan_costs,
)
from xstilts.experiments.plan import build_plan
from xstilts.experiments.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]


def test_parameter_counts_from_the_table_a_folder_and_its_config(tiny_models):
    assert KNOWN_MODELS["xlm-roberta-large"].parameters == 560e6
    assert model_size({"path": "bert-base-multilingual-cased"}).parameters == 178e6
    assert model_size({"path": "someone/unknown-model"}).parameters is None
    for kind in ("bert", "xlmr"):
        folder = tiny_models[kind]
        actual = sum(t.numel() for t in load_file(str(folder / "model.safetensors")).values())
        size = folder_size(folder)
        assert size is not None and size.parameters == actual and size.source == "safetensors"
        config = json.loads((folder / "config.json").read_text())
        pooler = config["hidden_size"] ** 2 + config["hidden_size"]
        has_pooler = any(k.startswith("pooler.") for k in load_file(str(folder / "model.safetensors")))
        assert _config_parameters(config) == actual + (0 if has_pooler else pooler)
    cut = model_size({"path": "xlm-roberta-large", "layers": 12})
    assert cut.layers == 12 and 250e6 < cut.parameters < 420e6  # 12 of 24 layers of 12.6M each


def _spec(tmp_path: Path, model_dir: Path, name: str, **extra):
    spec = {
        "name": "costs",
        "models": [{"name": "tiny", "path": str(model_dir), "retrieval_layer": 1}],
        "intermediate": [{"name": "none"}, {"name": "cls", "tasks": ["toy_cls"]}],
        "targets": ["toy_target", "toy_retrieval"],
        **extra,
    }
    (tmp_path / name).write_text(yaml.safe_dump(spec), encoding="utf-8")
    return load_spec(tmp_path / name)


def test_disk_by_retention_training_mode_and_dtype(tiny_models, toy_tasks, tmp_path):
    model = Path("xlm-roberta-base")  # a hub id: planned, never loaded
    params = 278e6

    def costs(name, **extra):
        spec = _spec(tmp_path, model, name, **extra)
        nodes = build_plan(spec)
        return nodes, plan_costs(nodes, {n.id: False for n in nodes}, spec.checkpoints.target)

    nodes, drop = costs("drop.yaml")
    _, keep = costs("keep.yaml", checkpoints={"target": "keep"})
    _, half = costs("half.yaml", checkpoints={"target": "keep", "dtype": "bfloat16"})
    lora = {"finetune": "lora", "lora_store": "adapter"}
    _, adapter = costs("lora.yaml", hyperparameters={"intermediate": lora, "target": lora})
    long = {"num_epochs": 1000}  # hours that survive the rounding on toy data
    _, slow = costs("long.yaml", hyperparameters={"target": long})
    _, slow_lora = costs("long-lora.yaml", hyperparameters={"target": {**long, **lora}})
    assert drop["retention"] == "drop_after_eval" and keep["retention"] == "keep"
    disk = {k: v["disk_bytes"] for k, v in (("drop", drop), ("keep", keep), ("half", half), ("adapter", adapter))}
    assert disk["drop"]["end"] < disk["drop"]["peak"] < disk["keep"]["peak"] == disk["keep"]["end"]
    assert disk["half"]["end"] < disk["keep"]["end"]
    assert disk["adapter"]["peak"] < disk["drop"]["peak"]
    assert 0 < slow_lora["gpu_hours"]["target"] < slow["gpu_hours"]["target"]  # LoRA: no frozen-weight gradients
    size = model_size({"path": str(model)})
    training = next(n for n in nodes if n.kind == "intermediate")
    full = checkpoint_bytes(training, size)
    assert full is not None and full >= 4 * params
    assert set(drop["gpu_hours"]) == {"intermediate", "target", "evaluation"}


def test_estimated_checkpoint_bytes_match_a_written_checkpoint(tiny_models, toy_tasks, tmp_path):
    from xstilts.experiments.run import run_local

    spec = _spec(
        tmp_path,
        tiny_models["bert"],
        "run.yaml",
        hyperparameters={"intermediate": {"max_steps": 1, "max_train_examples": 8, "max_seq_length": 32}},
        targets=["toy_retrieval"],
    )
    run_local(spec, tmp_path / "run", progress=False)
    node = next(n for n in build_plan(spec) if n.kind == "intermediate")
    weights = (tmp_path / "run" / "nodes" / node.dirname() / "encoder" / "model.safetensors").stat().st_size
    size = model_size(node.job["model"])
    estimate = checkpoint_bytes(node, size) - (size.vocab or 0) * 68  # weights alone
    assert abs(estimate - weights) < 0.01 * weights + 8192  # the safetensors header: a few KB


def test_plan_json_and_text_carry_costs_and_run_warns_before_a_full_disk(
    tiny_models, toy_tasks, tmp_path, monkeypatch, capsys
):
    from typer.testing import CliRunner

    from xstilts import cli

    path = ROOT / "experiments" / "paper.yaml"
    res = CliRunner().invoke(cli.app, ["plan", str(path), "--json"])
    assert res.exit_code == 0, res.output
    costs = json.loads(res.stdout)["costs"]
    assert costs["disk_peak_gb"] > 10 and costs["gpu_hours_total"] > 10 and not costs["unknown_models"]
    text = CliRunner().invoke(cli.app, ["plan", str(path)]).output
    assert "GPU-hours left by kind" in text and "at the peak" in text

    spec = tmp_path / "s.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "w",
                "models": [{"name": "tiny", "path": str(tiny_models["bert"]), "retrieval_layer": 1}],
                "intermediate": [{"name": "none"}],
                "targets": ["toy_retrieval"],
            }
        )
    )
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**6, 10**6, 10))  # 10 bytes free
    res = CliRunner().invoke(cli.app, ["run", str(spec), "--out", str(tmp_path / "run"), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "warning: the run needs about" in res.output and "GB free" in res.output
