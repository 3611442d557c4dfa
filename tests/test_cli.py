"""The command line: --help everywhere; user errors print one line (file, line, what was expected) and exit with code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

COMMANDS = [
    "tasks",
    "train",
    "align",
    "evaluate",
    "score",
    "plan",
    "run",
    "status",
    "results",
    "report",
    "compare",
    "demo",
]


def xstilts(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "xstilts.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_help(command):
    res = xstilts(command, "--help")
    assert res.returncode == 0, res.stderr
    assert "Usage" in res.stdout


def assert_user_error(res: subprocess.CompletedProcess, *fragments: str) -> None:
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    err = res.stderr.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    for f in fragments:
        assert f in err, err


def test_unknown_task(tmp_path):
    assert_user_error(
        xstilts("train", "-t", "no_such_task", "--model", "x", "--out", str(tmp_path / "o")),
        "unknown task 'no_such_task'",
    )


def test_missing_spec_file(tmp_path):
    assert_user_error(
        xstilts("run", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "o")), "missing.yaml", "not found"
    )


def test_malformed_row_names_file_and_line(tiny_models, toy_tasks, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.en.jsonl").write_text('{"guid": "a", "text_a": "good", "label": "pos"}\n{"guid": "b", "text_a": \n')
    res = xstilts(
        "train",
        "-t",
        "toy_cls",
        "--model",
        str(tiny_models["bert"]),
        "--data-dir",
        f"toy_cls={data}",
        "--out",
        str(tmp_path / "o"),
        env={"XSTILTS_TASK_DIRS": str(toy_tasks)},
    )
    assert_user_error(res, "train.en.jsonl:2", "expected one JSON object per line")
    (data / "train.en.jsonl").write_text('{"guid": "a", "text": "good", "label": "pos"}\n')
    res = xstilts(
        "train",
        "-t",
        "toy_cls",
        "--model",
        str(tiny_models["bert"]),
        "--data-dir",
        f"toy_cls={data}",
        "--out",
        str(tmp_path / "o"),
        env={"XSTILTS_TASK_DIRS": str(toy_tasks)},
    )
    assert_user_error(res, "train.en.jsonl:1", "unexpected field(s) ['text']")


def test_missing_data_dir_and_bad_set(tiny_models, toy_tasks, tmp_path):
    env = {"XSTILTS_TASK_DIRS": str(toy_tasks)}
    res = xstilts(
        "train",
        "-t",
        "toy_cls",
        "--model",
        str(tiny_models["bert"]),
        "--data-dir",
        f"toy_cls={tmp_path / 'nope'}",
        "--out",
        str(tmp_path / "o"),
        env=env,
    )
    assert_user_error(res, "nope", "data directory not found")
    res = xstilts(
        "train",
        "-t",
        "toy_cls",
        "--model",
        str(tiny_models["bert"]),
        "--set",
        "learning_rate",
        "--out",
        str(tmp_path / "o"),
        env=env,
    )
    assert_user_error(res, "--set expects key=value")


def test_train_then_evaluate_via_cli(tiny_models, toy_tasks, tmp_path):
    env = {"XSTILTS_TASK_DIRS": str(toy_tasks)}
    res = xstilts(
        "train",
        "-t",
        "toy_target",
        "--phase",
        "target",
        "--model",
        str(tiny_models["xlmr"]),
        "--set",
        "max_steps=2",
        "--set",
        "max_seq_length=32",
        "--out",
        str(tmp_path / "ck"),
        env=env,
    )
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "ck" / "phase.json").is_file()
    res = xstilts(
        "evaluate",
        "--checkpoint",
        str(tmp_path / "ck"),
        "-t",
        "toy_target",
        "--languages",
        "en,xx",
        "--split",
        "dev,test",
        "--out",
        str(tmp_path / "ev"),
        env=env,
    )
    assert res.returncode == 0, res.stderr
    rows = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert {(r["language"], r["split"]) for r in rows} == {("en", "dev"), ("en", "test"), ("xx", "dev"), ("xx", "test")}
    assert (tmp_path / "ev" / "predictions" / "toy_target" / "test-xx.tsv").is_file()
    res = xstilts(
        "evaluate",
        "--checkpoint",
        str(tmp_path / "ck"),
        "-t",
        "toy_target",
        "--languages",
        "fr",
        "--out",
        str(tmp_path / "ev2"),
        env=env,
    )
    assert_user_error(res, "no language 'fr'")


def test_tasks_json_lists_every_task():
    res = xstilts("tasks", "--json")
    assert res.returncode == 0, res.stderr
    tasks = json.loads(res.stdout)
    for t in tasks:
        assert {"name", "role", "family", "languages", "source", "metric"} <= set(t)
    inter = [t for t in tasks if t["role"] == "intermediate" and not t["name"].startswith("demo_")]
    assert len(inter) >= 30
    targets = {t["name"]: t for t in tasks if t["role"] == "target"}
    assert {"xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba"} <= set(targets)
    assert targets["xnli"]["source"]["hub"] == "google/xtreme"
    assert len(targets["panx"]["languages"]) == 40
