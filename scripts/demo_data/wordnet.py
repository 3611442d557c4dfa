"""A small reader of the WordNet 3.0 database files (Debian `wordnet-base`, /usr/share/wordnet).

Written against the documented file formats (wndb(5WN), lexnames(5WN), cntlist(5WN)) so the build needs no extra
Python package; nltk's reader refuses paths outside its data directories by default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

WORDNET = Path("/usr/share/wordnet")
DEBIAN_PACKAGES = ["wordnet-base"]

# lexnames(5WN): lexicographer file number -> name.
LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute noun.body noun.cognition "
    "noun.communication noun.event noun.feeling noun.food noun.group noun.location noun.motive noun.object "
    "noun.person noun.phenomenon noun.plant noun.possession noun.process noun.quantity noun.relation noun.shape "
    "noun.state noun.substance noun.time verb.body verb.change verb.cognition verb.communication verb.competition "
    "verb.consumption verb.contact verb.creation verb.emotion verb.motion verb.perception verb.possession "
    "verb.social verb.stative verb.weather adj.ppl"
).split()
POS_FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
_SS_NUM = {"n": 1, "v": 2, "a": 3, "r": 4, "s": 5}


@dataclass
class Synset:
    id: str  # "<file pos><offset>", e.g. n02084071
    pos: str  # n v a s r
    lexname: str
    words: list[str]  # lemmas as written, underscores for spaces
    definition: str
    examples: list[str]
    hypernyms: list[str] = field(default_factory=list)  # '@' only (class hypernyms, not instances)
    hyponyms: list[str] = field(default_factory=list)
    lex_ids: list[int] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)  # SemCor tag count per word (cntlist.rev)

    def lemma(self, i: int = 0) -> str:
        return self.words[i].replace("_", " ")


def _split_gloss(gloss: str) -> tuple[str, list[str]]:
    """Definition and the double-quoted example sentences of a gloss."""
    examples = [e.strip() for e in re.findall(r'"([^"]+)"', gloss)]
    definition = gloss.split('"')[0].strip().rstrip(";").strip()
    return definition, [e for e in examples if e]


def _parse_line(line: str, file_pos: str) -> Synset:
    head, _, gloss = line.partition(" | ")
    f = head.split()
    offset, lexfile, ss_type, w_cnt = f[0], int(f[1]), f[2], int(f[3], 16)
    words, lex_ids = [], []
    i = 4
    for _ in range(w_cnt):
        words.append(re.sub(r"\([a-z]+\)$", "", f[i]))  # adjective syntactic markers: "(a)", "(p)", "(ip)"
        lex_ids.append(int(f[i + 1], 16))
        i += 2
    p_cnt = int(f[i])
    i += 1
    hyper, hypo = [], []
    for _ in range(p_cnt):
        sym, target, tpos = f[i], f[i + 1], f[i + 2]
        tid = ("a" if tpos in "as" else tpos) + target  # satellites live in data.adj
        if sym == "@":
            hyper.append(tid)
        elif sym == "~":
            hypo.append(tid)
        i += 4
    definition, examples = _split_gloss(gloss.strip())
    return Synset(
        id=file_pos + offset,
        pos=ss_type,
        lexname=LEXNAMES[lexfile],
        words=words,
        definition=definition,
        examples=examples,
        hypernyms=hyper,
        hyponyms=hypo,
        lex_ids=lex_ids,
        counts=[0] * len(words),
    )


@lru_cache(maxsize=1)
def synsets() -> dict[str, Synset]:
    """Every synset by id, with SemCor counts attached."""
    out: dict[str, Synset] = {}
    for file_pos, name in POS_FILES.items():
        with (WORDNET / f"data.{name}").open(encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("  "):
                    continue  # license header
                s = _parse_line(line.rstrip("\n"), file_pos)
                out[s.id] = s
    keys: dict[tuple[str, int, str, int], tuple[Synset, int]] = {}
    for s in out.values():
        for j, (w, lid) in enumerate(zip(s.words, s.lex_ids, strict=False)):
            keys.setdefault((w.lower(), _SS_NUM[s.pos], s.lexname, lid), (s, j))
    with (WORDNET / "cntlist.rev").open(encoding="utf-8") as f:
        for line in f:
            key, _, count = line.split()
            lemma, _, rest = key.partition("%")
            ss, lexfile, lexid = rest.split(":")[:3]
            hit = keys.get((lemma, int(ss), LEXNAMES[int(lexfile)], int(lexid)))
            if hit is not None:
                hit[0].counts[hit[1]] += int(count)
    return out


@lru_cache(maxsize=1)
def senses_by_lemma() -> dict[tuple[str, str], list[str]]:
    """(lowercase lemma with spaces, pos n/v/a/r) -> synset ids, in id order (deterministic)."""
    out: dict[tuple[str, str], list[str]] = {}
    for sid in sorted(synsets()):
        s = synsets()[sid]
        pos = "a" if s.pos == "s" else s.pos
        for w in s.words:
            out.setdefault((w.replace("_", " ").lower(), pos), []).append(sid)
    return out


@lru_cache(maxsize=1)
def _exceptions() -> dict[str, dict[str, list[str]]]:
    out: dict[str, dict[str, list[str]]] = {}
    for pos, name in POS_FILES.items():
        table: dict[str, list[str]] = {}
        with (WORDNET / f"{name}.exc").open(encoding="utf-8") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2:
                    table.setdefault(parts[0], []).extend(parts[1:])
        out[pos] = table
    return out


# Detachment rules of WordNet's morphy (morph(7WN)): inflectional suffix -> replacement.
_RULES = {
    "n": [
        ("s", ""),
        ("ses", "s"),
        ("xes", "x"),
        ("zes", "z"),
        ("ches", "ch"),
        ("shes", "sh"),
        ("men", "man"),
        ("ies", "y"),
    ],
    "v": [("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""), ("ing", "e"), ("ing", "")],
    "a": [("er", ""), ("est", ""), ("er", "e"), ("est", "e")],
    "r": [],
}


def base_forms(word: str, pos: str) -> set[str]:
    """Possible lemmas of an inflected word (the word itself included), as WordNet's morphy would try them."""
    w = word.lower()
    out = {w}
    out.update(_exceptions()[pos].get(w, []))
    for suffix, repl in _RULES[pos]:
        if w.endswith(suffix) and len(w) > len(suffix):
            out.add(w[: -len(suffix)] + repl)
    # Doubled consonant before -ing/-ed: "running" -> "run".
    for suffix in ("ing", "ed"):
        if (
            pos == "v"
            and w.endswith(suffix)
            and len(w) > len(suffix) + 2
            and w[-len(suffix) - 1] == w[-len(suffix) - 2]
        ):
            out.add(w[: -len(suffix) - 1])
    return out
