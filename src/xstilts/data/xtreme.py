"""XTREME targets: google/xtreme row mappers, and readers for the directory layout that google-research/xtreme
`scripts/download_data.sh` (+ `utils_preprocess.py`) produces.

Official layout (under the download root, or pass the task folder itself):
  xnli/      train-en.tsv (MNLI train), {dev,test}-<lang>.tsv          sentence1 TAB sentence2 [TAB label] (csv-quoted)
  pawsx/     train-en.tsv, {dev,test}-<lang>.tsv                       same columns; labels "0"/"1"
  udpos/     {train,dev,test}-<lang>.tsv                               token TAB tag; blank line between sentences
  panx/      {train,dev,test}-<lang>.tsv                               same ("xx:" prefixes already removed)
  squad/     {train,dev}-v1.1.json                                     SQuAD v1.1 JSON
  xquad/     xquad.<lang>.json                                         SQuAD JSON
  mlqa/      MLQA_V1/{dev,test}/{dev,test}-context-<lang>-question-<lang>.json
  tydiqa/    tydiqa-goldp-v1.1-train/{tydiqa-goldp-v1.1-train.json, tydiqa.goldp.<lang>.train.json},
             tydiqa-goldp-v1.1-dev/tydiqa.goldp.<lang>.dev.json
  bucc2018/  <lang>-en.{dev,test}.{<lang>,en}  (id TAB sentence), <lang>-en.dev.gold (src_id TAB en_id; no test gold)
  tatoeba/   <lang>-en.<lang>, <lang>-en.en (English side sorted by text, so no gold alignment)
Test files of xnli/pawsx/udpos/panx carry no labels, and the QA test files (xquad, mlqa test, tydiqa dev) have their
answers replaced by a placeholder: those readers return unlabelled examples (label/tags None, answers []).

The XTREME translations (the `xtreme_translations` bucket; README "Translations"): the English training sets
machine-translated into each target's other languages, read when a training task is asked for in another language
(a spec's `source_languages`, data_dirs `translate_train`; `TRANSLATIONS` below). DIR = a copy of the bucket, one
task's folder of it, or its translate-train folder itself:
  XNLI/translate-train/en-<lang>-translated.tsv      (MNLI; the processors read <xnli>/XNLI-Translated/en-<lang>-...)
  PAWSX/translate-train/en-<lang>-translated.tsv     (PAWS-X; the processors read <pawsx>/translated/en-<lang>-...)
  SQuAD/translate-train/squad.translate.train.en-<lang>.json, SQuAD/translate-dev/squad.translate.dev.en-<lang>.json
  TyDiQA-GoldP/translate-train/tydiqa.translate.train.en-<lang>.json
The TSVs have 5 columns (original pair, translated pair, label: the README, since September 2020) or 3 (translated
pair, label: what processors/xnli.py and pawsx.py read); XNLI's "contradictory" is "contradiction" (processors/xnli.py).
A translated question whose answer no longer sits at its answer_start in the translated context is skipped and
counted (`ReadExamples.skipped`), never trained on with a wrong span.
"""

from __future__ import annotations

import csv
import io
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xstilts.data.hub import (
    class_label,
    guid,
    hub_splits,
    is_header_row,
    load_hub_examples,
    nearest_occurrence,
    records,
    row_mapper,
    tag_names,
    tydiqa_name,
)
from xstilts.data.local import read_text, read_text_lines
from xstilts.errors import UserError
from xstilts.families.examples import Answer, BitextExample, SentenceExample, SpanExample, TagExample
from xstilts.languages import ISO2_TO_ISO3, TRANSLATE_TRAIN_LANGS
from xstilts.tasks.spec import TaskSpec

# Kept under their XTREME names: the generic hub loader does the per-language work (split check, row filtering).
available_splits = hub_splits
hub_examples = load_hub_examples


# ---------------------------------------------------------------------------------------------------------------
# Hub row mappers (signature: hub.Mapper). `index` is the example's position among the rows of its language;
# lang None means the task's train_language.


@row_mapper("xtreme_pair")
def map_sentence_pair(
    row: dict[str, Any], task: TaskSpec, index: int, lang: str | None = None
) -> SentenceExample | None:
    """XNLI and PAWS-X rows (XNLI's shared config is narrowed to one language by `source.row_language`)."""
    lang = lang or task.train_language
    if is_header_row(row):
        return None  # the raw TSV header, which a csv.reader-based builder yields as a row
    raw = row["gold_label"] if "gold_label" in row else row["label"]
    label = class_label(raw, task, index)
    return SentenceExample(guid=guid(lang, index), text_a=row["sentence1"], text_b=row["sentence2"], label=label)


@row_mapper("xtreme_tags")
def map_tags(row: dict[str, Any], task: TaskSpec, index: int, lang: str | None = None) -> TagExample:
    """udpos (pos_tags) and PAN-X (ner_tags) rows; the tag field is named in the task's source.fields['tags']."""
    assert task.source is not None
    tags = row.get(task.source.fields.get("tags", "tags"))
    return TagExample(
        guid=guid(lang or task.train_language, index),
        tokens=list(row["tokens"]),
        tags=None if tags is None else tag_names(tags, task),
    )


def _answers(raw: Any, context: str) -> list[Answer]:
    """Answers as a dict of lists (datasets Sequence) or a list of dicts; empty-text placeholders are dropped.

    The hub strips contexts without moving answer_start: each offset snaps to the nearest true occurrence.
    """
    out = []
    for rec in records(raw):
        text, start = rec["text"], int(rec["answer_start"])
        if not text:
            continue
        if context[start : start + len(text)] != text:
            found = nearest_occurrence(context, text, start)
            start = start if found is None else found
        out.append(Answer(text=text, answer_start=start))
    return out


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
    """XQuAD / MLQA / SQuAD / TyDiQA-GoldP rows (guid = the question id)."""
    return _span_example(row)


@row_mapper("xtreme_bucc")
def map_bucc(row: dict[str, Any], task: TaskSpec, index: int, lang: str | None = None) -> BitextExample:
    """bucc18 rows are gold pairs; source_lang/target_lang hold the BUCC sentence ids, not languages."""
    return BitextExample(
        source_id=row["source_lang"],
        target_id=row["target_lang"],
        source=row["source_sentence"].strip(),
        target=row["target_sentence"].strip(),
    )


@row_mapper("xtreme_tatoeba")
def map_tatoeba(row: dict[str, Any], task: TaskSpec, index: int, lang: str | None = None) -> BitextExample:
    """tatoeba rows are aligned pairs (line i of both LASER files) with a trailing newline; the target is English."""
    return BitextExample(
        source_id=guid(lang or task.train_language, index),
        target_id=guid("en", index),
        source=row["source_sentence"].strip(),
        target=row["target_sentence"].strip(),
    )


# ---------------------------------------------------------------------------------------------------------------
# Readers for the official download layout: `locate` names the files a (split, language) needs, `parse` reads them,
# so "which splits are there?" (`OfficialReader.has`) is answered from the same paths the reader opens.

Located = list[tuple[Path, str]]  # (file, what it is, for the "not found" message)


@dataclass(frozen=True)
class OfficialReader:
    """One task's reader for the official layout (`directory` is the download root or the task folder itself)."""

    locate: Callable[[Path, str, str], Located]  # raises UserError when the layout has no such split or language
    parse: Callable[[list[Path], str, str], list[Any]]

    def __call__(self, directory: str | Path, split: str, lang: str) -> list[Any]:
        paths = [_need(path, what) for path, what in self.locate(Path(directory), split, lang)]
        return self.parse(paths, split, lang)

    def has(self, directory: str | Path, split: str, lang: str) -> bool:
        """Whether the files of (split, lang) are there (without reading them)."""
        try:
            return all(path.is_file() for path, _ in self.locate(Path(directory), split, lang))
        except UserError:
            return False


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
            raise UserError(
                f"expected sentence1<TAB>sentence2[<TAB>label], got {len(cols)} column(s)", path=str(path), line=i + 1
            )
        label = cols[2] if len(cols) > 2 else None
        out.append(SentenceExample(guid=guid(lang, i), text_a=cols[0], text_b=cols[1], label=label))
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
                raise UserError(
                    f"expected token<TAB>tag (or a token alone in unlabelled files) with "
                    f"{width[0]} column(s) like line {width[1]}, got {len(cols)}",
                    path=str(path),
                    line=lineno,
                )
            sents[-1].append(cols)
        elif sents[-1]:
            sents.append([])
    out: list[TagExample] = []
    for rows in (s for s in sents if s):
        tagged = all(len(r) > 1 for r in rows)
        out.append(
            TagExample(
                guid=guid(lang, len(out)), tokens=[r[0] for r in rows], tags=[r[-1] for r in rows] if tagged else None
            )
        )
    return out


def _tsv(folder: str, parse: Callable[[Path, str], list[Any]]) -> OfficialReader:
    """Reader of `<folder>/<split>-<lang>.tsv` (xnli, pawsx, udpos, panx)."""
    return OfficialReader(
        locate=lambda d, split, lang: [(_task_dir(d, folder) / f"{split}-{lang}.tsv", f"{folder} {split} file")],
        parse=lambda paths, split, lang: parse(paths[0], lang),
    )


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
                row = {
                    "id": qa["id"],
                    "question": qa["question"],
                    "context": par["context"],
                    "answers": qa.get("answers", []),
                    "title": article.get("title", ""),
                }
                out.append(_span_example(row, title=title))
    return out


def _locate_xquad(d: Path, split: str, lang: str) -> Located:
    if split != "test":
        raise UserError(f"XQuAD has only a test split, not '{split}'")
    return [(_task_dir(d, "xquad") / f"xquad.{lang}.json", "XQuAD file")]


# The hub's XQuAD configs carry no title; keep parity with them.
read_xquad = OfficialReader(_locate_xquad, lambda paths, split, lang: _read_squad_json(paths[0], title=False))

read_mlqa = OfficialReader(
    lambda d, split, lang: [
        (_task_dir(d, "mlqa") / "MLQA_V1" / split / f"{split}-context-{lang}-question-{lang}.json", "MLQA file")
    ],
    lambda paths, split, lang: _read_squad_json(paths[0]),
)

_TYDIQA_FULL_TRAIN = "tydiqa-goldp-v1.1-train.json"


def _locate_tydiqa(d: Path, split: str, lang: str) -> Located:
    """train: the full GoldP train file filtered by id prefix (per-language files truncate ids to the last
    '-' segment, so they are only the fallback); test: the renamed GoldP dev file of the language."""
    d = _task_dir(d, "tydiqa")
    if split == "test":
        return [(d / "tydiqa-goldp-v1.1-dev" / f"tydiqa.goldp.{lang}.dev.json", "TyDiQA file")]
    if split != "train":
        raise UserError(f"TyDiQA-GoldP has train and test (GoldP dev) splits, not '{split}'")
    tydiqa_name(lang)  # an unknown language is an error whichever file is there
    train_dir = d / "tydiqa-goldp-v1.1-train"
    full = next((p for p in (train_dir / _TYDIQA_FULL_TRAIN, d / _TYDIQA_FULL_TRAIN) if p.is_file()), None)
    if full is not None:
        return [(full, "TyDiQA train file")]
    return [(train_dir / f"tydiqa.goldp.{lang}.train.json", "TyDiQA train file")]


def _parse_tydiqa(paths: list[Path], split: str, lang: str) -> list[SpanExample]:
    if paths[0].name == _TYDIQA_FULL_TRAIN:
        name = tydiqa_name(lang)
        return _read_squad_json(paths[0], keep=lambda qid: qid.split("-", 1)[0] == name)
    return _read_squad_json(paths[0])


read_tydiqa = OfficialReader(_locate_tydiqa, _parse_tydiqa)


def _locate_tydiqa_all(d: Path, split: str, lang: str) -> Located:
    """jiant's tydiqa_en: the full GoldP train file, every language's questions."""
    if split != "train":
        raise UserError(f"tydiqa_all has a train split only, not '{split}'")
    d = _task_dir(d, "tydiqa")
    train_dir = d / "tydiqa-goldp-v1.1-train"
    full = next((p for p in (train_dir / _TYDIQA_FULL_TRAIN, d / _TYDIQA_FULL_TRAIN) if p.is_file()), None)
    return [(full or train_dir / _TYDIQA_FULL_TRAIN, "TyDiQA full train file")]


read_tydiqa_all = OfficialReader(_locate_tydiqa_all, lambda paths, split, lang: _read_squad_json(paths[0]))


def _locate_squad(d: Path, split: str, lang: str) -> Located:
    if split not in ("train", "dev") or lang != "en":
        raise UserError(f"SQuAD v1.1 has English train and dev only, not {split}/{lang}")
    return [(_task_dir(d, "squad") / f"{split}-v1.1.json", "SQuAD file")]


read_squad = OfficialReader(_locate_squad, lambda paths, split, lang: _read_squad_json(paths[0]))


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


def _locate_bucc(d: Path, split: str, lang: str) -> Located:
    d = _task_dir(d, "bucc2018")
    prefix = f"{lang}-en.{split}"
    return [(d / f"{prefix}.{lang}", "BUCC source file"), (d / f"{prefix}.en", "BUCC English file")]


def _parse_bucc(paths: list[Path], split: str, lang: str) -> list[BitextExample]:
    """Gold pairs first (gold file order), then sentences in no gold pair as one-sided distractors.
    The test split has no gold file in the official layout: every sentence is then one-sided."""
    src = dict(_read_id_sentences(paths[0]))
    tgt = dict(_read_id_sentences(paths[1]))
    gold_path = paths[0].with_name(f"{lang}-en.{split}.gold")
    gold = list(_read_id_sentences(gold_path)) if gold_path.is_file() else []
    out = []
    for i, (s, t) in enumerate(gold):
        if s not in src or t not in tgt:
            raise UserError(
                f"gold pair ({s}, {t}) names a sentence id missing from the corpus", path=str(gold_path), line=i + 1
            )
        out.append(BitextExample(source_id=s, target_id=t, source=src[s], target=tgt[t]))
    paired_s, paired_t = {s for s, _ in gold}, {t for _, t in gold}
    out += [BitextExample(source_id=s, target_id="", source=x) for s, x in src.items() if s not in paired_s]
    out += [BitextExample(source_id="", target_id=t, target=x) for t, x in tgt.items() if t not in paired_t]
    return out


read_bucc = OfficialReader(_locate_bucc, _parse_bucc)


def _lines(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as f:
        return [line.strip() for line in f]


def _locate_tatoeba(d: Path, split: str, lang: str) -> Located:
    """Aligned LASER files (tatoeba.<iso3>-eng.{<iso3>,eng}) when both are there, else the official processed files."""
    if split != "test":
        raise UserError(f"Tatoeba has only a test split, not '{split}'")
    d = _task_dir(d, "tatoeba")
    iso3 = ISO2_TO_ISO3.get(lang, lang)
    laser = [(d / f"tatoeba.{iso3}-eng.{iso3}", "Tatoeba source file"), (d / f"tatoeba.{iso3}-eng.eng", "Tatoeba file")]
    if all(path.is_file() for path, _ in laser):
        return laser
    return [(d / f"{lang}-en.{lang}", "Tatoeba source file"), (d / f"{lang}-en.en", "Tatoeba English file")]


def _parse_tatoeba(paths: list[Path], split: str, lang: str) -> list[BitextExample]:
    """LASER files give gold pairs, as on the hub; the official processed files (<lang>-en.<lang>, <lang>-en.en
    sorted) give one-sided rows: sources, then English targets."""
    if paths[0].name.startswith("tatoeba."):
        pairs = list(zip(_lines(paths[0]), _lines(paths[1]), strict=True))
        return [BitextExample(guid(lang, i), guid("en", i), s, t) for i, (s, t) in enumerate(pairs)]
    srcs, tgts = _lines(paths[0]), _lines(paths[1])
    return [BitextExample(guid(lang, i), "", source=s) for i, s in enumerate(srcs)] + [
        BitextExample("", guid("en", j), target=t) for j, t in enumerate(tgts)
    ]


read_tatoeba = OfficialReader(_locate_tatoeba, _parse_tatoeba)


def tatoeba_official_order(targets: list[str]) -> list[int]:
    """For each English sentence (in aligned order), its line in the official sorted `<lang>-en.en` file:
    the index a Tatoeba prediction must name. utils_preprocess sorts stripped lines stably by text."""
    order = sorted(range(len(targets)), key=lambda i: targets[i].strip())
    pos = [0] * len(targets)
    for line, i in enumerate(order):
        pos[i] = line
    return pos


def _en_only(reader: OfficialReader) -> OfficialReader:
    """The English training tasks (pawsx_en, ...) read the same files as their targets, in English."""
    return OfficialReader(
        lambda d, split, lang: reader.locate(d, split, "en"),
        lambda paths, split, lang: reader.parse(paths, split, "en"),
    )


def _locate_mnli(d: Path, split: str, lang: str) -> Located:
    # The official download keeps MNLI train (from XNLI-MT) as xnli/train-en.tsv; there is no MNLI dev there.
    if split != "train":
        raise UserError(f"the official XTREME download holds only MNLI train (xnli/train-en.tsv), not '{split}'")
    return _tsv("xnli", _read_pairs).locate(d, "train", "en")


# ---------------------------------------------------------------------------------------------------------------
# The XTREME translations (module docstring): translate-train files of the English training tasks.


class ReadExamples(list):
    """The examples of a file that had to drop some of its rows: `skipped` of `total` were left out, `why` says why
    (a phase records them with its data sizes in phase.json)."""

    def __init__(self, items: list[Any], skipped: int, total: int, why: str):
        super().__init__(items)
        self.skipped, self.total, self.why = skipped, total, why


@dataclass(frozen=True)
class Translations:
    """One English training task's translations: the bucket's folder, and per split (sub-folder, file name pattern,
    other folders relative to DIR that hold the same files, e.g. the official processors' names)."""

    folder: str
    files: dict[str, tuple[str, str, tuple[str, ...]]]

    def candidates(self, d: Path, split: str, lang: str) -> list[Path]:
        sub, pattern, others = self.files[split]
        name = pattern.format(lang=lang)
        return [d / self.folder / sub / name, d / sub / name, d / name, *(d / o / name for o in others)]

    def layout(self, split: str) -> str:
        sub, pattern, others = self.files[split]
        alternatives = "".join(f" or {o}/{pattern}" for o in others)
        return f"{self.folder}/{sub}/{pattern}{alternatives}".replace("{lang}", "<lang>")


TRANSLATIONS: dict[str, Translations] = {
    "mnli": Translations(
        "XNLI", {"train": ("translate-train", "en-{lang}-translated.tsv", ("XNLI-Translated", "xnli/XNLI-Translated"))}
    ),
    "pawsx_en": Translations(
        "PAWSX", {"train": ("translate-train", "en-{lang}-translated.tsv", ("translated", "pawsx/translated"))}
    ),
    "squad": Translations(
        "SQuAD",
        {
            "train": ("translate-train", "squad.translate.train.en-{lang}.json", ("squad/translate-train",)),
            "dev": ("translate-dev", "squad.translate.dev.en-{lang}.json", ("squad/translate-dev",)),
        },
    ),
    "tydiqa_en": Translations(
        "TyDiQA-GoldP",
        {"train": ("translate-train", "tydiqa.translate.train.en-{lang}.json", ("tydiqa/translate-train",))},
    ),
}
TRANSLATIONS_LAYOUT = (
    "a copy of the xtreme_translations bucket of google-research/xtreme (XNLI/, PAWSX/, SQuAD/, TyDiQA-GoldP/)"
)


def _locate_translated(task: str) -> Callable[[Path, str, str], Located]:
    tr = TRANSLATIONS[task]

    def locate(d: Path, split: str, lang: str) -> Located:
        if split not in tr.files:
            raise UserError(f"the XTREME translations of '{task}' have no {split} split (only {', '.join(tr.files)})")
        if lang not in TRANSLATE_TRAIN_LANGS[task]:
            raise UserError(
                f"the XTREME translations of '{task}' have no language '{lang}'; they have "
                f"{' '.join(TRANSLATE_TRAIN_LANGS[task])}"
            )
        paths = tr.candidates(Path(d), split, lang)
        found = next((p for p in paths if p.is_file()), paths[0])
        return [(found, f"{task} {split} translation into '{lang}' ({tr.layout(split)}; {TRANSLATIONS_LAYOUT})")]

    return locate


def _split_line(line: str) -> list[str]:
    return line.rstrip("\r").split("\t")


def read_translated_pairs(path: Path, lang: str, labels: list[str]) -> list[SentenceExample]:
    """A translate-train TSV of XNLI or PAWS-X: 5 columns (original pair, translated pair, label) or 3 (translated
    pair, label), the same in every line; tab-separated without quoting (the processors' csv.reader has quotechar
    None). "contradictory" is "contradiction" (processors/xnli.py); a first line labelled `label` is a header."""
    out: list[SentenceExample] = []
    width: tuple[int, int] | None = None
    for lineno, line in enumerate(read_text_lines(path), start=1):
        if not line.strip():
            continue
        cols = _split_line(line)
        if len(cols) not in (3, 5):
            raise UserError(
                f"expected 5 tab-separated columns (original sentence pair, translated sentence pair, label) or 3 "
                f"(translated sentence pair, label), got {len(cols)}",
                path=str(path),
                line=lineno,
            )
        if width is None:
            width = (len(cols), lineno)
        elif len(cols) != width[0]:
            raise UserError(
                f"expected {width[0]} columns like line {width[1]}, got {len(cols)}", path=str(path), line=lineno
            )
        text_a, text_b, label = cols[-3], cols[-2], cols[-1].strip()
        if label == "contradictory" and "contradiction" in labels:
            label = "contradiction"
        if label not in labels:
            if not out and lineno == width[1] and label.lower() in ("label", "gold_label"):
                continue  # a header line
            raise UserError(f"label '{label}' is not one of {labels}", path=str(path), line=lineno)
        out.append(SentenceExample(guid=guid(lang, len(out)), text_a=text_a, text_b=text_b, label=label))
    if not out:
        raise UserError("no examples; expected translated sentence pairs with labels", path=str(path))
    return out


def _json_data(path: Path) -> list[Any]:
    try:
        data = json.loads(read_text(path))["data"]
    except json.JSONDecodeError as e:
        raise UserError(f"invalid JSON ({e.msg}); expected SQuAD-format JSON", path=str(path), line=e.lineno) from None
    except (KeyError, TypeError):
        raise UserError("expected SQuAD-format JSON with a 'data' list", path=str(path), line=1) from None
    if not isinstance(data, list):
        raise UserError("expected SQuAD-format JSON with a 'data' list", path=str(path), line=1)
    return data


def _json_line(text: str, needle: str) -> int | None:
    """The line of a file's text where `needle` (a JSON-encoded string) first occurs, for an error message."""
    at = text.find(needle)
    return None if at < 0 else text.count("\n", 0, at) + 1


def read_translated_squad(path: Path) -> ReadExamples:
    """A translate-train (or translate-dev) file of SQuAD v1.1 or TyDiQA-GoldP, SQuAD-format JSON. A question whose
    answer text is not at its answer_start in the translated context (or that has no answer) is skipped and counted;
    nothing is moved to another occurrence, so no example trains on a span the file does not state."""
    data = _json_data(path)
    out: list[SpanExample] = []
    skipped = total = 0
    for a, article in enumerate(data):
        try:
            for par in article["paragraphs"]:
                context = par["context"]
                for qa in par["qas"]:
                    total += 1
                    answers = [
                        Answer(text=str(x["text"]), answer_start=int(x["answer_start"])) for x in qa.get("answers", [])
                    ]
                    if not answers or any(
                        not x.text or context[x.answer_start : x.answer_start + len(x.text)] != x.text for x in answers
                    ):
                        skipped += 1
                        continue
                    out.append(
                        SpanExample(
                            guid=str(qa["id"]),
                            question=qa["question"],
                            context=context,
                            answers=answers,
                            title=article.get("title", "") or "",
                        )
                    )
        except (KeyError, TypeError, ValueError) as e:
            title = article.get("title") if isinstance(article, dict) else None
            line = _json_line(read_text(path), json.dumps(title, ensure_ascii=False)) if title else None
            raise UserError(
                f"article {a + 1}: expected SQuAD-format paragraphs (context, qas with id, question, answers with "
                f"text and answer_start) ({type(e).__name__}: {e})",
                path=str(path),
                line=line or 1,
            ) from None
    why = "the answer text is not at its answer_start in the translated context"
    if skipped:
        warnings.warn(f"{path}: skipped {skipped} of {total} translated questions ({why})", stacklevel=2)
    if not out:
        raise UserError(f"no usable questions ({skipped} of {total} skipped: {why})", path=str(path))
    return ReadExamples(out, skipped, total, why)


def _parse_translated(task: str) -> Callable[[list[Path], str, str], list[Any]]:
    def parse(paths: list[Path], split: str, lang: str) -> list[Any]:
        if paths[0].suffix == ".json":
            return read_translated_squad(paths[0])
        from xstilts.tasks import get_task

        return read_translated_pairs(paths[0], lang, list(get_task(task).labels or []))

    return parse


def _or_translated(task: str, english: OfficialReader) -> OfficialReader:
    """An English training task's reader: English from the official download, any other language from the XTREME
    translations (never English data under another language's name)."""
    translated = OfficialReader(_locate_translated(task), _parse_translated(task))

    def pick(lang: str) -> OfficialReader:
        return english if lang == "en" else translated

    return OfficialReader(
        lambda d, split, lang: pick(lang).locate(d, split, lang),
        lambda paths, split, lang: pick(lang).parse(paths, split, lang),
    )


OFFICIAL_READERS: dict[str, OfficialReader] = {
    "xnli": _tsv("xnli", _read_pairs),
    "pawsx": _tsv("pawsx", _read_pairs),
    "udpos": _tsv("udpos", _read_conll),
    "panx": _tsv("panx", _read_conll),
    "xquad": read_xquad,
    "mlqa": read_mlqa,
    "tydiqa": read_tydiqa,
    "bucc2018": read_bucc,
    "tatoeba": read_tatoeba,
    "mnli": _or_translated(
        "mnli", OfficialReader(_locate_mnli, lambda paths, split, lang: _read_pairs(paths[0], "en"))
    ),
    "squad": _or_translated("squad", read_squad),
    "pawsx_en": _or_translated("pawsx_en", _en_only(_tsv("pawsx", _read_pairs))),
    "udpos_en": _en_only(_tsv("udpos", _read_conll)),
    "panx_en": _en_only(_tsv("panx", _read_conll)),
    "tydiqa_en": _or_translated("tydiqa_en", _en_only(read_tydiqa)),
    "tydiqa_all": read_tydiqa_all,
}
