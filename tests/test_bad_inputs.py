"""The bad-input matrix: every case goes through the real CLI entry point (`xstilts.cli.main`) and must end with exit
code 2 and ONE line on stderr naming the file (and line, where there is one) and what was expected; no traceback.

Cases run in-process (sys.argv, SystemExit) to keep the matrix fast; those that need the hub offline run in a subprocess
with HF_HUB_OFFLINE=1 / HF_DATASETS_OFFLINE=1 set before anything is imported, so nothing reaches out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

GOOD = {
    "toy_cls": '{"guid": "a", "text_a": "good movie", "label": "pos"}',
    "toy_tag": '{"guid": "a", "tokens": ["one", "cat"], "tags": ["NUM", "W"]}',
}


@dataclass
class Ctx:
    tmp: Path
    model: Path
    tasks: Path

    def data(self, name: str, content: str | bytes, file: str = "train.en.jsonl") -> Path:
        d = self.tmp / f"data-{name}"
        d.mkdir(parents=True, exist_ok=True)
        p = d / file
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
        return d

    def train(self, task: str, data: Path, *extra: str) -> list[str]:
        return [
            "train",
            "-t",
            task,
            "--model",
            str(self.model),
            "--data-dir",
            f"{task}={data}",
            "--set",
            "max_steps=1",
            "--out",
            str(self.tmp / "out"),
            *extra,
        ]

    def spec(self, **changes) -> Path:
        spec = {
            "name": "bad",
            "models": [{"name": "tiny", "path": str(self.model)}],
            "intermediate": [{"name": "none"}],
            "targets": ["toy_retrieval"],
        }
        spec.update(changes)
        p = self.tmp / "spec.yaml"
        p.write_text(yaml.safe_dump(spec, sort_keys=False))
        return p

    def run(self, spec: Path) -> list[str]:
        return ["run", str(spec), "--out", str(self.tmp / "run"), "--quiet"]

    def score_dirs(self, pred_lines: int) -> list[str]:
        gold = self.tmp / "gold" / "pawsx"
        pred = self.tmp / "pred" / "pawsx"
        for d in (gold, pred):
            d.mkdir(parents=True, exist_ok=True)
        (gold / "test-en.tsv").write_text("1\n0\n1\n")
        (pred / "test-en.tsv").write_text("".join(f"{i % 2}\n" for i in range(pred_lines)))
        return [
            "score",
            "--predictions",
            str(self.tmp / "pred"),
            "--labels",
            str(self.tmp / "gold"),
            "--output",
            str(self.tmp / "scores.json"),
            "--languages",
            "pawsx=en",
        ]


@dataclass
class Case:
    name: str
    argv: Callable[[Ctx], list[str]]
    expect: list[str]  # fragments of the one error line (file:line where there is one, and what was expected)
    offline: bool = False  # run in a subprocess with the hub switched off
    env: dict[str, str] = field(default_factory=dict)


def _bad_family(c: Ctx) -> list[str]:
    d = c.tmp / "tasks"
    d.mkdir()
    (d / "weird.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "weird",
                "role": "intermediate",
                "family": "poetry",
                "metric": "accuracy",
                "languages": ["en"],
                "local_dir": "x",
            }
        )
    )
    return ["train", "-t", "weird", "--model", str(c.model), "--out", str(c.tmp / "o")], f"{c.tasks}{os.pathsep}{d}"


def _unknown_dataset(c: Ctx) -> list[str]:
    d = c.tmp / "tasks"
    d.mkdir()
    (d / "ghost.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "ghost",
                "role": "intermediate",
                "family": "classification",
                "metric": "accuracy",
                "languages": ["en"],
                "labels": ["a", "b"],
                "splits": ["train"],
                "source": {"id": "nobody-xstilts/no-such-dataset", "fields": {"text_a": "s1", "label": "label"}},
            }
        )
    )
    return ["train", "-t", "ghost", "--model", str(c.model), "--out", str(c.tmp / "o")], f"{c.tasks}{os.pathsep}{d}"


CASES = [
    # --- data files: uniform JSONL
    Case(
        "jsonl_invalid_json",
        lambda c: c.train("toy_cls", c.data("a", GOOD["toy_cls"] + '\n{"guid": "b", "text_a": \n')),
        ["train.en.jsonl:2", "invalid JSON", "expected one JSON object per line"],
    ),
    Case(
        "jsonl_not_an_object",
        lambda c: c.train("toy_cls", c.data("a", '["good", "pos"]\n')),
        ["train.en.jsonl:1", "expected a JSON object"],
    ),
    Case(
        "jsonl_unknown_field",
        lambda c: c.train("toy_cls", c.data("a", '{"guid": "a", "text": "x", "label": "pos"}')),
        ["train.en.jsonl:1", "unexpected field(s) ['text']", "expected"],
    ),
    Case(
        "jsonl_missing_field",
        lambda c: c.train("toy_cls", c.data("a", '{"guid": "a", "label": "pos"}')),
        ["train.en.jsonl:1", "missing field(s) ['text_a']"],
    ),
    Case(
        "jsonl_wrong_type",
        lambda c: c.train("toy_cls", c.data("a", '{"guid": "a", "text_a": 5, "label": "pos"}')),
        ["train.en.jsonl:1", "'text_a' must be a string"],
    ),
    Case(
        "jsonl_invalid_utf8",
        lambda c: c.train("toy_cls", c.data("a", GOOD["toy_cls"].encode() + b'\n{"guid": "\xff"}\n')),
        ["train.en.jsonl:2", "invalid UTF-8", "expected UTF-8 text"],
    ),
    Case(
        "jsonl_empty_file",
        lambda c: c.train("toy_cls", c.data("a", "")),
        ["train.en.jsonl", "empty file", "expected one JSON object per line"],
    ),
    Case(
        "jsonl_blank_lines_only",
        lambda c: c.train("toy_cls", c.data("a", "\n  \n\n")),
        ["train.en.jsonl", "empty file"],
    ),
    Case(
        "label_outside_label_set",
        lambda c: c.train("toy_cls", c.data("a", '{"guid": "a", "text_a": "x", "label": "meh"}')),
        ["train.en.jsonl:1", "label 'meh' is not in the task's label set", "['neg', 'pos']"],
    ),
    Case(
        "tag_outside_tag_set",
        lambda c: c.train("toy_tag", c.data("a", '{"guid": "a", "tokens": ["x"], "tags": ["ADJ"]}')),
        ["train.en.jsonl:1", "tag 'ADJ' is not in the task's tag set", "['NUM', 'W']"],
    ),
    Case(
        "tags_tokens_length_mismatch",
        lambda c: c.train("toy_tag", c.data("a", '{"guid": "a", "tokens": ["one", "cat", "x"], "tags": ["NUM", "W"]}')),
        ["train.en.jsonl:1", "3 tokens but 2 tags", "expected one tag per token"],
    ),
    Case(
        "answer_not_in_context",
        lambda c: c.train(
            "toy_span",
            c.data(
                "a",
                json.dumps(
                    {
                        "guid": "a",
                        "question": "q",
                        "context": "the cat is red",
                        "answers": [{"text": "blue", "answer_start": 11}],
                    }
                ),
            ),
        ),
        ["train.en.jsonl:1", "answer 'blue' not found at offset 11"],
    ),
    Case(
        "choice_label_out_of_range",
        lambda c: c.train(
            "toy_mc",
            c.data("a", json.dumps({"guid": "a", "context": "c", "question": "q", "choices": ["x", "y"], "label": 2})),
        ),
        ["train.en.jsonl:1", "'label' 2 out of range for 2 choices"],
    ),
    Case(
        "regression_label_not_a_number",
        lambda c: c.train("toy_reg", c.data("a", '{"guid": "a", "text_a": "x", "label": "hi"}')),
        ["train.en.jsonl:1", "'label' must be a number"],
    ),
    Case(
        "missing_split_file",
        lambda c: [
            "evaluate",
            "--checkpoint",
            str(c.model),
            "-t",
            "toy_retrieval",
            "--languages",
            "xx",
            "--data-dir",
            str(c.data("a", GOOD["toy_cls"])),
            "--out",
            str(c.tmp / "e"),
        ],
        ["data-a", "no data for task 'toy_retrieval' split 'dev' language 'xx'", "expected dev.xx.jsonl"],
    ),
    Case(
        "empty_evaluation_split",
        lambda c: [
            "evaluate",
            "--checkpoint",
            str(c.model),
            "-t",
            "toy_retrieval",
            "--languages",
            "xx",
            "--data-dir",
            str(c.data("a", "", "dev.xx.jsonl")),
            "--out",
            str(c.tmp / "e"),
        ],
        ["dev.xx.jsonl", "empty file"],
    ),
    Case(
        "unknown_retrieval_pooling",
        lambda c: [
            "evaluate",
            "--checkpoint",
            str(c.model),
            "-t",
            "toy_retrieval",
            "--languages",
            "xx",
            "--pooling",
            "max",
            "--data-dir",
            str(
                c.data(
                    "a",
                    '{"source_id": "s0", "target_id": "t0", "source": "a cat", "target": "the cat"}',
                    "dev.xx.jsonl",
                )
            ),
            "--out",
            str(c.tmp / "e"),
        ],
        ["unknown pooling 'max'", "mean_all"],
    ),
    Case("missing_data_dir", lambda c: c.train("toy_cls", c.tmp / "nowhere"), ["nowhere", "data directory not found"]),
    # --- data files: the official XTREME layout (TSV, CoNLL-style token<TAB>tag)
    Case(
        "tsv_too_few_columns",
        lambda c: c.train("pawsx_en", c.data("p", "a\tb\t1\nonly one column\n", "pawsx/train-en.tsv")),
        ["train-en.tsv:2", "expected sentence1<TAB>sentence2[<TAB>label], got 1 column(s)"],
    ),
    Case(
        "tsv_invalid_utf8",
        lambda c: c.train("pawsx_en", c.data("p", b"a\tb\t1\nc\t\xc3\x28\t0\n", "pawsx/train-en.tsv")),
        ["train-en.tsv:2", "invalid UTF-8"],
    ),
    Case(
        "conll_ragged_row",
        lambda c: c.train("udpos_en", c.data("u", "The\tDET\ncat\tNOUN\n\nIt\tPRON\tX\n", "udpos/train-en.tsv")),
        ["train-en.tsv:4", "expected token<TAB>tag", "like line 1, got 3"],
    ),
    Case(
        "conll_invalid_utf8",
        lambda c: c.train("udpos_en", c.data("u", b"The\tDET\n\xfe\tNOUN\n", "udpos/train-en.tsv")),
        ["train-en.tsv:2", "invalid UTF-8"],
    ),
    Case(
        "official_file_missing",
        lambda c: c.train("pawsx_en", c.data("p", "x", "pawsx/dev-en.tsv")),
        ["train-en.tsv", "not found (official XTREME download layout expected)"],
    ),
    # --- names: task, language, model folder, family
    Case(
        "unknown_task",
        lambda c: ["train", "-t", "no_such_task", "--model", str(c.model), "--out", str(c.tmp / "o")],
        ["unknown task 'no_such_task'"],
    ),
    Case(
        "unknown_language_evaluate",
        lambda c: [
            "evaluate",
            "--checkpoint",
            str(c.model),
            "-t",
            "toy_target",
            "--languages",
            "fr",
            "--out",
            str(c.tmp / "e"),
        ],
        ["task 'toy_target' has no language 'fr'", "en xx"],
    ),
    Case(
        "unknown_language_spec",
        lambda c: c.run(c.spec(languages={"toy_retrieval": ["klingon"]})),
        ["spec.yaml", "unknown language 'klingon' for toy_retrieval", "known: xx"],
    ),
    Case(
        "unknown_model_folder",
        lambda c: ["train", "-t", "toy_cls", "--model", str(c.tmp / "no-model"), "--out", str(c.tmp / "o")],
        ["no-model", "model folder not found", "expected a folder with config.json"],
    ),
    Case(
        "model_folder_without_config",
        lambda c: ["train", "-t", "toy_cls", "--model", str(c.tmp), "--out", str(c.tmp / "o")],
        ["not a model folder: config.json missing"],
    ),
    Case("unknown_task_family", _bad_family, ["weird.yaml", "'family'", "Input should be 'classification'"]),
    # --- the experiment spec
    Case("spec_unknown_key", lambda c: c.run(c.spec(seedz=[1])), ["spec.yaml:9", "'seedz'", "Extra inputs"]),
    Case("spec_wrong_type", lambda c: c.run(c.spec(seeds=["abc"])), ["spec.yaml:9", "'seeds.0'", "valid integer"]),
    Case(
        "spec_negative_size",
        lambda c: c.run(c.spec(hyperparameters={"target": {"max_train_examples": -5}})),
        [
            "spec.yaml:11",
            "hyperparameter 'max_train_examples' in hyperparameters.target",
            "greater than or equal to 1 (got -5)",
        ],
    ),
    Case(
        "spec_unknown_hyperparameter",
        lambda c: c.run(c.spec(hyperparameters={"target": {"learnig_rate": 1e-5}})),
        ["spec.yaml:11", "unknown hyperparameter 'learnig_rate' in hyperparameters.target", "valid: learning_rate"],
    ),
    Case(
        "spec_hyperparameter_wrong_type",
        lambda c: c.run(c.spec(hyperparameters={"target": {"batch_size": "big"}})),
        ["spec.yaml:11", "hyperparameter 'batch_size' in hyperparameters.target", "valid integer", "(got 'big')"],
    ),
    Case(
        "spec_invalid_yaml",
        lambda c: c.run(_write(c.tmp / "spec.yaml", "models: [\n")),
        ["spec.yaml:2", "invalid YAML"],
    ),
    Case(
        "spec_invalid_utf8",
        lambda c: c.run(_write(c.tmp / "spec.yaml", b"name: \xff\n")),
        ["spec.yaml:1", "invalid UTF-8"],
    ),
    Case(
        "spec_not_a_mapping",
        lambda c: c.run(_write(c.tmp / "spec.yaml", "- a\n- b\n")),
        ["spec.yaml", "expected a mapping with models, intermediate, targets"],
    ),
    Case("spec_missing", lambda c: c.run(c.tmp / "missing.yaml"), ["missing.yaml", "experiment spec not found"]),
    Case(
        "spec_name_escapes_run_dir",
        lambda c: c.run(c.spec(intermediate=[{"name": "../../etc"}])),
        ["spec.yaml", "'../../etc' cannot name files in the run directory"],
    ),
    Case(
        "spec_unknown_target", lambda c: c.run(c.spec(targets=["toy_nope"])), ["spec.yaml", "unknown task 'toy_nope'"]
    ),
    # --- command-line values
    Case(
        "set_without_value",
        lambda c: c.train("toy_cls", c.data("a", GOOD["toy_cls"]), "--set", "learning_rate"),
        ["--set expects key=value, got 'learning_rate'"],
    ),
    Case(
        "set_bad_value",
        lambda c: c.train("toy_cls", c.data("a", GOOD["toy_cls"]), "--set", "learning_rate=fast"),
        ["hyperparameter 'learning_rate' in --set", "valid number", "(got 'fast')"],
    ),
    Case(
        "set_negative",
        lambda c: c.train("toy_cls", c.data("a", GOOD["toy_cls"]), "--set", "batch_size=-2"),
        ["hyperparameter 'batch_size' in --set", "greater than or equal to 1 (got -2)"],
    ),
    Case(
        "set_unknown_key",
        lambda c: c.train("toy_cls", c.data("a", GOOD["toy_cls"]), "--set", "epochs=3"),
        ["unknown hyperparameter 'epochs' in --set", "valid: learning_rate"],
    ),
    Case(
        "bad_phase",
        lambda c: c.train("toy_cls", c.data("a", GOOD["toy_cls"]), "--phase", "warmup"),
        ["--phase must be 'intermediate' or 'target', got 'warmup'"],
    ),
    Case(
        "from_not_a_checkpoint",
        lambda c: c.train("toy_cls", c.data("a", GOOD["toy_cls"]), "--from", str(c.tmp)),
        ["not a finished phase checkpoint (phase.json missing)"],
    ),
    Case(
        "bad_executor",
        lambda c: c.run(c.spec()) + ["--executor", "mpi"],
        ["unknown executor 'mpi'; known: local, ray, slurm"],
    ),
    # --- predictions for `xstilts score`
    Case("score_missing_lines", lambda c: c.score_dirs(2), ["pred/pawsx/test-en.tsv:3", "2 lines but 3 in"]),
    Case("score_extra_lines", lambda c: c.score_dirs(5), ["pred/pawsx/test-en.tsv:4", "5 lines but 3 in"]),
    Case(
        "score_missing_directory",
        lambda c: [
            "score",
            "--predictions",
            str(c.tmp / "nope"),
            "--labels",
            str(c.tmp),
            "--output",
            str(c.tmp / "s.json"),
        ],
        ["nope", "directory not found"],
    ),
    # --- the hub: unreachable (offline) or an id it does not know
    Case(
        "hub_offline_dataset",
        lambda c: ["train", "-t", "mnli", "--out", str(c.tmp / "x")],
        [
            "cannot load nyu-mll/glue (config mnli)",
            "--data-dir mnli=DIR",
            "official XTREME download layout",
            "local hub cache",
        ],
        offline=True,
    ),
    Case(
        "hub_unknown_dataset",
        _unknown_dataset,
        ["cannot load nobody-xstilts/no-such-dataset", "--data-dir"],
        offline=True,
    ),
    Case(
        "hub_unknown_model",
        lambda c: ["train", "-t", "toy_cls", "--model", "nobody-xstilts/no-such-model", "--out", str(c.tmp / "o")],
        ["cannot load model 'nobody-xstilts/no-such-model'", "local hub cache"],
        offline=True,
    ),
]


def _write(p: Path, content: str | bytes) -> Path:
    p.write_bytes(content if isinstance(content, bytes) else content.encode())
    return p


def _one_line(code: int, err: str, case: Case, ctx: Ctx) -> None:
    assert code == 2, (case.name, code, err)
    assert "Traceback" not in err, err
    # What a terminal shows: a progress bar cleared with '\r' before the error leaves nothing.
    lines = [ln.split("\r")[-1] for ln in err.split("\n") if ln.split("\r")[-1].strip()]
    assert len(lines) == 1, (case.name, err)
    for fragment in case.expect:
        assert fragment in lines[0], (case.name, fragment, lines[0])


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_is_one_line_exit_2(case, tiny_models, toy_tasks, tmp_path, monkeypatch, capsys):
    ctx = Ctx(tmp_path, tiny_models["bert"], toy_tasks)
    monkeypatch.setenv("XSTILTS_TASK_DIRS", str(toy_tasks))
    monkeypatch.setenv("COLUMNS", "1000")  # one long line stays one line
    argv = case.argv(ctx)
    env_dirs = None
    if isinstance(argv, tuple):  # (argv, extra task directories)
        argv, env_dirs = argv
        monkeypatch.setenv("XSTILTS_TASK_DIRS", env_dirs)
    if case.offline:
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "HF_HOME": str(tmp_path / "empty-hf-home"),
            "XSTILTS_TASK_DIRS": env_dirs or str(toy_tasks),
        }
        res = subprocess.run(
            [sys.executable, "-m", "xstilts.cli", *argv], env=env, capture_output=True, text=True, timeout=300
        )
        _one_line(res.returncode, res.stderr, case, ctx)
        return
    from xstilts import cli
    from xstilts.tasks import registry

    monkeypatch.setattr(registry, "_CACHE", None)  # task dirs may differ per case
    monkeypatch.setattr(sys, "argv", ["xstilts", *argv])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    _one_line(exit_.value.code, capsys.readouterr().err, case, ctx)


def test_the_matrix_covers_every_kind_of_bad_input():
    names = {c.name for c in CASES}
    for kind in (
        "jsonl",
        "tsv",
        "conll",
        "utf8",
        "empty",
        "label_outside",
        "tags_tokens",
        "answer_not",
        "unknown_task",
        "unknown_language",
        "unknown_model",
        "family",
        "spec_unknown_key",
        "spec_wrong_type",
        "negative",
        "set_bad_value",
        "score_missing",
        "score_extra",
        "hub_offline",
        "hub_unknown",
    ):
        assert any(kind in n for n in names), kind
    assert len(CASES) >= 40
