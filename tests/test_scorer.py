"""The XTREME scorer on fixture submissions: layout, per-language values worked out by hand, errors, writers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from xstilts.errors import UserError
from xstilts.evaluation.scorer import run_score_cli, score_predictions, score_task_lang
from xstilts.families import submission as S
from xstilts.languages import XTREME_TASK2LANGS

HAND = Path(__file__).parent / "fixtures" / "scorer" / "hand"


def approx(x: float) -> object:
    return pytest.approx(x, abs=1e-9)


@pytest.fixture
def hand_copy(tmp_path: Path) -> Path:
    shutil.copytree(HAND, tmp_path / "hand")
    return tmp_path / "hand"


def test_hand_fixture_scores(tmp_path: Path):
    out = tmp_path / "result.json"
    result = run_score_cli(str(HAND / "predictions"), str(HAND / "labels"), str(out))
    assert json.loads(out.read_text(encoding="utf-8")) == result

    # pawsx: 4 labels per language; en has 1 wrong (75), es 2 wrong (50), the other five 100
    pawsx = result["pawsx"]
    assert pawsx["accuracy"] == {
        "de": 100.0,
        "en": 75.0,
        "es": 50.0,
        "fr": 100.0,
        "ja": 100.0,
        "ko": 100.0,
        "zh": 100.0,
    }
    assert pawsx["avg_accuracy"] == approx(625 / 7) and pawsx["avg_metric"] == pawsx["avg_accuracy"]
    # xnli: 2 labels per language; ar 1 wrong (50), sw 2 wrong (0), 13 languages at 100
    assert result["xnli"]["accuracy"]["ar"] == 50.0 and result["xnli"]["accuracy"]["sw"] == 0.0
    assert result["xnli"]["avg_accuracy"] == approx(1350 / 15)
    assert result["classification"] == approx((625 / 7 + 90.0) / 2)

    # bucc2018: de all right; fr 1 of 2 right (P=R=1/2); ru none right; zh 1 predicted, right (P 1, R 1/2)
    bucc = result["bucc2018"]
    assert bucc["f1"] == {"de": 100.0, "fr": 50.0, "ru": 0.0, "zh": approx(200 / 3)}
    assert bucc["precision"] == {"de": 100.0, "fr": 50.0, "ru": 0.0, "zh": 100.0}
    assert bucc["avg_f1"] == approx((100 + 50 + 0 + 200 / 3) / 4)
    assert bucc["avg_precision"] == 62.5 and bucc["avg_recall"] == 50.0
    assert bucc["avg_metric"] == bucc["avg_f1"]

    # mlqa: en 1 of 2 answered exactly ("The Eiffel Tower." vs "Eiffel Tower"), the other unanswered -> 50/50;
    # es/de/ar/vi: article (or Arabic "ال") removed -> 100; hi "the book" vs "book": no articles in hi, F1 2/3;
    # zh "北京大学" vs "北京": per-character tokens, F1 2/3
    mlqa = result["mlqa"]
    assert mlqa["exact_match"] == {"en": 50.0, "es": 100.0, "de": 100.0, "ar": 100.0, "hi": 0.0, "vi": 100.0, "zh": 0.0}
    assert mlqa["f1"] == {
        "en": 50.0,
        "es": 100.0,
        "de": 100.0,
        "ar": 100.0,
        "hi": approx(200 / 3),
        "vi": 100.0,
        "zh": approx(200 / 3),
    }
    assert mlqa["avg_exact_match"] == approx(450 / 7)
    assert mlqa["avg_f1"] == approx(250 / 3)
    assert mlqa["avg_metric"] == approx((450 / 7 + 250 / 3) / 2)

    # groups only when complete; all_task only with all nine tasks
    assert "retrieval" not in result and "qa" not in result and "all_task" not in result
    assert set(result) == {"classification", "pawsx", "xnli", "bucc2018", "mlqa"}
    assert list(pawsx) == ["accuracy", "avg_accuracy", "avg_metric"]
    assert list(bucc) == ["f1", "precision", "recall", "avg_f1", "avg_precision", "avg_recall", "avg_metric"]
    assert list(mlqa) == ["exact_match", "f1", "avg_exact_match", "avg_f1", "avg_metric"]


def _write_full_submission(root: Path) -> None:
    """All nine tasks, every language, perfect predictions except xnli en (1 of 1 wrong)."""
    for task, langs in XTREME_TASK2LANGS.items():
        for lang in langs:
            for side in ("labels", "predictions"):
                d = root / side / task
                if task in ("xnli", "pawsx", "tatoeba"):
                    wrong = side == "predictions" and task == "xnli" and lang == "en"
                    S.write_labels_tsv(d / f"test-{lang}.tsv", ["neutral" if wrong else "entailment"])
                elif task in ("udpos", "panx"):
                    S.write_tagging(d / f"test-{lang}.tsv", [["B-PER", "I-PER", "O"], ["NOUN"]])
                elif task == "bucc2018":
                    S.write_bucc(d / f"test-{lang}.tsv", [(f"{lang}-1", "en-1")])
                elif side == "labels":
                    S.write_qa_labels(d / f"test-{lang}.json", [("q1", "a b c", "q?", [("b", 2)])])
                else:
                    S.write_qa_predictions(d / f"test-{lang}.json", {"q1": "b"})


def test_all_nine_tasks_give_all_task_and_groups(tmp_path: Path):
    _write_full_submission(tmp_path)
    result = score_predictions(tmp_path / "predictions", tmp_path / "labels")
    xnli = 1400 / 15  # 14 of 15 languages right
    assert result["xnli"]["avg_metric"] == approx(xnli)
    assert result["classification"] == approx((100 + xnli) / 2)
    assert result["tagging"] == result["qa"] == result["retrieval"] == 100.0
    assert result["all_task"] == approx((8 * 100 + xnli) / 9)


def test_dev_split_prefix(hand_copy: Path):
    for path in sorted(hand_copy.rglob("test-*")):
        path.rename(path.with_name("dev-" + path.name[len("test-") :]))
    result = score_predictions(hand_copy / "predictions", hand_copy / "labels", split="dev")
    assert result["pawsx"]["accuracy"]["es"] == 50.0
    with pytest.raises(UserError, match="missing prediction file"):
        score_predictions(hand_copy / "predictions", hand_copy / "labels")


def test_missing_label_file_is_named(hand_copy: Path):
    (hand_copy / "labels" / "pawsx" / "test-ko.tsv").unlink()
    with pytest.raises(UserError, match=r"labels/pawsx/test-ko\.tsv"):
        score_predictions(hand_copy / "predictions", hand_copy / "labels")


def test_line_count_mismatch_names_file_and_line(hand_copy: Path):
    pred = hand_copy / "predictions" / "xnli" / "test-fr.tsv"
    pred.write_text("entailment\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"predictions/xnli/test-fr\.tsv:2: 1 lines but 2"):
        score_predictions(hand_copy / "predictions", hand_copy / "labels")


def test_bad_json_names_file_and_line(hand_copy: Path):
    pred = hand_copy / "predictions" / "mlqa" / "test-de.json"
    pred.write_text('{\n "de1": "Haus",\n}\n', encoding="utf-8")
    with pytest.raises(UserError, match=r"predictions/mlqa/test-de\.json:3: bad JSON"):
        score_predictions(hand_copy / "predictions", hand_copy / "labels")


def test_tag_sentence_length_mismatch_names_line(tmp_path: Path):
    _write_full_submission(tmp_path)
    S.write_tagging(tmp_path / "predictions" / "panx" / "test-de.tsv", [["B-PER", "I-PER", "O"], ["NOUN", "O"]])
    with pytest.raises(UserError, match=r"panx/test-de\.tsv:5: sentence 2 has 2 tags but 1"):
        score_predictions(tmp_path / "predictions", tmp_path / "labels")


def test_unknown_benchmark_and_empty_folder(tmp_path: Path):
    with pytest.raises(UserError, match="unknown benchmark"):
        score_predictions(HAND / "predictions", HAND / "labels", benchmark="glue")
    (tmp_path / "p").mkdir()
    with pytest.raises(UserError, match="no task folder"):
        score_predictions(tmp_path / "p", HAND / "labels")


def test_score_task_lang_in_memory():
    assert score_task_lang("xnli", ["a", "b"], ["a", "a"], "en") == {"accuracy": 50.0}
    gold = {"q1": ["Haus"], "q2": ["Baum"]}
    assert score_task_lang("mlqa", {"q1": "das Haus"}, gold, "de") == {"exact_match": 50.0, "f1": 50.0}
    assert score_task_lang("udpos", [["NOUN", "NOUN"]], [["NOUN", "VERB"]], "en")["recall"] == 0.0
    assert score_task_lang("bucc2018", ["a\tx"], ["a\tx", "b\ty"], "de")["recall"] == 50.0


# --- submission layout round trips ----------------------------------------------------------------------------------


def test_tagging_round_trip_keeps_empty_sentences(tmp_path: Path):
    sents = [["B-PER", "O"], [], ["NOUN"]]
    S.write_tagging(tmp_path / "t.tsv", sents)
    assert (tmp_path / "t.tsv").read_text(encoding="utf-8") == "B-PER\nO\n\n\nNOUN\n\n"
    assert S.read_tagging(tmp_path / "t.tsv") == sents


def test_qa_and_bucc_round_trips(tmp_path: Path):
    from xstilts.families.examples import Answer, SpanExample

    ex = SpanExample(guid="q2", question="Wo?", context="im Haus", answers=[Answer("Haus", 3)])
    S.write_qa_labels(tmp_path / "l.json", [("q1", "ctx", "q?", ["a", "b"]), ex])
    assert S.read_qa_labels(tmp_path / "l.json") == [("q1", ["a", "b"]), ("q2", ["Haus"])]
    data = json.loads((tmp_path / "l.json").read_text(encoding="utf-8"))["data"]
    assert data[1]["paragraphs"][0]["qas"][0]["answers"] == [{"text": "Haus", "answer_start": 3}]
    S.write_qa_predictions(tmp_path / "p.json", {"q1": "ä"})
    assert S.read_qa_predictions(tmp_path / "p.json") == {"q1": "ä"}
    S.write_bucc(tmp_path / "b.tsv", [("de-1", "en-2")])
    assert S.read_bucc(tmp_path / "b.tsv") == [("de-1", "en-2")]
    S.write_labels_tsv(tmp_path / "c.tsv", ["x", 1])
    assert S.read_labels(tmp_path / "c.tsv") == ["x", "1"]


def test_malformed_submission_files(tmp_path: Path):
    (tmp_path / "b.tsv").write_text("de-1\ten-1\nde-2 en-2\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"b\.tsv:2:"):
        S.read_bucc(tmp_path / "b.tsv")
    (tmp_path / "p.json").write_text('{"q1": 3}', encoding="utf-8")
    with pytest.raises(UserError, match="expected a string"):
        S.read_qa_predictions(tmp_path / "p.json")
    (tmp_path / "l.json").write_text('{"data": [{"paragraphs": [{"qas": [{"id": "q"}]}]}]}', encoding="utf-8")
    with pytest.raises(UserError, match="not SQuAD format"):
        S.read_qa_labels(tmp_path / "l.json")
    with pytest.raises(UserError, match="line break"):
        S.write_labels_tsv(tmp_path / "x.tsv", ["a\nb"])


# --- parity with the official golden values ---------------------------------------------------------------------------

OFFICIAL = Path(__file__).parent / "fixtures" / "scorer" / "official_mock"

# google-research/xtreme evaluate_test.py (seqeval 0.0.12 values), compared exactly as assertEqual does there
OFFICIAL_AVERAGES = {
    "pawsx": {"avg_accuracy": 51.42857142857143},
    "xnli": {"avg_accuracy": 30.666666666666668},
    "panx": {"avg_f1": 57.50793650793652, "avg_precision": 54.729166666666664, "avg_recall": 62.750000000000014},
    "udpos": {"avg_f1": 70.21746048354693, "avg_precision": 71.02232625883823, "avg_recall": 69.54982073976082},
    "bucc2018": {"avg_f1": 55.0, "avg_precision": 55.0, "avg_recall": 55.0},
    "tatoeba": {"avg_accuracy": 53.611111111111114},
    "xquad": {"avg_exact_match": 77.27272727272727, "avg_f1": 79.9586776859504},
    "mlqa": {"avg_exact_match": 57.142857142857146, "avg_f1": 81.76870748299321},
    "tydiqa": {"avg_exact_match": 88.88888888888889, "avg_f1": 97.22222222222223},
}


def test_official_mock_submission_gives_the_golden_averages():
    """All nine tasks of the official mock submission: every golden average holds exactly (==)."""
    result = score_predictions(OFFICIAL / "predictions", OFFICIAL / "labels")
    assert set(OFFICIAL_AVERAGES) == set(XTREME_TASK2LANGS)
    assert {t for t in result if t in XTREME_TASK2LANGS} == set(OFFICIAL_AVERAGES)
    for task, expected in OFFICIAL_AVERAGES.items():
        got = {k: v for k, v in result[task].items() if k.startswith("avg_") and k != "avg_metric"}
        assert got == expected, task
    # the group scores and the overall score follow from the task scores as in evaluate.py
    qa = [
        (OFFICIAL_AVERAGES[t]["avg_exact_match"] + OFFICIAL_AVERAGES[t]["avg_f1"]) / 2
        for t in ("xquad", "mlqa", "tydiqa")
    ]
    assert result["qa"] == approx(sum(qa) / 3)
    assert result["all_task"] == approx(sum(result[t]["avg_metric"] for t in OFFICIAL_AVERAGES) / 9)
