"""Zero-shot evaluation end to end on all nine XTREME targets: a tiny checkpoint, fixture data in the google/xtreme hub
schema and in the official download layout (tests/fixtures/xtreme), then `xstilts score` on the files the run wrote must
give back, per language, exactly the metrics the run reported.

Gold labels per layout: the hub schema carries gold in every split, so the hub runs use `test` for all nine tasks. The
official test files are stripped (no labels, tags, answers or BUCC gold file), so the official runs use `dev` where it
exists (xnli, pawsx, udpos, panx, mlqa, bucc2018). xquad, tydiqa and tatoeba have only an unlabelled split in the
official layout: there the run must write predictions only, identical to the hub run's, so the hub labels score them.

The scorer scores every language of a task's official list and refuses a submission missing one (as the official
script, which averages over them all). The fixtures have two to four languages, so scoring here restricts the scorer's
language table to the languages the run covered (test_real_cli_refuses_a_partial_language_set pins the unrestricted
behaviour).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import xtreme_hub as hub_examples_of  # (task, split, lang) from the hub fixtures
from xstilts.benchmarks import XTREME, get_benchmark
from xstilts.evaluation import scorer
from xstilts.evaluation.zero_shot import evaluate_target
from xstilts.families import submission as S
from xstilts.languages import XTREME_GROUP2TASK, XTREME_TASK2LANGS
from xstilts.tasks.registry import get_task

FIX = Path(__file__).parent / "fixtures" / "xtreme"
OFFICIAL = FIX / "official"
SCORED = ("accuracy", "f1", "precision", "recall", "exact_match")  # what the scorer reports; not score/threshold

# Languages with fixture data in each layout.
HUB_LANGS = {
    "xnli": ["en", "de", "ar"],
    "pawsx": ["en", "de", "zh"],
    "udpos": ["en", "de", "th"],
    "panx": ["en", "de", "ja"],
    "xquad": ["en", "de", "zh"],
    "mlqa": ["en", "de"],
    "tydiqa": ["en", "ar", "fi", "ko"],
    "bucc2018": ["de", "fr"],
    "tatoeba": ["de", "ar"],
}
OFFICIAL_DEV = {
    "xnli": ["en", "de", "ar"],
    "pawsx": ["en", "de", "zh"],
    "udpos": ["en", "de"],
    "panx": ["en", "de", "ja"],
    "mlqa": ["en", "de"],
    "bucc2018": ["de", "fr"],
}
# Only an unlabelled split in the official layout (answers replaced by placeholders; Tatoeba's English side sorted
# apart from its sources): covered for scores by the hub run.
OFFICIAL_TEST_ONLY = {"xquad": ["en", "de", "zh"], "tydiqa": ["en", "ar", "fi", "ko"], "tatoeba": ["de", "ar"]}
HEAD_TASKS = [t for t in XTREME_TASK2LANGS if get_task(t).family != "retrieval"]


def overfit_qa_heads(model, tokenizer) -> None:
    """A few steps on the QA test questions themselves: random span heads answer nothing right, so every QA metric
    would be 0 and the run/scorer equality would hold trivially; after this some answers overlap the gold ones."""
    import torch

    from xstilts.defaults import phase_defaults
    from xstilts.families.featurize import Collator
    from xstilts.families.table import featurize

    collate = Collator(pad_id=tokenizer.pad_token_id)
    batches = []
    for task in ("xquad", "mlqa", "tydiqa"):
        examples = [e for lang in HUB_LANGS[task] for e in hub_examples_of(task, "test", lang)][::2]  # half of them
        feats = featurize("span_qa", examples, tokenizer, None, phase_defaults("target", task), train=True)
        batch = collate(feats)
        batches.append((task, {k: v for k, v in batch.items() if isinstance(v, torch.Tensor)}))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(25):
        for task, batch in batches:
            optimizer.zero_grad()
            model(task, batch)["loss"].backward()
            optimizer.step()
    model.eval()


@pytest.fixture(scope="module")
def checkpoint(tiny_models, tmp_path_factory) -> str:
    """The tiny XLM-R encoder with a fresh head per trained target (drawn wide so predictions vary; QA heads fitted
    to half the QA questions), saved as a phase checkpoint."""
    import torch

    from xstilts.modeling.model import HeadSpec, MultiTaskModel, load_encoder, save_checkpoint

    encoder, tokenizer = load_encoder(str(tiny_models["xlmr"]))
    model = MultiTaskModel(encoder, {t: HeadSpec(t, get_task(t).family, get_task(t).labels) for t in HEAD_TASKS})
    torch.manual_seed(1)
    with torch.no_grad():
        for p in model.heads.parameters():
            p.normal_(0.0, 2.0)
    overfit_qa_heads(model, tokenizer)
    out = tmp_path_factory.mktemp("ckpt")
    save_checkpoint(model, tokenizer, out)
    return str(out)


def route_hub_to_fixtures(mp: pytest.MonkeyPatch) -> None:
    """google/xtreme `load_dataset(id, config, split=...)` answered from hub/<config>/<split>.jsonl."""
    import datasets

    real = datasets.load_dataset

    def load(path: str, name: str | None = None, split: str | None = None, **kw: Any):
        assert path == "google/xtreme", path
        return real("json", data_files={split: str(FIX / "hub" / str(name) / f"{split}.jsonl")}, split=split)

    mp.setattr(datasets, "load_dataset", load)


@pytest.fixture(scope="module")
def hub_runs(checkpoint, tmp_path_factory) -> dict[str, tuple[list[dict], Path]]:
    """Every target evaluated on its hub-schema test split (gold everywhere), each into its own folder."""
    runs = {}
    with pytest.MonkeyPatch.context() as mp:
        route_hub_to_fixtures(mp)
        for task, langs in HUB_LANGS.items():
            out = tmp_path_factory.mktemp(f"hub-{task}")
            runs[task] = (evaluate_target(checkpoint, get_task(task), langs, ["test"], out, progress=False), out)
    return runs


def restrict_languages(monkeypatch, task2langs: dict[str, list[str]]) -> None:
    """Score only the languages the fixtures have (the scorer otherwise wants every official language)."""
    tasks = {
        t: spec.model_copy(update={"languages": list(task2langs.get(t, spec.languages))})
        for t, spec in XTREME.tasks.items()
    }
    restricted = XTREME.model_copy(update={"tasks": tasks})
    monkeypatch.setattr(scorer, "get_benchmark", lambda name: restricted if name == "xtreme" else get_benchmark(name))


def score_with_cli(out: Path, split: str, tmp_path: Path, langs: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """`xstilts score --split SPLIT [--languages task=a,b]` on a run's predictions/ and labels/; returns its JSON."""
    from typer.testing import CliRunner

    from xstilts.cli import app

    result_file = tmp_path / f"score-{split}.json"
    args = [
        "score",
        "--predictions",
        str(out / "predictions"),
        "--labels",
        str(out / "labels"),
        "--output",
        str(result_file),
        "--split",
        split,
    ]
    for task, ls in (langs or {}).items():
        args += ["--languages", f"{task}={','.join(ls)}"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, (res.output, res.exception)
    return json.loads(result_file.read_text(encoding="utf-8"))


def assert_scores_match(task: str, rows: list[dict], result: dict[str, Any], split: str, langs: list[str]) -> None:
    """Per language, the scorer's metrics are exactly the run's (to 1e-9), no more and no fewer."""
    reported = {(r["language"], r["metric"]): r["value"] for r in rows if r["split"] == split and r["metric"] in SCORED}
    assert {lang for lang, _ in reported} == set(langs), reported
    scored = {
        (lang, m): v
        for m, per_lang in result[task].items()
        if isinstance(per_lang, dict)
        for lang, v in per_lang.items()
    }
    assert set(scored) == set(reported)
    for key, value in reported.items():
        assert abs(scored[key] - value) <= 1e-9, (task, key, scored[key], value)
    assert set(result) - {task} <= set(XTREME_GROUP2TASK)


def count_written(task: str, path: Path, labels: bool = False) -> int:
    """Examples (sentences, questions, pairs, lines) in one written prediction (or label) file."""
    if task in ("udpos", "panx"):
        return len(S.read_tagging(path))
    if task in ("xquad", "mlqa", "tydiqa"):
        return len(S.read_qa_labels(path) if labels else S.read_qa_predictions(path))
    return len(S.read_labels(path))


# --- hub schema: gold in the test split of every task --------------------------------------------------------------


@pytest.mark.parametrize("task", list(XTREME_TASK2LANGS))
def test_hub_schema_scores_equal_the_run(task, hub_runs, monkeypatch, tmp_path):
    rows, out = hub_runs[task]
    langs = HUB_LANGS[task]
    for lang in langs:  # one prediction per gold item (BUCC: mined pairs, any number)
        pred, gold = scorer.task_file(out / "predictions", task, lang), scorer.task_file(out / "labels", task, lang)
        assert count_written(task, gold, labels=True) > 0
        if task != "bucc2018":
            assert count_written(task, pred) == count_written(task, gold, labels=True)
    assert_scores_match(task, rows, score_with_cli(out, "test", tmp_path, {task: langs}), "test", langs)
    on_disk = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert on_disk == rows


def test_hub_scores_are_not_degenerate(hub_runs):
    """The equality above is tested on varied numbers, not on every metric being 0 or 100."""
    values = [r["value"] for rows, _ in hub_runs.values() for r in rows if r["metric"] in SCORED]
    assert len(values) == 50  # 3 xnli + 3 pawsx + 9 udpos + 9 panx + 6 xquad + 4 mlqa + 8 tydiqa + 6 bucc + 2 tatoeba
    assert sum(0.0 < v < 100.0 for v in values) >= 10, values


def test_all_nine_hub_runs_scored_together(hub_runs, monkeypatch, tmp_path):
    """One submission folder with the nine tasks: per-task values as reported, plus the groups and all_task."""
    import shutil

    sub = tmp_path / "submission"
    for task, (_, out) in hub_runs.items():
        for side in ("predictions", "labels"):
            shutil.copytree(out / side / task, sub / side / task)
    restrict_languages(monkeypatch, HUB_LANGS)  # as if the fixtures held every official language: groups and all_task
    result = score_with_cli(sub, "test", tmp_path)
    for task, (rows, _) in hub_runs.items():
        assert_scores_match(task, rows, {task: result[task]}, "test", HUB_LANGS[task])
    assert abs(result["all_task"] - sum(result[t]["avg_metric"] for t in HUB_LANGS) / 9) <= 1e-9
    assert set(XTREME_GROUP2TASK) <= set(result)


# --- official download layout: gold in dev ---------------------------------------------------------------------------


@pytest.mark.parametrize("task", list(OFFICIAL_DEV))
def test_official_layout_dev_scores_equal_the_run(task, checkpoint, monkeypatch, tmp_path):
    langs = OFFICIAL_DEV[task]
    out = tmp_path / "run"
    rows = evaluate_target(checkpoint, get_task(task), langs, ["dev"], out, data_dir=str(OFFICIAL), progress=False)
    assert_scores_match(task, rows, score_with_cli(out, "dev", tmp_path, {task: langs}), "dev", langs)


def test_official_bucc_dev_gold_and_distractors(checkpoint, tmp_path):
    """Mining runs over the whole dev corpus (gold pairs and one-sided distractors); labels are the gold pairs."""
    out = tmp_path / "run"
    evaluate_target(checkpoint, get_task("bucc2018"), ["de"], ["dev"], out, data_dir=str(OFFICIAL), progress=False)
    gold = (OFFICIAL / "bucc2018" / "de-en.dev.gold").read_text(encoding="utf-8").split("\n")
    assert sorted(S.read_bucc(out / "labels" / "bucc2018" / "dev-de.tsv")) == sorted(
        tuple(line.split("\t")) for line in gold if line
    )
    corpus_ids = {
        line.split("\t")[0]
        for f in ("de-en.dev.de", "de-en.dev.en")
        for line in (OFFICIAL / "bucc2018" / f).read_text(encoding="utf-8").splitlines()
    }
    for src, tgt in S.read_bucc(out / "predictions" / "bucc2018" / "dev-de.tsv"):
        assert src.startswith("de-") and tgt.startswith("en-") and {src, tgt} <= corpus_ids


# --- official download layout: unlabelled test files -----------------------------------------------------------------


@pytest.mark.parametrize("task", ["xnli", "pawsx", "udpos", "panx", "mlqa", "bucc2018"])
def test_official_test_files_give_predictions_only(task, checkpoint, tmp_path):
    """No gold in the official test files: a prediction per example to submit, no label file, no metric row."""
    langs = ["de"] if task != "udpos" else ["th"]
    out = tmp_path / "run"
    rows = evaluate_target(checkpoint, get_task(task), langs, ["test"], out, data_dir=str(OFFICIAL), progress=False)
    assert rows == []  # (BUCC also ran dev, for its threshold, but reports only the splits asked for)
    pred = scorer.task_file(out / "predictions", task, langs[0])
    assert pred.is_file() and not scorer.task_file(out / "labels", task, langs[0]).exists()
    if task == "bucc2018":
        assert all(s.startswith("de-") and t.startswith("en-") for s, t in S.read_bucc(pred))
    else:
        from xstilts.data.xtreme import OFFICIAL_READERS

        assert count_written(task, pred) == len(OFFICIAL_READERS[task](OFFICIAL, "test", langs[0]))


@pytest.mark.parametrize("task", list(OFFICIAL_TEST_ONLY))
def test_official_test_only_tasks_predict_as_the_hub_run(task, checkpoint, hub_runs, monkeypatch, tmp_path):
    """xquad/tydiqa (answers stripped) and tatoeba (English sorted apart from its sources) have no gold in the
    official layout: the run writes the same predictions as on the hub data, so the hub labels score it the same.
    For Tatoeba this checks the indices name lines of the official sorted English file in both layouts."""
    langs = OFFICIAL_TEST_ONLY[task]
    out = tmp_path / "run"
    rows = evaluate_target(checkpoint, get_task(task), langs, ["test"], out, data_dir=str(OFFICIAL), progress=False)
    assert rows == [] and not (out / "labels").exists()
    hub_rows, hub_out = hub_runs[task]
    for lang in langs:
        ours, hubs = (scorer.task_file(d / "predictions", task, lang) for d in (out, hub_out))
        assert ours.read_bytes() == hubs.read_bytes(), lang
    (out / "labels").symlink_to(hub_out / "labels")
    assert_scores_match(task, hub_rows, score_with_cli(out, "test", tmp_path, {task: langs}), "test", langs)


def test_tatoeba_indices_are_lines_of_the_sorted_english_file(hub_runs):
    """Hub (aligned) data, official direction: one label per line of the sorted English file, naming the line of the
    non-English file (= the aligned index) that English line translates."""
    _, out = hub_runs["tatoeba"]
    english = [
        json.loads(line)["target_sentence"]
        for line in (FIX / "hub" / "tatoeba.deu" / "validation.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    gold = [int(g) for g in S.read_labels(out / "labels" / "tatoeba" / "test-de.tsv")]
    assert sorted(gold) == list(range(len(english))) and gold != list(range(len(english)))
    official_en = (OFFICIAL / "tatoeba" / "de-en.en").read_text(encoding="utf-8").splitlines()
    assert [english[g].strip() for g in gold] == official_en
    assert len(S.read_labels(out / "predictions" / "tatoeba" / "test-de.tsv")) == len(official_en)


# --- the real command line -----------------------------------------------------------------------------------------


def test_real_cli_refuses_a_partial_language_set(hub_runs, tmp_path):
    """`python -m xstilts.cli score` on a run over three of XNLI's fifteen languages: one-line error, exit code 2,
    naming the first missing prediction file (the official average needs every language)."""
    _, out = hub_runs["xnli"]
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "xstilts.cli",
            "score",
            "--predictions",
            str(out / "predictions"),
            "--labels",
            str(out / "labels"),
            "--output",
            str(tmp_path / "s.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "300"},
    )
    missing = next(lang for lang in XTREME_TASK2LANGS["xnli"] if lang not in HUB_LANGS["xnli"])
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    assert f"missing prediction file for xnli {missing}" in res.stderr
    assert f"test-{missing}.tsv" in res.stderr
    assert not (tmp_path / "s.json").exists()
    # With the run's languages named, the real command scores it (no group scores: not official-comparable).
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "xstilts.cli",
            "score",
            "--predictions",
            str(out / "predictions"),
            "--labels",
            str(out / "labels"),
            "--output",
            str(tmp_path / "s.json"),
            "--languages",
            "xnli=" + ",".join(HUB_LANGS["xnli"]),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert set(json.loads((tmp_path / "s.json").read_text())) == {"xnli"}


def test_stripped_qa_files_are_decoded_as_the_labelled_ones(tiny_models, tmp_path):
    """A span head that scores the first token highest: labelled XQuAD gets a span, the stripped file must too
    (SQuAD v1.1 protocol: every question is answered), not the null answer."""
    import torch

    from xstilts.defaults import phase_defaults
    from xstilts.families.featurize import Collator
    from xstilts.families.table import featurize
    from xstilts.modeling.model import HeadSpec, MultiTaskModel, load_encoder, save_checkpoint

    encoder, tokenizer = load_encoder(str(tiny_models["xlmr"]))
    model = MultiTaskModel(encoder, {"xquad": HeadSpec("xquad", "span_qa")})
    feats = featurize(
        "span_qa",
        hub_examples_of("xquad", "test", "en"),
        tokenizer,
        None,
        phase_defaults("target", "xquad"),
        train=False,
    )
    batch = Collator(pad_id=tokenizer.pad_token_id)(feats)
    with torch.no_grad():
        hidden = model.encode(batch).last_hidden_state[0]
        direction = hidden[0] - hidden[1:].mean(0)  # towards the first token's state, away from the others
        model.heads["xquad"].out.weight.copy_(torch.stack([direction, direction]) * 10)
        model.heads["xquad"].out.bias.zero_()
    save_checkpoint(model, tokenizer, tmp_path / "ckpt")
    evaluate_target(
        str(tmp_path / "ckpt"),
        get_task("xquad"),
        ["en"],
        ["test"],
        tmp_path / "official",
        data_dir=str(OFFICIAL),
        progress=False,
    )
    with pytest.MonkeyPatch.context() as mp:
        route_hub_to_fixtures(mp)
        evaluate_target(str(tmp_path / "ckpt"), get_task("xquad"), ["en"], ["test"], tmp_path / "hub", progress=False)
    labelled = S.read_qa_predictions(tmp_path / "hub" / "predictions" / "xquad" / "test-en.json")
    assert all(labelled.values()), labelled  # the probe: with gold, every question gets a span
    assert S.read_qa_predictions(tmp_path / "official" / "predictions" / "xquad" / "test-en.json") == labelled
