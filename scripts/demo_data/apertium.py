"""Silver POS tags from Apertium's morphological analysers + HMM/CG taggers, mapped to UD UPOS.

The pipelines are the first stages of each pair's translation mode (/usr/share/apertium/modes/*.mode): analyse
(lt-proc), disambiguate (cg-proc where the pair has constraint grammar, then apertium-tagger), with `-p` so the
surface form of each token is kept.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

APERTIUM = Path("/usr/share/apertium")

# language -> (pair directory, file prefix, whether the pair runs constraint grammar first)
TAGGERS: dict[str, tuple[str, str, bool]] = {
    "en": ("apertium-eng-spa", "eng-spa", False),
    "es": ("apertium-eng-spa", "spa-eng", False),
    "ca": ("apertium-eng-cat", "cat-eng", True),
    "eu": ("apertium-eu-en", "eu-en", False),
}
DEBIAN_PACKAGES = ["apertium", "apertium-eng-spa", "apertium-eng-cat", "apertium-eu-en"]

# First Apertium tag of an analysis -> UPOS. Why some choices: Apertium has no PART/AUX split of its own, so
# copulas, 'have', 'do' and modals (vbser/vbhaver/vbdo/vbmod/vaux) become AUX, as UD mostly tags them; the
# English genitive 's is PART as in UD English; adverbial conjunctions (cnjadv: if, when, si, cuando) are
# SCONJ; Basque synthetic verbs (vbsint: du, da, ...) are mostly auxiliaries in running text.
APERTIUM_TO_UPOS: dict[str, str] = {
    "n": "NOUN",
    "np": "PROPN",
    "adj": "ADJ",
    "adv": "ADV",
    "preadv": "ADV",
    "cnjadv": "SCONJ",
    "pr": "ADP",
    "post": "ADP",
    "det": "DET",
    "predet": "DET",
    "prn": "PRON",
    "rel": "PRON",
    "num": "NUM",
    "cnjcoo": "CCONJ",
    "cnjsub": "SCONJ",
    "ij": "INTJ",
    "vblex": "VERB",
    "vbser": "AUX",
    "vbhaver": "AUX",
    "vbdo": "AUX",
    "vbmod": "AUX",
    "vaux": "AUX",
    "vbsint": "AUX",
    "vbper": "AUX",
    "spost": "ADP",
    "cnjloc": "SCONJ",
    "gen": "PART",
    "part": "PART",
    "neg": "PART",
    "sent": "PUNCT",
    "cm": "PUNCT",
    "lpar": "PUNCT",
    "rpar": "PUNCT",
    "lquest": "PUNCT",
    "guio": "PUNCT",
    "apos": "PUNCT",
    "quot": "PUNCT",
    "lquot": "PUNCT",
    "rquot": "PUNCT",
    "punct": "PUNCT",
    "percent": "SYM",
    "sym": "SYM",
    "abbr": "NOUN",
    "acr": "PROPN",
    "sg": "NOUN",
    "pl": "NOUN",
}

_STREAM_SPECIAL = re.compile(r"[\^$/<>@\\\[\]{}*#+]")
_LU = re.compile(r"\^((?:\\.|[^$\\])*)\$")


def usable(text: str) -> bool:
    """Text the stream format can carry without escaping (we skip, rather than escape, the rare others)."""
    return not _STREAM_SPECIAL.search(text) and "\n" not in text


def _pipeline(lang: str) -> list[list[str]]:
    pair, prefix, cg = TAGGERS[lang]
    d = APERTIUM / pair
    # -z (null flush): every sentence is processed on its own, so no constraint-grammar window spans two sentences.
    stages = [["lt-proc", "-z", *(["-w"] if cg else []), str(d / f"{prefix}.automorf.bin")]]
    if cg:
        stages.append(["cg-proc", "-z", "-w", str(d / f"{prefix}.rlx.bin")])
    stages.append(["apertium-tagger", "-z", "-p", "-g", str(d / f"{prefix}.prob")])
    return stages


def _run(stages: list[list[str]], text: str) -> str:
    data = text.encode("utf-8")
    for cmd in stages:
        data = subprocess.run(cmd, input=data, stdout=subprocess.PIPE, check=True).stdout
    return data.decode("utf-8")


_IDENTIFIER = re.compile(r"^(?:[A-Z0-9][A-Z0-9.-]+|\w*[a-z]\w*[A-Z0-9]\w*)$")


def upos_of(analysis: str, surface: str = "", lang: str = "") -> str | None:
    """UPOS of one 'lemma<tag><tag>+lemma<tag>' analysis (first tag of the first part); None when unknown.

    Words the analyser does not know are only accepted when they look like acronyms or code identifiers
    (TIFF, SOCKSv5, GtkAdjustment): those are PROPN; any other unknown word makes the sentence unusable.
    """
    if analysis.startswith("*"):
        return "PROPN" if _IDENTIFIER.match(surface) else None
    if analysis.startswith(("@", "#")):
        return None
    first = analysis.split("+")[0]
    m = re.search(r"<([^>]+)>", first) or re.search(r"<([^>]+)>", analysis)
    if m is None:
        return None
    if lang == "en":
        # UD English tags possessive determiners as PRON and negation 'not' as PART.
        if m.group(1) == "det" and "<pos>" in first:
            return "PRON"
        if first.lower().startswith("not<"):
            return "PART"
    return APERTIUM_TO_UPOS.get(m.group(1))


def tag_sentences(lang: str, sentences: list[str]) -> list[tuple[list[str], list[str]] | None]:
    """(tokens, UPOS tags) per input sentence; None where a token is unknown to the analyser or unmapped."""
    # Each sentence ends with a newline before the NUL: lt-proc drops a final "." that directly precedes a flush.
    lines = _run(_pipeline(lang), "".join(s + "\n\0" for s in sentences)).split("\0")
    results: list[tuple[list[str], list[str]] | None] = []
    for i in range(len(sentences)):
        line = lines[i] if i < len(lines) else ""
        tokens: list[str] = []
        tags: list[str] = []
        ok = True
        for lu in _LU.findall(line):
            surface, _, analysis = lu.partition("/")
            upos = upos_of(analysis, surface, lang)
            if upos is None:
                ok = False
                break
            # Multiword units ("at least", "korrika egiten") become one token per word, each with the unit's tag.
            for piece in surface.split():
                tokens.append(piece)
                tags.append(upos)
        # Every character of the sentence must come back in the tokens (guards against dropped tokens).
        ok = ok and bool(tokens) and "".join(tokens) == "".join(sentences[i].split())
        results.append((tokens, tags) if ok else None)
    if len(lines) < len(sentences):
        raise RuntimeError(f"apertium {lang}: {len(lines)} output lines for {len(sentences)} sentences")
    return results
