"""The task YAML keys that index tables: `metric` (one table for in-run scoring and the official scorer), `family`,
the declared `retrieval` protocol and the declared `head`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from xstilts.errors import UserError
from xstilts.evaluation.scorer import METRICS as SCORER_METRICS
from xstilts.evaluation.scorer import XTREME_TASK_METRIC
from xstilts.evaluation.task_eval import score
from xstilts.families import FAMILY_TABLE, metric_for, metric_names
from xstilts.families import metrics as M
from xstilts.tasks.registry import get_task, list_tasks, load_task_file

BASE = {
    "name": "my_task",
    "role": "intermediate",
    "family": "classification",
    "labels": ["a", "b"],
    "metric": "accuracy",
    "local_dir": ".",
}


def write_task(tmp_path: Path, **fields) -> Path:
    path = tmp_path / "my_task.yaml"
    path.write_text(yaml.safe_dump({**BASE, **fields}), encoding="utf-8")
    return path


def test_every_metric_name_has_one_implementation_and_every_task_uses_one():
    # a task YAML's valid `metric:` names are the family table's, each with its implementation beside it
    for ops in FAMILY_TABLE.values():
        assert ops.metrics and all(isinstance(m, M.Metric) for m in ops.metrics.values()), ops.name
    for task in list_tasks():
        assert metric_for(task.metric, task.family), task.name
    # the official scorer's rows are the table's rows, named by each XTREME task's own YAML
    for name, (metric, family) in XTREME_TASK_METRIC.items():
        assert (get_task(name).metric, get_task(name).family) == (metric, family)
        assert SCORER_METRICS[name] is FAMILY_TABLE[family].metrics[metric]


def test_unknown_metric_fails_at_load_naming_file_and_valid_values(tmp_path):
    path = write_task(tmp_path, metric="mlqa_em_f2")
    with pytest.raises(UserError) as info:
        load_task_file(path)
    message = str(info.value)
    assert str(path) in message and "mlqa_em_f2" in message
    assert all(name in message for name in metric_names())


def test_metric_of_another_family_fails(tmp_path):
    with pytest.raises(UserError, match=r"metric 'pearson' does not apply to family 'span_qa'; valid: f1, squad_em_f1"):
        load_task_file(write_task(tmp_path, family="span_qa", metric="pearson"))


def test_unknown_family_fails_at_load_naming_file_and_valid_values(tmp_path):
    path = write_task(tmp_path, family="clasification")
    with pytest.raises(UserError) as info:
        load_task_file(path)
    message = str(info.value)
    assert str(path) in message and "family" in message
    assert all(f"'{family}'" in message for family in FAMILY_TABLE)


def _tasks_cli_error(tmp_path: Path, **fields) -> str:
    """`xstilts tasks` with a task YAML of these fields: the one-line error of its exit 2."""
    write_task(tmp_path, **fields)
    res = subprocess.run(
        [sys.executable, "-m", "xstilts.cli", "tasks"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "XSTILTS_TASK_DIRS": str(tmp_path)},
    )
    assert res.returncode == 2, res.stderr
    err = res.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


def test_unknown_metric_is_exit_2_from_the_cli(tmp_path):
    err = _tasks_cli_error(tmp_path, metric="acuracy")
    assert "my_task.yaml" in err and "unknown metric 'acuracy'" in err and "squad_em_f1" in err


def test_unknown_family_is_exit_2_from_the_cli(tmp_path):
    err = _tasks_cli_error(tmp_path, family="clasification")
    assert "my_task.yaml" in err and "unknown family 'clasification'" in err
    assert all(f"'{family}'" in err for family in FAMILY_TABLE)


def test_retrieval_protocol_is_declared(tmp_path):
    assert get_task("bucc2018").retrieval == "mining" and get_task("bucc2018").is_mining
    assert get_task("tatoeba").retrieval == "nearest" and not get_task("tatoeba").is_mining
    assert get_task("demo_bucc").is_mining and not get_task("demo_tatoeba").is_mining
    retrieval = {"family": "retrieval", "labels": None}
    # undeclared: what the metric implies
    assert load_task_file(write_task(tmp_path, **retrieval, metric="bucc_f1")).retrieval == "mining"
    assert load_task_file(write_task(tmp_path, **retrieval, metric="accuracy")).retrieval == "nearest"
    with pytest.raises(UserError, match="retrieval 'mining' does not fit metric 'retrieval_accuracy'"):
        load_task_file(write_task(tmp_path, **retrieval, metric="retrieval_accuracy", retrieval="mining"))
    with pytest.raises(UserError, match="'retrieval' applies to the retrieval family only"):
        load_task_file(write_task(tmp_path, retrieval="nearest"))
    with pytest.raises(UserError, match="retrieval"):
        load_task_file(write_task(tmp_path, **retrieval, metric="bucc_f1", retrieval="mine"))


def test_declared_heads_are_shared_only_by_compatible_tasks(tmp_path):
    assert {t.name for t in list_tasks() if t.head == "nli"} >= {"mnli", "snli", "anli", "anli_plus", "xnli"}
    assert get_task("rte").head == "rte"  # default: the task's own name
    by_head: dict[str, list] = {}
    for task in list_tasks():
        by_head.setdefault(task.head, []).append(task)
    for head, tasks in by_head.items():
        assert len({(t.family, tuple(t.labels or ())) for t in tasks}) == 1, (head, [t.name for t in tasks])
    # the dump (which experiment plans hash) leaves out a head that restates the default
    assert "head" not in get_task("rte").model_dump() and get_task("mnli").model_dump()["head"] == "nli"
    assert load_task_file(write_task(tmp_path, head="shared")).head == "shared"


def test_in_run_score_reads_the_table():
    xnli, mlqa, udpos = get_task("xnli"), get_task("mlqa"), get_task("udpos")
    assert score(xnli, ["neutral", "entailment"], ["neutral", "neutral"]) == {"accuracy": 50.0, "score": 50.0}
    # MLQA's German rule removes "das": the in-run score and the official scorer agree
    in_run = score(mlqa, ["Haus"], [["das Haus"]], "de")
    assert in_run["exact_match"] == 100.0 and in_run["score"] == 100.0
    assert score(get_task("xquad"), ["Haus"], [["das Haus"]], "de")["exact_match"] == 0.0
    official = SCORER_METRICS["udpos"].compute([["NOUN", "VERB"]], [["NOUN", "NOUN"]], "en")
    assert {k: v for k, v in score(udpos, [["NOUN", "VERB"]], [["NOUN", "NOUN"]]).items() if k != "score"} == official
    # per-token accuracy for a tagging task scored by accuracy (CCG supertags)
    assert score(get_task("ccg"), [["A", "B"], ["C"]], [["A", "X"], ["C"]])["accuracy"] == pytest.approx(200 / 3)
    # "f1" on a span_qa task is SQuAD's: token F1 beside exact match, headline their mean
    squad = score(get_task("squad"), ["Gustave Eiffel"], [["Eiffel"]])
    assert squad["exact_match"] == 0.0 and 0 < squad["f1"] < 100
    assert squad["score"] == (squad["exact_match"] + squad["f1"]) / 2
