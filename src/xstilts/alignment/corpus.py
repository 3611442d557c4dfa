"""Parallel corpora for cross-lingual alignment, read and checked (torch-free: `xstilts plan` fingerprints them).

A corpus gives, per language, sentence pairs (the language's sentence, its English translation), both as words, and
optionally word links `i-j` (word i of the language side with word j of the English side). Three formats:

- `pipes`: `<language sentence> ||| <English sentence>` per line, words separated by spaces (Cao et al.'s and Efimov et
  al.'s format: the non-English side first), with optional links in a line-parallel file (`i-j` pairs separated by
  spaces, one line per sentence pair; Efimov et al.'s `--align_path`): `<stem>.links` beside `<stem>.txt`;
- `moses`: two line-parallel files `<prefix>.<lang>` and `<prefix>.en`;
- `jsonl`: one object per line, `{"<lang>": "...", "en": "...", "links": "0-0 1-2"}` (links optional).

Where the corpus is: `gettext` (the packaged offline corpus, align_data/gettext/train: human translations of interface
messages from catalogs no demo task uses), a path with `{lang}`, a directory holding `<lang>-en.txt`, `<lang>-en.jsonl`
or `<lang>-en.<lang>` + `<lang>-en.en`, or, for one language, a file (or a Moses prefix).

As in Efimov et al.'s loader (utils_alignment.py): only one-to-one links are kept, links between identical words are
dropped, and pairs with more than `max_words` words on a side or no link left are skipped (counted, not silent).
Every malformed line is a UserError naming the file and line.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xstilts.errors import UserError
from xstilts.languages import LANGUAGE_INFO

PACKAGED = Path(__file__).resolve().parents[1] / "align_data"
GETTEXT = "gettext"  # the packaged corpus: align_data/gettext/{train,heldout}/<lang>-en.txt
FORMATS = ("pipes", "moses", "jsonl")


@dataclass
class Pair:
    """One sentence pair: the language side and the English side as words, the links (None: to be computed)."""

    words: list[str]
    english: list[str]
    links: list[tuple[int, int]] | None = None
    where: str = ""  # file:line, for messages


@dataclass
class Corpus:
    """The pairs of one language and what reading them did."""

    language: str
    pairs: list[Pair]
    files: list[str]
    counts: dict[str, int] = field(default_factory=dict)  # read, too_long, no_links, kept

    def summary(self) -> dict[str, Any]:
        return {"language": self.language, "files": self.files, **self.counts}


def check_languages(languages: list[str], where: str | None = None) -> None:
    """Alignment languages: known codes other than English."""
    if not languages:
        raise UserError("alignment needs at least one language (e.g. --languages de,ru)", path=where)
    for lang in languages:
        if lang == "en":
            raise UserError("alignment languages are the non-English sides; 'en' is always the other one", path=where)
        if lang not in LANGUAGE_INFO:
            raise UserError(f"unknown language '{lang}' for alignment; known: {' '.join(sorted(LANGUAGE_INFO))}")


def packaged(part: str) -> Path:
    """The packaged gettext corpus's `train` or `heldout` folder."""
    return PACKAGED / GETTEXT / part


def locate(corpus: str, lang: str, many: bool) -> tuple[str, list[Path]]:
    """(format, files) of `lang` in `corpus` (see the module docstring); `many`: the corpus serves several languages,
    so a single file cannot be it."""
    if corpus == GETTEXT:
        corpus = str(packaged("train"))
    p = Path(corpus.replace("{lang}", lang))
    if p.is_dir():
        stem = p / f"{lang}-en"
        for fmt, files in (
            ("pipes", [stem.with_suffix(".txt")]),
            ("jsonl", [stem.with_suffix(".jsonl")]),
            ("moses", [stem.with_suffix(f".{lang}"), stem.with_suffix(".en")]),
        ):
            if all(f.is_file() for f in files):
                return fmt, files
        raise UserError(
            f"no corpus for language '{lang}' in this folder (expected {lang}-en.txt, {lang}-en.jsonl, or "
            f"{lang}-en.{lang} with {lang}-en.en)",
            path=str(p),
        )
    if "{lang}" not in corpus and many:
        if Path(f"{p}.{lang}").is_file():
            return "moses", [Path(f"{p}.{lang}"), Path(f"{p}.en")]
        raise UserError(
            "one corpus file for several languages: name them with {lang} in the path, or give a folder", path=str(p)
        )
    if p.is_file():
        return ("jsonl" if p.suffix == ".jsonl" else "pipes"), [p]
    if Path(f"{p}.{lang}").is_file() and Path(f"{p}.en").is_file():
        return "moses", [Path(f"{p}.{lang}"), Path(f"{p}.en")]
    raise UserError(f"alignment corpus for '{lang}' not found", path=str(p))


def corpus_files(corpus: str, languages: list[str]) -> dict[str, list[str]]:
    """language -> the files its pairs are read from (links files included), for fingerprints."""
    out = {}
    for lang in languages:
        fmt, files = locate(corpus, lang, len(languages) > 1)
        links = _links_file(files[0]) if fmt == "pipes" else None
        out[lang] = [str(f) for f in files] + ([str(links)] if links is not None else [])
    return out


def _links_file(path: Path) -> Path | None:
    p = path.with_suffix(".links")
    return p if p.is_file() and p != path else None


def _lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise UserError(f"not UTF-8 text ({e.reason} at byte {e.start})", path=str(path)) from None
    lines = text.splitlines()
    if not any(line.strip() for line in lines):
        raise UserError("empty alignment corpus", path=str(path))
    return lines


def parse_links(text: str, n_words: int, n_english: int, path: str, line: int) -> list[tuple[int, int]]:
    """`i-j` pairs; an index past its sentence or a token that is not `i-j` is a UserError naming file and line."""
    out = []
    for tok in text.split():
        i_s, sep, j_s = tok.partition("-")
        if not sep or not i_s.isdigit() or not j_s.isdigit():
            raise UserError(f"alignment link '{tok}' is not i-j (two word indices)", path=path, line=line)
        i, j = int(i_s), int(j_s)
        if i >= n_words or j >= n_english:
            raise UserError(
                f"alignment link {tok} out of range: the pair has {n_words} words on the language side and "
                f"{n_english} on the English side (indices from 0)",
                path=path,
                line=line,
            )
        out.append((i, j))
    return out


def _raw_pairs(fmt: str, files: list[Path], lang: str) -> list[Pair]:
    """Every pair of the files as written (links as given, unfiltered), each with its file:line."""
    pairs: list[Pair] = []
    if fmt == "pipes":
        path = files[0]
        for n, line in enumerate(_lines(path), start=1):
            if not line.strip():
                continue
            if "|||" not in line:
                raise UserError(
                    f"expected '<{lang} sentence> ||| <English sentence>'; no '|||' in the line", path=str(path), line=n
                )
            left, _, right = line.partition("|||")
            words, english = left.split(), right.split()
            if not words or not english:
                raise UserError("a side of the pair is empty", path=str(path), line=n)
            pairs.append(Pair(words, english, where=f"{path}:{n}"))
        links = _links_file(path)
        if links is not None:
            link_lines = links.read_text(encoding="utf-8").splitlines()  # line-parallel with the corpus file
            for pair in pairs:
                n = int(pair.where.rsplit(":", 1)[1])
                if n > len(link_lines):
                    raise UserError(
                        f"{len(link_lines)} link lines, but {path.name} has a pair at line {n} (line-parallel files)",
                        path=str(links),
                    )
                pair.links = parse_links(link_lines[n - 1], len(pair.words), len(pair.english), str(links), n)
    elif fmt == "moses":
        src, eng = (_lines(f) for f in files)
        if len(src) != len(eng):
            raise UserError(
                f"{len(src)} lines here but {len(eng)} in {files[1].name}: Moses files are line-parallel",
                path=str(files[0]),
            )
        for n, (a, b) in enumerate(zip(src, eng, strict=True), start=1):
            if not a.strip() and not b.strip():
                continue
            if not a.strip() or not b.strip():
                raise UserError(
                    "a side of the pair is empty", path=str(files[0] if not a.strip() else files[1]), line=n
                )
            pairs.append(Pair(a.split(), b.split(), where=f"{files[0]}:{n}"))
    else:
        path = files[0]
        for n, line in enumerate(_lines(path), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise UserError(f"invalid JSON: {e.msg}", path=str(path), line=n) from None
            if not isinstance(obj, dict) or not isinstance(obj.get(lang), str) or not isinstance(obj.get("en"), str):
                raise UserError(f'expected {{"{lang}": "...", "en": "..."}} (optional "links")', path=str(path), line=n)
            words, english = obj[lang].split(), obj["en"].split()
            if not words or not english:
                raise UserError("a side of the pair is empty", path=str(path), line=n)
            pair = Pair(words, english, where=f"{path}:{n}")
            if obj.get("links") is not None:
                pair.links = parse_links(str(obj["links"]), len(words), len(english), str(path), n)
            pairs.append(pair)
    return pairs


def one_to_one(links: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The links whose two words have no other link (Efimov et al.'s keep_1to1)."""
    left = Counter(i for i, _ in links)
    right = Counter(j for _, j in links)
    return [(i, j) for i, j in links if left[i] == 1 and right[j] == 1]


def clean_links(pair: Pair) -> list[tuple[int, int]]:
    """One-to-one links between words that differ (a shared word, a name or a number, teaches nothing)."""
    return [(i, j) for i, j in one_to_one(pair.links or []) if pair.words[i] != pair.english[j]]


def read_corpus(
    corpus: str, lang: str, many: bool = False, max_words: int = 64, max_pairs: int | None = None
) -> Corpus:
    """The pairs of `lang` (links as given, one-to-one and non-identical; None where the corpus has none), at most
    `max_pairs` of them (the first ones: a corpus is read in its order)."""
    fmt, files = locate(corpus, lang, many)
    raw = _raw_pairs(fmt, files, lang)
    counts = {"read": len(raw), "too_long": 0, "no_links": 0}
    kept = []
    for pair in raw:
        if len(pair.words) > max_words or len(pair.english) > max_words:
            counts["too_long"] += 1
            continue
        if pair.links is not None:
            pair.links = clean_links(pair)
            if not pair.links:
                counts["no_links"] += 1
                continue
        kept.append(pair)
        if max_pairs is not None and len(kept) >= max_pairs:
            break
    counts["kept"] = len(kept)
    links_file = _links_file(files[0]) if fmt == "pipes" else None
    names = [str(f) for f in files] + ([str(links_file)] if links_file else [])
    return Corpus(lang, kept, names, counts)
