"""Benchmarks as data (xstilts.benchmarks): the XTREME file reproduces the tables the code held before it, and a toy
benchmark added as a YAML file alone is scored, with its group averages, by `xstilts score --benchmark toy`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.helpers import run_without_torch
from xstilts import benchmarks as B
from xstilts.errors import UserError
from xstilts.evaluation import scorer
from xstilts.families import submission as S
from xstilts.languages import XTREME_GROUP2TASK, XTREME_TASK2LANGS
from xstilts.tasks import get_task

OFFICIAL = Path(__file__).parent / "fixtures" / "scorer" / "official_mock"

# --- the tables as the code held them before the benchmark file (languages.py, evaluation/scorer.py at ddf807c) -----

# fmt: off
BEFORE_TASK2LANGS = {
    "xnli": ["ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh"],
    "pawsx": ["de", "en", "es", "fr", "ja", "ko", "zh"],
    "udpos": ["af", "ar", "bg", "de", "el", "en", "es", "et", "eu", "fa", "fi", "fr", "he", "hi", "hu", "id", "it", "ja",
              "kk", "ko", "mr", "nl", "pt", "ru", "ta", "te", "th", "tl", "tr", "ur", "vi", "yo", "zh"],
    "panx": ["ar", "he", "vi", "id", "jv", "ms", "tl", "eu", "ml", "ta", "te", "af", "nl", "en", "de", "el", "bn", "hi",
             "mr", "ur", "fa", "fr", "it", "pt", "es", "bg", "ru", "ja", "ka", "ko", "th", "sw", "yo", "my", "zh", "kk",
             "tr", "et", "fi", "hu"],
    "xquad": ["en", "es", "de", "el", "ru", "tr", "ar", "vi", "th", "zh", "hi"],
    "mlqa": ["en", "es", "de", "ar", "hi", "vi", "zh"],
    "tydiqa": ["en", "ar", "bn", "fi", "id", "ko", "ru", "sw", "te"],
    "bucc2018": ["de", "fr", "ru", "zh"],
    "tatoeba": ["ar", "he", "vi", "id", "jv", "tl", "eu", "ml", "ta", "te", "af", "nl", "de", "el", "bn", "hi", "mr",
                "ur", "fa", "fr", "it", "pt", "es", "bg", "ru", "ja", "ka", "ko", "th", "sw", "zh", "kk", "tr", "et",
                "fi", "hu"],
}
# fmt: on
BEFORE_GROUP2TASK = {
    "classification": ["pawsx", "xnli"],
    "tagging": ["udpos", "panx"],
    "qa": ["xquad", "mlqa", "tydiqa"],
    "retrieval": ["bucc2018", "tatoeba"],
}
BEFORE_TASK_METRIC = {
    "xnli": ("accuracy", "classification"),
    "pawsx": ("accuracy", "classification"),
    "udpos": ("f1", "tagging"),
    "panx": ("f1", "tagging"),
    "xquad": ("squad_em_f1", "span_qa"),
    "mlqa": ("mlqa_em_f1", "span_qa"),
    "tydiqa": ("squad_em_f1", "span_qa"),
    "bucc2018": ("bucc_f1", "retrieval"),
    "tatoeba": ("retrieval_accuracy", "retrieval"),
}
# (file suffix, prediction reader, label reader) per task
BEFORE_READERS = {
    **dict.fromkeys(["xnli", "pawsx", "tatoeba", "bucc2018"], ("tsv", "read_labels", "read_labels")),
    **dict.fromkeys(["udpos", "panx"], ("tsv", "read_tagging", "read_tagging")),
    **dict.fromkeys(["xquad", "mlqa", "tydiqa"], ("json", "read_qa_predictions", "read_qa_labels")),
}


def test_the_xtreme_file_reproduces_the_tables_exactly():
    xtreme = B.get_benchmark("xtreme")
    assert xtreme == B.XTREME and xtreme.label == "XTREME" and xtreme.average == "tasks"
    # the same values in the same order (task order, language order, group order)
    assert list(xtreme.task2langs().items()) == list(BEFORE_TASK2LANGS.items())
    assert list(xtreme.group2task().items()) == list(BEFORE_GROUP2TASK.items())
    # the Python names are views of the file
    assert list(XTREME_TASK2LANGS.items()) == list(BEFORE_TASK2LANGS.items())
    assert list(XTREME_GROUP2TASK.items()) == list(BEFORE_GROUP2TASK.items())
    assert scorer.XTREME_TASK_METRIC == BEFORE_TASK_METRIC
    assert {t: (r[0], r[1].__name__, r[2].__name__) for t, r in scorer.READERS.items()} == BEFORE_READERS
    assert scorer.QA_TASKS == ("xquad", "mlqa", "tydiqa")
    # `languages: xtreme` in the task YAMLs expands to the file's lists; each task's group and metric agree with it
    for name, spec in xtreme.tasks.items():
        task = get_task(name)
        assert task.languages == BEFORE_TASK2LANGS[name]
        assert (task.metric, task.family) == (spec.metric, spec.family)
        assert task.group == xtreme.group_of(name)


def test_xtreme_all_task_is_the_mean_over_tasks_as_the_official_scorer():
    """evaluate.py: all_task = mean of the nine task scores (not of the four group means); the golden task averages
    themselves are checked in test_scorer."""
    result = scorer.score_predictions(OFFICIAL / "predictions", OFFICIAL / "labels")
    tasks = [result[t]["avg_metric"] for t in BEFORE_TASK2LANGS]
    groups = [sum(result[t]["avg_metric"] for t in ts) / len(ts) for ts in BEFORE_GROUP2TASK.values()]
    assert result["all_task"] == sum(tasks) / 9
    assert result["all_task"] != pytest.approx(sum(groups) / 4)  # the two averages differ on the mock submission
    assert [result[g] for g in BEFORE_GROUP2TASK] == groups
    assert list(result)[:5] == ["all_task", *BEFORE_GROUP2TASK]


# --- a toy benchmark, added as data alone -----------------------------------------------------------------------------

TOY = {
    "name": "toy",
    "title": "Toy",
    "average": "groups",
    "tasks": {
        "toy_nli": {
            "languages": ["en", "de"],
            "family": "classification",
            "metric": "accuracy",
            "submission": "labels",
        },
        "toy_topic": {"languages": ["en"], "family": "classification", "metric": "accuracy", "submission": "labels"},
        "toy_ner": {"languages": ["en", "fr"], "family": "tagging", "metric": "f1", "submission": "tags"},
    },
    "groups": {"sentence": ["toy_nli", "toy_topic"], "word": ["toy_ner"]},
}


def _toy_benchmark_dir(tmp_path: Path, **changes: object) -> Path:
    d = tmp_path / "benchmarks"
    d.mkdir(parents=True, exist_ok=True)
    (d / "toy.yaml").write_text(yaml.safe_dump({**TOY, **changes}, sort_keys=False), encoding="utf-8")
    return d


def _toy_submission(root: Path) -> None:
    """toy_nli: en 1 of 2 right (50), de 2 of 2 (100) -> 75; toy_topic: en 1 of 4 (25) -> 25; toy_ner: en and fr all
    right -> 100. Groups: sentence (75 + 25) / 2 = 50, word 100; all_task (groups): 75 (over tasks it would be 66.67)."""
    for side in ("predictions", "labels"):
        for task in TOY["tasks"]:
            (root / side / task).mkdir(parents=True)
        gold = side == "labels"
        S.write_labels_tsv(root / side / "toy_nli" / "test-en.tsv", ["yes", "no"] if gold else ["yes", "yes"])
        S.write_labels_tsv(root / side / "toy_nli" / "test-de.tsv", ["yes", "no"])
        S.write_labels_tsv(root / side / "toy_topic" / "test-en.tsv", ["a", "b", "c", "d"] if gold else ["a"] * 4)
        for lang in ("en", "fr"):
            S.write_tagging(root / side / "toy_ner" / f"test-{lang}.tsv", [["B-PER", "I-PER", "O"], ["O"]])


def test_a_toy_benchmark_file_is_scored_with_its_group_averages_by_the_cli(tmp_path, monkeypatch):
    monkeypatch.setenv(B.ENV_DIRS, str(_toy_benchmark_dir(tmp_path)))
    _toy_submission(tmp_path)
    out = tmp_path / "toy.json"
    args = ["--predictions", str(tmp_path / "predictions"), "--labels", str(tmp_path / "labels")]
    res = run_without_torch("score", *args, "--output", str(out), "--benchmark", "toy")
    assert res.returncode == 0, res.stderr[-2000:]
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["toy_nli"]["accuracy"] == {"en": 50.0, "de": 100.0} and result["toy_nli"]["avg_metric"] == 75.0
    assert result["toy_topic"]["avg_metric"] == 25.0 and result["toy_ner"]["avg_f1"] == 100.0
    assert result["sentence"] == 50.0 and result["word"] == 100.0
    assert result["all_task"] == 75.0  # the mean of the two group means, as the file's `average: groups` says
    assert list(result)[:3] == ["all_task", "sentence", "word"]
    # the same benchmark as a file path, in-process, and with `average: tasks`
    path = _toy_benchmark_dir(tmp_path / "other", average="tasks") / "toy.yaml"
    by_tasks = scorer.score_predictions(tmp_path / "predictions", tmp_path / "labels", benchmark=str(path))
    assert by_tasks["all_task"] == pytest.approx(200 / 3) and by_tasks["sentence"] == 50.0
    # XTREME is still there beside it, and an unknown name lists both
    with pytest.raises(UserError, match=r"unknown benchmark 'glue' \(known: toy, xtreme\)"):
        B.get_benchmark("glue")


def test_a_partial_toy_submission_has_the_complete_groups_only(tmp_path, monkeypatch):
    monkeypatch.setattr(B, "_EXTRA_DIRS", [])
    B.register_benchmark_dir(_toy_benchmark_dir(tmp_path))
    _toy_submission(tmp_path)
    for side in ("predictions", "labels"):
        for path in (tmp_path / side / "toy_topic").iterdir():
            path.unlink()
        (tmp_path / side / "toy_topic").rmdir()
    result = scorer.score_predictions(tmp_path / "predictions", tmp_path / "labels", benchmark="toy")
    assert set(result) == {"word", "toy_nli", "toy_ner"}


def test_a_task_yaml_takes_its_languages_from_a_toy_benchmark(tmp_path, monkeypatch):
    monkeypatch.setenv(B.ENV_DIRS, str(_toy_benchmark_dir(tmp_path)))
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    (tasks / "toy_ner.yaml").write_text(
        "name: toy_ner\nrole: target\nfamily: tagging\nmetric: f1\nlanguages: toy\nlabels: [O, B-PER, I-PER]\n",
        encoding="utf-8",
    )
    (tasks / "toy_other.yaml").write_text(
        "name: toy_other\nrole: target\nfamily: tagging\nmetric: f1\nlanguages: toy\nlabels: [O]\n", encoding="utf-8"
    )
    from xstilts.tasks.registry import load_task_file

    assert load_task_file(tasks / "toy_ner.yaml").languages == ["en", "fr"]
    with pytest.raises(UserError, match=r"toy_other\.yaml: task field 'languages': benchmark 'toy' has no task"):
        load_task_file(tasks / "toy_other.yaml")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"average": "median"}, r"benchmark field 'average': Input should be 'tasks' or 'groups'"),
        ({"groups": {"word": ["toy_ner", "toy_pos"]}}, r"group 'word' names task 'toy_pos', not one of"),
        ({"groups": {"word": ["toy_ner"]}}, r"average 'groups' needs every task in a group; not grouped: toy_nli"),
        ({"tasks": {"t": {"languages": ["en"], "family": "tagging", "metric": "f1"}}}, r"'tasks\.t\.submission'"),
        (
            {"tasks": {"t": {"languages": ["en", "en"], "family": "tagging", "metric": "f1", "submission": "tags"}}},
            r"'tasks\.t': language 'en' listed twice",
        ),
        ({"colour": "red"}, r"benchmark field 'colour': Extra inputs are not permitted"),
    ],
)
def test_a_bad_benchmark_file_is_one_line_naming_file_and_key(tmp_path, change, message):
    path = _toy_benchmark_dir(tmp_path, **change) / "toy.yaml"
    with pytest.raises(UserError, match=message) as info:
        B.load_benchmark_file(path)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)


def test_a_metric_its_family_lacks_fails_before_scoring(tmp_path):
    tasks = {"t": {"languages": ["en"], "family": "tagging", "metric": "bucc_f1", "submission": "tags"}}
    path = _toy_benchmark_dir(tmp_path, tasks=tasks, groups={}, average="tasks") / "toy.yaml"
    (tmp_path / "p" / "t").mkdir(parents=True)
    with pytest.raises(UserError, match=r"benchmark 'toy' task 't': metric 'bucc_f1' is not defined for family"):
        scorer.score_predictions(tmp_path / "p", tmp_path / "p", benchmark=str(path))


def test_the_report_names_the_benchmark_whose_tasks_the_targets_are(tmp_path, monkeypatch):
    from xstilts.analysis.tables import benchmark_of

    assert benchmark_of(list(BEFORE_TASK2LANGS)[::-1]) == "XTREME"
    assert benchmark_of(["toy_nli", "toy_topic", "toy_ner"]) is None
    monkeypatch.setenv(B.ENV_DIRS, str(_toy_benchmark_dir(tmp_path)))
    assert benchmark_of(["toy_nli", "toy_topic", "toy_ner"]) == "Toy"
    assert benchmark_of(["toy_nli", "toy_ner"]) is None
