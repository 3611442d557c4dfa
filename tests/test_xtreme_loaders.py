"""XTREME targets: task definitions, google/xtreme row mappers and the official download-layout readers.

Fixtures (tests/fixtures/xtreme): `hub/<config>/<hub split>.jsonl` in google/xtreme's schema (directory names are the
exact hub config names, so a wrong config pattern finds no file) and `official/<task>/...` as download_data.sh leaves it.
"""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from tests.helpers import XTREME_FIXTURES as FIX
from tests.helpers import XTREME_OFFICIAL as OFFICIAL
from tests.helpers import xtreme_hub as hub
from tests.helpers import xtreme_official as official
from xstilts.data.hub import ROW_MAPPERS, format_pattern, get_mapper, map_rows
from xstilts.data.load import load_examples
from xstilts.data.xtreme import (
    OFFICIAL_READERS,
    available_splits,
    hub_examples,
    map_sentence_pair,
    map_squad,
    tatoeba_official_order,
)
from xstilts.errors import UserError
from xstilts.families.examples import Answer, BitextExample, SentenceExample, SpanExample, TagExample
from xstilts.languages import UDPOS_LANG2NAME, XTREME_GROUP2TASK, XTREME_TASK2LANGS
from xstilts.tasks.registry import get_task

TARGETS = list(XTREME_TASK2LANGS)
TRAIN_FROM = {
    "xnli": "mnli",
    "pawsx": "pawsx_en",
    "udpos": "udpos_en",
    "panx": "panx_en",
    "xquad": "squad",
    "mlqa": "squad",
    "tydiqa": "tydiqa_en",
    "bucc2018": None,
    "tatoeba": None,
}


def unlabelled(ex):
    """What the official test files keep of an example: no labels, tags or answers (QA files also lose titles)."""
    if isinstance(ex, SentenceExample):
        return dataclasses.replace(ex, label=None)
    if isinstance(ex, TagExample):
        return dataclasses.replace(ex, tags=None)
    if isinstance(ex, SpanExample):
        return dataclasses.replace(ex, answers=[], title="")
    return ex


# --- task definitions -------------------------------------------------------------------------------------------


def test_nine_targets_are_defined_from_the_language_tables():
    group_of = {t: g for g, ts in XTREME_GROUP2TASK.items() for t in ts}
    families = {"classification": "classification", "tagging": "tagging", "qa": "span_qa", "retrieval": "retrieval"}
    for name in TARGETS:
        task = get_task(name)
        assert task.role == "target"
        assert task.languages == XTREME_TASK2LANGS[name]
        assert task.group == group_of[name]
        assert task.family == families[group_of[name]]
        assert task.train_from == TRAIN_FROM[name]
        if task.train_from:
            assert get_task(task.train_from).train_language == "en"
        assert task.source is not None and task.source.id == "google/xtreme"
        assert task.source.mapper in ROW_MAPPERS or get_mapper(task.source.mapper)
        assert set(task.splits) <= set(task.source.splits)
        assert name in OFFICIAL_READERS


def test_config_patterns_resolve_for_every_language():
    for name in TARGETS:
        task = get_task(name)
        for lang in task.languages:
            config = format_pattern(task.source.config, lang)
            assert "{" not in config
            if name == "udpos":
                assert config == f"udpos.{UDPOS_LANG2NAME[lang]}"
            if name == "tatoeba":
                assert len(config.split(".")[1]) == 3
    assert format_pattern(get_task("mlqa").source.config, "hi") == "MLQA.hi.hi"
    assert format_pattern(get_task("tatoeba").source.config, "zh") == "tatoeba.cmn"
    assert format_pattern(get_task("tatoeba").source.config, "fa") == "tatoeba.pes"


def test_label_lists_and_english_training_tasks():
    assert get_task("udpos").labels == get_task("udpos_en").labels and len(get_task("udpos").labels) == 17
    assert get_task("panx").labels == ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
    assert get_task("xnli").labels == get_task("mnli").labels == ["entailment", "neutral", "contradiction"]
    for name in ("pawsx_en", "udpos_en", "panx_en", "tydiqa_en"):
        task = get_task(name)
        assert task.role == "intermediate" and task.languages == ["en"] and "train" in task.splits
        assert task.has_training_data


def test_udpos_languages_without_dev():
    udpos = get_task("udpos")
    assert available_splits(udpos, "de") == ["dev", "test"]
    assert available_splits(udpos, "th") == ["test"] and available_splits(udpos, "kk") == ["test"]
    with pytest.raises(UserError, match="no 'dev' split for language 'th'"):
        hub_examples(udpos, "dev", "th", data_files={"validation": "unused.jsonl"})
    with pytest.raises(UserError, match="dev-th.tsv"):
        official("udpos", "dev", "th")


# --- hand-written expectations, both loaders ----------------------------------------------------------------------


def test_xnli_keeps_the_requested_language_only():
    expected = [
        SentenceExample("de-0", "Die Katze sitzt auf der Matte.", "Eine Katze sitzt.", "entailment"),
        SentenceExample("de-1", "Er kam spät nach Hause.", "Er kam früh nach Hause.", "contradiction"),
        SentenceExample("de-2", "Das Museum ist neu.", "Das Museum ist groß.", "neutral"),
    ]
    assert hub("xnli", "dev", "de") == expected
    assert official("xnli", "dev", "de") == expected
    # csv-quoted field in the official TSV ("He said ""no"" twice.")
    assert official("xnli", "dev", "en")[1].text_a == 'He said "no" twice.' == hub("xnli", "dev", "en")[1].text_a
    test_ar = official("xnli", "test", "ar")
    assert [e.label for e in test_ar] == [None, None]
    assert [e.label for e in hub("xnli", "test", "ar")] == ["entailment", "contradiction"]


def test_pawsx_train_dev_test():
    assert (
        hub("pawsx", "dev", "zh")
        == official("pawsx", "dev", "zh")
        == [
            SentenceExample("zh-0", "她于1990年搬到巴黎。", "1990年她搬到了巴黎。", "1"),
            SentenceExample("zh-1", "该队以2比1击败阿贾克斯。", "阿贾克斯以2比1击败该队。", "0"),
            SentenceExample("zh-2", "它位于城镇东部。", "它在城镇的东边。", "1"),
        ]
    )
    train = hub("pawsx_en", "train", "en")
    assert train == official("pawsx_en", "train", "en")
    assert [e.label for e in train] == ["1", "0", "1"]
    assert train[1].text_a == "Paul was born in Leeds and raised in York."


def test_tagging_ints_become_tag_names():
    assert (
        hub("udpos", "dev", "de")
        == official("udpos", "dev", "de")
        == [
            TagExample("de-0", ["Der", "Hund", "bellt", "."], ["DET", "NOUN", "VERB", "PUNCT"]),
            TagExample("de-1", ["Ich", "bin", "müde"], ["PRON", "AUX", "ADJ"]),
        ]
    )
    assert (
        hub("panx", "dev", "ja")
        == official("panx", "dev", "ja")
        == [
            TagExample("ja-0", ["東京", "都"], ["B-LOC", "I-LOC"]),
            TagExample("ja-1", ["安倍", "晋三"], ["B-PER", "I-PER"]),
        ]
    )
    assert official("panx", "test", "en") == [
        TagExample("en-0", ["Lake", "Geneva"]),
        TagExample("en-1", ["the", "United", "Nations"]),
    ]
    assert hub("panx", "test", "en")[1].tags == ["O", "B-ORG", "I-ORG"]
    assert hub("udpos", "test", "th")[0] == TagExample("th-0", ["แมว", "กิน", "ปลา"], ["NOUN", "VERB", "NOUN"])
    assert hub("udpos_en", "train", "en") == official("udpos_en", "train", "en")
    assert hub("panx_en", "train", "en")[0].tags == ["B-PER", "I-PER", "O", "B-LOC", "O"]


def test_qa_examples():
    ctx = "诺曼人将他们的名字给了法国的一个地区诺曼底。"
    xq = hub("xquad", "test", "zh")
    assert xq[0] == SpanExample("56ddde6b9a695914005b9628", "诺曼底位于哪个国家？", ctx, [Answer("法国", 11)])
    assert official("xquad", "test", "zh") == [unlabelled(e) for e in xq]  # official XQuAD files are stripped
    mlqa = hub("mlqa", "dev", "de")
    assert mlqa == official("mlqa", "dev", "de")
    assert mlqa[0].title == "Mount Everest" and mlqa[0].answers == [Answer("im Himalaya", 58)]
    assert mlqa[0].context[58:69] == "im Himalaya"
    with pytest.raises(UserError, match="only a test split"):
        official("xquad", "dev", "en")


def test_tydiqa_filters_by_id_prefix():
    ar = hub("tydiqa", "test", "ar")
    assert [e.guid for e in ar] == ["arabic-2222222222222222222-0", "arabic-6666666666666666666-0"]
    assert ar[1].answers == [Answer("بيروت", 0)] and ar[1].title == "بيروت"
    assert official("tydiqa", "test", "ar") == [unlabelled(e) for e in ar]
    train = hub("tydiqa_en", "train", "en")
    assert [e.guid for e in train] == ["english-8113471016339402127-0", "english-5527431204882739661-2"]
    assert train == official("tydiqa_en", "train", "en") == official("tydiqa", "train", "en")
    assert train[1].answers == [Answer("Guido van Rossum", 44)]


def test_tydiqa_per_language_train_file_is_the_fallback(tmp_path):
    train_dir = tmp_path / "tydiqa" / "tydiqa-goldp-v1.1-train"
    train_dir.mkdir(parents=True)
    shutil.copy(OFFICIAL / "tydiqa" / "tydiqa-goldp-v1.1-train" / "tydiqa.goldp.en.train.json", train_dir)
    got = OFFICIAL_READERS["tydiqa"](tmp_path, "train", "en")
    full = official("tydiqa", "train", "en")
    # utils_preprocess keeps only the id's last segment and no title in these files.
    assert [e.guid for e in got] == ["0", "2"]
    assert [(e.question, e.context, e.answers) for e in got] == [(e.question, e.context, e.answers) for e in full]


def test_bucc_gold_pairs_and_distractors():
    pairs = [
        BitextExample("de-000000001", "en-000000003", "Das Wetter ist heute schön.", "The weather is nice today."),
        BitextExample("de-000000002", "en-000000002", "Der Zug hat Verspätung.", "The train is late."),
    ]
    assert hub("bucc2018", "dev", "de") == pairs
    dev = official("bucc2018", "dev", "de")
    assert dev[:2] == pairs
    assert dev[2:] == [
        BitextExample("de-000000003", "", "Wir essen um sieben Uhr.", None),
        BitextExample("de-000000004", "", "Die Bank schließt um fünf.", None),
        BitextExample("", "en-000000001", None, "The meeting was cancelled."),
        BitextExample("", "en-000000004", None, "Prices rose sharply."),
        BitextExample("", "en-000000005", None, "She plays the violin."),
    ]
    # The official test split has no gold: every sentence is one-sided, and the hub's gold pairs are among them.
    test = official("bucc2018", "test", "fr")
    assert all((e.source is None) != (e.target is None) for e in test) and len(test) == 4
    srcs = {e.source_id: e.source for e in test if e.source}
    tgts = {e.target_id: e.target for e in test if e.target}
    for p in hub("bucc2018", "test", "fr"):
        assert srcs[p.source_id] == p.source and tgts[p.target_id] == p.target


def test_tatoeba_pairs_and_official_sorted_english(tmp_path):
    pairs = hub("tatoeba", "test", "de")
    assert pairs[1] == BitextExample("de-1", "en-1", "Wo ist der Bahnhof?", "Where is the station?")
    got = official("tatoeba", "test", "de")
    sources = [e for e in got if e.target is None]
    targets = [e for e in got if e.source is None]
    assert [e.source for e in sources] == [p.source for p in pairs]
    assert [e.target for e in targets] == ["Good morning!", "I am hungry.", "That is my book.", "Where is the station?"]
    order = tatoeba_official_order([p.target for p in pairs])
    assert order == [1, 3, 2, 0]
    assert all(targets[order[i]].target == p.target for i, p in enumerate(pairs))
    # The aligned LASER files, when present, give the hub's pairs.
    (tmp_path / "tatoeba.ara-eng.ara").write_text("".join(p.source + "\n" for p in hub("tatoeba", "test", "ar")))
    (tmp_path / "tatoeba.ara-eng.eng").write_text("".join(p.target + "\n" for p in hub("tatoeba", "test", "ar")))
    assert OFFICIAL_READERS["tatoeba"](tmp_path, "test", "ar") == hub("tatoeba", "test", "ar")


# --- parity over every fixture ------------------------------------------------------------------------------------

PARITY = [  # (task, split, lang, official file stripped of labels)
    *[("xnli", "dev", lang, False) for lang in ("en", "de", "ar")],
    *[("xnli", "test", lang, True) for lang in ("en", "de", "ar")],
    *[("pawsx", s, lang, s == "test") for s in ("dev", "test") for lang in ("en", "de", "zh")],
    ("pawsx_en", "train", "en", False),
    *[
        ("udpos", s, lang, s == "test")
        for s, lang in [("dev", "en"), ("test", "en"), ("dev", "de"), ("test", "de"), ("test", "th")]
    ],
    ("udpos_en", "train", "en", False),
    *[("panx", s, lang, s == "test") for s in ("dev", "test") for lang in ("en", "de", "ja")],
    ("panx_en", "train", "en", False),
    *[("xquad", "test", lang, True) for lang in ("en", "de", "zh")],
    *[("mlqa", s, lang, s == "test") for s in ("dev", "test") for lang in ("en", "de")],
    *[("tydiqa", "test", lang, True) for lang in ("en", "ar", "fi")],
    # TyDiQA train (the target only evaluates): the hub rows read through tydiqa_en, filtered to each language.
    *[("tydiqa_en>tydiqa", "train", lang, False) for lang in ("en", "ar", "fi")],
]


@pytest.mark.parametrize("name,split,lang,stripped", PARITY)
def test_hub_and_official_layout_agree(name, split, lang, stripped):
    hub_task, _, official_task = name.partition(">")
    got = hub(hub_task, split, lang)
    assert got, "empty fixture"
    expected = [unlabelled(e) for e in got] if stripped else got
    assert official(official_task or hub_task, split, lang) == expected


def test_bucc_parity_on_dev():
    for lang in ("de", "fr"):
        gold = hub("bucc2018", "dev", lang)
        assert official("bucc2018", "dev", lang)[: len(gold)] == gold


# --- mapper quirks and dispatch -------------------------------------------------------------------------------------


def test_pair_mapper_skips_the_tsv_header_and_rejects_unknown_labels():
    paws = get_task("pawsx_en")
    header = {"sentence1": "sentence1", "sentence2": "sentence2", "label": "label"}
    assert map_sentence_pair(header, paws, 0) is None
    with pytest.raises(UserError, match="unexpected label '2'"):
        map_sentence_pair({"sentence1": "a", "sentence2": "b", "label": "2"}, paws, 0)
    assert map_sentence_pair({"sentence1": "a", "sentence2": "b", "label": ""}, paws, 0).label is None
    assert map_sentence_pair({"sentence1": "a", "sentence2": "b", "label": -1}, paws, 0).label is None
    assert map_sentence_pair({"sentence1": "a", "sentence2": "b", "label": 1}, paws, 0).label == "1"


def test_languages_a_shared_config_lacks_are_errors():
    with pytest.raises(UserError, match="none of 10 hub rows is in language 'ja'"):
        hub("xnli", "dev", "ja")
    with pytest.raises(UserError, match="TyDiQA-GoldP has no language 'de'"):
        hub("tydiqa", "test", "de")
    with pytest.raises(UserError, match="TyDiQA-GoldP has no language 'de'"):
        official("tydiqa", "train", "de")


def test_generic_hub_path_uses_the_train_language():
    xnli = get_task("xnli")
    rows = [
        {"language": "de", "sentence1": "a", "sentence2": "b", "gold_label": "neutral"},
        {"language": "en", "sentence1": "c", "sentence2": "d", "gold_label": "entailment"},
    ]
    assert map_rows(xnli, rows) == [SentenceExample("en-1", "c", "d", "entailment")]


def test_squad_mapper_realigns_offsets_of_stripped_contexts():
    # google/xtreme strips the context but keeps answer_start: " Paris is big." had "big" at 10, now at 9.
    row = {
        "id": "q",
        "question": "How?",
        "context": "Paris is big.",
        "answers": {"answer_start": [10], "text": ["big"]},
    }
    assert map_squad(row, get_task("xquad"), 0).answers == [Answer("big", 9)]
    row["answers"] = [{"answer_start": 0, "text": ""}]
    assert map_squad(row, get_task("xquad"), 0).answers == []


def test_load_examples_dispatches_to_official_reader_and_hub(monkeypatch):
    assert load_examples(get_task("panx"), "dev", "de", data_dir=OFFICIAL) == official("panx", "dev", "de")
    assert load_examples(get_task("mnli"), "train", "en", data_dir=OFFICIAL)[0].label == "neutral"

    import datasets

    real = datasets.load_dataset

    def fake_load_dataset(path, name=None, split=None, **kw):
        assert path == "google/xtreme"
        return real("json", data_files={split: str(FIX / "hub" / name / f"{split}.jsonl")}, split=split)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    for name in ("pawsx_en", "udpos_en", "panx_en", "tydiqa_en"):
        assert load_examples(get_task(name), "train") == official(name, "train", "en"), name
