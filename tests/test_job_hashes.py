"""A plan notices every change to what a node reads: a task's labels, source and fields, and a line of a data file, each
change exactly the hashes of the nodes that read them (and of the nodes downstream of those), through `xstilts plan
--json`, on a copy of a task and its data. Jobs carry the tasks' definitions, and `xstilts plan` imports no torch."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.helpers import run_without_torch
from tests.test_plan_jobs import Ran
from xstilts.tasks import registry

ROOT = Path(__file__).resolve().parents[1]
DEMO_TOPIC = ROOT / "src" / "xstilts" / "tasks" / "defs" / "demo" / "demo_topic.yaml"
DEMO_DATA = ROOT / "src" / "xstilts" / "demo_data" / "demo_topic"

HUB_TASK = {
    "name": "hashcheck_hub",
    "role": "target",
    "family": "classification",
    "languages": ["en", "de"],
    "labels": ["neg", "pos"],
    "splits": ["train", "dev", "test"],
    "source": {
        "id": "toy/hashcheck",
        "config": "{lang}",
        "splits": {"train": "train", "dev": "validation", "test": "test"},
        "mapper": "fields",
        "fields": {"text_a": "sentence", "label": "label"},
    },
}


@pytest.fixture
def copied_tasks(tmp_path, monkeypatch):
    """A user task directory: a copy of demo_topic (and its data) as `hashcheck_topic`, and a hub task."""
    monkeypatch.setenv("XSTILTS_HOME", str(tmp_path / "home"))
    tasks = tmp_path / "tasks"
    data = tmp_path / "data" / "hashcheck_topic"
    tasks.mkdir()
    shutil.copytree(DEMO_DATA, data)
    topic = yaml.safe_load(DEMO_TOPIC.read_text(encoding="utf-8"))
    topic.update(name="hashcheck_topic", local_dir=str(data))
    (tasks / "hashcheck_topic.yaml").write_text(yaml.safe_dump(topic), encoding="utf-8")
    (tasks / "hashcheck_hub.yaml").write_text(yaml.safe_dump(HUB_TASK), encoding="utf-8")
    registry.register_task_dir(tasks)
    yield tasks, data
    registry._EXTRA_DIRS.remove(tasks)
    registry._CACHE = None


def _spec(tmp_path: Path) -> Path:
    spec = {
        "name": "hashcheck",
        "models": [{"name": "m", "path": "embedded"}],
        "intermediate": [{"name": "none"}, {"name": "entail", "tasks": ["demo_wn_entail"]}],
        "targets": ["hashcheck_topic", "hashcheck_hub", "demo_pos"],
        "languages": {"hashcheck_topic": ["en", "de"], "demo_pos": ["en", "tr"]},
        "splits": ["test"],
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def _hashes(spec: Path) -> dict[str, str]:
    registry._CACHE = None  # the task YAMLs were edited: read them again, as a new process would
    result = Ran("plan", str(spec), "--json")
    assert result.exit_code == 0, result.output
    return {n["id"]: n["hash"] for n in json.loads(result.output)["nodes"]}


def _changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    assert set(before) == set(after)
    return {k for k in before if before[k] != after[k]}


def _edit_yaml(path: Path, **update) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    path.write_text(yaml.safe_dump(data), encoding="utf-8")


def _nodes_of(hashes: dict[str, str], target: str, kinds: tuple[str, ...] = ("target", "evaluation")) -> set[str]:
    return {k for k in hashes if k.split("/")[0] in kinds and f"/{target}/" in k}


def test_task_edits_change_exactly_the_nodes_that_read_them(copied_tasks, tmp_path):
    tasks, data = copied_tasks
    spec = _spec(tmp_path)
    base = _hashes(spec)
    assert _hashes(spec) == base  # deterministic, the fingerprint cache warm or cold

    topic_nodes = _nodes_of(base, "hashcheck_topic")
    hub_nodes = _nodes_of(base, "hashcheck_hub")
    assert len(topic_nodes) == len(hub_nodes) == 4  # target + evaluation, for each of two settings

    # labels: reordered (every label id changes)
    topic_yaml = tasks / "hashcheck_topic.yaml"
    labels = yaml.safe_load(topic_yaml.read_text(encoding="utf-8"))["labels"]
    _edit_yaml(topic_yaml, labels=list(reversed(labels)))
    step = _hashes(spec)
    assert _changed(base, step) == topic_nodes

    # source: another hub config; fields: another column
    hub_yaml = tasks / "hashcheck_hub.yaml"
    _edit_yaml(hub_yaml, source={"config": "v2.{lang}"})
    after_source = _hashes(spec)
    assert _changed(step, after_source) == hub_nodes
    _edit_yaml(hub_yaml, source={"fields": {"text_a": "text", "label": "label"}})
    after_fields = _hashes(spec)
    assert _changed(after_source, after_fields) == hub_nodes

    # one line of a test file: only the evaluations read it
    test_de = data / "test.de.jsonl"
    lines = test_de.read_text(encoding="utf-8").splitlines(keepends=True)
    row = json.loads(lines[0])
    row["text_a"] = row["text_a"] + " (edited)"
    test_de.write_text(json.dumps(row, ensure_ascii=False) + "\n" + "".join(lines[1:]), encoding="utf-8")
    after_test = _hashes(spec)
    assert _changed(after_fields, after_test) == _nodes_of(base, "hashcheck_topic", ("evaluation",))

    # one line of the training file: the target phases and the evaluations downstream of them
    train_en = data / "train.en.jsonl"
    lines = train_en.read_text(encoding="utf-8").splitlines(keepends=True)
    train_en.write_text("".join(lines[1:]), encoding="utf-8")
    assert _changed(after_test, _hashes(spec)) == topic_nodes


def test_jobs_carry_definitions_and_fingerprints(copied_tasks, tmp_path):
    result = Ran("plan", str(_spec(tmp_path)), "--json")
    nodes = {n["id"]: n for n in json.loads(result.output)["nodes"]}
    target = nodes["target/m/none/hashcheck_topic/s0"]["job"]["phase"]
    assert target["definitions"]["hashcheck_topic"]["labels"][0] == "coreutils"
    fp = target["tasks"]["hashcheck_topic"]["data"]
    assert fp["train"]["kind"] == "bundled" and len(fp["train"]["files"]["train.en.jsonl"]) == 64
    evaluation = nodes["evaluation/m/none/hashcheck_hub/s0"]["job"]["evaluation"]
    assert evaluation["definition"]["source"]["config"] == "{lang}"
    assert evaluation["data"]["test.de"] == {"kind": "hub", "id": "toy/hashcheck", "config": "de", "splits": ["test"]}


def test_plan_imports_no_torch():
    for spec in ("demo.yaml", "paper.yaml"):
        out = run_without_torch("plan", str(ROOT / "experiments" / spec), "--json")
        assert out.returncode == 0, out.stderr[-2000:]
        assert json.loads(out.stdout)["nodes"]
