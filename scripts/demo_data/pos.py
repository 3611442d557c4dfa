"""demo_pos: silver UPOS (Apertium) for English training and es/ca/eu evaluation; gold Turkish treebank test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from demo_data.apertium import tag_sentences, usable
from demo_data.catalogs import CATALOGS, catalog, english_messages, translation
from demo_data.common import consecutive, shuffled
from demo_data.wordnet import synsets
from xstilts.families.examples import TagExample

EN_SIZES = {"train": 2000, "dev": 300, "test": 500}
SILVER_LANGS = ["ca", "es", "eu"]
SILVER_SIZES = {"dev": 300, "test": 500}
TR_SIZES = {"dev": 300, "test": 1000}
MIN_TOKENS, MAX_TOKENS = 4, 40

# The treebank's older 12-tag universal set (Petrov et al. 2012) -> UD v2 UPOS. ONOM (onomatopoeia) and AFFIX are
# the treebank's own additions: UD tags onomatopoeia as INTJ and has no affix tag (X).
TR_TO_UPOS = {"CONJ": "CCONJ", "PRT": "PART", "ONOM": "INTJ", "AFFIX": "X"}
# Interface messages of the software catalogs (country and language names from iso-codes are not sentences).
SENTENCE_CATALOGS = [c for c in sorted(CATALOGS) if c != "iso-codes"]


def _english_sentences() -> list[str]:
    """WordNet example sentences and English interface messages (sorted, unique)."""
    texts = {ex for s in synsets().values() for ex in s.examples}
    for label in SENTENCE_CATALOGS:
        texts.update(english_messages()[label])
    return sorted(t for t in texts if usable(t) and MIN_TOKENS <= len(t.split()) <= MAX_TOKENS)


def _translated_sentences(lang: str) -> list[str]:
    texts = set()
    for label in SENTENCE_CATALOGS:
        for msgid in catalog(label, lang):
            t = translation(label, lang, msgid)
            if t and usable(t) and MIN_TOKENS <= len(t.split()) <= MAX_TOKENS:
                texts.add(t)
    return sorted(texts)


def _silver(lang: str, texts: list[str], sizes: dict[str, int]) -> dict[tuple[str, str], list[TagExample]]:
    """Tag (shuffled) texts until every split is full; sentences with an unknown or unmapped token are dropped."""
    need = sum(sizes.values())
    texts = shuffled(texts, "demo_pos", lang)
    tagged: list[tuple[list[str], list[str]]] = []
    batch = 2 * need
    for start in range(0, len(texts), batch):
        tagged += [t for t in tag_sentences(lang, texts[start : start + batch]) if t is not None]
        if len(tagged) >= need:
            break
    if len(tagged) < need:  # a small lexicon (Basque): shrink every split in proportion
        sizes = {split: len(tagged) * n // need for split, n in sizes.items()}
    return {
        (split, lang): [
            TagExample(guid=f"{split}-{lang}-{i:05d}", tokens=tok, tags=tag) for i, (tok, tag) in enumerate(chunk)
        ]
        for split, chunk in consecutive(tagged, sizes).items()
    }


def _treebank_files() -> list[Path]:
    """The CoNLL-U files the turkish-treebanks wheel installs (into site-packages/data/)."""
    from importlib.metadata import distribution

    dist = distribution("turkish-treebanks")
    files = [Path(dist.locate_file(f)) for f in dist.files or [] if str(f).endswith(".conllu")]
    return sorted(files)


def read_conllu_upos(path: Path) -> list[tuple[str, list[str], list[str]]]:
    """(sent_id, forms, UPOS) per sentence; multiword-token and empty-node lines are skipped, as XTREME does."""
    out = []
    sent_id, forms, tags = "", [], []
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        if line.startswith("# sent_id"):
            sent_id = line.split("=", 1)[1].strip()
        elif not line.strip():
            if forms:
                out.append((sent_id, forms, tags))
            sent_id, forms, tags = "", [], []
        elif not line.startswith("#"):
            cols = line.split("\t")
            if len(cols) >= 10 and cols[0].isdigit() and cols[1] != "_" and cols[3] != "_":
                forms.append(cols[1])
                tags.append(TR_TO_UPOS.get(cols[3], cols[3]))
    return out


def _turkish() -> dict[tuple[str, str], list[TagExample]]:
    sents = [s for f in _treebank_files() for s in read_conllu_upos(f)]
    parts = consecutive(shuffled(sorted(sents), "demo_pos", "tr"), TR_SIZES)
    return {
        (split, "tr"): [TagExample(guid=sid, tokens=forms, tags=tags) for sid, forms, tags in chunk]
        for split, chunk in parts.items()
    }


def build_pos() -> dict[tuple[str, str], list[Any]]:
    out = _silver("en", _english_sentences(), EN_SIZES)
    for lang in SILVER_LANGS:
        out.update(_silver(lang, _translated_sentences(lang), SILVER_SIZES))
    out.update(_turkish())
    return out


def labels_used(splits: dict[tuple[str, str], list[Any]]) -> list[str]:
    return sorted({t for rows in splits.values() for ex in rows for t in ex.tags})
