"""Official-parity metrics, each against expectations worked out by hand in the comments."""

from __future__ import annotations

import pytest

from xstilts.evaluation.scorer import task_score
from xstilts.families import metrics as M


def approx(x: float) -> object:
    return pytest.approx(x, abs=1e-9)


# --- accuracy -------------------------------------------------------------------------------------------------------


def test_accuracy_is_exact_string_match_x100():
    assert M.accuracy(["a", "b", "c", "d"], ["a", "b", "x", "d"]) == 75.0
    assert M.accuracy(["1"], ["01"]) == 0.0  # compared as strings, as the official scorer does


def test_accuracy_rejects_length_mismatch_and_empty():
    with pytest.raises(ValueError):
        M.accuracy(["a"], ["a", "b"])
    with pytest.raises(ValueError):
        M.accuracy([], [])


def test_tatoeba_accuracy():
    assert M.tatoeba_accuracy([1, 2, 3], [1, 0, 3]) == approx(200 / 3)


# --- tagging: seqeval 0.0.12 chunks ---------------------------------------------------------------------------------


def test_ner_bio_chunks_and_f1():
    gold = [["B-PER", "I-PER", "O", "B-LOC"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"]]
    assert M.tag_chunks(gold) == {("PER", 0, 1), ("LOC", 3, 3)}
    # one of two chunks right on each side
    assert M.tagging_scores(gold, pred) == {"f1": 50.0, "precision": 50.0, "recall": 50.0}


def test_ner_chunk_rules_of_0_0_12():
    assert M.tag_chunks([["I-PER", "I-PER", "O"]]) == {("PER", 0, 1)}  # I- after O opens a chunk
    assert M.tag_chunks([["B-PER", "I-LOC"]]) == {("PER", 0, 0), ("LOC", 1, 1)}  # a type change splits
    assert M.tag_chunks([["S-PER", "B-LOC", "E-LOC", "O"]]) == {("PER", 0, 0), ("LOC", 1, 2)}  # BIOES
    assert M.tag_chunks([["B-PER", "B-PER"]]) == {("PER", 0, 0), ("PER", 1, 1)}
    # sentences are joined with an "O" after each: the second sentence starts at offset 3, not 2
    assert M.tag_chunks([["B-PER", "I-PER"], ["B-PER"]]) == {("PER", 0, 1), ("PER", 3, 3)}


def test_pos_tags_without_prefix_chunk_as_0_0_12():
    # Bare tags read as (first letter, whole tag): runs of one tag form one chunk, but S-initial tags
    # (SCONJ, SYM) are singletons, and I-initial INTJ continues like an I- tag.
    gold = [["NOUN", "NOUN", "VERB", "SCONJ", "SCONJ", "ADJ"]]
    assert M.tag_chunks(gold) == {("NOUN", 0, 1), ("VERB", 2, 2), ("SCONJ", 3, 3), ("SCONJ", 4, 4), ("ADJ", 5, 5)}
    assert M.tag_chunks([["INTJ", "INTJ", "SYM", "SYM"]]) == {("INTJ", 0, 1), ("SYM", 2, 2), ("SYM", 3, 3)}
    # pred splits the NOUN run: 6 predicted chunks, 5 gold, 4 shared (VERB, SCONJ x2, ADJ)
    pred = [["NOUN", "PROPN", "VERB", "SCONJ", "SCONJ", "ADJ"]]
    p, r = 4 / 6, 4 / 5
    assert M.tagging_scores(gold, pred) == {
        "f1": approx(100 * 2 * p * r / (p + r)),
        "precision": approx(100 * p),
        "recall": approx(100 * r),
    }
    assert M.tagging_scores(gold, pred)["f1"] == approx(800 / 11)  # 8/11, not the token accuracy 5/6


def test_tagging_empty_predictions_score_zero():
    assert M.tagging_scores([[]], [[]]) == {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    assert M.tagging_scores([["B-PER"]], [["O"]]) == {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    # every predicted chunk right, half of the gold ones found
    assert M.tagging_scores([["B-PER", "O", "B-LOC"]], [["B-PER", "O", "O"]]) == {
        "f1": approx(200 / 3),
        "precision": 100.0,
        "recall": 50.0,
    }


def test_tagging_rejects_sentence_count_mismatch():
    with pytest.raises(ValueError):
        M.tagging_scores([["O"]], [["O"], ["O"]])


# --- SQuAD ----------------------------------------------------------------------------------------------------------


def test_squad_normalization_and_several_golds():
    assert M.squad_normalize("The  Cat's, hat!") == "cats hat"
    assert M.squad_scores(["The Cat!"], [["cat"]]) == {"exact_match": 100.0, "f1": 100.0}
    # vs "red dog": P 2/3 R 1 -> 0.8; vs "a big red dog house" (article dropped): P 1 R 3/4 -> 6/7; max is 6/7
    assert M.squad_scores(["big red dog"], [["red dog", "a big red dog house"]]) == {
        "exact_match": 0.0,
        "f1": approx(600 / 7),
    }


def test_squad_keeps_unicode_punctuation_unlike_mlqa():
    assert M.squad_scores(["«cat»"], [["cat"]]) == {"exact_match": 0.0, "f1": 0.0}
    assert M.mlqa_scores(["«cat»"], [["cat"]], "en") == {"exact_match": 100.0, "f1": 100.0}


def test_squad_empty_and_unanswered_predictions():
    assert M.squad_scores([""], [["x"]]) == {"exact_match": 0.0, "f1": 0.0}
    # both normalize to "": exact match, yet F1 0 (SQuAD v1.1 quirk)
    assert M.squad_scores(["the"], [["a"]]) == {"exact_match": 100.0, "f1": 0.0}
    # an unanswered question (None) scores 0 but counts
    assert M.squad_scores(["cat", None], [["cat"], ["dog"]]) == {"exact_match": 50.0, "f1": 50.0}


# --- MLQA -----------------------------------------------------------------------------------------------------------


def test_mlqa_unicode_punctuation_and_string_punctuation():
    # ¿ « » — are Unicode P*; $ and ~ are symbols (S*) removed only because string.punctuation is added
    assert M.mlqa_normalize("¿«Hola»—dijo?", "es") == "holadijo"
    assert M.mlqa_normalize("5$ ~x", "en") == "5 x"
    assert M.mlqa_normalize("”quote“ ‘x’", "en") == "quote x"


@pytest.mark.parametrize(
    "lang, articles",
    [
        ("en", "a an the"),
        ("es", "un una unos unas el la los las"),
        ("de", "ein eine einen einem eines einer der die das den dem des"),
        ("vi", "của là cái chiếc những"),
    ],
)
def test_mlqa_article_lists(lang, articles):
    for article in articles.split():
        assert M.mlqa_normalize(f"{article.capitalize()} word", lang) == "word", article
        assert M.mlqa_normalize(f"x{article} word", lang) == f"x{article} word"  # whole words only


def test_mlqa_articles_are_per_language():
    assert M.mlqa_normalize("el libro", "en") == "el libro"
    assert M.mlqa_normalize("the book", "es") == "the book"
    assert M.mlqa_normalize("the book", "hi") == "the book"  # hi: no articles
    assert M.mlqa_normalize("the book", "zh") == "the book"  # zh: no articles
    assert M.mlqa_normalize("der Hund", "es") == "der hund"


def test_mlqa_arabic_removes_al_everywhere():
    assert M.mlqa_normalize("الكتاب", "ar") == "كتاب"
    assert M.mlqa_normalize("سؤال", "ar") == "سؤ"  # word-final, not an article: removed anyway
    assert M.mlqa_normalize("فالكتاب", "ar") == "ف كتاب"  # word-internal: splits the word
    # pred tokens [ف, كتاب] vs gold [كتاب]: P 1/2 R 1 -> F1 2/3
    assert M.mlqa_scores(["فالكتاب"], [["كتاب"]], "ar") == {"exact_match": 0.0, "f1": approx(200 / 3)}


def test_mlqa_chinese_mixed_segmentation():
    assert M.mlqa_normalize("我爱北京abc def。", "zh") == "我 爱 北 京 abc def"
    assert M.mlqa_normalize("abc的def", "zh") == "abc 的 def"
    # the range ends at U+9FA5: U+9FA6 is not split off
    assert M.mlqa_normalize("\u9fa5\u9fa5", "zh") == "\u9fa5 \u9fa5"
    assert M.mlqa_normalize("\u9fa6\u9fa6", "zh") == "\u9fa6\u9fa6"
    # 北 京 大 学 vs 北 京: P 1/2 R 1 -> 2/3; whitespace tokenization (SQuAD) sees no overlap
    assert M.mlqa_scores(["北京大学"], [["北京"]], "zh") == {"exact_match": 0.0, "f1": approx(200 / 3)}
    assert M.squad_scores(["北京大学"], [["北京"]]) == {"exact_match": 0.0, "f1": 0.0}


def test_mlqa_several_golds_and_unknown_language():
    assert M.mlqa_scores(["la casa azul"], [["casa", "casa azul"]], "es") == {"exact_match": 100.0, "f1": 100.0}
    with pytest.raises(ValueError):
        M.mlqa_scores(["x"], [["x"]], "fr")


# --- BUCC -----------------------------------------------------------------------------------------------------------


def test_bucc_pair_f1():
    pred = [("a", "x"), ("b", "y")]
    gold = [("a", "x"), ("c", "z"), ("d", "w")]
    # 1 correct: P 1/2, R 1/3, F1 2/5
    assert M.bucc_scores(pred, gold) == {"f1": approx(40.0), "precision": 50.0, "recall": approx(100 / 3)}
    assert M.bucc_scores(["a\tx", "b\ty"], ["a\tx", "c\tz", "d\tw"]) == M.bucc_scores(pred, gold)


def test_bucc_no_correct_pair_is_all_zero():
    assert M.bucc_scores([("a", "y")], [("a", "x")]) == {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    assert M.bucc_scores([], [("a", "x")]) == {"f1": 0.0, "precision": 0.0, "recall": 0.0}


def test_bucc_best_threshold_as_bucc_optimize():
    cands = [("a", "x", 0.9), ("b", "q", 0.8), ("c", "z", 0.7), ("d", "r", 0.6)]
    gold = [("a", "x"), ("c", "z")]
    # walking down: F1 2/3 at 0.9 (th 0.85), 1/2, then 4/5 at 0.7 (th (0.7+0.6)/2), then 2/3
    assert M.bucc_best_threshold(cands, gold) == approx(0.65)
    mined = M.bucc_extract(cands, 0.65)
    assert mined == [("a", "x"), ("b", "q"), ("c", "z")]
    assert M.bucc_scores(mined, gold)["f1"] == approx(80.0)


def test_bucc_threshold_edge_cases():
    assert M.bucc_best_threshold([("a", "y", 0.9)], [("a", "x")]) == 0.0  # nothing correct
    # duplicates keep their best score; best F1 at the last candidate keeps it (official code fails there)
    cands = [("b", "q", 0.8), ("a", "x", 0.5), ("a", "x", 0.7)]
    assert M.bucc_best_threshold(cands, [("a", "x"), ("b", "q")]) == approx(0.7)


# --- task score -----------------------------------------------------------------------------------------------------


def test_task_score_rule():
    assert task_score("mlqa", {"exact_match": 40.0, "f1": 60.0}) == 50.0
    assert task_score("panx", {"f1": 70.0, "precision": 1.0, "recall": 2.0}) == 70.0
    assert task_score("xnli", {"accuracy": 80.0}) == 80.0
