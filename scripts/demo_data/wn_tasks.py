"""English intermediate tasks built from WordNet 3.0: entailment, gloss choice, definition QA, supersense tagging."""

from __future__ import annotations

import re
from typing import Any

from demo_data.common import rng, shuffled
from demo_data.wordnet import Synset, base_forms, senses_by_lemma, synsets
from xstilts.families.examples import Answer, ChoiceExample, SentenceExample, SpanExample, TagExample

SIZES = {"train": 2000, "dev": 300}
DEV_FRACTION = 0.15
_TOKEN = re.compile(r"\w+(?:[-'’]\w+)*|[^\w\s]")
_PLAIN = re.compile(r"^[a-z][a-z' -]*[a-z]$")


def tokenize(text: str) -> list[str]:
    return _TOKEN.findall(text)


def common_word(s: Synset) -> str | None:
    """The synset's most frequent (SemCor) plain lowercase word, or None when none is attested."""
    best = None
    for w, c in zip(s.words, s.counts, strict=False):
        w = w.replace("_", " ")
        if c > 0 and _PLAIN.match(w) and (best is None or c > best[1]):
            best = (w, c)
    return best[0] if best else None


def _dev_keys(keys: list[str], task: str) -> set[str]:
    """Held-out keys (words or synsets) for dev, so dev items never reuse a training headword."""
    keys = shuffled(sorted(set(keys)), task, "dev-keys")
    return set(keys[: max(1, int(len(keys) * DEV_FRACTION))])


def _pos(s: Synset) -> str:
    return "a" if s.pos == "s" else s.pos


def find_headword(tokens: list[str], word: str, pos: str) -> tuple[int, int] | None:
    """[start, end) of the first occurrence of `word` (possibly inflected, possibly multiword) in tokens."""
    parts = word.lower().split()
    wpos = "a" if pos == "s" else pos
    for i in range(len(tokens) - len(parts) + 1):
        if parts[0] not in base_forms(tokens[i], wpos):
            continue
        if all(tokens[i + k].lower() == parts[k] for k in range(1, len(parts))):
            return i, i + len(parts)
    return None


def _occurrences() -> list[tuple[Synset, str, str, list[str], tuple[int, int]]]:
    """(synset, word, sentence, tokens, span) for every example sentence in which one of the synset's words is found."""
    out = []
    for sid in sorted(synsets()):
        s = synsets()[sid]
        for ex in s.examples:
            tokens = tokenize(ex)
            if not 4 <= len(tokens) <= 40:
                continue
            for w in s.words:
                w = w.replace("_", " ")
                if not _PLAIN.match(w.lower()):
                    continue
                span = find_headword(tokens, w, s.pos)
                if span is not None:
                    out.append((s, w.lower(), ex, tokens, span))
                    break
    return out


# ---------------------------------------------------------------- entailment

CONCRETE = {"noun.animal", "noun.artifact", "noun.person", "noun.plant", "noun.food", "noun.object", "noun.body"}
# Both sentences describe one single object: a different kind of object contradicts it.
SINGLE = ["This is {x}.", "That is {x}.", "The thing in the photo is {x}.", "What they found was {x}."]
# Both sentences only assert that some object exists: a different kind of object is compatible (neutral).
EXIST = ["There is {x} in the picture.", "I saw {x} yesterday.", "The report mentions {x}.", "We talked about {x}."]
ENTAIL_LABELS = ["entailment", "neutral", "contradiction"]


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def _ancestors(s: Synset, max_dist: int = 2) -> list[Synset]:
    """Named hypernyms within max_dist steps, skipping the abstract top of the hierarchy (noun.Tops)."""
    out, frontier = [], [s]
    for _ in range(max_dist):
        frontier = [synsets()[h] for f in frontier for h in f.hypernyms]
        out += [a for a in frontier if a.lexname != "noun.Tops" and common_word(a)]
    return out


def build_entail() -> dict[tuple[str, str], list[Any]]:
    """Hypernymy -> entailment; reversed hypernymy -> neutral; co-hyponym or unrelated noun -> contradiction when both
    sentences describe one object, neutral when they only assert existence."""
    pool = [s for sid, s in sorted(synsets().items()) if s.pos == "n" and s.lexname in CONCRETE and common_word(s)]
    dev = _dev_keys([s.id for s in pool], "demo_wn_entail")
    out: dict[tuple[str, str], list[Any]] = {}
    for split, n in SIZES.items():
        r = rng("demo_wn_entail", split)
        items = shuffled([s for s in pool if (s.id in dev) == (split == "dev")], "demo_wn_entail", split)
        rows: list[SentenceExample] = []
        for s in items:
            if len(rows) >= n:
                break
            label = ENTAIL_LABELS[len(rows) % 3]
            x = common_word(s)
            anc = _ancestors(s)
            parent = synsets()[s.hypernyms[0]] if s.hypernyms else None
            sibs = [synsets()[h] for h in (parent.hyponyms if parent else []) if h != s.id]
            sibs = [c for c in sibs if common_word(c) and common_word(c) != x and c not in anc]
            unrelated = [u for u in pool if u.lexname != s.lexname]
            options = []
            if label == "entailment" and anc:
                options = [(t, x, common_word(a)) for a in anc for t in SINGLE + EXIST]
            elif label == "neutral":
                options = [(t, common_word(a), x) for a in anc for t in SINGLE + EXIST]
                options += [(t, x, common_word(c)) for c in sibs for t in EXIST]
                options += [(t, x, None) for t in EXIST]
            elif label == "contradiction":
                options = [(t, x, common_word(c)) for c in sibs for t in SINGLE]
                options += [(t, x, None) for t in SINGLE]
            if not options:
                continue
            template, p, h = r.choice(options)
            if h is None:  # an unrelated concrete noun from another lexicographer file
                h = common_word(r.choice(unrelated))
            if h == p:
                continue
            rows.append(
                SentenceExample(
                    guid=f"{split}-{len(rows):05d}",
                    text_a=template.format(x=_a(p)),
                    text_b=template.format(x=_a(h)),
                    label=label,
                )
            )
        out[(split, "en")] = rows
    return out


# ---------------------------------------------------------------- gloss choice


def build_gloss() -> dict[tuple[str, str], list[Any]]:
    """Pick the gloss of the sense a word has in a WordNet example sentence; wrong choices are the word's other
    senses first (hard negatives), then glosses of random synsets of the same part of speech."""
    occ = [o for o in _occurrences() if len(senses_by_lemma().get((o[1], _pos(o[0])), [])) > 1]
    dev = _dev_keys([o[1] for o in occ], "demo_wn_gloss")
    by_pos: dict[str, list[str]] = {}
    for sid in sorted(synsets()):
        by_pos.setdefault(synsets()[sid].pos, []).append(sid)
    out: dict[tuple[str, str], list[Any]] = {}
    for split, n in SIZES.items():
        r = rng("demo_wn_gloss", split)
        items = shuffled([o for o in occ if (o[1] in dev) == (split == "dev")], "demo_wn_gloss", split)
        rows: list[ChoiceExample] = []
        used: set[str] = set()
        for s, w, sentence, tokens, (a, b) in items:
            if len(rows) >= n:
                break
            if s.id in used:  # one question per synset
                continue
            right = s.definition
            same_pos: list[str] = []
            other_pos: list[str] = []
            for pos in ("n", "v", "a", "r"):
                for sid in senses_by_lemma().get((w, pos), []):
                    d = synsets()[sid].definition
                    if sid != s.id and d != right and d not in same_pos + other_pos:
                        (same_pos if pos == _pos(s) else other_pos).append(d)
            wrong = r.sample(same_pos, min(3, len(same_pos)))
            wrong += r.sample(other_pos, min(3 - len(wrong), len(other_pos)))
            while len(wrong) < 3:
                d = synsets()[r.choice(by_pos[s.pos])].definition
                if d != right and d not in wrong:
                    wrong.append(d)
            choices = wrong + [right]
            r.shuffle(choices)
            used.add(s.id)
            surface = " ".join(tokens[a:b])
            rows.append(
                ChoiceExample(
                    guid=f"{split}-{len(rows):05d}",
                    context=sentence,
                    choices=choices,
                    label=choices.index(right),
                    question=f'What does "{surface}" mean in this sentence?',
                )
            )
        out[(split, "en")] = rows
    return out


# ---------------------------------------------------------------- definition QA

DEFINE_ENTRIES = 5


def build_define() -> dict[tuple[str, str], list[Any]]:
    """A glossary of five 'word: definition.' lines from one lexicographer file; the question quotes one definition
    and the answer is the span of its word."""
    pool = [s for sid, s in sorted(synsets().items()) if common_word(s) and len(s.definition.split()) >= 3]
    dev = _dev_keys([s.id for s in pool], "demo_wn_define")
    out: dict[tuple[str, str], list[Any]] = {}
    for split, n in SIZES.items():
        r = rng("demo_wn_define", split)
        part = [s for s in pool if (s.id in dev) == (split == "dev")]
        by_lex: dict[str, list[Synset]] = {}
        for s in part:
            by_lex.setdefault(s.lexname, []).append(s)
        rows: list[SpanExample] = []
        for s in shuffled(part, "demo_wn_define", split):
            if len(rows) >= n:
                break
            same = [c for c in by_lex[s.lexname] if c.id != s.id and common_word(c) != common_word(s)]
            if len(same) < DEFINE_ENTRIES - 1:
                continue
            entries = r.sample(same, DEFINE_ENTRIES - 1) + [s]
            if (
                len({common_word(e) for e in entries}) < DEFINE_ENTRIES
                or len({e.definition for e in entries}) < DEFINE_ENTRIES
            ):
                continue
            r.shuffle(entries)
            lines, start = [], 0
            for e in entries:
                if e is s:
                    start = sum(len(x) + 1 for x in lines)
                lines.append(f"{common_word(e)}: {e.definition}.")
            word = common_word(s)
            rows.append(
                SpanExample(
                    guid=f"{split}-{len(rows):05d}",
                    question=f'Which word means "{s.definition}"?',
                    context="\n".join(lines),
                    answers=[Answer(text=word, answer_start=start)],
                    title=s.lexname,
                )
            )
        out[(split, "en")] = rows
    return out


# ---------------------------------------------------------------- supersense tagging


def build_supersense() -> dict[tuple[str, str], list[Any]]:
    """WordNet example sentences; the tokens of the headword carry its synset's lexicographer file (supersense),
    every other token 'O'."""
    occ = _occurrences()
    dev = _dev_keys([o[1] for o in occ], "demo_wn_supersense")
    out: dict[tuple[str, str], list[Any]] = {}
    for split, n in SIZES.items():
        items = shuffled([o for o in occ if (o[1] in dev) == (split == "dev")], "demo_wn_supersense", split)[:n]
        rows = []
        for s, _, _, tokens, (a, b) in items:
            tags = ["O"] * len(tokens)
            tags[a:b] = [s.lexname] * (b - a)
            rows.append(TagExample(guid=f"{split}-{len(rows):05d}", tokens=tokens, tags=tags))
        out[(split, "en")] = rows
    return out
