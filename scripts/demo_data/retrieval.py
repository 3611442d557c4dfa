"""demo_tatoeba and demo_bucc: retrieval on human translations of gettext interface messages."""

from __future__ import annotations

from typing import Any

from demo_data.catalogs import pairs
from demo_data.common import consecutive, shuffled
from xstilts.families.examples import BitextExample

# XTREME Tatoeba languages with at least 700 clean pairs in the five catalogs (see README for the counts).
TATOEBA_LANGS = "ar bg de el es eu fa fi fr hi hu ja ko ru th tr vi zh".split()
TATOEBA_SIZES = {"dev": 200, "test": 500}
# The four BUCC 2018 languages plus three more with large catalogs.
BUCC_LANGS = "de es fr ja ru tr zh".split()
# Per split: gold pairs, source-only and target-only distractors (each this many).
BUCC_SIZES = {"dev": 150, "test": 300}


def build_tatoeba() -> dict[tuple[str, str], list[Any]]:
    """Gold pairs only, like Tatoeba: each source sentence's translation is in the English pool."""
    out: dict[tuple[str, str], list[Any]] = {}
    for lang in TATOEBA_LANGS:
        parts = consecutive(shuffled(pairs(lang), "demo_tatoeba", lang), TATOEBA_SIZES)
        for split, chunk in parts.items():
            out[(split, lang)] = [
                BitextExample(source_id=f"{lang}-{i:05d}", target_id=f"en-{i:05d}", source=x, target=e)
                for i, (_, e, x) in enumerate(chunk)
            ]
    return out


def _bucc_split(lang: str, split: str, chunk: list[tuple[str, str, str]], n: int) -> list[BitextExample]:
    gold, src_only, tgt_only = chunk[:n], chunk[n : 2 * n], chunk[2 * n : 3 * n]
    # Ids are assigned after shuffling each side, so an id says nothing about whether a sentence has a pair.
    sources = shuffled([x for _, _, x in gold + src_only], "demo_bucc", lang, split, "src")
    targets = shuffled([e for _, e, _ in gold + tgt_only], "demo_bucc", lang, split, "tgt")
    sid = {x: f"{lang}-{split}-{i:06d}" for i, x in enumerate(sources)}
    tid = {e: f"en-{split}-{i:06d}" for i, e in enumerate(targets)}
    rows = [BitextExample(sid[x], tid[e], source=x, target=e) for _, e, x in gold]
    rows += [BitextExample(sid[x], "", source=x) for _, _, x in src_only]
    rows += [BitextExample("", tid[e], target=e) for _, e, _ in tgt_only]
    return sorted(rows, key=lambda r: (r.source_id or "~", r.target_id))


def build_bucc() -> dict[tuple[str, str], list[Any]]:
    """BUCC-style mining: gold pairs plus sentences on both sides whose translation is absent."""
    out: dict[tuple[str, str], list[Any]] = {}
    for lang in BUCC_LANGS:
        sizes = {split: 3 * n for split, n in BUCC_SIZES.items()}
        parts = consecutive(shuffled(pairs(lang), "demo_bucc", lang), sizes)
        for split, chunk in parts.items():
            out[(split, lang)] = _bucc_split(lang, split, chunk, BUCC_SIZES[split])
    return out
