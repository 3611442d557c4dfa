"""Every language list of the project, in one place.

XTREME's task and language lists are views of the benchmark file `tasks/benchmarks/xtreme.yaml` (those of the official
scorer, google-research/xtreme evaluate.py; see xstilts.benchmarks); the name and code maps are those
of the google/xtreme hub configs and the official download layout. The tables are kept compact (one row per line
would make them hundreds of lines), hence the `fmt: off` markers.
"""

from __future__ import annotations

from xstilts.benchmarks import XTREME

# Views of the XTREME benchmark file (tasks/benchmarks/xtreme.yaml): task -> languages, group -> tasks.
XTREME_TASK2LANGS: dict[str, list[str]] = XTREME.task2langs()
XTREME_GROUP2TASK: dict[str, list[str]] = XTREME.group2task()

# fmt: off
# google/xtreme tatoeba configs use ISO 639-3 codes; the scorer uses these 2-letter codes.
TATOEBA_ISO3_TO_ISO2: dict[str, str] = {
    "afr": "af", "ara": "ar", "ben": "bn", "bul": "bg", "deu": "de", "cmn": "zh", "ell": "el", "est": "et",
    "eus": "eu", "fin": "fi", "fra": "fr", "heb": "he", "hin": "hi", "hun": "hu", "ind": "id", "ita": "it",
    "jav": "jv", "jpn": "ja", "kat": "ka", "kaz": "kk", "kor": "ko", "mal": "ml", "mar": "mr", "nld": "nl",
    "pes": "fa", "por": "pt", "rus": "ru", "spa": "es", "swh": "sw", "tam": "ta", "tel": "te", "tgl": "tl",
    "tha": "th", "tur": "tr", "urd": "ur", "vie": "vi",
}

# The inverse: scorer (ISO 639-1) code -> the hub's ISO 639-3 config code.
ISO2_TO_ISO3: dict[str, str] = {iso2: iso3 for iso3, iso2 in TATOEBA_ISO3_TO_ISO2.items()}

# TyDi QA ids start with the language's English name (e.g. "arabic-2387335860751143628-1").
TYDIQA_LANG2NAME: dict[str, str] = {
    "ar": "arabic", "bn": "bengali", "en": "english", "fi": "finnish", "id": "indonesian",
    "ko": "korean", "ru": "russian", "sw": "swahili", "te": "telugu",
}

# UD languages that have no treebank with these splits (google/xtreme udpos configs and the UD download alike).
UDPOS_MISSING_SPLITS: dict[str, tuple[str, ...]] = {
    "kk": ("dev",), "tl": ("train", "dev"), "th": ("train", "dev"), "yo": ("train", "dev"),
}

# Dataset (task name without the `_en` suffix of its English training copy) -> language -> splits it lacks there.
MISSING_SPLITS: dict[str, dict[str, tuple[str, ...]]] = {"udpos": UDPOS_MISSING_SPLITS}

# google/xtreme udpos configs are named by English language name.
UDPOS_LANG2NAME: dict[str, str] = {
    "af": "Afrikaans", "ar": "Arabic", "eu": "Basque", "bg": "Bulgarian", "nl": "Dutch", "en": "English",
    "et": "Estonian", "fi": "Finnish", "fr": "French", "de": "German", "el": "Greek", "he": "Hebrew",
    "hi": "Hindi", "hu": "Hungarian", "id": "Indonesian", "it": "Italian", "ja": "Japanese", "kk": "Kazakh",
    "ko": "Korean", "zh": "Chinese", "mr": "Marathi", "fa": "Persian", "pt": "Portuguese", "ru": "Russian",
    "es": "Spanish", "tl": "Tagalog", "ta": "Tamil", "te": "Telugu", "th": "Thai", "tr": "Turkish",
    "ur": "Urdu", "vi": "Vietnamese", "yo": "Yoruba",
}

# Language metadata for grouping in reports: family and script (Glottolog/ISO 15924 level facts).
LANGUAGE_INFO: dict[str, tuple[str, str]] = {
    "af": ("Indo-European (Germanic)", "Latin"), "ar": ("Afro-Asiatic", "Arabic"),
    "bg": ("Indo-European (Slavic)", "Cyrillic"), "bn": ("Indo-European (Indo-Aryan)", "Bengali"),
    "ca": ("Indo-European (Romance)", "Latin"),
    "de": ("Indo-European (Germanic)", "Latin"), "el": ("Indo-European (Greek)", "Greek"),
    "en": ("Indo-European (Germanic)", "Latin"), "es": ("Indo-European (Romance)", "Latin"),
    "et": ("Uralic", "Latin"), "eu": ("Basque (isolate)", "Latin"), "fa": ("Indo-European (Iranian)", "Arabic"),
    "fi": ("Uralic", "Latin"), "fr": ("Indo-European (Romance)", "Latin"), "he": ("Afro-Asiatic", "Hebrew"),
    "hi": ("Indo-European (Indo-Aryan)", "Devanagari"), "hu": ("Uralic", "Latin"),
    "id": ("Austronesian", "Latin"), "it": ("Indo-European (Romance)", "Latin"), "ja": ("Japonic", "Japanese"),
    "jv": ("Austronesian", "Latin"), "ka": ("Kartvelian", "Georgian"), "kk": ("Turkic", "Cyrillic"),
    "ko": ("Koreanic", "Hangul"), "ml": ("Dravidian", "Malayalam"), "mr": ("Indo-European (Indo-Aryan)", "Devanagari"),
    "ms": ("Austronesian", "Latin"), "my": ("Sino-Tibetan", "Myanmar"), "nl": ("Indo-European (Germanic)", "Latin"),
    "pt": ("Indo-European (Romance)", "Latin"), "ru": ("Indo-European (Slavic)", "Cyrillic"),
    "sw": ("Niger-Congo", "Latin"), "ta": ("Dravidian", "Tamil"), "te": ("Dravidian", "Telugu"),
    "th": ("Kra-Dai", "Thai"), "tl": ("Austronesian", "Latin"), "tr": ("Turkic", "Latin"),
    "ur": ("Indo-European (Indo-Aryan)", "Arabic"), "vi": ("Austroasiatic", "Latin"),
    "yo": ("Niger-Congo", "Latin"), "zh": ("Sino-Tibetan", "Han"),
}


# fmt: on

# The XTREME translations (the `xtreme_translations` bucket of google-research/xtreme, "Translations" in its README):
# each English training set machine-translated into the other languages of the target it trains. Training task ->
# the languages of its translate-train files (MNLI -> XNLI's 14, PAWS-X -> PAWS-X's 6, SQuAD v1.1 -> XQuAD's 10, which
# hold MLQA's, TyDiQA-GoldP English -> TyDiQA's 8). A target trained in another language reads these (spec
# `source_languages`); a language not listed here is not in the translations.
TRANSLATE_TRAIN_LANGS: dict[str, list[str]] = {
    task: [lang for lang in XTREME_TASK2LANGS[target] if lang != "en"]
    for task, target in (("mnli", "xnli"), ("pawsx_en", "pawsx"), ("squad", "xquad"), ("tydiqa_en", "tydiqa"))
}


def missing_splits(task_name: str, lang: str) -> tuple[str, ...]:
    """Splits that `task_name`'s data does not have in `lang` although the task declares them (UD-POS kk has no dev)."""
    return MISSING_SPLITS.get(task_name.removesuffix("_en"), {}).get(lang, ())


def language_family(lang: str) -> str:
    """The language's family for grouping in reports ("unknown" when not in LANGUAGE_INFO)."""
    return LANGUAGE_INFO.get(lang, ("unknown", "unknown"))[0]


def language_script(lang: str) -> str:
    """The language's writing system for grouping in reports ("unknown" when not in LANGUAGE_INFO)."""
    return LANGUAGE_INFO.get(lang, ("unknown", "unknown"))[1]
