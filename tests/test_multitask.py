"""Multi-task intermediate training (samplers, per-task caps, per-task validation), MLM co-training on real gettext
translations, and translated intermediate data, each as an intermediate setting of an experiment."""

from __future__ import annotations

import csv
import json
import shutil
from functools import partial

import pytest
import yaml

from xstilts.evaluation.task_eval import dev_evaluator
from xstilts.training.phase import PhaseConfig
from xstilts.training.phase import run_phase as _run_phase

run_phase = partial(_run_phase, dev_scorer=dev_evaluator)  # early stopping on dev, as the CLI and executors run it

FAMILIES = ["toy_cls", "toy_tag", "toy_mc", "toy_span"]  # classification, tagging, multiple choice, extractive QA
CAPS = {"toy_cls": 96, "toy_tag": 48, "toy_mc": 24, "toy_span": 12}


@pytest.mark.parametrize(
    "sampler,expected",
    [
        ("proportional", [96 / 180, 48 / 180, 24 / 180, 12 / 180]),
        ("temperature", [x / sum(c**0.5 for c in CAPS.values()) for x in (96**0.5, 48**0.5, 24**0.5, 12**0.5)]),
        ("uniform", [0.25] * 4),
    ],
)
def test_sampler_proportions_and_per_task_validation(sampler, expected, tiny_models, toy_tasks, tmp_path):
    settings = {
        "batch_size": 1,
        "grad_accumulation": 1,
        "max_seq_length": 32,
        "learning_rate": 1e-4,
        "max_steps": 1500,
        "eval_every_steps": 750,
        "max_dev_examples": 8,
    }
    out = run_phase(
        PhaseConfig(
            "intermediate",
            FAMILIES,
            str(tiny_models["bert"]),
            settings=settings,
            sampler=sampler,
            temperature=2.0,
            task_settings={t: {"max_train_examples": c} for t, c in CAPS.items()},
        ),
        tmp_path / sampler,
        progress=False,
    )
    rec = json.loads((out / "phase.json").read_text())
    props = rec["train"]["task_proportions"]
    for task, want in zip(FAMILIES, expected, strict=False):
        assert props[task]["configured"] == pytest.approx(want)
        assert abs(props[task]["observed"] - want) <= 0.02, (task, props[task])
    assert {t: rec["data"][t]["train_examples"] for t in FAMILIES} == CAPS
    # Per-task validation metrics at every evaluation.
    for h in rec["train"]["history"]:
        assert set(h["metrics"]) == set(FAMILIES)
    assert set(json.loads((out / "metrics.json").read_text())) == set(FAMILIES)


def test_mlm_and_translated_settings_end_to_end(tiny_models, toy_tasks, tmp_path):
    from xstilts.data.local import read_local
    from xstilts.experiments.run import run_local
    from xstilts.experiments.spec import load_spec
    from xstilts.tasks import get_task

    # MLM corpus: real human translations (gettext catalogs, via the demo's Tatoeba-style data) in four languages.
    tatoeba = get_task("demo_tatoeba")
    lines = [
        ex.source
        for lang in ("de", "ru", "zh", "ar")
        for ex in read_local(tatoeba.local_dir, "test", lang, "retrieval")[:40]
    ]
    corpus = tmp_path / "mlm.txt"
    corpus.write_text("\n".join(lines) + "\n", encoding="utf-8")
    # Translated intermediate data: toy_cls in the pseudo-language xx, from the user's files with a language tag.
    translated = tmp_path / "toy_cls_xx"
    translated.mkdir()
    shutil.copy(toy_tasks / "toy_cls" / "dev.xx.jsonl", translated / "train.xx.jsonl")
    shutil.copy(toy_tasks / "toy_cls" / "test.xx.jsonl", translated / "dev.xx.jsonl")
    hp = {"max_steps": 4, "batch_size": 8, "grad_accumulation": 1, "max_seq_length": 32, "learning_rate": 1e-3}
    spec = {
        "name": "variants",
        "models": [{"name": "tiny", "path": str(tiny_models["xlmr"])}],
        "intermediate": [
            {"name": "none"},
            {"name": "cls", "tasks": ["toy_cls"]},
            {"name": "cls+mlm", "tasks": ["toy_cls"], "mlm_corpus": str(corpus)},
            {
                "name": "cls-translated",
                "tasks": ["toy_cls"],
                "data_dirs": {"toy_cls": str(translated)},
                "languages": {"toy_cls": "xx"},
            },
        ],
        "targets": ["toy_target"],
        "hyperparameters": {"intermediate": hp, "target": hp},
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    summary = run_local(load_spec(path), tmp_path / "run", progress=False)
    assert summary["failed"] == {}
    with (tmp_path / "run" / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {r["intermediate"] for r in rows} == {"none", "cls", "cls+mlm", "cls-translated"}
    nodes = {
        p.name: json.loads((p / "phase.json").read_text())
        for p in (tmp_path / "run" / "nodes").iterdir()
        if p.name.startswith("inter")
    }
    mlm = next(r for n, r in nodes.items() if "cls+mlm" in n)
    assert mlm["data"]["mlm"]["train_features"] == len(lines)
    assert mlm["train"]["task_batches"]["mlm"] > 0
    trans = next(r for n, r in nodes.items() if "cls-translated" in n)
    assert trans["data"]["toy_cls"]["language"] == "xx" and trans["data"]["toy_cls"]["train_examples"] == 32
    hashes = {n.split("-")[-1] for n in nodes}
    assert len(hashes) == 3  # three distinct intermediate models


def test_stratified_sampler_matches_mixture_at_every_scale():
    import numpy as np

    from xstilts.training.sampling import TaskSampler, task_probabilities

    probs = task_probabilities([1000, 300, 30, 7], "temperature", 3.0)
    s = TaskSampler(probs, np.random.default_rng(0))
    draws = [s.next() for _ in range(2050)]
    for n in (100, 500, 2050):
        observed = np.bincount(draws[:n], minlength=4) / n
        assert np.abs(observed - probs).max() <= 0.01 + 1 / n, (n, observed, probs)
    assert draws[:100] != sorted(draws[:100])  # shuffled within blocks
