"""The selection study's candidate tasks: registered, loadable, of 4+ families, disjoint from target training data."""

from __future__ import annotations

import re

from xstilts.data.load import load_examples
from xstilts.experiments.spec import load_spec
from xstilts.selection.probe import example_text
from xstilts.tasks import get_task, list_tasks

NEW = ["sel_deb_section", "sel_deb_use", "sel_deb_size", "sel_man_option", "sel_wn_antonym", "sel_wn_meronym"]


def _norm(t: str) -> str:
    return re.sub(r"[\W_]+", " ", t.lower()).strip()


def test_candidates_load_and_span_four_families():
    families = set()
    for name in NEW:
        task = get_task(name)
        assert task.role == "intermediate" and task.languages == ["en"]
        train, dev = load_examples(task, "train", "en"), load_examples(task, "dev", "en")
        assert 1000 <= len(train) <= 2000 and 200 <= len(dev) <= 300
        families.add(task.family)
        if task.family == "span_qa":
            for ex in train[:50]:
                a = ex.answers[0]
                assert ex.context[a.answer_start : a.answer_start + len(a.text)] == a.text
        if task.family == "multiple_choice":
            assert all(len(set(ex.choices)) == 4 for ex in train)
    assert len(families) >= 4


def test_no_target_training_text_reused():
    target_texts = set()
    for t in list_tasks("target"):
        if t.name.startswith("demo_") and "train" in t.splits:
            target_texts |= {_norm(example_text(e)) for e in load_examples(t, "train", "en")}
    for name in NEW:
        for ex in load_examples(get_task(name), "train", "en"):
            assert _norm(example_text(ex)) not in target_texts, (name, ex)


def test_study_spec_has_ten_single_task_candidates():
    from pathlib import Path

    spec = load_spec(Path(__file__).resolve().parents[1] / "experiments" / "selection-demo.yaml")
    single = [s.tasks[0] for s in spec.intermediate if len(s.tasks) == 1]
    assert len(single) >= 10 and set(NEW) <= set(single)
    assert len(spec.seeds) == 3 and {m.path for m in spec.models} == {"embedded", "embedded-english"}
