"""Source languages of the target phase (Turc et al. 2021): the XTREME translations layouts read (tests/fixtures/
translate_train/ is a tiny copy of the xtreme_translations bucket, with the processors' folder names beside it), bad
files as one line with exit 2, spec validation, English nodes unchanged, `<target>@<lang>` nodes, results rows, the
report grouped by source language and the preset rehearsed."""

from __future__ import annotations

import copy
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.helpers import XTREME_OFFICIAL
from xstilts.data.xtreme import OFFICIAL_READERS, ReadExamples, read_translated_pairs
from xstilts.errors import UserError
from xstilts.experiments.plan import build_plan, check_only, missing_data, select_nodes
from xstilts.experiments.spec import load_spec
from xstilts.families.examples import Answer, SentenceExample
from xstilts.languages import TRANSLATE_TRAIN_LANGS, XTREME_TASK2LANGS
from xstilts.results import COLUMNS, read_results

ROOT = Path(__file__).resolve().parents[1]
FIX = Path(__file__).parent / "fixtures" / "translate_train"


# --- the translations layouts -------------------------------------------------------------------------------------


def test_xnli_translations_5_columns_from_the_bucket_and_3_from_the_processors_folder():
    de = OFFICIAL_READERS["mnli"](FIX, "train", "de")  # XNLI/translate-train/en-de-translated.tsv: 5 columns
    assert de == [
        SentenceExample(
            "de-0", "Das Museum öffnet jeden Morgen um neun.", "Das Museum öffnet am Morgen.", "entailment"
        ),
        SentenceExample(
            "de-1", "Ein Mann spielt auf der Bühne Gitarre.", "Niemand ist auf der Bühne.", "contradiction"
        ),
        SentenceExample("de-2", "Die Kinder gingen in den Park.", "Die Kinder mögen den Park.", "neutral"),
    ]  # the translated pair (columns 3 and 4), "contradictory" read as "contradiction" (processors/xnli.py)
    ru = OFFICIAL_READERS["mnli"](FIX, "train", "ru")  # XNLI-Translated/en-ru-translated.tsv: 3 columns
    assert [(e.text_a, e.label) for e in ru] == [
        ("Музей открывается каждое утро в девять.", "entailment"),
        ("Мужчина играет на гитаре на сцене.", "contradiction"),
    ]
    # the bucket's task folder, or its translate-train folder, given as DIR read the same files
    assert OFFICIAL_READERS["mnli"](FIX / "XNLI", "train", "de") == de
    assert OFFICIAL_READERS["mnli"](FIX / "XNLI" / "translate-train", "train", "de") == de
    # English still reads the official download (xnli/train-en.tsv), never a translation
    english = OFFICIAL_READERS["mnli"](XTREME_OFFICIAL, "train", "en")
    assert english and english[0].text_a != de[0].text_a


def test_pawsx_translations_3_columns_from_the_bucket_and_5_from_the_processors_folder():
    de = OFFICIAL_READERS["pawsx_en"](FIX, "train", "de")  # PAWSX/translate-train: 3 columns
    assert [(e.text_a, e.text_b, e.label) for e in de] == [
        ("Die Brücke wurde 1890 gebaut.", "1890 wurde die Brücke gebaut.", "1"),
        ("Er zog 1995 nach Berlin.", "Er zog 1995 aus Berlin weg.", "0"),
    ]
    fr = OFFICIAL_READERS["pawsx_en"](FIX, "train", "fr")  # pawsx/translated (processors/pawsx.py): 5 columns
    assert [(e.text_a, e.text_b, e.label) for e in fr] == [
        ("Le pont a été construit en 1890.", "En 1890, le pont a été construit.", "1"),
        ("Il a déménagé à Berlin en 1995.", "Il a quitté Berlin en 1995.", "0"),
    ]


def test_squad_translations_skip_and_count_answers_off_their_span():
    with pytest.warns(UserWarning, match="skipped 1 of 3 translated questions"):
        train = OFFICIAL_READERS["squad"](FIX, "train", "de")
    assert isinstance(train, ReadExamples) and (train.skipped, train.total) == (1, 3)
    assert [e.guid for e in train] == ["s1", "s3"]  # s2's answer_start (40) is the English one: not at its text
    assert train[0].answers == [Answer("1889", 21)] and train[0].title == "Eiffelturm"
    dev = OFFICIAL_READERS["squad"](FIX, "dev", "de")  # SQuAD/translate-dev
    assert [(e.guid, e.answers) for e in dev] == [("d1", [Answer("Spree", 20)])] and dev.skipped == 0


def test_tydiqa_translations():
    (ex,) = OFFICIAL_READERS["tydiqa_en"](FIX, "train", "ru")
    assert ex.question == "Что разработал Альберт Эйнштейн?"
    assert ex.context[ex.answers[0].answer_start :].startswith(ex.answers[0].text)


def test_a_language_the_translations_do_not_have_is_refused_by_the_reader():
    assert "ru" not in TRANSLATE_TRAIN_LANGS["pawsx_en"]  # PAWS-X is translated into its own languages only
    with pytest.raises(UserError, match="no language 'ru'"):
        OFFICIAL_READERS["pawsx_en"](FIX, "train", "ru")
    with pytest.raises(UserError, match="not found"):
        OFFICIAL_READERS["mnli"](FIX, "train", "sw")  # in the table, not in the fixture copy


@pytest.mark.parametrize(
    ("name", "content", "line", "expected"),
    [
        ("bad4.tsv", "a\tb\tc\tentailment\n", 1, "expected 5 tab-separated columns"),
        ("mixed.tsv", "a\tb\tentailment\na\tb\tc\td\tneutral\n", 2, "expected 3 columns like line 1"),
        ("label.tsv", "a\tb\tneutral\na\tb\tmaybe\n", 2, "label 'maybe' is not one of"),
    ],
)
def test_bad_translated_tsv_names_file_and_line(tmp_path, name, content, line, expected):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UserError) as err:
        read_translated_pairs(path, "de", ["entailment", "neutral", "contradiction"])
    assert str(err.value).startswith(f"{path}:{line}: ") and expected in str(err.value)


def _cli_error(argv: list[str], monkeypatch, capsys) -> str:
    """The CLI's exit code 2 and its one stderr line."""
    from xstilts import cli

    monkeypatch.setenv("COLUMNS", "1000")
    monkeypatch.setattr(sys, "argv", ["xstilts", *argv])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    err = capsys.readouterr().err
    lines = [ln.split("\r")[-1] for ln in err.split("\n") if ln.split("\r")[-1].strip()]
    assert exit_.value.code == 2 and "Traceback" not in err and len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    ("task", "file", "content", "line", "expected"),
    [
        ("mnli", "XNLI/translate-train/en-de-translated.tsv", "p\th\tentailment\np\th\n", 2, "got 2"),
        (
            "squad",
            "SQuAD/translate-train/squad.translate.train.en-de.json",
            '{"data": [\n  {"title": "x",\n   "paragraphs": [}\n]}',
            3,
            "invalid JSON",
        ),
        (
            "tydiqa_en",
            "TyDiQA-GoldP/translate-train/tydiqa.translate.train.en-ru.json",
            '{"data": [{"title": "Tolstoy",\n "paragraphs": [{"context": "x"}]}]}',
            1,
            "article 1: expected SQuAD-format paragraphs",
        ),
    ],
)
def test_bad_translated_file_is_one_line_exit_2(
    task, file, content, line, expected, tiny_models, tmp_path, monkeypatch, capsys
):
    path = tmp_path / "tt" / file
    path.parent.mkdir(parents=True)
    path.write_text(content, encoding="utf-8")
    lang = file.split("en-")[-1].split("-")[0].split(".")[0]
    argv = ["train", "-t", task, "--model", str(tiny_models["bert"]), "--language", f"{task}={lang}"]
    argv += ["--data-dir", f"{task}={tmp_path / 'tt'}", "--set", "max_steps=1", "--out", str(tmp_path / "o")]
    message = _cli_error(argv, monkeypatch, capsys)
    assert f"{path}:{line}:" in message and expected in message, message


# --- the spec -------------------------------------------------------------------------------------------------------


def _write(tmp_path: Path, spec: dict, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def _xtreme_spec(**changes) -> dict:
    spec = {
        "name": "sources",
        "models": [{"name": "m", "path": "bert-base-multilingual-cased"}],
        "intermediate": [{"name": "none"}, {"name": "mnli", "tasks": ["mnli"]}],
        "targets": ["xnli", "pawsx", "xquad"],
        "splits": ["dev", "test"],
        "source_languages": {"xnli": ["en", "de"], "pawsx": ["en", "de"], "xquad": ["de"]},
        "data_dirs": {"pawsx": str(XTREME_OFFICIAL), "translate_train": str(FIX)},
    }
    spec.update(changes)
    return spec


@pytest.mark.parametrize(
    ("change", "expected", "line_of"),
    [
        ({"source_languages": {"pawsx": ["en", "ru"]}}, "cannot train in 'ru'", "pawsx: [en, ru]"),
        ({"source_languages": {"udpos": ["de"]}}, "'udpos' is not one of the targets", "udpos: [de]"),
        ({"source_languages": {"xnli": ["en", "de", "de"]}}, "distinct languages", "xnli: [en, de, de]"),
        ({"source_languages": {"xnli": ["de/x"]}}, "not a language code", "xnli: [de/x]"),
        ({"data_dirs": {}}, "give data_dirs: {translate_train: DIR}", "xnli: [en, de]"),
    ],
)
def test_bad_source_languages_are_one_line_with_the_spec_line(tmp_path, change, expected, line_of, monkeypatch, capsys):
    spec = _xtreme_spec(**change)
    path = tmp_path / "spec.yaml"
    text = yaml.safe_dump(spec, sort_keys=False, default_flow_style=None)
    path.write_text(text, encoding="utf-8")
    message = _cli_error(["plan", str(path)], monkeypatch, capsys)
    line = next(i for i, ln in enumerate(text.splitlines(), start=1) if line_of in ln)
    assert message.startswith(f"error: {path}:{line}: ") and expected in message, (message, text)


def test_a_setting_source_language_is_checked_against_every_target_it_trains(tmp_path, monkeypatch, capsys):
    text = (
        "name: s\nmodels: [{name: m, path: bert-base-multilingual-cased}]\nintermediate:\n  - name: none\n"
        "  - name: mnli-ru\n    tasks: [mnli]\n    source_language: ru\ntargets: [xnli, pawsx]\n"
        f"data_dirs: {{translate_train: {FIX}}}\n"
    )
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    message = _cli_error(["plan", str(path)], monkeypatch, capsys)
    assert message.startswith(f"error: {path}:7: ") and "setting 'mnli-ru' source_language" in message
    assert "'pawsx' cannot train in 'ru'" in message
    german = text.replace("[xnli, pawsx]", "[xnli, tatoeba]").replace("source_language: ru", "source_language: de")
    path.write_text(german, encoding="utf-8")
    spec = load_spec(path)  # a setting's source language covers the targets that train; Tatoeba has no target phase
    nodes = {n.id: n for n in build_plan(spec)}
    assert "target/m/mnli-ru/xnli@de/s0" in nodes and nodes["evaluation/m/mnli-ru/tatoeba/s0"].source_language == "en"
    ids = set(nodes)
    assert "target/m/none/xnli/s0" in ids  # the other settings keep English


def test_target_nodes_per_source_language_read_the_translations(tmp_path):
    spec = load_spec(_write(tmp_path, _xtreme_spec()))
    nodes = {n.id: n for n in build_plan(spec)}
    assert "target/m/mnli/xquad/s0" not in nodes  # xquad: German only
    xnli = nodes["target/m/mnli/xnli@de/s0"]
    assert xnli.source_language == "de" and xnli.target == "xnli" and xnli.depends_on == ["intermediate/m/mnli/s0"]
    assert xnli.dirname().startswith("target-m-mnli-xnli@de-s0-") and "/" not in xnli.dirname()
    assert xnli.job["source_language"] == "de"
    where = xnli.job["phase"]["tasks"]["xnli"]
    assert (where["source_task"], where["language"], where["data_dir"]) == ("mnli", "de", str(FIX))
    assert list(where["data"]["train"]["files"]) == ["en-de-translated.tsv"]  # hashed: an edit reruns the node
    assert (where["dev_task"], where["dev_language"], where["dev_data_dir"]) == ("xnli", "de", None)  # the hub's XNLI
    pawsx = nodes["target/m/none/pawsx@de/s0"].job["phase"]["tasks"]["pawsx"]
    assert (pawsx["dev_task"], pawsx["dev_language"], pawsx["dev_data_dir"]) == ("pawsx", "de", str(XTREME_OFFICIAL))
    xquad = nodes["target/m/none/xquad@de/s0"].job["phase"]["tasks"]["xquad"]
    assert (xquad["dev_task"], xquad["dev_language"]) == ("squad", "de")  # XQuAD has no dev: SQuAD translate-dev
    evaluation = nodes["evaluation/m/mnli/xnli@de/s0"]
    assert (
        evaluation.depends_on == [xnli.id]
        and evaluation.job["evaluation"] == nodes["evaluation/m/mnli/xnli/s0"].job["evaluation"]
    )  # the same evaluation, of another target model
    # --only source_language: the German slice with its intermediate nodes; unknown values are refused
    check_only(spec, {"source_language": ["de"]})
    picked = select_nodes(list(nodes.values()), {"source_language": ["de"]})
    assert {n.source_language for n in picked if n.target} == {"de"} and "intermediate/m/mnli/s0" in {
        n.id for n in picked
    }
    with pytest.raises(UserError, match="no source_language 'fr'"):
        check_only(spec, {"source_language": ["fr"]})


def test_plan_names_translated_files_that_are_absent(tmp_path):
    spec = load_spec(_write(tmp_path, _xtreme_spec(source_languages={"xnli": ["en", "fr"]})))
    lines = missing_data(spec, build_plan(spec))
    assert lines == [
        f"xnli@fr: translated training data (mnli) not found: {FIX / 'XNLI/translate-train/en-fr-translated.tsv'}"
    ]
    gone = load_spec(_write(tmp_path, _xtreme_spec(data_dirs={"translate_train": str(tmp_path / "nothing")})))
    assert any("data_dirs translate_train" in line and "xtreme_translations" in line for line in missing_data(gone, []))


def _plan_json(spec: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "xstilts.cli", "plan", str(spec), "--json"], capture_output=True, text=True, check=True
    ).stdout
    return {n["id"]: n for n in json.loads(out)["nodes"]}


def test_english_nodes_keep_their_ids_jobs_and_hashes(tmp_path):
    demo = yaml.safe_load((ROOT / "experiments" / "demo.yaml").read_text(encoding="utf-8"))
    before = _plan_json(ROOT / "experiments" / "demo.yaml")
    # An explicit English-only entry changes nothing at all.
    same = _plan_json(_write(tmp_path, {**demo, "source_languages": {"demo_topic": ["en"]}}, "en.yaml"))
    assert {i: n["hash"] for i, n in same.items()} == {i: n["hash"] for i, n in before.items()}
    # German training data for demo_topic (uniform JSONL in a translate_train.<target> folder): new nodes only.
    folder = tmp_path / "demo_topic-de"
    folder.mkdir()
    shutil.copy(ROOT / "src" / "xstilts" / "demo_data" / "demo_topic" / "train.en.jsonl", folder / "train.de.jsonl")
    german = {
        **demo,
        "source_languages": {"demo_topic": ["en", "de"]},
        "data_dirs": {"translate_train.demo_topic": str(folder)},
    }
    after = _plan_json(_write(tmp_path, german, "de.yaml"))
    added = sorted(set(after) - set(before))
    pairs = [
        (m["name"], s)
        for m in demo["models"]
        for s in (m.get("intermediate") or [x["name"] for x in demo["intermediate"]])
    ]
    assert added == sorted(f"{k}/{m}/{s}/demo_topic@de/s0" for m, s in pairs for k in ("evaluation", "target"))
    assert set(before) <= set(after)
    for node_id, old in before.items():
        new = after[node_id]
        if old["model"] == "minilm-en":  # not vocabulary-pruned: the same job and hash
            assert new["hash"] == old["hash"] and new["job"] == old["job"], node_id
        else:  # e5-small keeps the word pieces of every text it reads, the German ones now too: only its folder moves
            a, b = copy.deepcopy(old["job"]), copy.deepcopy(new["job"])
            assert a["model"].pop("folder") != b["model"].pop("folder")
            assert a == b, node_id
    target = after["target/minilm-en/wn_gloss/demo_topic@de/s0"]
    where = target["job"]["phase"]["tasks"]["demo_topic"]
    assert (where["language"], where["data_dir"], where["dev_language"]) == ("de", str(folder), "de")
    assert target["source_language"] == "de" and target["depends_on"] == ["intermediate/minilm-en/wn_gloss/s0"]


# --- results and the report -----------------------------------------------------------------------------------------


def _results(run: Path, rows: list[tuple[str, str, str, str, str, float]]) -> None:
    """results.csv of (model, setting, target, source, language, value) score rows, split test, seed 0."""
    run.mkdir(parents=True, exist_ok=True)
    with (run / "results.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, COLUMNS, lineterminator="\n")
        w.writeheader()
        for model, setting, target, source, lang, value in rows:
            node = f"evaluation/{model}/{setting}/{target}{'' if source == 'en' else '@' + source}/s0"
            w.writerow(
                {
                    "model": model,
                    "intermediate": setting,
                    "target": target,
                    "language": lang,
                    "split": "test",
                    "seed": "0",
                    "metric": "score",
                    "value": f"{value:.6f}",
                    "node": node,
                    "source_language": source,
                }
            )


def _grid_rows() -> list[tuple[str, str, str, str, str, float]]:
    # xnli: en-source none 60/50, mnli 64/52; de-source none 62/58, mnli 65/57; ru-source none only 55/57
    values = {
        ("none", "en"): (60, 50),
        ("mnli", "en"): (64, 52),
        ("none", "de"): (62, 58),
        ("mnli", "de"): (65, 57),
        ("none", "ru"): (55, 57),
    }
    return [
        ("mbert", s, "xnli", src, lang, v)
        for (s, src), vs in values.items()
        for lang, v in zip(("en", "de"), vs, strict=True)
    ]


def test_report_groups_by_source_language(tmp_path):
    from xstilts.analysis.report import build_report, headline_table

    _results(tmp_path / "run", _grid_rows())
    data = build_report([tmp_path / "run"], tmp_path / "out")
    assert data.source_languages == ["en", "de", "ru"] and data.sources == [str(tmp_path / "run")]
    assert [t.label for t in data.tables] == ["mbert (source en)", "mbert (source de)", "mbert (source ru)"]
    assert data.table("mbert", "de").cell("mnli", "xnli").delta == pytest.approx(61.0 - 60.0)  # against none@de
    (c,) = data.source_comparisons
    assert (c.model, c.target, c.sources, c.settings) == ("mbert", "xnli", ["en", "de", "ru"], ["none", "mnli"])
    assert c.mean("none", "de") == pytest.approx(60.0) and c.gain("none", "de") == pytest.approx(60.0 - 55.0)
    assert c.gain("mnli", "de") == pytest.approx(61.0 - 58.0) and c.gain("none", "ru") == pytest.approx(56.0 - 55.0)
    assert c.mean("mnli", "ru") != c.mean("mnli", "ru")  # nan: no mnli run from Russian
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "## Source languages of the target phase" in md and "### Model: mbert (source de)" in md
    assert "| none | 55.0 | 60.0 (+5.0) | 56.0 (+1.0) |" in md
    assert "| mnli | 58.0 | 61.0 (+3.0) | — |" in md
    assert "### mbert (source ru) · xnli" in md  # the per-language section too
    head = headline_table(data)
    assert head.columns[:3] == ["Model", "Source", "Setting"]
    assert [r[:3] for r in head.rows] == [
        ["mbert", "en", "none"],
        ["mbert", "en", "mnli"],
        ["mbert", "de", "none"],
        ["mbert", "de", "mnli"],
        ["mbert", "ru", "none"],
    ]


def test_english_only_and_old_results_files_report_as_before(tmp_path):
    from xstilts.analysis.report import build_report, headline_table

    _results(tmp_path / "run", [r for r in _grid_rows() if r[3] == "en"])
    old = tmp_path / "old"
    old.mkdir()
    with (tmp_path / "run" / "results.csv").open(encoding="utf-8") as f:  # the schema before source_language
        rows = list(csv.DictReader(f))
    with (old / "results.csv").open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(
            f, [c for c in COLUMNS if c != "source_language"], lineterminator="\n", extrasaction="ignore"
        )
        w.writeheader()
        w.writerows(rows)
    assert {r.source_language for r in read_results(old / "results.csv")} == {"en"}
    for run in (tmp_path / "run", old):
        data = build_report([run], tmp_path / f"out-{run.name}")
        assert not data.shows_sources and not data.source_comparisons
        assert [t.label for t in data.tables] == ["mbert"] and headline_table(data).columns[:2] == ["Model", "Setting"]
        assert "(source" not in (tmp_path / f"out-{run.name}" / "report.md").read_text(encoding="utf-8")


def test_results_cli_shows_the_source_language_when_there_are_several(tmp_path):
    from typer.testing import CliRunner

    from xstilts.analysis.results import read_csv_rows
    from xstilts.cli import app

    _results(tmp_path / "run", _grid_rows())
    res = CliRunner().invoke(app, ["results", str(tmp_path / "run"), "--format", "csv"], env={"COLUMNS": "120"})
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[0].startswith("model,intermediate,source_language,target,split,seed,metric,avg")
    shown = sorted((r.intermediate, r.source_language, r.language, r.value) for r in read_csv_rows(res.output))
    assert shown == sorted((s, src, lang, float(v)) for _, s, _, src, lang, v in _grid_rows())
    table = CliRunner().invoke(app, ["results", str(tmp_path / "run")], env={"COLUMNS": "120"}).output
    assert table.splitlines()[1].split()[:3] == ["intermediate", "source_language", "avg"]


# --- the preset, rehearsed ------------------------------------------------------------------------------------------


def test_source_language_preset_rehearses_every_source_language(tmp_path):
    spec = ROOT / "experiments" / "source-language.yaml"
    preset = load_spec(spec)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    args = [sys.executable, "-m", "xstilts.cli", "rehearse", str(spec), "--out", str(tmp_path / "r"), "--quiet"]
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = [r for r in read_results(tmp_path / "r" / "results.csv") if r.metric == "score"]
    for model in ("mbert", "xlmr-base"):
        for target, sources in preset.source_languages.items():
            for source in sources:
                got = {r.language for r in rows if (r.model, r.target, r.source_language) == (model, target, source)}
                assert got == set(XTREME_TASK2LANGS[target]), (model, target, source)
    assert {r.source_language for r in rows if r.target == "pawsx"} == {"en", "de"}  # no Russian PAWS-X translation
    (xquad,) = (tmp_path / "r" / "nodes").glob("target-mbert-none-xquad@ru-s0-*")
    record = json.loads((xquad / "phase.json").read_text(encoding="utf-8"))["data"]["xquad"]
    assert (record["source_task"], record["language"], record["train_skipped"]) == ("squad", "ru", 1)
    report = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    assert "## Source languages of the target phase" in report and "### xlmr-base · mlqa" in report
    assert "missing: pawsx" not in report  # Russian was never asked of PAWS-X (grid.json source_languages)
