"""`xstilts prepare` (experiments/prepare.py): against the rehearsal's hub mirror, experiments/paper.yaml's plan gets
every dataset and model it reaches, the offline check passes, and a following offline run needs nothing more; a
dataset missing from the mirror is reported by name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from xstilts.experiments.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def mirrored(tmp_path, monkeypatch, tiny_models):
    """paper.yaml with its data served by the rehearsal's hub mirror and generated data directories, its models still
    the hub ids (a stand-in snapshot_download serves tiny models for them)."""
    import huggingface_hub

    from xstilts.rehearsal.rehearse import _reached, _templates, toy_spec, write_hub_mirror

    spec = load_spec(ROOT / "experiments" / "paper.yaml")
    root = tmp_path / "rehearsal"
    templates, need = _templates(), _reached(spec)
    write_hub_mirror(root / "hub", {n: p for n, p in need.items() if n not in spec.data_dirs}, templates)
    toy = toy_spec(spec, root, need, templates)
    for key, value in {
        "XSTILTS_HUB_MIRROR": str(root / "hub"),
        "HF_DATASETS_CACHE": str(root / "hf-cache"),
        "HF_HUB_OFFLINE": "1",
    }.items():
        monkeypatch.setenv(key, value)
    asked: list[tuple[str, bool]] = []

    def snapshot_download(repo_id, allow_patterns=None, local_files_only=False, **kw):
        asked.append((repo_id, local_files_only))
        assert "*.safetensors" in allow_patterns and "*.json" in allow_patterns
        return str(tiny_models["xlmr"])

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    return spec, toy, root, asked


def test_prepare_gets_everything_paper_yaml_reaches_and_the_offline_check_passes(mirrored):
    from xstilts.experiments.plan import build_plan
    from xstilts.experiments.prepare import _dataset_name, describe, plan_reads, prepare_spec

    spec, toy, root, asked = mirrored
    with_hub_models = toy.model_copy(update={"models": spec.models})
    result = prepare_spec(with_hub_models)
    assert result.ok, result.problems + result.offline_problems
    models = {name for kind, name, _, _ in result.fetched if kind == "model"}
    assert models == {"xlm-roberta-large"} and ("xlm-roberta-large", True) in asked  # the offline check asked again
    reads, _ = plan_reads(build_plan(with_hub_models))
    datasets = {name for kind, name, _, _ in result.fetched if kind == "dataset"}
    assert datasets == {_dataset_name(*r) for r in reads}
    assert any(name.startswith("google/xtreme") for name in datasets) and any("nyu-mll/glue" in n for n in datasets)
    assert len(datasets) > 100  # every (split, language) of the nine targets and the ten intermediate settings
    lines = describe(result)
    assert lines[-1].startswith("check: with HF_HUB_OFFLINE=1") and any("MB" in line for line in lines)

    # a following offline run of a slice of the toy grid reads only what is there
    from xstilts.experiments.run import run_local

    os.environ["HF_DATASETS_OFFLINE"] = "1"
    try:
        summary = run_local(
            toy, root.parent / "run", progress=False, only={"intermediate": ["none", "mnli"], "target": ["xnli"]}
        )
    finally:
        os.environ.pop("HF_DATASETS_OFFLINE")
    assert summary["failed"] == {} and summary["ran"]


def test_a_dataset_missing_from_the_mirror_is_reported_by_name(mirrored):
    from typer.testing import CliRunner

    from xstilts import cli
    from xstilts.data.hub import format_pattern, mirror_file
    from xstilts.tasks import get_task

    spec, toy, root, _ = mirrored
    xnli = get_task("xnli")
    config = format_pattern(xnli.source.config, "sw") if xnli.source.config else None
    split = format_pattern(xnli.source.splits["test"], "sw")
    mirror_file(root / "hub", xnli.source.id, config, split).unlink()  # XNLI's test split, one config for all
    path = root / "toy.yaml"
    path.write_text(yaml.safe_dump(toy.model_dump(mode="json")), encoding="utf-8")
    res = CliRunner().invoke(cli.app, ["prepare", str(path), "--only", "intermediate=none"])
    assert res.exit_code == 1, res.output
    named = [line for line in res.output.splitlines() if line.startswith("missing dataset")]
    assert named and all(xnli.source.id in line and "xnli" in line for line in named), res.output
    assert "the hub mirror has no" in named[0]
