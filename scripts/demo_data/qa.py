"""demo_qa: extractive QA over short fact sheets about countries (ISO 3166 codes, official names, ISO 4217
currencies) from pycountry, with names in each language from pycountry's gettext catalogs and templates written
per language. Answers are exact character spans of the context by construction."""

from __future__ import annotations

import gettext
from dataclasses import dataclass
from typing import Any

from demo_data.common import rng, shuffled
from xstilts.families.examples import Answer, SpanExample

QA_LANGS = ["en", "de", "es", "fr", "ru", "zh"]
COUNTRIES_PER_CONTEXT = 3
SPLIT_FRACTIONS = {"train": 0.6, "dev": 0.15, "test": 0.25}  # of countries: no country is in two splits
MAX_ROWS = {"train": 2000, "dev": 300, "test": 600}

# Fact sentences and questions per language. Placeholders: C country, A2/A3/N codes, O official name,
# M currency name, K currency code. French and Russian put the name in apposition ("du pays nommé X",
# "страны X") so no article or case ending has to agree with it.
FACTS: dict[str, dict[str, str]] = {
    "en": {
        "a2": "The two-letter code of {C} is {A2}.",
        "a3": "The three-letter code of {C} is {A3}.",
        "num": "The numeric code of {C} is {N}.",
        "off": "The official name of {C} is {O}.",
        "cur": "The currency of {C} is the {M} ({K}).",
    },
    "de": {
        "a2": "Der Zweibuchstabencode von {C} ist {A2}.",
        "a3": "Der Dreibuchstabencode von {C} ist {A3}.",
        "num": "Der numerische Code von {C} ist {N}.",
        "off": "Der offizielle Name von {C} ist {O}.",
        "cur": "Die Währung von {C} ist {M} ({K}).",
    },
    "es": {
        "a2": "El código de dos letras de {C} es {A2}.",
        "a3": "El código de tres letras de {C} es {A3}.",
        "num": "El código numérico de {C} es {N}.",
        "off": "El nombre oficial de {C} es {O}.",
        "cur": "La moneda de {C} es {M} ({K}).",
    },
    "fr": {
        "a2": "Le code à deux lettres du pays nommé {C} est {A2}.",
        "a3": "Le code à trois lettres du pays nommé {C} est {A3}.",
        "num": "Le code numérique du pays nommé {C} est {N}.",
        "off": "Le nom officiel du pays nommé {C} est {O}.",
        "cur": "La monnaie du pays nommé {C} est {M} ({K}).",
    },
    "ru": {
        "a2": "Двухбуквенный код страны {C} — {A2}.",
        "a3": "Трёхбуквенный код страны {C} — {A3}.",
        "num": "Цифровой код страны {C} — {N}.",
        "off": "Официальное название страны {C} — {O}.",
        "cur": "Валюта страны {C} — {M} ({K}).",
    },
    "zh": {
        "a2": "{C}的两字母代码是{A2}。",
        "a3": "{C}的三字母代码是{A3}。",
        "num": "{C}的数字代码是{N}。",
        "off": "{C}的正式名称是{O}。",
        "cur": "{C}的货币是{M}（{K}）。",
    },
}
# question kind -> (fact it needs, answer placeholder, template per language)
QUESTIONS: dict[str, tuple[str, str, dict[str, str]]] = {
    "a2": (
        "a2",
        "A2",
        {
            "en": "What is the two-letter code of {C}?",
            "de": "Wie lautet der Zweibuchstabencode von {C}?",
            "es": "¿Cuál es el código de dos letras de {C}?",
            "fr": "Quel est le code à deux lettres du pays nommé {C} ?",
            "ru": "Какой двухбуквенный код у страны {C}?",
            "zh": "{C}的两字母代码是什么？",
        },
    ),
    "a3": (
        "a3",
        "A3",
        {
            "en": "What is the three-letter code of {C}?",
            "de": "Wie lautet der Dreibuchstabencode von {C}?",
            "es": "¿Cuál es el código de tres letras de {C}?",
            "fr": "Quel est le code à trois lettres du pays nommé {C} ?",
            "ru": "Какой трёхбуквенный код у страны {C}?",
            "zh": "{C}的三字母代码是什么？",
        },
    ),
    "num": (
        "num",
        "N",
        {
            "en": "What is the numeric code of {C}?",
            "de": "Wie lautet der numerische Code von {C}?",
            "es": "¿Cuál es el código numérico de {C}?",
            "fr": "Quel est le code numérique du pays nommé {C} ?",
            "ru": "Какой цифровой код у страны {C}?",
            "zh": "{C}的数字代码是什么？",
        },
    ),
    "off": (
        "off",
        "O",
        {
            "en": "What is the official name of {C}?",
            "de": "Wie lautet der offizielle Name von {C}?",
            "es": "¿Cuál es el nombre oficial de {C}?",
            "fr": "Quel est le nom officiel du pays nommé {C} ?",
            "ru": "Каково официальное название страны {C}?",
            "zh": "{C}的正式名称是什么？",
        },
    ),
    "cur": (
        "cur",
        "M",
        {
            "en": "What is the currency of {C}?",
            "de": "Was ist die Währung von {C}?",
            "es": "¿Cuál es la moneda de {C}?",
            "fr": "Quelle est la monnaie du pays nommé {C} ?",
            "ru": "Какая валюта у страны {C}?",
            "zh": "{C}的货币是什么？",
        },
    ),
    "who_a3": (
        "a3",
        "C",
        {
            "en": "Which country has the three-letter code {A3}?",
            "de": "Welches Land hat den Dreibuchstabencode {A3}?",
            "es": "¿Qué país tiene el código de tres letras {A3}?",
            "fr": "Quel pays a le code à trois lettres {A3} ?",
            "ru": "У какой страны трёхбуквенный код {A3}?",
            "zh": "哪个国家的三字母代码是{A3}？",
        },
    ),
    "who_cur": (
        "cur",
        "C",
        {
            "en": "Which country has the {M} as its currency?",
            "de": "Welches Land hat die Währung {M}?",
            "es": "¿Qué país tiene como moneda {M}?",
            "fr": "Quel pays a pour monnaie {M} ?",
            "ru": "В какой стране валюта {M}?",
            "zh": "哪个国家的货币是{M}？",
        },
    ),
}


@dataclass
class Country:
    alpha_2: str
    alpha_3: str
    numeric: str
    name: dict[str, str]  # lang -> name
    official: dict[str, str]
    currency: dict[str, str]  # lang -> currency name (empty when no currency fact)
    currency_code: str


def _catalogs(domain: str) -> dict[str, dict[str, str]]:
    """lang -> msgid -> msgstr of one pycountry gettext domain (English: identity)."""
    import pycountry

    out = {}
    for lang in QA_LANGS:
        if lang == "en":
            out[lang] = {}
            continue
        t = gettext.translation(domain, pycountry.LOCALES_DIR, languages=[{"zh": "zh_CN"}.get(lang, lang)])
        out[lang] = dict(t._catalog)  # only what is really translated; gettext() would fall back to English
    return out


def countries() -> list[Country]:
    """Countries whose name (and, where used, official name and currency) is translated in every language.

    A country's currency is the ISO 4217 currency whose numeric code equals the country's ISO 3166 numeric code
    and whose letter code starts with the country's two-letter code (ISO 4217's own construction: JPY/392 for
    Japan/392); shared currencies such as the euro have neither, so they never appear as a country's currency.
    """
    import pycountry

    names, curs = _catalogs("iso3166-1"), _catalogs("iso4217")
    by_numeric = {c.numeric: c for c in pycountry.currencies if getattr(c, "numeric", None)}

    def tr(table: dict[str, dict[str, str]], msgid: str) -> dict[str, str] | None:
        out = {lang: (msgid if lang == "en" else table[lang].get(msgid, "")) for lang in QA_LANGS}
        return out if all(out.values()) else None

    out = []
    for c in sorted(pycountry.countries, key=lambda c: c.alpha_2):
        name = tr(names, getattr(c, "common_name", None) or c.name)
        if name is None or any("," in v or "(" in v for v in name.values()):
            continue  # "Korea, Republic of"-style inverted names read badly inside a sentence
        official = tr(names, c.official_name) if hasattr(c, "official_name") else None
        cur = by_numeric.get(c.numeric)
        currency = tr(curs, cur.name) if cur is not None and cur.alpha_3[:2] == c.alpha_2 else None
        out.append(
            Country(
                c.alpha_2, c.alpha_3, c.numeric, name, official or {}, currency or {}, cur.alpha_3 if currency else ""
            )
        )
    return out


def _values(c: Country, lang: str) -> dict[str, str]:
    return {
        "C": c.name[lang],
        "A2": c.alpha_2,
        "A3": c.alpha_3,
        "N": c.numeric,
        "O": c.official.get(lang, ""),
        "M": c.currency.get(lang, ""),
        "K": c.currency_code,
    }


def _facts(c: Country) -> list[str]:
    kinds = ["a2", "a3", "num"]
    if c.official:
        kinds.append("off")
    if c.currency:
        kinds.append("cur")
    return kinds


def _render(
    lang: str, group: list[Country], kinds: dict[str, list[str]]
) -> tuple[str, dict[tuple[str, str], tuple[int, str]]]:
    """The context and, per (country, placeholder), the character offset and text of its first occurrence
    in that country's own fact sentences."""
    sep = "" if lang == "zh" else " "
    text = ""
    spans: dict[tuple[str, str], tuple[int, str]] = {}
    for c in group:
        vals = _values(c, lang)
        for kind in kinds[c.alpha_2]:
            template = FACTS[lang][kind]
            if text:
                text += sep
            # Fill placeholders left to right, recording where each value lands.
            pos = 0
            while True:
                i = template.find("{", pos)
                if i < 0:
                    text += template[pos:]
                    break
                j = template.index("}", i)
                key = template[i + 1 : j]
                text += template[pos:i]
                spans.setdefault((c.alpha_2, key), (len(text), vals[key]))
                text += vals[key]
                pos = j + 1
    return text, spans


def build_qa() -> dict[tuple[str, str], list[Any]]:
    pool = shuffled(countries(), "demo_qa", "countries")
    n = len(pool)
    cut_train = int(n * SPLIT_FRACTIONS["train"])
    cut_dev = cut_train + int(n * SPLIT_FRACTIONS["dev"])
    parts = {"train": pool[:cut_train], "dev": pool[cut_train:cut_dev], "test": pool[cut_dev:]}
    out: dict[tuple[str, str], list[Any]] = {}
    for split, members in parts.items():
        r = rng("demo_qa", split)
        # Build the language-independent skeleton once (which countries, facts and questions), then render it in
        # every language, so dev/test hold the same questions in every language (like XQuAD).
        skeleton = []
        rounds = 0
        while len(skeleton) < MAX_ROWS[split] and rounds < 50:
            rounds += 1
            for target in members:
                others = r.sample([m for m in members if m is not target], COUNTRIES_PER_CONTEXT - 1)
                group = others + [target]
                r.shuffle(group)
                q = r.choice([q for q, (fact, _, _) in QUESTIONS.items() if fact in _facts(target)])
                # Two or three facts per country, in their fixed order; the target always states the asked one.
                kinds = {}
                for c in group:
                    avail = _facts(c)
                    pick = set(r.sample(avail, min(len(avail), r.randint(2, 3))))
                    if c is target:
                        pick.add(QUESTIONS[q][0])
                    kinds[c.alpha_2] = [k for k in avail if k in pick]
                skeleton.append((group, kinds, target, q))
        skeleton = skeleton[: MAX_ROWS[split]]
        for lang in QA_LANGS if split != "train" else ["en"]:
            rows = []
            for i, (group, kinds, target, q) in enumerate(skeleton):
                context, spans = _render(lang, group, kinds)
                _, answer_key, templates = QUESTIONS[q]
                question = templates[lang].format(**_values(target, lang))
                start, text = spans[(target.alpha_2, answer_key)]
                rows.append(
                    SpanExample(
                        guid=f"{split}-{i:05d}",
                        question=question,
                        context=context,
                        answers=[Answer(text=text, answer_start=start)],
                        title=target.alpha_2,
                    )
                )
            out[(split, lang)] = rows
    return out
