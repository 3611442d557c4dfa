"""XTREME targets: google/xtreme row mappers, a hub loader with per-language filtering, and readers for the
directory layout that google-research/xtreme `scripts/download_data.sh` (+ `utils_preprocess.py`) produces.

Official layout (under the download root, or pass the task folder itself):
  xnli/      train-en.tsv (MNLI train), {dev,test}-<lang>.tsv          sentence1 TAB sentence2 [TAB label] (csv-quoted)
  pawsx/     train-en.tsv, {dev,test}-<lang>.tsv                       same columns; labels "0"/"1"
  udpos/     {train,dev,test}-<lang>.tsv                               token TAB tag per line, blank line between sentences
  panx/      {train,dev,test}-<lang>.tsv                               same ("xx:" prefixes already removed)
  squad/     {train,dev}-v1.1.json                                     SQuAD v1.1 JSON
  xquad/     xquad.<lang>.json                                         SQuAD JSON
  mlqa/      MLQA_V1/{dev,test}/{dev,test}-context-<lang>-question-<lang>.json
  tydiqa/    tydiqa-goldp-v1.1-train/{tydiqa-goldp-v1.1-train.json, tydiqa.goldp.<lang>.train.json},
             tydiqa-goldp-v1.1-dev/tydiqa.goldp.<lang>.dev.json
  bucc2018/  <lang>-en.{dev,test}.{<lang>,en}  (id TAB sentence), <lang>-en.dev.gold (src_id TAB en_id; test gold removed)
  tatoeba/   <lang>-en.<lang>, <lang>-en.en (English side sorted by text, so no gold alignment)
Test files of xnli/pawsx/udpos/panx carry no labels, and the QA test files (xquad, mlqa test, tydiqa dev) have their
answers replaced by a placeholder: those readers return unlabelled examples (label/tags None, answers []).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Callable

from xstilts.data.examples import Answer, BitextExample, SentenceExample, SpanExample, TagExample
from xstilts.data.hub import get_mapper, load_hub_rows, row_mapper
from xstilts.data.local import read_text, read_text_lines
from xstilts.errors import UserError
from xstilts.tasks.spec import TaskSpec

# TyDi QA ids start with the language's English name (e.g. "arabic-2387335860751143628-1").
# TODO(move): belongs with the other name maps in xstilts.languages.
TYDIQA_LANG2NAME: dict[str, str] = {
    "ar": "arabic", "bn": "bengali", "en": "english", "fi": "finnish", "id": "indonesian",
    "ko": "korean", "ru": "russian", "sw": "swahili", "te": "telugu",
}

# UD languages that have no treebank with these splits (google/xtreme udpos configs and the UD download alike).
UDPOS_MISSING_SPLITS: dict[str, tuple[str, ...]] = {
    "kk": ("dev",), "tl": ("train", "dev"), "th": ("train", "dev"), "yo": ("train", "dev"),
}


def available_splits(task: TaskSpec, lang: str) -> list[str]:
    """The task's splits that exist for `lang` (UD-POS lacks dev for kk, tl, th, yo)."""
    base = task.name.removesuffix("_en")
    missing = UDPOS_MISSING_SPLITS.get(lang, ()) if base == "udpos" else ()
    return [s for s in task.splits if s not in missing]


# ---------------------------------------------------------------------------------------------------------------
# Hub row mappers. Signature (row, task, index, lang=None): `index` is the example's position among the rows kept
# for (split, lang); lang None means the task's train_language (the generic hub path passes no language).


def _guid(lang: str, index: int) -> str:
    return f"{lang}-{index}"


def _label_name(value: Any, labels: list[str] | None) -> str:
    """ClassLabel ints become their names (-1, the hub's 'no label', becomes ""); strings (XNLI/PAWS-X keep raw
    TSV strings) stay as they are."""
    if isinstance(value, int) and not isinstance(value, bool) and labels is not None:
        return labels[value] if value >= 0 else ""
    return str(value)


@row_mapper("xtreme_pair")
def map_sentence_pair(row: dict[str, Any], task: TaskSpec, index: int, lang: str | None = None) -> SentenceExample | None:
    """XNLI (one config, all languages: other languages' rows are skipped) and PAWS-X rows."""
    lang = lang or task.train_language
    if "language" in row and row["language"] != lang:
        return None
    raw = row["gold_label"] if "gold_label" in row else row["label"]
    if raw == "label" and row["sentence1"] == "sentence1":
        return None  # the raw TSV header, which a csv.reader-based builder yields as a row
    label: str | None = _label_name(raw, task.labels)
    if label in ("", "-1"):
        label = None
    elif task.labels is not None and label not in task.labels:
        raise UserError(f"task '{task.name}': unexpected label {raw!r} in row {index}; expected one of {task.labels}")
    return SentenceExample(guid=_guid(lang, index), text_a=row["sentence1"], text_b=row["sentence2"], label=label)


@row_mapper("xtreme_tags")
def map_tags(row: dict[str, Any], task: TaskSpec, index: int, lang: str | None = None) -> TagExample:
    """udpos (pos_tags) and PAN-X (ner_tags) rows; the tag field is named in the task's source.fields['tags']."""
    assert task.source is not None
    tag_field = task.source.fields.get("tags", "tags")
    tags = row.get(tag_field)
    return TagExample(
        guid=_guid(lang or task.train_language, index),
        tokens=list(row["tokens"]),
        tags=None if tags is None else [_label_name(t, task.labels) for t in tags],
    )


def _realign(context: str, text: str, start: int) -> int:
    """The hub strips contexts without moving answer_start: snap the offset to the nearest true occurrence."""
    if context[start: start + len(text)] == text or not text:
        return start
    hits, pos = [], context.find(text)
    while pos != -1:
        hits.append(pos)
        pos = context.find(text, pos + 1)
    return min(hits, key=lambda p: abs(p - start)) if hits else start


def _answers(raw: Any, context: str) -> list[Answer]:
    """Answers as a dict of lists (datasets Sequence) or a list of dicts; empty-text placeholders are dropped."""
    if isinstance(raw, dict):
        pairs = list(zip(raw.get("text", []), raw.get("answer_start", [])))
    else:
        pairs = [(a["text"], a["answer_start"]) for a in raw or []]
    return [Answer(text=t, answer_start=_realign(context, t, int(s))) for t, s in pairs if t]


def _span_example(row: dict[str, Any], title: bool = True) -> SpanExample:
    context = row["context"]
    return SpanExample(
        guid=str(row["id"]),
        question=row["question"],
        context=context,
        answers=_answers(row.get("answers"), context),
        title=(row.get("title") or "") if title else "",
    )


@row_mapper("xtreme_squad")
def map_squad(row: dict[str, Any], task: TaskSpec, index: int, lang: str | None = None) -> SpanExample:
    """XQuAD / MLQA / SQuAD rows (guid = the question id)."""
    return _span_example(row)


def _tydiqa_name(lang: str) -> str:
    if lang not in TYDIQA_LANG2NAME:
        raise UserError(f"TyDiQA-GoldP has no language '{lang}'; it has {sorted(TYDIQA_LANG2NAME)}")
    return TYDIQA_LANG2NAME[lang]


@row_mapper("xtreme_tydiqa")
def map_tydiqa(row: dict[str, Any], task: TaskSpec, index: int, lang: str | None = None) -> SpanExample | None:
    """TyDiQA-GoldP: one config for all languages, so keep rows whose id starts with the language's name."""
    if str(row["id"]).split("-", 1)[0] != _tydiqa_name(lang or task.train_language):
        return None
    return _span_example(row)


@row_mapper("xtreme_bucc")
def map_bucc(row: dict[str, Any], task: TaskSpec, index: int, lang: str | None = None) -> BitextExample:
    """bucc18 rows are gold pairs; source_lang/target_lang hold the BUCC sentence ids, not languages."""
    return BitextExample(
        source_id=row["source_lang"], target_id=row["target_lang"],
        source=row["source_sentence"].strip(), target=row["target_sentence"].strip(),
    )


@row_mapper("xtreme_tatoeba")
def map_tatoeba(row: dict[str, Any], task: TaskSpec, index: int, lang: str | None = None) -> BitextExample:
    """tatoeba rows are aligned pairs (line i of both LASER files) with a trailing newline; the target is English."""
    return BitextExample(
        source_id=_guid(lang or task.train_language, index), target_id=_guid("en", index),
        source=row["source_sentence"].strip(), target=row["target_sentence"].strip(),
    )


def hub_examples(task: TaskSpec, split: str, lang: str, data_files: Any = None) -> list[Any]:
    """Examples of one XTREME split and language from google/xtreme (or local files in its schema via data_files).

    Rows of other languages (XNLI, TyDiQA share one config) are dropped before numbering, so guids count per language.
    """
    if task.source is None:
        raise UserError(f"task '{task.name}' has no hub source")
    if split not in available_splits(task, lang):
        raise UserError(f"task '{task.name}' has no '{split}' split for language '{lang}'; "
                        f"available: {available_splits(task, lang)}")
    mapper = get_mapper(task.source.mapper)
    out: list[Any] = []
    rows = load_hub_rows(task, split, lang, data_files)
    for row in rows:
        ex = mapper(row, task, len(out), lang=lang)
        if ex is not None:
            out.append(ex)
    if rows and not out:  # e.g. a language XNLI does not have: say so rather than evaluate on nothing
        raise UserError(f"task '{task.name}' {split}: none of {len(rows)} hub rows is in language '{lang}'")
    return out


# ---------------------------------------------------------------------------------------------------------------
# Readers for the official download layout.

def _task_dir(directory: Path, name: str) -> Path:
    """Accept the download root (holding `name/`) or the task folder itself."""
    sub = Path(directory) / name
    return sub if sub.is_dir() else Path(directory)


def _need(path: Path, what: str) -> Path:
    if not path.is_file():
        raise UserError(f"{what} not found (official XTREME download layout expected)", path=str(path))
    return path


def _read_pairs(path: Path, lang: str) -> list[SentenceExample]:
    """utils_preprocess writes these with csv.writer (tab, minimal quoting), so csv.reader inverts it exactly."""
    out = []
    for i, cols in enumerate(csv.reader(io.StringIO(read_text(path), newline=""), delimiter="\t")):
        if len(cols) < 2:
            raise UserError(f"expected sentence1<TAB>sentence2[<TAB>label], got {len(cols)} column(s)",
                            path=str(path), line=i + 1)
        label = cols[2] if len(cols) > 2 else None
        out.append(SentenceExample(guid=_guid(lang, i), text_a=cols[0], text_b=cols[1], label=label))
    return out


def _read_conll(path: Path, lang: str) -> list[TagExample]:
    """token[TAB tag] lines, sentences separated by blank lines; test files have no tag column. Every row of a file has
    the same number of columns (an error names the line otherwise)."""
    sents: list[list[list[str]]] = [[]]
    width = None
    for lineno, line in enumerate(read_text_lines(path), start=1):
        if line.strip():
            cols = line.rstrip("\r").split("\t")
            width = width or (len(cols), lineno)
            if len(cols) != width[0]:
                raise UserError(f"expected token<TAB>tag (or a token alone in unlabelled files) with "
                                f"{width[0]} column(s) like line {width[1]}, got {len(cols)}", path=str(path),
                                line=lineno)
            sents[-1].append(cols)
        elif sents[-1]:
            sents.append([])
    out = []
    for rows in (s for s in sents if s):
        tagged = all(len(r) > 1 for r in rows)
        out.append(TagExample(guid=_guid(lang, len(out)), tokens=[r[0] for r in rows],
                              tags=[r[-1] for r in rows] if tagged else None))
    return out


def _tsv_reader(folder: str, parse: Callable[[Path, str], list[Any]]) -> Callable[[Path, str, str], list[Any]]:
    """Reader of `<folder>/<split>-<lang>.tsv` (xnli, pawsx, udpos, panx)."""
    def read(directory: Path, split: str, lang: str) -> list[Any]:
        return parse(_need(_task_dir(directory, folder) / f"{split}-{lang}.tsv", f"{folder} {split} file"), lang)

    return read


def _read_squad_json(path: Path, title: bool = True, keep: Callable[[str], bool] | None = None) -> list[SpanExample]:
    """SQuAD-format JSON. Stripped test files hold one placeholder answer {answer_start 0, text ''}: dropped."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
    except (json.JSONDecodeError, KeyError) as e:
        raise UserError(f"expected SQuAD-format JSON with a 'data' list ({e})", path=str(path)) from None
    out = []
    for article in data:
        for par in article["paragraphs"]:
            for qa in par["qas"]:
                if keep is not None and not keep(str(qa["id"])):
                    continue
                row = {"id": qa["id"], "question": qa["question"], "context": par["context"],
                       "answers": qa.get("answers", []), "title": article.get("title", "")}
                out.append(_span_example(row, title=title))
    return out


def read_xquad(directory: Path, split: str, lang: str) -> list[SpanExample]:
    if split != "test":
        raise UserError(f"XQuAD has only a test split, not '{split}'")
    # The hub's XQuAD configs carry no title; keep parity with them.
    return _read_squad_json(_need(_task_dir(directory, "xquad") / f"xquad.{lang}.json", "XQuAD file"), title=False)


def read_mlqa(directory: Path, split: str, lang: str) -> list[SpanExample]:
    d = _task_dir(directory, "mlqa") / "MLQA_V1" / split
    return _read_squad_json(_need(d / f"{split}-context-{lang}-question-{lang}.json", "MLQA file"))


def read_tydiqa(directory: Path, split: str, lang: str) -> list[SpanExample]:
    """train: the full GoldP train file filtered by id prefix (per-language files truncate ids to the last
    '-' segment, so they are only the fallback); test: the renamed GoldP dev file of the language."""
    d = _task_dir(directory, "tydiqa")
    if split == "test":
        return _read_squad_json(_need(d / "tydiqa-goldp-v1.1-dev" / f"tydiqa.goldp.{lang}.dev.json", "TyDiQA file"))
    if split != "train":
        raise UserError(f"TyDiQA-GoldP has train and test (GoldP dev) splits, not '{split}'")
    train_dir = d / "tydiqa-goldp-v1.1-train"
    full = next((p for p in (train_dir / "tydiqa-goldp-v1.1-train.json", d / "tydiqa-goldp-v1.1-train.json")
                 if p.is_file()), None)
    if full is not None:
        name = _tydiqa_name(lang)
        return _read_squad_json(full, keep=lambda qid: qid.split("-", 1)[0] == name)
    return _read_squad_json(_need(train_dir / f"tydiqa.goldp.{lang}.train.json", "TyDiQA train file"))


def read_squad(directory: Path, split: str, lang: str) -> list[SpanExample]:
    if split not in ("train", "dev") or lang != "en":
        raise UserError(f"SQuAD v1.1 has English train and dev only, not {split}/{lang}")
    return _read_squad_json(_need(_task_dir(directory, "squad") / f"{split}-v1.1.json", "SQuAD file"))


def _read_id_sentences(path: Path) -> list[tuple[str, str]]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for i, line in enumerate(f):
            if not line.strip():
                continue
            sid, sep, text = line.rstrip("\n").partition("\t")
            if not sep:
                raise UserError("expected id<TAB>sentence", path=str(path), line=i + 1)
            rows.append((sid.strip(), text.strip()))
    return rows


def read_bucc(directory: Path, split: str, lang: str) -> list[BitextExample]:
    """Gold pairs first (gold file order), then sentences in no gold pair as one-sided distractors.
    The test split has no gold file in the official layout: every sentence is then one-sided."""
    d = _task_dir(directory, "bucc2018")
    prefix = f"{lang}-en.{split}"
    src = dict(_read_id_sentences(_need(d / f"{prefix}.{lang}", "BUCC source file")))
    tgt = dict(_read_id_sentences(_need(d / f"{prefix}.en", "BUCC English file")))
    gold_path = d / f"{prefix}.gold"
    gold = [(s, t) for s, t in _read_id_sentences(gold_path)] if gold_path.is_file() else []
    out = []
    for i, (s, t) in enumerate(gold):
        if s not in src or t not in tgt:
            raise UserError(f"gold pair ({s}, {t}) names a sentence id missing from the corpus", path=str(gold_path),
                            line=i + 1)
        out.append(BitextExample(source_id=s, target_id=t, source=src[s], target=tgt[t]))
    paired_s, paired_t = {s for s, _ in gold}, {t for _, t in gold}
    out += [BitextExample(source_id=s, target_id="", source=x) for s, x in src.items() if s not in paired_s]
    out += [BitextExample(source_id="", target_id=t, target=x) for t, x in tgt.items() if t not in paired_t]
    return out


def _lines(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as f:
        return [line.strip() for line in f]


def read_tatoeba(directory: Path, split: str, lang: str) -> list[BitextExample]:
    """Aligned LASER files (tatoeba.<iso3>-eng.{<iso3>,eng}) give gold pairs, as on the hub; the official
    processed files (<lang>-en.<lang>, <lang>-en.en sorted) give one-sided rows: sources, then English targets."""
    from xstilts.languages import TATOEBA_ISO3_TO_ISO2

    if split != "test":
        raise UserError(f"Tatoeba has only a test split, not '{split}'")
    d = _task_dir(directory, "tatoeba")
    iso3 = {v: k for k, v in TATOEBA_ISO3_TO_ISO2.items()}.get(lang, lang)
    laser_src, laser_tgt = d / f"tatoeba.{iso3}-eng.{iso3}", d / f"tatoeba.{iso3}-eng.eng"
    if laser_src.is_file() and laser_tgt.is_file():
        pairs = list(zip(_lines(laser_src), _lines(laser_tgt), strict=True))
        return [BitextExample(_guid(lang, i), _guid("en", i), s, t) for i, (s, t) in enumerate(pairs)]
    srcs = _lines(_need(d / f"{lang}-en.{lang}", "Tatoeba source file"))
    tgts = _lines(_need(d / f"{lang}-en.en", "Tatoeba English file"))
    return ([BitextExample(_guid(lang, i), "", source=s) for i, s in enumerate(srcs)]
            + [BitextExample("", _guid("en", j), target=t) for j, t in enumerate(tgts)])


def tatoeba_official_order(targets: list[str]) -> list[int]:
    """For each English sentence (in aligned order), its line in the official sorted `<lang>-en.en` file:
    the index a Tatoeba prediction must name. utils_preprocess sorts stripped lines stably by text."""
    order = sorted(range(len(targets)), key=lambda i: targets[i].strip())
    pos = [0] * len(targets)
    for line, i in enumerate(order):
        pos[i] = line
    return pos


def _en_only(reader: Callable[[Path, str, str], list[Any]]) -> Callable[[Path, str, str], list[Any]]:
    """The English training tasks (pawsx_en, ...) read the same files as their targets, in English."""
    return lambda directory, split, lang: reader(directory, split, "en")


def _read_mnli(directory: Path, split: str, lang: str) -> list[Any]:
    # The official download keeps MNLI train (from XNLI-MT) as xnli/train-en.tsv; there is no MNLI dev there.
    if split != "train":
        raise UserError(f"the official XTREME download holds only MNLI train (xnli/train-en.tsv), not '{split}'")
    return _tsv_reader("xnli", _read_pairs)(directory, "train", "en")


OFFICIAL_READERS: dict[str, Callable[[Path, str, str], list[Any]]] = {
    "xnli": _tsv_reader("xnli", _read_pairs),
    "pawsx": _tsv_reader("pawsx", _read_pairs),
    "udpos": _tsv_reader("udpos", _read_conll),
    "panx": _tsv_reader("panx", _read_conll),
    "xquad": read_xquad,
    "mlqa": read_mlqa,
    "tydiqa": read_tydiqa,
    "bucc2018": read_bucc,
    "tatoeba": read_tatoeba,
    "mnli": _read_mnli,
    "squad": read_squad,
    "pawsx_en": _en_only(_tsv_reader("pawsx", _read_pairs)),
    "udpos_en": _en_only(_tsv_reader("udpos", _read_conll)),
    "panx_en": _en_only(_tsv_reader("panx", _read_conll)),
    "tydiqa_en": _en_only(read_tydiqa),
}
